"""``Detector``: the one facade applications use for action detection and clip classification.

Everything between a video and the network is shared with training: clips are sampled
with :func:`cofin_sdk.video.clip_indices_at` (as :func:`~cofin_sdk.video.read_clip`
does) and preprocessed with :func:`cofin_sdk.preprocessing.preprocess_clip`; person boxes
are mapped into the model input with the clip's :class:`~cofin_sdk.preprocessing.Letterbox`.
The network itself sits behind a :class:`~cofin_sdk.backends.Backend` (torch today;
onnxruntime / Triton later), which takes numpy clips and returns logits.

Streaming: keyframes are processed in time order in small decode groups; each group opens
the video, seeks, decodes only the frames its clips need (:func:`~cofin_sdk.video.read_frames_at`)
and is released before the next one, so memory is bounded by the group, not the video.
A group holds at most ``batch_size`` keyframes and at most ``_DECODE_BUDGET_BYTES`` of
decoded frames (1080p clips fall back to one keyframe per group).

Measured (CPU, torch 1 thread, idle 2-core machine; 30-s 320x240 25-fps H.264 video,
keyframes every 1 s = 30 clips, 2 given boxes each, tiny ``vivit_ti16_fe`` with 1+1 layers,
64 px, frame_stride 2, batch_size 8):

==========  ==================  =====================  ==================
num_frames  grouped decode      one decode per clip    peak RSS growth
==========  ==================  =====================  ==================
4           57-60 keyframes/s   53 keyframes/s         +28 MB
16          32 keyframes/s      26 keyframes/s         +95 MB
32          23 keyframes/s      14 keyframes/s         +158 MB (120-s video: +168 MB)
==========  ==================  =====================  ==================

Grouped decoding (this module) wins as soon as clips overlap, and memory does not grow
with video length. The HOG person detector adds ~34 ms per 320x240 keyframe. On a
loaded machine, torch's intra-op threads oversubscribe the cores (``preprocess_clip``
went from 0.15 ms to 46 ms per clip at load 6.7): use ``torch.set_num_threads(1)`` there.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from cofin_sdk._video_sources import ArrayVideo, FileVideo, VideoMeta, open_video
from cofin_sdk.backends import Backend, TorchBackend
from cofin_sdk.models.config import HeadSpec
from cofin_sdk.person_detection import GivenBoxes, PersonDetector, get_person_detector
from cofin_sdk.preprocessing import Letterbox, Preprocessing, preprocess_clip
from cofin_sdk.results import Classifications, Detections
from cofin_sdk.video import clip_indices_at, frame_times, spread_centre_indices

logger = logging.getLogger(__name__)

__all__ = ["Detector"]

#: Upper bound on decoded RGB frames held at once by one decode group.
_DECODE_BUDGET_BYTES = 256 * 2**20


# --------------------------------------------------------------------------- clips
@dataclasses.dataclass
class _Clip:
    """One preprocessed clip centred on a keyframe."""

    time: float
    clip: torch.Tensor  # (3, T, S, S) float32, normalised
    letterbox: Letterbox
    keyframe: np.ndarray  # (H, W, 3) uint8, the centre frame


def _clip_indices(time: float, meta: VideoMeta, prep: Preprocessing) -> np.ndarray:
    return clip_indices_at(time, meta.fps, meta.num_frames, prep.num_frames, prep.frame_stride)


def _decode_groups(
    times: np.ndarray, meta: VideoMeta, prep: Preprocessing, max_keyframes: int
) -> Iterator[np.ndarray]:
    """Splits sorted keyframe times into groups decoded together (bounded memory)."""
    clip_bytes = prep.num_frames * meta.width * meta.height * 3
    size = max(1, min(max_keyframes, _DECODE_BUDGET_BYTES // max(clip_bytes, 1)))
    for start in range(0, len(times), size):
        yield times[start : start + size]


def _iter_clips(
    video: ArrayVideo | FileVideo, times: np.ndarray, prep: Preprocessing, group_size: int
) -> Iterator[_Clip]:
    """Yields the preprocessed clip of each keyframe time, decoding group by group."""
    meta = video.meta
    for group in _decode_groups(times, meta, prep, group_size):
        indices = [_clip_indices(t, meta, prep) for t in group]
        frames = video.frames_at(np.unique(np.concatenate(indices)))
        for time, clip_indices in zip(group, indices, strict=True):
            clip_frames = np.stack([frames[int(i)] for i in clip_indices])  # (T, H, W, 3)
            clip, letterbox = preprocess_clip(clip_frames, prep)  # (3, T, S, S)
            keyframe = frames[int(clip_indices[prep.num_frames // 2])]
            yield _Clip(float(time), clip, letterbox, keyframe)
        del frames


def _batched(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# --------------------------------------------------------------------------- helpers
def _keyframe_times(
    meta: VideoMeta, every: float | None, timestamps: Any, person: PersonDetector
) -> np.ndarray:
    """Sorted keyframe times: given, the person boxes' own timestamps, or every ``every`` s."""
    slack = 0.5 / meta.fps  # the last frame "covers" half a frame period
    if timestamps is not None:
        times = np.unique(np.asarray(timestamps, dtype=np.float64).reshape(-1))
        if not times.size or not np.isfinite(times).all():
            raise ValueError(
                f"timestamps must be a non-empty list of finite seconds, got {timestamps!r}"
            )
        if times[0] < 0 or times[-1] > meta.last_time + slack:
            raise ValueError(
                f"timestamps must lie in the video, 0..{meta.last_time:.3f} s; got "
                f"{times[0]:g}..{times[-1]:g} s"
            )
        return times
    lookup = [t for t in getattr(person, "timestamps", None) or [] if t is not None]
    if every is None and lookup:
        times = np.unique(np.asarray(lookup, dtype=np.float64))
        inside = (times >= 0) & (times <= meta.last_time + slack)
        if not inside.all():
            logger.warning(
                "ignoring %d box timestamps outside the video (0..%.3f s)",
                int((~inside).sum()),
                meta.last_time,
            )
        if not inside.any():
            raise ValueError(
                f"none of the person-box timestamps {times[:5].tolist()}... lies in the video "
                f"(0..{meta.last_time:.3f} s); AVA CSVs of 15-min cuts need time_offset=900"
            )
        return times[inside]
    every = check_every(1.0 if every is None else every, meta.fps)
    return np.arange(0.0, meta.last_time + 1e-9, every)


