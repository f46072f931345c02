"""Videos: analyse and track the faces of every frame; write an annotated video, a
JSON Lines timeline and per-track summaries (the ``faceattrs video`` command is in
:mod:`faceattrs.cli.video`).

Frames are decoded and encoded in background threads (:mod:`faceattrs.video.io`)
and analysed and tracked in order by a :class:`~faceattrs.video.session.VideoSession`.
Outputs are written to temporary files beside their destinations and renamed at
the end: an interrupted or failed run leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import statistics
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faceattrs.results import NOTICE, top_label
from faceattrs.video.io import (
    DEFAULT_FPS,
    Background,
    VideoError,
    VideoReader,
    VideoWriter,
    check_video_output,
    output_size,
    temp_beside,
)
from faceattrs.video.persons import PersonRegistry, relabel_timeline, summarize_persons
from faceattrs.video.session import Analyzer, SceneCuts, VideoSession
from faceattrs.video.tracking import FaceTracker, FrameResult

__all__ = [
    "FaceTracker",
    "FrameResult",
    "SceneCuts",
    "TrackSummary",
    "VideoError",
    "VideoReader",
    "VideoSession",
    "analyze_video",
    "process_video",
    "summarize_tracks",
    "track_video",
]

VideoSource = str | os.PathLike | int | Iterable[np.ndarray] | Iterable[tuple[float, np.ndarray]]


@dataclass(frozen=True)
class TrackSummary:
    """One tracked person: when seen, median age and mean probabilities over the track
    (None for attributes that were not asked for)."""

    track_id: int
    first_s: float
    last_s: float
    frames: int
    age: float | None
    age_interval: tuple[float, float] | None
    gender_probs: dict[str, float] | None
    race_probs: dict[str, float] | None
    expression_shares: dict[str, float] | None = None  # share of frames per top expression

    @property
    def gender(self) -> str | None:
        return top_label(self.gender_probs) if self.gender_probs else None

    @property
    def race(self) -> str | None:
        return top_label(self.race_probs) if self.race_probs else None

    def to_dict(self) -> dict[str, Any]:
        """The summary's JSON; attributes not asked for are left out (as in the timeline)."""
        out: dict[str, Any] = {
            "track_id": self.track_id,
            "first_time": round(self.first_s, 3),
            "last_time": round(self.last_s, 3),
            "frames": self.frames,
        }
        if self.age is not None and self.age_interval is not None:
            out["age"] = round(self.age, 1)
            out["age_interval"] = [round(v) for v in self.age_interval]  # whole years
        for name, probs in (("gender", self.gender_probs), ("race", self.race_probs)):
            if probs:
                out[name] = top_label(probs)
                out[f"{name}_probs"] = {k: round(v, 4) for k, v in probs.items()}
        if self.expression_shares:
            out["expression_shares"] = {k: round(v, 4) for k, v in self.expression_shares.items()}
        return out


class TrackSummarizer:
    """Accumulates frame results (``add``) into per-track summaries (``summaries``)."""

    def __init__(self) -> None:
        self._tracks: dict[int, dict[str, Any]] = {}

    def add(self, result: FrameResult) -> None:
        for face in result.faces:
            if face.track_id is None:
                continue
            track = self._tracks.setdefault(
                face.track_id,
                {"first": result.time_s, "frames": 0, "ages": [], "lows": [], "highs": [],
                 "g": {}, "r": {}, "e": {}, "with": {"g": 0, "r": 0, "e": 0}},
            )  # fmt: skip
            track["last"] = result.time_s
            track["frames"] += 1
            if face.age is not None and face.age_interval is not None:
                track["ages"].append(face.age)
                track["lows"].append(face.age_interval[0])
                track["highs"].append(face.age_interval[1])
            for key, probs in (("g", face.gender_probs), ("r", face.race_probs)):
                track["with"][key] += bool(probs)  # means over the frames that have them
                for label, p in (probs or {}).items():
                    track[key][label] = track[key].get(label, 0.0) + p
            if face.expression_probs:
                track["with"]["e"] += 1
                for label in face.expression_probs:
                    track["e"].setdefault(label, 0.0)
                track["e"][face.expression] += 1.0

    def summaries(self) -> list[TrackSummary]:
        """One summary per track, by track id."""
        out = []
        for track_id in sorted(self._tracks):
            track = self._tracks[track_id]
            ages = track["ages"]
            out.append(
                TrackSummary(
                    track_id=track_id,
                    first_s=track["first"],
                    last_s=track["last"],
                    frames=track["frames"],
                    age=statistics.median(ages) if ages else None,
                    age_interval=(
                        (statistics.median(track["lows"]), statistics.median(track["highs"]))
                        if ages
                        else None
                    ),
                    **{
                        name: {k: v / track["with"][key] for k, v in track[key].items()} or None
                        for name, key in (
                            ("gender_probs", "g"),
                            ("race_probs", "r"),
                            ("expression_shares", "e"),
                        )
                    },
                )
            )
        return out


