"""The official AVA frame-mAP evaluator (ActivityNet 2019 / 2020 protocol), vectorised.

Re-implements the protocol in ``../shared/AVA_PROTOCOL.md`` with numpy. For valid input
files, per-class APs and the mAP are bit-identical to the official
``get_ava_performance.py`` on the same numpy build (see :mod:`._ava_core` for how score
ties are reproduced). Choices worth knowing:

* Keyframes are identified by ``(video_id, timestamp rounded to microseconds)``;
  2019 files carry integer seconds, for which this equals the official ``int(ts)`` key.
* The evaluated classes come from the label map. Rows of other classes are dropped
  before the per-keyframe cap of 50 detections, exactly as the official reader does.
* Detections with ``x1 == x2`` or ``y1 == y2`` (zero area) count towards the cap and are
  then discarded (neither TP nor FP), as in the TF OD API's per-image evaluation.
* Input validation is stricter than the official tool (the rules of
  :mod:`cofin_sdk.formats.ava`): malformed rows, boxes breaking THE box rule (inverted,
  or outside [0, 1] by more than 1 %), action ids outside ``1..max label-map id`` and
  detections without a finite score raise ``ValueError`` naming file and line instead
  of being read silently. Tolerated overshoot is NOT clipped (the official tool does not
  clip either). Empty inputs and scores outside [0, 1] are logged as warnings.

Example:
    >>> result = evaluate_ava_files("ava_val_v2.2.csv", "detections.csv",
    ...     "ava_action_list_v2.2_for_activitynet_2019.pbtxt",
    ...     exclusions="ava_val_excluded_timestamps_v2.2.csv")  # doctest: +SKIP
    >>> print(f"mAP@0.5IOU = {result.mAP:.4f}")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cofin_sdk.formats.ava import (
    AvaRows,
    keyframe_micros,
    read_ava_csv,
    read_exclusions,
    read_label_map,
)

from ._ava_core import average_precision, keyframe_order, match_detections

logger = logging.getLogger(__name__)

__all__ = [
    "AvaRows",
    "AvaResult",
    "read_label_map",
    "read_ava_csv",
    "read_exclusions",
    "count_training_labels",
    "class_groups",
    "evaluate_ava",
    "evaluate_ava_files",
]

GROUPS = ("head", "mid", "tail")
MODES = ("2019", "2020")


@dataclass(frozen=True)
class AvaResult:
    """Per-class and summary results of an AVA evaluation.

    Attributes:
        class_ids: ``[C]`` evaluated action ids (label-map order, ascending).
        class_names: ``[C]`` their names.
        ap: ``float64[C]`` AP per class; NaN for classes without ground truth.
        num_groundtruth: ``int64[C]`` ground-truth boxes per class.
        num_detections: ``int64[C]`` detections per class after the cap.
        mAP: Mean AP over classes with ground truth.
        groups: ``[C]`` "head" / "mid" / "tail", or "" when no training counts were given.
        train_counts: ``int64[C]`` training labels per class (-1 when unknown).
        group_mAP: mAP per group (NaN for an empty group); empty without training counts.

    Example:
        >>> result = AvaResult(class_ids=[1], class_names=["bend/bow"], ap=[0.5],
        ...                    num_groundtruth=[3], num_detections=[7], mAP=0.5)
        >>> result.per_class()["bend/bow"]
        0.5
    """

    class_ids: Sequence[int]
    class_names: Sequence[str]
    ap: np.ndarray
    num_groundtruth: np.ndarray
    num_detections: np.ndarray
    mAP: float
    groups: Sequence[str] = ()
    train_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    group_mAP: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.class_ids)
        object.__setattr__(self, "ap", np.asarray(self.ap, dtype=np.float64))
        object.__setattr__(
            self, "num_groundtruth", np.asarray(self.num_groundtruth, dtype=np.int64)
        )
        object.__setattr__(self, "num_detections", np.asarray(self.num_detections, dtype=np.int64))
        if not self.groups:
            object.__setattr__(self, "groups", ("",) * n)
        if len(self.train_counts) == 0:
            object.__setattr__(self, "train_counts", np.full(n, -1, dtype=np.int64))
        for name in (
            "class_names",
            "ap",
            "num_groundtruth",
            "num_detections",
            "groups",
            "train_counts",
        ):
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"AvaResult.{name} has {len(getattr(self, name))} entries, expected {n}"
                )

    def per_class(self) -> dict[str, float]:
        """Class name → AP."""
        return {name: float(ap) for name, ap in zip(self.class_names, self.ap)}

    def to_dict(self) -> dict:
        """JSON-ready dictionary (NaN becomes ``None``)."""

        def clean(value: float) -> float | None:
            return None if np.isnan(value) else float(value)

        return {
            "mAP@0.5IOU": clean(self.mAP),
            "group_mAP": {k: clean(v) for k, v in self.group_mAP.items()},
            "classes": [
                {
                    "id": int(cid),
                    "name": name,
                    "ap": clean(ap),
                    "num_groundtruth": int(n_gt),
                    "num_detections": int(n_det),
                    "group": group,
                    "train_count": int(count),
                }
                for cid, name, ap, n_gt, n_det, group, count in zip(
                    self.class_ids,
                    self.class_names,
                    self.ap,
                    self.num_groundtruth,
                    self.num_detections,
                    self.groups,
                    self.train_counts,
                )
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> AvaResult:
        """Inverse of :meth:`to_dict` (``None`` APs become NaN)."""
        classes = data["classes"]

        def num(value: float | None) -> float:
            return float("nan") if value is None else float(value)

        return cls(
            class_ids=[c["id"] for c in classes],
            class_names=[c["name"] for c in classes],
            ap=[num(c["ap"]) for c in classes],
            num_groundtruth=[c["num_groundtruth"] for c in classes],
            num_detections=[c["num_detections"] for c in classes],
            mAP=num(data["mAP@0.5IOU"]),
            groups=tuple(c["group"] for c in classes),
            train_counts=np.asarray([c["train_count"] for c in classes], dtype=np.int64),
            group_mAP={k: num(v) for k, v in data.get("group_mAP", {}).items()},
        )

    @classmethod
    def from_json(cls, path: str | Path) -> AvaResult:
        """Reads a file written by :meth:`to_json`."""
        return cls.from_dict(json.loads(Path(path).read_text()))

    def to_json(self, path: str | Path | None = None) -> str:
        """Serialises to JSON; also writes it to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text


