// The whole pipeline inside the page (faceattrs/analyzer.py): detect, align, predict,
// with ONNX Runtime Web (runtime.js: WebGPU where the browser has a GPU for it, else
// WebAssembly, multi-threaded when the page is cross-origin isolated, as under `faceattrs
// serve`, else one thread, as on any static server). The runtime and the models are
// fetched from ../vendor/ and ../models/ with progress and kept in the browser's Cache API
// (revalidated, so a new model replaces the old); the attribute model's spec is read from
// its own ONNX metadata (faceattrs_spec), never guessed. Nothing leaves the page.

import { align } from "./alignment.js";
import { AttributeModel } from "./attributes.js";
import { FaceDetector, MODELS } from "./detection.js";
import { ExpressionModel, expressionSpec } from "./expression.js";
import { openSession, ort, runsOn, THREADS, WASM_URL } from "./runtime.js";

const CACHE_NAME = "faceattrs-models-v1";

export const MODELS_URL = new URL("../models/", import.meta.url);
const METADATA_KEY = "faceattrs_spec";

/** Read a varint at `pos` of `bytes`: [value, next position]. */
function varint(bytes, pos) {
  let value = 0;
  let shift = 1;
  for (;;) {
    const byte = bytes[pos];
    pos += 1;
    value += (byte & 0x7f) * shift;
    if (byte < 0x80) return [value, pos];
    shift *= 128;
  }
}

/** The fields of one protobuf message as [field number, wire type, value or bytes]. */
function fields(bytes) {
  const out = [];
  let pos = 0;
  while (pos < bytes.length) {
    let tag;
    [tag, pos] = varint(bytes, pos);
    const number = Math.floor(tag / 8);
    const wire = tag % 8;
    if (wire === 0) {
      let value;
      [value, pos] = varint(bytes, pos);
      out.push([number, wire, value]);
    } else if (wire === 2) {
      let length;
      [length, pos] = varint(bytes, pos);
      out.push([number, wire, bytes.subarray(pos, pos + length)]);
      pos += length;
    } else if (wire === 1 || wire === 5) {
      pos += wire === 1 ? 8 : 4;
    } else {
      throw new Error(`not an ONNX model (protobuf wire type ${wire})`);
    }
  }
  return out;
}

/** The metadata_props (ModelProto field 14) of an ONNX file as {key: value}. */
export function onnxMetadata(bytes) {
  const text = new TextDecoder();
  const metadata = {};
  for (const [number, wire, entry] of fields(bytes)) {
    if (number !== 14 || wire !== 2) continue;
    const pair = Object.fromEntries(fields(entry).map(([n, , v]) => [n, text.decode(v)]));
    metadata[pair[1]] = pair[2];
  }
  return metadata;
}

const openCache = async () => {
  try {
    return globalThis.caches ? await caches.open(CACHE_NAME) : null;
  } catch {
    return null; // e.g. not a secure context, or storage blocked
  }
};

/** The bytes of `url`, from the Cache API when the server says they have not changed
 * (If-None-Match / If-Modified-Since: 304), else downloaded with `onBytes(received,
 * total)` calls and cached. `from` tells which. */
async function cachedBytes(url, cache, onBytes) {
  const hit = cache ? await cache.match(url) : undefined;
  const headers = {};
  if (hit?.headers.get("etag")) headers["If-None-Match"] = hit.headers.get("etag");
  if (hit?.headers.get("last-modified")) headers["If-Modified-Since"] = hit.headers.get("last-modified");
  let response;
  try {
    response = await fetch(url, { headers, cache: "no-store" });
  } catch (error) {
    if (hit) return { bytes: new Uint8Array(await hit.arrayBuffer()), from: "cache" }; // offline
    throw error;
  }
  if (hit && response.status === 304) {
    const bytes = new Uint8Array(await hit.arrayBuffer());
    onBytes(bytes.length, bytes.length);
    return { bytes, from: "cache" };
  }
  const name = url.pathname.split("/").pop();
  if (!response.ok) throw new Error(`could not load ${name} (HTTP ${response.status})`);
  const total = Number(response.headers.get("content-length")) || 0;
  if (total) onBytes(0, total); // the size is known before the first byte: count it at once
  const chunks = [];
  let received = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    onBytes(received, Math.max(total, received));
  }
  const bytes = new Uint8Array(received);
  let at = 0;
  for (const chunk of chunks) { bytes.set(chunk, at); at += chunk.length; }
  if (cache) {
    const kept = { "content-type": "application/octet-stream", "content-length": String(received) };
    for (const key of ["etag", "last-modified"]) if (response.headers.get(key)) kept[key] = response.headers.get(key);
    await cache.put(url, new Response(bytes, { headers: kept })).catch(() => {});
  }
  return { bytes, from: "network" };
}

/** Fetch the runtime and the models together; `onProgress({received, total, files, from})`,
 * first called once every file has answered, so `total` counts them all. */
export async function fetchAll(urls, onProgress) {
  const cache = await openCache();
  const received = urls.map(() => 0);
  const totals = urls.map(() => 0);
  const answered = urls.map(() => false);
  const report = (from) => answered.every(Boolean) && onProgress({
    received: received.reduce((a, b) => a + b, 0),
    total: totals.reduce((a, b) => a + b, 0),
    files: urls.length,
    from,
  });
  const results = await Promise.all(urls.map((url, i) => cachedBytes(url, cache, (n, total) => {
    received[i] = n;
    totals[i] = total;
    answered[i] = true;
    report("network");
  })));
  const from = results.every((r) => r.from === "cache") ? "cache" : "network";
  answered.fill(true); // e.g. an empty file
  report(from);
  return { bytes: results.map((r) => r.bytes), from };
}

