"""Synthetic AVA / Kinetics / Moments / SSv2 data in the real file formats.

See ``training.synth.presets`` for the preset sizes and ``docs/CONVENTIONS.md``
for the layout written. Entry points: ``generate`` (Python) and ``cofin synth`` (CLI).

Names are resolved lazily (PEP 562) so that ``cofin synth --help``, which imports
``training.synth.cli``, does not load the renderer (numpy, OpenCV).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from training.synth.generator import SynthSummary, generate
    from training.synth.presets import PRESETS, SynthPreset

__all__ = ["generate", "SynthSummary", "PRESETS", "SynthPreset"]

# Public name -> the submodule defining it.
_LAZY_NAMES = {
    "generate": "generator",
    "SynthSummary": "generator",
    "PRESETS": "presets",
    "SynthPreset": "presets",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY_NAMES[name]}", __name__), name)
    globals()[name] = value  # cache: __getattr__ runs once per name
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
