"""The server's settings (command line and ``FACEATTRS_*`` environment) and constants."""

# No `from __future__ import annotations`: FastAPI reads annotations that name these.
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from faceattrs.results import NOTICE
from faceattrs.spec import TIERS

LOG = logging.getLogger("faceattrs.server")

API = "/api/v1"
ENV_PREFIX = "FACEATTRS_"
# Settings that must be positive; all but the port are shown to clients (/health).
POSITIVE = (
    "port max_upload_bytes max_images max_pixels max_video_seconds max_video_jobs "
    "job_ttl_s max_frame_bytes max_streams video_every max_request_pixels "
    "max_pixels_in_flight max_busy max_video_frames max_video_pixels header_timeout_s "
    "idle_timeout_s"
).split()
DISCLAIMER = NOTICE + " Nothing is stored."


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
    tier: str = "fast"  # "accurate": mixed with heads on each face's embedding (slower)
    detector: str = "full"
    provider: str = "cpu"  # ONNX Runtime execution provider (see faceattrs.pipeline.runtime)
    work_dir: str | None = None  # parent of the job folders; None: system temp
    max_request_pixels: int = 80_000_000  # decoded pixels of one image request
    max_pixels_in_flight: int = 160_000_000  # decoded pixels of all requests and frames
    max_busy: int = max(1, (os.cpu_count() or 1) // 2)  # analyses at once, each on 2 cores
    max_waiting: int = 2  # requests queued for a slot; more get 429 at once
    queue_wait_s: float = 0.1  # longest wait in that queue before 429 / 503
    max_video_frames: int = 18_000  # by content: 5 minutes at 60 fps
    max_video_pixels: int = 40_000_000_000  # decoded pixels of one video, in all
    header_timeout_s: float = 10.0  # close connections whose request headers lag
    idle_timeout_s: int = 5  # close idle keep-alive connections
    allowed_hosts: str = ""  # Host header names (comma-separated); "": this machine's
    allowed_origins: str = ""  # other sites whose pages may POST / open the WebSocket

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
        if self.tier not in TIERS:
            raise ValueError(f"setting tier must be one of {', '.join(TIERS)}, got {self.tier!r}")
        for name in POSITIVE:
            if getattr(self, name) <= 0:
                raise ValueError(f"setting {name} must be positive, got {getattr(self, name)}")
        for name in ("max_waiting", "queue_wait_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"setting {name} must be >= 0, got {getattr(self, name)}")
        return self

    def limits(self) -> dict[str, Any]:
        """The limits a client may want to show or respect."""
        return {name: getattr(self, name) for name in POSITIVE[1:]}


def _parse(name: str, raw: str, kind: type) -> Any:
    try:
        return float(raw) if kind is float else int(raw) if kind is int else raw
    except ValueError:
        raise ValueError(f"{ENV_PREFIX}{name.upper()}: expected a number, got {raw!r}") from None
