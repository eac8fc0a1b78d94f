"""Pluggable person detectors: where the boxes that the action head classifies come from.

The action-detection head (Fast R-CNN style) classifies person boxes on each keyframe;
it does not find people itself. A person detector is any object with a ``name`` and a
``__call__(frame, timestamp=None) -> (boxes, scores)``:

* :class:`GivenBoxes` - boxes supplied by the caller (per timestamp, pixels or normalised);
* :class:`AvaCsvBoxes` - an AVA-format person-box CSV, how AVA users work;
* :class:`TorchvisionPersonDetector` - COCO Faster R-CNN ``person`` class, when its
  weights are on disk (never downloaded);
* :class:`HogPersonDetector` - the offline default, OpenCV's HOG people detector.

:func:`get_person_detector` turns a name, CSV path, detector or plain callable into one.
Every detector returns ``float32 [N, 4]`` ``x1, y1, x2, y2`` boxes in pixels of the frame
it was given (clipped to it) and ``float32 [N]`` scores in [0, 1], best first.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "AVA_TIME_OFFSET",
    "AvaCsvBoxes",
    "CallablePersonDetector",
    "GivenBoxes",
    "HogPersonDetector",
    "PersonBoxes",
    "PersonDetector",
    "TorchvisionPersonDetector",
    "get_person_detector",
    "nms",
]

#: AVA movie second of the first frame of the 15-minute cuts (keyframes 902...1798).
AVA_TIME_OFFSET = 900.0


class PersonBoxes(NamedTuple):
    """Output of a person detector (unpacks as ``boxes, scores = detector(frame)``)."""

    boxes: np.ndarray  # float32 [N, 4] x1, y1, x2, y2 pixels of the frame
    scores: np.ndarray  # float32 [N] in [0, 1]


@runtime_checkable
class PersonDetector(Protocol):
    """What the Detector needs from a person detector.

    ``timestamp`` is the keyframe time in seconds of the video; image detectors ignore
    it, look-up detectors (given boxes, CSV files) need it.
    """

    name: str

    def __call__(self, frame: np.ndarray, timestamp: float | None = None) -> PersonBoxes: ...


# --------------------------------------------------------------------------- helpers
def _check_image(frame: Any) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(
            f"frame must be a uint8 (H, W, 3) RGB array, got {frame.dtype} {frame.shape}"
        )
    return frame


def finalize_boxes(boxes: Any, scores: Any, frame_shape: tuple[int, ...]) -> PersonBoxes:
    """Validates detector output, clips boxes to the frame, drops empty boxes, sorts by score.

    Raises:
        ValueError: On wrong shapes, non-finite values or scores outside [0, 1].
    """
    boxes = (
        np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        if np.size(boxes) == 0
        else np.asarray(boxes, dtype=np.float32)
    )
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    if boxes.ndim != 2 or boxes.shape[1] != 4 or len(scores) != len(boxes):
        raise ValueError(
            f"person detector must return boxes [N, 4] and scores [N], got "
            f"{boxes.shape} and {scores.shape}"
        )
    if not (np.isfinite(boxes).all() and np.isfinite(scores).all()):
        raise ValueError("person detector returned NaN or infinite boxes/scores")
    if len(scores) and (scores.min() < 0 or scores.max() > 1):
        raise ValueError(f"person scores must be in [0, 1], got [{scores.min()}, {scores.max()}]")
    height, width = frame_shape[:2]
    boxes = np.clip(boxes, 0.0, np.array([width, height, width, height], dtype=np.float32))
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    boxes, scores = boxes[keep], scores[keep]
    order = np.argsort(-scores, kind="stable")
    return PersonBoxes(boxes[order], scores[order])


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of boxes kept by non-maximum suppression, best first (``torchvision.ops.nms``).

    Args:
        boxes: ``float [N, 4]`` ``x1, y1, x2, y2``.
        scores: ``float [N]``.
        iou_threshold: Boxes overlapping a better one with IoU above this are dropped.
    """
    import torch
    from torchvision.ops import nms as tv_nms

    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    keep = tv_nms(
        torch.as_tensor(boxes, dtype=torch.float32),
        torch.as_tensor(scores, dtype=torch.float32),
        float(iou_threshold),
    )
    return keep.numpy()


