"""The camera WebSocket of ``faceattrs serve``: JPEG frames in, tracked faces out.

Each connection gets its own :class:`~faceattrs.video.process.VideoSession`, so track ids and the
smoothing of attributes over time are per camera. FastAPI is imported lazily.
"""

# No `from __future__ import annotations`: FastAPI reads the route annotations at
# definition time, and they name lazily imported classes.

import time
from typing import Any

from faceattrs.server.errors import ApiError, one_line
from faceattrs.server.images import decode_image
from faceattrs.server.settings import API, LOG, ServerSettings


def add_stream_route(app, settings: ServerSettings, analyzer) -> None:
    """Add ``WS /api/v1/stream`` to ``app`` (at most ``settings.max_streams`` at once)."""
    from fastapi import WebSocket, WebSocketDisconnect
    from starlette.concurrency import run_in_threadpool

    from faceattrs.video.process import VideoSession

    open_streams = [0]  # this app's count of camera connections

    def analyze(data: bytes, session: VideoSession, index: int) -> dict[str, Any]:
        started = time.perf_counter()
        if len(data) > settings.max_frame_bytes:
            raise ApiError(
                413,
                "frame_too_large",
                f"frame of {len(data):,} bytes is over the limit of {settings.max_frame_bytes:,}",
            )
        bgr = decode_image(data, f"frame {index}", settings.max_pixels)
        faces = session.process(bgr).faces  # tracked, attributes smoothed over time
        return {
            "frame": index,
            "width": bgr.shape[1],
            "height": bgr.shape[0],
            "faces": [face.to_dict() for face in faces],
            "ms": round((time.perf_counter() - started) * 1000, 1),
        }

    @app.websocket(f"{API}/stream")
    async def stream(ws: WebSocket):
        """Send camera frames (JPEG bytes), one at a time; each is answered with its faces
        (JSON), tracked across frames with smoothed attributes."""
        await ws.accept()
        if open_streams[0] >= settings.max_streams:
            await ws.send_json(
                {
                    "error": "too_many_streams",
                    "detail": f"at most {settings.max_streams} camera streams at once",
                }
            )
            await ws.close(code=1013)
            return
        open_streams[0] += 1
        session = VideoSession(analyzer)
        index = 0
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                data = message.get("bytes")
                if data is None:
                    await ws.send_json(
                        {"error": "invalid_frame", "detail": "send each frame as binary JPEG data"}
                    )
                    continue
                try:
                    reply = await run_in_threadpool(analyze, data, session, index)
                except ApiError as exc:
                    reply = {"frame": index, "error": exc.code, "detail": exc.detail}
                except Exception as exc:  # a bug, not the client's fault: log, go on
                    LOG.exception("camera frame %d failed", index)
                    reply = {"frame": index, "error": "internal_error", "detail": one_line(exc)}
                index += 1
                await ws.send_json(reply)
        except WebSocketDisconnect:
            pass
        finally:
            open_streams[0] -= 1
