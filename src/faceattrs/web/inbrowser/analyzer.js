// The whole pipeline inside the page (faceattrs/analyzer.py): detect, align, predict,
// with ONNX Runtime Web on WebAssembly (one thread, so no cross-origin isolation is
// needed). The models are fetched from ../models/ next to this folder; the attribute
// model's spec is read from its own ONNX metadata (faceattrs_spec), never guessed.
// Nothing leaves the page.

import * as ort from "../vendor/ort.wasm.bundle.min.mjs";
import { align } from "./alignment.js";
import { AttributeModel } from "./attributes.js";
import { FaceDetector, MODELS } from "./detection.js";

ort.env.wasm.numThreads = 1;
ort.env.wasm.proxy = false;
// only the .wasm: the bundle carries its own loader (ort-wasm-simd-threaded.mjs)
ort.env.wasm.wasmPaths = { wasm: new URL("../vendor/ort-wasm-simd-threaded.wasm", import.meta.url).href };

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

async function fetchModel(name) {
  const url = new URL(name, MODELS_URL);
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not load the model ${name} (HTTP ${response.status})`);
  return new Uint8Array(await response.arrayBuffer());
}

const openSession = (bytes) =>
  ort.InferenceSession.create(bytes, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });

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
  constructor(detector, model) {
    this.detector = detector;
    this.model = model;
    this.spec = model.spec;
    this.queue = Promise.resolve(); // one image at a time through the shared sessions
  }

  /** Faces in an RGBA image, in the server's JSON schema; `ms` holds the stage times.
   * Calls made while another runs wait their turn. */
  analyze(image) {
    const run = this.queue.then(() => this.analyzeNow(image));
    this.queue = run.catch(() => {});
    return run;
  }

  async analyzeNow(image) {
    const t0 = performance.now();
    const detections = await this.detector.detect(image);
    const t1 = performance.now();
    const crops = detections.map((d) => align(image, d.keypoints, this.spec));
    const t2 = performance.now();
    const attributes = await this.model.predict(crops);
    const t3 = performance.now();
    const faces = detections.map((d, i) => ({
      box: d.xyxy,
      score: d.score,
      keypoints: Array.from({ length: d.keypoints.length / 2 }, (_, k) => [d.keypoints[2 * k], d.keypoints[2 * k + 1]]),
      ...attributes[i],
    }));
    const ms = { detect: t1 - t0, align: t2 - t1, predict: t3 - t2, total: t3 - t0 };
    return { width: image.width, height: image.height, faces, ms };
  }
}

/** Load both models (fetched once) and return a ready analyzer. */
export async function createAnalyzer({ detector = "full", minFace = 20, scoreThreshold = 0.5 } = {}) {
  // the other BlazeFace model: the close-up pass and the check (detection.js)
  const other = detector === "full" ? "short" : "full";
  const [detectorBytes, otherBytes, modelBytes] = await Promise.all([
    fetchModel(MODELS[detector].file), fetchModel(MODELS[other].file), fetchModel("attributes.onnx"),
  ]);
  const raw = onnxMetadata(modelBytes)[METADATA_KEY];
  if (!raw) throw new Error(`attributes.onnx is not a faceattrs model (no ${METADATA_KEY} metadata)`);
  const spec = JSON.parse(raw);
  const detectorSession = await openSession(detectorBytes);
  const otherSession = await openSession(otherBytes);
  const modelSession = await openSession(modelBytes);
  const faceDetector = new FaceDetector(ort, detectorSession, { model: detector, minFace, scoreThreshold, otherSession });
  return new InBrowserAnalyzer(faceDetector, new AttributeModel(ort, modelSession, spec));
}
