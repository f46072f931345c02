// The in-browser camera's heads in a worker (live.js HeadsWorker): the attribute and
// expression models on a WebAssembly instance of their own (one thread), so that the faces
// of one camera frame are described while the page detects the next frame on another core.
// The same model files (the page's, from the browser's cache) and the same code
// (attributes.js, expression.js) as the page's own heads: the same numbers.
//
// Messages in: {id, image (RGBA: width, height, data), keypoints: [flat keypoints of a face...]};
// out: {ready: true} or {ready: false, error} once, then per message {id, attributes: [...],
// expressions: [...]} (one per face) or {id, error}. The faces are aligned here too
// (alignment.js), each head's crop on its own template, as InBrowserAnalyzer does.

import * as ort from "../vendor/ort.wasm.bundle.min.mjs";
import { align } from "./alignment.js";
import { fetchAll, HEAD_FILES, headsFrom, MODELS_URL, WASM_URL } from "./analyzer.js";

ort.env.wasm.numThreads = 1; // the page's instance keeps the other threads

const loaded = (async () => {
  const urls = [WASM_URL, ...HEAD_FILES.map((name) => new URL(name, MODELS_URL))];
  const { bytes: [wasm, ...heads] } = await fetchAll(urls, () => {});
  ort.env.wasm.wasmBinary = wasm.buffer;
  return headsFrom(...heads);
})();

loaded.then(
  () => postMessage({ ready: true }),
  (error) => postMessage({ ready: false, error: String(error.message || error) }),
);

onmessage = async ({ data }) => {
  try {
    const { model, expression } = await loaded;
    const { image, keypoints } = data;
    const attributes = await model.predict(keypoints.map((points) => align(image, points, model.spec)));
    const expressions = await expression.predict(keypoints.map((points) => align(image, points, expression.spec)));
    postMessage({ id: data.id, attributes, expressions });
  } catch (error) {
    postMessage({ id: data.id, error: String(error.message || error) });
  }
};
