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
