"""Person counts of ``process_video(..., persons=True)`` on the shared clips for several
``PersonRegistry`` sample settings: each clip as given and re-encoded as VP8 WebM (what the
page's tests play), analysed every frame and every 0.2 s (reports/identity/browser_persons.md).

    python scripts/reid_samples.py 3:0.3 5:0.3 8:0.3 8:0.15   # samples per track : seconds apart
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterator
from pathlib import Path

from faceattrs.video.io import VideoInfo, VideoReader, transcode
from faceattrs.video.persons import PersonRegistry
from faceattrs.video.process import process_video

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
CLIPS = {
    "video.mp4": MEDIA / "facenet_pytorch/video.mp4",
    "short_hamilton_clip.mp4": MEDIA / "face_recognition/short_hamilton_clip.mp4",
}


def conditions(tmp: Path) -> Iterator[tuple[str, Path, VideoInfo, int]]:
    """(label, clip, its info, analyse every Nth frame) for each clip as given and re-encoded
    as VP8 WebM into ``tmp``, every frame and every 0.2 s."""
    for name, path in CLIPS.items():
        vp8 = tmp / (path.stem + ".webm")
        if not vp8.exists():
            transcode(path, vp8, 1920)
        for label, clip in ((name, path), (name + " as VP8", vp8)):
            with VideoReader(clip) as reader:
                info = reader.info
            for every in (1, round(0.2 * info.fps)):
                yield label, clip, info, every


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("settings", nargs="*", default=["3:0.3"], help="SAMPLES:SECONDS")
    args = parser.parse_args()
    settings = [(int(n), float(s)) for n, s in (item.split(":") for item in args.settings)]
    with tempfile.TemporaryDirectory() as tmp:
        for label, clip, _, every in conditions(Path(tmp)):
            counts = []
            for samples, seconds in settings:
                registry = PersonRegistry(samples_per_track=samples, sample_every_s=seconds)
                summary = process_video(clip, every=every, persons=registry)
                tracks, persons = len(summary["tracks"]), len(summary["persons"])
                counts.append(f"{samples}:{seconds} {tracks}/{persons}")
            print(f"{label}, every {every}: " + " | ".join(counts), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