_API_WORDS = {
    "head": "head=",
    "detection": "Detector.detect()",
    "classification": "Detector.classify()",
}


def resolve_head(
    heads: Mapping[str, HeadSpec],
    head: str | None,
    task: str,
    words: Mapping[str, str] = _API_WORDS,
) -> str:
    """THE head rule: ``head`` if it is a head of ``task``, else the first head of ``task``.

    Args:
        heads: ``{name: HeadSpec}`` of the weights.
        head: Requested head, or ``None`` for the first head of ``task``.
        task: ``"detection"`` or ``"classification"``.
        words: How the caller's interface names things in messages: ``"head"`` (the
            argument) and, per task, what to use instead (``Detector.detect()`` for the API,
            ``cofin detect`` for the CLI).

    Raises:
        ValueError: No head of ``task``, an unknown head, or a head of the other task.
    """
    listed = ", ".join(f"{name} ({spec.task})" for name, spec in heads.items())
    of_task = [name for name, spec in heads.items() if spec.task == task]
    arg = words["head"]
    if head is None:
        if not of_task:
            raise ValueError(f"these weights have no {task} head; their heads: {listed}")
        return of_task[0]
    if head not in heads:
        raise ValueError(f"{arg}{head!r}: no such head; the weights have {listed}")
    if heads[head].task != task:
        other = heads[head].task
        hint = f", or pass {arg}{of_task[0]!r}" if of_task else ""
        raise ValueError(f"{arg}{head!r} is a {other} head: use {words[other]} for it{hint}")
    return head


def check_every(every: Any, fps: float, name: str = "every=") -> float:
    """Keyframe spacing ``every`` (seconds) if valid for a ``fps`` video.

    Shorter than the frame period is an error: keyframes would repeat frames.

    Args:
        every: Spacing in seconds.
        fps: The video's frame rate.
        name: The argument as the caller's interface spells it (``"--every "`` for a CLI).

    Raises:
        ValueError: Not a positive number, or shorter than one frame period.
    """
    if isinstance(every, bool) or not (
        isinstance(every, (int, float)) and math.isfinite(every) and every > 0
    ):
        raise ValueError(f"{name}{every!r}: must be a positive number of seconds")
    period = 1.0 / fps
    if every < period * (1 - 1e-6):
        raise ValueError(
            f"{name}{every:g} is shorter than the frame period {period:.4g} s of this "
            f"{fps:g}-fps video, so keyframes would repeat frames; use {name}{period:.4g} or more"
        )
    return float(every)


