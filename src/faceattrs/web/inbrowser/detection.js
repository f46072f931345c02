// Face detection in the page: BlazeFace full-range (ONNX Runtime Web), mirroring
// faceattrs/detection.py step for step: the same pyramid (coarse and native letterbox
// passes, finer levels, tiles), the same resizing (2x area halvings, then one OpenCV-style
// bilinear step), anchors, decoding, score threshold and weighted NMS, and the same second
// looks (faceattrs/pipeline/face_checks.py): the short-range close-up pass and the check.
// Camera frames may take a faster path (CameraMemory): one pass instead of three, and
// between full passes a look only around the faces of the frame before.
// Images are plain {data, width, height} RGBA objects (ImageData-like).

const NUM_KEYPOINTS = 6;
const RAW_SCORE_LIMIT = 80.0;
const COARSE = 0.6;
const MAX_SCALE = 1.0;
const LEVEL_SLACK = 1.3;
const EDGE_MARGIN = 32; // detection.py: black border around the finer levels (faces cut by an edge)
const SPAN_OVERLAP = 0.5; // detection.py drop_duplicates
const NESTED_OVERLAP = 0.8;
// face_checks.py
const CLOSEUP_FACTOR = 0.6;
const CLOSEUP_SHARE = 0.3;
const CONFIDENT = 0.75;
const CLOSEUP_THRESHOLD = 0.5;
const CHECK_MARGINS = { short: 2.2, full: 3.0 };
const CHECK_THRESHOLD = 0.5;
const AGREE_IOU = 0.5;
// camera frames: a face's check verdict holds while it stays in view, this many frames
const RECHECK_FRAMES = 15;
// camera frames between full passes: the detector only on a square region around each
// face of the frame before (MediaPipe's face tracking looks the same way), REGION_SIDE px
// at the model's input; for a small face REGION_MARGIN x its side on the full-range model
// (at least REGION_SIDE image px: no upscaling), for a large one the check's layout on the
// short-range model (regionPasses); a face counts when its centre is within REGION_KEEP x
// the side of the region's centre. A full pass at least every FULL_EVERY frames finds new
// faces.
const FULL_EVERY = 4;
const REGION_SIDE = 128;
const REGION_MARGIN = 3.0;
const REGION_KEEP = 0.3;

export const MODELS = {
  full: { file: "blazeface_full.onnx", native: 192, strides: [4], anchorsPerLayer: 1, minPx: 10, maxPx: 128, levelRatio: 6 },
  short: { file: "blazeface_short.onnx", native: 128, strides: [8, 16, 16, 16], anchorsPerLayer: 2, minPx: 16, maxPx: 128, levelRatio: 4 },
};

/** Python's round(): halves to even. */
export function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const ceil32 = (value) => Math.max(32, Math.ceil(value / 32) * 32);

/** Anchor centres in input pixels (A x 2, flat), in the model's output order. */
export function anchorCenters(config, height, width) {
  const out = [];
  const { strides } = config;
  let layer = 0;
  while (layer < strides.length) {
    let last = layer;
    while (last < strides.length && strides[last] === strides[layer]) last += 1;
    const repeats = (last - layer) * config.anchorsPerLayer;
    const stride = strides[layer];
    const rows = Math.floor(height / stride);
    const cols = Math.floor(width / stride);
    for (let y = 0; y < rows; y += 1) {
      for (let x = 0; x < cols; x += 1) {
        for (let r = 0; r < repeats; r += 1) out.push((x + 0.5) * stride, (y + 0.5) * stride);
      }
    }
    layer = last;
  }
  return Float32Array.from(out);
}

/** Exact 2x area halving of an RGBA image, as cv2.INTER_AREA does it ((a+b+c+d+2)>>2). */
export function halve(image) {
  const w = Math.floor(image.width / 2);
  const h = Math.floor(image.height / 2);
  const src = image.data;
  const stride = image.width * 4;
  const data = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y += 1) {
    let a = 2 * y * stride; // top-left source pixel of the 2x2 block
    let b = a + stride;
    let d = y * w * 4;
    for (let x = 0; x < w; x += 1, a += 8, b += 8, d += 4) {
      data[d] = (src[a] + src[a + 4] + src[b] + src[b + 4] + 2) >> 2;
      data[d + 1] = (src[a + 1] + src[a + 5] + src[b + 1] + src[b + 5] + 2) >> 2;
      data[d + 2] = (src[a + 2] + src[a + 6] + src[b + 2] + src[b + 6] + 2) >> 2;
      data[d + 3] = 255;
    }
  }
  return { data, width: w, height: h };
}

