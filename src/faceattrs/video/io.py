"""Reading and writing video files with OpenCV's FFmpeg, in background threads.

:class:`VideoReader` checks a file (exists, has a video stream and a first frame)
and decodes ahead in a thread; :class:`VideoWriter` annotates and encodes in a
thread (OpenCV releases the GIL, so both overlap with the analysis). Errors are
:class:`VideoError` with a one-line message.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from faceattrs.results import Face

# Container (by output suffix) -> FourCC OpenCV's bundled FFmpeg can encode. H.264
# ("avc1") is not in the opencv-python wheels; VP8 WebM plays in browsers but is slow.
FOURCCS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".webm": "VP80"}
DEFAULT_FPS = 25.0
# Pixels per frame read at most by default: above 8K video (33 MP), far below a bomb.
DEFAULT_MAX_FRAME_PIXELS = 40_000_000
PREFETCH = 8  # frames decoded (and annotated frames queued for encoding) ahead


class VideoError(ValueError):
    """A video that cannot be read or written; the message is one line."""


@dataclass(frozen=True)
class VideoInfo:
    name: str
    width: int
    height: int
    fps: float
    frame_count: int | None  # None when the container does not say


class Background:
    """Runs ``produce(put, stopped)`` in a daemon thread; iterate for what it puts.

    Its exceptions are raised in the consumer; ``close`` stops it (iteration
    then ends, and a producer blocked on a full queue gives up). Create it, then
    ``start`` it inside the ``try`` whose ``finally`` closes it: an interrupt (Ctrl-C,
    SIGTERM) can arrive while ``Thread.start`` waits for the thread, and a thread left
    running in native code (decoding, ONNX Runtime) when the interpreter exits aborts
    the process ("terminate called without an active exception").
    """

    _END = object()

    def __init__(self, produce: Callable, size: int, name: str) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=size)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(produce,), name=name, daemon=True)

    def start(self) -> Background:
        self._thread.start()
        return self

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            with contextlib.suppress(queue.Full):
                self._queue.put(item, timeout=0.1)
                return True
        return False

    def _run(self, produce: Callable) -> None:
        try:
            produce(self._put, self._stop.is_set)
        except BaseException as exc:  # handed to the consumer
            self._put(exc)
        self._put(self._END)

    def __iter__(self) -> Iterator[Any]:
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started (perhaps interrupted while starting)
            self._thread.join(timeout=10)


class VideoLimitError(VideoError):
    """A video over a limit (frame size, frame count, decoded pixels)."""


class VideoReader:
    """Frames of a video file (or camera index): iterate for ``(index, time_s, bgr)``.

    Opening checks that the file exists, has a video stream and a first frame;
    iterating decodes ahead in a background thread and, at the end, checks that
    no frames the container announces are missing (truncated or corrupt file).

    Limits, by content rather than by what the container claims: ``max_pixels`` per
    frame (the stream's frame size is checked before the first frame is decoded, and
    every frame after), ``max_frames`` frames and ``max_total_pixels`` decoded pixels
    in all (None: no limit); going over raises :class:`VideoLimitError`.
    """

    def __init__(
        self,
        source: str | os.PathLike | int,
        max_pixels: int | None = DEFAULT_MAX_FRAME_PIXELS,
        max_frames: int | None = None,
        max_total_pixels: int | None = None,
    ) -> None:
        self.name = str(source)
        self.max_pixels, self.max_frames = max_pixels, max_frames
        self.max_total_pixels = max_total_pixels
        if not isinstance(source, int):
            path = Path(source)
            if not path.exists():
                raise VideoError(f"{path}: no such file")
            if path.is_dir():
                raise VideoError(f"{path}: is a folder, not a video")
            if path.stat().st_size == 0:
                raise VideoError(f"{path}: empty file")
            still = _still_image_type(path)
            if still is not None:  # FFmpeg would read it as a one-frame video
                raise VideoError(f"{path}: a still image ({still.upper()}), not a video")
            source = str(path)
        with _quiet_opencv():  # OpenCV logs why it cannot open; VideoError says it once
            self._capture = cv2.VideoCapture(source)
        if not self._capture.isOpened():
            self._capture.release()
            raise VideoError(
                f"{self.name}: cannot read a video stream (not a video, unsupported format, "
                "or truncated file)"
            )
        width = int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        height = int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        try:  # the stream's frame size, from the headers FFmpeg parsed: nothing decoded yet
            self._check_frame(width, height, 0)
        except VideoLimitError:
            self._capture.release()
            raise
        ok, first = self._capture.read()
        if not ok or first is None:
            self._capture.release()
            raise VideoError(f"{self.name}: video has no frames (empty or corrupt)")
        self._first: np.ndarray | None = first
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        count = self._capture.get(cv2.CAP_PROP_FRAME_COUNT)
        self.info = VideoInfo(
            name=self.name,
            width=first.shape[1],
            height=first.shape[0],
            fps=fps if math.isfinite(fps) and 0 < fps <= 1000 else DEFAULT_FPS,
            frame_count=int(count) if math.isfinite(count) and count > 0 else None,
        )
        self._background: Background | None = None
        self.frames_read = 0
        self._decoded_pixels = 0
        try:  # a frame size the headers did not announce
            self._check_frame(first.shape[1], first.shape[0], 0)
        except VideoLimitError:
            self._capture.release()
            raise

    def _check_frame(self, width: int, height: int, index: int) -> None:
        """VideoLimitError when frame ``index`` of ``width`` x ``height`` is over a limit."""
        pixels = width * height
        if self.max_pixels is not None and pixels > self.max_pixels:
            raise VideoLimitError(
                f"{self.name}: {width}x{height} frames are over the limit of "
                f"{self.max_pixels:,} pixels"
            )
        if self.max_frames is not None and index >= self.max_frames:
            raise VideoLimitError(
                f"{self.name}: more than {self.max_frames:,} frames (the limit), whatever "
                "its stated duration"
            )
        if index == 0:
            return
        self._decoded_pixels += pixels
        if self.max_total_pixels is not None and self._decoded_pixels > self.max_total_pixels:
            raise VideoLimitError(
                f"{self.name}: more than {self.max_total_pixels:,} decoded pixels in all "
                "(the limit)"
            )

    def __iter__(self) -> Iterator[tuple[int, float, np.ndarray]]:
        if self._first is None:
            raise VideoError(f"{self.name}: a VideoReader can be iterated only once")
        first, self._first = self._first, None
        self._background = Background(self._decode, PREFETCH, "video-decode")
        try:  # the decoding thread stops when iteration does, even unfinished
            self._background.start()
            self.frames_read = 1
            yield 0, 0.0, first
            for bgr in self._background:
                index = self.frames_read
                self._check_frame(bgr.shape[1], bgr.shape[0], index)
                self.frames_read += 1
                yield index, index / self.info.fps, bgr
            expected = self.info.frame_count
            if self._background.stopped or expected is None:
                return
            if self.frames_read < expected - max(2, 0.02 * expected):
                raise VideoError(
                    f"{self.name}: video ends after {self.frames_read} of {expected} frames "
                    "(truncated or corrupt file)"
                )
        finally:
            self._background.close()

    def _decode(self, put: Callable, stopped: Callable) -> None:
        while not stopped():
            ok, bgr = self._capture.read()
            if not ok or bgr is None or not put(bgr):
                return

    def close(self) -> None:
        if self._background is not None:
            self._background.close()
        self._capture.release()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _still_image_type(path: Path) -> str | None:
    from faceattrs.media import sniff_image

    try:
        with open(path, "rb") as file:
            return sniff_image(file.read(64))
    except OSError as exc:
        raise VideoError(f"{path}: cannot read ({exc.strerror or exc})") from None


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """OpenCV's own log silenced for the block (restored after)."""
    logging = cv2.utils.logging
    previous = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging.setLogLevel(previous)


