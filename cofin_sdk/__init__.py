"""cofin: co-finetuned ViViT video transformers for spatio-temporal action localisation.

Public names are resolved lazily (PEP 562): ``import cofin_sdk`` is cheap, and
``cofin_sdk.results``, ``cofin_sdk.io.video``, ``cofin_sdk.Detections`` or even
``cofin_sdk.Detector`` import no torch; a torch model (or torch preprocessing) brings it.

Layout (one line per layer, lowest first; a part imports only its own layer and lower
ones, at module level or in functions, with no cycle: ``tests/cofin_sdk/test_layout.py``):

    formats/, io/, preprocessing.py   box rule, AVA CSVs; video, clip rule; Preprocessing
    results/                          Detections, Classifications, drawing
    tracking/                         person tracks: ByteTrack adapter, colour re-id
    models/, person_detection/        ViViT, the model record and saved form; person boxes
    export/                           ONNX graphs and TensorRT engines of a model
    backends/, hub/                   torch / onnxruntime / Triton inference; push_to_hub
    detector/                         the Detector facade: files, folders, live streams
    cli/                              the ``cofin`` command

Old module paths (``cofin_sdk.video``, ...) are aliases of the new modules for one
release: :mod:`cofin_sdk._moved`.

Example:
    >>> from cofin_sdk import Detector  # doctest: +SKIP
    >>> detector = Detector.from_pretrained("runs/synthetic_tiny/final")  # doctest: +SKIP
    >>> detections = detector.detect("video.mp4", every=1.0)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from cofin_sdk import _moved
from cofin_sdk._lazy import lazy_attributes

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time see __getattr__
    from .backends import Backend, TorchBackend
    from .detector import Analysis, DetectionStream, Detector, StreamResult
    from .hub import push_to_hub
    from .io.video import (
        VideoInfo,
        clip_frame_indices,
        iter_frames,
        probe,
        read_clip,
        read_frames_at,
        write_video,
    )
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
    from .results import ActionTimeline, Classifications, Detections

__version__ = "0.1.0"
__all__ = [
    "ActionTimeline",
    "Analysis",
    "push_to_hub",
    "AvaCsvBoxes",
    "Backend",
    "Classifications",
    "DetectionStream",
    "Detections",
    "Detector",
    "GivenBoxes",
    "HeadSpec",
    "HogPersonDetector",
    "Letterbox",
    "PersonDetector",
    "Preprocessing",
    "StreamResult",
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

# Public name -> the submodule defining it (torch-free: results, io.video).
_LAZY_NAMES: dict[str, str] = {
    **dict.fromkeys(["Backend", "TorchBackend"], "backends"),
    "Analysis": "detector",
    "push_to_hub": "hub",
    "Detector": "detector",
    **dict.fromkeys(["DetectionStream", "StreamResult"], "detector.stream"),
    **dict.fromkeys(
        [
            "HeadSpec",
            "ViViT",
            "ViViTConfig",
            "create_model",
            "from_pretrained",
            "init_from_vit",
            "list_models",
            "save_pretrained",
        ],
        "models",
    ),
    **dict.fromkeys(
        [
            "AvaCsvBoxes",
            "GivenBoxes",
            "HogPersonDetector",
            "PersonDetector",
            "TorchvisionPersonDetector",
            "get_person_detector",
        ],
        "person_detection",
    ),
    **dict.fromkeys(["Letterbox", "Preprocessing", "preprocess_clip"], "preprocessing"),
    **dict.fromkeys(["ActionTimeline", "Classifications", "Detections"], "results"),
    **dict.fromkeys(
        [
            "VideoInfo",
            "clip_frame_indices",
            "iter_frames",
            "probe",
            "read_clip",
            "read_frames_at",
            "write_video",
        ],
        "io.video",
    ),
}
# Subpackages and modules reachable as attributes after a bare ``import cofin_sdk`` (as
# ``cofin_sdk.models.create_model`` always was).
_LAZY_SUBMODULES = frozenset(
    ["backends", "cli", "detector", "export", "formats", "hub", "io", "models"]
    + ["person_detection", "preprocessing", "results"]
)

_moved.install()  # old module paths (cofin_sdk.video, ...): see cofin_sdk/_moved.py
_lazy_getattr, __dir__ = lazy_attributes(__name__, _LAZY_NAMES, _LAZY_SUBMODULES)


def __getattr__(name: str) -> object:
    if f"{__name__}.{name}" in _moved.MOVED:  # ``cofin_sdk.video`` after ``import cofin_sdk``
        return importlib.import_module(f"{__name__}.{name}")
    return _lazy_getattr(name)
