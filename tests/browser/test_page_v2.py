"""The page on a desktop (1280x800) and a phone (390x844) screen, in headless Chromium:
no result card overflows, labels never overlap, the video result stays hidden until
there is one, every control shows keyboard focus, no console errors, the in-browser
mode's threads, model cache and download progress, the video's person view.

Screenshots go to test-artifacts/browser/ (``v2-*.png``).
"""

from __future__ import annotations

import re
from itertools import combinations

import numpy as np
import pytest

from conftest import TEST_CLIP, clip_frames

VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}
CROWD = "deepface/selfie-many-people.jpg"
OVERFLOWS = """() => [...document.querySelectorAll(
      '.card, .video-result, .job, .legend, main, body')]
    .filter((e) => e.offsetParent !== null || e === document.body)
    .filter((e) => e.scrollWidth > e.clientWidth)
    .map((e) => `${e.className || e.tagName}: ${e.scrollWidth} > ${e.clientWidth}`)"""
LABEL_RECTS = "(c) => (c.faceLayout ? c.faceLayout.labels.map((l) => l.rect) : null)"
FRAMES = "Number(document.querySelector('#camera-stage').dataset.frames || 0)"


class Watched:
    """A page with its console errors, failed responses and requests recorded."""

    def __init__(self, browser, url: str, viewport: tuple[int, int]) -> None:
        width, height = viewport
        self.context = browser.new_context(
            viewport={"width": width, "height": height},
            device_scale_factor=1,
            has_touch=width < 500,
        )
        self.context.grant_permissions(["camera"], origin=url.rstrip("/"))
        self.page = self.context.new_page()
        self.page.set_default_timeout(120_000)
        self.errors: list[str] = []
        self.failed: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on(
            "response", lambda r: r.status >= 400 and self.failed.append(f"{r.status} {r.url}")
        )
        # every text the model-download line shows, for the progress check
        self.page.add_init_script(
            """new MutationObserver(() => {
                 const el = document.getElementById('model-load-text');
                 if (el) (window.__loadTexts ||= []).push(el.textContent);
               }).observe(document, {subtree: true, childList: true, characterData: true});"""
        )
        self.url = url

    def open(self, server_up: bool) -> None:
        self.page.goto(self.url)
        self.page.wait_for_selector(f"body[data-server={'up' if server_up else 'none'}]")

    def assert_clean(self) -> None:
        assert not self.errors, self.errors
        assert not self.failed, self.failed

    def close(self) -> None:
        self.context.close()


@pytest.fixture(params=list(VIEWPORTS))
def screen(request):
    return request.param


@pytest.fixture()
def served(browser, live_server, screen):
    watched = Watched(browser, live_server, VIEWPORTS[screen])
    watched.open(server_up=True)
    yield watched
    watched.close()


def overlaps(rects) -> list:
    out = []
    for a, b in combinations(rects, 2):
        w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
        h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
        if w > 0.01 and h > 0.01:
            out.append((a, b))
    return out