/** Source index and 11-bit fixed-point weight per output position (cv2 INTER_LINEAR). */
function linearTaps(srcSize, dstSize) {
  const scale = srcSize / dstSize;
  const index = new Int32Array(dstSize);
  const weight = new Int32Array(dstSize);
  for (let d = 0; d < dstSize; d += 1) {
    let f = (d + 0.5) * scale - 0.5;
    let s = Math.floor(f);
    f -= s;
    if (s < 0) { f = 0; s = 0; }
    if (s >= srcSize - 1) { f = 0; s = srcSize - 1; }
    index[d] = s;
    weight[d] = Math.round(f * 2048);
  }
  return { index, weight };
}

/** Bilinear resize of an RGBA image with OpenCV's fixed-point arithmetic (uint8). */
export function resizeLinear(image, width, height) {
  const src = image.data;
  const sw = image.width;
  const xs = linearTaps(sw, width);
  const ys = linearTaps(image.height, height);
  const rows = new Int32Array(width * 3 * 2);
  const data = new Uint8ClampedArray(width * height * 4);
  const horizontal = (sy, offset) => {
    const base = sy * sw * 4;
    for (let x = 0; x < width; x += 1) {
      const s0 = xs.index[x];
      const s1 = Math.min(s0 + 1, sw - 1);
      const a1 = xs.weight[x];
      const a0 = 2048 - a1;
      for (let c = 0; c < 3; c += 1) {
        rows[offset + 3 * x + c] = src[base + 4 * s0 + c] * a0 + src[base + 4 * s1 + c] * a1;
      }
    }
  };
  for (let y = 0; y < height; y += 1) {
    const s0 = ys.index[y];
    const s1 = Math.min(s0 + 1, image.height - 1);
    const b1 = ys.weight[y];
    const b0 = 2048 - b1;
    horizontal(s0, 0);
    horizontal(s1, width * 3);
    for (let x = 0; x < width; x += 1) {
      const d = (y * width + x) * 4;
      for (let c = 0; c < 3; c += 1) {
        const r0 = rows[3 * x + c];
        const r1 = rows[width * 3 + 3 * x + c];
        data[d + c] = (((b0 * (r0 >> 4)) >> 16) + ((b1 * (r1 >> 4)) >> 16) + 2) >> 2;
      }
      data[d + 3] = 255;
    }
  }
  return { data, width, height };
}

/** Resize down like detection.downscale: exact 2x halvings, then one linear step. */
export function downscale(image, width, height) {
  let out = image;
  while (out.width >= 2 * width && out.height >= 2 * height) out = halve(out);
  if (out.width === width && out.height === height) return out;
  return resizeLinear(out, width, height);
}

/** The region (x0, y0, w, h) of an image at (dx, dy) in a zero (black) canvas of padW x padH. */
function padded(image, x0, y0, w, h, padW, padH, dx = 0, dy = 0) {
  return { image, x0, y0, w: Math.min(w, image.width - x0), h: Math.min(h, image.height - y0), padW, padH, dx, dy };
}

/** An RGBA image with a black border of `margin` px all around (np.pad with zeros). */
function bordered(image, margin) {
  const width = image.width + 2 * margin;
  const data = new Uint8ClampedArray(width * (image.height + 2 * margin) * 4);
  for (let y = 0; y < image.height; y += 1) {
    const row = image.data.subarray(y * image.width * 4, (y + 1) * image.width * 4);
    data.set(row, ((y + margin) * width + margin) * 4);
  }
  return { data, width, height: image.height + 2 * margin };
}

/** The pixels (x0, y0)-(x1, y1) of an RGBA image, as a new image. */
function crop(image, x0, y0, x1, y1) {
  const width = x1 - x0;
  const data = new Uint8ClampedArray(width * (y1 - y0) * 4);
  for (let y = y0; y < y1; y += 1) {
    data.set(image.data.subarray((y * image.width + x0) * 4, (y * image.width + x1) * 4), (y - y0) * width * 4);
  }
  return { data, width, height: y1 - y0 };
}

