"""``faceattrs export-web OUT/``: the page as a static site that analyses in the browser.

The site holds the page (HTML, JS, CSS), the in-browser pipeline (``web/inbrowser``),
the onnxruntime-web runtime (``web/vendor``, copied there by ``npm run build-web``),
the detector, attribute and expression models (float), the face-embedding model and the
attribute model's ``spec.json``. Any static host serves it (GitHub Pages, ``python -m
http.server``); with no faceattrs server behind it, the page offers only "analyse in this
browser".

Multi-threaded WebAssembly needs a cross-origin isolated page: the host must send
:data:`ISOLATION_HEADERS` with the site's files (``faceattrs serve`` does, through
:func:`add_isolation_headers`; the export writes them to ``_headers`` for Netlify and
Cloudflare Pages). Without them (GitHub Pages, ``python -m http.server``) the page runs
on one thread.

Also here: :func:`add_model_routes`, which lets ``faceattrs serve`` hand the same model
files to the page.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from faceattrs.resources import MODELS_DIR, WEB_DIR

# the page runs the full-range detector; the short-range one for close-ups and checks
DETECTOR_FILES = ("blazeface_full.onnx", "blazeface_short.onnx")
MODEL_NAME = "attributes.onnx"  # the name the page loads
# The page gets the float model: onnxruntime-web rounds int8 convolutions differently
# from ONNX Runtime on x86 (probabilities 0.05 apart measured), so with the default
# int8 model the in-browser results could not be checked against the Python pipeline.
WEB_MODEL = MODELS_DIR / "attributes_fp32.onnx"
EXPRESSION_NAME = "expression.onnx"  # the expression head, float for the same reason
WEB_EXPRESSION_MODEL = MODELS_DIR / "expression_fp32.onnx"
# The video mode joins tracks into persons with the face-embedding model, which the page
# downloads only then (web/inbrowser/embedding.js): its float16-weights copy, 11 MB instead
# of 22 MB, embeddings within 2e-4 of the float32 model's (scripts/convert_embedding_fp16.py).
EMBEDDING_FILES = ("face_embedding_fp16.onnx",)
LICENSE_FILES = (
    "LICENSE-blazeface", "NOTICE", "LICENSE-dlib-face-recognition", "NOTICE-face-embedding",
)  # fmt: skip
# web/inbrowser/runtime.js loads the WebAssembly build, or the JSPI build with WebGPU
RUNTIME_FILES = (
    "ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm",
    "ort.jspi.bundle.min.mjs", "ort-wasm-simd-threaded.jspi.wasm",
)  # fmt: skip
SKIP_SUFFIXES = (".map",)
SKIP_FOLDERS = ("vendor/docs",)  # the server's API docs assets: a static site has no API
# What makes the page cross-origin isolated (SharedArrayBuffer, so WebAssembly threads).
ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
}
# What the page's /health probe finds on a static site (no 404 in the browser console).
STATIC_HEALTH = '{"status": "static", "detail": "a static faceattrs site: no server"}\n'
# The API docs pages need no threads and are served as FastAPI makes them.
NOT_ISOLATED = ("/docs", "/redoc", "/openapi.json")


class ExportError(ValueError):
    """The site cannot be written (one-line reason)."""


def model_files(model_path: str | os.PathLike | None = None) -> dict[str, Path]:
    """Site name -> source file of every model the page loads (under ``models/``)."""
    files = {name: MODELS_DIR / name for name in (*DETECTOR_FILES, *EMBEDDING_FILES)}
    files[MODEL_NAME] = Path(model_path) if model_path else WEB_MODEL
    files[EXPRESSION_NAME] = WEB_EXPRESSION_MODEL
    return files


def _site_files(model_path: str | os.PathLike | None) -> dict[str, Path]:
    """Relative path in the site -> source file."""
    missing = [name for name in RUNTIME_FILES if not (WEB_DIR / "vendor" / name).is_file()]
    if missing:
        raise ExportError(
            f"the onnxruntime-web runtime is missing from {WEB_DIR / 'vendor'} "
            f"({', '.join(missing)}); build it with: npm ci && npm run build-web"
        )
    files = {
        path.relative_to(WEB_DIR).as_posix(): path
        for path in sorted(WEB_DIR.rglob("*"))
        if path.is_file()
        and path.suffix not in SKIP_SUFFIXES
        and "__pycache__" not in path.parts
        and not path.relative_to(WEB_DIR).as_posix().startswith(SKIP_FOLDERS)
    }
    for name, source in model_files(model_path).items():
        files[f"models/{name}"] = source
    for name in LICENSE_FILES:
        if (MODELS_DIR / name).is_file():
            files[f"models/{name}"] = MODELS_DIR / name
    return files


def _spec_json(model_path: Path) -> str:
    """The attribute model's spec (from its ONNX metadata), checking the model loads."""
    from faceattrs.pipeline.attributes import AttributeModel

    spec = AttributeModel(model_path, threads=1).spec
    return json.dumps(json.loads(spec.to_json()), indent=1, sort_keys=True) + "\n"