def summarize_tracks(results: Iterable[FrameResult]) -> list[TrackSummary]:
    """Per-track summaries of a sequence of frame results."""
    summarizer = TrackSummarizer()
    for result in results:
        summarizer.add(result)
    return summarizer.summaries()


def video_min_face(width: int, height: int) -> int:
    """The smallest face worth finding in a video frame: 20 px up to 540p, then in
    proportion (40 px at 1080p); smaller faces cost detection time and give poor
    attributes."""
    return max(20, round(min(width, height) / 27))


def default_analyzer(width: int, height: int, **options: Any) -> Analyzer:
    """A FaceAnalyzer for frames of this size (packaged models, one thread)."""
    from faceattrs.pipeline.analyzer import FaceAnalyzer

    options.setdefault("min_face", video_min_face(width, height))
    # no border for faces cut by the frame's edge: it costs 28-60% more detector pixels at
    # these sizes, and a face entering the frame is found a moment later anyway
    options.setdefault("edge_margin", 0)
    options.setdefault("threads", 1)
    return FaceAnalyzer(**options)


def frame_analyzer(analyzer: Analyzer, width: int, height: int) -> Analyzer:
    """``analyzer`` (a server's, made for photos) with :func:`default_analyzer`'s rules for
    frames of this size, its models shared: what ``faceattrs video`` finds, the server finds
    in a video job. An analyzer without ``with_detection`` is returned as it is."""
    if not callable(getattr(analyzer, "with_detection", None)):
        return analyzer
    return analyzer.with_detection(min_face=video_min_face(width, height), edge_margin=0)


def _timed_frames(source: Iterable, fps: float) -> Iterator[tuple[int, float, np.ndarray]]:
    """(index, time_s, bgr) from BGR arrays (timed by ``fps``) or (time_s, bgr) pairs."""
    for index, item in enumerate(source):
        if isinstance(item, tuple):
            t, bgr = item
            yield index, float(t), bgr
        else:
            yield index, index / fps, item


def track_video(
    source: VideoSource,
    analyzer: Analyzer | None = None,
    every: int = 1,
    *,
    fps: float = DEFAULT_FPS,
    **session_options: Any,
) -> Iterator[tuple[np.ndarray, FrameResult]]:
    """``(bgr, FrameResult)`` per frame of a video path, camera index or frame iterator.

    Frames from an iterator are BGR arrays (timed at ``fps``) or ``(time_s, bgr)``
    pairs. ``analyzer`` defaults to :func:`default_analyzer` for the first
    frame's size. With ``every=k`` boxes between analysed frames are
    interpolated, so results come up to k frames late. ``session_options`` go to
    :class:`VideoSession` (``cut_threshold``) and :class:`FaceTracker`.
    """
    if isinstance(source, (str, os.PathLike, int)):
        with VideoReader(source) as reader:
            yield from _track(iter(reader), analyzer, every, session_options)
    else:
        yield from _track(_timed_frames(source, fps), analyzer, every, session_options)


def _track(
    frames: Iterator[tuple[int, float, np.ndarray]],
    analyzer: Analyzer | None,
    every: int,
    session_options: dict[str, Any],
) -> Iterator[tuple[np.ndarray, FrameResult]]:
    """Track frames in order; with every=1 faces are detected one frame ahead in a
    background thread (ONNX Runtime releases the GIL), overlapping the attributes."""
    first = next(frames, None)
    if first is None:
        return
    bgr = first[2]
    analyzer = analyzer or default_analyzer(bgr.shape[1], bgr.shape[0])
    session = VideoSession(analyzer, every, **session_options)
    frames = itertools.chain([first], frames)
    if every > 1:
        for _, t, bgr in frames:
            yield from session.push(bgr, t, bgr)
    else:

        def detect_ahead(put: Callable, stopped: Callable) -> None:
            for _, t, bgr in frames:
                if stopped() or not put((t, bgr, session.detect(bgr))):
                    return

        ahead = Background(detect_ahead, 2, "video-detect")
        try:
            for t, bgr, detected in ahead.start():
                yield from session.push(bgr, t, bgr, detected)
        finally:
            ahead.close()
    yield from session.flush()