/** face_checks.needs_closeup: no face scoring CONFIDENT, or one of CLOSEUP_SHARE of the short side. */
export function needsCloseup(faces, height, width) {
  if (!faces.length || Math.max(...faces.map((f) => f.score)) < CONFIDENT) return true;
  const side = Math.max(...faces.map(({ xyxy: b }) => Math.max(b[2] - b[0], b[3] - b[1])));
  return side >= CLOSEUP_SHARE * Math.min(height, width);
}

/** face_checks.closeup_layout: [scale, width, height, x0, y0] of the image centred on a side x side canvas. */
export function closeupLayout(height, width, side) {
  const scale = (CLOSEUP_FACTOR * side) / Math.max(height, width);
  const w = Math.max(1, roundHalfEven(width * scale));
  const h = Math.max(1, roundHalfEven(height * scale));
  return [scale, w, h, Math.floor((side - w) / 2), Math.floor((side - h) / 2)];
}

/** face_checks.check_layout: the square of margin x the box's side around its centre. */
export function checkLayout(box, margin, height, width, side) {
  const [x0, y0, x1, y1] = box;
  const size = Math.max(x1 - x0, y1 - y0, 1.0) * margin;
  const left = (x0 + x1) / 2 - size / 2;
  const top = (y0 + y1) / 2 - size / 2;
  const rx0 = Math.max(0, Math.floor(left));
  const ry0 = Math.max(0, Math.floor(top));
  const rx1 = Math.max(Math.min(width, Math.ceil(left + size)), rx0 + 1);
  const ry1 = Math.max(Math.min(height, Math.ceil(top + size)), ry0 + 1);
  const scale = side / size;
  const dx = Math.min(side - 1, Math.max(0, roundHalfEven((rx0 - left) * scale)));
  const dy = Math.min(side - 1, Math.max(0, roundHalfEven((ry0 - top) * scale)));
  const w = Math.max(1, Math.min(side - dx, roundHalfEven((rx1 - rx0) * scale)));
  const h = Math.max(1, Math.min(side - dy, roundHalfEven((ry1 - ry0) * scale)));
  return { region: [rx0, ry0, rx1, ry1], scale, w, h, dx, dy };
}

const iou = (a, b) => {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = w * h;
  return inter / Math.max((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter, 1e-9);
};

/** face_checks.both_found: the full-range passes and the close-up pass both found this box. */
export function bothFound(box, fullBoxes, closeupBoxes) {
  return fullBoxes.some((b) => iou(box, b) >= AGREE_IOU) && closeupBoxes.some((b) => iou(box, b) >= AGREE_IOU);
}

const sigmoid = (logit) => 1.0 / (1.0 + Math.exp(-Math.min(Math.max(logit, -RAW_SCORE_LIMIT), RAW_SCORE_LIMIT)));

/** Candidates of several passes {xyxy, scores, keypoints} -> faces after NMS and duplicates. */
function concatCandidates(parts) {
  return {
    xyxy: parts.flatMap((p) => p.xyxy),
    scores: parts.flatMap((p) => p.scores),
    keypoints: parts.flatMap((p) => p.keypoints),
  };
}

/** Greedy NMS; for each kept box, the indices of the boxes it absorbed (kept one first). */
export function nms(xyxy, scores, iouThreshold) {
  let order = Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a]);
  const area = (i) => (xyxy[4 * i + 2] - xyxy[4 * i]) * (xyxy[4 * i + 3] - xyxy[4 * i + 1]);
  const groups = [];
  while (order.length) {
    const [best, ...rest] = order;
    const group = [best];
    const remaining = [];
    for (const j of rest) {
      const w = Math.max(0, Math.min(xyxy[4 * best + 2], xyxy[4 * j + 2]) - Math.max(xyxy[4 * best], xyxy[4 * j]));
      const h = Math.max(0, Math.min(xyxy[4 * best + 3], xyxy[4 * j + 3]) - Math.max(xyxy[4 * best + 1], xyxy[4 * j + 1]));
      const inter = w * h;
      const iou = inter / Math.max(area(best) + area(j) - inter, 1e-6);
      (iou > iouThreshold ? group : remaining).push(j);
    }
    groups.push(group);
    order = remaining;
  }
  return groups;
}

