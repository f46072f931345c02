// The attribute model in the page, mirroring faceattrs/attributes.py and spec.py:
// aligned RGB crops -> (x / 255 - mean) / std, NCHW -> age, gender and race probabilities;
// age is the expectation of the age distribution, its interval the central quantiles.

/** Rows of probabilities that sum to 1: negatives and NaN clipped, all-zero -> uniform. */
export function normalize(row) {
  const p = Array.from(row, (v) => (Number.isFinite(v) && v > 0 ? v : 0));
  const total = p.reduce((s, v) => s + v, 0);
  return total > 0 ? p.map((v) => v / total) : p.map(() => 1 / Math.max(p.length, 1));
}

/** The label with the highest probability (results.py top_label). */
export const argmax = (probs) => Object.keys(probs).reduce((a, b) => (probs[b] > probs[a] ? b : a));

/** Age, its central interval and the labelled probabilities of one face. */
export function postprocess(spec, ageRow, genderRow, raceRow) {
  const ageProbs = normalize(ageRow);
  const age = ageProbs.reduce((s, p, i) => s + p * i, 0);
  const tail = (1.0 - spec.age_interval_coverage) / 2.0;
  let cdf = 0;
  let low = 0;
  let high = 0;
  ageProbs.forEach((p, i) => {
    cdf = i === ageProbs.length - 1 ? 1.0 : cdf + p;
    if (cdf < tail - 1e-6) low += 1;
    if (cdf < 1.0 - tail - 1e-6) high += 1;
  });
  high = Math.min(high, ageProbs.length - 1);
  const labelled = (labels, row) => Object.fromEntries(labels.map((label, i) => [label, row[i]]));
  const genderProbs = labelled(spec.genders, normalize(genderRow));
  const raceProbs = labelled(spec.races, normalize(raceRow));
  return {
    age,
    age_interval: [low, high],
    gender: argmax(genderProbs),
    gender_probs: genderProbs,
    race: argmax(raceProbs),
    race_probs: raceProbs,
  };
}

export class AttributeModel {
  /** `session`: an ort.InferenceSession of the attribute model; `spec`: its faceattrs_spec. */
  constructor(ort, session, spec) {
    this.ort = ort;
    this.session = session;
    this.spec = spec;
    const widths = [spec.max_age + 1, spec.genders.length, spec.races.length];
    this.widths = widths;
    for (const name of [spec.input_name]) {
      if (!session.inputNames.includes(name)) throw new Error(`the attribute model has no input ${name}`);
    }
    for (const name of spec.outputs) {
      if (!session.outputNames.includes(name)) throw new Error(`the attribute model has no output ${name}`);
    }
  }

  /** Predict for aligned RGB crops (each size x size x 3 Uint8ClampedArray). */
  async predict(cropsRgb) {
    if (!cropsRgb.length) return [];
    const { spec } = this;
    const size = spec.input_size;
    const plane = size * size;
    const x = new Float32Array(cropsRgb.length * 3 * plane);
    cropsRgb.forEach((rgb, n) => {
      for (let c = 0; c < 3; c += 1) {
        const mean = spec.mean[c];
        const std = spec.std[c];
        const base = (n * 3 + c) * plane;
        for (let i = 0; i < plane; i += 1) x[base + i] = (rgb[3 * i + c] / 255.0 - mean) / std;
      }
    });
    const input = new this.ort.Tensor("float32", x, [cropsRgb.length, 3, size, size]);
    const outputs = await this.session.run({ [spec.input_name]: input });
    const [age, gender, race] = spec.outputs.map((name) => outputs[name]);
    const row = (t, width, n) => t.data.subarray(n * width, (n + 1) * width);
    const [wa, wg, wr] = this.widths;
    const faces = cropsRgb.map((_, n) => postprocess(spec, row(age, wa, n), row(gender, wg, n), row(race, wr, n)));
    for (const t of Object.values(outputs)) t.dispose?.();
    return faces;
  }
}
