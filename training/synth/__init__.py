"""Synthetic AVA / Kinetics / Moments / SSv2 data in the real file formats.

See ``training.synth.presets`` for the preset sizes and ``docs/CONVENTIONS.md``
for the layout written. Entry points: ``generate`` (Python) and ``cofin synth`` (CLI).
"""

from __future__ import annotations

from training.synth.generator import SynthSummary, generate
from training.synth.presets import PRESETS, SynthPreset

__all__ = ["generate", "SynthSummary", "PRESETS", "SynthPreset"]
