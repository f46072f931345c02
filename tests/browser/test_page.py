"""The web page in real headless Chromium: images, a video and the fake camera.

Screenshots go to test-artifacts/browser/ (see conftest.py for the setup).
"""

from __future__ import annotations

import re

import pytest

from conftest import TEST_CLIP

# Colour of the first face's box on the page (app.js COLOURS[0]).
FIRST_COLOUR = (80, 200, 80)


def open_page(page, live_server):
    page.goto(live_server)
    page.wait_for_selector("#version:not(:empty)")


def test_page_explains_estimates_and_storage(page, live_server, artifacts):
    open_page(page, live_server)
    notice = page.inner_text("#notice")
    assert "perceived" in notice and "Nothing is stored" in notice
    assert page.get_attribute("#panel-video", "hidden") is not None
    page.screenshot(path=artifacts / "home.png", full_page=True)


def test_image_upload_draws_boxes_and_lists_probabilities(page, live_server, artifacts, shared_dir):
    open_page(page, live_server)
    photo = shared_dir / "media" / "face_recognition" / "two_people.jpg"
    with page.expect_response(re.compile(r"/api/v1/images$")) as response:
        page.set_input_files("#image-input", str(photo))
    result = response.value.json()["images"][0]
    assert result["faces"], "the detector should find the faces in two_people.jpg"
    card = page.wait_for_selector(".card[data-state=done]")
    assert int(card.get_attribute("data-faces")) == len(result["faces"])
    assert len(card.query_selector_all("li.face")) == len(result["faces"])
    bars = card.query_selector_all("li.face .probs .bar")
    widths = [len(f["gender_probs"]) + len(f["race_probs"]) + len(f.get("expression_probs", {}))
              for f in result["faces"]]  # fmt: skip
    # gender, race and expression probabilities
    assert len(bars) == sum(widths) == len(result["faces"]) * (2 + 5 + 7)
    # The first box's left edge, halfway down, is painted in the first face colour.
    x1, y1, x2, y2 = result["faces"][0]["box"]
    rgb = page.evaluate(
        """([x, y, w]) => {
            const canvas = document.querySelector('.card[data-state=done] canvas');
            const s = canvas.width / w;
            return Array.from(canvas.getContext('2d').getImageData(
                Math.round(x * s), Math.round(y * s), 1, 1).data.slice(0, 3));
        }""",
        [x1, (y1 + y2) / 2, result["width"]],
    )
    assert max(abs(a - b) for a, b in zip(rgb, FIRST_COLOUR, strict=True)) < 40, rgb
    page.screenshot(path=artifacts / "image.png", full_page=True)


def test_image_that_is_not_an_image_shows_the_error(page, live_server, artifacts, tmp_path):
    open_page(page, live_server)
    fake = tmp_path / "holiday.jpg"
    fake.write_text("not really a picture")
    page.set_input_files("#image-input", str(fake))
    card = page.wait_for_selector(".card[data-state=error]")
    assert "not a supported image" in card.inner_text()
    page.screenshot(path=artifacts / "image-error.png")


def test_video_upload_plays_annotated_video_with_summary(page, live_server, artifacts, short_clip):
    open_page(page, live_server)
    page.click("#tab-video")
    page.set_input_files("#video-input", str(short_clip))
    page.wait_for_selector("#video-progress")
    page.wait_for_selector("#video-result:not([hidden])", timeout=180_000)
    assert "Done" in page.inner_text("#video-status")
    # The annotated video decodes in Chromium (a WebM it can play, not mp4v).
    page.wait_for_function(
        "document.querySelector('#video-player').readyState >= 2", timeout=30_000
    )
    assert page.evaluate("document.querySelector('#video-player').videoWidth") > 0
    rows = page.query_selector_all("#video-summary tbody tr[data-track]")
    if TEST_CLIP.is_file():
        assert rows, "the test clip has faces, so the summary lists people"
    page.screenshot(path=artifacts / "video.png", full_page=True)


def test_camera_shows_live_boxes_and_stop_releases_it(page, live_server, artifacts):
    open_page(page, live_server)
    page.click("#tab-camera")
    page.click("#camera-start")
    page.wait_for_function(
        "Number(document.querySelector('#camera-stage').dataset.frames || 0) >= 5",
        timeout=60_000,
    )
    if TEST_CLIP.is_file():
        page.wait_for_function(
            "Number(document.querySelector('#camera-stage').dataset.faces || 0) >= 1",
            timeout=30_000,
        )
    assert re.search(r"\d+(\.\d)? fps", page.inner_text("#camera-fps"))
    page.screenshot(path=artifacts / "camera.png", full_page=True)
    page.click("#camera-stop")
    assert page.evaluate("document.querySelector('#camera-video').srcObject") is None
    assert page.get_attribute("#camera-stage", "hidden") is not None
    assert "released" in page.inner_text("#camera-status")


@pytest.mark.parametrize("path", ["docs", "health"])
def test_docs_and_health_are_served(page, live_server, path):
    response = page.goto(live_server + path)
    assert response.status == 200
