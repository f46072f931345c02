"""The local web app and HTTP API over the analyzer and video code.

FastAPI is imported lazily (inside :func:`create_app`) so the rest of the package
works without the ``serve`` extra. Routes: the page at ``/``, ``/health``,
``/api/v1/images``, ``/api/v1/videos`` and the camera WebSocket ``/api/v1/stream``;
interactive docs at ``/docs``. Settings: :mod:`faceattrs.server.settings`; the
command: :mod:`faceattrs.cli.serve`.
"""

# No `from __future__ import annotations` here: FastAPI reads the route
# annotations at definition time, and they name lazily imported classes.
import asyncio
import os
from typing import Annotated, Any

from faceattrs.resources import WEB_DIR
from faceattrs.results import NOTICE
from faceattrs.server.body_limit import BodySizeLimit
from faceattrs.server.errors import ApiError, one_line
from faceattrs.server.images import decode_image, image_size
from faceattrs.server.settings import API, DISCLAIMER, LOG, ServerSettings


def create_app(settings: ServerSettings | None = None, analyzer=None, processor=None):
    """The FastAPI app. ``analyzer`` (a FaceAnalyzer) and ``processor`` (what a video
    job runs) default to the real pipeline; tests may inject fakes."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI
    from fastapi.staticfiles import StaticFiles

    from faceattrs import __version__
    from faceattrs.server.jobs import VideoJobs
    from faceattrs.server.site import add_isolation_headers, add_model_routes
    from faceattrs.server.videos import add_video_routes

    settings = settings or ServerSettings()
    if analyzer is None:
        from faceattrs.pipeline.analyzer import FaceAnalyzer

        analyzer = FaceAnalyzer(
            model_path=settings.model_path,
            tier=settings.tier,
            detector=settings.detector,
            max_pixels=settings.max_pixels,
            providers=settings.provider,
            spinning=False,  # requests run in parallel threads
            threads=max(1, (os.cpu_count() or 1) // settings.max_busy),  # cores shared out
        )
    if processor is None:
        from faceattrs.server.jobs import video_processor

        limits = {
            "max_pixels": settings.max_pixels,
            "max_frames": settings.max_video_frames,
            "max_total_pixels": settings.max_video_pixels,
        }
        processor = video_processor(
            analyzer, settings.max_video_seconds, settings.video_every, limits
        )
    jobs = VideoJobs(processor, settings.max_video_jobs, settings.job_ttl_s, settings.work_dir)
    from faceattrs.server.budget import Admission

    admission = Admission(
        settings.max_pixels_in_flight,
        settings.max_busy,
        settings.max_waiting,
        settings.queue_wait_s,
    )

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
        docs_url=None,  # served below from the package's own files, not a CDN
        redoc_url=None,
        description="Find faces and estimate perceived age, gender and race. " + DISCLAIMER,
    )
    app.state.settings, app.state.analyzer, app.state.jobs = settings, analyzer, jobs
    app.state.admission = admission
    _add_docs_routes(app)
    _add_error_handlers(app)
    _add_image_routes(app, settings, analyzer, jobs, admission)
    add_video_routes(app, jobs, settings.max_pixels, settings.max_video_seconds, _ERRORS, analyzer)
    from faceattrs.server.camera import add_stream_route

    add_stream_route(app, settings, analyzer, admission)
    _add_guards(app, settings)
    add_model_routes(app, settings.model_path)  # the page's in-browser mode loads these
    app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
    add_isolation_headers(app)  # COOP/COEP: the page may run WebAssembly threads
    return app


def _error(status: int, code: str, detail: str, headers: dict[str, str] | None = None):
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def _add_docs_routes(app) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` with scripts and styles from the package's
    ``web/vendor/docs`` (see its VERSION): no CDN, no web fonts, works offline."""
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html

    assets = "/vendor/docs"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui():
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} API",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon-32x32.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc():
        return get_redoc_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} API",
            redoc_js_url=f"{assets}/redoc.standalone.js",
            redoc_favicon_url=f"{assets}/favicon-32x32.png",
            with_google_fonts=False,
        )


