"""AVA v2.2 and AVA-Kinetics detection datasets: one sample = one keyframe.

Layout read by :class:`AVADataset` (file names overridable, see its Args)::

    ROOT/annotations/ava_{split}_v2.2.csv                       ground truth
    ROOT/annotations/ava_{split}_excluded_timestamps_v2.2.csv   (optional)
    ROOT/annotations/ava_{split}_predicted_boxes.csv            person detections
    ROOT/annotations/ava_action_list_v2.2.pbtxt                 label map (2018 or 2019 form)
    ROOT/videos/<video_id>.mp4|mkv|webm                         movies, or
    ROOT/frames/<video_id>/<video_id>_%06d.jpg                  30-fps frames (PySlowFast)

Videos follow the "15-minute cut" convention by default (``time_offset=900``:
video time 0 is movie second 900, as in the frames PySlowFast extracts); pass
``time_offset=0`` for full-length movies.

Box sources (``boxes=``):

* ``"gt"``: ground-truth boxes with their labels;
* ``"detected"``: detector boxes with ``score >= detection_score_threshold``,
  each labelled by the GT box it overlaps most if IoU ≥ 0.5, else all-zero;
* ``"both"``: the union. Default for AVA training when a detection file exists:
  every GT label is kept even where the detector missed the person (tail classes
  are rare, we cannot afford to drop them) and the model also sees the detector's
  box distribution it is evaluated on (the paper trains on detections ≥ 0.8).

Evaluation (``train=False``) defaults to ``"detected"`` and also keeps keyframes
that have detections but no ground truth: the official evaluator scores those
detections as false positives. Keyframes without any box are dropped. Evaluation
samples also carry ``"frames"``: the same clip as the backends' input, ``uint8
(T, S, S, 3)`` letterboxed and channels-last (:func:`cofin_sdk.preprocessing.letterbox_frames`,
the pixels that ``"video"`` normalises).

Example:
    >>> from cofin_sdk.preprocessing import Preprocessing
    >>> ds = AVADataset("data/ava", "val", Preprocessing(image_size=224))   # doctest: +SKIP
    >>> sample = ds[0]; sample["boxes"].shape, sample["targets"].shape        # doctest: +SKIP
    (torch.Size([3, 4]), torch.Size([3, 80]))
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from cofin_sdk.formats.ava import AVA_TIME_OFFSET, read_label_map
from cofin_sdk.io.video import VideoInfo, clip_indices_at, probe, read_clip
from cofin_sdk.preprocessing import Preprocessing, letterbox_frames
from training.data._common import handle_missing, index_videos, no_samples, require_file
from training.data.ava_annotations import (
    BOX_SOURCES,
    BoxSource,
    Keyframe,
    build_keyframes,
    read_excluded_timestamps,
    read_ground_truth,
    read_person_boxes,
)
from training.data.transforms import AugmentationConfig, TrainAugmentation, prepare_clip

logger = logging.getLogger(__name__)

AVA_KEYFRAME_RANGE: tuple[int, int] = (902, 1798)
FRAME_FOLDER_FPS = 30.0
_KINETICS_CLIP = re.compile(r"^(?P<ytid>.+)_(?P<start>\d{6})_(?P<end>\d{6})$")


@dataclass(frozen=True)
class FrameFolder:
    """Extracted frames ``<folder>/<video_id>_%06d.jpg`` (1-based numbering, as ffmpeg writes)."""

    path: Path
    fps: float = FRAME_FOLDER_FPS


ClipSource = Path | FrameFolder


class ClipLocator(Protocol):
    """Finds the clip of a keyframe: ``(video_id, timestamp) -> (source, center_time)`` or ``None``."""

    where: str  # where videos are looked for (error messages)

    def __call__(self, video_id: str, timestamp: float) -> tuple[ClipSource, float] | None: ...


@lru_cache(maxsize=256)
def _count_frames(folder: Path) -> int:
    return sum(1 for name in os.listdir(folder) if name.endswith(".jpg"))


def read_frame_folder_clip(
    folder: FrameFolder,
    center_time: float,
    num_frames: int,
    frame_stride: int,
    placement: str = "centre",
) -> np.ndarray:
    """Read a clip from a folder of extracted frames with the shared clip sampler.

    Args:
        folder: The frame folder; file ``<video_id>_{index + 1:06d}.jpg`` is frame ``index``.
        center_time: Centre time (s) of the clip in the (cut) video.
        num_frames: Clip length T.
        frame_stride: Step between frames.
        placement: Keyframe placement, ``"centre"`` or ``"causal"`` (:mod:`cofin_sdk.clip_rule`).

    Returns:
        RGB ``uint8`` ``(T, H, W, 3)``.

    Raises:
        FileNotFoundError: The folder has no frames, or a frame cannot be read.
    """
    count = _count_frames(folder.path)
    if count == 0:
        raise FileNotFoundError(f"no .jpg frames in {folder.path}")
    indices = clip_indices_at(center_time, folder.fps, count, num_frames, frame_stride, placement)
    decoded: dict[int, np.ndarray] = {}
    for index in dict.fromkeys(indices.tolist()):
        path = folder.path / f"{folder.path.name}_{index + 1:06d}.jpg"
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"cannot read frame {path}")
        decoded[index] = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return np.stack([decoded[i] for i in indices.tolist()])  # (T, H, W, 3)


class _MovieLocator:
    """AVA movies: ``videos/<video_id>.<ext>`` or ``frames/<video_id>/``; video time = ts - offset."""

    def __init__(self, videos_dir: Path, frames_dir: Path, time_offset: float) -> None:
        self.videos = index_videos([videos_dir], recursive=False)
        self.frames_dir, self.time_offset = frames_dir, time_offset
        self.where = f"{videos_dir} (or frame folders in {frames_dir})"

    def __call__(self, video_id: str, timestamp: float) -> tuple[ClipSource, float] | None:
        time = float(timestamp) - self.time_offset
        if video_id in self.videos:
            return self.videos[video_id], time
        folder = self.frames_dir / video_id
        return (FrameFolder(folder), time) if folder.is_dir() else None


class _KineticsClipLocator:
    """AVA-Kinetics: ``<ytid>_<start:06d>_<end:06d>.mp4`` covering the keyframe; time = ts - start."""

    def __init__(self, videos_dir: Path) -> None:
        self.clips: dict[str, list[tuple[int, int, Path]]] = {}
        for stem, path in index_videos([videos_dir]).items():
            match = _KINETICS_CLIP.match(stem)
            if match:
                clip = (int(match["start"]), int(match["end"]), path)
                self.clips.setdefault(match["ytid"], []).append(clip)
        self.where = f"{videos_dir} (as <youtube_id>_<start:06d>_<end:06d>.mp4)"

    def __call__(self, video_id: str, timestamp: float) -> tuple[ClipSource, float] | None:
        for start, end, path in self.clips.get(video_id, []):
            if start <= float(timestamp) <= end:
                return path, float(timestamp) - start
        return None


def _load_label_map(path: Path) -> tuple[list[int], list[str]]:
    """Class ids (sorted) and names from a label-map pbtxt (both AVA forms)."""
    names, ids = read_label_map(require_file(path, "AVA label map"))
    return list(ids), [names[i] for i in ids]


class DetectionDataset(Dataset):
    """Keyframes + a locator of their clips → detection samples (shared by AVA and AVA-Kinetics).

    Args:
        keyframes: The samples (from :func:`build_keyframes`).
        locator: ``(video_id, timestamp) -> (source, center_time)`` or ``None`` if missing.
        class_ids: Label-map ids; target index = position in this list.
        class_names: Names matching ``class_ids``.
        preprocessing: Model preprocessing (image_size, num_frames, frame_stride, mean, std).
        train: Apply training augmentation.
        augmentation: Augmentation settings (default :class:`AugmentationConfig`).
        skip_missing: Drop samples of missing videos (with a warning) instead of raising.
        files: Annotation files, for error messages.
        filters: Description of the filters applied, for error messages.

    Raises:
        FileNotFoundError: Missing videos and ``skip_missing`` is ``False``.
        ValueError: No sample left.
    """

    def __init__(
        self,
        keyframes: list[Keyframe],
        locator: ClipLocator,
        class_ids: Sequence[int],
        class_names: Sequence[str],
        preprocessing: Preprocessing,
        train: bool,
        *,
        augmentation: AugmentationConfig | None = None,
        skip_missing: bool = False,
        files: Sequence[Path] = (),
        filters: str = "",
    ) -> None:
        self.class_ids, self.class_names = list(class_ids), list(class_names)
        self.num_classes = len(self.class_ids)
        self.preprocessing, self.train = preprocessing, train
        self.augmentation = TrainAugmentation(augmentation) if train else None
        self.sources: list[tuple[ClipSource, float]] = []  # parallel to self.keyframes
        self.keyframes = self._locate(keyframes, locator, skip_missing)
        if not self.keyframes:
            raise no_samples(files, filters)
        self._infos: dict[Path, VideoInfo] = {}

    def _locate(
        self, keyframes: list[Keyframe], locator: ClipLocator, skip_missing: bool
    ) -> list[Keyframe]:
        """Resolve every keyframe's clip source; apply the missing-video policy."""
        found, missing = [], []
        for frame in keyframes:
            located = locator(frame.video_id, frame.timestamp)
            if located is None:
                missing.append(frame.video_id)
                continue
            self.sources.append(located)
            found.append(frame)
        handle_missing(list(dict.fromkeys(missing)), locator.where, skip_missing)
        return found

    def __len__(self) -> int:
        return len(self.keyframes)

    def clip_source(self, index: int) -> tuple[ClipSource, float]:
        """Video file (or frame folder) of sample ``index`` and the keyframe's time in it (s)."""
        return self.sources[index]

    def read_frames(self, index: int) -> np.ndarray:
        """RGB ``uint8`` ``(T, H, W, 3)`` clip of sample ``index``, not resized (benchmark hook)."""
        source, center_time = self.clip_source(index)
        prep = self.preprocessing
        if isinstance(source, FrameFolder):
            return read_frame_folder_clip(
                source, center_time, prep.num_frames, prep.frame_stride, prep.keyframe
            )
        if source not in self._infos:  # probe once per video and worker
            self._infos[source] = probe(source)
        return read_clip(
            source,
            center_time,
            prep.num_frames,
            prep.frame_stride,
            info=self._infos[source],
            placement=prep.keyframe,
        )

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Sample ``index``: see the module docstring and ``collate_detection`` for the keys."""
        frame = self.keyframes[index]
        raw = self.read_frames(index)
        prepared = prepare_clip(raw, self.preprocessing, frame.boxes, self.augmentation)
        keep = prepared.keep.numpy()
        sample = {
            "video": prepared.video,  # (3, T, S, S)
            "boxes": prepared.boxes,  # (N, 4) input pixels
            "targets": torch.from_numpy(frame.targets[keep]),  # (N, C)
            "box_scores": torch.from_numpy(frame.scores[keep]),  # (N,)
            "boxes_norm": torch.from_numpy(frame.boxes[keep]),  # (N, 4) original-frame normalised
            "video_id": frame.video_id,
            "timestamp": frame.timestamp,
        }
        if not self.train:  # the evaluation runner feeds a Backend the inference input
            prep = self.preprocessing
            frames, _ = letterbox_frames(raw, prep.image_size, resize=prep.resize)
            sample["frames"] = torch.from_numpy(frames)  # (T, S, S, 3) uint8
        return sample


def _annotation(root: Path, given: str | os.PathLike[str] | None, default: str) -> Path:
    """``given`` (absolute, or relative to ``root/annotations``) or the default file name."""
    path = Path(given) if given is not None else Path(default)
    return path if path.is_absolute() else root / "annotations" / path


def _resolve_boxes(
    boxes: BoxSource | None, train: bool, train_default: BoxSource, detections: Path
) -> BoxSource:
    """Pick the box source: explicit, or the split's default (falls back to GT without detections)."""
    if boxes is not None:
        if boxes not in BOX_SOURCES:
            raise ValueError(f"boxes must be one of {BOX_SOURCES}, got {boxes!r}")
        return boxes
    chosen: BoxSource = train_default if train else "detected"
    if chosen != "gt" and not detections.is_file():
        if not train:
            raise FileNotFoundError(
                f"evaluation needs detected person boxes: {detections} not found (or pass boxes='gt')"
            )
        logger.info("%s not found; training on ground-truth boxes only", detections)
        return "gt"
    return chosen