def _given_boxes(boxes: Any, normalized: bool) -> GivenBoxes:
    """``boxes=`` of ``detect`` as a GivenBoxes (pixels unless ``normalized``)."""
    try:
        return GivenBoxes(boxes, normalized=normalized)
    except TypeError as exc:
        raise ValueError(f"detect(normalized=...): {exc}") from None


def _check_given(person: GivenBoxes, times: np.ndarray, meta: VideoMeta) -> None:
    """Checks given boxes at every keyframe before any decoding (detect() vocabulary)."""
    missing = [float(t) for t in times if not person.has(float(t))]
    if missing:
        raise ValueError(
            f"boxes= has no entry for keyframe(s) {missing[:5]} s (boxes are given for "
            f"{person.timestamps[:5]} s); give boxes for those times, or leave timestamps= and "
            "every= unset to use the boxes' own times"
        )
    blank = np.zeros((meta.height, meta.width, 3), np.uint8)
    for time in times:
        person(blank, float(time))


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return torch.sigmoid(torch.from_numpy(logits)).numpy()


def _softmax(logits: np.ndarray) -> np.ndarray:
    return torch.softmax(torch.from_numpy(logits), dim=-1).numpy()


def _class_names(spec: HeadSpec) -> tuple[str, ...]:
    if spec.class_names:
        return tuple(spec.class_names)
    ids = spec.class_ids or range(1, spec.num_classes + 1)
    return tuple(f"class_{i}" for i in ids)


