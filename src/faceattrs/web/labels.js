// faceattrs web page, labels on pictures: the same rule as faceattrs/drawing.py. Each
// face's label goes outside its box where there is room (above, below, right, left, then
// above and below ending at the box's right edge; over no other label and no other face),
// else on two lines in the same places, else a numbered chip; the list beside the picture
// has the details. Sizes follow the picture (LABEL_SIZE of its shorter side), with a
// floor that keeps the text legible on small screens. Loaded first: app.js, video.js and
// camera.js use these helpers.
"use strict";

// Same colours as faceattrs.drawing (there BGR), so the video and the table agree.
const COLOURS = ["rgb(80,200,80)", "rgb(255,160,60)", "rgb(60,160,255)", "rgb(220,80,200)",
  "rgb(220,220,60)", "rgb(60,220,220)", "rgb(255,120,120)", "rgb(160,120,255)"];
const WEAK_SCORE = 0.7; // drawing.py WEAK_SCORE: weaker detections are drawn dashed
const UNSURE = 0.6; // drawing.py UNSURE: a top class below this is shown with "?"
const LABEL_SIZE = 0.025; // drawing.py LABEL_SIZE
const MIN_LABEL_PX = 10; // drawing.py MIN_LABEL_PX (picture pixels)
const MIN_SCREEN_PX = 11; // and at least this many screen pixels (legible on any screen)

const colourOf = (face, index) => COLOURS[(face.track_id ?? index) % COLOURS.length];
const percent = (p) => `${Math.round(p * 100)}%`;
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
const faceName = (face, index) => face.name ?? (face.track_id != null ? `#${face.track_id}` : `${index + 1}`);
/** "female 92%", or "white? 49%" when the top class is below UNSURE. */
const sure = (label, p) => (label == null || p == null ? "?"
  : `${label}${Math.round(100 * p) < 100 * UNSURE ? "?" : ""} ${percent(p)}`);
/** drawing.py face_label: "female 92%, 27, white? 49%, happy 80%" (attributes not asked
 * for are left out). */
function faceLabel(face) {
  const parts = [];
  if (face.gender_probs !== undefined) parts.push(sure(face.gender, face.gender_probs?.[face.gender]));
  if (face.age != null) parts.push(`${Math.round(face.age)}`);
  if (face.race_probs !== undefined) parts.push(sure(face.race, face.race_probs?.[face.race]));
  if (face.expression_probs) parts.push(sure(face.expression, face.expression_probs[face.expression]));
  return parts.join(", ");
}
const isWeak = (face) => face.score != null && face.score < WEAK_SCORE;

function rectOverlap(a, b) {
  const w = Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]);
  return w > 0 && h > 0 ? w * h : 0;
}

/** drawing.py wrap_label: `text` as two lines split after the comma that leaves the
 * wider line narrowest (`measure` gives a line's width); [] without a comma. */
function wrapLabel(text, measure) {
  const parts = text.split(", ");
  let best = [];
  let bestWidth = Infinity;
  for (let k = 1; k < parts.length; k += 1) {
    const lines = [`${parts.slice(0, k).join(", ")},`, parts.slice(k).join(", ")];
    const wide = Math.max(...lines.map(measure));
    if (wide < bestWidth) [best, bestWidth] = [lines, wide];
  }
  return best;
}

/** drawing.py layout_labels: [[x, y, w, h], kind] per box [x1, y1, x2, y2], kind "label"
 * (one line), "wrapped" (two lines, 2 * labelH high; `wrappedWidths`, 0: none) or "chip". */
function layoutLabels(boxes, widths, chipWidths, labelH, width, height, wrappedWidths = null) {
  const faces = boxes.map(([x1, y1, x2, y2]) => [x1, y1, x2 - x1, y2 - y1]);
  const order = faces.map((_, i) => i).sort((a, b) => faces[b][2] * faces[b][3] - faces[a][2] * faces[a][3]);
  const placed = [];
  const out = new Array(boxes.length);
  const outside = ([x1, y1, x2, y2], w, h) => {
    const left = Math.min(Math.max(0, x1), Math.max(0, width - w));
    const ending = Math.min(Math.max(0, x2 - w), Math.max(0, width - w));
    return [[left, y1 - h, w, h], [left, y2, w, h], [x2, y1, w, h], [x1 - w, y1, w, h],
      [ending, y1 - h, w, h], [ending, y2, w, h]];
  };
  const inside = ([x1, y1, x2, y2], w, h) => [[x1, y1], [x2 - w, y1], [x1, y2 - h], [x2 - w, y2 - h]]
    .map(([x, y]) => [Math.min(Math.max(0, x), width - w), Math.min(Math.max(0, y), height - h), w, h]);
  const free = (rect, own) => {
    const [x, y, w, h] = rect;
    if (x < 0 || y < 0 || x + w > width || y + h > height) return false;
    if (placed.some((q) => rectOverlap(rect, q) > 0)) return false;
    return !faces.some((face, j) => j !== own && rectOverlap(rect, face) > 0);
  };
  for (const i of order) {
    const within = inside(boxes[i], chipWidths[i], labelH);
    const wrapped = wrappedWidths?.[i] > 0 ? outside(boxes[i], wrappedWidths[i], 2 * labelH) : [];
    const places = [
      ...outside(boxes[i], widths[i], labelH).map((r) => [r, "label"]),
      ...wrapped.map((r) => [r, "wrapped"]),
      ...[...outside(boxes[i], chipWidths[i], labelH), ...within].map((r) => [r, "chip"]),
    ];
    let choice = places.find(([r]) => free(r, i));
    if (!choice) {
      const cost = (r) => placed.reduce((s, q) => s + rectOverlap(r, q), 0);
      choice = [within.reduce((a, b) => (cost(b) < cost(a) ? b : a)), "chip"];
    }
    out[i] = choice;
    placed.push(choice[0]);
  }
  return out;
}