def _validate_box_array(boxes: Any, what: str, normalized: bool) -> np.ndarray:
    array = np.asarray(boxes, dtype=np.float32)
    if array.size == 0:
        array = array.reshape(0, 4)
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(
            f"{what}: boxes must have shape [N, 4] (x1, y1, x2, y2), got {array.shape}"
        )
    if not np.isfinite(array).all():
        raise ValueError(f"{what}: boxes contain NaN or infinite values")
    if ((array[:, 2] <= array[:, 0]) | (array[:, 3] <= array[:, 1])).any():
        raise ValueError(f"{what}: boxes must satisfy x2 > x1 and y2 > y1, got {array.tolist()}")
    if (array < 0).any() or (normalized and (array > 1).any()):
        limit = "[0, 1] (normalized=True)" if normalized else ">= 0 pixels"
        raise ValueError(f"{what}: box coordinates must be {limit}, got {array.tolist()}")
    return array


# ------------------------------------------------------------------ look-up detectors
class GivenBoxes:
    """Caller-supplied person boxes, per keyframe timestamp or the same for every frame.

    Args:
        boxes: ``{timestamp_seconds: [N, 4]}`` or a single ``[N, 4]`` used at every frame.
        scores: Same layout as ``boxes`` with ``[N]`` scores; default 1.0.
        normalized: Boxes are in [0, 1] of the frame instead of pixels.
        tolerance: A request at time ``t`` uses the given timestamp nearest to ``t``
            within this many seconds.
        missing: ``"error"`` (default) raises for a timestamp with no entry within
            ``tolerance``; ``"empty"`` returns no boxes.

    Raises:
        ValueError: On malformed boxes or scores (checked at construction), and at call
            time for pixel boxes outside the frame or a missing timestamp.

    Example:
        >>> import numpy as np
        >>> given = GivenBoxes({2.0: [[10, 10, 60, 120]]})
        >>> boxes, scores = given(np.zeros((240, 320, 3), np.uint8), timestamp=2.0)
        >>> boxes.tolist(), scores.tolist()
        ([[10.0, 10.0, 60.0, 120.0]], [1.0])
    """

    name = "given"

    def __init__(
        self,
        boxes: Mapping[float, Any] | Any,
        scores: Mapping[float, Any] | Any = None,
        *,
        normalized: bool = False,
        tolerance: float = 1e-3,
        missing: str = "error",
    ) -> None:
        if missing not in ("error", "empty"):
            raise ValueError(f"missing must be 'error' or 'empty', got {missing!r}")
        self.normalized, self.tolerance, self.missing = normalized, tolerance, missing
        self.per_timestamp = isinstance(boxes, Mapping)
        box_map = dict(boxes) if self.per_timestamp else {None: boxes}
        if scores is not None and isinstance(scores, Mapping) != self.per_timestamp:
            raise ValueError("scores must be a mapping exactly when boxes is a mapping")
        score_map = (
            (dict(scores) if self.per_timestamp else {None: scores}) if scores is not None else {}
        )
        self._entries: dict[float | None, PersonBoxes] = {}
        for key, value in box_map.items():
            what = "given boxes" if key is None else f"given boxes at t={key}"
            array = _validate_box_array(value, what, normalized)
            score = np.asarray(score_map.get(key, np.ones(len(array))), dtype=np.float32).reshape(
                -1
            )
            if (
                len(score) != len(array)
                or not np.isfinite(score).all()
                or (len(score) and (score.min() < 0 or score.max() > 1))
            ):
                raise ValueError(
                    f"{what}: scores must be {len(array)} values in [0, 1], got {score.tolist()}"
                )
            self._entries[None if key is None else float(key)] = PersonBoxes(array, score)
        self._times = np.array(sorted(k for k in self._entries if k is not None), dtype=np.float64)

    @property
    def timestamps(self) -> list[float]:
        """The timestamps boxes were given for (empty when the same boxes apply everywhere)."""
        return self._times.tolist()

    def _lookup(self, timestamp: float | None) -> PersonBoxes | None:
        if not self.per_timestamp:
            return self._entries[None]
        if timestamp is None:
            raise ValueError("GivenBoxes with per-timestamp boxes needs the keyframe timestamp")
        if len(self._times):
            nearest = float(self._times[np.argmin(np.abs(self._times - timestamp))])
            if abs(nearest - timestamp) <= self.tolerance:
                return self._entries[nearest]
        if self.missing == "error":
            raise ValueError(
                f"no given boxes for t={timestamp}s (given for {self.timestamps}; "
                "pass missing='empty' to allow keyframes without boxes)"
            )
        return None

    def __call__(self, frame: np.ndarray, timestamp: float | None = None) -> PersonBoxes:
        frame = _check_image(frame)
        entry = self._lookup(timestamp)
        if entry is None:
            return PersonBoxes(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
        height, width = frame.shape[:2]
        scale = np.array([width, height, width, height], dtype=np.float32)
        boxes = entry.boxes * scale if self.normalized else entry.boxes
        if not self.normalized and (boxes > scale + 0.01).any():
            raise ValueError(
                f"given boxes at t={timestamp} lie outside the {width}x{height} frame: "
                f"{boxes.tolist()} (normalised boxes? pass normalized=True)"
            )
        return finalize_boxes(boxes, entry.scores, frame.shape)

    def __repr__(self) -> str:
        where = f"{len(self._times)} timestamps" if self.per_timestamp else "every frame"
        return f"GivenBoxes({where}, normalized={self.normalized})"


def _parse_ava_row(row: list[str], where: str) -> tuple[str, float, np.ndarray, float]:
    if len(row) != 8:
        raise ValueError(
            f"{where}: expected 8 columns video_id,timestamp,x1,y1,x2,y2,action_id,score; "
            f"got {len(row)}: {','.join(row)!r}"
        )
    try:
        timestamp = float(row[1])
        box = np.array([float(v) for v in row[2:6]], dtype=np.float32)
        score = float(row[7])
    except ValueError:
        raise ValueError(
            f"{where}: non-numeric timestamp, box or score in {','.join(row)!r}"
        ) from None
    if not (math.isfinite(timestamp) and np.isfinite(box).all() and math.isfinite(score)):
        raise ValueError(f"{where}: NaN or infinite value in {','.join(row)!r}")
    if (box < 0).any() or (box > 1).any() or box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError(
            f"{where}: box must be normalised with 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1, "
            f"got {box.tolist()}"
        )
    if not 0.0 <= score <= 1.0:
        raise ValueError(
            f"{where}: score (column 8) must be in [0, 1], got {row[7]!r} "
            "(a ground-truth file has person ids there, not scores)"
        )
    return row[0].strip(), timestamp, box, score


class AvaCsvBoxes:
    """Person boxes from an AVA-format CSV (e.g. ``ava_val_predicted_boxes.csv``).

    Rows are ``video_id, timestamp, x1, y1, x2, y2, action_id, score`` with normalised
    boxes, the action column possibly empty and column 8 the detector score (the
    PySlowFast layout). A box repeated on several rows (one per action) is kept once,
    with its highest score.

    Args:
        path: CSV file.
        video_id: Which video's rows to use; may be omitted if the file has one video.
        score_threshold: Boxes scoring below this are dropped (0.8 is the AVA training
            convention; the paper evaluates AVA-Kinetics with 0.2).
        time_offset: CSV timestamp = video time + ``time_offset``. Use
            :data:`AVA_TIME_OFFSET` (900) for AVA's 15-minute cuts.
        tolerance: A request at video time ``t`` uses the CSV timestamp nearest to
            ``t + time_offset`` within this many seconds (0.5 = nearest integer second).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: For a malformed row (naming the file and line) or an unknown/ambiguous
            ``video_id``.

    Example:
        >>> import numpy as np, pathlib, tempfile
        >>> csv_path = pathlib.Path(tempfile.mkdtemp()) / "boxes.csv"
        >>> _ = csv_path.write_text("vid,902,0.1,0.2,0.5,0.9,,0.95\\n")
        >>> boxes = AvaCsvBoxes(csv_path, time_offset=AVA_TIME_OFFSET)
        >>> boxes(np.zeros((100, 200, 3), np.uint8), timestamp=2.0).boxes.tolist()
        [[20.0, 20.0, 100.0, 90.0]]
    """

    name = "ava_csv"

    def __init__(
        self,
        path: str | os.PathLike,
        video_id: str | None = None,
        *,
        score_threshold: float = 0.8,
        time_offset: float = 0.0,
        tolerance: float = 0.5,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"AVA person-box CSV not found: {self.path}")
        self.score_threshold, self.time_offset, self.tolerance = (
            score_threshold,
            time_offset,
            tolerance,
        )
        rows_by_video = self._read()
        if video_id is None:
            if len(rows_by_video) != 1:
                raise ValueError(
                    f"{self.path} has {len(rows_by_video)} videos "
                    f"({sorted(rows_by_video)[:5]}...); pass video_id="
                )
            video_id = next(iter(rows_by_video))
        if video_id not in rows_by_video:
            raise ValueError(
                f"video_id {video_id!r} not in {self.path} (has {sorted(rows_by_video)[:5]}...)"
            )
        self.video_id = video_id
        self._boxes: dict[float, PersonBoxes] = {}
        for timestamp, entries in sorted(rows_by_video[video_id].items()):
            best: dict[tuple[float, ...], float] = {}
            for box, score in entries:
                key = tuple(box.tolist())
                best[key] = max(score, best.get(key, -1.0))
            kept = [(k, s) for k, s in best.items() if s >= score_threshold]
            self._boxes[timestamp] = PersonBoxes(
                np.array([k for k, _ in kept], np.float32).reshape(-1, 4),
                np.array([s for _, s in kept], np.float32),
            )
        self._times = np.array(sorted(self._boxes), dtype=np.float64)
        self._warned = False

    def _read(self) -> dict[str, dict[float, list[tuple[np.ndarray, float]]]]:
        rows: dict[str, dict[float, list[tuple[np.ndarray, float]]]] = {}
        with self.path.open(newline="", encoding="utf-8") as handle:
            for line_number, row in enumerate(csv.reader(handle), start=1):
                if not row or all(not cell.strip() for cell in row):
                    continue
                video, timestamp, box, score = _parse_ava_row(row, f"{self.path}:{line_number}")
                rows.setdefault(video, {}).setdefault(timestamp, []).append((box, score))
        return rows

    @property
    def timestamps(self) -> list[float]:
        """Video times (CSV timestamp minus ``time_offset``) that have rows."""
        return (self._times - self.time_offset).tolist()

    def __call__(self, frame: np.ndarray, timestamp: float | None = None) -> PersonBoxes:
        frame = _check_image(frame)
        if timestamp is None:
            raise ValueError("AvaCsvBoxes needs the keyframe timestamp (seconds of the video)")
        target = timestamp + self.time_offset
        nearest = float(self._times[np.argmin(np.abs(self._times - target))])
        if abs(nearest - target) > self.tolerance:
            if not self._warned and not self._times[0] - 1 <= target <= self._times[-1] + 1:
                logger.warning(
                    "%s: no rows near t=%s (CSV time %s); the file covers %s..%s. Wrong "
                    "time_offset? AVA cuts need time_offset=%s",
                    self.path,
                    timestamp,
                    target,
                    self._times[0],
                    self._times[-1],
                    AVA_TIME_OFFSET,
                )
                self._warned = True
            return PersonBoxes(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
        entry = self._boxes[nearest]
        height, width = frame.shape[:2]
        scale = np.array([width, height, width, height], dtype=np.float32)
        return finalize_boxes(entry.boxes * scale, entry.scores, frame.shape)

    def __repr__(self) -> str:
        return (
            f"AvaCsvBoxes({str(self.path)!r}, video_id={self.video_id!r}, "
            f"score_threshold={self.score_threshold}, time_offset={self.time_offset})"
        )


# ------------------------------------------------------------------- image detectors
_TORCHVISION_ARCHITECTURES = {
    "fasterrcnn_resnet50_fpn_v2": "FasterRCNN_ResNet50_FPN_V2_Weights",
    "fasterrcnn_mobilenet_v3_large_fpn": "FasterRCNN_MobileNet_V3_Large_FPN_Weights",
    "fasterrcnn_mobilenet_v3_large_320_fpn": "FasterRCNN_MobileNet_V3_Large_320_FPN_Weights",
}
_COCO_PERSON = 1


class TorchvisionPersonDetector:
    """torchvision Faster R-CNN (COCO), keeping the ``person`` class (label 1).

    Weights are never downloaded. ``"DEFAULT"`` loads torchvision's COCO checkpoint from
    its cache, ``<torch.hub.get_dir()>/checkpoints/<file name of the official URL>``
    (the error message says exactly where to put it); a path loads a local state dict
    (``.pth`` with ``weights_only=True``, or ``.safetensors``); ``None`` builds a randomly
    initialised model, which is only useful to test plumbing (a warning says so).

    Args:
        weights: ``"DEFAULT"``, a path to a state dict, or ``None`` (random init).
        score_threshold: Person boxes scoring below this are dropped.
        device: Torch device string.
        architecture: One of ``fasterrcnn_resnet50_fpn_v2`` (default, most accurate),
            ``fasterrcnn_mobilenet_v3_large_fpn``, ``fasterrcnn_mobilenet_v3_large_320_fpn``.

    Raises:
        FileNotFoundError: If the weights are not on disk.
        ValueError: For an unknown architecture.

    Example:
        >>> import numpy as np, warnings
        >>> with warnings.catch_warnings():  # random weights warn; use "DEFAULT" for real use
        ...     warnings.simplefilter("ignore")
        ...     det = TorchvisionPersonDetector(
        ...         None, architecture="fasterrcnn_mobilenet_v3_large_320_fpn")
        >>> boxes, scores = det(np.zeros((120, 160, 3), np.uint8))
        >>> boxes.shape[1], boxes.dtype, scores.dtype
        (4, dtype('float32'), dtype('float32'))
    """

    name = "torchvision_frcnn"

    def __init__(
        self,
        weights: str | os.PathLike | None = "DEFAULT",
        score_threshold: float = 0.7,
        device: str = "cpu",
        architecture: str = "fasterrcnn_resnet50_fpn_v2",
    ) -> None:
        import torch
        from torchvision.models import detection

        if architecture not in _TORCHVISION_ARCHITECTURES:
            raise ValueError(
                f"unknown architecture {architecture!r}; choose one of "
                f"{sorted(_TORCHVISION_ARCHITECTURES)}"
            )
        self.architecture, self.score_threshold, self.device = architecture, score_threshold, device
        # weights_backbone=None: the builders' default would download ImageNet weights.
        model = getattr(detection, architecture)(
            weights=None, weights_backbone=None, num_classes=91
        )
        if weights is None:
            warnings.warn(
                "TorchvisionPersonDetector(weights=None) uses RANDOM weights: its boxes are "
                "meaningless (plumbing tests only)",
                UserWarning,
                stacklevel=2,
            )
        else:
            model.load_state_dict(self._load_state_dict(weights))
        self.weights = None if weights is None else str(weights)
        self.model = model.eval().to(device)
        self._torch = torch

    def _load_state_dict(self, weights: str | os.PathLike) -> dict[str, Any]:
        """Reads ``"DEFAULT"`` from torchvision's cache, or a ``.pth``/``.safetensors`` path.

        Raises:
            FileNotFoundError: If the file is not on disk.
            ValueError: If the file cannot be read as a state dict (corrupt, truncated,
                not a checkpoint), naming the file.
        """
        import torch
        from torchvision.models import detection

        if str(weights) == "DEFAULT":
            url = getattr(detection, _TORCHVISION_ARCHITECTURES[self.architecture]).DEFAULT.url
            path = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
            if not path.is_file():
                raise FileNotFoundError(
                    f"torchvision {self.architecture} COCO weights are not on disk; cofin never "
                    f"downloads them. Download {url} and save it as {path} (torchvision's cache), "
                    "or pass weights='/path/to/file.pth'. Use person_detector='hog' to run offline."
                )
        else:
            path = Path(weights)
            if not path.is_file():
                raise FileNotFoundError(f"person-detector weights not found: {path}")
        # Both loaders raise their own error types (SafetensorError, UnpicklingError,
        # KeyError, RuntimeError...) for a corrupt file; report one that names the file.
        try:
            if path.suffix == ".safetensors":
                from safetensors.torch import load_file

                state_dict = load_file(str(path))
            else:
                state_dict = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            raise ValueError(
                f"cannot read person-detector weights {path}: {type(error).__name__}: {error}. "
                "Expected a torchvision state dict saved with torch.save (.pth) or "
                "safetensors.torch.save_file (.safetensors)."
            ) from error
        if not isinstance(state_dict, Mapping):
            raise ValueError(
                f"person-detector weights {path} hold a {type(state_dict).__name__}, "
                "expected a state dict (name -> tensor)"
            )
        return dict(state_dict)

    def __call__(self, frame: np.ndarray, timestamp: float | None = None) -> PersonBoxes:
        torch = self._torch
        frame = _check_image(frame)
        image = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)  # (3, H, W) uint8
        with torch.inference_mode():
            output = self.model([image.to(self.device, torch.float32) / 255.0])[0]
        keep = (output["labels"] == _COCO_PERSON) & (output["scores"] >= self.score_threshold)
        return finalize_boxes(
            output["boxes"][keep].cpu().numpy(), output["scores"][keep].cpu().numpy(), frame.shape
        )

    def __repr__(self) -> str:
        return (
            f"TorchvisionPersonDetector({self.architecture}, weights={self.weights!r}, "
            f"score_threshold={self.score_threshold}, device={self.device!r})"
        )


class HogPersonDetector:
    """OpenCV's built-in HOG + linear-SVM people detector (Dalal-Triggs): offline default.

    Works with nothing downloaded, but is far weaker than a CNN: it finds upright,
    mostly full-body people and misses sitting or partly visible ones.

    The detection window is 64x128 px and a person fills about 96 px of its height, so
    people shorter than that are missed; frames whose height is below
    ``min_frame_height`` are therefore upscaled to it first (a 240-px frame becomes 480,
    finding people from ~50 px tall), and frames taller than ``max_frame_height`` are
    downscaled for speed. Boxes are mapped back to the original frame. Raw window hits
    (``groupThreshold=0``) are merged with :func:`nms` rather than OpenCV's grouping, so
    every box keeps its own score: ``sigmoid(svm_margin)``, a monotone squashing of the
    SVM decision value into [0, 1] (not a calibrated probability; 0.5 = on the margin).

    Args:
        score_threshold: Minimum ``sigmoid(margin)``; 0.7 keeps margins above ~0.85.
        nms_iou: IoU above which the weaker of two boxes is suppressed.
        win_stride: Window step in pixels (multiple of the 8-px block stride).
        padding: Padding added around the image, in pixels.
        scale: Image-pyramid scale factor (smaller = more scales, slower).
        min_frame_height: Upscale shorter frames to this height.
        max_frame_height: Downscale taller frames to this height.

    Example:
        >>> import numpy as np
        >>> boxes, scores = HogPersonDetector()(np.full((240, 320, 3), 200, np.uint8))
        >>> boxes.shape, scores.dtype
        ((0, 4), dtype('float32'))
    """

    name = "opencv_hog"

    def __init__(
        self,
        score_threshold: float = 0.7,
        nms_iou: float = 0.45,
        win_stride: tuple[int, int] = (8, 8),
        padding: tuple[int, int] = (8, 8),
        scale: float = 1.05,
        min_frame_height: int = 480,
        max_frame_height: int = 720,
    ) -> None:
        import cv2

        if not hasattr(cv2, "HOGDescriptor_getDefaultPeopleDetector"):
            raise ImportError(
                "this OpenCV build has no HOG people detector (removed in OpenCV 5); "
                'install "opencv-python-headless>=4.8,<5"'
            )
        if min_frame_height > max_frame_height:
            raise ValueError("min_frame_height must be <= max_frame_height")
        self.score_threshold, self.nms_iou = score_threshold, nms_iou
        self.win_stride, self.padding, self.scale = tuple(win_stride), tuple(padding), scale
        self.min_frame_height, self.max_frame_height = min_frame_height, max_frame_height
        self._cv2 = cv2
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def __call__(self, frame: np.ndarray, timestamp: float | None = None) -> PersonBoxes:
        cv2 = self._cv2
        frame = _check_image(frame)
        height = frame.shape[0]
        factor = 1.0
        if height < self.min_frame_height:
            factor = self.min_frame_height / height
        elif height > self.max_frame_height:
            factor = self.max_frame_height / height
        image = frame
        if factor != 1.0:
            size = (round(frame.shape[1] * factor), round(height * factor))
            image = cv2.resize(
                frame, size, interpolation=cv2.INTER_LINEAR if factor > 1 else cv2.INTER_AREA
            )
        rects, margins = self._hog.detectMultiScale(
            image,
            hitThreshold=0.0,
            winStride=self.win_stride,
            padding=self.padding,
            scale=self.scale,
            groupThreshold=0,
        )
        rects = np.asarray(rects, dtype=np.float32).reshape(-1, 4)
        margins = np.asarray(margins, dtype=np.float64).reshape(-1)
        scores = (1.0 / (1.0 + np.exp(-margins))).astype(np.float32)
        boxes = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1) / factor
        keep = scores >= self.score_threshold
        boxes, scores = boxes[keep], scores[keep]
        keep = nms(boxes, scores, self.nms_iou)
        return finalize_boxes(boxes[keep], scores[keep], frame.shape)

    def __repr__(self) -> str:
        return f"HogPersonDetector(score_threshold={self.score_threshold}, nms_iou={self.nms_iou})"


