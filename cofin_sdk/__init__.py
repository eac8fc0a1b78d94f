"""cofin: co-finetuned ViViT video transformers for spatio-temporal action localisation.

Example:
    >>> from cofin_sdk import Detector  # doctest: +SKIP
    >>> detector = Detector.from_pretrained("runs/synthetic_tiny/final")  # doctest: +SKIP
    >>> detections = detector.detect("video.mp4", every=1.0)  # doctest: +SKIP
"""

from __future__ import annotations

from .backends import Backend, TorchBackend
from .detector import Detector
from .models import (
    HeadSpec,
    ViViT,
    ViViTConfig,
    create_model,
    from_pretrained,
    init_from_vit,
    list_models,
    save_pretrained,
)
from .person_detection import (
    AvaCsvBoxes,
    GivenBoxes,
    HogPersonDetector,
    PersonDetector,
    TorchvisionPersonDetector,
    get_person_detector,
)
from .preprocessing import Letterbox, Preprocessing, preprocess_clip
from .results import Classifications, Detections
from .video import (
    VideoInfo,
    clip_frame_indices,
    iter_frames,
    probe,
    read_clip,
    read_frames_at,
    write_video,
)

__version__ = "0.1.0"
__all__ = [
    "AvaCsvBoxes",
    "Backend",
    "Classifications",
    "Detections",
    "Detector",
    "GivenBoxes",
    "HeadSpec",
    "HogPersonDetector",
    "Letterbox",
    "PersonDetector",
    "Preprocessing",
    "TorchBackend",
    "TorchvisionPersonDetector",
    "VideoInfo",
    "ViViT",
    "ViViTConfig",
    "__version__",
    "clip_frame_indices",
    "create_model",
    "from_pretrained",
    "get_person_detector",
    "init_from_vit",
    "iter_frames",
    "list_models",
    "preprocess_clip",
    "probe",
    "read_clip",
    "read_frames_at",
    "save_pretrained",
    "write_video",
]