/** MediaPipe-style weighted NMS over candidates {xyxy, scores, keypoints} (flat arrays). */
export function weightedNms({ xyxy, scores, keypoints }, iouThreshold) {
  const faces = [];
  for (const group of nms(xyxy, scores, iouThreshold)) {
    const box = [0, 0, 0, 0];
    const kps = new Array(2 * NUM_KEYPOINTS).fill(0);
    let total = 0;
    for (const i of group) {
      const w = scores[i];
      total += w;
      for (let k = 0; k < 4; k += 1) box[k] += xyxy[4 * i + k] * w;
      for (let k = 0; k < 2 * NUM_KEYPOINTS; k += 1) kps[k] += keypoints[2 * NUM_KEYPOINTS * i + k] * w;
    }
    faces.push({
      xyxy: box.map((v) => v / total),
      score: scores[group[0]],
      keypoints: kps.map((v) => v / total),
    });
  }
  return faces;
}

/** Duplicates NMS leaves across pyramid scales (detection.py drop_duplicates): boxes holding
 * SPAN_OVERLAP of two or more other boxes, then boxes overlapping a better-scored one by
 * NESTED_OVERLAP of the smaller box. `faces` best score first. */
export function dropDuplicates(faces) {
  const n = faces.length;
  const area = faces.map(({ xyxy: b }) => (b[2] - b[0]) * (b[3] - b[1]));
  const inter = (a, b) => Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]))
    * Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const keep = [];
  for (let i = 0; i < n; i += 1) {
    let held = 0;
    for (let j = 0; j < n; j += 1) {
      if (j !== i && inter(faces[i].xyxy, faces[j].xyxy) >= SPAN_OVERLAP * area[j]) held += 1;
    }
    if (held >= 2) continue;
    const nested = keep.some((k) => inter(faces[i].xyxy, faces[k].xyxy) >= NESTED_OVERLAP * Math.min(area[i], area[k]));
    if (!nested) keep.push(i);
  }
  return keep.map((i) => faces[i]);
}

/** What the camera's fast path (`detect(image, {camera})`) keeps between the frames of one
 * camera. The fast path is a camera-only speed trade-off (README, "In-browser camera"; its
 * effect on the shared videos' frames: bench/bench_browser.py):
 * - a full pass is one full-range pass at the pyramid's finest level (the scale where a
 *   minFace face is minPx at the model input: 0.5 for 640x480 and 20 px), instead of that
 *   level and the coarse and native letterbox passes (faces above 128 px at that scale are
 *   left to the close-up pass);
 * - between full passes (at most `fullEvery` - 1 frames in a row, while the regions feed
 *   the model at most half a full pass's pixels: in crowds the looks lose more small faces),
 *   the model looks only at a region around each face of the frame before (`regions`),
 *   without the close-up pass, and nowhere when there was none: a new face shows at the
 *   next full pass;
 * - an unsure face overlapping (IoU >= AGREE_IOU) one the check judged in the last
 *   RECHECK_FRAMES frames keeps that verdict instead of being checked again. */
export class CameraMemory {
  /** `fullEvery`: a full pass at least every this many frames (1: every frame). */
  constructor({ fullEvery = FULL_EVERY } = {}) {
    this.fullEvery = fullEvery;
    this.verdicts = []; // [{xyxy, keep, age}]
    this.boxes = []; // the faces of the frame before
    this.size = "";
    this.sinceFull = 0; // frames since the last full pass
  }

  /** The face boxes to look around in a `width` x `height` frame whose full pass would
   * feed the model `fullPixels` pixels (none: look nowhere), or null for a full pass. */
  regions(width, height, fullPixels) {
    const size = `${width}x${height}`;
    const look = size === this.size && this.sinceFull + 1 < this.fullEvery
      && this.boxes.length * REGION_SIDE ** 2 <= fullPixels / 2;
    this.size = size;
    this.sinceFull = look ? this.sinceFull + 1 : 0;
    return look ? this.boxes : null;
  }

  /** After a frame: its faces, the regions of the next one. */
  saw(faces) {
    this.boxes = faces.map((f) => f.xyxy);
  }

