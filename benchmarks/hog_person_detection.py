"""HOG person detection on a downscaled frame (issue 21, item 4): time and box agreement.

``HogPersonDetector`` runs OpenCV's HOG people detector on the frame resized to a working
height (boxes scaled back to the frame). This compares working heights on the same frames
of OpenCV's sample ``vtest.avi`` (768 x 576, people walking; Debian ``opencv-doc``): the
frame's own height (576, what ``max_frame_height=720`` did before) against lower ones.
Times are medians over rounds, settings alternating within each round; agreement is with
the full-height boxes, matched one to one greedily by IoU >= 0.5 (precision = matched /
boxes of the setting, recall = matched / full-height boxes). Then the per-frame cache:
the Detector asks for the boxes of a keyframe once per call, and a second call on the same
frame (``detect`` then ``analyze``) is a look-up.

Example::

    python benchmarks/hog_person_detection.py --frames 12 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from cofin_sdk.formats.boxes import box_iou
from cofin_sdk.io.video import probe, read_frames_at
from cofin_sdk.person_detection import HogPersonDetector

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def agreement(reference: list[np.ndarray], boxes: list[np.ndarray]) -> tuple[float, float]:
    """(precision, recall) of ``boxes`` against ``reference``, greedy one-to-one IoU >= 0.5."""
    matched = found = expected = 0
    for ref, got in zip(reference, boxes, strict=True):
        found, expected = found + len(got), expected + len(ref)
        if not len(ref) or not len(got):
            continue
        iou = box_iou(got, ref)
        while iou.size and iou.max() >= 0.5:
            i, j = np.unravel_index(iou.argmax(), iou.shape)
            matched += 1
            iou[i, :], iou[:, j] = -1, -1
    return matched / max(found, 1), matched / max(expected, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=VTEST)
    parser.add_argument("--frames", type=int, default=12, help="frames spread over the video")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--settings",
        nargs="+",
        default=["576:1.05", "480:1.05", "576:1.1", "480:1.1", "576:1.2"],
        help="working height:pyramid scale pairs; the first is the reference",
    )
    args = parser.parse_args()
    if not args.video.is_file():
        raise SystemExit(f"{args.video} not found: apt-get install opencv-doc, or pass --video")
    info = probe(str(args.video))
    times = np.linspace(0.5, info.duration - 0.5, args.frames)
    frames = read_frames_at(str(args.video), times)
    detectors = {}
    for setting in args.settings:
        height, scale = setting.split(":")
        detectors[setting] = HogPersonDetector(
            min_frame_height=int(height),
            max_frame_height=int(height),
            scale=float(scale),
            cache_size=0,
        )
    seconds: dict[str, list[float]] = {h: [] for h in detectors}
    boxes: dict[str, list[np.ndarray]] = {}
    for r in range(args.rounds):
        for h in args.settings if r % 2 == 0 else args.settings[::-1]:
            start = time.perf_counter()
            boxes[h] = [detectors[h](frame).boxes for frame in frames]
            seconds[h].append((time.perf_counter() - start) / len(frames))
    full = args.settings[0]
    print(
        f"{args.video.name} {info.width}x{info.height}, {len(frames)} frames, {args.rounds} rounds"
    )
    print("| working height : pyramid scale | ms / frame | speed-up | boxes | precision | recall |")
    print("|---|---|---|---|---|---|")
    base = statistics.median(seconds[full])
    for h in args.settings:
        ms = statistics.median(seconds[h])
        precision, recall = agreement(boxes[full], boxes[h])
        print(
            f"| {h} | {1e3 * ms:.0f} | {base / ms:.2f}x | {sum(map(len, boxes[h]))} "
            f"| {precision:.2f} | {recall:.2f} |"
        )
    cached = HogPersonDetector()  # the default: working height and cache
    start = time.perf_counter()
    first = [cached(frame) for frame in frames]
    middle = time.perf_counter()
    again = [cached(frame) for frame in frames]
    end = time.perf_counter()
    assert all(np.array_equal(a.boxes, b.boxes) for a, b in zip(first, again, strict=True))
    print(
        f"default {cached!r}: first pass {1e3 * (middle - start) / len(frames):.0f} ms / frame, "
        f"same frames again {1e3 * (end - middle) / len(frames):.2f} ms / frame (cache)"
    )


if __name__ == "__main__":
    main()