def assert_cards_fit(page) -> None:
    assert page.evaluate(OVERFLOWS) == []
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_images_fit_the_screen_and_labels_never_overlap(served, screen, shared_dir, artifacts):
    page = served.page
    photos = [shared_dir / "media" / p for p in (CROWD, "facenet_pytorch/multiface.jpg")]
    page.set_input_files("#image-input", [str(p) for p in photos])
    page.wait_for_function("!document.querySelector('.card[data-state=pending]')")
    states = page.eval_on_selector_all(
        ".card", "cs => cs.map((c) => c.dataset.state + ' ' + c.innerText.slice(0, 200))"
    )
    assert all(state.startswith("done") for state in states), states
    for canvas in page.query_selector_all(".card canvas"):
        rects = canvas.evaluate(LABEL_RECTS)
        assert rects, "every picture has labels"
        assert overlaps(rects) == []
        width, height = canvas.evaluate("c => [c.width, c.height]")
        assert all(x >= 0 and y >= 0 and x + w <= width and y + h <= height for x, y, w, h in rects)
    assert_cards_fit(page)
    text = page.inner_text("#image-results")
    assert re.search(r"(female|male)\??\s\d+% · age \d+ \(\d+–\d+, 80% range\)", text)
    assert "detection score 0." in text
    assert page.inner_text("#image-count") == "2 results"
    page.screenshot(path=artifacts / f"v2-images-{screen}.png", full_page=True)
    # the detection score shows on hover (or a tap on the phone)
    canvas = page.query_selector(".card canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    layout = canvas.evaluate("c => [c.width, c.faceLayout.boxes[0]]")
    scale = box["width"] / layout[0]
    x1, y1, x2, y2 = layout[1]
    point = (box["x"] + (x1 + x2) / 2 * scale, box["y"] + (y1 + y2) / 2 * scale)
    if screen == "phone":
        page.touchscreen.tap(*point)
    else:
        page.mouse.move(*point)
    tip = page.wait_for_selector(".picture .tip:not([hidden])")
    assert re.search(r"detection score 0\.\d\d", tip.inner_text())
    page.click("#image-clear")
    assert page.query_selector_all(".card") == []
    assert page.is_hidden("#image-bar")
    served.assert_clean()


def test_video_result_hidden_until_a_video_is_analysed(served, screen, artifacts):
    page = served.page
    page.click("#tab-video")
    assert page.is_visible("#video-drop")
    assert page.is_hidden("#video-result") and page.is_hidden("#video-summary")
    assert page.is_hidden("#video-player")
    page.screenshot(path=artifacts / f"v2-video-empty-{screen}.png", full_page=True)
    served.assert_clean()


def test_every_control_shows_keyboard_focus_and_tabs_follow_arrows(served, screen):
    page = served.page
    page.click("h1")  # start from the page, not the address bar
    seen = {}
    for _ in range(14):
        page.keyboard.press("Tab")
        focus = page.evaluate(
            """() => {
                const e = document.activeElement;
                const shown = e.closest('.drop, .mode label') || e;
                const style = getComputedStyle(shown);
                const ring = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
                return [e.id || e.tagName, ring];
            }"""
        )
        seen[focus[0]] = focus[1]
    for control in ("tab-images", "mode-server", "image-input", "SUMMARY"):
        assert control in seen, seen
    assert [name for name, ring in seen.items() if not ring and name != "BODY"] == []
    page.focus("#tab-images")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.id") == "tab-video"
    assert page.get_attribute("#tab-video", "aria-selected") == "true"
    assert page.is_visible("#panel-video") and page.is_hidden("#panel-images")
    page.keyboard.press("End")
    assert page.evaluate("document.activeElement.id") == "tab-camera"
    page.keyboard.press("ArrowRight")  # wraps around
    assert page.evaluate("document.activeElement.id") == "tab-images"
    page.keyboard.press("ArrowLeft")
    assert page.is_visible("#panel-camera")
    # keyboard focus stays on a control when the camera starts and stops
    for _ in range(4):  # past the mode radios to the panel
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "camera-start":
            break
    assert page.evaluate("document.activeElement.id") == "camera-start"
    page.keyboard.press("Enter")
    page.wait_for_function(f"{FRAMES} >= 1")
    assert page.evaluate("document.activeElement.id") == "camera-stop"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "camera-start"
    served.assert_clean()


def test_browser_mode_hints_footer_threads_and_layout(served, screen, shared_dir, artifacts):
    """Served by faceattrs: cross-origin isolated, so the in-browser mode runs threads."""
    page = served.page
    assert "megapixels" in page.inner_text("#image-hint")
    assert "no data leaves this server" in page.inner_text("footer")
    assert page.evaluate("crossOriginIsolated")
    page.check("#mode-browser")
    assert "in this browser" in page.inner_text("#image-hint")
    assert "40 megapixels" in page.inner_text("#image-hint")
    assert "in this browser" in page.inner_text("#video-hint")
    assert "nothing is uploaded" in page.inner_text("footer")
    page.set_input_files("#image-input", str(shared_dir / "media" / CROWD))
    card = page.wait_for_selector(".card[data-state=done]")
    assert card.get_attribute("data-mode") == "browser"
    threads = int(page.get_attribute("body", "data-threads"))
    cores = page.evaluate("navigator.hardwareConcurrency")
    assert threads == max(1, min(4, -(-cores // 2)))  # half the cores, at most 4
    assert f"{threads} WebAssembly thread" in page.inner_text("footer")
    texts = page.evaluate("window.__loadTexts || []")
    loading = r"(Downloading models \(\d+ MB\)|from this browser's cache)"
    assert any(re.search(loading, t) for t in texts), texts
    assert overlaps(card.query_selector("canvas").evaluate(LABEL_RECTS)) == []
    assert_cards_fit(page)
    page.screenshot(path=artifacts / f"v2-inbrowser-{screen}.png", full_page=True)
    # ?threads=3 asks for more threads than the rule gives: the page runs them
    page.goto(served.url + "?threads=3")
    page.wait_for_selector("body[data-server=up]")
    page.check("#mode-browser")
    page.set_input_files("#image-input", str(shared_dir / "media" / CROWD))
    card = page.wait_for_selector(".card[data-state=done]")
    assert page.get_attribute("body", "data-threads") == "3"
    assert card.get_attribute("data-faces") == str(len(card.evaluate("c => c.result.faces")))
    served.assert_clean()


def test_static_site_phone_in_browser_card_fits(browser, static_site, shared_dir, artifacts):
    """The static site on a phone (always in-browser): the title line wraps, nothing is
    cut off; models come from the browser's cache on the next visit."""
    watched = Watched(browser, static_site, VIEWPORTS["phone"])
    try:
        page = watched.page
        watched.open(server_up=False)
        assert not page.evaluate("crossOriginIsolated")  # python -m http.server: one thread
        page.set_input_files("#image-input", str(shared_dir / "media" / CROWD))
        card = page.wait_for_selector(".card[data-state=done]")
        assert page.get_attribute("body", "data-threads") == "1"
        texts = page.evaluate("window.__loadTexts || []")
        assert any(re.search(r"Downloading models \(\d+ MB\)… \d+%", t) for t in texts), texts
        assert "in this browser" in card.inner_text()
        title = card.query_selector(".card-title")
        assert title.evaluate("t => t.scrollWidth <= t.clientWidth")
        assert_cards_fit(page)
        assert overlaps(card.query_selector("canvas").evaluate(LABEL_RECTS)) == []
        page.screenshot(path=artifacts / "v2-static-phone.png", full_page=True)
        page.reload()
        page.wait_for_selector("body[data-server=none]")
        page.set_input_files("#image-input", str(shared_dir / "media" / CROWD))
        page.wait_for_selector(".card[data-state=done]")
        assert page.get_attribute("body", "data-models") == "cache"
        watched.assert_clean()
    finally:
        watched.close()


@pytest.fixture(scope="module")
def webm_clip(tmp_path_factory):
    """A two-second VP8 WebM of the test clip: a codec every Chromium build decodes."""
    import cv2

    path = tmp_path_factory.mktemp("webm") / "clip.webm"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"VP80"), 25, (640, 360))
    for bgr in clip_frames(50):
        writer.write(bgr)
    writer.release()
    return path


def check_person_view(page) -> None:
    """The overlay labels each face with its person's table row; every row has a crop."""
    rows = page.query_selector_all("#video-summary tbody tr[data-track]")
    if not TEST_CLIP.is_file():
        return
    assert rows, "the test clip has faces"
    assert page.get_attribute("#video-result", "data-overlay") == "true"
    for row in rows:
        assert row.query_selector("img.crop"), "each person has a face crop"
    page.evaluate("document.querySelector('#video-player').pause()")
    page.evaluate("document.querySelector('#video-player').currentTime = 1.0")
    page.wait_for_function("document.querySelector('#video-overlay').faceLayout")
    labels = page.evaluate(
        "document.querySelector('#video-overlay').faceLayout.labels.map((l) => l.text)"
    )
    table = {row.get_attribute("data-track"): row.inner_text() for row in rows}
    for text in labels:
        # "#N": person N's row; "track N": a track never embedded, a row of its own (1000 + N)
        named = re.match(r"(?:#(\d+)|track (\d+))", text)
        track = named.group(1) or str(1000 + int(named.group(2)))
        parts = text.split("  ", 1)
        if len(parts) == 2:  # a full label (not a chip): the row's gender and race
            gender, _age, race = parts[1].split(", ")
            assert gender in table[track] and race in table[track], (text, table[track])


def test_served_video_shows_people_with_their_table_labels(served, screen, webm_clip, artifacts):
    page = served.page
    page.click("#tab-video")
    page.set_input_files("#video-input", str(webm_clip))
    page.wait_for_selector("#video-result:not([hidden])", timeout=180_000)
    assert re.search(r"Done: \d+ frames? analysed", page.inner_text("#video-status"))
    check_person_view(page)
    assert_cards_fit(page)
    page.screenshot(path=artifacts / f"v2-video-{screen}.png", full_page=True)
    served.assert_clean()


def test_static_site_video_person_view(browser, static_site, webm_clip, artifacts):
    watched = Watched(browser, static_site, VIEWPORTS["phone"])
    try:
        page = watched.page
        watched.open(server_up=False)
        page.click("#tab-video")
        page.set_input_files("#video-input", str(webm_clip))
        page.wait_for_selector("#video-result:not([hidden])", timeout=300_000)
        assert "Done in this browser" in page.inner_text("#video-status")
        check_person_view(page)
        assert_cards_fit(page)
        page.screenshot(path=artifacts / "v2-static-video-phone.png", full_page=True)
        watched.assert_clean()
    finally:
        watched.close()


def test_js_label_layout_is_the_python_rule(static_page):
    """labels.js layoutLabels places labels exactly as drawing.py layout_labels does, and
    wrapLabel splits them as wrap_label does."""
    from collections import Counter

    from faceattrs.drawing import layout_labels, wrap_label

    rng = np.random.default_rng(2)
    kinds: Counter = Counter()
    for _ in range(40):
        count = int(rng.integers(1, 12))
        xy = rng.uniform(0, 300, (count, 2))
        side = rng.uniform(15, 80, (count, 1))
        boxes = np.concatenate([xy, xy + side], axis=1).round(1).tolist()
        widths = rng.uniform(40, 260, count).round(1).tolist()
        chip_widths = rng.uniform(10, 25, count).round(1).tolist()
        wrapped = np.array(widths) * rng.uniform(0.5, 0.7, count) * (rng.random(count) < 0.8)
        wrapped = wrapped.round(1).tolist()
        expected = layout_labels(boxes, widths, chip_widths, 14, 380, 380, wrapped)
        got = static_page.evaluate(
            "([b, w, c, t]) => layoutLabels(b, w, c, 14, 380, 380, t)",
            [boxes, widths, chip_widths, wrapped],
        )
        for (rect, kind), (js_rect, js_kind) in zip(expected, got, strict=True):
            assert js_kind == kind
            assert js_rect == pytest.approx(list(rect), abs=1e-6)
        kinds.update(kind for _, kind in expected)
    assert min(kinds.values()) > 10, kinds  # the cases exercise every kind of place
    text = "#3  female 90%, 27, asian? 58%, happy 70%"
    for measure in ("(s) => s.length", "(s) => s.replace(/[^%]/g, '').length * 10 + s.length"):
        got = static_page.evaluate(f"([t]) => wrapLabel(t, {measure})", [text])
        width = len if "replace" not in measure else lambda s: s.count("%") * 10 + len(s)
        assert tuple(got) == wrap_label(text, width)


def test_js_scene_cuts_match_python(static_page):
    """video.js bhattacharyya on 8x8x8 histograms of 64x36 thumbnails is OpenCV's, and a
    cut ends the tracks (the next face gets a new track id)."""
    import cv2

    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (36, 64, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 40, a.shape), 0, 255).astype(np.uint8)
    c = np.full_like(a, (30, 200, 90))
    hist = [cv2.calcHist([x], [0, 1, 2], None, [8, 8, 8], [0, 256] * 3) for x in (a, b, c)]
    expected = [cv2.compareHist(hist[0], h, cv2.HISTCMP_BHATTACHARYYA) for h in hist[1:]]

    def rgba(bgr):  # the page's channel order
        rgb = bgr[..., ::-1]
        return np.dstack([rgb, np.full(bgr.shape[:2], 255, np.uint8)]).ravel().tolist()

    got = static_page.evaluate(
        """async ([a, b, c]) => {
            const m = await import('./inbrowser/video.js');
            const h = [a, b, c].map((x) => m.colourHistogram(Uint8ClampedArray.from(x)));
            const cuts = new m.SceneCuts();
            const flags = [a, b, c].map((x) => cuts.isCutThumb(Uint8ClampedArray.from(x)));
            const tracker = new (await import('./inbrowser/tracking.js')).FaceTracker();
            const face = {box: [10, 10, 50, 50], score: 0.9, age: 30, age_interval: [25, 35],
                          gender_probs: {male: 0.5, female: 0.5}, race_probs: {white: 1}};
            const first = tracker.update([face], 0)[0].track_id;
            const same = tracker.update([face], 0.2)[0].track_id;
            tracker.cut();
            const after = tracker.update([face], 0.4)[0].track_id;
            return {d: [m.bhattacharyya(h[0], h[1]), m.bhattacharyya(h[0], h[2])], flags,
                    ids: [first, same, after]};
        }""",
        [rgba(a), rgba(b), rgba(c)],
    )
    assert got["d"] == pytest.approx(expected, abs=1e-6)
    assert got["flags"] == [False, expected[0] > 0.18, True]
    assert got["ids"] == [1, 1, 2]
