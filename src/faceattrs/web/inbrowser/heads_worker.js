// The in-browser camera's heads in a worker (live.js HeadsWorker): the attribute and
// expression models on a WebAssembly instance of their own (one thread), so that the faces
// of one camera frame are described while the page detects the next frame on another core.
// The same model files (the page's, from the browser's cache), the same code
// (attributes.js, expression.js) and the same runtime build (runtime.js: the page passes its
// choice in this worker's URL, ?backend=) as the page's own heads: the same numbers.
//
// With persons, the camera's face embeddings too (embedding.js, the model loaded here on the
// first `embedder` message): they stay in this worker's memory only for the call.
//
// Messages in: {id, image (RGBA: width, height, data), keypoints: [flat keypoints of a face...]}
// (describe), {id, embedder: true} (load the embedding model), {id, embed: true, image,
// keypoints}; out: {ready: true, backend} or {ready: false, error} once, then per message {id,
// attributes: [...], expressions: [...]} (one per face), {id, threshold}, {id, embeddings:
// [...]}, or {id, error}. The faces are aligned here too (alignment.js), each head's crop on its
// own template, as InBrowserAnalyzer does.

import { align } from "./alignment.js";
import { fetchAll, HEAD_FILES, headsFrom, MODELS_URL } from "./analyzer.js";
import { loadEmbeddingModel } from "./embedding.js";
import { ort, runsOn, WASM_URL } from "./runtime.js";

ort.env.wasm.numThreads = 1; // the page's instance keeps the other threads (set before any session)

const loaded = (async () => {
  const urls = [WASM_URL, ...HEAD_FILES.map((name) => new URL(name, MODELS_URL))];
  const { bytes: [wasm, ...heads] } = await fetchAll(urls, () => {});
  ort.env.wasm.wasmBinary = wasm.buffer;
  return headsFrom(...heads);
})();

loaded.then(
  () => postMessage({ ready: true, backend: runsOn() }),
  (error) => postMessage({ ready: false, error: String(error.message || error) }),
);

let embedder = null; // the embedding model's promise, from the first `embedder` message

async function answer(data) {
  const { model, expression } = await loaded;
  if (data.embedder) {
    embedder ??= loadEmbeddingModel();
    return { threshold: (await embedder).threshold };
  }
  if (data.embed) {
    if (!embedder) throw new Error("no embedding model loaded");
    const faces = data.keypoints.map((keypoints) => ({ keypoints }));
    return { embeddings: await (await embedder).embed(data.image, faces) };
  }
  const { image, keypoints } = data;
  const attributes = await model.predict(keypoints.map((points) => align(image, points, model.spec)));
  const expressions = await expression.predict(keypoints.map((points) => align(image, points, expression.spec)));
  return { attributes, expressions };
}

let queue = Promise.resolve(); // one message at a time through the sessions
onmessage = ({ data }) => {
  queue = queue.then(async () => {
    try {
      postMessage({ id: data.id, ...(await answer(data)) });
    } catch (error) {
      postMessage({ id: data.id, error: String(error.message || error) });
    }
  });
};