def _check_expression_model(path: Path) -> None:
    """The page's expression model loads and carries its spec (else ModelLoadError)."""
    from faceattrs.pipeline.expression import ExpressionModel

    _ = ExpressionModel(path, threads=1).spec


def _check_target(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ExportError(
            f"{out} is not empty; choose a new or empty folder, or pass --force to write "
            "the site's files into it (other files are left alone)"
        )
    parent = out if out.is_dir() else out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ExportError(f"cannot write to {out}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(f"cannot write to {out}: permission denied")


def export_web(out: str | os.PathLike, model_path=None, force: bool = False) -> list[Path]:
    """Write the static site into ``out``; returns the files written.

    Refuses a non-empty ``out`` unless ``force`` (then only the site's own files are
    overwritten, nothing else is deleted). The files are staged in a temporary folder
    first, so a failure leaves ``out`` as it was.
    """
    out = Path(out).expanduser()
    _check_target(out, force)
    files = _site_files(model_path)
    missing = [str(src) for src in files.values() if not src.is_file()]
    if missing:
        raise ExportError(f"missing file(s) for the site: {', '.join(missing)}")
    spec_text = _spec_json(files[f"models/{MODEL_NAME}"])
    _check_expression_model(files[f"models/{EXPRESSION_NAME}"])
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".faceattrs-export-", dir=out) as tmp:
            stage = Path(tmp)
            for rel, source in files.items():
                target = stage / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
            (stage / "models" / "spec.json").write_text(spec_text)
            (stage / ".nojekyll").write_text("")  # GitHub Pages: serve files as they are
            (stage / "_headers").write_text(_headers_file())  # Netlify, Cloudflare Pages
            (stage / "health").write_text(STATIC_HEALTH)  # the page's probe: no server here
            written = []
            for path in sorted(p for p in stage.rglob("*") if p.is_file()):
                rel = path.relative_to(stage)
                target = out / rel
                if target.is_dir():
                    raise ExportError(f"{target} is a folder where the site needs a file")
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
                written.append(target)
    except BaseException as exc:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        if isinstance(exc, PermissionError):
            raise ExportError(f"cannot write to {out}: permission denied") from None
        raise
    return written


def _headers_file() -> str:
    lines = ["/*", *(f"  {name}: {value}" for name, value in ISOLATION_HEADERS.items())]
    return "\n".join(lines) + "\n"


def add_isolation_headers(app) -> None:
    """Send :data:`ISOLATION_HEADERS` with every HTTP response except :data:`NOT_ISOLATED`
    (a pure ASGI middleware: streaming responses and WebSockets pass untouched)."""
    extra = [(k.lower().encode(), v.encode()) for k, v in ISOLATION_HEADERS.items()]

    class IsolationHeaders:
        def __init__(self, inner) -> None:
            self.inner = inner

        async def __call__(self, scope, receive, send):
            if scope["type"] != "http" or scope["path"].startswith(NOT_ISOLATED):
                return await self.inner(scope, receive, send)

            async def send_with_headers(message):
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
                await send(message)

            return await self.inner(scope, receive, send_with_headers)

    app.add_middleware(IsolationHeaders)


def add_model_routes(app, model_path=None) -> None:
    """``GET /models/<name>``: the model files the page's in-browser mode loads (304 when
    the page's cached copy, named by its ETag, is current)."""
    from fastapi import HTTPException
    from fastapi.responses import FileResponse, Response

    files = model_files(model_path)

    async def model_file(request):
        name = request.path_params["name"]
        source = files.get(name)
        if source is None or not source.is_file():
            raise HTTPException(status_code=404, detail=f"no model {name!r}")
        response = FileResponse(
            source, media_type="application/octet-stream", stat_result=source.stat()
        )
        etag = response.headers.get("etag")
        if etag and etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers={"etag": etag})
        return response

    app.router.add_route("/models/{name}", model_file, methods=["GET"], include_in_schema=False)