def output_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """Frame size for an output video whose longer side is at most ``max_side``
    (even sides, as codecs want)."""
    scale = min(1.0, max_side / max(width, height)) if max_side else 1.0
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def scale_face(face: Face, sx: float, sy: float) -> Face:
    """``face`` with its box and keypoints in an image scaled by (sx, sy)."""
    x1, y1, x2, y2 = face.xyxy
    keypoints = tuple((x * sx, y * sy) for x, y in face.keypoints)
    return replace(face, xyxy=(x1 * sx, y1 * sy, x2 * sx, y2 * sy), keypoints=keypoints)


class VideoWriter:
    """Annotates and encodes frames in a background thread into a temporary file
    (frames of another size are scaled to ``size`` before drawing). ``caption``: the
    "perceived attributes" line on every frame (:func:`faceattrs.drawing.annotate`); False
    for a plain copy (:func:`transcode`)."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int], caption: bool = True) -> None:
        from faceattrs.drawing import annotate

        self._annotate = annotate
        self._caption = caption
        check_video_output(path)
        fourcc = FOURCCS[path.suffix.lower()]
        self.path = path
        self.size = size
        self._writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
        if not self._writer.isOpened():
            raise VideoError(f"{path}: cannot encode {fourcc} video here")
        self._queue: queue.Queue = queue.Queue(maxsize=PREFETCH)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="video-encode", daemon=True)
        try:
            self._thread.start()
        except BaseException:  # interrupted while starting: the caller never gets to close
            self.close()
            raise

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain after a failure
            try:
                bgr, faces = item
                if (bgr.shape[1], bgr.shape[0]) != self.size:  # scale, then draw
                    scale = (self.size[0] / bgr.shape[1], self.size[1] / bgr.shape[0])
                    bgr = cv2.resize(bgr, self.size, interpolation=cv2.INTER_AREA)
                    faces = [scale_face(face, *scale) for face in faces]
                self._writer.write(self._annotate(bgr, faces, caption=self._caption))
            except BaseException as exc:
                self._error = exc

    def write(self, bgr: np.ndarray, faces: Iterable[Face]) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put((bgr, tuple(faces)))

    def close(self) -> None:
        """Finish encoding (raises what went wrong in the thread)."""
        self._queue.put(None)
        if self._thread.ident is not None:
            self._thread.join()
        self._writer.release()
        if self._error is not None:
            raise self._error


def transcode(
    source: str | os.PathLike, target: str | os.PathLike, max_side: int | None = None
) -> VideoInfo:
    """Re-encode a video file as ``target``'s type (``.webm``: VP8, which every Chromium
    plays), its longer side at most ``max_side``; returns the source's :class:`VideoInfo`."""
    with VideoReader(source) as reader:
        info = reader.info
        size = output_size(info.width, info.height, max_side)
        writer = VideoWriter(Path(target), info.fps, size, caption=False)
        try:
            for _, _, bgr in reader:
                writer.write(bgr, ())
        finally:
            writer.close()
    return info


def check_video_output(path: str | os.PathLike | None) -> None:
    """Raise VideoError when ``path`` is not a video type this build can write."""
    if path is not None and Path(path).suffix.lower() not in FOURCCS:
        raise VideoError(f"{path}: unsupported video type; use one of {', '.join(FOURCCS)}")


def temp_beside(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        prefix=f".{target.stem}.", suffix=f".partial{target.suffix}", dir=target.parent
    )
    os.close(fd)
    os.chmod(name, 0o644)
    return Path(name)