def _add_guards(app, settings: ServerSettings) -> None:
    """Middleware, innermost first: 405s, the body size limit, same-origin, allowed hosts."""
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    from faceattrs.server.guards import MethodNotAllowed, OriginCheck, allowed_hosts, split_list

    app.add_middleware(MethodNotAllowed, routes=app.router.routes)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes)
    app.add_middleware(OriginCheck, allowed=split_list(settings.allowed_origins))
    hosts = allowed_hosts(settings.allowed_hosts, settings.host)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts)


def _add_error_handlers(app) -> None:
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect

    @app.exception_handler(ApiError)
    async def api_error(request, exc: ApiError):
        return _error(exc.status, exc.code, exc.detail, exc.headers)

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request, exc: ClientDisconnect):
        LOG.info(
            "client aborted %s %s before the end of its upload", request.method, request.url.path
        )
        return _error(400, "client_disconnected", "the client closed the connection")

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


def _add_image_routes(app, settings: ServerSettings, analyzer, jobs, admission) -> None:
    from fastapi import File, Query, UploadFile
    from starlette.concurrency import run_in_threadpool

    from faceattrs import __version__
    from faceattrs.output import make_record
    from faceattrs.server.attributes import (
        ATTRIBUTES_EXAMPLE,
        ATTRIBUTES_HELP,
        requested_attributes,
        with_attributes,
    )

    @app.get("/health", summary="Liveness check, version and limits")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "video_jobs_active": jobs.active_count(),
            "load": admission.status(),
            "limits": settings.limits(),
            "attributes": list(getattr(analyzer, "attributes", ("age", "gender", "race"))),
            "tier": getattr(analyzer, "tier", "fast"),  # of the attribute models
            "notice": DISCLAIMER,
        }

    def analyze(items: list[tuple[str, bytes]], heads: tuple[str, ...] | None) -> list[dict]:
        images = [decode_image(data, name, settings.max_pixels) for name, data in items]
        faces = with_attributes(analyzer.analyze_batch, heads)(images) if images else []
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
        attributes: Annotated[
            str | None, Query(description=ATTRIBUTES_HELP, examples=[ATTRIBUTES_EXAMPLE])
        ] = None,
    ) -> dict[str, Any]:
        """Faces per image as in the CLI's JSON (``{"path", "faces", "error"}``, plus
        ``width`` and ``height``); ``box`` is x1, y1, x2, y2 in pixels. With
        ``?attributes=age,expression`` only those heads run and the faces carry only those
        fields (as ``faceattrs analyze --attributes``).

        A request with any unacceptable image is refused as a whole, naming the file."""
        heads = requested_attributes(analyzer, attributes)
        if len(files) > settings.max_images:
            raise ApiError(
                413,
                "too_many_images",
                f"{len(files)} images in one request, the limit is {settings.max_images}",
            )
        items = [(f.filename or f"image{i + 1}", await f.read()) for i, f in enumerate(files)]
        pixels = sum(image_size(data, name, settings.max_pixels) for name, data in items)
        if pixels > settings.max_request_pixels:
            raise ApiError(
                413,
                "too_many_pixels",
                f"{pixels:,} pixels in one request, the limit is {settings.max_request_pixels:,}",
            )
        ticket = await admission.acquire(pixels)
        work = asyncio.ensure_future(run_in_threadpool(analyze, items, heads))
        work.add_done_callback(lambda _: admission.release(ticket))  # when the thread ends
        return {"images": await asyncio.shield(work), "notice": NOTICE}


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
        429: "busy: too many video jobs or analyses; see Retry-After",
        503: "the server's memory budget is spent; see Retry-After",
    }.items()
}


async def _sweep_forever(jobs, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        await asyncio.to_thread(jobs.sweep)