  /** The verdict on a face at `xyxy` carried from an earlier frame, or null. */
  verdict(xyxy) {
    return this.verdicts.find((v) => iou(v.xyxy, xyxy) >= AGREE_IOU) ?? null;
  }

  /** After a frame: its verdicts (`used`: the earlier ones they reused), and the earlier
   * ones not reused, all a frame older; none older than RECHECK_FRAMES. */
  remember(verdicts, used) {
    const kept = this.verdicts.filter((v) => !used.includes(v)).concat(verdicts);
    this.verdicts = kept.map((v) => ({ ...v, age: v.age + 1 })).filter((v) => v.age < RECHECK_FRAMES);
  }
}

export class FaceDetector {
  /** `session`: an ort.InferenceSession of the BlazeFace model; `ort`: the runtime module;
   * `otherSession`: one of the other model (short-range for "full"), for the close-up pass
   * and the check (both skipped without it, or with `closeup` / `check` false). */
  constructor(ort, session, { model = "full", scoreThreshold = 0.5, iouThreshold = 0.3, minFace = 20, pyramid = null, tilePixels = 1024 * 1024, otherSession = null, closeup = true, check = true, edgeMargin = EDGE_MARGIN } = {}) {
    this.ort = ort;
    this.model = model;
    this.closeup = closeup && otherSession !== null;
    this.check = check && otherSession !== null;
    this.helpers = { [model]: this };
    if (otherSession) {
      const other = model === "full" ? "short" : "full";
      this.helpers[other] = new FaceDetector(ort, otherSession, { model: other, scoreThreshold: CLOSEUP_THRESHOLD, closeup: false, check: false });
    }
    this.session = session;
    this.config = MODELS[model];
    this.scoreThreshold = scoreThreshold;
    this.iouThreshold = iouThreshold;
    this.minFace = minFace;
    this.edgeMargin = edgeMargin;
    this.pyramid = pyramid ?? model === "full";
    this.tilePixels = tilePixels;
    this.anchorCache = new Map();
  }

  /** Pyramid levels [scale, letterboxed?] for an image size (detection.py scales()). */
  scales(height, width, minFace = this.minFace) {
    const cfg = this.config;
    const base = Math.min(cfg.native / Math.max(height, width), 1.0);
    const levels = [[base * COARSE, true], [base, true]];
    if (!this.pyramid) return levels;
    const target = Math.min(cfg.minPx / Math.max(minFace, 1.0), MAX_SCALE);
    let scale = base;
    while (scale * LEVEL_SLACK < target) {
      scale = Math.min(scale * cfg.levelRatio, target);
      levels.push([scale, false]);
    }
    return levels;
  }

  tiles(small) {
    const sh = small.height;
    const sw = small.width;
    if (sh * sw <= this.tilePixels) return [padded(small, 0, 0, sw, sh, ceil32(sw), ceil32(sh))];
    const side = Math.max(256, Math.floor(Math.floor(Math.sqrt(this.tilePixels)) / 32) * 32);
    const overlap = Math.ceil((this.config.maxPx * 1.25) / 32) * 32;
    const step = side - overlap;
    const out = [];
    for (let y0 = 0; y0 < Math.max(1, sh - overlap); y0 += step) {
      for (let x0 = 0; x0 < Math.max(1, sw - overlap); x0 += step) {
        const w = Math.min(side, sw - x0);
        const h = Math.min(side, sh - y0);
        out.push(padded(small, x0, y0, w, h, ceil32(w), ceil32(h)));
      }
    }
    return out;
  }

  anchors(height, width) {
    const key = `${height}x${width}`;
    if (!this.anchorCache.has(key)) this.anchorCache.set(key, anchorCenters(this.config, height, width));
    return this.anchorCache.get(key);
  }

