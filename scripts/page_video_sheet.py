"""A contact sheet of what the page's in-browser video mode tracked: one row per person, the
crop of each of their faces in the analysed frames, labelled with track, person and time.

Exports the static site, plays VIDEO (re-encoded as VP8 WebM at its own size, as
tests/browser/test_inbrowser_persons.py does) through the page's walker in headless Chromium
(frames up to 1920 px as the page does, a frame every 0.2 s, persons on; ``--as-is`` plays
the file itself, as a user would open it) and cuts the crops
from the original frames, so merged or split persons can be checked by eye.

    python scripts/page_video_sheet.py ../shared/media/facenet_pytorch/video.mp4 -o sheet.png
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

WALK = """async ([url, maxSide, step]) => {
  const pipeline = await import('./inbrowser/analyzer.js');
  const walker = await import('./inbrowser/video.js');
  const analyzer = await pipeline.createAnalyzer();
  const source = await walker.openVideo(URL.createObjectURL(await (await fetch(url)).blob()));
  const frame = walker.frameAnalyser(analyzer, pipeline.toImageData, maxSide ?? Infinity);
  const r = await walker.walkVideo(source, frame, { step, persons: true });
  return { persons: Object.fromEntries(r.tracks.map((t) => [t.track_id, t.person_id])),
           frames: r.frames.map((f) => ({ time: f.time, width: f.width,
                                          faces: f.faces.map((x) => [x.track_id, x.box]) })) };
}"""


def walk(video: Path, max_side: int | None = 1920, as_is: bool = False, step: float = 0.2) -> dict:
    from bench_browser import CHROMIUM, serve
    from playwright.sync_api import sync_playwright

    from faceattrs.server.site import export_web
    from faceattrs.video.io import transcode

    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        export_web(site)
        if as_is:  # the file a user would open (Debian's Chromium plays H.264 MP4)
            clip_name = "clip" + video.suffix.lower()
            shutil.copyfile(video, site / clip_name)
        else:
            clip_name = "clip.webm"
            transcode(video, site / clip_name, 1920)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            server, url = serve(site, False)
            try:
                page = browser.new_page()
                page.set_default_timeout(900_000)
                page.goto(url)
                clip = url.split("?")[0].rstrip("/") + "/" + clip_name
                started = time.perf_counter()
                result = page.evaluate(WALK, [clip, max_side, step])
                result["seconds"] = round(time.perf_counter() - started, 1)
                return result
            finally:
                server.shutdown()
                browser.close()


def sheet(
    video: Path, result: dict, cell: int = 96, per_row: int = 14, offset: float = 0.0
) -> np.ndarray:
    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    frames = []
    while (read := cap.read())[0]:
        frames.append(read[1])
    rows: dict[int, list[np.ndarray]] = {}
    for record in result["frames"]:
        index = round(max(0.0, record["time"] - offset) * fps)  # the player's time -> frame
        bgr = frames[min(index, len(frames) - 1)]
        scale = bgr.shape[1] / record["width"]
        for track_id, box in record["faces"]:
            x1, y1, x2, y2 = (int(v * scale) for v in box)
            margin = int(0.4 * (x2 - x1))
            crop = bgr[max(0, y1 - margin) : y2 + margin, max(0, x1 - margin) : x2 + margin]
            crop = cv2.resize(crop, (cell, cell))
            person = result["persons"].get(str(track_id))
            label = f"t{track_id} p{person} {record['time']:.1f}s"
            cv2.putText(crop, label, (2, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 255, 255), 1)
            rows.setdefault(person if person is not None else -track_id, []).append(crop)
    blank = np.zeros((cell, cell, 3), np.uint8)
    lines = [(crops + [blank] * per_row)[:per_row] for _, crops in sorted(rows.items())]
    return np.vstack([np.hstack(line) for line in lines])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("-o", "--out", type=Path, required=True, help="contact sheet (PNG)")
    parser.add_argument(
        "--max-side",
        type=int,
        default=1920,
        help="frames at most this wide (0: as is; the page: 1920)",
    )
    parser.add_argument(
        "--as-is",
        action="store_true",
        help="play the file as given (default: re-encoded as VP8 WebM, as the tests do)",
    )
    parser.add_argument(
        "--offset",
        type=float,
        default=0.0,
        help="with --as-is: seconds the video track starts after the player's 0 (ffprobe's "
        "stream start; short_hamilton_clip.mp4: 0.852), so crops come from the frames shown",
    )
    parser.add_argument(
        "--step", type=float, default=0.2, help="seconds between analysed frames (the page: 0.2)"
    )
    args = parser.parse_args()
    result = walk(args.video, args.max_side or None, args.as_is, args.step)
    cv2.imwrite(str(args.out), sheet(args.video, result, offset=args.offset))
    tracks = len(result["persons"])
    persons = len(set(result["persons"].values()) - {None})
    seconds = result["seconds"]
    print(
        json.dumps(
            {"tracks": tracks, "persons": persons, "seconds": seconds, "sheet": str(args.out)}
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