# --------------------------------------------------------------------------- head/mid/tail


def count_training_labels(train: AvaRows | str | Path, class_ids: Sequence[int]) -> dict[int, int]:
    """Counts ground-truth rows (labels) per action id in an AVA training CSV.

    Args:
        train: Training ground truth, as rows or a CSV path.
        class_ids: The ids to count (others are ignored).

    Returns:
        Action id → number of training labels (0 for ids that never occur).
    """
    rows = train if isinstance(train, AvaRows) else read_ava_csv(train, kind="groundtruth")
    labels = rows.labels[~rows.markers]
    counts = np.bincount(labels, minlength=max(class_ids) + 1)
    return {int(cid): int(counts[cid]) for cid in class_ids}


def class_groups(
    train_counts: Mapping[int, int],
    class_ids: Sequence[int],
    head_threshold: int = 10_000,
    tail_threshold: int = 1_000,
) -> dict[int, str]:
    """Assigns each class to the paper's frequency groups.

    Args:
        train_counts: Action id → training labels.
        class_ids: Ids to assign.
        head_threshold: Head classes have strictly more labels than this.
        tail_threshold: Tail classes have strictly fewer labels than this.

    Returns:
        Action id → "head" / "mid" / "tail".

    Raises:
        ValueError: If ``tail_threshold > head_threshold``.
    """
    if tail_threshold > head_threshold:
        raise ValueError(
            f"tail_threshold ({tail_threshold}) must be <= head_threshold ({head_threshold})"
        )
    groups = {}
    for cid in class_ids:
        count = train_counts.get(cid, 0)
        groups[cid] = (
            "head" if count > head_threshold else "tail" if count < tail_threshold else "mid"
        )
    return groups


# --------------------------------------------------------------------------- evaluation


