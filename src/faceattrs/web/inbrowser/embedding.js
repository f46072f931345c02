// Face embeddings in the page, mirroring faceattrs/pipeline/embedding.py: dlib's ResNet
// face descriptor (models/face_embedding_fp16.onnx: face_embedding.onnx with its weights
// stored as float16, 11 MB instead of 22, scripts/convert_embedding_fp16.py; embeddings
// within 2e-4 of the float32 model's) on a 150 px chip aligned from our
// detector's keypoints (alignment.js, the same warp as the attribute model's), then
// L2-normalised. The spec (input size, mean/std, template, same-person threshold) is read
// from the model's own ONNX metadata (faceattrs_embedding_spec), never guessed.
// Loaded only when the video mode joins tracks into persons (loadEmbeddingModel); the
// embeddings are biometric data and stay in this page's memory.

import { align } from "./alignment.js";
import { fetchAll, MODELS_URL, onnxMetadata } from "./analyzer.js";
import { openSession, ort, WASM_URL } from "./runtime.js";

export const EMBEDDING_FILE = "face_embedding_fp16.onnx";
export const EMBEDDING_METADATA_KEY = "faceattrs_embedding_spec";
// the detector's keypoints, in its order (embedding.py KEYPOINT_NAMES)
export const KEYPOINT_NAMES = ["right_eye", "left_eye", "nose_tip", "mouth_centre", "right_ear", "left_ear"];

/** The checked spec of the embedding model (embedding.py EmbeddingSpec.from_json), with
 * `pointIndices` (which detector keypoints the template holds) and `alignment` (the spec
 * alignment.js takes: a 3-point template gets its centroid as a 4th point). */
export function embeddingSpec(text) {
  const raw = JSON.parse(text);
  const required = ["input_size", "mean", "std", "template", "template_points", "embedding_size", "threshold"];
  const missing = required.filter((key) => !(key in raw));
  if (missing.length) throw new Error(`embedding spec lacks ${missing.join(", ")}`);
  if ((raw.channel_order ?? "RGB") !== "RGB" || (raw.layout ?? "NCHW") !== "NCHW") {
    throw new Error("embedding spec: only RGB NCHW input is supported");
  }
  const names = raw.template_points;
  if (names.some((n) => !KEYPOINT_NAMES.includes(n)) || names.length !== raw.template.length
    || raw.template.length < 3 || raw.template.length > 4) {
    throw new Error(`embedding spec: bad template points ${names}`);
  }
  const spec = {
    ...raw,
    input_name: raw.input_name ?? "input",
    output_name: raw.output_name ?? "descriptor",
    pointIndices: names.map((n) => KEYPOINT_NAMES.indexOf(n)),
  };
  spec.alignment = { input_size: raw.input_size, crop_box: [0, 0, 1, 1], template: withCentroid(raw.template) };
  return spec;
}

/** [[x, y] x 3] -> the same with their centroid appended; 4 points unchanged. */
export function withCentroid(points) {
  if (points.length >= 4) return points.map(([x, y]) => [x, y]);
  const n = points.length;
  const centre = [0, 1].map((k) => points.reduce((s, p) => s + p[k], 0) / n);
  return [...points.map(([x, y]) => [x, y]), centre];
}

/** Rows scaled to unit length (Float32Array); a zero row stays zero (embedding.py normalize). */
export function normalize(vector) {
  const out = Float32Array.from(vector);
  let sum = 0;
  for (const v of out) sum += v * v;
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < out.length; i += 1) out[i] /= norm;
  return out;
}

/** Euclidean distance of two embeddings. */
export function distance(a, b) {
  let sum = 0;
  for (let i = 0; i < a.length; i += 1) sum += (a[i] - b[i]) ** 2;
  return Math.sqrt(sum);
}

export class EmbeddingModel {
  /** `session`: an ort.InferenceSession of face_embedding.onnx; `spec`: embeddingSpec(). */
  constructor(ortModule, session, spec) {
    if (!session.inputNames.includes(spec.input_name) || !session.outputNames.includes(spec.output_name)) {
      throw new Error("the embedding model's signature does not match its spec");
    }
    this.ort = ortModule;
    this.session = session;
    this.spec = spec;
    this.threshold = spec.threshold;
  }

  /** The aligned RGB chip (size x size x 3) of a face with detector `keypoints`
   * ([[x, y] x 6], or 12 numbers) in `image` (RGBA ImageData). */
  chip(image, keypoints) {
    const points = keypoints.length && Array.isArray(keypoints[0])
      ? keypoints : Array.from({ length: keypoints.length / 2 }, (_, k) => [keypoints[2 * k], keypoints[2 * k + 1]]);
    const chosen = withCentroid(this.spec.pointIndices.map((i) => points[i]));
    return align(image, chosen.flat(), this.spec.alignment);
  }

  /** L2-normalised embeddings (Float32Array each) of aligned RGB chips. */
  async embedChips(chipsRgb) {
    if (!chipsRgb.length) return [];
    const { spec } = this;
    const size = spec.input_size;
    const plane = size * size;
    const x = new Float32Array(chipsRgb.length * 3 * plane);
    chipsRgb.forEach((rgb, n) => {
      for (let c = 0; c < 3; c += 1) {
        const mean = Math.fround(spec.mean[c]);
        const std = Math.fround(spec.std[c]);
        const base = (n * 3 + c) * plane;
        for (let i = 0; i < plane; i += 1) x[base + i] = (Math.fround(rgb[3 * i + c] / 255) - mean) / std;
      }
    });
    const input = new this.ort.Tensor("float32", x, [chipsRgb.length, 3, size, size]);
    const outputs = await this.session.run({ [spec.input_name]: input });
    const raw = outputs[spec.output_name];
    const width = spec.embedding_size;
    const out = chipsRgb.map((_, n) => normalize(raw.data.subarray(n * width, (n + 1) * width)));
    for (const t of Object.values(outputs)) t.dispose?.();
    return out;
  }

  /** Embeddings of the faces (each with `keypoints`) of one RGBA image. */
  embed(image, faces) {
    return this.embedChips(faces.map((face) => this.chip(image, face.keypoints)));
  }
}

/** Download (once; then the browser's cache) and open the embedding model; `file` another
 * model under models/ with the same metadata (e.g. a float16 copy); `onProgress` as
 * createAnalyzer's. */
export async function loadEmbeddingModel({ file = EMBEDDING_FILE, onProgress = () => {} } = {}) {
  const needWasm = !ort.env.wasm.wasmBinary; // createAnalyzer fetched it already
  const urls = [new URL(file, MODELS_URL), ...(needWasm ? [WASM_URL] : [])];
  const { bytes: [modelBytes, wasmBytes] } = await fetchAll(urls, onProgress);
  if (needWasm) ort.env.wasm.wasmBinary = wasmBytes.buffer;
  const raw = onnxMetadata(modelBytes)[EMBEDDING_METADATA_KEY];
  if (!raw) throw new Error(`${file} is not a faceattrs embedding model (no ${EMBEDDING_METADATA_KEY} metadata)`);
  return new EmbeddingModel(ort, await openSession(modelBytes), embeddingSpec(raw));
}
