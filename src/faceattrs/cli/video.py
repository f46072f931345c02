"""``faceattrs video``: analyse a video file from the command line (thin layer over
:func:`faceattrs.video.process.process_video`; the models are imported only when it runs)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from faceattrs.cli.common import (
    add_model_options,
    model_kwargs,
    plural,
    positive_int,
    sigterm_interrupts,
)
from faceattrs.video.io import FOURCCS, VideoError, VideoReader, check_video_output
from faceattrs.video.process import default_analyzer, process_video, video_min_face


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``faceattrs video`` (the analyzer is imported only when it runs)."""
    parser = sub.add_parser(
        "video",
        help="track faces through a video; annotated video, timeline and per-person summary",
        description=(
            "Detect and track faces in every frame of a video, smooth each person's "
            "perceived age, gender, race and expression (--attributes chooses) over their "
            "track, and write an annotated "
            "video (-o), a JSON Lines timeline (--jsonl) and a per-track summary (JSON; "
            "stdout unless --summary). Outputs appear only when the whole video is done."
        ),
    )
    parser.add_argument("input", metavar="IN", help="video file (anything OpenCV/FFmpeg reads)")
    parser.add_argument(
        "-o", "--output", metavar="OUT",
        help=f"annotated video ({', '.join(FOURCCS)}; .mp4: MPEG-4 Part 2, .webm: VP8, slow)",
    )  # fmt: skip
    parser.add_argument(
        "--max-side", type=positive_int, metavar="PX",
        help="scale the annotated video down to at most PX pixels wide and high",
    )  # fmt: skip
    parser.add_argument("--jsonl", metavar="FILE", help="per-frame timeline (JSON Lines)")
    parser.add_argument("--summary", metavar="FILE", help="per-track summary JSON file")
    parser.add_argument(
        "--every", type=positive_int, default=1, metavar="K",
        help="analyse every K-th frame, interpolate boxes between (default: 1)",
    )  # fmt: skip
    parser.add_argument(
        "--smooth", type=float, default=1.0, metavar="S",
        help="time constant (s) of the smoothing of attributes along a track; 0: off "
        "(default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--reid", action="store_true",
        help="join tracks into persons by face embedding (after leaving the view, across "
        "cuts): person_id in the timeline and summary (embeddings are kept for the run only)",
    )  # fmt: skip
    add_model_options(
        parser,
        min_face=None,
        min_face_help="ignore smaller faces (default: 20 px, 40 px at 1080p: frame height / 27)",
        threads=1,
        threads_help="model threads (default: 1; decoding and encoding run in their own threads)",
        batch_size=False,
        max_pixels=False,
        attributes=True,
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    # FFmpeg's own messages about broken files would precede our one-line error
    # (read when the process opens its first video; set it to 32 to see them)
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    if args.smooth < 0:
        raise VideoError(f"--smooth must be >= 0, got {args.smooth}")
    check_video_output(args.output)
    with VideoReader(args.input) as reader:  # bad input fails before the models load
        info = reader.info
    analyzer = default_analyzer(
        info.width,
        info.height,
        min_face=(
            video_min_face(info.width, info.height) if args.min_face is None else args.min_face
        ),
        **model_kwargs(args),
    )
    analyzer.load_heads()  # a bad model fails before any work
    bar = tqdm(
        total=info.frame_count, unit="frame", desc=Path(args.input).name,
        disable=args.quiet, file=sys.stderr, dynamic_ncols=True,
    )  # fmt: skip
    try:
        with sigterm_interrupts():
            summary = process_video(
                args.input,
                video_out=args.output,
                timeline_out=args.jsonl,
                summary_out=args.summary,
                analyzer=analyzer,
                every=args.every,
                progress=lambda done, total: bar.update(1),
                video_max_side=args.max_side,
                smooth_s=args.smooth,
                persons=args.reid,
            )
    finally:
        bar.close()
    if args.summary is None:
        print(json.dumps(summary, indent=2))
    elif not args.quiet:
        tracks = len(summary["tracks"])
        frames = plural(summary["frames"], "frame")
        persons = f", {plural(len(summary['persons']), 'person')}" if "persons" in summary else ""
        print(f"faceattrs: {frames}, {plural(tracks, 'track')}{persons}", file=sys.stderr)
    return 0
