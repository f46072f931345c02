"""The camera WebSocket of ``faceattrs serve``: JPEG frames in, tracked faces out.

Each connection gets its own :class:`~faceattrs.video.process.VideoSession`, so track ids and the
smoothing of attributes over time are per camera. FastAPI is imported lazily.
"""

# No `from __future__ import annotations`: FastAPI reads the route annotations at
# definition time, and they name lazily imported classes.

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from faceattrs.server.budget import Admission
from faceattrs.server.errors import ApiError, one_line
from faceattrs.server.images import decode_image, image_size
from faceattrs.server.settings import API, LOG, ServerSettings


def add_stream_route(app, settings: ServerSettings, analyzer, admission: Admission) -> None:
    """Add ``WS /api/v1/stream`` to ``app`` (at most ``settings.max_streams`` at once).

    Frames are admitted like image requests (their decoded pixels count in the server's
    budget; when it is spent the frame is answered ``server_busy`` and skipped). When the
    client closes, the stream's slot is free at once and its frame in progress stops
    after its current step (its pixels are given back when that step ends)."""
    from fastapi import WebSocket, WebSocketDisconnect
    from starlette.concurrency import run_in_threadpool

    from faceattrs.server.attributes import requested_attributes
    from faceattrs.video.persons import PersonRegistry, can_identify
    from faceattrs.video.process import VideoSession, frame_analyzer

    open_streams = [0]  # this app's count of camera connections

    def analyze(data: bytes, conn: _Stream, index: int) -> dict[str, Any] | None:
        started = time.perf_counter()
        bgr = decode_image(data, f"frame {index}", settings.max_pixels)
        if conn.closed.is_set():
            return None
        session = conn.session
        if conn.size != (bgr.shape[1], bgr.shape[0]):  # the first frame, or a new camera size
            conn.size = (bgr.shape[1], bgr.shape[0])
            session.analyzer = frame_analyzer(analyzer, *conn.size)  # as `faceattrs video`
        detected = session.detect(bgr)
        if conn.closed.is_set():
            return None
        faces = session.process(bgr, detected=detected).faces  # tracked, smoothed over time
        return {
            "frame": index,
            "width": bgr.shape[1],
            "height": bgr.shape[0],
            "faces": [face.to_dict() for face in faces],
            "ms": round((time.perf_counter() - started) * 1000, 1),
        }

    def configure(session: VideoSession, text: str) -> dict[str, Any]:
        """The reply to a text message: a setting (``{"attributes": "age,gender"}``; null:
        all heads) or an error; frames are binary."""
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        if not isinstance(message, dict) or set(message) != {"attributes"}:
            return {
                "error": "invalid_frame",
                "detail": 'send each frame as binary JPEG data; settings as {"attributes": "..."}',
            }
        value = message["attributes"]
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        if value is not None and not isinstance(value, str):
            return {"error": "invalid_attributes", "detail": "attributes: a comma-separated string"}
        try:
            session.attributes = requested_attributes(analyzer, value)
        except ApiError as exc:
            return {"error": exc.code, "detail": exc.detail}
        return {"attributes": list(session.attributes or getattr(analyzer, "attributes", ()))}

    async def answer(data: bytes, conn: _Stream, index: int):
        """The reply to one frame, or None when the client left meanwhile."""
        if len(data) > settings.max_frame_bytes:
            raise ApiError(
                413,
                "frame_too_large",
                f"frame of {len(data):,} bytes is over the limit of {settings.max_frame_bytes:,}",
            )
        pixels = image_size(data, f"frame {index}", settings.max_pixels)
        ticket = await admission.acquire(pixels)
        work = asyncio.ensure_future(run_in_threadpool(analyze, data, conn, index))
        work.add_done_callback(lambda _: admission.release(ticket))  # when the thread ends
        return await asyncio.shield(work)

    @app.websocket(f"{API}/stream")
    async def stream(ws: WebSocket, attributes: str | None = None):
        """Send camera frames (JPEG bytes), one at a time; each is answered with its faces
        (JSON), tracked across frames with smoothed attributes. ``?attributes=age,expression``
        on the URL, or a text message ``{"attributes": "age,expression"}`` at any time
        (answered ``{"attributes": [...]}``), chooses the heads that run."""
        await ws.accept()
        try:
            heads = requested_attributes(analyzer, attributes)
        except ApiError as exc:
            await ws.send_json({"error": exc.code, "detail": exc.detail})
            await ws.close(code=1008)
            return
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
        registry = PersonRegistry() if can_identify(analyzer) else None
        session = VideoSession(analyzer, persons=registry, attributes=heads)  # kept in memory
        conn = _Stream(session)
        messages: asyncio.Queue = asyncio.Queue(maxsize=1)
        reader = asyncio.create_task(_receive(ws, messages, conn.closed))
        index = 0
        try:
            while not conn.closed.is_set():
                data = await _until_closed(messages.get(), reader)
                if data is None:
                    break
                if isinstance(data, str):
                    await ws.send_json(configure(session, data))
                    continue
                try:
                    reply = await _until_closed(answer(data, conn, index), reader)
                except ApiError as exc:
                    reply = {"frame": index, "error": exc.code, "detail": exc.detail}
                except Exception as exc:  # a bug, not the client's fault: log, go on
                    LOG.exception("camera frame %d failed", index)
                    reply = {"frame": index, "error": "internal_error", "detail": one_line(exc)}
                if reply is None or conn.closed.is_set():
                    break
                index += 1
                await ws.send_json(reply)
        except WebSocketDisconnect:
            pass
        finally:
            conn.closed.set()  # a frame still in a thread stops after its current step
            open_streams[0] -= 1
            reader.cancel()


@dataclass
class _Stream:
    """One camera connection's state: its tracking session, the size of its frames (set
    by the first frame; a new size gets a new frame analyzer) and whether the client left
    (set from the event loop, read by the frame's worker thread)."""

    session: Any  # faceattrs.video.process.VideoSession, imported lazily
    size: tuple[int, int] | None = None
    closed: threading.Event = field(default_factory=threading.Event)


async def _receive(ws, messages: asyncio.Queue, closed: threading.Event) -> None:
    """Move the client's messages into ``messages`` (bytes, or str for text) until it
    disconnects; then set ``closed``."""
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            await messages.put(data if data is not None else message.get("text") or "")
    except Exception:  # the connection broke
        return
    finally:
        closed.set()


async def _until_closed(awaitable, reader: asyncio.Task):
    """The result of ``awaitable``, or None as soon as ``reader`` ends (client gone)."""
    work = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait({work, reader}, return_when=asyncio.FIRST_COMPLETED)
    if work in done:
        return work.result()
    work.cancel()
    return None
