// faceattrs web page: images, a video and the live camera, analysed over the HTTP API
// or inside the page (inbrowser/, ONNX Runtime Web; nothing uploaded). Plain JS; boxes are
// drawn here, on canvases over the pictures. Without a faceattrs server behind the page (a
// static site from `faceattrs export-web`) only the in-browser mode is offered.
"use strict";

const API = "api/v1";
// Same colours as faceattrs.drawing (there BGR), so the video and the table agree.
const COLOURS = ["rgb(80,200,80)", "rgb(255,160,60)", "rgb(60,160,255)", "rgb(220,80,200)",
  "rgb(220,220,60)", "rgb(60,220,220)", "rgb(255,120,120)", "rgb(160,120,255)"];
const UPLOADS_AT_ONCE = 2;
const LOCAL_MAX_SIDE = 640; // camera and video frames analysed in the page, like the server's camera
const LOCAL_VIDEO_STEP = 0.2; // seconds between the video frames analysed in the page
const LOCAL_MAX_PIXELS = 40_000_000; // the server's default image limit

const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "style") node.style.cssText = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children.flat()) {
    if (child != null) node.append(child instanceof Node ? child : document.createTextNode(child));
  }
  return node;
}

const colourOf = (face, index) => COLOURS[(face.track_id ?? index) % COLOURS.length];
const percent = (p) => `${Math.round(p * 100)}%`;
const faceName = (face, index) => (face.track_id != null ? `#${face.track_id}` : `${index + 1}`);
const shortLabel = (face) => `${face.gender}, ${Math.round(face.age)}, ${face.race}`;

async function errorText(response) {
  try {
    const body = await response.json();
    return body.detail || body.error || `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status} ${response.statusText}`;
  }
}

// ---------- where to analyse ----------

// current: "server" or "browser"; serverUp: whether a faceattrs server answers /health.
const mode = { current: "server", serverUp: false, local: null };
const inBrowser = () => mode.current === "browser";

/** The in-page pipeline ({pipeline module, analyzer, video module}), loaded once on demand. */
function localPipeline() {
  if (!mode.local) {
    mode.local = Promise.all([import("./inbrowser/analyzer.js"), import("./inbrowser/video.js")])
      .then(async ([pipeline, video]) => ({ pipeline, video, analyzer: await pipeline.createAnalyzer() }))
      .catch((error) => {
        mode.local = null;
        throw new Error(`the in-browser models could not be loaded: ${error.message || error}`);
      });
  }
  return mode.local;
}

function setMode(name) {
  mode.current = name;
  $(`mode-${name}`).checked = true;
  $("privacy-server").hidden = name !== "server";
  $("privacy-browser").hidden = name !== "browser";
  $("camera-status").textContent = name === "server"
    ? "The camera picture is sent to this server frame by frame, analysed and discarded."
    : "The camera picture is analysed inside this page; nothing is uploaded.";
  document.body.dataset.mode = name;
  if (camera.running) stopCamera();
  if (name === "browser") localPipeline().catch(() => {}); // start loading the models now
}

// ---------- drawing ----------

/** Draw boxes and labels of `faces` (in `srcW` x `srcH` pixels) onto a 2D context;
 * sizes are in screen pixels, whatever the canvas resolution. A label that would cover
 * another goes below its box, else shrinks to the face number (the list has the rest). */
function drawFaces(ctx, faces, srcW, srcH) {
  const { width, height } = ctx.canvas;
  const sx = width / srcW;
  const sy = height / srcH;
  const shown = ctx.canvas.getBoundingClientRect().width;
  const unit = shown > 0 ? width / shown : Math.max(width, height) / 640;
  const font = Math.round(13 * unit);
  const pad = Math.round(font * 0.3);
  const th = font + 2 * pad;
  ctx.lineWidth = Math.max(2, 2.2 * unit);
  ctx.font = `600 ${font}px system-ui, sans-serif`;
  ctx.textBaseline = "top";
  const boxes = faces.map(({ box: [x1, y1, x2, y2] }) => [x1 * sx, y1 * sy, (x2 - x1) * sx, (y2 - y1) * sy]);
  boxes.forEach(([x, y, w, h], index) => {
    ctx.strokeStyle = colourOf(faces[index], index);
    ctx.strokeRect(x, y, w, h);
  });
  const placed = [];
  const free = (r) => placed.every((q) => r[0] >= q[0] + q[2] || q[0] >= r[0] + r[2] || r[1] >= q[1] + q[3] || q[1] >= r[1] + r[3]);
  faces.forEach((face, index) => {
    const [x, y, w, h] = boxes[index];
    const rect = (text, below) => {
      const tw = ctx.measureText(text).width + 2 * pad;
      const up = below ? y + h : y - th;
      const ty = up < 0 ? y + h : up + th > height ? y - th : up;
      return [Math.min(Math.max(0, x - ctx.lineWidth / 2), width - tw), ty, tw, th, text];
    };
    const full = `${faceName(face, index)}  ${shortLabel(face)}`;
    const name = faceName(face, index);
    const tries = [rect(full, false), rect(full, true), rect(name, false), rect(name, true)];
    const label = tries.find(free) || tries[2];
    placed.push(label);
    const [tx, ty, tw, , text] = label;
    ctx.fillStyle = colourOf(face, index);
    ctx.fillRect(tx, ty, tw, th);
    ctx.fillStyle = "#111";
    ctx.fillText(text, tx + pad, ty + pad);
  });
}