/** An RGBA image (ImageData) of a drawable source, at most `maxSide` px on its long side,
 * on white (transparent pixels composited like faceattrs.media does). */
export function toImageData(source, width, height, maxSide = Infinity) {
  const scale = Math.min(1, maxSide / Math.max(width, height));
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  const canvas = typeof OffscreenCanvas !== "undefined" ? new OffscreenCanvas(w, h) : Object.assign(document.createElement("canvas"), { width: w, height: h });
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, w, h);
  ctx.drawImage(source, 0, 0, w, h);
  return ctx.getImageData(0, 0, w, h);
}

export class InBrowserAnalyzer {
  /** `expression`: the expression head (expression.js), or null for none. */
  constructor(detector, model, expression = null) {
    this.detector = detector;
    this.model = model;
    this.spec = model.spec;
    this.expression = expression;
    this.queue = Promise.resolve(); // one image at a time through the shared sessions
  }

  /** Faces in an RGBA image, in the server's JSON schema; `ms` holds the stage times.
   * Calls made while another runs wait their turn. `options.camera`: a camera's
   * CameraMemory (camera_memory.js), for its frames' fast path; `options.describe(detections)`:
   * which faces to describe (booleans; the others come without attributes); `options.minFace`:
   * this image's smallest face in px (default: the analyzer's); `options.edgeMargin`: the
   * detector's border for faces cut by the frame's edge (default: the detector's, 32 px). */
  analyze(image, options = {}) {
    const run = this.queue.then(() => this.analyzeNow(image, options));
    this.queue = run.catch(() => {});
    return run;
  }

  async analyzeNow(image, { camera = null, describe = null, minFace = undefined, edgeMargin = undefined } = {}) {
    const t0 = performance.now();
    const detections = await this.detector.detect(image, { camera, minFace, edgeMargin });
    const wanted = describe ? describe(detections) : detections.map(() => true);
    const chosen = detections.filter((_, i) => wanted[i]);
    const t1 = performance.now();
    const crops = chosen.map((d) => align(image, d.keypoints, this.spec));
    const t2 = performance.now();
    const attributes = await this.model.predict(crops);
    const t3 = performance.now();
    const expressions = await this.predictExpressions(image, chosen);
    const t4 = performance.now();
    let next = 0;
    const described = wanted.map((yes) => (yes ? next++ : -1)); // index among `chosen`
    const faces = detections.map((d, i) => ({
      box: d.xyxy,
      score: d.score,
      keypoints: Array.from({ length: d.keypoints.length / 2 }, (_, k) => [d.keypoints[2 * k], d.keypoints[2 * k + 1]]),
      ...attributes[described[i]],
      ...expressions[described[i]],
    }));
    const ms = { detect: t1 - t0, align: t2 - t1, predict: t3 - t2, expression: t4 - t3, total: t4 - t0 };
    return { width: image.width, height: image.height, faces, ms };
  }

  /** {expression, expression_probs} per detection, from crops aligned on the expression
   * model's own template (analyzer.py describe_batch); [] without the head. */
  async predictExpressions(image, detections) {
    if (!this.expression || !detections.length) return [];
    const { spec } = this.expression;
    return this.expression.predict(detections.map((d) => align(image, d.keypoints, spec)));
  }
}

/** The attribute and expression heads (the page's float files under ../models/). */
export const HEAD_FILES = ["attributes.onnx", "expression.onnx"];

/** The heads from their files' bytes (HEAD_FILES' order), each with the spec read from its
 * own ONNX metadata: {model: AttributeModel, expression: ExpressionModel}. */
export async function headsFrom(modelBytes, expressionBytes) {
  const raw = onnxMetadata(modelBytes)[METADATA_KEY];
  if (!raw) throw new Error(`attributes.onnx is not a faceattrs model (no ${METADATA_KEY} metadata)`);
  const model = new AttributeModel(ort, await openSession(modelBytes), JSON.parse(raw));
  const expressionRaw = onnxMetadata(expressionBytes)[METADATA_KEY];
  const expression = new ExpressionModel(ort, await openSession(expressionBytes), expressionSpec(expressionRaw));
  return { model, expression };
}

/** Load the runtime and the four models (cached by the browser: BlazeFace full- and
 * short-range, the attribute and the expression model) and return a ready analyzer; `onProgress` follows the
 * downloads. `analyzer.threads` and `.modelsFrom` ("cache" or "network") say how it runs and
 * where the models came from. The other BlazeFace model serves the close-up pass and the
 * check (detection.js, face_checks.js). */
export async function createAnalyzer({ detector = "full", minFace = 20, scoreThreshold = 0.5, onProgress = () => {} } = {}) {
  const other = detector === "full" ? "short" : "full";
  const urls = [
    WASM_URL, new URL(MODELS[detector].file, MODELS_URL), new URL(MODELS[other].file, MODELS_URL),
    ...HEAD_FILES.map((name) => new URL(name, MODELS_URL)),
  ];
  const { bytes: [wasmBytes, detectorBytes, otherBytes, modelBytes, expressionBytes], from } = await fetchAll(urls, onProgress);
  if (!ort.env.wasm.wasmBinary) ort.env.wasm.wasmBinary = wasmBytes.buffer;
  const { model, expression } = await headsFrom(modelBytes, expressionBytes);
  const detectorSession = await openSession(detectorBytes);
  const otherSession = await openSession(otherBytes);
  const faceDetector = new FaceDetector(ort, detectorSession, { model: detector, minFace, scoreThreshold, otherSession });
  const analyzer = new InBrowserAnalyzer(faceDetector, model, expression);
  analyzer.threads = THREADS;
  analyzer.backend = runsOn();
  analyzer.modelsFrom = from;
  return analyzer;
}