def analyze_video(
    source: VideoSource, analyzer: Analyzer | None = None, every: int = 1, **options: Any
) -> Iterator[FrameResult]:
    """Tracked, smoothed faces of each frame (see :func:`track_video`)."""
    for _, result in track_video(source, analyzer, every, **options):
        yield result


def process_video(
    source: str | os.PathLike,
    video_out: str | os.PathLike | None = None,
    timeline_out: str | os.PathLike | None = None,
    summary_out: str | os.PathLike | None = None,
    analyzer: Analyzer | None = None,
    every: int = 1,
    progress: Callable[[int, int | None], None] | None = None,
    video_max_side: int | None = None,
    persons: bool | PersonRegistry = False,
    source_name: str | None = None,
    limits: dict[str, int | None] | None = None,
    **session_options: Any,
) -> dict[str, Any]:
    """Analyse a video file and write the requested outputs; returns the summary.

    ``progress(frames_done, frames_total_or_None)`` is called after every frame
    (raise from it to cancel). Outputs appear only when the whole video is done.
    ``video_max_side`` scales the annotated video down (boxes stay in input
    pixels in the timeline). ``persons``: join tracks into persons by face embedding
    (re-identification after leaving the view and across cuts; see
    :mod:`faceattrs.video.persons`): faces and tracks carry ``person_id`` and the
    summary has one entry per person (a :class:`PersonRegistry` of the caller's own: its
    settings). ``source_name``: the summary's ``source`` (default:
    the file's name); ``limits``: :class:`VideoReader`'s ``max_pixels``, ``max_frames`` and
    ``max_total_pixels``. ``session_options`` go to :class:`VideoSession`.
    """
    registry = (
        persons if isinstance(persons, PersonRegistry) else PersonRegistry() if persons else None
    )
    if registry is not None:
        session_options["persons"] = registry
    targets = [Path(p) for p in (video_out, timeline_out, summary_out) if p is not None]
    if any(p.resolve() == Path(source).resolve() for p in targets):
        raise VideoError(f"{source}: an output would overwrite the input")
    check_video_output(video_out)
    temps: dict[Path, Path] = {}
    writer: VideoWriter | None = None
    timeline = None
    try:
        with VideoReader(source, **(limits or {})) as reader:
            info = reader.info
            for target in targets:
                temps[target] = temp_beside(target)
            if video_out is not None:
                size = output_size(info.width, info.height, video_max_side)
                writer = VideoWriter(temps[Path(video_out)], info.fps, size)
            if timeline_out is not None:
                timeline = open(temps[Path(timeline_out)], "w", encoding="utf-8")  # noqa: SIM115
            summarizer = TrackSummarizer()
            frames = 0
            tracked = _track(iter(reader), analyzer, every, session_options)
            with contextlib.closing(tracked):  # stops its threads on errors too
                for bgr, result in tracked:
                    summarizer.add(result)
                    if writer is not None:
                        writer.write(bgr, result.faces)
                    if timeline is not None:
                        timeline.write(json.dumps(result.to_dict(), separators=(",", ":")) + "\n")
                    frames += 1
                    if progress is not None:
                        progress(frames, info.frame_count)
        if writer is not None:
            writer, closing = None, writer
            closing.close()
        if timeline is not None:
            timeline, closing_file = None, timeline
            closing_file.close()
        summary = {
            "source": source_name or Path(source).name,
            "width": info.width,
            "height": info.height,
            "fps": round(info.fps, 3),
            "frames": frames,
            "duration_s": round(frames / info.fps, 3),
            "notice": NOTICE,
        }
        tracks = summarizer.summaries()
        track_persons = registry.regroup() if registry is not None else {}
        if registry is not None and timeline_out is not None:
            relabel_timeline(temps[Path(timeline_out)], track_persons)
        summary["tracks"] = [track.to_dict() for track in tracks]
        if registry is not None:
            for entry in summary["tracks"]:
                entry["person_id"] = track_persons.get(entry["track_id"])
        if registry is not None:
            summary["persons"] = summarize_persons(tracks, track_persons)
        if summary_out is not None:
            temps[Path(summary_out)].write_text(json.dumps(summary, indent=2) + "\n", "utf-8")
        for target, temp in temps.items():
            os.replace(temp, target)
        temps.clear()
        return summary
    finally:
        if writer is not None:
            with contextlib.suppress(BaseException):
                writer.close()
        if timeline is not None:
            timeline.close()
        for temp in temps.values():
            with contextlib.suppress(OSError):
                temp.unlink()