function probGroup(title, probs, colour) {
  const rows = [el("span", { className: "group" }, title)];
  const sorted = Object.entries(probs).sort((a, b) => b[1] - a[1]);
  for (const [label, p] of sorted) {
    rows.push(el("span", {}, label),
      el("span", { className: "bar", style: `--c:${colour}` }, el("i", { style: `width:${(p * 100).toFixed(1)}%` })),
      el("span", { className: "pct" }, percent(p)));
  }
  return el("div", { className: "prob-group" }, rows);
}

/** The list item of one face: label, age interval and probability bars. */
function faceItem(face, index, withBars = true) {
  const colour = colourOf(face, index);
  const [low, high] = face.age_interval;
  const head = el("div", { className: "face-head" },
    `${faceName(face, index)}  ${shortLabel(face)} `,
    el("small", {}, `age ${Math.round(low)}–${Math.round(high)}`));
  const item = el("li", { className: "face", style: `--c:${colour}` }, head);
  if (withBars) {
    item.append(el("div", { className: "probs" },
      probGroup("perceived gender", face.gender_probs, colour),
      probGroup("perceived race", face.race_probs, colour)));
  }
  return item;
}

// ---------- images ----------

const imageQueue = [];
let imagesRunning = 0;

function addImages(files) {
  for (const file of files) {
    const canvas = el("canvas", { width: 4, height: 3 });
    const picture = el("div", { className: "picture" }, canvas);
    const title = el("div", { className: "card-title" }, el("span", {}, file.name), el("span", {}, ""));
    const body = el("div", { className: "card-body" }, title, el("p", { className: "none" }, "Analysing…"));
    const card = el("article", { className: "card pending", "data-state": "pending" }, picture, body);
    $("image-results").prepend(card);
    imageQueue.push({ file, card, canvas, picture, title, body });
  }
  pumpImages();
}

function pumpImages() {
  while (imagesRunning < UPLOADS_AT_ONCE && imageQueue.length) {
    imagesRunning += 1;
    analyseImage(imageQueue.shift()).finally(() => {
      imagesRunning -= 1;
      pumpImages();
    });
  }
}

function loadPicture(file) {
  return new Promise((resolve) => {
    const url = URL.createObjectURL(file);
    const img = new Image();
    img.onload = () => resolve({ img, url });
    img.onerror = () => { URL.revokeObjectURL(url); resolve({ img: null, url: null }); };
    img.src = url;
  });
}

async function serverImageResult(file) {
  const form = new FormData();
  form.append("files", file, file.name);
  const response = await fetch(`${API}/images`, { method: "POST", body: form });
  if (!response.ok) throw new Error(await errorText(response));
  return (await response.json()).images[0];
}

/** Decode and analyse an image inside the page (EXIF orientation applied, no colour
 * conversion, transparency on white: as faceattrs.media reads it). */
async function localImageResult(file) {
  const { pipeline, analyzer } = await localPipeline();
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { colorSpaceConversion: "none", imageOrientation: "from-image" });
  } catch {
    throw new Error(`${file.name}: not an image this browser can decode`);
  }
  try {
    if (bitmap.width * bitmap.height > LOCAL_MAX_PIXELS) {
      throw new Error(`${file.name}: ${bitmap.width}x${bitmap.height} pixels is over the limit of ${LOCAL_MAX_PIXELS.toLocaleString("en")}`);
    }
    return await analyzer.analyze(pipeline.toImageData(bitmap, bitmap.width, bitmap.height));
  } finally {
    bitmap.close();
  }
}