  /** The model's raw outputs for one batch of same-size padded inputs. */
  async infer(batch) {
    const { padW: width, padH: height } = batch[0];
    const plane = width * height;
    const x = new Float32Array(batch.length * 3 * plane).fill(-1.0);
    const scale = 2.0 / 255.0;
    for (let n = 0; n < batch.length; n += 1) {
      const { image, x0, y0, w, h, dx = 0, dy = 0 } = batch[n];
      const src = image.data;
      const srcWidth = image.width;
      for (let y = 0; y < h; y += 1) {
        let s = ((y0 + y) * srcWidth + x0) * 4;
        let d = n * 3 * plane + (y + dy) * width + dx;
        const end = d + w;
        for (; d < end; d += 1, s += 4) {
          x[d] = src[s] * scale - 1.0;
          x[d + plane] = src[s + 1] * scale - 1.0;
          x[d + 2 * plane] = src[s + 2] * scale - 1.0;
        }
      }
    }
    const input = new this.ort.Tensor("float32", x, [batch.length, 3, height, width]);
    const outputs = await this.session.run({ [this.session.inputNames[0]]: input });
    const rawBoxes = outputs[this.session.outputNames[0]];
    const rawScores = outputs[this.session.outputNames[1]];
    return { rawBoxes, rawScores, count: rawScores.dims[1], anchors: this.anchors(height, width) };
  }

  /** Run one batch of same-size padded inputs; candidates per input, in its own pixels. */
  async run(batch) {
    const { rawBoxes, rawScores, count, anchors } = await this.infer(batch);
    const found = batch.map((_, n) => {
      const xyxy = [];
      const scores = [];
      const keypoints = [];
      for (let a = 0; a < count; a += 1) {
        const score = sigmoid(rawScores.data[n * count + a]);
        if (!(score >= this.scoreThreshold)) continue;
        const raw = rawBoxes.data.subarray((n * count + a) * 16, (n * count + a + 1) * 16);
        const ax = anchors[2 * a];
        const ay = anchors[2 * a + 1];
        const halfW = raw[2] / 2;
        const halfH = raw[3] / 2;
        if (!(halfW > 0 && halfH > 0)) continue;
        const cx = raw[0] + ax;
        const cy = raw[1] + ay;
        xyxy.push(cx - halfW, cy - halfH, cx + halfW, cy + halfH);
        scores.push(score);
        for (let k = 0; k < NUM_KEYPOINTS; k += 1) keypoints.push(raw[4 + 2 * k] + ax, raw[5 + 2 * k] + ay);
      }
      return { xyxy, scores, keypoints };
    });
    rawBoxes.dispose?.();
    rawScores.dispose?.();
    return found;
  }

  /** Every pyramid level (`fast`: only the finest); candidates in image pixels
   * (detection.py _passes()). */
  async passes(image, fast = false, minFace = this.minFace, edgeMargin = this.edgeMargin) {
    const { width: w, height: h } = image;
    const letterboxed = [];
    const tiles = [];
    let small = image;
    const levelsAll = this.scales(h, w, minFace);
    const levels = (fast ? levelsAll.slice(-1) : levelsAll).sort((a, b) => b[0] - a[0] || Number(b[1]) - Number(a[1]));
    for (const [scale, native] of levels) {
      small = downscale(small, Math.max(1, roundHalfEven(w * scale)), Math.max(1, roundHalfEven(h * scale)));
      if (native) {
        const side = Math.max(this.config.native, ceil32(Math.max(small.width, small.height)));
        letterboxed.push({ scale, ...padded(small, 0, 0, small.width, small.height, side, side) });
      } else {
        // the camera's fast path goes without the border (its one pass is the finer level:
        // 50% more pixels at 640x480; README, "In-browser camera")
        const margin = fast ? 0 : edgeMargin;
        for (const tile of this.tiles(margin ? bordered(small, margin) : small)) tiles.push({ scale, margin, ...tile });
      }
    }
    const sameSize = new Set(letterboxed.map((t) => t.padW)).size === 1;
    const groups = sameSize ? [letterboxed] : letterboxed.map((t) => [t]);
    for (const tile of tiles) groups.push([tile]);
    const all = { xyxy: [], scores: [], keypoints: [] };
    for (const group of groups) {
      const results = await this.run(group);
      group.forEach(({ scale, x0, y0, margin = 0 }, n) => {
        const found = results[n];
        const [ox, oy] = [x0 - margin, y0 - margin]; // the tile's place in the image
        found.xyxy.forEach((v, i) => all.xyxy.push((v + (i % 2 ? oy : ox)) / scale));
        all.scores.push(...found.scores);
        found.keypoints.forEach((v, i) => all.keypoints.push((v + (i % 2 ? oy : ox)) / scale));
      });
    }
    return all;
  }