def _frame_ids(
    detections: AvaRows, groundtruth: AvaRows, exclusions: Sequence[tuple[str, float]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shared keyframe ids; detection keyframes come first, in order of first appearance."""
    excl_names = np.array([str(v) for v, _ in exclusions], dtype=object)
    names = np.unique(
        np.concatenate([detections.video_names, groundtruth.video_names, excl_names]).astype(str)
    )
    codes = [
        np.searchsorted(names, rows.video_names.astype(str))[rows.video_codes]
        if len(rows)
        else np.zeros(0, np.int64)
        for rows in (detections, groundtruth)
    ]
    codes.append(np.searchsorted(names, excl_names.astype(str)).astype(np.int64))
    micros = [keyframe_micros(rows.timestamps) for rows in (detections, groundtruth)]
    micros.append(keyframe_micros([t for _, t in exclusions]))
    span = int(max((m.max() for m in micros if m.size), default=0)) + 1
    if span * len(names) >= 2**62:
        raise ValueError("timestamps too large to build keyframe keys (expected seconds < 1e9)")
    keys = np.concatenate([c * span + m for c, m in zip(codes, micros)])
    ids, _ = _factorize(keys)
    n_det, n_gt = len(detections), len(groundtruth)
    return ids[:n_det], ids[n_det : n_det + n_gt], ids[n_det + n_gt :]


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hash-based factorisation of int64 values (no sort): ``(ids, distinct values)``, both
    in order of first appearance."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = np.ascontiguousarray(values, dtype=np.int64)
    if values.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    array = pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])
    encoded = pc.dictionary_encode(array)  # (pa.array() would import pandas)
    indices, uniques = encoded.indices, encoded.dictionary
    ids = np.frombuffer(indices.buffers()[1], np.int32, len(indices), indices.offset)
    distinct = np.frombuffer(uniques.buffers()[1], np.int64, len(uniques), uniques.offset)
    return ids.astype(np.int64), distinct.copy()


def _first_use_order(frames: np.ndarray, n_frames: int) -> np.ndarray:
    """Renames keyframe ids so those in ``frames`` come first, by first appearance."""
    used = _factorize(frames)[1]
    rest = np.setdiff1d(np.arange(n_frames), used)
    rename = np.empty(n_frames, dtype=np.int64)
    rename[np.r_[used, rest]] = np.arange(n_frames)
    return rename


def _check_mode(mode: str, exclusions: Sequence, groundtruth: AvaRows) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "2020" and len(exclusions):
        raise ValueError("2020 mode has no exclusions file: empty keyframes are GT rows instead")
    if mode == "2019" and groundtruth.markers.any():
        row = int(np.flatnonzero(groundtruth.markers)[0]) + 1
        raise ValueError(f"ground truth row {row} has no box: keyframe-only rows need mode='2020'")


def _prepare(
    groundtruth: AvaRows,
    detections: AvaRows,
    class_ids: Sequence[int],
    exclusions: Sequence[tuple[str, float]],
    mode: str,
    cap: int | None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Filters both files as the protocol says and puts rows in official order."""
    det_frame, gt_frame, excl_frame = _frame_ids(detections, groundtruth, exclusions)
    n_frames = (
        int(max(det_frame.max(initial=-1), gt_frame.max(initial=-1), excl_frame.max(initial=-1)))
        + 1
    )
    dropped = np.zeros(n_frames, dtype=bool)
    if mode == "2019":
        dropped[excl_frame] = True
    else:  # 2020: only keyframes listed in the ground truth (with or without boxes) count
        dropped[:] = True
        dropped[gt_frame] = False
    evaluated = np.zeros(max(class_ids) + 1, dtype=bool)
    evaluated[class_ids] = True

    def used(rows: AvaRows) -> np.ndarray:
        labels = rows.labels
        keep = ~rows.markers & (labels < evaluated.size)
        return np.flatnonzero(keep & evaluated[np.where(keep, labels, 0)])

    def table(
        rows: AvaRows, frame: np.ndarray, idx: np.ndarray, capacity: int | None
    ) -> dict[str, np.ndarray]:
        def pick(values: np.ndarray) -> np.ndarray:  # all rows used: no 5M-row copies
            return values if idx.size == len(rows) else values[idx]

        order = keyframe_order(
            pick(frame), pick(rows.labels), pick(rows.boxes), pick(rows.scores), capacity
        )
        idx = idx[order]
        idx = idx[~dropped[frame[idx]]]
        return {
            "frame": frame[idx],
            "label": rows.labels[idx],
            "box": rows.boxes[idx],
            "score": rows.scores[idx],
        }

    det_idx = used(detections)
    # The official tool visits detection keyframes in order of their first evaluated row.
    rename = _first_use_order(det_frame[det_idx], n_frames)
    dropped[rename] = dropped.copy()
    det = table(detections, rename[det_frame], det_idx, cap)
    gt = table(groundtruth, rename[gt_frame], used(groundtruth), None)
    box = det["box"]
    valid = (box[:, 0] < box[:, 2]) & (box[:, 1] < box[:, 3])  # zero-area: discarded after the cap
    if not valid.all():
        logger.info("discarding %d zero-area detections", int((~valid).sum()))
        det = {k: v[valid] for k, v in det.items()}
    return gt, det


def evaluate_ava(
    groundtruth: AvaRows,
    detections: AvaRows,
    label_map: Mapping[int, str],
    *,
    exclusions: Sequence[tuple[str, float]] = (),
    mode: str = "2019",
    train_counts: Mapping[int, int] | None = None,
    head_threshold: int = 10_000,
    tail_threshold: int = 1_000,
    iou_threshold: float = 0.5,
    max_detections_per_keyframe: int | None = 50,
) -> AvaResult:
    """Frame-level AVA mAP of ``detections`` against ``groundtruth``.

    Args:
        groundtruth: Ground-truth rows (:func:`read_ava_csv` or :meth:`AvaRows.from_arrays`).
        detections: Detection rows, one per (box, class) with a score.
        label_map: Evaluated action id → name (e.g. the 60 classes of the 2019 map).
        exclusions: ``(video_id, seconds)`` keyframes to ignore (2019 mode only).
        mode: ``"2019"`` (exclusions; detections on keyframes without ground truth are
            false positives) or ``"2020"`` (only ground-truth keyframes, including
            keyframe-only rows, are evaluated; other detections are ignored).
        train_counts: Training labels per action id, for the head/mid/tail breakdown.
        head_threshold: Head classes have more training labels than this.
        tail_threshold: Tail classes have fewer training labels than this.
        iou_threshold: Matching threshold (inclusive).
        max_detections_per_keyframe: The official cap (highest scores kept); ``None``
            disables it.

    Returns:
        The :class:`AvaResult`.

    Raises:
        ValueError: For an unknown mode, exclusions in 2020 mode, keyframe-only ground
            truth rows in 2019 mode or an empty label map.
    """
    if not label_map:
        raise ValueError("label_map is empty: nothing to evaluate")
    _check_mode(mode, exclusions, groundtruth)
    class_ids = sorted(label_map)
    start = time.perf_counter()
    gt, det = _prepare(
        groundtruth, detections, class_ids, exclusions, mode, max_detections_per_keyframe
    )
    n_labels = max(class_ids) + 1
    tp = match_detections(
        det["frame"] * n_labels + det["label"],
        det["box"],
        gt["frame"] * n_labels + gt["label"],
        gt["box"],
        iou_threshold,
    )
    ap, n_gt, n_det = _per_class_ap(det, tp, gt["label"], class_ids)
    result = _build_result(
        label_map, class_ids, ap, n_gt, n_det, train_counts, head_threshold, tail_threshold
    )
    logger.info(
        "AVA evaluation (%s mode): mAP %.4f in %.2fs", mode, result.mAP, time.perf_counter() - start
    )
    return result


def _per_class_ap(
    det: dict[str, np.ndarray], tp: np.ndarray, gt_labels: np.ndarray, class_ids: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AP per class; detections stay in official order inside each class (stable split)."""
    by_class = np.argsort(det["label"], kind="stable")
    labels_sorted = det["label"][by_class]
    n_gt_all = np.bincount(gt_labels, minlength=max(class_ids) + 1)
    ap, n_gt, n_det = [], [], []
    for cid in class_ids:
        lo, hi = np.searchsorted(labels_sorted, [cid, cid + 1])
        rows = by_class[lo:hi]
        ap.append(average_precision(det["score"][rows], tp[rows], int(n_gt_all[cid])))
        n_gt.append(int(n_gt_all[cid]))
        n_det.append(int(hi - lo))
    return np.array(ap), np.array(n_gt), np.array(n_det)


def _nanmean_by_id(ap: np.ndarray, class_ids: Sequence[int]) -> float:
    """``np.nanmean`` over an id-indexed array, as the official tool sums it."""
    by_id = np.full(max(class_ids), np.nan)
    by_id[np.asarray(class_ids) - 1] = ap
    if np.isnan(by_id).all():
        return float("nan")
    return float(np.nanmean(by_id))


def _build_result(label_map, class_ids, ap, n_gt, n_det, train_counts, head, tail) -> AvaResult:  # noqa: ANN001
    names = [label_map[c] for c in class_ids]
    if train_counts is None:
        return AvaResult(class_ids, names, ap, n_gt, n_det, _nanmean_by_id(ap, class_ids))
    assignment = class_groups(train_counts, class_ids, head, tail)
    groups = [assignment[c] for c in class_ids]
    group_map = {}
    for group in GROUPS:
        members = [i for i, g in enumerate(groups) if g == group]
        values = ap[members]
        group_map[group] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    counts = np.array([train_counts.get(c, 0) for c in class_ids], dtype=np.int64)
    return AvaResult(
        class_ids, names, ap, n_gt, n_det, _nanmean_by_id(ap, class_ids), groups, counts, group_map
    )


def evaluate_ava_files(
    groundtruth: str | Path,
    detections: str | Path,
    labelmap: str | Path,
    *,
    exclusions: str | Path | None = None,
    mode: str = "2019",
    train_labels: str | Path | None = None,
    head_threshold: int = 10_000,
    tail_threshold: int = 1_000,
    exact_floats: bool = False,
) -> AvaResult:
    """Reads the standard AVA files and evaluates them (see :func:`evaluate_ava`).

    Args:
        groundtruth: Ground-truth CSV (``ava_val_v2.2.csv``).
        detections: Detections CSV.
        labelmap: Label map of the evaluated classes (2018 or 2019 ``.pbtxt``).
        exclusions: Excluded-timestamps CSV (2019 mode).
        mode: ``"2019"`` or ``"2020"``.
        train_labels: Training ground-truth CSV, for the head/mid/tail breakdown.
        head_threshold: Head classes have more training labels than this.
        tail_threshold: Tail classes have fewer training labels than this.
        exact_floats: Read with the line-by-line reference reader (Python's ``float()``,
            see :func:`read_ava_csv`): the same numbers, slower; a check.

    Returns:
        The :class:`AvaResult`.

    Raises:
        FileNotFoundError: If a file is missing.
        ValueError: For malformed files (naming file and line) or inconsistent options.
    """
    label_map, class_ids = read_label_map(labelmap)
    # Ids up to 80 are valid even if only 60 are evaluated; anything above the label
    # map's largest id (at least 80, the AVA action count) is rejected as unknown.
    max_id = max(max(class_ids), 80)
    markers = mode == "2020"
    options = {"allow_markers": markers, "max_class_id": max_id, "exact_floats": exact_floats}
    gt = read_ava_csv(groundtruth, kind="groundtruth", **options)
    det = read_ava_csv(detections, kind="detections", **options)
    excluded = read_exclusions(exclusions) if exclusions is not None else []
    _warn_about_inputs(groundtruth, gt, detections, det)
    counts = count_training_labels(train_labels, class_ids) if train_labels is not None else None
    return evaluate_ava(
        gt,
        det,
        label_map,
        exclusions=excluded,
        mode=mode,
        train_counts=counts,
        head_threshold=head_threshold,
        tail_threshold=tail_threshold,
    )


def _warn_about_inputs(
    gt_path: str | Path, gt: AvaRows, det_path: str | Path, det: AvaRows
) -> None:
    """One warning line each for inputs that are valid but probably not what was meant."""
    if not (~gt.markers).any():
        logger.warning("ground truth %s has no boxes: every AP will be NaN", gt_path)
    scores = det.scores[~det.markers]
    if scores.size == 0:
        logger.warning("detections %s are empty: every AP will be 0", det_path)
    elif scores.min() < 0 or scores.max() > 1:
        outside = int(((scores < 0) | (scores > 1)).sum())
        logger.warning(
            "%d detection scores in %s lie outside [0, 1] (min %g, max %g): AVA expects "
            "per-class probabilities; only their order matters for AP",
            outside, det_path, scores.min(), scores.max(),
        )  # fmt: skip
