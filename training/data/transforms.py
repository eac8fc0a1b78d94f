"""Training augmentations applied through the shared preprocessing
(:func:`cofin_sdk.preprocessing.preprocess_clip`), with person boxes kept in step.

:func:`prepare_clip` is the single entry point of the datasets: it turns RGB
``uint8`` frames ``(T, H, W, 3)`` and normalised boxes into the model input
``Tensor[3, T, S, S]`` and INPUT-PIXEL boxes, with or without augmentation.
All randomness comes from torch's RNG (the default generator unless one is
passed), so ``torch.manual_seed`` and DataLoader worker seeding make it
reproducible.

Training order: scale jitter → horizontal flip → person-box jitter → clip/drop boxes.

* Scale jitter: the paper applies "scale jittering ... with a ratio uniformly
  sampled from the range [?]" (the range is illegible in our copy of App. A.1);
  we default to ``(0.875, 1.333)`` (≈ 1/1.14 … 4/3, a common video-detection
  choice). The longer side is resized to ``S * factor`` by the shared letterbox
  (``scale_factor``); a factor > 1 is followed by a random S×S crop inside the
  content, a factor < 1 leaves more bottom/right padding. No second resize.
* Horizontal flip mirrors the letterbox *content* only, so the zero padding stays
  at the right/bottom exactly as at inference time.
* Person-box jitter (paper: maximum perturbation ratio 0.15): each coordinate moves
  by ``U(-r, r)`` times the box width (x) or height (y).

Example:
    >>> import numpy as np
    >>> from cofin_sdk.preprocessing import Preprocessing
    >>> frames = np.zeros((4, 48, 64, 3), np.uint8)
    >>> out = prepare_clip(frames, Preprocessing(image_size=32, num_frames=4),
    ...                    np.array([[0.25, 0.25, 0.75, 0.75]]), TrainAugmentation())
    >>> tuple(out.video.shape), tuple(out.boxes.shape)
    ((3, 4, 32, 32), (1, 4))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from cofin_sdk.preprocessing import Letterbox, Preprocessing, preprocess_clip

#: Boxes narrower or lower than this (input pixels) after augmentation are dropped.
MIN_BOX_SIZE = 1.0


@dataclass(frozen=True)
class AugmentationConfig:
    """Training augmentation settings.

    Attributes:
        scale_range: Scale-jitter factor range ``(low, high)``; ``(1, 1)`` disables it.
        box_jitter: Maximum person-box perturbation as a fraction of the box size.
        horizontal_flip: Whether to flip (probability 0.5). Off for SSv2, whose
            classes name directions ("from left to right").
    """

    scale_range: tuple[float, float] = (0.875, 1.333)
    box_jitter: float = 0.15
    horizontal_flip: bool = True

    def __post_init__(self) -> None:
        low, high = self.scale_range
        if not 0 < low <= high:
            raise ValueError(f"scale_range must satisfy 0 < low <= high, got {self.scale_range}")
        if not 0 <= self.box_jitter < 0.5:
            raise ValueError(f"box_jitter must be in [0, 0.5), got {self.box_jitter}")


@dataclass
class PreparedClip:
    """Model input of one sample.

    Attributes:
        video: ``Tensor[3, T, S, S]`` normalised clip.
        boxes: ``Tensor[M, 4]`` boxes in input pixels (x1, y1, x2, y2).
        keep: ``Tensor[N]`` bool: which input boxes survived (augmentation can push a
            box out of the crop); ``M == keep.sum()``.
        letterbox: The frame → input transform (before flip and box jitter).
    """

    video: Tensor
    boxes: Tensor
    keep: Tensor
    letterbox: Letterbox


def _uniform(
    low: float, high: float, generator: torch.Generator | None, size: tuple[int, ...] = ()
) -> Tensor:
    return low + (high - low) * torch.rand(size, generator=generator)


def horizontal_flip(video: Tensor, boxes: Tensor, content_width: int) -> tuple[Tensor, Tensor]:
    """Mirror the content columns ``[0, content_width)`` of ``video[3, T, H, W]`` and the boxes."""
    video = video.clone()
    video[..., :content_width] = video[..., :content_width].flip(-1)
    flipped = boxes.clone()
    flipped[:, 0] = content_width - boxes[:, 2]
    flipped[:, 2] = content_width - boxes[:, 0]
    return video, flipped


def random_crop_offsets(
    letterbox: Letterbox, size: int, generator: torch.Generator | None = None
) -> tuple[int, int]:
    """Top-left corner of a random ``size`` crop of an enlarged letterbox canvas.

    The window stays inside the resized content where it can (it only covers padding
    when the content itself is smaller than ``size`` along that axis).
    """
    resized_w, resized_h = letterbox.resized_size
    max_x = max(0, min(letterbox.image_size, resized_w) - size)
    max_y = max(0, min(letterbox.image_size, resized_h) - size)
    x0 = int(torch.randint(0, max_x + 1, (), generator=generator))
    y0 = int(torch.randint(0, max_y + 1, (), generator=generator))
    return x0, y0


def jitter_boxes(
    boxes: Tensor, max_ratio: float, generator: torch.Generator | None = None
) -> Tensor:
    """Move each coordinate by ``U(-max_ratio, max_ratio)`` × the box width / height."""
    size = (boxes[:, 2:] - boxes[:, :2]).repeat(1, 2)  # (N, 4): w, h, w, h
    return boxes + _uniform(-max_ratio, max_ratio, generator, tuple(boxes.shape)) * size


def clip_boxes(boxes: Tensor, width: int, height: int) -> tuple[Tensor, Tensor]:
    """Clip boxes to the image; return them and the mask of boxes still ≥ ``MIN_BOX_SIZE``."""
    x = boxes[:, 0::2].clamp(0, width)
    y = boxes[:, 1::2].clamp(0, height)
    x, y = x.sort(dim=1).values, y.sort(dim=1).values  # jitter may swap a pair
    clipped = torch.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], dim=1)
    keep = ((clipped[:, 2] - clipped[:, 0]) >= MIN_BOX_SIZE) & (
        (clipped[:, 3] - clipped[:, 1]) >= MIN_BOX_SIZE
    )
    return clipped, keep


class TrainAugmentation:
    """Scale jitter, horizontal flip and person-box jitter for one training sample.

    Args:
        config: The settings (defaults: paper-like, see the module docstring).

    Example:
        >>> aug = TrainAugmentation(AugmentationConfig(horizontal_flip=False))
        >>> aug.config.box_jitter
        0.15
    """

    def __init__(self, config: AugmentationConfig | None = None) -> None:
        self.config = config or AugmentationConfig()

    def __call__(
        self,
        frames: np.ndarray,
        prep: Preprocessing,
        boxes_norm: np.ndarray,
        generator: torch.Generator | None = None,
    ) -> PreparedClip:
        """Preprocess ``frames (T, H, W, 3)`` with augmentation; see :func:`prepare_clip`."""
        cfg = self.config
        # Draw the per-sample random numbers up front, in a fixed order.
        scale = float(_uniform(*cfg.scale_range, generator))
        flip = cfg.horizontal_flip and bool(torch.rand((), generator=generator) < 0.5)
        video, letterbox = preprocess_clip(frames, prep, scale_factor=scale)
        size = prep.image_size
        if letterbox.image_size > size:
            x0, y0 = random_crop_offsets(letterbox, size, generator)
            video = video[:, :, y0 : y0 + size, x0 : x0 + size]  # (3, T, S, S)
            letterbox = letterbox.crop(x0, y0, size)
        boxes = _to_input(letterbox, boxes_norm)
        if flip:
            content_w = min(size, round(letterbox.resized_size[0] + letterbox.pad_x))
            video, boxes = horizontal_flip(video, boxes, content_w)
        if cfg.box_jitter > 0 and len(boxes):
            boxes = jitter_boxes(boxes, cfg.box_jitter, generator)
        boxes, keep = clip_boxes(boxes, size, size)
        return PreparedClip(video.contiguous(), boxes[keep], keep, letterbox)


def _to_input(letterbox: Letterbox, boxes_norm: np.ndarray) -> Tensor:
    """Normalised ``[N, 4]`` boxes → ``Tensor[N, 4]`` float32 input pixels."""
    if len(boxes_norm) == 0:
        return torch.zeros(0, 4)
    return torch.from_numpy(letterbox.norm_to_input(np.asarray(boxes_norm, np.float64))).float()


def prepare_clip(
    frames: np.ndarray,
    prep: Preprocessing,
    boxes_norm: np.ndarray | None = None,
    augmentation: TrainAugmentation | None = None,
    generator: torch.Generator | None = None,
) -> PreparedClip:
    """Frames + normalised boxes → model input, augmented when ``augmentation`` is given.

    Args:
        frames: RGB ``uint8`` ``(T, H, W, 3)`` from :func:`cofin_sdk.io.video.read_clip`.
        prep: The model's preprocessing.
        boxes_norm: ``[N, 4]`` boxes normalised to the original frame (``None``: no boxes).
        augmentation: Training augmentation, ``None`` for evaluation (plain letterbox).
        generator: Optional RNG for the augmentation (default: torch's global RNG).

    Returns:
        The :class:`PreparedClip`.
    """
    boxes_norm = np.zeros((0, 4)) if boxes_norm is None else boxes_norm
    if augmentation is not None:
        return augmentation(frames, prep, boxes_norm, generator)
    video, letterbox = preprocess_clip(frames, prep)
    boxes = _to_input(letterbox, boxes_norm)
    return PreparedClip(video, boxes, torch.ones(len(boxes), dtype=torch.bool), letterbox)