  /** The short-range model on the whole image, centred with a border (detection.py
   * _closeup_passes); candidates in image pixels. */
  async closeupPasses(image) {
    const short = this.helpers.short;
    const side = short.config.native;
    const [scale, w, h, x0, y0] = closeupLayout(image.height, image.width, side);
    const small = downscale(image, w, h);
    const [found] = await short.run([padded(small, 0, 0, w, h, side, side, x0, y0)]);
    const threshold = Math.max(this.scoreThreshold, CLOSEUP_THRESHOLD);
    const out = { xyxy: [], scores: [], keypoints: [] };
    found.scores.forEach((score, i) => {
      if (!(score >= threshold)) return;
      out.scores.push(score);
      for (let k = 0; k < 4; k += 1) out.xyxy.push((found.xyxy[4 * i + k] - (k % 2 ? y0 : x0)) / scale);
      for (let k = 0; k < 2 * NUM_KEYPOINTS; k += 1) {
        out.keypoints.push((found.keypoints[2 * NUM_KEYPOINTS * i + k] - (k % 2 ? y0 : x0)) / scale);
      }
    });
    return out;
  }

  /** The model input pixels of the camera's full pass (its one level) on an image. */
  fullPassPixels(height, width, minFace) {
    const [scale] = this.scales(height, width, minFace).at(-1);
    return ceil32(width * scale) * ceil32(height * scale);
  }

  /** A look at a square region around each of `boxes` (the camera's frames between full
   * passes): faces of at least REGION_SIDE / CHECK_MARGINS.short px go to the short-range
   * model at the check's layout (the close-up pass's model: the full-range one misplaces
   * large faces), smaller ones to the full-range model at REGION_MARGIN (the region at
   * least REGION_SIDE image px: no upscaling); one batch per model; candidates whose centre
   * is within REGION_KEEP x the side of the region's centre, in image pixels. */
  async regionPasses(image, boxes) {
    const side = REGION_SIDE;
    const groups = new Map();
    for (const box of boxes) {
      const boxSide = Math.max(box[2] - box[0], box[3] - box[1], 1.0);
      const short = this.helpers.short && boxSide * CHECK_MARGINS.short >= side;
      const margin = short ? CHECK_MARGINS.short : Math.max(REGION_MARGIN, side / boxSide);
      const detector = short ? this.helpers.short : this;
      if (!groups.has(detector)) groups.set(detector, []);
      groups.get(detector).push(checkLayout(box, margin, image.height, image.width, side));
    }
    const out = { xyxy: [], scores: [], keypoints: [] };
    const limit = REGION_KEEP * side;
    for (const [detector, layouts] of groups) {
      const batch = layouts.map(({ region, w, h, dx, dy }) => padded(downscale(crop(image, ...region), w, h), 0, 0, w, h, side, side, dx, dy));
      const found = await detector.run(batch);
      found.forEach(({ xyxy, scores, keypoints }, n) => {
        const { region: [rx0, ry0, rx1, ry1], w, h, dx, dy } = layouts[n];
        const [sx, sy] = [(rx1 - rx0) / w, (ry1 - ry0) / h]; // image px per input px
        const toImage = (v, i) => (i % 2 ? ry0 + (v - dy) * sy : rx0 + (v - dx) * sx);
        scores.forEach((score, i) => {
          const [x0, y0, x1, y1] = xyxy.slice(4 * i, 4 * i + 4);
          if (!(score >= this.scoreThreshold)) return;
          if (Math.abs((x0 + x1) / 2 - side / 2) >= limit || Math.abs((y0 + y1) / 2 - side / 2) >= limit) return;
          out.scores.push(score);
          out.xyxy.push(...[x0, y0, x1, y1].map(toImage));
          out.keypoints.push(...keypoints.slice(2 * NUM_KEYPOINTS * i, 2 * NUM_KEYPOINTS * (i + 1)).map(toImage));
        });
      });
    }
    return out;
  }

