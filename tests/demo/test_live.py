"""The Live tab's session (demo/live.py) without a browser: webcam frames pushed at the
browser's pace go through Detector.stream, and the people keep their track ids."""

from __future__ import annotations

import time

from _fixtures import ColourPeople, crossing_frames, tiny_model

from cofin_sdk.detector import Detector
from demo.live import FRAME_EVERY_S, LiveSession


def test_live_session_tracks_people() -> None:
    model = tiny_model(heads={"ava": {"task": "detection", "num_classes": 3}}, image_size=32)
    detector = Detector(model, progress=False, person_detector=ColourPeople())
    fps = round(1 / FRAME_EVERY_S)
    session = LiveSession(detector)
    texts = []
    try:
        for frame in crossing_frames(fps=fps, seconds=4):  # 5 frames a second, as the browser
            _, text = session.push(frame)
            texts.append(text)
            time.sleep(FRAME_EVERY_S)
        deadline = time.monotonic() + 10
        while "t = 3.0 s" not in texts[-1] and time.monotonic() < deadline:
            time.sleep(0.1)
            texts.append(session.push(None)[1])
    finally:
        session.close()
    tracked = [t for t in texts if "tracks" in t]
    assert tracked and "#1" in tracked[0] and "#2" in tracked[0], texts
    # the same two ids all along (no third id: nobody was lost)
    assert not any("#3" in t for t in texts), texts