class AVADataset(DetectionDataset):
    """AVA v2.2 keyframes (see the module docstring for layout and box sources).

    Args:
        root: Dataset folder (holding ``annotations/`` and ``videos/`` or ``frames/``).
        split: ``"train"`` or ``"val"`` (picks the default file names).
        preprocessing: Model preprocessing; default :class:`Preprocessing()`.
        train: Augment; default ``split == "train"``. Also selects the box defaults.
        boxes: ``"gt" | "detected" | "both"``; default ``"both"`` for training
            (``"gt"`` if no detection file), ``"detected"`` for evaluation.
        detection_score_threshold: Keep detections with ``score >=`` this (0.8 as PySlowFast).
        label_map: Label-map pbtxt (2018 ``item{}`` or 2019 ``label{}``); 80 classes by default.
        keyframe_range: Inclusive timestamp range, ``None`` for all (902…1798 for AVA).
        time_offset: Movie second at video time 0 (900 for 15-min cuts, 0 for full movies).
        gt_csv: Ground-truth CSV (default ``ava_{split}_v2.2.csv``).
        excluded_csv: Excluded timestamps (default ``ava_{split}_excluded_timestamps_v2.2.csv``,
            optional).
        detections_csv: Person boxes (default ``ava_{split}_predicted_boxes.csv``).
        augmentation: Training augmentation settings.
        skip_missing: Skip keyframes of missing videos (warning) instead of raising.
        iou_threshold: IoU for giving a detection the labels of a GT box.

    Raises:
        FileNotFoundError: Missing annotation files or videos (unless ``skip_missing``).
        ValueError: Malformed rows (file and line named) or no sample left.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        preprocessing: Preprocessing | None = None,
        train: bool | None = None,
        *,
        boxes: BoxSource | None = None,
        detection_score_threshold: float = 0.8,
        label_map: str | os.PathLike[str] = "ava_action_list_v2.2.pbtxt",
        keyframe_range: tuple[float, float] | None = AVA_KEYFRAME_RANGE,
        time_offset: float = AVA_TIME_OFFSET,
        gt_csv: str | os.PathLike[str] | None = None,
        excluded_csv: str | os.PathLike[str] | None = None,
        detections_csv: str | os.PathLike[str] | None = None,
        augmentation: AugmentationConfig | None = None,
        skip_missing: bool = False,
        iou_threshold: float = 0.5,
    ) -> None:
        root = Path(root)
        train = split == "train" if train is None else train
        gt_path = require_file(
            _annotation(root, gt_csv, f"ava_{split}_v2.2.csv"), "AVA ground-truth CSV"
        )
        excluded_path = _annotation(root, excluded_csv, f"ava_{split}_excluded_timestamps_v2.2.csv")
        det_path = _annotation(root, detections_csv, f"ava_{split}_predicted_boxes.csv")
        boxes = _resolve_boxes(boxes, train, "both", det_path)
        class_ids, class_names = _load_label_map(_annotation(root, label_map, ""))
        files = [gt_path] + [p for p in (excluded_path, det_path) if p.is_file()]
        keyframes = build_keyframes(
            read_ground_truth(gt_path),
            _read_detections(det_path, boxes, detection_score_threshold),
            class_ids,
            boxes,
            excluded=read_excluded_timestamps(excluded_path) if excluded_path.is_file() else (),
            keyframe_range=keyframe_range,
            include_unlabelled=not train,
            iou_threshold=iou_threshold,
        )
        filters = f"boxes={boxes!r}, detection_score_threshold={detection_score_threshold}, keyframe_range={keyframe_range}, excluded timestamps"
        locator = _MovieLocator(root / "videos", root / "frames", time_offset)
        super().__init__(
            keyframes, locator, class_ids, class_names, preprocessing or Preprocessing(), train,
            augmentation=augmentation, skip_missing=skip_missing, files=files, filters=filters,
        )  # fmt: skip


def _read_detections(path: Path, boxes: BoxSource, threshold: float) -> dict | None:
    if boxes == "gt":
        return None
    return read_person_boxes(require_file(path, "detected person-box CSV"), threshold)


class AVAKineticsDataset(DetectionDataset):
    """AVA-Kinetics' KineticsBox split: one annotated keyframe per 10-s Kinetics clip.

    Rows are AVA-format (``video_id`` = YouTube id, ``timestamp`` = keyframe second of
    the YouTube video); the clip ``videos/<ytid>_<start:06d>_<end:06d>.mp4`` starts at
    ``start``, so video time = timestamp - start. Ground-truth boxes for training and
    detections ≥ 0.2 for evaluation, as in the paper.

    Args:
        root: Folder with ``annotations/`` and ``videos/`` (searched recursively).
        split: ``"train"`` or ``"val"``.
        preprocessing: Model preprocessing.
        train: Augment; default ``split == "train"``.
        boxes: Box source; default ``"gt"`` for training, ``"detected"`` for evaluation.
        detection_score_threshold: Detection score filter (0.2).
        label_map: AVA label map (relative to ``root/annotations`` or absolute).
        gt_csv: Default ``kinetics_{split}_v1.0.csv``.
        excluded_csv: Optional, default ``kinetics_{split}_excluded_timestamps_v1.0.csv``.
        detections_csv: Default ``kinetics_{split}_predicted_boxes.csv``.
        augmentation: Training augmentation settings.
        skip_missing: Skip keyframes whose clip is missing instead of raising.
        iou_threshold: IoU for labelling detections.

    Raises:
        FileNotFoundError: Missing files or clips (unless ``skip_missing``).
        ValueError: Malformed rows or no sample left.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        preprocessing: Preprocessing | None = None,
        train: bool | None = None,
        *,
        boxes: BoxSource | None = None,
        detection_score_threshold: float = 0.2,
        label_map: str | os.PathLike[str] = "ava_action_list_v2.2.pbtxt",
        gt_csv: str | os.PathLike[str] | None = None,
        excluded_csv: str | os.PathLike[str] | None = None,
        detections_csv: str | os.PathLike[str] | None = None,
        augmentation: AugmentationConfig | None = None,
        skip_missing: bool = False,
        iou_threshold: float = 0.5,
    ) -> None:
        root = Path(root)
        train = split == "train" if train is None else train
        gt_path = require_file(
            _annotation(root, gt_csv, f"kinetics_{split}_v1.0.csv"), "AVA-Kinetics ground-truth CSV"
        )
        excluded_path = _annotation(
            root, excluded_csv, f"kinetics_{split}_excluded_timestamps_v1.0.csv"
        )
        det_path = _annotation(root, detections_csv, f"kinetics_{split}_predicted_boxes.csv")
        boxes = _resolve_boxes(boxes, train, "gt", det_path)
        class_ids, class_names = _load_label_map(_annotation(root, label_map, ""))
        keyframes = build_keyframes(
            read_ground_truth(gt_path),
            _read_detections(det_path, boxes, detection_score_threshold),
            class_ids,
            boxes,
            excluded=read_excluded_timestamps(excluded_path) if excluded_path.is_file() else (),
            include_unlabelled=not train,
            iou_threshold=iou_threshold,
        )
        filters = f"boxes={boxes!r}, detection_score_threshold={detection_score_threshold}"
        super().__init__(
            keyframes, _KineticsClipLocator(root / "videos"), class_ids, class_names,
            preprocessing or Preprocessing(), train, augmentation=augmentation,
            skip_missing=skip_missing, files=[gt_path], filters=filters,
        )  # fmt: skip