  /** Drop the faces scoring below CONFIDENT, not agreed on by both passes, that neither
   * model, shown a crop around each, confirms (detection.py _checked, face_checks.confirmed). */
  async checked(image, faces, agreed, camera = null) {
    const unsure = faces.map((f, i) => (f.score < CONFIDENT && !agreed[i] ? i : -1)).filter((i) => i >= 0);
    const known = unsure.map((i) => camera?.verdict(faces[i].xyxy) ?? null);
    const asked = unsure.filter((_, k) => known[k] === null);
    const best = new Float64Array(asked.length);
    for (const [model, margin] of asked.length ? Object.entries(CHECK_MARGINS) : []) {
      const checker = this.helpers[model];
      const side = checker.config.native;
      const batch = asked.map((i) => {
        const { region, w, h, dx, dy } = checkLayout(faces[i].xyxy, margin, image.height, image.width, side);
        const small = downscale(crop(image, ...region), w, h);
        return padded(small, 0, 0, w, h, side, side, dx, dy);
      });
      const { rawBoxes, rawScores, count, anchors } = await checker.infer(batch);
      const radius = side / margin / 2;
      asked.forEach((_, k) => {
        for (let a = 0; a < count; a += 1) {
          const cx = rawBoxes.data[(k * count + a) * 16] + anchors[2 * a];
          const cy = rawBoxes.data[(k * count + a) * 16 + 1] + anchors[2 * a + 1];
          if (Math.max(Math.abs(cx - side / 2), Math.abs(cy - side / 2)) < radius) {
            best[k] = Math.max(best[k], sigmoid(rawScores.data[k * count + a]));
          }
        }
      });
      rawBoxes.dispose?.();
      rawScores.dispose?.();
    }
    const keep = new Map(asked.map((i, k) => [i, best[k] >= CHECK_THRESHOLD]));
    unsure.forEach((i, k) => { if (known[k]) keep.set(i, known[k].keep); });
    camera?.remember(unsure.map((i, k) => ({ xyxy: faces[i].xyxy, keep: keep.get(i), age: known[k] ? known[k].age : 0 })), known);
    return faces.filter((_, i) => keep.get(i) !== false);
  }

  /** Faces in an RGBA image: [{xyxy, score, keypoints (flat, 12)}], best score first.
   * `camera` (a CameraMemory, one per camera): the camera's fast path, see CameraMemory;
   * `minFace`: this call's smallest face (px; default the detector's), as a FaceDetector
   * made with that min_face; `edgeMargin`: the same for the border for faces cut by the
   * frame's edge (0 for video frames, as video/process.py default_analyzer). */
  async detect(image, { camera = null, minFace = this.minFace, edgeMargin = this.edgeMargin } = {}) {
    if (!image.width || !image.height) return [];
    const regions = camera?.regions(image.width, image.height, this.fullPassPixels(image.height, image.width, minFace)) ?? null;
    const candidates = regions ? await this.regionPasses(image, regions) : await this.passes(image, camera !== null, minFace, edgeMargin);
    const first = dropDuplicates(weightedNms(candidates, this.iouThreshold));
    let faces = first;
    let closeup = null;
    if (!regions && this.closeup && needsCloseup(faces, image.height, image.width)) {
      closeup = await this.closeupPasses(image);
      faces = dropDuplicates(weightedNms(concatCandidates([candidates, closeup]), this.iouThreshold));
    }
    const out = [];
    for (const face of faces) {
      const [x1, y1, x2, y2] = face.xyxy;
      const box = [
        Math.min(Math.max(x1, 0), image.width), Math.min(Math.max(y1, 0), image.height),
        Math.min(Math.max(x2, 0), image.width), Math.min(Math.max(y2, 0), image.height),
      ];
      if (Math.max(box[2] - box[0], box[3] - box[1]) >= minFace) out.push({ ...face, xyxy: box });
    }
    let kept = out;
    if (this.check && out.length) {
      const closeupBoxes = closeup ? Array.from({ length: closeup.scores.length }, (_, i) => closeup.xyxy.slice(4 * i, 4 * i + 4)) : [];
      const agreed = out.map((f) => bothFound(f.xyxy, first.map((g) => g.xyxy), closeupBoxes));
      kept = await this.checked(image, out, agreed, camera);
    } else {
      camera?.remember([], []);
    }
    camera?.saw(kept);
    return kept;
  }
}
