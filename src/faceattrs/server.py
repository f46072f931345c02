"""``faceattrs serve``: a local web app and HTTP API over the analyzer and video code.

FastAPI and uvicorn are imported lazily (inside :func:`create_app` and the CLI
handler) so the rest of the package works without the ``serve`` extra. Routes:
the page at ``/``, ``/health``, ``/api/v1/images``, ``/api/v1/videos`` and the
camera WebSocket ``/api/v1/stream``; interactive docs at ``/docs``.
"""

# No `from __future__ import annotations` here: FastAPI reads the route
# annotations at definition time, and they name lazily imported classes.

import argparse
import asyncio
import io
import logging
import os
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any

from faceattrs.body_limit import BodySizeLimit
from faceattrs.jobs import Rejected as ApiError
from faceattrs.jobs import one_line
from faceattrs.media import sniff_image

LOG = logging.getLogger("faceattrs.server")

WEB_DIR = Path(__file__).with_name("web")
API = "/api/v1"
ENV_PREFIX = "FACEATTRS_"
# Settings that must be positive; all but the port are shown to clients (/health).
POSITIVE = (
    "port max_upload_bytes max_images max_pixels max_video_seconds max_video_jobs "
    "job_ttl_s max_frame_bytes max_streams video_every"
).split()
DISCLAIMER = (
    "Predictions are estimates of perceived attributes (how a face looks to a model), "
    "not facts about a person. Nothing is stored."
)


