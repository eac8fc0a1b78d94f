"""Image person detectors: torchvision Faster R-CNN (local weights), OpenCV HOG, a callable."""

from __future__ import annotations

import hashlib
import os
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ._base import PersonBoxes, check_image, finalize_boxes, nms

__all__ = ["CallablePersonDetector", "HogPersonDetector", "TorchvisionPersonDetector"]


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
            try:
                model.load_state_dict(self._load_state_dict(weights))
            except RuntimeError as error:  # wrong keys or shapes for this architecture
                raise ValueError(
                    f"person-detector weights {weights} do not fit {architecture} "
                    f"({str(error).splitlines()[0][:160]}); pass the architecture they were "
                    "trained with"
                ) from None
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
                f"cannot read person-detector weights {path} ({type(error).__name__}: "
                f"{str(error).splitlines()[0][:120]}); expected a torchvision state dict saved "
                "with torch.save (.pth) or safetensors.torch.save_file (.safetensors)"
            ) from error
        if not isinstance(state_dict, Mapping):
            raise ValueError(
                f"person-detector weights {path} hold a {type(state_dict).__name__}, "
                "expected a state dict (name -> tensor)"
            )
        return dict(state_dict)

    def __call__(self, frame: np.ndarray, timestamp: float | None = None) -> PersonBoxes:
        torch = self._torch
        frame = check_image(frame)
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
        scale: Image-pyramid scale factor (smaller = more scales, slower). 1.1 finds the
            same boxes as 1.05 on vtest.avi at 1.75x the speed (benchmarks/README.md, "HOG").
        min_frame_height: Upscale shorter frames to this height.
        max_frame_height: Downscale taller frames to this height.
        cache_size: Frames whose boxes are remembered (keyed by a digest of the pixels), so
            asking again for the same frame (``detect`` then ``analyze`` on one video) is a
            look-up; 0 turns the cache off.

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
        scale: float = 1.1,
        min_frame_height: int = 480,
        max_frame_height: int = 720,
        cache_size: int = 256,
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
        if cache_size < 0:
            raise ValueError(f"cache_size must be >= 0, got {cache_size}")
        self.cache_size = cache_size
        self._cache: OrderedDict[bytes, PersonBoxes] = OrderedDict()
        self._cv2 = cv2
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def __call__(self, frame: np.ndarray, timestamp: float | None = None) -> PersonBoxes:
        frame = check_image(frame)
        if not self.cache_size:
            return self._detect(frame)
        key = hashlib.blake2b(np.ascontiguousarray(frame).data, digest_size=16).digest()
        key += repr(frame.shape).encode()
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._detect(frame)
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)  # least recently used
        else:
            self._cache.move_to_end(key)
        return PersonBoxes(found.boxes.copy(), found.scores.copy())

    def _detect(self, frame: np.ndarray) -> PersonBoxes:
        cv2 = self._cv2
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
        frame = check_image(frame)
        output = self.fn(frame)
        try:
            boxes, scores = output
        except (TypeError, ValueError):
            raise ValueError(
                f"person detector {self.name!r} must return (boxes, scores), "
                f"got {type(output).__name__}"
            ) from None
        return finalize_boxes(boxes, scores, frame.shape)
