"""Benchmark: persons in the in-browser video mode (headless Chromium, one WebAssembly
thread, the exported static site).

Prints figures (not a test):

- embedding: ms per face through embedding.js (alignment + the page's float16-weights
  model), batch 1, median over ``--repeats`` runs on the faces of a shared photo;
- video: seconds for the page's video walk (a frame every 0.2 s) of the shared Hamilton
  clip (re-encoded as VP8 WebM), persons off and on, their ratio (the issue's target for
  re-identification: the rate with it on >= 90% of the rate with it off) and the share of
  the walk the embeddings take (faces embedded x ms per face; steadier than the ratio of
  two walks on a busy machine).

    python bench/bench_browser_persons.py             # about 2 minutes
    python bench/bench_browser_persons.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from faceattrs.video.io import transcode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_info import cpu_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "media"
CLIP = SHARED / "face_recognition" / "short_hamilton_clip.mp4"
PHOTO = SHARED / "facenet_pytorch" / "multiface.jpg"
CHROMIUM = Path(os.environ.get("FACEATTRS_CHROMIUM", "/usr/bin/chromium"))

EMBED_JS = """async (repeats) => {
    const pipe = await import("./inbrowser/analyzer.js");
    const m = await import("./inbrowser/embedding.js");
    const analyzer = await pipe.createAnalyzer();
    const model = await m.loadEmbeddingModel();
    const img = new Image();
    img.src = "photo.jpg";
    await img.decode();
    const image = pipe.toImageData(img, img.naturalWidth, img.naturalHeight);
    const { faces } = await analyzer.analyze(image);
    const times = [];
    for (let r = 0; r < repeats; r += 1) {
        for (const face of faces) {
            const t0 = performance.now();
            await model.embed(image, [face]);
            times.push(performance.now() - t0);
        }
    }
    times.sort((a, b) => a - b);
    return { faces: faces.length, median_ms: times[times.length >> 1] };
}"""

WALK_JS = """async (persons) => {
    const pipe = await import("./inbrowser/analyzer.js");
    const walker = await import("./inbrowser/video.js");
    const analyzer = await pipe.createAnalyzer();
    if (persons) await (await import("./inbrowser/embedding.js")).loadEmbeddingModel();
    const blob = await (await fetch("clip.webm")).blob();  // seekable, unlike http.server
    const video = await walker.openVideo(URL.createObjectURL(blob));
    const t0 = performance.now();
    const result = await walker.walkVideo(video, walker.frameAnalyser(analyzer, pipe.toImageData),
        { step: 0.2, persons });
    return { seconds: (performance.now() - t0) / 1000, frames: result.frames.length,
             tracks: result.tracks.length, persons: result.persons?.length ?? null,
             embedded: result.embedded ?? 0 };
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from faceattrs.server.site import export_web

    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        export_web(site)
        (site / "photo.jpg").write_bytes(PHOTO.read_bytes())
        transcode(CLIP, site / "clip.webm")
        server = subprocess.Popen(
            [sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "-d", str(site),
             "0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        try:
            port = re.search(r"port (\d+)", server.stdout.readline()).group(1)
            url = f"http://127.0.0.1:{port}/"
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=str(CHROMIUM), headless=True,
                    args=["--no-sandbox", "--disable-gpu"],
                )  # fmt: skip
                page = browser.new_page()
                page.set_default_timeout(600_000)
                page.goto(url)
                figures = {"cpu": cpu_model(), "embedding": page.evaluate(EMBED_JS, args.repeats)}
                for persons in (False, True):
                    page.goto(url)
                    figures[f"walk_persons_{'on' if persons else 'off'}"] = page.evaluate(
                        WALK_JS, persons
                    )
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=10)
    off, on = figures["walk_persons_off"], figures["walk_persons_on"]
    figures["rate_ratio_on_off"] = round(off["seconds"] / on["seconds"], 3)
    print(f"CPU: {figures['cpu']}; headless Chromium, one WebAssembly thread")
    emb = figures["embedding"]
    print(f"embedding.js: {emb['median_ms']:.1f} ms per face (batch 1, {emb['faces']} faces)")
    for key in ("walk_persons_off", "walk_persons_on"):
        walk = figures[key]
        print(f"{key}: {walk['seconds']:.1f} s for {walk['frames']} frames, "
              f"{walk['tracks']} tracks, persons {walk['persons']}, "
              f"{walk['embedded']} faces embedded")  # fmt: skip
    print(f"rate with persons on / off: {figures['rate_ratio_on_off']:.2f}")
    share = on["embedded"] * emb["median_ms"] / 1000 / on["seconds"]
    print(f"embedding share of the walk with persons on: {share:.1%} (embeddings x ms/face)")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
