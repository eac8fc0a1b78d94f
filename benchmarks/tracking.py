"""Tracking quality on the synthetic AVA val set: IDF1 / HOTA against the AVA person ids.

For each val video, person boxes go through the same tracking pass as
``Detector.detect(track=True)`` (:func:`cofin_sdk.tracking.video_pass.track_people`; boxes
given per keyframe are tracked at the keyframes, 1 fps) and the track ids are scored by
trackeval (:func:`training.evaluation.tracking.tracking_metrics`) with the ground-truth
person ids (column 8 of ``ava_val_v2.2.csv``) as identities. Box sources, side by side:

* ``gt boxes``: the ground-truth boxes with their ids removed (tracking alone);
* ``detected boxes``: ``ava_val_predicted_boxes.csv`` (jittered boxes, misses, false
  positives), every score, ByteTrack's own low/high score split deciding;
* ``overlap oracle`` (a reference, not a tracker): the true ids, cut into a new id whenever
  a person's box does not overlap (IoU <= 0.3) their box on the previous keyframe - the best
  any association by position can do, since the generator re-places its actors at every
  shot cut (1-4 s shots) and nothing but appearance tells who is who across a cut.

No model runs: tracking does not depend on action scores.

    python benchmarks/tracking.py --data /tmp/bench2   # after: cofin synth --preset bench2 --out /tmp/bench2
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from cofin_sdk.formats.ava import AVA_TIME_OFFSET, read_ava_csv
from cofin_sdk.formats.boxes import box_iou, to_normalized
from cofin_sdk.io.sources import FileVideo
from cofin_sdk.person_detection import AvaCsvBoxes, GivenBoxes
from cofin_sdk.tracking.reid import REID_DISTANCE
from cofin_sdk.tracking.video_pass import track_people
from training.evaluation.tracking import Frames, ground_truth_frames, tracking_metrics


def _track(video: Path, person: object, keyframes: np.ndarray, reid: bool) -> dict[float, tuple]:
    source = FileVideo(video, None)
    options = {"reid_distance": REID_DISTANCE if reid else None}
    found = track_people(source, person, keyframes, track_fps=1.0, tracker_options=options)
    size = (source.meta.width, source.meta.height)
    out = {}
    for t in keyframes:
        boxes, _ = found(np.zeros(0), float(t))
        ids = found.ids_for(np.full(len(boxes), float(t)))
        keep = ids >= 0
        out[round(float(t), 4)] = (ids[keep], to_normalized(boxes[keep], size))
    return out


def overlap_oracle(keyframes: dict[float, tuple], min_iou: float = 0.3) -> dict[float, tuple]:
    """True ids, split at every keyframe where a person's box jumps (see the docstring)."""
    out, previous, current, next_id = {}, {}, {}, 0
    for t in sorted(keyframes):
        ids, boxes = keyframes[t]
        oracle = []
        for person, box in zip(ids.tolist(), boxes, strict=True):
            before = previous.get(person)
            if before is None or box_iou(before[None], box[None])[0, 0] <= min_iou:
                next_id += 1
                current[person] = next_id
            oracle.append(current[person])
        previous = dict(zip(ids.tolist(), boxes, strict=True))
        out[t] = (np.array(oracle, np.int64), boxes)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="cofin synth output folder")
    args = parser.parse_args()
    ann, videos = args.data / "ava" / "annotations", args.data / "ava" / "videos"
    gt_rows = read_ava_csv(ann / "ava_val_v2.2.csv", kind="groundtruth")
    gt = ground_truth_frames(gt_rows, time_offset=AVA_TIME_OFFSET)
    detected = AvaCsvBoxes(
        ann / "ava_val_predicted_boxes.csv", score_threshold=0.0, time_offset=AVA_TIME_OFFSET
    )
    predictions: dict[str, Frames] = defaultdict(dict)
    seconds: dict[str, float] = defaultdict(float)
    for video_id, keyframes in gt.items():
        path = videos / f"{video_id}.mp4"
        times = np.array(sorted(keyframes))
        given = GivenBoxes({t: keyframes[t][1] for t in times}, normalized=True)
        for boxes, person in (
            ("gt boxes", given),
            ("detected boxes", detected.for_video(video_id)),
        ):
            for reid in (False, True):
                name = f"{boxes}, ByteTrack" + (" + colour re-id" if reid else " only")
                start = time.perf_counter()
                predictions[name][video_id] = _track(path, person, times, reid)
                seconds[name] += time.perf_counter() - start
    predictions["overlap oracle"] = {v: overlap_oracle(k) for v, k in gt.items()}
    keyframes = sum(len(k) for k in gt.values())
    print(
        f"{len(gt)} val videos, {keyframes} keyframes, {sum(len(i) for k in gt.values() for i, _ in k.values())} person boxes"
    )
    print("| boxes | IDF1 | IDP | IDR | HOTA | DetA | AssA | tracking s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, pred in predictions.items():
        m = tracking_metrics(gt, pred)
        print(
            f"| {name} | **{m['IDF1']:.3f}** | {m['IDP']:.3f} | {m['IDR']:.3f} | {m['HOTA']:.3f} "
            f"| {m['DetA']:.3f} | {m['AssA']:.3f} | {seconds[name]:.1f} |"
        )


if __name__ == "__main__":
    main()
