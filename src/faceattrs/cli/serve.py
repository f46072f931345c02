"""``faceattrs serve``: the web page and HTTP API (FastAPI and uvicorn, lazily)."""

from __future__ import annotations

import argparse
import time
from dataclasses import fields
from typing import Any

from faceattrs.cli.common import PROVIDER_CHOICES
from faceattrs.server.settings import ServerSettings
from faceattrs.spec import TIERS

CHOICES = {
    "detector": {"choices": ("full", "short")},
    "provider": {"choices": PROVIDER_CHOICES},
    "tier": {"choices": TIERS},
}

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
    "tier": "attribute models: fast, or accurate (also heads on each face's identity "
    "embedding, which is not kept: more accurate, about 6 ms more per face)",
    "detector": "face detector: full (any distance) or short (close-up, faster)",
    "provider": "ONNX Runtime execution provider: cpu, cuda, coreml, dml or auto",
    "work_dir": "folder for temporary job files (default: system temp)",
    "max_request_pixels": "most decoded pixels of one image request",
    "max_pixels_in_flight": "most decoded pixels of all requests and camera frames at once",
    "max_busy": "analyses at once (images and camera frames); more wait, then get 429",
    "max_waiting": "requests waiting for an analysis slot; more get 429 at once",
    "queue_wait_s": "longest wait for a slot (s) before 429 / 503 with Retry-After",
    "max_video_frames": "most frames of one video, counted while decoding",
    "max_video_pixels": "most decoded pixels of one video, counted while decoding",
    "header_timeout_s": "close connections that have not sent their request headers in S s",
    "idle_timeout_s": "close idle keep-alive connections after S s",
    "allowed_hosts": "Host names accepted, comma-separated, * for any "
    "(default: 127.0.0.1, localhost, [::1] and --host)",
    "allowed_origins": "other sites (scheme://host:port, comma-separated, * for any) whose "
    "pages may POST and open the camera WebSocket (default: none, same origin only)",
}


def register(sub: argparse._SubParsersAction) -> None:
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
        extra = CHOICES.get(f.name, {})
        parser.add_argument(
            flag, dest=f.name, type=kind, default=None, help=_help(f.name, f.default), **extra
        )
    parser.set_defaults(func=_serve)


def _help(name: str, default: Any) -> str:
    text = _HELP[name]
    return text if default is None or default == "" else f"{text} (default: {default})"


def _serve(args: argparse.Namespace) -> int:
    import numpy as np

    try:
        import uvicorn
    except ImportError:
        raise ValueError("the web server needs: pip install 'faceattrs[serve]'") from None
    overrides = {f.name: getattr(args, f.name) for f in fields(ServerSettings)}
    settings = ServerSettings.from_env(**overrides)
    started = time.perf_counter()
    from faceattrs.server.app import create_app

    app = create_app(settings)
    app.state.analyzer.analyze(np.zeros((64, 64, 3), np.uint8))  # load the models now
    print(
        f"faceattrs: models loaded in {time.perf_counter() - started:.1f} s; "
        f"open http://{_url_host(settings.host)}:{settings.port}/ (API docs at /docs)"
    )
    from faceattrs.server.guards import guarded_h11_protocol

    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        http=guarded_h11_protocol(settings.header_timeout_s),
        timeout_keep_alive=settings.idle_timeout_s,
        ws_max_size=settings.max_frame_bytes + 1024,
        ws_max_queue=2,  # frames received ahead of the analysis, per camera
    )
    return 0


def _url_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::") else f"[{host}]" if ":" in host else host
