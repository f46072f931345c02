"""Benchmark: the page's own in-browser camera loop (with drawing) in headless Chromium, with
parts of it switched off, taking turns: what each part costs the frame rate.

Prints figures (not a test). Modes, each ``WORKER:THREADS:PERSONS``:

- WORKER ``on`` (the page's way: known tracks described in the heads' worker) or ``off``
  (every description on the page);
- THREADS: WebAssembly threads (``1``: the static site without COOP/COEP; ``2``: the
  cross-origin isolated site asked for two);
- PERSONS ``persons`` (the page's way: tracks joined into persons by face embeddings,
  computed on the page) or ``nopersons``.

The fake camera plays 640x480 frames of the shared test clip, as ``bench_browser.py``.

    python bench/bench_camera_loop.py                       # 2 rounds of 4 modes, ~4 min
    python bench/bench_camera_loop.py --rounds 3 on:1:persons off:1:persons
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_browser import (  # noqa: E402
    CHROMIUM,
    camera_frames,
    launch_with_camera,
    serve,
    write_y4m,
)
from machine_info import cpu_model  # noqa: E402

DEFAULT_MODES = ["on:1:persons", "on:1:nopersons", "off:1:persons", "off:1:nopersons"]
FRAMES = "Number(document.querySelector('#camera-stage').dataset.frames || 0)"


def loop_fps(browser, site: Path, mode: str, seconds: float) -> float:
    """Frames per second of the page's camera loop in one mode (a fresh page)."""
    worker, threads, persons = mode.split(":")
    isolated = threads != "1"
    server, url = serve(site, isolated)
    url += f"?threads={threads}" if isolated else ""
    context = browser.new_context()
    context.grant_permissions(["camera"], origin=url.split("?")[0].rstrip("/"))
    try:
        page = context.new_page()
        page.set_default_timeout(300_000)
        page.goto(url)
        page.wait_for_selector("body[data-server=none]")
        if worker == "off":  # the camera then describes every face on the page
            page.evaluate("""async () => {
                const m = await import('./inbrowser/live.js');
                m.HeadsWorker.start = () => Promise.reject(new Error('off for the benchmark'));
            }""")  # fmt: skip
        page.click("#tab-camera")
        page.click("#camera-start")
        if persons == "nopersons":  # before the embedding model is loaded
            page.wait_for_function("camera.local != null")
            page.evaluate("camera.local.live.usePersons = () => {}")
        page.wait_for_function(f"{FRAMES} >= 3")
        time.sleep(2)  # the worker and the embedding model are up
        start_frames, start = page.evaluate(FRAMES), time.perf_counter()
        time.sleep(seconds)
        fps = (page.evaluate(FRAMES) - start_frames) / (time.perf_counter() - start)
        page.click("#camera-stop")
        return fps
    finally:
        context.close()
        server.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modes", nargs="*", default=DEFAULT_MODES, help="WORKER:THREADS:PERSONS")
    parser.add_argument("--rounds", type=int, default=2, help="turns of all modes")
    parser.add_argument("--seconds", type=float, default=10.0, help="loop time per mode")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print(f"skipped: {CHROMIUM} not found")
        return 0
    from playwright.sync_api import sync_playwright

    from faceattrs.server.site import export_web

    print(f"machine: {cpu_model()}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        export_web(site)
        camera = Path(tmp) / "camera.y4m"
        write_y4m(camera, camera_frames(75))
        with sync_playwright() as pw:
            browser = launch_with_camera(pw, camera)
            results: dict[str, list[float]] = {mode: [] for mode in args.modes}
            for _ in range(args.rounds):
                for mode in args.modes:
                    results[mode].append(loop_fps(browser, site, mode, args.seconds))
                    print(f"  {mode}: {results[mode][-1]:.1f} frames/s", flush=True)
            browser.close()
    for mode, rates in results.items():
        print(f"{mode:20s} " + ", ".join(f"{r:.1f}" for r in rates) + " frames/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