# --------------------------------------------------------------------------- facade
class Detector:
    """Person-box action detection and clip classification with co-finetuned weights.

    ``detect`` streams: memory stays bounded on long videos (measured on a 30-s 320x240
    video with a tiny model: 23-60 keyframes/s on one CPU thread, +28..158 MB peak RSS,
    the same for a 120-s video; see the module docstring).

    Args:
        model_or_backend: A :class:`~cofin_sdk.models.ViViT` (run with
            :class:`~cofin_sdk.backends.TorchBackend` on ``device``) or any
            :class:`~cofin_sdk.backends.Backend`.
        person_detector: Default person-box source for :meth:`detect`: ``"hog"``
            (offline OpenCV HOG), ``"torchvision"`` (COCO Faster R-CNN from the local
            cache), an AVA-format CSV path, a :class:`~cofin_sdk.person_detection.PersonDetector`
            or a callable ``fn(frame) -> (boxes, scores)``. Built on first use.
        device: Torch device for a model (ignored for a ready backend).
        batch_size: Keyframes (clips) per forward pass.
        progress: Show tqdm progress bars.

    Raises:
        TypeError: If ``model_or_backend`` is neither a model nor a backend.
        ValueError: If ``batch_size < 1``.

    Example:
        >>> import numpy as np
        >>> from cofin_sdk import create_model
        >>> model = create_model("vivit_ti16_fe", spatial_depth=1, temporal_depth=1,
        ...     num_frames=4, image_size=32,
        ...     heads={"ava": {"task": "detection", "num_classes": 2,
        ...                    "class_names": ["stand", "sit"]},
        ...            "k400": {"task": "classification", "num_classes": 3}})
        >>> detector = Detector(model, progress=False)
        >>> frames = np.zeros((50, 48, 64, 3), np.uint8)  # 2 s at 25 fps
        >>> result = detector.detect(frames, fps=25, boxes=[[8, 4, 40, 44]])
        >>> len(result), result.class_names, result.timestamps.tolist()
        (2, ('stand', 'sit'), [0.0, 1.0])
        >>> detector.classify(frames, fps=25, head="k400").num_clips
        1
    """

    def __init__(
        self,
        model_or_backend: Any,
        *,
        person_detector: Any = "hog",
        device: str = "cpu",
        batch_size: int = 8,
        progress: bool = True,
    ) -> None:
        if isinstance(model_or_backend, torch.nn.Module):
            model_or_backend = TorchBackend(model_or_backend, device)
        if not isinstance(model_or_backend, Backend):
            raise TypeError(
                "Detector needs a cofin ViViT model or a Backend (heads, preprocessing, "
                f"classify(), detect()), got {type(model_or_backend).__name__}"
            )
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self.backend: Backend = model_or_backend
        self.batch_size = batch_size
        self.progress = progress
        self._person_spec = person_detector
        self._person: PersonDetector | None = None

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        *,
        device: str = "cpu",
        revision: str | None = None,
        **kwargs: Any,
    ) -> Detector:
        """Loads weights saved with ``save_pretrained`` (a folder or a Hub repo id).

        Labels and preprocessing come from the weights' ``config.json``.

        Args:
            name_or_path: Local folder or Hugging Face Hub repo id (from the local cache).
            device: Torch device.
            revision: Hub revision.
            **kwargs: ``person_detector``, ``batch_size``, ``progress`` (see the class).

        Raises:
            FileNotFoundError: If the folder or cached repo does not exist.
        """
        from cofin_sdk.models import from_pretrained

        model = from_pretrained(name_or_path, revision=revision)
        return cls(model, device=device, **kwargs)

    # ------------------------------------------------------------------ metadata
    @property
    def heads(self) -> dict[str, HeadSpec]:
        """``{name: HeadSpec}`` of every head the weights have."""
        return dict(self.backend.heads)

    @property
    def preprocessing(self) -> Preprocessing:
        """The preprocessing the weights expect (image size, frames, stride, mean/std)."""
        return self.backend.preprocessing

    def _head(self, head: str | None, task: str) -> tuple[str, HeadSpec]:
        """Resolves ``head`` (default: the first head of ``task``) and checks its task."""
        name = resolve_head(self.backend.heads, head, task)
        return name, self.backend.heads[name]

    def _person_detector(self, boxes: Any, override: Any, normalized: bool) -> PersonDetector:
        if boxes is not None:
            if override is not None:
                raise ValueError("pass either boxes= or person_detector=, not both")
            return _given_boxes(boxes, normalized)
        if normalized:
            raise ValueError("normalized=True describes boxes=; it needs boxes=")
        if override is not None:
            return get_person_detector(override)
        if self._person is None:
            self._person = get_person_detector(self._person_spec)
        return self._person

    def _progress(self, total: int, desc: str) -> Any:
        return tqdm(total=total, desc=desc, unit="clip", disable=not self.progress, leave=False)

    # ------------------------------------------------------------------ detection
    def detect(
        self,
        video: Any,
        *,
        every: float | None = None,
        timestamps: Sequence[float] | None = None,
        boxes: Mapping[float, Any] | Any = None,
        threshold: float | None = None,
        head: str | None = None,
        fps: float | None = None,
        person_detector: Any = None,
        normalized: bool = False,
    ) -> Detections:
        """Detects people on keyframes and scores their actions (multi-label, sigmoid).

        Args:
            video: Path, PyAV-readable binary file object, or ``uint8 (T, H, W, 3)`` RGB
                array (then ``fps`` is required).
            every: Keyframe spacing in seconds (default 1.0, from t = 0); shorter than
                the video's frame period is an error (keyframes would repeat frames).
            timestamps: Explicit keyframe times in seconds (overrides ``every``).
            boxes: Person boxes instead of a person detector: ``{time_s: [N, 4]}`` (the
                keyframes default to these times) or one ``[N, 4]`` array used at every
                keyframe. ``x1, y1, x2, y2`` in pixels of the original frame (or
                fractions of it with ``normalized=True``; never guessed).
            threshold: Reporting threshold stored in the result (hides low actions in
                labels and drawings; no score is dropped). Default 0.
            head: Detection head (default: the first detection head).
            fps: Frame rate of an array ``video``.
            person_detector: Overrides the Detector's person detector for this call. An
                :class:`~cofin_sdk.person_detection.AvaCsvBoxes` without ``video_id`` is
                applied to this video's rows only (its file name without extension).
            normalized: ``boxes`` are fractions ``[0, 1]`` of the frame, not pixels.

        Returns:
            :class:`~cofin_sdk.results.Detections` with boxes in original-frame pixels.

        Raises:
            ValueError: Unknown head, classification head, bad boxes, video without
                frames, bad array, missing ``fps``, times outside the video.
            TypeError: Unsupported video type.
        """
        head_name, spec = self._head(head, "detection")
        person = self._person_detector(boxes, person_detector, normalized)
        with open_video(video, fps) as source:
            meta = source.meta
            if hasattr(person, "for_video"):  # a box file is applied only to its own video
                person = person.for_video(meta.video_id)
            times = _keyframe_times(meta, every, timestamps, person)
            if isinstance(person, GivenBoxes):  # fail before decoding anything
                _check_given(person, times, meta)
            template = Detections.empty(
                _class_names(spec),
                (meta.width, meta.height),
                class_ids=spec.class_ids,
                video_id=meta.video_id,
                detector=person.name,
                threshold=threshold or 0.0,
            )
            parts = self._detect_stream(source, times, person, head_name, template)
        result = Detections.merge([template, *parts])
        logger.info(
            "detect: %d keyframes, %d person boxes (%s)", len(times), len(result), person.name
        )
        return result

    def _detect_stream(
        self,
        source: ArrayVideo | FileVideo,
        times: np.ndarray,
        person: PersonDetector,
        head: str,
        template: Detections,
    ) -> list[Detections]:
        prep = self.preprocessing
        parts = []
        with self._progress(len(times), "detect") as bar:

            def with_people() -> Iterator[tuple[_Clip, Any]]:
                for clip in _iter_clips(source, times, prep, self.batch_size):
                    people = person(clip.keyframe, clip.time)
                    bar.update(1)
                    if len(people.boxes):  # no person, nothing to classify
                        yield clip, people

            for batch in _batched(with_people(), self.batch_size):
                parts.append(self._detect_batch(batch, head, template))
        return parts

    def _detect_batch(
        self, batch: list[tuple[_Clip, Any]], head: str, template: Detections
    ) -> Detections:
        video = torch.stack([clip.clip for clip, _ in batch]).numpy()  # (B, 3, T, S, S)
        rois = [
            np.column_stack(
                [
                    np.full(len(people.boxes), b, np.float32),
                    clip.letterbox.pixels_to_input(people.boxes),
                ]
            )
            for b, (clip, people) in enumerate(batch)
        ]
        logits = self.backend.detect(video, np.concatenate(rois).astype(np.float32), head)
        return dataclasses.replace(
            template,
            boxes=np.concatenate([people.boxes for _, people in batch]),
            person_scores=np.concatenate([people.scores for _, people in batch]),
            action_scores=_sigmoid(logits),
            timestamps=np.concatenate([np.full(len(p.boxes), c.time) for c, p in batch]),
        )

    # ------------------------------------------------------------------ classification
    def classify(
        self,
        video: Any,
        *,
        head: str | None = None,
        top_k: int = 5,
        num_clips: int = 1,
        fps: float | None = None,
    ) -> Classifications:
        """Classifies the whole video with a classification head (softmax, clips averaged).

        Args:
            video: Path, PyAV-readable binary file object, or ``uint8 (T, H, W, 3)`` array.
            head: Classification head (default: the first classification head).
            top_k: How many labels to log (read them with ``result.top_k(k)``).
            num_clips: Clips evenly spaced over the video (centres at
                ``(i + 0.5) / num_clips`` of its length); probabilities are averaged.
            fps: Frame rate of an array ``video``.

        Returns:
            :class:`~cofin_sdk.results.Classifications` with per-clip probabilities.

        Raises:
            ValueError: Unknown or detection head, bad ``top_k``/``num_clips``, bad video.
        """
        head_name, spec = self._head(head, "classification")
        for name, value in (("top_k", top_k), ("num_clips", num_clips)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        with open_video(video, fps) as source:
            meta = source.meta
            times = frame_times(spread_centre_indices(meta.num_frames, num_clips), meta.fps)
            probs = []
            with self._progress(len(times), "classify") as bar:
                for batch in _batched(
                    _iter_clips(source, times, self.preprocessing, self.batch_size), self.batch_size
                ):
                    video_np = torch.stack([c.clip for c in batch]).numpy()  # (B, 3, T, S, S)
                    probs.append(_softmax(self.backend.classify(video_np, head_name)))
                    bar.update(len(batch))
        result = Classifications(
            head_name,
            _class_names(spec),
            np.concatenate(probs),
            clip_times=times,
            video_id=meta.video_id,
        )
        logger.info("classify %s: %s", head_name, result.top_k(top_k))
        return result

    def __repr__(self) -> str:
        heads = {name: spec.task for name, spec in self.backend.heads.items()}
        return f"Detector({self.backend!r}, heads={heads}, batch_size={self.batch_size})"
