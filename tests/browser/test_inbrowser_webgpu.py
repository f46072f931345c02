"""The in-browser mode on WebGPU (web/inbrowser/runtime.js) in headless Chromium.

This machine has no GPU: Chromium's WebGPU runs here on SwiftShader, a software adapter
(with --enable-unsafe-webgpu), some hundred times slower than WebAssembly. So these tests
check what can be checked without a GPU: the page keeps WebAssembly on a software adapter
(its own choice), and when told to use WebGPU (?backend=webgpu) it downloads only the
runtime's WebGPU build and its results equal the Python pipeline's, within the tolerances
of test_inbrowser.py; the camera's heads worker starts on the same build and GPU, and the
face-embedding model on it gives Python's embeddings (within 1e-3). Speed on a real GPU is
not measured here (README).
"""

from __future__ import annotations

import base64

import numpy as np
import pytest
from test_inbrowser import assert_matches_python, record

from conftest import CHROMIUM, CHROMIUM_ARGS

# one face, at half size and cropped to 256x256 around it: SwiftShader compiles each GPU
# program on the CPU, so the fewer detector passes the better (about 39 s for this crop,
# 75 s for the whole photo)
PHOTO = "face_recognition/obama.jpg"
JSPI_WASM = "ort-wasm-simd-threaded.jspi.wasm"
WASM = "ort-wasm-simd-threaded.wasm"


@pytest.fixture(scope="module")
def gpu_browser(browser):
    """Chromium with WebGPU on (SwiftShader where there is no GPU), skipped when it has no
    adapter at all."""
    gpu = browser.browser_type.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=[*(a for a in CHROMIUM_ARGS if a != "--disable-gpu"), "--enable-unsafe-webgpu"],
    )
    yield gpu
    gpu.close()


def open_page(gpu_browser, static_site, query: str = ""):
    context = gpu_browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(300_000)  # SwiftShader compiles and runs every GPU program on the CPU
    page.fetched = []
    page.on("request", lambda request: page.fetched.append(request.url.rsplit("/", 1)[-1]))
    page.goto(static_site + query)
    page.wait_for_selector("body[data-server=none]")
    if not page.evaluate("async () => Boolean(await navigator.gpu?.requestAdapter())"):
        context.close()
        pytest.skip("this Chromium offers no WebGPU adapter, not even SwiftShader")
    return page


def test_software_adapter_keeps_webassembly(gpu_browser, static_site, tmp_path):
    import cv2

    page = open_page(gpu_browser, static_site)
    try:
        grey = tmp_path / "grey.png"
        cv2.imwrite(str(grey), np.full((120, 160, 3), 128, np.uint8))
        page.set_input_files("#image-input", str(grey))
        page.wait_for_selector(".card[data-state=done]")
        assert page.evaluate("document.body.dataset.backend") == "wasm"
        assert WASM in page.fetched and JSPI_WASM not in page.fetched
    finally:
        page.context.close()


def test_webgpu_backend_matches_the_python_pipeline(
    gpu_browser, static_site, shared_dir, analyzer, artifacts, tmp_path
):
    import cv2

    from faceattrs.pipeline.embedding import EmbeddingModel

    bgr = cv2.imread(str(shared_dir / "media" / PHOTO))
    bgr = cv2.resize(bgr, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)[20:276, 120:376]
    photo = tmp_path / "obama_crop.png"
    cv2.imwrite(str(photo), bgr)
    page = open_page(gpu_browser, static_site, "?backend=webgpu")
    try:
        page.set_input_files("#image-input", str(photo))
        card = page.wait_for_selector(".card[data-state=done]")
        assert page.evaluate("document.body.dataset.backend") == "webgpu"
        assert "WebGPU" in page.inner_text("#footer-threads")
        assert JSPI_WASM in page.fetched and WASM not in page.fetched
        python_faces = analyzer.analyze(photo)
        result = card.evaluate("card => card.result")
        record(
            artifacts,
            f"{PHOTO} cropped, on WebGPU",
            assert_matches_python(result["faces"], python_faces),
        )

        # the camera's heads worker starts on the page's build (its numbers: the same code and
        # models as the page's, test_inbrowser_camera.py; not run again here, to save the
        # shader compilation) and the embedding model runs on it
        height, width = bgr.shape[:2]
        rgba = base64.b64encode(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGBA).tobytes()).decode()
        keypoints = [np.asarray(f["keypoints"]).ravel().tolist() for f in result["faces"]]
        got = page.evaluate(
            """async ({ pixels, width, height, keypoints }) => {
                const bytes = Uint8ClampedArray.from(atob(pixels), (c) => c.charCodeAt(0));
                const image = new ImageData(bytes, width, height);
                const { HeadsWorker } = await import('./inbrowser/live.js');
                const heads = await HeadsWorker.start();
                const workerBackend = heads.backend;
                heads.terminate();
                const m = await import('./inbrowser/embedding.js');
                const model = await m.loadEmbeddingModel();
                const faces = keypoints.map((k) => ({ keypoints: k }));
                const embedded = (await model.embed(image, faces)).map((e) => Array.from(e));
                return { embedded, workerBackend };
            }""",
            {"pixels": rgba, "width": width, "height": height, "keypoints": keypoints},
        )
        assert got["workerBackend"] == "webgpu"
        assert WASM not in page.fetched
        expected = EmbeddingModel(threads=1).embed(bgr, np.asarray(keypoints).reshape(-1, 6, 2))
        assert np.abs(np.asarray(got["embedded"], np.float32) - expected).max() <= 1e-3
    finally:
        page.context.close()


def test_backend_choice_takes_hardware_adapters_only(static_page):
    """runtime.js chooseBackend with stand-in adapters: a hardware adapter gives WebGPU; a
    fallback or SwiftShader adapter, no adapter, a failing request, no JSPI or ?backend=wasm
    give WebAssembly; ?backend=webgpu takes a software adapter too."""
    chosen = static_page.evaluate(
        """async () => {
            const { chooseBackend } = await import('./inbrowser/runtime.js');
            const gpu = (info) => ({ requestAdapter: async () => (info ? { info } : null) });
            const nvidia = gpu({ vendor: 'nvidia', architecture: 'ampere',
                                 isFallbackAdapter: false });
            const swiftshader = gpu({ vendor: 'google', architecture: 'swiftshader' });
            const fallback = gpu({ vendor: 'apple', architecture: 'common-3',
                                   isFallbackAdapter: true });
            const failing = { requestAdapter: async () => { throw new Error('blocked'); } };
            return {
                hardware: await chooseBackend(null, nvidia, true),
                hardwareNoJspi: await chooseBackend(null, nvidia, false),
                hardwareAskedWasm: await chooseBackend('wasm', nvidia, true),
                swiftshader: await chooseBackend(null, swiftshader, true),
                fallback: await chooseBackend(null, fallback, true),
                swiftshaderAskedWebgpu: await chooseBackend('webgpu', swiftshader, true),
                noAdapter: await chooseBackend('webgpu', gpu(null), true),
                failing: await chooseBackend(null, failing, true),
                noGpu: await chooseBackend(null, undefined, true),
            };
        }"""
    )
    assert chosen == {
        "hardware": "webgpu",
        "hardwareNoJspi": "wasm",
        "hardwareAskedWasm": "wasm",
        "swiftshader": "wasm",
        "fallback": "wasm",
        "swiftshaderAskedWebgpu": "webgpu",
        "noAdapter": "wasm",
        "failing": "wasm",
        "noGpu": "wasm",
    }
