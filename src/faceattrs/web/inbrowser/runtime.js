// The ONNX Runtime Web build this page (or worker) runs on, chosen once per JavaScript context:
//
// - "webgpu": the models run on the GPU through onnxruntime-web's WebGPU execution provider
//   (operators it lacks fall back to WebAssembly inside the same session). Chosen when the
//   browser offers a hardware WebGPU adapter and JavaScript Promise Integration
//   (WebAssembly.Suspending, Chromium 137+), which the runtime's smallest WebGPU build needs
//   (ort.jspi.bundle.min.mjs + ort-wasm-simd-threaded.jspi.wasm, 16 MB; the build for other
//   browsers, asyncify, is 27 MB and is not shipped).
// - "wasm": WebAssembly on the CPU (ort.wasm.bundle.min.mjs + ort-wasm-simd-threaded.wasm,
//   14 MB), everywhere else: no WebGPU, a software adapter (SwiftShader, a "fallback"
//   adapter: slower than WebAssembly) or no JSPI. A browser downloads one build, never both.
//
// The page URL's ?backend=wasm|webgpu overrides the choice (to compare the two; "webgpu" then
// takes any adapter, a software one included, as the tests do). A worker is started with the
// page's choice in its own URL (live.js HeadsWorker), so both contexts run the same build.
//
// WebAssembly threads when SharedArrayBuffer is allowed (cross-origin isolated), else 1:
// half the cores, at most 4 (onnxruntime-web's own rule; on 2 cores one thread was faster,
// see README), or the page URL's ?threads=N (1-16) to measure.

const params = new URLSearchParams(globalThis.location?.search || "");
const HAS_JSPI = typeof WebAssembly.Suspending === "function";

/** True for an adapter that runs on the CPU (SwiftShader and other fallback adapters;
 * `adapter.info.isFallbackAdapter` exists in every browser with JSPI). */
function isSoftware(adapter) {
  const info = adapter.info || {};
  const names = `${info.architecture} ${info.vendor} ${info.description}`;
  return Boolean(info.isFallbackAdapter) || /swiftshader|llvmpipe|software/i.test(names);
}

/** The WebGPU adapter to run on (see above), or null for WebAssembly. */
async function pickAdapter(asked, gpu, jspi) {
  if (asked === "wasm" || !jspi || !gpu) return null;
  try {
    const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
    if (!adapter) return null;
    return asked === "webgpu" || !isSoftware(adapter) ? adapter : null;
  } catch {
    return null;
  }
}

/** "webgpu" or "wasm" (see above): `asked` the URL's ?backend=, `gpu` the browser's
 * navigator.gpu, `jspi` whether WebAssembly.Suspending exists. */
export async function chooseBackend(asked, gpu = globalThis.navigator?.gpu, jspi = HAS_JSPI) {
  return (await pickAdapter(asked, gpu, jspi)) ? "webgpu" : "wasm";
}

function wasmThreads() {
  if (!globalThis.crossOriginIsolated) return 1;
  const asked = Number(params.get("threads"));
  if (Number.isInteger(asked) && asked >= 1 && asked <= 16) return asked;
  return Math.max(1, Math.min(4, Math.ceil((navigator.hardwareConcurrency || 1) / 2)));
}

const ADAPTER = await pickAdapter(params.get("backend"), globalThis.navigator?.gpu, HAS_JSPI);
export const BACKEND = ADAPTER ? "webgpu" : "wasm";
const BUILD = BACKEND === "webgpu"
  ? { bundle: "../vendor/ort.jspi.bundle.min.mjs", wasm: "../vendor/ort-wasm-simd-threaded.jspi.wasm" }
  : { bundle: "../vendor/ort.wasm.bundle.min.mjs", wasm: "../vendor/ort-wasm-simd-threaded.wasm" };
export const ort = await import(BUILD.bundle);
export const THREADS = wasmThreads();
export const WASM_URL = new URL(BUILD.wasm, import.meta.url);
ort.env.wasm.numThreads = THREADS;
ort.env.wasm.proxy = false;
// only the .wasm: the bundle carries its own loader
ort.env.wasm.wasmPaths = { wasm: WASM_URL.href };
// the adapter chosen above, not another one the runtime would request for itself
if (ADAPTER) ort.env.webgpu.adapter = ADAPTER;

// Threads wait without spinning (session.intra_op.allow_spinning = 0), as the Python
// server's sessions do: spinning threads slow everything down when the cores are busy.
// With WebGPU, "wasm" after it: should the GPU device fail to start, onnxruntime-web drops
// "webgpu" and the sessions run on WebAssembly (runsOn() then says so).
export const openSession = (bytes) => ort.InferenceSession.create(bytes, {
  executionProviders: BACKEND === "webgpu" ? ["webgpu", "wasm"] : ["wasm"],
  graphOptimizationLevel: "all",
  extra: { session: { intra_op: { allow_spinning: "0" } } },
});

/** What the sessions opened so far run on: "webgpu" once the runtime holds a GPU device,
 * else "wasm". */
export const runsOn = () => (ort.env.webgpu?.device ? "webgpu" : "wasm");
