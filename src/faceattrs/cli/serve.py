"""``faceattrs serve``: the web page and HTTP API (FastAPI and uvicorn, lazily)."""

from __future__ import annotations

import argparse
import time
from dataclasses import fields
from typing import Any

from faceattrs.cli.common import PROVIDER_CHOICES
from faceattrs.server.settings import ServerSettings

CHOICES = {"detector": {"choices": ("full", "short")}, "provider": {"choices": PROVIDER_CHOICES}}

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
    "provider": "ONNX Runtime execution provider: cpu, cuda, coreml, dml or auto",
    "work_dir": "folder for temporary job files (default: system temp)",
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
    from faceattrs.server.app import create_app

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
