// The expression head in the page, mirroring faceattrs/pipeline/expression.py and
// spec.py ExpressionSpec: crops aligned on the expression model's own template (FER2013
// framing, from its metadata) -> grayscale (OpenCV's BGR luma weights, unrounded) ->
// (x / 255 - mean) / std, N1HW -> probabilities over the spec's labels.

import { argmax, normalize } from "./attributes.js";

export const EXPRESSION_TASK = "expression";
// ITU-R BT.601 luma, as cv2.cvtColor and ExpressionSpec.preprocess weigh R, G, B
const LUMA = [0.299, 0.587, 0.114];

/** The expression spec from a model's faceattrs_spec metadata (JSON text): checked, so a
 * model of another kind or an input the page cannot make is a one-line error. */
export function expressionSpec(raw, name = "expression.onnx") {
  if (!raw) throw new Error(`${name} is not a faceattrs model (no faceattrs_spec metadata)`);
  const spec = JSON.parse(raw);
  if (spec.task !== EXPRESSION_TASK) throw new Error(`${name} is not an expression model (task ${JSON.stringify(spec.task)})`);
  if (spec.channel_order !== "GRAY" || spec.layout !== "NCHW") {
    throw new Error(`${name}: the page makes GRAY NCHW input, the model wants ${spec.channel_order} ${spec.layout}`);
  }
  return spec;
}

/** Labelled probabilities and the top label of one output row (expression.py predict:
 * negatives and NaN clipped, rows sum to 1). */
export function expressionOf(spec, row) {
  const p = normalize(row);
  const probs = Object.fromEntries(spec.labels.map((label, i) => [label, p[i]]));
  return { expression: argmax(probs), expression_probs: probs };
}

/** The model input for aligned RGB crops (each size x size x 3): Float32Array (N, 1, S, S). */
export function preprocess(spec, cropsRgb) {
  const plane = spec.input_size * spec.input_size;
  const x = new Float32Array(cropsRgb.length * plane);
  cropsRgb.forEach((rgb, n) => {
    const base = n * plane;
    for (let i = 0; i < plane; i += 1) {
      const gray = Math.fround(LUMA[0] * rgb[3 * i] + LUMA[1] * rgb[3 * i + 1] + LUMA[2] * rgb[3 * i + 2]);
      x[base + i] = (gray / 255.0 - spec.mean) / spec.std;
    }
  });
  return x;
}

export class ExpressionModel {
  /** `session`: an ort.InferenceSession of the expression model; `spec`: its
   * faceattrs_spec (see expressionSpec). */
  constructor(ort, session, spec) {
    this.ort = ort;
    this.session = session;
    this.spec = spec;
    if (!session.inputNames.includes(spec.input_name)) throw new Error(`the expression model has no input ${spec.input_name}`);
    if (!session.outputNames.includes(spec.outputs[0])) throw new Error(`the expression model has no output ${spec.outputs[0]}`);
  }

  /** {expression, expression_probs} for aligned RGB crops (each size x size x 3,
   * aligned with this.spec). */
  async predict(cropsRgb) {
    if (!cropsRgb.length) return [];
    const { spec } = this;
    const size = spec.input_size;
    const input = new this.ort.Tensor("float32", preprocess(spec, cropsRgb), [cropsRgb.length, 1, size, size]);
    const outputs = await this.session.run({ [spec.input_name]: input });
    const probs = outputs[spec.outputs[0]];
    const width = spec.labels.length;
    const faces = cropsRgb.map((_, n) => expressionOf(spec, probs.data.subarray(n * width, (n + 1) * width)));
    for (const t of Object.values(outputs)) t.dispose?.();
    return faces;
  }
}
