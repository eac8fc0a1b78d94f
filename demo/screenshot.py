"""Drive the demo page in a real Chromium: upload, run, wait for playback, screenshot.

The browser test (``tests/demo/test_browser.py``) and the README's ``docs/demo.png``
use this same code path::

    python -m demo.screenshot --model cofin_quickstart/run/final --out docs/demo.png

Chromium is Debian's (``apt-get install chromium``), driven by Playwright's Python
package; ``playwright install`` is never needed (it downloads a browser).
"""

from __future__ import annotations

import argparse
import logging
import socket
import tempfile
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["CHROMIUM", "CHROMIUM_FLAGS", "capture", "free_port", "main"]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
VIEWPORT = {"width": 1280, "height": 900}

# True once the annotated <video> can play: decoded data for the current frame
# (readyState >= HAVE_CURRENT_DATA) and a known duration.
_VIDEO_READY = """() => {
  const video = document.querySelector('#output-video video');
  return video !== null && video.readyState >= 2 && video.duration > 0;
}"""
_PERSON_TIMELINE_WIDTH = """() => {
  const image = document.querySelector('#person-timeline img');
  return image === null ? 0 : image.naturalWidth;
}"""
_VIDEO_STATE = """() => {
  const v = document.querySelector('#output-video video');
  return {readyState: v.readyState, duration: v.duration, width: v.videoWidth,
          height: v.videoHeight, src: v.currentSrc};
}"""


_SEEK_MIDDLE = """() => new Promise((resolve) => {
  const video = document.querySelector('#output-video video');
  video.addEventListener('seeked', () => resolve(video.currentTime), {once: true});
  video.currentTime = video.duration / 2;
})"""


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def capture(
    url: str,
    video: str | Path,
    screenshot: str | Path,
    *,
    timeout_s: float = 60.0,
    user_data_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Loads the demo at ``url``, uploads ``video``, runs it and saves a full-page PNG.

    Args:
        url: The demo's address (``http://127.0.0.1:PORT/``).
        video: Video file to upload through the page's file input.
        screenshot: Where the PNG goes (page at 1280 px wide, saved with a 256-colour palette).
        timeout_s: Longest wait for the page, the upload and the result.
        user_data_dir: Fresh browser profile folder (default: a temporary one).

    Returns:
        The annotated ``<video>`` element's state: ``readyState``, ``duration``,
        ``width``, ``height``, ``src``.

    Raises:
        FileNotFoundError: If Chromium is not at :data:`CHROMIUM`.
        playwright.sync_api.TimeoutError: If the video never becomes playable.
    """
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(f"{CHROMIUM} not found: apt-get install -y chromium")
    timeout_ms = timeout_s * 1000
    with tempfile.TemporaryDirectory(prefix="cofin-chromium-") as fresh, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(user_data_dir or fresh),
            executable_path=CHROMIUM,
            args=list(CHROMIUM_FLAGS),
            headless=True,
            viewport=VIEWPORT,
        )
        try:
            page = context.new_page()
            page.set_default_timeout(timeout_ms)
            page.goto(url, wait_until="domcontentloaded")
            page.locator("#input-video input[type=file]").set_input_files(str(video))
            page.locator("#input-video video").wait_for(state="attached")  # upload shown
            page.locator("#run").click()
            page.wait_for_function(_VIDEO_READY, timeout=timeout_ms)
            page.locator("#timeline img").wait_for(state="visible")
            page.locator("#person-timeline img").wait_for(state="visible")
            page.evaluate(_SEEK_MIDDLE)  # a frame with people on it, for the picture
            state = page.evaluate(_VIDEO_STATE)
            state["person_timeline_width"] = page.evaluate(_PERSON_TIMELINE_WIDTH)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            context.close()
    _to_palette(Path(screenshot))
    logger.info("screenshot %s: annotated video %s", screenshot, state)
    return state


def _to_palette(png: Path) -> None:
    """Rewrites ``png`` with a 256-colour palette: a page screenshot shrinks ~3x, text stays sharp."""
    from PIL import Image

    with Image.open(png) as image:
        image = image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT, dither=0)
    image.save(png, optimize=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m demo.screenshot``: serve the demo locally, screenshot one example run."""
    from demo.app import CofinDemo, load_detector
    from demo.examples import ensure_examples

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="model folder or Hub repo id")
    parser.add_argument("--out", type=Path, default=Path("docs/demo.png"), help="PNG to write")
    parser.add_argument("--video", type=Path, help="video to upload (default: first example)")
    parser.add_argument("--examples-dir", type=Path, help="example clips cache folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    examples = ensure_examples(args.examples_dir)
    demo = CofinDemo(load_detector(args.model), model_name=str(args.model), examples=examples)
    port = free_port()
    demo.launch(host="127.0.0.1", port=port, prevent_thread_lock=True, quiet=True)
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        capture(f"http://127.0.0.1:{port}/", args.video or examples.videos[0], args.out)
    finally:
        demo.close()
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
