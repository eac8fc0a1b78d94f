"""The ONE preprocessing path shared by training and inference (paper App. A.2).

A clip of RGB ``uint8`` frames ``(T, H, W, 3)`` is resized so its LONGER side
equals ``image_size`` (antialiased, by the rule the model record names in
``Preprocessing.resize``), zero-padded on the bottom/right to a square
``image_size x image_size`` and normalised with ``mean``/``std`` into
``Tensor[3, T, S, S]`` float32. A :class:`Letterbox` records the transform and
maps boxes between three coordinate systems:

* **norm**: ``[0, 1]`` fractions of the original frame (AVA CSV convention);
* **pixels**: pixels of the original frame, continuous edge coordinates
  ``[0, W] x [0, H]`` (pixel ``j`` covers ``[j, j + 1)``);
* **input**: pixels of the padded model input, the same continuous convention
  (what ``roi_align(aligned=True)`` and the detection head take).

Padding is PIXEL BLACK: zeros are padded before normalisation, so the padded
region holds ``(0 - mean) / std`` (``-1`` for the default mean = std = 0.5).
Training and inference both call :func:`preprocess_clip`, so the padded region
is identical in both.

Resize rules (``Preprocessing.resize``), one function for all: :func:`letterbox_array`.

* ``"cv2_area"`` (the default since cofin 0.2; numpy + OpenCV, no torch): OpenCV's
  ``INTER_AREA`` when shrinking (each output pixel is the area-weighted mean of the input
  pixels it covers: antialiased, no moire) and ``INTER_LINEAR`` when enlarging (where
  ``INTER_AREA`` would degrade to nearest-neighbour-like blocks), frame by frame, rounded
  to ``uint8`` by OpenCV for ``uint8`` frames.
* ``"torch_bilinear_antialias"`` (records written before the field existed say nothing
  and mean this rule): ``torch.nn.functional.interpolate(mode="bilinear",
  antialias=True)``. Kept so older weights see the pixels they were trained on; needs
  torch (``pip install "cofin-sdk[torch]"``).

The two differ by a few grey levels at edges (measured in benchmarks/README.md,
"Resize rules"), so a record names its rule and every path follows it.

Example:
    >>> import numpy as np
    >>> from cofin_sdk.preprocessing import Preprocessing, preprocess_clip
    >>> frames = np.zeros((8, 240, 320, 3), np.uint8)
    >>> clip, letterbox = preprocess_clip(frames, Preprocessing(image_size=224, num_frames=8))
    >>> tuple(clip.shape), letterbox.resized_size
    ((3, 8, 224, 224), (224, 168))
    >>> letterbox.norm_to_input(np.array([[0.0, 0.0, 1.0, 1.0]])).tolist()
    [[0.0, 0.0, 224.0, 168.0]]
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from cofin_sdk.formats.boxes import to_normalized, to_pixels, validate_boxes

if TYPE_CHECKING:  # torch is imported where clips are processed: the records stay light
    import torch

__all__ = [
    "DEFAULT_RESIZE",
    "LEGACY_RESIZE",
    "RESIZE_RULES",
    "KEYFRAME_PLACEMENTS",
    "check_placement",
    "Letterbox",
    "Preprocessing",
    "letterbox_array",
    "letterbox_clip",
    "letterbox_frames",
    "normalization",
    "normalize",
    "preprocess",
    "preprocess_clip",
]

#: The resize rules a model record can name (see the module docstring).
RESIZE_RULES = ("cv2_area", "torch_bilinear_antialias")
#: The rule of new records (training, ``create_model``).
DEFAULT_RESIZE = "cv2_area"
#: The rule of records written before ``Preprocessing.resize`` existed.
LEGACY_RESIZE = "torch_bilinear_antialias"


#: Where the keyframe sits in its clip: the middle (``"centre"``) or the end (``"causal"``);
#: the rule itself is :func:`cofin_sdk.io.clip_rule.clip_frame_indices`.
KEYFRAME_PLACEMENTS = ("centre", "causal")


def check_placement(placement: object, name: str = "keyframe=") -> str:
    """``placement`` if it is one of :data:`KEYFRAME_PLACEMENTS`.

    Args:
        placement: The value to check.
        name: The argument as the caller's interface spells it (``"--keyframe "`` for a CLI).

    Raises:
        ValueError: Naming the argument and the choices.
    """
    if placement not in KEYFRAME_PLACEMENTS:
        raise ValueError(f"{name}{placement!r}: choose 'centre' or 'causal'")
    return str(placement)


@dataclasses.dataclass
class Preprocessing:
    """Preprocessing settings; stored in the model's ``config.json``.

    Attributes:
        image_size: Side S of the square model input; the longer frame side is
            resized to S.
        num_frames: Frames per clip T.
        frame_stride: Step between sampled frames.
        mean: Per-channel RGB mean on the ``[0, 1]`` scale.
        std: Per-channel RGB std on the ``[0, 1]`` scale (0.5/0.5 as for the
            ImageNet-21K ViT checkpoints).
        resize: The resize rule, one of :data:`RESIZE_RULES` (module docstring); a
            record without the field is :data:`LEGACY_RESIZE`.
        keyframe: Where the keyframe sits in its clip, as the weights were trained:
            ``"centre"`` (the paper's) or ``"causal"`` (the clip ends at the keyframe; see
            :mod:`cofin_sdk.io.clip_rule`).

    Example:
        >>> prep = Preprocessing(image_size=160, num_frames=16)
        >>> Preprocessing.from_dict(prep.to_dict()) == prep
        True
    """

    image_size: int = 224
    num_frames: int = 32
    frame_stride: int = 2
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    resize: str = DEFAULT_RESIZE
    keyframe: str = "centre"

    def __post_init__(self) -> None:
        check_placement(self.keyframe, "Preprocessing.keyframe=")
        for field in ("image_size", "num_frames", "frame_stride"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"Preprocessing.{field} must be an int >= 1, got {value!r}")
            setattr(self, field, int(value))
        for field in ("mean", "std"):
            value = tuple(float(v) for v in getattr(self, field))
            if len(value) != 3 or not all(math.isfinite(v) for v in value):
                raise ValueError(
                    f"Preprocessing.{field} must be 3 finite floats (RGB), got {value}"
                )
            setattr(self, field, value)
        if min(self.std) <= 0:
            raise ValueError(f"Preprocessing.std must be > 0, got {self.std}")
        if self.resize not in RESIZE_RULES:
            raise ValueError(
                f"Preprocessing.resize must be one of {list(RESIZE_RULES)}, got {self.resize!r} "
                "(a newer cofin may be needed)"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (lists for mean/std)."""
        out = dataclasses.asdict(self)
        out["mean"], out["std"] = list(self.mean), list(self.std)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preprocessing:
        """Inverse of :meth:`to_dict`; without ``resize`` (older records) the rule is
        :data:`LEGACY_RESIZE`, the one those weights were trained with.

        Raises:
            ValueError: On unknown keys (typos must not silently fall back to defaults).
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown preprocessing keys {unknown}; expected a subset of {sorted(known)}"
            )
        fields = {k: (tuple(v) if k in ("mean", "std") else v) for k, v in data.items()}
        return cls(**{"resize": LEGACY_RESIZE, **fields})


# --------------------------------------------------------------------------- boxes


@dataclasses.dataclass(frozen=True)
class Letterbox:
    """The resize + pad transform of one clip, and box mapping through it.

    ``input = pixels * (resized / orig) + pad`` per axis, where
    ``resized = round(orig * scale)``. :func:`letterbox_clip` pads bottom/right so
    ``pad_x = pad_y = 0``; a crop (``crop``) makes them negative.

    Attributes:
        orig_w: Original frame width in pixels (as displayed).
        orig_h: Original frame height in pixels.
        image_size: Side of the square canvas the frame was placed on.
        scale: Resize factor (longer resized side / longer original side).
        pad_x: Horizontal offset of the resized frame on the canvas.
        pad_y: Vertical offset of the resized frame on the canvas.

    Example:
        >>> lb = Letterbox.fit(orig_w=320, orig_h=240, image_size=224)
        >>> lb.pixels_to_input(np.array([[32.0, 24.0, 64.0, 48.0]])).round(3).tolist()
        [[22.4, 16.8, 44.8, 33.6]]
    """

    orig_w: int
    orig_h: int
    image_size: int
    scale: float
    pad_x: float = 0.0
    pad_y: float = 0.0

    def __post_init__(self) -> None:
        if min(self.orig_w, self.orig_h, self.image_size) < 1 or not self.scale > 0:
            raise ValueError(f"invalid Letterbox {self}: sizes must be >= 1 and scale > 0")

    @classmethod
    def fit(
        cls, orig_w: int, orig_h: int, image_size: int, *, scale_factor: float = 1.0
    ) -> Letterbox:
        """Letterbox resizing the longer side to ``round(image_size * scale_factor)``.

        The canvas side is ``max(image_size, round(image_size * scale_factor))``.
        """
        longer = max(1, round(image_size * scale_factor))
        return cls(orig_w, orig_h, max(image_size, longer), longer / max(orig_w, orig_h))

    @property
    def resized_size(self) -> tuple[int, int]:
        """(width, height) of the resized frame before padding."""
        return max(1, round(self.orig_w * self.scale)), max(1, round(self.orig_h * self.scale))

    def _affine(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-coordinate (scale, offset) from original pixels to input pixels."""
        rw, rh = self.resized_size
        sx, sy = rw / self.orig_w, rh / self.orig_h
        return np.array([sx, sy, sx, sy]), np.array([self.pad_x, self.pad_y] * 2)

    def crop(self, x0: float, y0: float, size: int) -> Letterbox:
        """The letterbox after cropping ``size x size`` at ``(x0, y0)`` of the canvas.

        Used for the random crop that follows scale jitter (``scale_factor > 1``).
        """
        return dataclasses.replace(
            self, image_size=size, pad_x=self.pad_x - x0, pad_y=self.pad_y - y0
        )

    # The six mappings; all take and return [N, 4] x1,y1,x2,y2 float arrays. Inputs are
    # checked with THE box rule (cofin_sdk.formats.boxes); nothing is clipped here.
    def norm_to_pixels(self, boxes: Any) -> np.ndarray:
        """Normalised ``[0, 1]`` boxes -> original-frame pixels."""
        arr = validate_boxes(
            boxes,
            normalized=True,
            clip=False,
            hint="pass pixel boxes to the pixels_* methods, or divide by the frame width/height",
        )
        return to_pixels(arr, (self.orig_w, self.orig_h))

    def pixels_to_norm(self, boxes: Any) -> np.ndarray:
        """Original-frame pixel boxes -> normalised ``[0, 1]``."""
        return to_normalized(validate_boxes(boxes, clip=False), (self.orig_w, self.orig_h))

    def pixels_to_input(self, boxes: Any) -> np.ndarray:
        """Original-frame pixel boxes -> model-input pixels."""
        arr = validate_boxes(boxes, clip=False)
        scale, offset = self._affine()
        return (arr * scale + offset).astype(arr.dtype)

    def input_to_pixels(self, boxes: Any) -> np.ndarray:
        """Model-input pixel boxes -> original-frame pixels (inverse for outputs)."""
        arr = validate_boxes(boxes, clip=False)
        scale, offset = self._affine()
        return ((arr - offset) / scale).astype(arr.dtype)

    def norm_to_input(self, boxes: Any) -> np.ndarray:
        """Normalised ``[0, 1]`` boxes -> model-input pixels."""
        return self.pixels_to_input(self.norm_to_pixels(boxes))

    def input_to_norm(self, boxes: Any) -> np.ndarray:
        """Model-input pixel boxes -> normalised ``[0, 1]`` (inverse for outputs)."""
        return self.pixels_to_norm(self.input_to_pixels(boxes))