@dataclass(frozen=True)
class ServerSettings:
    """Where the server listens and the limits it enforces (env: ``FACEATTRS_<FIELD>``)."""

    host: str = "127.0.0.1"
    port: int = 8000
    max_upload_bytes: int = 100 * 2**20  # per HTTP request body
    max_images: int = 20  # images per request
    max_pixels: int = 40_000_000  # per image, video frame or camera frame
    max_video_seconds: float = 300.0
    max_video_jobs: int = 2  # analysed at once; more gets 429
    job_ttl_s: float = 900.0  # results kept this long after a job ends
    max_frame_bytes: int = 4 * 2**20  # per camera frame
    max_streams: int = 4  # camera connections at once
    video_every: int = 1  # analyse every k-th video frame, interpolate between
    model_path: str | None = None  # None: the packaged attribute model
    detector: str = "full"
    work_dir: str | None = None  # parent of the job folders; None: system temp

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> "ServerSettings":
        """Defaults, then ``FACEATTRS_*`` environment variables, then ``overrides`` (not None)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _parse(f.name, raw, type(f.default))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values).validated()

    def validated(self) -> "ServerSettings":
        for name in POSITIVE:
            if getattr(self, name) <= 0:
                raise ValueError(f"setting {name} must be positive, got {getattr(self, name)}")
        return self

    def limits(self) -> dict[str, Any]:
        """The limits a client may want to show or respect."""
        return {name: getattr(self, name) for name in POSITIVE[1:]}


def _parse(name: str, raw: str, kind: type) -> Any:
    try:
        return float(raw) if kind is float else int(raw) if kind is int else raw
    except ValueError:
        raise ValueError(f"{ENV_PREFIX}{name.upper()}: expected a number, got {raw!r}") from None


def decode_image(data: bytes, name: str, max_pixels: int):
    """Type-check (by content), size-check and decode an uploaded image to BGR."""
    from PIL import Image

    from faceattrs.media import MediaError, read_image

    if not data:
        raise ApiError(400, "empty_file", f"{name}: empty file")
    if sniff_image(data[:16]) is None:
        raise ApiError(
            415,
            "unsupported_type",
            f"{name}: not a supported image (JPEG, PNG, WebP, BMP or TIFF by content)",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
    except Image.DecompressionBombError:  # PIL's own limit, far above ours
        raise ApiError(
            413, "too_many_pixels", f"{name}: over the limit of {max_pixels:,} pixels"
        ) from None
    except Exception:
        raise ApiError(422, "unreadable_image", f"{name}: corrupt or unreadable image") from None
    if width * height > max_pixels:
        raise ApiError(
            413,
            "too_many_pixels",
            f"{name}: {width}x{height} pixels is over the limit of {max_pixels:,}",
        )
    try:
        return read_image(data, max_pixels=max_pixels)
    except MediaError as exc:
        raise ApiError(422, "unreadable_image", f"{name}: {str(exc).split(': ', 1)[-1]}") from None


def create_app(settings: ServerSettings | None = None, analyzer=None, processor=None):
    """The FastAPI app. ``analyzer`` (a FaceAnalyzer) and ``processor`` (what a video
    job runs) default to the real pipeline; tests may inject fakes."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI
    from fastapi.staticfiles import StaticFiles

    from faceattrs import __version__
    from faceattrs.jobs import VideoJobs
    from faceattrs.video_routes import add_video_routes
    from faceattrs.webexport import add_model_routes

    settings = settings or ServerSettings()
    if analyzer is None:
        from faceattrs.analyzer import FaceAnalyzer

        analyzer = FaceAnalyzer(
            model_path=settings.model_path,
            detector=settings.detector,
            max_pixels=settings.max_pixels,
            spinning=False,  # requests run in parallel threads
        )
    if processor is None:
        from faceattrs.jobs import video_processor

        processor = video_processor(analyzer, settings.max_video_seconds, settings.video_every)
    jobs = VideoJobs(processor, settings.max_video_jobs, settings.job_ttl_s, settings.work_dir)

    @asynccontextmanager
    async def lifespan(app):
        sweeper = asyncio.create_task(_sweep_forever(jobs, min(30.0, settings.job_ttl_s / 2)))
        try:
            yield
        finally:
            sweeper.cancel()
            await asyncio.to_thread(jobs.close)

    app = FastAPI(
        title="faceattrs",
        version=__version__,
        lifespan=lifespan,
        description="Find faces and estimate perceived age, gender and race. " + DISCLAIMER,
    )
    app.state.settings, app.state.analyzer, app.state.jobs = settings, analyzer, jobs
    _add_error_handlers(app)
    _add_image_routes(app, settings, analyzer, jobs)
    add_video_routes(app, jobs, settings.max_pixels, settings.max_video_seconds, _ERRORS)
    from faceattrs.stream import add_stream_route

    add_stream_route(app, settings, analyzer)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes)
    add_model_routes(app, settings.model_path)  # the page's in-browser mode loads these
    app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
    return app


def _error(status: int, code: str, detail: str):
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": code, "detail": detail}, status_code=status)


def _add_error_handlers(app) -> None:
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    @app.exception_handler(ApiError)
    async def api_error(request, exc: ApiError):
        return _error(exc.status, exc.code, exc.detail)

    @app.exception_handler(HTTPException)
    async def http_error(request, exc: HTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc: RequestValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg')}"
            for e in exc.errors()
        )
        return _error(422, "invalid_request", problems or "invalid request")

    @app.exception_handler(Exception)
    async def internal(request, exc: Exception):
        LOG.exception("internal error on %s %s", request.method, request.url.path)
        return _error(500, "internal_error", one_line(exc))


