// Face detection in the page: BlazeFace full-range (ONNX Runtime Web), mirroring
// faceattrs/pipeline/detection.py step for step: the same pyramid (coarse and native
// letterbox passes, finer levels, tiles), the same resizing (2x area halvings, then one
// OpenCV-style bilinear step), anchors, decoding, score threshold and weighted NMS, and the
// same second looks (faceattrs/pipeline/face_checks.py): the short-range close-up pass and
// the check. As in Python, the helpers live in their own modules: detector_input.js
// (resizing, input canvases), detections.js (NMS, duplicates), face_checks.js (the second
// looks' rules). Camera frames may take a faster path (camera_memory.js CameraMemory): one
// pass instead of three, and between full passes a look only around the faces of the frame
// before. Images are plain {data, width, height} RGBA objects (ImageData-like).

import { REGION_KEEP, REGION_MARGIN, REGION_SIDE } from "./camera_memory.js";
import { concatCandidates, dropDuplicates, NUM_KEYPOINTS, weightedNms } from "./detections.js";
import { bordered, ceil32, crop, downscale, padded, roundHalfEven, sigmoid } from "./detector_input.js";
import { bothFound, CHECK_MARGINS, CHECK_THRESHOLD, checkLayout, CLOSEUP_THRESHOLD, closeupLayout, CONFIDENT, needsCloseup } from "./face_checks.js";

const COARSE = 0.6;
const MAX_SCALE = 1.0;
const LEVEL_SLACK = 1.3;
const EDGE_MARGIN = 32; // detection.py: black border around the finer levels (faces cut by an edge)

export const MODELS = {
  full: { file: "blazeface_full.onnx", native: 192, strides: [4], anchorsPerLayer: 1, minPx: 10, maxPx: 128, levelRatio: 6 },
  short: { file: "blazeface_short.onnx", native: 128, strides: [8, 16, 16, 16], anchorsPerLayer: 2, minPx: 16, maxPx: 128, levelRatio: 4 },
};

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