# --------------------------------------------------------------------------- clips


def _as_frames(frames: Any) -> np.ndarray:
    """``(T, H, W, 3)`` numpy/torch frames -> a C-contiguous numpy array (no torch import).

    uint8 stays uint8 (resized in uint8, rounded by the resizer); other dtypes become
    float32 on the 0..255 scale.
    """
    if hasattr(frames, "detach") and hasattr(frames, "numpy"):  # a torch.Tensor
        frames = frames.detach().cpu().numpy()
    if not isinstance(frames, np.ndarray):
        raise TypeError(
            f"frames must be a numpy array or Tensor (T,H,W,3), got {type(frames).__name__}"
        )
    if frames.ndim != 4 or frames.shape[-1] != 3 or 0 in frames.shape:
        raise ValueError(
            f"frames must be (T, H, W, 3) RGB with T, H, W >= 1, got shape {tuple(frames.shape)}"
        )
    if frames.dtype != np.uint8 and not np.issubdtype(frames.dtype, np.floating):
        raise ValueError(f"frames must be uint8 (or float 0..255), got {frames.dtype}")
    return np.ascontiguousarray(frames, dtype=None if frames.dtype == np.uint8 else np.float32)


def _resize_cv2(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``cv2_area``: INTER_AREA when shrinking, INTER_LINEAR when enlarging, per frame."""
    import cv2

    width, height = size
    shrink = width <= frames.shape[2] and height <= frames.shape[1]
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, size, interpolation=interpolation) for f in frames])


def _resize_torch(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``torch_bilinear_antialias``: the rule of records written before ``resize`` existed.

    uint8 stays uint8 (torch's antialiased bilinear resize has a fast uint8 channels-last
    path, ~10x faster than resizing in float).
    """
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        raise ImportError(
            f'this model\'s record says preprocessing.resize="{LEGACY_RESIZE}" (written before '
            'cofin 0.2), which needs torch: pip install "cofin-sdk[torch]" (or re-export a model '
            f'trained with resize="{DEFAULT_RESIZE}")'
        ) from None
    width, height = size
    clip = torch.from_numpy(frames).permute(0, 3, 1, 2)  # (T, 3, H, W), a channels-last view
    clip = F.interpolate(
        clip, size=(height, width), mode="bilinear", align_corners=False, antialias=True
    )
    return clip.permute(0, 2, 3, 1).numpy()  # (T, h, w, 3)


_RESIZERS = {"cv2_area": _resize_cv2, "torch_bilinear_antialias": _resize_torch}


def letterbox_array(
    frames: Any,
    image_size: int,
    *,
    scale_factor: float = 1.0,
    resize: str = DEFAULT_RESIZE,
) -> tuple[np.ndarray, Letterbox]:
    """THE letterbox: resize the longer side to ``round(image_size * scale_factor)`` by the
    rule ``resize`` and zero-pad bottom/right. Every other function here calls this one.

    The canvas is square with side ``max(image_size, round(image_size * scale_factor))``:
    for ``scale_factor <= 1`` that is ``image_size``; for ``scale_factor > 1``
    (scale jitter up) the caller random-crops ``image_size`` out of it and updates
    the letterbox with :meth:`Letterbox.crop`. A frame already at the resized size is
    copied, not resampled.

    Args:
        frames: RGB ``(T, H, W, 3)`` uint8 (or float 0..255) numpy array or Tensor.
        image_size: Model input side S.
        scale_factor: Multiplier on the longer side (training scale jitter).
        resize: One of :data:`RESIZE_RULES` (the model record's ``preprocessing.resize``).

    Returns:
        ``(canvas, letterbox)``: ``(T, S', S', 3)`` numpy, uint8 for uint8 frames (float32
        0..255 otherwise), pixel-black padding, and the :class:`Letterbox`.

    Raises:
        TypeError: If ``frames`` is not an array/Tensor.
        ValueError: If ``frames`` is not ``(T, H, W, 3)``, or an unknown rule.
        ImportError: ``torch_bilinear_antialias`` without torch (names the extra).
    """
    if resize not in _RESIZERS:
        raise ValueError(f"resize={resize!r}: choose one of {list(RESIZE_RULES)}")
    arr = _as_frames(frames)
    T, H, W, _ = arr.shape
    letterbox = Letterbox.fit(W, H, image_size, scale_factor=scale_factor)
    rw, rh = letterbox.resized_size
    side = letterbox.image_size
    canvas = np.zeros((T, side, side, 3), arr.dtype)
    canvas[:, :rh, :rw] = arr if (rw, rh) == (W, H) else _RESIZERS[resize](arr, (rw, rh))
    return canvas, letterbox


def letterbox_clip(
    frames: Any,
    image_size: int,
    *,
    scale_factor: float = 1.0,
    out_dtype: torch.dtype | None = None,
    resize: str = DEFAULT_RESIZE,
) -> tuple[torch.Tensor, Letterbox]:
    """:func:`letterbox_array` as a channels-first ``Tensor[3, T, S', S']`` (training).

    Args:
        frames: RGB ``(T, H, W, 3)`` uint8 (or float 0..255) numpy array or Tensor.
        image_size: Model input side S.
        scale_factor: Multiplier on the longer side (training scale jitter).
        out_dtype: ``torch.uint8`` or ``torch.float32`` (values 0..255); default:
            uint8 for uint8 frames (resized in uint8, i.e. rounded), float32 otherwise.
        resize: The record's resize rule (:data:`RESIZE_RULES`).

    Returns:
        ``(clip, letterbox)``: ``Tensor[3, T, S', S']`` (pixel-black padding) and the
        :class:`Letterbox` describing the transform.

    Raises:
        TypeError: If ``frames`` is not an array/Tensor.
        ValueError: If ``frames`` is not ``(T, H, W, 3)``.
    """
    import torch

    canvas, letterbox = letterbox_array(
        frames, image_size, scale_factor=scale_factor, resize=resize
    )
    clip = torch.from_numpy(canvas).permute(3, 0, 1, 2).contiguous()  # (3, T, S', S')
    out_dtype = out_dtype or clip.dtype
    if out_dtype == torch.uint8 and clip.dtype != torch.uint8:
        clip = clip.round_().clamp_(0, 255)
    return clip.to(out_dtype), letterbox


def normalization(mean: Sequence[float], std: Sequence[float]) -> tuple[list[float], list[float]]:
    """THE normalisation of ``uint8`` pixels as ``x * scale - offset`` per RGB channel.

    ``scale = 1 / (255 * std)`` and ``offset = mean / std``, i.e. ``(x / 255 - mean) / std``
    computed as one multiply and one subtract, in that order, by :func:`normalize` (training,
    the Detector's clips) and inside the model's :meth:`~cofin_sdk.models.ViViT.features`
    (every exported graph), so both give the same float32 numbers.
    """
    scale = [1.0 / (255.0 * float(s)) for s in std]
    offset = [float(m) / float(s) for m, s in zip(mean, std, strict=True)]
    return scale, offset


def normalize(clip: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``(clip / 255 - mean) / std`` per channel for ``Tensor[3, T, H, W]`` (uint8 or 0..255 float).

    Returns:
        A new float32 ``Tensor[3, T, H, W]``.
    """
    import torch

    if clip.ndim != 4 or clip.shape[0] != 3:
        raise ValueError(f"clip must be Tensor[3, T, H, W], got shape {tuple(clip.shape)}")
    scale, offset = normalization(mean, std)
    scale_t = torch.tensor(scale, dtype=torch.float32).view(3, 1, 1, 1)
    offset_t = torch.tensor(offset, dtype=torch.float32).view(3, 1, 1, 1)
    out = clip.to(torch.float32, copy=True)  # never modify the caller's tensor
    return out.mul_(scale_t).sub_(offset_t)  # (3, T, H, W)


def letterbox_frames(
    frames: Any, image_size: int, *, resize: str = DEFAULT_RESIZE
) -> tuple[np.ndarray, Letterbox]:
    """THE inference input: the letterboxed clip as ``uint8 (T, S, S, 3)`` (channels-last).

    The same pixels as training's :func:`preprocess_clip` before normalisation (which the
    inference graph does inside, see :meth:`cofin_sdk.models.ViViT.features`). torch-free
    for ``resize="cv2_area"``.

    Args:
        frames: RGB ``(T, H, W, 3)`` uint8 array or Tensor.
        image_size: Model input side S.
        resize: The record's resize rule (``preprocessing.resize``).

    Returns:
        ``(clip, letterbox)``.
    """
    canvas, letterbox = letterbox_array(frames, image_size, resize=resize)
    if canvas.dtype != np.uint8:  # float frames: round to pixels as training does
        canvas = np.clip(np.round(canvas), 0, 255).astype(np.uint8)
    return canvas, letterbox


def preprocess_clip(
    frames: Any, prep: Preprocessing, *, scale_factor: float = 1.0
) -> tuple[torch.Tensor, Letterbox]:
    """Letterbox and normalise a clip: THE path used by training and inference.

    Args:
        frames: RGB ``(T, H, W, 3)`` uint8 numpy array or Tensor (e.g. from
            :func:`cofin_sdk.io.video.read_clip`).
        prep: The model's :class:`Preprocessing`.
        scale_factor: Training scale jitter (see :func:`letterbox_clip`); 1 at inference.

    Returns:
        ``(clip, letterbox)`` with ``clip`` float32 ``Tensor[3, T, S, S]``.

    Raises:
        TypeError: If ``frames`` is not an array/Tensor.
        ValueError: If ``frames`` is not ``(T, H, W, 3)``.
    """
    clip, letterbox = letterbox_clip(
        frames, prep.image_size, scale_factor=scale_factor, resize=prep.resize
    )
    return normalize(clip, prep.mean, prep.std), letterbox


preprocess = preprocess_clip
"""Alias of :func:`preprocess_clip` (the name used in docs/CONVENTIONS.md)."""