def _add_image_routes(app, settings: ServerSettings, analyzer, jobs) -> None:
    from fastapi import File, UploadFile
    from starlette.concurrency import run_in_threadpool

    from faceattrs import __version__
    from faceattrs.output import make_record

    @app.get("/health", summary="Liveness check, version and limits")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "video_jobs_active": jobs.active_count(),
            "limits": settings.limits(),
            "notice": DISCLAIMER,
        }

    def analyze(items: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
        images = [decode_image(data, name, settings.max_pixels) for name, data in items]
        faces = analyzer.analyze_batch(images) if images else []
        return [
            {**make_record(name, found), "width": bgr.shape[1], "height": bgr.shape[0]}
            for (name, _), bgr, found in zip(items, images, faces, strict=True)
        ]

    @app.post(
        f"{API}/images",
        summary="Find faces and estimate their perceived attributes",
        responses=_ERRORS,
    )
    async def analyze_images(
        files: Annotated[list[UploadFile], File(description="one or more images")],
    ) -> dict[str, Any]:
        """Faces per image as in the CLI's JSON (``{"path", "faces", "error"}``, plus
        ``width`` and ``height``); ``box`` is x1, y1, x2, y2 in pixels.

        A request with any unacceptable image is refused as a whole, naming the file."""
        if len(files) > settings.max_images:
            raise ApiError(
                413,
                "too_many_images",
                f"{len(files)} images in one request, the limit is {settings.max_images}",
            )
        items = [(f.filename or f"image{i + 1}", await f.read()) for i, f in enumerate(files)]
        return {"images": await run_in_threadpool(analyze, items)}


_ERROR_SCHEMA = {
    "content": {
        "application/json": {"example": {"error": "code", "detail": "one-line explanation"}}
    }
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, **_ERROR_SCHEMA}
    for status, text in {
        404: "unknown job",
        409: "results not ready",
        413: "too large (bytes, pixels, length)",
        415: "unsupported type (by content)",
        422: "unreadable or invalid input",
        429: "too many video jobs",
    }.items()
}


async def _sweep_forever(jobs, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        await asyncio.to_thread(jobs.sweep)


_HELP = {
    "host": "address to bind; 127.0.0.1 serves this machine only",
    "port": "port",
    "max_upload_bytes": "largest request body in bytes",
    "max_images": "most images per request",
    "max_pixels": "largest image / frame in pixels",
    "max_video_seconds": "longest video in seconds",
    "max_video_jobs": "videos analysed at once",
    "job_ttl_s": "seconds video results are kept after a job ends",
    "max_frame_bytes": "largest camera frame in bytes",
    "max_streams": "camera connections at once",
    "video_every": "analyse every k-th video frame (boxes interpolated between)",
    "model_path": "attribute model .onnx (default: the packaged one)",
    "detector": "face detector: full (any distance) or short (close-up, faster)",
    "work_dir": "folder for temporary job files (default: system temp)",
}


def register_cli(sub: argparse._SubParsersAction) -> None:
    """Add ``faceattrs serve``."""
    parser = sub.add_parser(
        "serve",
        help="run the web app and HTTP API",
        description="Serve the web page and HTTP API. Every option can also be set with an "
        "environment variable FACEATTRS_<OPTION> (e.g. FACEATTRS_MAX_PIXELS).",
    )
    for f in fields(ServerSettings):
        kind = type(f.default) if f.default is not None else str
        flag = "--" + f.name.replace("_", "-")
        extra = {"choices": ("full", "short")} if f.name == "detector" else {}
        parser.add_argument(
            flag, dest=f.name, type=kind, default=None, help=_help(f.name, f.default), **extra
        )
    parser.set_defaults(func=_serve)


def _help(name: str, default: Any) -> str:
    text = _HELP[name]
    return text if default is None else f"{text} (default: {default})"


def _serve(args: argparse.Namespace) -> int:
    import numpy as np

    try:
        import uvicorn
    except ImportError:
        raise ValueError("the web server needs: pip install 'faceattrs[serve]'") from None
    overrides = {f.name: getattr(args, f.name) for f in fields(ServerSettings)}
    settings = ServerSettings.from_env(**overrides)
    started = time.perf_counter()
    app = create_app(settings)
    app.state.analyzer.analyze(np.zeros((64, 64, 3), np.uint8))  # load the models now
    print(
        f"faceattrs: models loaded in {time.perf_counter() - started:.1f} s; "
        f"open http://{_url_host(settings.host)}:{settings.port}/ (API docs at /docs)"
    )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        ws_max_size=settings.max_frame_bytes + 1024,
    )
    return 0


def _url_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::") else f"[{host}]" if ":" in host else host
