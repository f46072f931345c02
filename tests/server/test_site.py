"""``faceattrs export-web``: the static site's files, refusals and the /models route."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from faceattrs.cli import main
from faceattrs.pipeline.attributes import AttributeModel
from faceattrs.server.site import (
    ISOLATION_HEADERS,
    MODELS_DIR,
    RUNTIME_FILES,
    WEB_DIR,
    WEB_EXPRESSION_MODEL,
    WEB_MODEL,
    ExportError,
    add_isolation_headers,
    add_model_routes,
    export_web,
)
from faceattrs.spec import ModelSpec
from model_helpers import random_model_path  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[2]
SITE_FILES = [
    "index.html",
    "favicon.svg",
    "labels.js",
    "app.js",
    "style.css",
    "video.js",
    "camera.js",
    "inbrowser/analyzer.js",
    "inbrowser/detection.js",
    "inbrowser/detector_input.js",
    "inbrowser/detections.js",
    "inbrowser/face_checks.js",
    "inbrowser/camera_memory.js",
    "inbrowser/alignment.js",
    "inbrowser/attributes.js",
    "inbrowser/expression.js",
    "inbrowser/video.js",
    "inbrowser/tracking.js",
    "inbrowser/live.js",
    "inbrowser/heads_worker.js",
    "inbrowser/embedding.js",
    "inbrowser/persons.js",
    "inbrowser/runtime.js",
    "vendor/ort.wasm.bundle.min.mjs",
    "vendor/ort-wasm-simd-threaded.wasm",
    "vendor/ort.jspi.bundle.min.mjs",
    "vendor/ort-wasm-simd-threaded.jspi.wasm",
    "vendor/LICENSE-onnxruntime-web",
    "models/blazeface_full.onnx",
    "models/blazeface_short.onnx",
    "models/attributes.onnx",
    "models/expression.onnx",
    "models/spec.json",
    "models/LICENSE-blazeface",
    "models/face_embedding_fp16.onnx",
    "models/LICENSE-dlib-face-recognition",
    "models/NOTICE-face-embedding",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "site"
    export_web(out)
    return out


def test_site_has_page_pipeline_runtime_and_models(site):
    for rel in SITE_FILES:
        assert (site / rel).is_file(), rel
    # the float model (the default int8 one rounds differently in onnxruntime-web)
    assert (site / "models" / "attributes.onnx").read_bytes() == WEB_MODEL.read_bytes()
    expression = (site / "models" / "expression.onnx").read_bytes()
    assert expression == WEB_EXPRESSION_MODEL.read_bytes()
    assert WEB_EXPRESSION_MODEL.name == "expression_fp32.onnx"  # not the int8 default
    assert not list(site.rglob("*.map")) and not list(site.glob(".faceattrs-export-*"))


def test_spec_json_is_the_models_metadata_spec(site):
    written = ModelSpec.from_json((site / "models" / "spec.json").read_text())
    assert written == AttributeModel(WEB_MODEL).spec
    assert written == AttributeModel().spec  # the same spec as the default int8 model


def test_page_loads_nothing_from_other_hosts(site):
    for path in [site / "index.html", *site.glob("*.js"), *site.glob("inbrowser/*.js")]:
        text = path.read_text()
        for marker in ("http://", "https://", "//cdn", "unpkg", "jsdelivr"):
            assert marker not in text.replace("https://github.com/microsoft", ""), (path, marker)


def test_vendored_runtime_is_the_npm_pinned_version():
    pinned = json.loads((ROOT / "package.json").read_text())["dependencies"]["onnxruntime-web"]
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/onnxruntime-web"]["version"] == pinned
    assert (WEB_DIR / "vendor" / "VERSION").read_text().split() == ["onnxruntime-web", pinned]


@pytest.mark.skipif(
    not (ROOT / "node_modules" / "onnxruntime-web").is_dir(), reason="npm ci not run here"
)
def test_vendored_runtime_equals_the_npm_package_files():
    dist = ROOT / "node_modules" / "onnxruntime-web" / "dist"
    for name in RUNTIME_FILES:
        assert (WEB_DIR / "vendor" / name).read_bytes() == (dist / name).read_bytes(), name


def test_other_model_goes_into_the_site(tmp_path, random_model_path):  # noqa: F811
    export_web(tmp_path / "site", model_path=random_model_path)
    assert (tmp_path / "site" / "models" / "attributes.onnx").read_bytes() == Path(
        random_model_path
    ).read_bytes()
    spec = ModelSpec.from_json((tmp_path / "site" / "models" / "spec.json").read_text())
    assert spec == AttributeModel(random_model_path).spec


def test_non_empty_folder_needs_force_and_keeps_other_files(tmp_path):
    out = tmp_path / "site"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(ExportError, match="not empty.*--force"):
        export_web(out)
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]
    export_web(out, force=True)
    assert (out / "mine.txt").read_text() == "keep me"
    assert (out / "index.html").is_file()
    export_web(out, force=True)  # again over its own files
    assert (out / "index.html").is_file()


def test_target_that_is_a_file_or_under_a_file_is_refused(tmp_path):
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    with pytest.raises(ExportError, match="not a folder"):
        export_web(afile)
    with pytest.raises(ExportError, match="not a folder"):
        export_web(afile / "site")
    assert afile.read_text() == "x"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
def test_unwritable_folder_is_a_clear_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(ExportError, match="permission denied"):
            export_web(locked / "site")
    finally:
        locked.chmod(0o700)


def test_bad_model_leaves_nothing_behind(tmp_path):
    model = tmp_path / "model.onnx"
    model.write_text("not a model")
    out = tmp_path / "site"
    with pytest.raises(ValueError, match="not a loadable ONNX model"):
        export_web(out, model_path=model)
    assert not out.exists()


def test_cli_writes_the_site_and_reports_errors_in_one_line(tmp_path, capsys):
    out = tmp_path / "site"
    assert main(["export-web", str(out)]) == 0
    assert "http.server" in capsys.readouterr().out
    assert main(["export-web", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("faceattrs: error:") and "--force" in err and "\n" not in err


def test_model_routes_serve_the_models_and_404_others(random_model_path):  # noqa: F811
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    app = FastAPI()
    add_model_routes(app, random_model_path)
    client = TestClient(app)
    response = client.get("/models/attributes.onnx")
    assert response.status_code == 200
    assert response.content == Path(random_model_path).read_bytes()
    detector = client.get("/models/blazeface_full.onnx")
    assert detector.content == (MODELS_DIR / "blazeface_full.onnx").read_bytes()
    embedding = client.get("/models/face_embedding_fp16.onnx")  # the video mode's persons
    assert embedding.content == (MODELS_DIR / "face_embedding_fp16.onnx").read_bytes()
    expression = client.get("/models/expression.onnx")
    assert expression.content == (MODELS_DIR / "expression_fp32.onnx").read_bytes()
    assert client.get("/models/template.json").status_code == 404
    assert client.get("/models/..%2Fserver.py").status_code == 404


def test_model_route_answers_304_for_the_cached_copy(random_model_path):  # noqa: F811
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    app = FastAPI()
    add_model_routes(app, random_model_path)
    client = TestClient(app)
    first = client.get("/models/attributes.onnx")
    etag = first.headers["etag"]
    again = client.get("/models/attributes.onnx", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    stale = client.get("/models/attributes.onnx", headers={"If-None-Match": '"old"'})
    assert stale.status_code == 200 and stale.content == first.content


def test_isolation_headers_on_the_page_but_not_on_the_docs():
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    app = FastAPI()

    @app.get("/page")
    def page():
        return {"ok": True}

    add_isolation_headers(app)
    client = TestClient(app)
    response = client.get("/page")
    for name, value in ISOLATION_HEADERS.items():
        assert response.headers[name] == value
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "cross-origin-embedder-policy" not in docs.headers


def test_export_documents_the_isolation_headers_and_answers_the_health_probe(tmp_path):
    export_web(tmp_path / "site")
    headers = (tmp_path / "site" / "_headers").read_text()
    for name, value in ISOLATION_HEADERS.items():
        assert f"{name}: {value}" in headers
    assert json.loads((tmp_path / "site" / "health").read_text())["status"] != "ok"
    assert not (tmp_path / "site" / "vendor" / "docs").exists(), "no API, so no API docs"