/** Label text height in canvas pixels: LABEL_SIZE of the picture's shorter side, at
 * least MIN_LABEL_PX picture pixels and MIN_SCREEN_PX as the canvas is shown. */
function labelPx(canvas) {
  const { width, height } = canvas;
  const shown = canvas.getBoundingClientRect().width;
  const unit = shown > 0 ? width / shown : 1;
  return Math.max(MIN_LABEL_PX, Math.round(LABEL_SIZE * Math.min(width, height)), Math.ceil(MIN_SCREEN_PX * unit));
}

/** Draw boxes and labels of `faces` (in `srcW` x `srcH` pixels) onto a 2D context.
 * `labels(face, index)` gives a face's label text (default faceLabel); the layout is kept
 * on the canvas (canvas.faceLayout) for the hover tips and the tests. */
function drawFaces(ctx, faces, srcW, srcH, labels = faceLabel) {
  const { canvas } = ctx;
  const { width, height } = canvas;
  const sx = width / srcW;
  const sy = height / srcH;
  const font = labelPx(canvas);
  const pad = Math.round(font * 0.3);
  const th = font + 2 * pad;
  ctx.lineWidth = Math.max(1.5, font / 7);
  ctx.font = `600 ${font}px system-ui, sans-serif`;
  ctx.textBaseline = "top";
  const boxes = faces.map(({ box: [x1, y1, x2, y2] }) => [x1 * sx, y1 * sy, x2 * sx, y2 * sy]);
  boxes.forEach(([x1, y1, x2, y2], index) => {
    ctx.strokeStyle = colourOf(faces[index], index);
    ctx.setLineDash(isWeak(faces[index]) ? [3 * ctx.lineWidth, 3 * ctx.lineWidth] : []);
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
  });
  ctx.setLineDash([]);
  const names = faces.map(faceName);
  const texts = faces.map((face, i) => `${names[i]}  ${labels(face, i)}`);
  const measure = (text) => ctx.measureText(text).width + 2 * pad;
  const wrapped = texts.map((text) => wrapLabel(text, measure));
  const layout = layoutLabels(boxes, texts.map(measure), names.map(measure), th, width, height,
    wrapped.map((lines) => (lines.length ? Math.max(...lines.map(measure)) : 0)));
  const labelled = layout.map(([[x, y, w, h], kind], index) => {
    const chip = kind === "chip";
    const text = chip ? names[index] : texts[index];
    const lines = kind === "wrapped" ? wrapped[index] : [text];
    ctx.globalAlpha = isWeak(faces[index]) ? 0.75 : 1;
    ctx.fillStyle = colourOf(faces[index], index);
    ctx.fillRect(x, y, w, h);
    ctx.globalAlpha = 1;
    ctx.fillStyle = "#111";
    lines.forEach((line, row) => ctx.fillText(line, x + pad, y + row * th + pad));
    return { rect: [x, y, w, h], text, lines, chip };
  });
  canvas.faceLayout = { faces, boxes, labels: labelled };
}

/** Show a face's number and detection score when the pointer is over (or taps) its box
 * on `canvas`; the tip is a child of `holder` (positioned). */
function enableFaceTips(canvas, holder) {
  const tip = document.createElement("div");
  tip.className = "tip";
  tip.hidden = true;
  tip.setAttribute("role", "status");
  holder.append(tip);
  const show = (event) => {
    const layout = canvas.faceLayout;
    const bounds = canvas.getBoundingClientRect();
    if (!layout || !bounds.width) return;
    const x = (event.clientX - bounds.left) * (canvas.width / bounds.width);
    const y = (event.clientY - bounds.top) * (canvas.height / bounds.height);
    const index = layout.boxes.findIndex(([x1, y1, x2, y2]) => x >= x1 && x <= x2 && y >= y1 && y <= y2);
    if (index < 0) { tip.hidden = true; return; }
    const face = layout.faces[index];
    tip.textContent = `${faceName(face, index)} · detection score ${face.score.toFixed(2)}${isWeak(face) ? " (weak)" : ""}`;
    const hold = holder.getBoundingClientRect();
    tip.style.left = `${Math.min(event.clientX - hold.left + 12, hold.width - 200)}px`;
    tip.style.top = `${event.clientY - hold.top + 12}px`;
    tip.hidden = false;
  };
  canvas.addEventListener("pointermove", show);
  canvas.addEventListener("pointerdown", show);
  canvas.addEventListener("pointerleave", (event) => { if (event.pointerType === "mouse") tip.hidden = true; });
}