async function analyseImage({ file, card, canvas, picture, title, body }) {
  const where = mode.current;
  let result;
  try {
    result = await (where === "browser" ? localImageResult(file) : serverImageResult(file));
  } catch (error) {
    card.className = "card error";
    card.dataset.state = "error";
    picture.remove();
    const message = String(error.message || error);
    body.lastChild.replaceWith(el("p", {}, message.replace(`${file.name}: `, "")));
    return;
  }
  const { img, url } = await loadPicture(file);
  card.className = "card";
  const scale = Math.min(1, 1600 / Math.max(result.width, result.height));
  canvas.width = Math.round(result.width * scale);
  canvas.height = Math.round(result.height * scale);
  const ctx = canvas.getContext("2d");
  if (img) {
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
    URL.revokeObjectURL(url);
  } else {
    ctx.fillStyle = "#333";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  }
  drawFaces(ctx, result.faces, result.width, result.height);
  const n = result.faces.length;
  const timing = result.ms ? ` · in this browser, ${Math.round(result.ms.total)} ms` : "";
  title.lastChild.textContent = `${n} face${n === 1 ? "" : "s"} · ${result.width}×${result.height}${timing}`;
  const list = n
    ? el("ul", { className: "faces" }, result.faces.map((face, i) => faceItem(face, i)))
    : el("p", { className: "none" }, "No face found.");
  body.lastChild.replaceWith(list);
  card.dataset.state = "done";
  card.dataset.faces = String(n);
  card.dataset.mode = where;
  card.result = result; // for scripts and tests: the faces as analysed
}

// ---------- page ----------

function selectTab(name) {
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const selected = tab.id === `tab-${name}`;
    tab.setAttribute("aria-selected", String(selected));
    $(tab.getAttribute("aria-controls")).hidden = !selected;
  }
  if (name !== "camera" && camera.running) stopCamera();
}

function dropZone(zoneId, inputId, onFiles) {
  const zone = $(zoneId);
  const input = $(inputId);
  input.addEventListener("change", () => { onFiles([...input.files]); input.value = ""; });
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    onFiles([...e.dataTransfer.files]);
  });
}

const megabytes = (n) => `${Math.round(n / 2 ** 20)} MB`;

/** No faceattrs server behind the page (a static site): offer only the in-browser mode. */
function staticSite() {
  mode.serverUp = false;
  document.body.dataset.server = "none";
  $("mode-server").disabled = true;
  $("mode-server").closest("label").title = "no faceattrs server answers here (static site)";
  $("server-links").hidden = true;
  $("footer-where").textContent = "static site: everything is analysed in this browser; nothing is uploaded";
  $("version").textContent = "faceattrs (in-browser)";
  setMode("browser");
}

async function showLimits() {
  let health;
  try {
    health = await (await fetch("health", { cache: "no-store" })).json();
    if (health.status !== "ok") throw new Error("not a faceattrs server");
  } catch {
    staticSite();
    return;
  }
  mode.serverUp = true;
  document.body.dataset.server = "up";
  try {
    const limits = health.limits;
    $("version").textContent = `faceattrs ${health.version}`;
    $("ttl-minutes").textContent = String(Math.round(limits.job_ttl_s / 60));
    $("image-hint").textContent += ` · up to ${limits.max_images} at once, ${megabytes(limits.max_upload_bytes)}, ${Math.round(limits.max_pixels / 1e6)} megapixels each`;
    $("video-hint").textContent += ` · up to ${megabytes(limits.max_upload_bytes)} and ${Math.round(limits.max_video_seconds)} s`;
  } catch {
    /* the page works without the hints */
  }
}

function init() {
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    tab.addEventListener("click", () => selectTab(tab.id.replace("tab-", "")));
  }
  dropZone("image-drop", "image-input", (files) => addImages(files));
  dropZone("video-drop", "video-input", (files) => files.length && (inBrowser() ? analyseVideoLocally(files[0]) : analyseVideo(files[0])));
  $("video-cancel").addEventListener("click", () => {
    forgetVideoJob();
    $("video-cancel").disabled = true;
    setVideoStatus("Cancelled; the upload and any results were deleted.");
  });
  $("camera-start").addEventListener("click", startCamera);
  $("camera-stop").addEventListener("click", stopCamera);
  for (const input of document.querySelectorAll('input[name="mode"]')) {
    input.addEventListener("change", () => input.checked && setMode(input.value));
  }
  window.addEventListener("pagehide", () => { forgetVideoJob(true); if (camera.running) stopCamera(); });
  showLimits();
}

init();
