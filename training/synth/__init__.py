"""Synthetic AVA / Kinetics / Moments / SSv2 data in the real file formats.

See ``training.synth.presets`` for the preset sizes and ``docs/CONVENTIONS.md``
for the layout written. Entry points: ``generate`` (Python) and ``cofin synth`` (CLI).

Names are resolved lazily (PEP 562) so that ``cofin synth --help``, which imports
``training.synth.cli``, does not load the renderer (numpy, OpenCV).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cofin_sdk._lazy import lazy_attributes

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


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY_NAMES)
