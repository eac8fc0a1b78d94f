"""The demo in a real Chromium (Debian's, driven by Playwright; never `playwright install`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from demo.screenshot import CHROMIUM, capture

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", autouse=True)
def _needs_chromium() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra)")


def test_upload_run_and_the_annotated_video_plays(server, tmp_path):
    screenshot = tmp_path / "demo.png"
    state = capture(
        server.url,
        server.examples.videos[0],
        screenshot,
        timeout_s=60,
        user_data_dir=tmp_path / "profile",  # a fresh profile
    )
    assert state["readyState"] >= 2 and state["duration"] > 0
    assert state["height"] >= 360 and state["width"] > 0  # the upscaled annotated video
    assert state["src"].startswith(server.url) and state["src"].endswith("_annotated.mp4")
    assert state["person_timeline_width"] > 300  # the per-person Gantt chart was drawn
    assert screenshot.stat().st_size > 10_000
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _fake_camera_clip(path: Path) -> Path:
    """3 s of a bright block moving on grey, as the y4m file Chromium's fake camera loops."""
    import av
    import numpy as np

    with av.open(str(path), "w", format="yuv4mpegpipe") as container:
        stream = container.add_stream("rawvideo", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for t in range(30):
            image = np.full((240, 320, 3), 60, np.uint8)
            image[60:200, 8 * t : 8 * t + 50] = (220, 180, 140)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_live_tab_scores_the_fake_webcam(server, tmp_path):
    """The Live tab with Chromium's fake camera: webcam frames stream to Detector.stream and
    the page shows keyframe results (time, latency) and the annotated key frame."""
    from playwright.sync_api import sync_playwright

    from demo.screenshot import CHROMIUM_FLAGS

    camera = _fake_camera_clip(tmp_path / "camera.y4m")
    fake = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={camera}",
    ]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_FLAGS, *fake]
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(server.url)
            page.get_by_role("tab", name="Live").click()
            page.get_by_text("Click to Access Webcam").click()
            page.locator("#webcam button[aria-label='capture photo']").click()  # "Record"
            summary = page.locator("#live-summary textarea")
            page.wait_for_function(
                "() => document.querySelector('#live-summary textarea').value.includes('latency')",
                timeout=90_000,
            )
            text = summary.input_value()
            image = page.locator("#live-output img").get_attribute("src")
            page.screenshot(path=str(tmp_path / "live.png"))
        finally:
            browser.close()
    assert text.startswith("t = ") and "people" in text and "kinetics:" in text
    assert image