class CallablePersonDetector:
    """Adapts a plain function ``fn(frame) -> (boxes [N, 4] pixels, scores [N])``.

    Example:
        >>> import numpy as np
        >>> det = CallablePersonDetector(lambda frame: ([[0, 0, 10, 20]], [0.9]), name="mine")
        >>> det(np.zeros((32, 32, 3), np.uint8)).boxes.shape
        (1, 4)
    """

    def __init__(self, fn: Callable[[np.ndarray], Any], name: str | None = None) -> None:
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "custom")
        if self.name == "<lambda>":
            self.name = "custom"

    def __call__(self, frame: np.ndarray, timestamp: float | None = None) -> PersonBoxes:
        frame = _check_image(frame)
        output = self.fn(frame)
        try:
            boxes, scores = output
        except (TypeError, ValueError):
            raise ValueError(
                f"person detector {self.name!r} must return (boxes, scores), "
                f"got {type(output).__name__}"
            ) from None
        return finalize_boxes(boxes, scores, frame.shape)


def get_person_detector(
    detector: str | os.PathLike | PersonDetector | Callable | None = "hog", **kwargs: Any
) -> PersonDetector:
    """Builds a person detector from a name, a CSV path, a detector or a callable.

    Args:
        detector: ``"hog"`` / ``None`` (default, offline), ``"torchvision"`` (COCO Faster
            R-CNN from the local cache), a path to an AVA-format ``.csv`` (needs
            ``video_id=`` when the file has several videos), an object with ``name`` and
            ``__call__(frame, timestamp=None)``, or a plain ``fn(frame) -> (boxes, scores)``.
        **kwargs: Passed to the detector's constructor.

    Raises:
        ValueError: For an unknown name.

    Example:
        >>> get_person_detector("hog").name
        'opencv_hog'
    """
    if detector is None or detector == "hog":
        return HogPersonDetector(**kwargs)
    if detector == "torchvision":
        return TorchvisionPersonDetector(**kwargs)
    if isinstance(detector, (str, os.PathLike)):
        if str(detector).lower().endswith(".csv") or Path(detector).is_file():
            return AvaCsvBoxes(detector, **kwargs)
        raise ValueError(
            f"unknown person detector {str(detector)!r}: use 'hog', 'torchvision', "
            "a path to an AVA-format CSV, or a callable"
        )
    if kwargs:
        raise TypeError("keyword arguments are only used with a detector name or CSV path")
    if isinstance(getattr(detector, "name", None), str) and callable(detector):
        return detector  # type: ignore[return-value]
    if callable(detector):
        return CallablePersonDetector(detector)
    raise TypeError(
        f"person detector must be a name, CSV path or callable, got {type(detector).__name__}"
    )
