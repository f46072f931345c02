"""The clients of the load test (``bench/load_test.py``): what they send and what they saw.

Image clients POST a photo to ``/api/v1/images`` in a closed loop; camera streams send
JPEG frames over the ``/api/v1/stream`` WebSocket, one in flight. Each kind of client
records its latencies, statuses, faces and dropped connections in a :class:`Tally`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import httpx
import numpy as np


@dataclass
class Tally:
    """What one kind of client saw."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    faces: int = 0
    shed: int = 0  # answered 429/503 with Retry-After (or server_busy on a stream)
    dropped: int = 0  # connections that failed or closed unexpectedly
    errors: list[str] = field(default_factory=list)  # first few, for the report

    def drop(self, exc: BaseException) -> None:
        self.dropped += 1
        if len(self.errors) < 5:
            self.errors.append(f"{type(exc).__name__}: {exc}"[:200])

    def summary(self, seconds: float) -> dict:
        ordered = sorted(self.latencies_ms)
        return {
            "requests": len(ordered),
            "per_s": round(len(ordered) / seconds, 2),
            "faces_per_s": round(self.faces / seconds, 1),
            "p50_ms": round(percentile(ordered, 50), 1) if ordered else None,
            "p99_ms": round(percentile(ordered, 99), 1) if ordered else None,
            "shed": self.shed,
            "max_ms": round(ordered[-1], 1) if ordered else None,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "5xx": sum(v for k, v in self.statuses.items() if isinstance(k, int) and k >= 500),
            "dropped": self.dropped,
            "errors": self.errors,
        }


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted values."""
    rank = max(1, int(np.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def load_photo(
    path: str | None, max_side: int, canvas: tuple[int, int] | None = None
) -> tuple[bytes, str]:
    """JPEG bytes of the photo scaled to at most ``max_side`` (a synthetic one if absent);
    with ``canvas`` (width, height), fitted into a grey picture of that size instead."""
    if path and Path(path).is_file():
        from faceattrs.media import read_image

        bgr, name = read_image(path), Path(path).name
    else:
        rng = np.random.default_rng(0)
        bgr, name = rng.integers(0, 256, (480, 640, 3), np.uint8), "synthetic noise (no faces)"
    if canvas is not None:
        width, height = canvas
        scale = min(width / bgr.shape[1], height / bgr.shape[0])
        fitted = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        bgr = np.full((height, width, 3), 128, np.uint8)
        top, left = (height - fitted.shape[0]) // 2, (width - fitted.shape[1]) // 2
        bgr[top : top + fitted.shape[0], left : left + fitted.shape[1]] = fitted
    scale = min(1.0, max_side / max(bgr.shape[:2]))
    if scale < 1:
        bgr = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    return encoded, f"{name} {bgr.shape[1]}x{bgr.shape[0]}, {len(encoded) // 1024} KiB"


def load_frames(path: str | None, width: int, count: int, fallback: bytes) -> tuple[list, str]:
    """Up to ``count`` JPEG camera frames ``width`` wide from a video (else the photo)."""
    frames = []
    if path and Path(path).is_file():
        capture = cv2.VideoCapture(str(path))
        while len(frames) < count:
            ok, bgr = capture.read()
            if not ok:
                break
            scale = width / bgr.shape[1]
            bgr = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            frames.append(cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes())
        capture.release()
    if frames:
        return frames, f"{Path(path).name}, {len(frames)} frames {width} px wide"
    return [fallback], "the photo, repeated"


async def image_client(
    client: httpx.AsyncClient, url: str, photo: bytes, until: float, budget: list[int], tally: Tally
) -> None:
    answered = False
    while (not answered or time.monotonic() < until) and budget[0] > 0:  # at least one answer
        budget[0] -= 1
        started = time.perf_counter()
        try:
            response = await client.post(
                url + "/api/v1/images", files={"files": ("photo.jpg", photo, "image/jpeg")}
            )
        except httpx.HTTPError as exc:
            tally.drop(exc)
            continue
        tally.statuses[response.status_code] += 1
        if response.status_code in (429, 503):  # shed: wait as told, like a polite client
            tally.shed += 1
            await asyncio.sleep(min(float(response.headers.get("retry-after", 1)), 5.0))
            continue
        tally.latencies_ms.append((time.perf_counter() - started) * 1000)  # answered ones
        answered = True
        if response.status_code == 200:
            tally.faces += sum(len(image["faces"]) for image in response.json()["images"])


async def stream_client(url: str, frames: list[bytes], until: float, tally: Tally) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import WebSocketException

    ws_url = "ws" + url.removeprefix("http") + "/api/v1/stream"
    try:
        async with connect(ws_url, max_size=2**24, open_timeout=30) as ws:
            index, answered = 0, False
            while not answered or time.monotonic() < until:  # at least one answered frame
                started = time.perf_counter()
                await ws.send(frames[index % len(frames)])
                reply = json.loads(await ws.recv())
                tally.statuses["ok" if "faces" in reply else reply.get("error", "?")] += 1
                if reply.get("error") == "server_busy":  # shed: the next frame comes later
                    tally.shed += 1
                    index += 1
                    await asyncio.sleep(0.2)
                    continue
                tally.latencies_ms.append((time.perf_counter() - started) * 1000)
                answered = True
                tally.faces += len(reply.get("faces", ()))
                index += 1
    except (TimeoutError, OSError, WebSocketException) as exc:
        tally.drop(exc)


async def run_load(
    url: str, photo: bytes, frames: list[bytes], args: argparse.Namespace
) -> tuple[Tally, Tally, float]:
    images, streams = Tally(), Tally()
    budget = [args.max_requests]
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    timeout = httpx.Timeout(args.request_timeout)
    started = time.monotonic()
    until = started + args.duration
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        tasks = [
            image_client(client, url, photo, until, budget, images) for _ in range(args.clients)
        ]
        tasks += [stream_client(url, frames, until, streams) for _ in range(args.streams)]
        await asyncio.wait_for(asyncio.gather(*tasks), args.duration + args.request_timeout + 30)
    return images, streams, time.monotonic() - started
