"""``Detector``: the one facade applications use for action detection and clip classification.

Everything between a video and the network is shared with training: clips are sampled
with :func:`cofin_sdk.io.video.clip_indices_at` (as :func:`~cofin_sdk.io.video.read_clip`
does) and preprocessed with :func:`cofin_sdk.preprocessing.preprocess_clip`; person boxes
are mapped into the model input with the clip's :class:`~cofin_sdk.preprocessing.Letterbox`.
The network itself sits behind a :class:`~cofin_sdk.backends.Backend` (torch today;
onnxruntime / Triton later), which takes numpy clips and returns logits.

Streaming: keyframes are processed in time order in small decode groups; each group opens
the video, seeks, decodes only the frames its clips need (:func:`~cofin_sdk.io.video.read_frames_at`)
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
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from cofin_sdk.backends import Backend
from cofin_sdk.detector.inputs import (
    check_every,
    check_given,
    given_boxes,
    keyframe_times,
    resolve_head,
)
from cofin_sdk.detector.many import ManyResults, expand_videos, run_many
from cofin_sdk.io.clips import Clip, batched, iter_clips
from cofin_sdk.io.sources import ArrayVideo, FileVideo, open_video
from cofin_sdk.io.video import frame_times, spread_centre_indices
from cofin_sdk.models.config import HeadSpec
from cofin_sdk.person_detection import GivenBoxes, PersonDetector, get_person_detector
from cofin_sdk.preprocessing import Preprocessing
from cofin_sdk.results import Classifications, Detections
from cofin_sdk.tracking import PersonTracker, check_track_fps
from cofin_sdk.tracking.reid import REID_DISTANCE
from cofin_sdk.tracking.video_pass import track_people

if TYPE_CHECKING:
    from cofin_sdk.detector.stream import DetectionStream

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_TRACK_FPS", "Analysis", "Detector", "check_every", "resolve_head"]

#: Default rate of the tracking pass (``detect(track=True)``), frames per second.
DEFAULT_TRACK_FPS = 5.0


# --------------------------------------------------------------------------- helpers
@dataclasses.dataclass
class Analysis:
    """What :meth:`Detector.analyze` returns.

    Attributes:
        detections: Person-box action detections (``None`` when no detection head ran).
        classifications: ``{head: Classifications}``, one clip per keyframe.
    """

    detections: Detections | None
    classifications: dict[str, Classifications]


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
        torch = sys.modules.get("torch")  # a torch model implies torch is imported
        if torch is not None and isinstance(model_or_backend, torch.nn.Module):
            from cofin_sdk.backends import TorchBackend

            model_or_backend = TorchBackend(model_or_backend, device)
        if not isinstance(model_or_backend, Backend):
            raise TypeError(
                "Detector needs a cofin ViViT model or a Backend (name, heads, preprocessing, "
                f"features(), head()), got {type(model_or_backend).__name__}"
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
        backend: str = "torch",
        device: str | None = None,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        **kwargs: Any,
    ) -> Detector:
        """Loads weights saved with ``save_pretrained`` (a folder or a Hub repo id).

        Labels and preprocessing come from the weights' ``config.json`` (torch) or the
        export's metadata (onnx).

        Args:
            name_or_path: Local folder or Hugging Face Hub repo id ``org/name`` (downloaded
                into the Hub cache; with ``HF_HUB_OFFLINE=1`` read from it only).
            backend: ``"torch"``, or ``"onnx"`` for onnxruntime on the folder's ``onnx/``
                export (how a Hub repo carries it; see :meth:`from_export`). Without one,
                the weights are exported to a temporary folder first (logged; needs torch
                and seconds to minutes: ``cofin export MODEL --out MODEL/onnx`` saves it).
            device: Torch device (default ``"cpu"``); for ``"onnx"``, ``"cpu"`` or
                ``"cuda[:N]"`` picks the providers (default: TensorRT/CUDA when
                onnxruntime offers them, else CPU).
            revision: Hub branch, tag or commit (default ``main``).
            cache_dir: Hub cache folder (default: huggingface_hub's, ``HF_HUB_CACHE``).
            **kwargs: ``person_detector``, ``batch_size``, ``progress`` (see the class);
                for ``"onnx"`` also those of :meth:`from_export`.

        Raises:
            FileNotFoundError: If the folder does not exist, or the repo / revision is not
                cached (offline) or not on the Hub (one line naming the repo, revision and
                cache folder).
            ValueError: An unknown ``backend``, or an ``onnx/`` export of other weights.
        """
        if backend == "onnx":
            from cofin_sdk.backends.onnx_backend import OnnxBackend, providers_for_device

            names = (
                "providers",
                "intra_op_threads",
                "inter_op_threads",
                "int8",
                "fp16",
                "allow_spinning",
            )
            options = {k: kwargs.pop(k) for k in names if k in kwargs}
            options.setdefault("providers", providers_for_device(device))
            onnx = OnnxBackend.from_pretrained(
                name_or_path, revision=revision, cache_dir=cache_dir, **options
            )
            return cls(onnx, **kwargs)
        if backend != "torch":
            raise ValueError(f"backend={backend!r}: choose 'torch' or 'onnx'")
        from cofin_sdk.models import from_pretrained

        model = from_pretrained(name_or_path, revision=revision, cache_dir=cache_dir)
        return cls(model, device=device or "cpu", **kwargs)

    @classmethod
    def from_export(
        cls,
        export_dir: str | os.PathLike,
        *,
        providers: Sequence[Any] | None = None,
        intra_op_threads: int | None = None,
        inter_op_threads: int | None = None,
        int8: bool = False,
        fp16: bool = False,
        allow_spinning: bool = False,
        **kwargs: Any,
    ) -> Detector:
        """A Detector on an export folder (``cofin export``), run by onnxruntime, no torch.

        Heads, labels and preprocessing come from the export's metadata alone. The clip shape
        is the export's (fixed); box counts and batch sizes are free.

        Args:
            export_dir: Folder with ``backbone.onnx``, ``head_<name>.onnx`` and
                ``cofin_export.json``.
            providers, intra_op_threads, inter_op_threads, int8, fp16, allow_spinning: See
                :class:`~cofin_sdk.backends.OnnxBackend`.
            **kwargs: ``person_detector``, ``batch_size``, ``progress`` (see the class).

        Raises:
            ImportError: onnxruntime is missing (names the extra to install).
            FileNotFoundError, ValueError: A missing or inconsistent export, naming the file
                and the field.

        Example:
            >>> detector = Detector.from_export("exported", progress=False)  # doctest: +SKIP
            >>> detector.detect("video.mp4", boxes={1.0: [[10, 20, 110, 220]]})  # doctest: +SKIP
        """
        from cofin_sdk.backends.onnx_backend import OnnxBackend

        backend = OnnxBackend(
            export_dir,
            providers=providers,
            intra_op_threads=intra_op_threads,
            inter_op_threads=inter_op_threads,
            int8=int8,
            fp16=fp16,
            allow_spinning=allow_spinning,
        )
        return cls(backend, **kwargs)

    @classmethod
    def from_triton(
        cls,
        url: str,
        model: str = "cofin",
        *,
        timeout_s: float = 30.0,
        retries: int = 1,
        box_buckets: Sequence[int] | None = None,
        **kwargs: Any,
    ) -> Detector:
        """A Detector on a Triton server's ``cofin`` ensemble (``cofin serve start``).

        No local weights and no torch: heads, labels and preprocessing come from the model
        record in the server's model config; one ensemble run per batch of clips serves the
        detection head and every classification head.

        Args:
            url: ``grpc://HOST:PORT`` or ``http://HOST:PORT``.
            model: The ensemble's name.
            timeout_s, retries, box_buckets: See :class:`~cofin_sdk.backends.TritonBackend`.
            **kwargs: ``person_detector``, ``batch_size``, ``progress`` (see the class).

        Raises:
            ImportError: tritonclient is missing (names the extra to install).
            ConnectionError, TimeoutError: The server is not reachable / does not answer.
            ValueError: A bad URL, an unknown model or one not built by ``cofin serve build``.

        Example:
            >>> detector = Detector.from_triton("grpc://127.0.0.1:8001")  # doctest: +SKIP
            >>> detector.detect("video.mp4", boxes={1.0: [[10, 20, 110, 220]]})  # doctest: +SKIP
        """
        from cofin_sdk.backends.triton_backend import TritonBackend

        backend = TritonBackend(
            url, model, timeout_s=timeout_s, retries=retries, box_buckets=box_buckets
        )
        return cls(backend, **kwargs)

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

    def _split_heads(self, heads: Sequence[str] | None) -> tuple[str | None, list[str]]:
        """``heads=`` (default: all) as (the detection head or ``None``, classification heads)."""
        names = list(self.backend.heads) if heads is None else list(heads)
        for name in names:
            if name not in self.backend.heads:
                resolve_head(self.backend.heads, name, "detection")  # raises: no such head
        detection = [n for n in names if self.backend.heads[n].task == "detection"]
        classification = [n for n in names if self.backend.heads[n].task == "classification"]
        if len(detection) > 1:
            raise ValueError(f"heads= holds {len(detection)} detection heads {detection}; pass one")
        return (detection[0] if detection else None), classification

    def _person_detector(self, boxes: Any, override: Any, normalized: bool) -> PersonDetector:
        if boxes is not None:
            if override is not None:
                raise ValueError("pass either boxes= or person_detector=, not both")
            return given_boxes(boxes, normalized)
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
        track: bool = False,
        track_fps: float = DEFAULT_TRACK_FPS,
        reid: bool = False,
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
            track: Give each person a track id stable over the video
                (``Detections.track_ids``; :mod:`cofin_sdk.tracking`, needs the ``track``
                extra). People are found at ``track_fps`` between keyframes for association
                only; actions are still scored at the keyframes alone.
            track_fps: Rate of the tracking pass in frames per second (given boxes and AVA
                CSVs are tracked at their own timestamps).
            reid: Also re-identify people who come back (after leaving, or a shot cut) by
                the colours of their clothes (:mod:`cofin_sdk.tracking.reid`). Off by
                default: ByteTrack's ids alone, a returning person gets a new id. Colour
                helps where clothes are distinct (films with cuts) and merges different
                people where they are not (street footage of dark coats).

        Returns:
            :class:`~cofin_sdk.results.Detections` with boxes in original-frame pixels.

        Raises:
            ValueError: Unknown head, classification head, bad boxes, video without
                frames, bad array, missing ``fps``, times outside the video.
            TypeError: Unsupported video type.
        """
        analysis = self.analyze(
            video,
            heads=[self._head(head, "detection")[0]],
            every=every,
            timestamps=timestamps,
            boxes=boxes,
            threshold=threshold,
            fps=fps,
            person_detector=person_detector,
            normalized=normalized,
            track=track,
            track_fps=track_fps,
            reid=reid,
        )
        assert analysis.detections is not None  # a detection head was asked for
        return analysis.detections

    def analyze(
        self,
        video: Any,
        *,
        heads: Sequence[str] | None = None,
        every: float | None = None,
        timestamps: Sequence[float] | None = None,
        boxes: Mapping[float, Any] | Any = None,
        threshold: float | None = None,
        fps: float | None = None,
        person_detector: Any = None,
        normalized: bool = False,
        track: bool = False,
        track_fps: float = DEFAULT_TRACK_FPS,
        reid: bool = False,
    ) -> Analysis:
        """Detection and classification of the same keyframe clips, ONE backbone pass each.

        The paper's point made cheap: one co-finetuned backbone serves the detection head
        and every classification head. Each keyframe's clip is encoded once; the detection
        head scores its people and every classification head classifies the clip.

        Args:
            video: As for :meth:`detect`.
            heads: Heads to run (default: all); at most one detection head.
            every, timestamps, boxes, threshold, fps, person_detector, normalized, track,
                track_fps, reid: As for :meth:`detect` (person boxes are only looked for, and
                tracked, when a detection head runs).

        Returns:
            :class:`Analysis`: ``detections`` (``None`` without a detection head) and
            ``classifications`` ``{head: Classifications}`` with one clip per keyframe.

        Raises:
            ValueError: As :meth:`detect`, an unknown head, or two detection heads.
        """
        head, classification = self._split_heads(heads)
        detection = [head] if head else []
        self._tracker(track, track_fps, head, heads)  # checks before anything is decoded
        tracker_options = {"reid_distance": REID_DISTANCE if reid else None}
        person = self._person_detector(boxes, person_detector, normalized) if detection else None
        with open_video(video, fps) as source:
            meta = source.meta
            if person is not None and hasattr(person, "for_video"):  # a box file: its video only
                person = person.for_video(meta.video_id)
            times = keyframe_times(meta, every, timestamps, person)
            if isinstance(person, GivenBoxes):  # fail before decoding anything
                check_given(person, times, meta)
            tracked = None
            if track:
                tracked = track_people(source, person, times, track_fps, tracker_options)
                person = tracked  # the scoring pass reuses the keyframe boxes it tracked
            template = None
            if detection:
                spec = self.backend.heads[detection[0]]
                template = Detections.empty(
                    spec.labels,
                    (meta.width, meta.height),
                    class_ids=spec.class_ids,
                    video_id=meta.video_id,
                    detector=person.name,
                    threshold=threshold or 0.0,
                )
            parts, probs = self._stream(
                source,
                times,
                person,
                (detection[0], template) if detection else None,
                classification,
            )
        result = Detections.merge([template, *parts]) if template is not None else None
        if result is not None and tracked is not None:
            result = dataclasses.replace(result, track_ids=tracked.ids_for(result.timestamps))
        if result is not None:
            logger.info(
                "detect: %d keyframes, %d person boxes (%s)", len(times), len(result), person.name
            )
        classifications = {
            name: Classifications(
                name,
                self.backend.heads[name].labels,
                np.concatenate(probs[name]),
                clip_times=times,
                video_id=meta.video_id,
            )
            for name in classification
        }
        return Analysis(result, classifications)

    def _stream(
        self,
        source: ArrayVideo | FileVideo,
        times: np.ndarray,
        person: PersonDetector | None,
        detection: tuple[str, Detections] | None,
        classification: Sequence[str],
    ) -> tuple[list[Detections], dict[str, list[np.ndarray]]]:
        """The engine: clips in batches, ONE backbone pass per batch, then every head.

        Without classification heads, clips without people skip the backbone entirely.
        """
        parts: list[Detections] = []
        probs: dict[str, list[np.ndarray]] = {name: [] for name in classification}
        desc = "detect" if detection else "classify"
        with self._progress(len(times), desc) as bar:
            clips = iter_clips(source, times, self.preprocessing, self.batch_size)
            for batch in batched(clips, self.batch_size):
                people = [person(c.keyframe, c.time) for c in batch] if detection else []
                bar.update(len(batch))
                part, batch_probs = self._score_batch(batch, people, detection, classification)
                if part is not None:
                    parts.append(part)
                for name, value in batch_probs.items():
                    probs[name].append(value)
        return parts, probs

    def _score_batch(
        self,
        batch: Sequence[Clip],
        people: Sequence[Any],
        detection: tuple[str, Detections] | None,
        classification: Sequence[str],
    ) -> tuple[Detections | None, dict[str, np.ndarray]]:
        """ONE backbone pass over ``batch``, then every head (files and live streams).

        Returns the detections of the clips with people (``None`` if none) and
        ``{head: probabilities (B, C)}``; without classification heads, clips without
        people skip the backbone.
        """
        found = [i for i, p in enumerate(people) if len(p.boxes)]
        rows = list(range(len(batch))) if classification else found
        if not rows:
            return None, {}
        features = self.backend.features(np.stack([batch[i].frames for i in rows]))
        part = None
        # Detection first: TritonBackend sends the boxes with its ONE ensemble run for
        # these clips and serves the classification heads below from that run.
        if detection and found:
            at = [rows.index(i) for i in found]  # features row of each clip with people
            part = self._detections(
                detection, features[at], [batch[i] for i in found], [people[i] for i in found]
            )
        return part, {name: self.backend.head(name, features) for name in classification}

    def _detections(
        self,
        detection: tuple[str, Detections],
        features: np.ndarray,
        clips: list[Clip],
        people: list[Any],
    ) -> Detections:
        """Scores every person of ``clips``; boxes are padded to the batch's largest count."""
        head, template = detection
        counts = [len(p.boxes) for p in people]
        boxes = np.zeros((len(clips), max(counts), 4), np.float32)  # (B, N, 4) input pixels
        for b, (clip, found) in enumerate(zip(clips, people, strict=True)):
            boxes[b, : counts[b]] = clip.letterbox.pixels_to_input(found.boxes)
            boxes[b, counts[b] :] = boxes[b, 0]  # padding: a real box, dropped below
        scores = self.backend.head(head, features, boxes)  # (B, N, C)
        return dataclasses.replace(
            template,
            boxes=np.concatenate([p.boxes for p in people]),
            person_scores=np.concatenate([p.scores for p in people]),
            action_scores=np.concatenate([scores[b, :n] for b, n in enumerate(counts)]),
            timestamps=np.concatenate([np.full(n, c.time) for c, n in zip(clips, counts)]),
            track_ids=None,  # untracked until analyze() attaches the tracking pass's ids
        )

    def detect_many(
        self,
        videos: str | os.PathLike | Sequence[str | os.PathLike],
        *,
        out_dir: str | os.PathLike | None = None,
        resume: bool = False,
        timeline: Mapping[str, Any] | None = None,
        **detect_kwargs: Any,
    ) -> ManyResults:
        """:meth:`detect` on many videos with this one loaded model; bad files are skipped.

        Args:
            videos: A folder (its videos), a glob pattern, a file, or a list of those.
            out_dir: Write ``<name>.json`` per video here (detections, tracks and, with
                ``timeline``, the timeline; plus ``<name>.timeline.csv``).
            resume: Skip videos whose ``<name>.json`` is already in ``out_dir``.
            timeline: ``Detections.timeline`` arguments (e.g. ``{"threshold": 0.5}``); needs
                ``track=True``.
            **detect_kwargs: As for :meth:`detect` (``track``, ``every``, ``threshold`` ...);
                ``person_detector`` may be an AVA CSV of many videos (bound per video).

        Returns:
            :class:`~cofin_sdk.detector.many.ManyResults`: results, failures (path -> one-line
            reason), skipped videos and files written. A failure does not stop the run.

        Raises:
            ValueError, FileNotFoundError: Before any video runs: nothing to process (empty
                folder, pattern matching nothing), clashing names, ``resume`` without
                ``out_dir``, ``timeline`` without ``track=True``.

        Example:
            >>> report = detector.detect_many("clips/", out_dir="out", track=True,
            ...     timeline={"threshold": 0.5})  # doctest: +SKIP
            >>> report.failed  # doctest: +SKIP
            {}
        """
        paths = expand_videos(videos, "videos=")
        if resume and out_dir is None:
            raise ValueError("resume=True skips videos whose results are in out_dir: pass out_dir=")
        if timeline is not None and not detect_kwargs.get("track"):
            raise ValueError("timeline= needs track=True (segments belong to tracked people)")
        if timeline is not None:  # check the rule before the first video
            Detections.empty(("x",), (1, 1)).timeline(**timeline)
        return run_many(
            lambda video: self.detect(video, **detect_kwargs),
            paths,
            out_dir=None if out_dir is None else Path(out_dir),
            resume=resume,
            timeline=None if timeline is None else dict(timeline),
            progress=self.progress,
        )

    def _tracker(
        self,
        track: bool,
        track_fps: Any,
        head: str | None,
        heads: Sequence[str] | None,
        reid: bool = False,
    ) -> PersonTracker | None:
        """A new tracker for ``track=True`` (``None`` otherwise), after checking it can run.

        Raises:
            ValueError: No detection head among ``heads``, or a bad ``track_fps``.
        """
        if not track:
            return None
        fps = check_track_fps(track_fps)
        if head is None:
            names = list(self.backend.heads) if heads is None else list(heads)
            raise ValueError(
                "track=True tracks people, which needs a detection head; "
                f"{'these weights have none' if heads is None else f'heads={names} has none'}"
            )
        return PersonTracker(fps, reid_distance=REID_DISTANCE if reid else None)

    # ------------------------------------------------------------------ live streams
    def stream(
        self,
        source: Any,
        *,
        every: float = 1.0,
        keyframe: str = "causal",
        drop: str = "latest",
        heads: Sequence[str] | None = None,
        boxes: Mapping[float, Any] | Any = None,
        person_detector: Any = None,
        normalized: bool = False,
        threshold: float | None = None,
        fps: float | None = None,
        timeout_s: float = 10.0,
        reconnect: int = 0,
        track: bool = False,
        track_fps: float = DEFAULT_TRACK_FPS,
        reid: bool = False,
    ) -> DetectionStream:
        """Scores a live stream keyframe by keyframe, with bounded latency and memory.

        A reader thread decodes ``source`` into a bounded ring of frames; each iteration
        waits for the next keyframe's clip (keyframes every ``every`` s of presentation
        time), scores it (one backbone pass, then ``heads``) and yields a
        :class:`~cofin_sdk.StreamResult` with ``frame_time``,
        ``arrival_wall_time``, ``result_wall_time`` and ``dropped``. Inference never blocks
        the reader (with ``drop="none"`` a full ring makes the source wait).

        Args:
            source: ``rtsp://``, ``rtmp://``, ``http(s)://``, ``tcp://``, ``udp://``, ``srt://``
                URL, file path, ``/dev/videoN`` webcam, binary pipe / file object, or an
                iterable of ``(uint8 RGB frame (H, W, 3), time_s)`` (then ``fps`` is required).
            every: Keyframe spacing in seconds (keyframes at ``0, every, 2 * every, ...``).
            keyframe: ``"causal"`` (the clip ends at the keyframe: latency = inference) or
                ``"centre"`` (the weights' training rule; waits for half a clip).
            drop: ``"latest"``: when inference falls behind, score the newest complete clip
                and count the skipped keyframes; ``"none"``: score every keyframe (files).
            heads: Heads to run (default: all; at most one detection head).
            boxes, person_detector, normalized, threshold: As for :meth:`detect`.
            fps: Frame rate of an iterable source (or to override the stream's).
            timeout_s: A stall longer than this raises ``TimeoutError`` (or reconnects).
            reconnect: Reopen a URL this many times after a stall or read error (logged).
            track: Track people: one tracker for the whole stream, people found at
                ``track_fps`` on the frames between keyframes (from the ring) for
                association, boxes scored at keyframes only; ``detections.track_ids`` of
                each result (needs a detection head and the ``track`` extra).
            track_fps: Rate of the tracking pass (look-up boxes: the keyframes).
            reid: As for :meth:`detect`.

        Returns:
            A :class:`~cofin_sdk.DetectionStream`: iterate it; use it in a
            ``with`` block or ``close()`` it to stop the reader and release the source. Its
            iteration ends with the stream.

        Raises:
            ValueError: Bad ``every``/``keyframe``/``drop``/``heads``/``boxes``, an unsupported
                URL scheme, no video stream (one line, before any thread starts).
            ConnectionError, FileNotFoundError: The source cannot be opened.
            TimeoutError: While iterating: the stream stalled longer than ``timeout_s``.

        Example:
            >>> with detector.stream("rtsp://camera/live", boxes=[[0, 0, 320, 240]]) as live:  # doctest: +SKIP
            ...     for result in live:
            ...         print(result.time, result.latency, result.detections.labels(1))
        """
        from cofin_sdk.detector.stream import open_detection_stream

        return open_detection_stream(
            self,
            source,
            every=every,
            keyframe=keyframe,
            drop=drop,
            heads=heads,
            boxes=boxes,
            person_detector=person_detector,
            normalized=normalized,
            threshold=threshold,
            fps=fps,
            timeout_s=timeout_s,
            reconnect=reconnect,
            track=track,
            track_fps=track_fps,
            reid=reid,
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
            _, probs = self._stream(source, times, None, None, [head_name])
        result = Classifications(
            head_name,
            spec.labels,
            np.concatenate(probs[head_name]),
            clip_times=times,
            video_id=meta.video_id,
        )
        logger.info("classify %s: %s", head_name, result.top_k(top_k))
        return result

    def __repr__(self) -> str:
        heads = {name: spec.task for name, spec in self.backend.heads.items()}
        return f"Detector({self.backend!r}, heads={heads}, batch_size={self.batch_size})"
