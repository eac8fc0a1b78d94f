"""The ``bench2`` knobs of the generator: appearance cues, class dependencies, SSv2 scale."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.synth import PRESETS, generate
from training.synth.clips import ClipTask, render_clip
from training.synth.manipulation import render_manipulation
from training.synth.presets import SynthPreset
from training.synth.scenes import ACTOR_PALETTE
from training.synth.taxonomy import KINETICS_SPECS, SCENE_COLORS, appearance_cue


def _colour_fraction(frames: np.ndarray, colour: tuple[int, int, int], tol: int = 12) -> float:
    """Fraction of pixels within ``tol`` grey levels of ``colour`` in every channel."""
    diff = np.abs(frames.astype(np.int16) - np.asarray(colour, dtype=np.int16))
    return float((diff.max(axis=-1) <= tol).mean())


def _kinetics_task(label: str, cue_prob: float) -> ClipTask:
    index = list(KINETICS_SPECS).index(label)
    return ClipTask(
        "kinetics", label, 96, 72, 10, 2, "", appearance_cue("kinetics", index), cue_prob
    )


def test_cues_shown_with_probability_one_and_never_with_zero() -> None:
    label = "jogging"
    cue = _kinetics_task(label, 1.0).cue
    assert cue is not None
    shown = render_clip(_kinetics_task(label, 1.0), np.random.default_rng(3))
    hidden = render_clip(_kinetics_task(label, 0.0), np.random.default_rng(3))
    # the main actor wears the class colour: its pixels appear only when the cue is shown
    # (the random cast of the hidden clip is drawn from the same palette, so compare counts)
    clothing = ACTOR_PALETTE[cue.clothing]
    assert _colour_fraction(shown, clothing) > 0.01
    # the backdrop's mean colour moves towards the class's scene colour
    scene = np.asarray(SCENE_COLORS[cue.scene], dtype=float)
    top = slice(0, 12)  # sky / wall rows rarely hold actors
    d_shown = np.abs(shown[:, top].reshape(-1, 3).mean(0) - scene).sum()
    d_hidden = np.abs(hidden[:, top].reshape(-1, 3).mean(0) - scene).sum()
    assert d_shown < d_hidden


def test_no_single_cue_identifies_a_class() -> None:
    cues = [appearance_cue("kinetics", i) for i in range(len(KINETICS_SPECS))]
    assert len(set(cues)) == len(cues)  # every class has its own combination
    for field in ("scene", "clothing", "landmark"):
        values = [getattr(c, field) for c in cues]
        assert len(set(values)) < len(values), f"{field} alone would identify every class"


def test_class_dependencies_in_meta(tmp_path: Path) -> None:
    generate(tmp_path, preset="tiny", seed=0, workers=1, appearance_cues=0.6)
    meta = json.loads((tmp_path / "synth_meta.json").read_text())
    deps = meta["class_dependencies"]
    assert meta["appearance_cue_prob"] == 0.6
    ava = set(meta["ava"]["classes"])
    preset = PRESETS["tiny"]
    assert list(deps["kinetics"]) == list(preset.kinetics_classes)
    assert list(deps["ssv2"]) == list(preset.ssv2_templates)
    for dataset in ("kinetics", "mit"):
        for name, dep in deps[dataset].items():
            assert dep["motion"], name
            assert dep["shares_motion_with_ava"] == [m for m in dep["motion"] if m in ava]
            assert set(dep["cue"]) == {"scene", "clothing", "landmark"}
    assert all(d["cue"] is None and not d["shares_motion_with_ava"] for d in deps["ssv2"].values())
    shared = [n for n, d in deps["kinetics"].items() if d["shares_motion_with_ava"]]
    assert 0 < len(shared) < len(deps["kinetics"])  # some classes share AVA motions, some do not


def test_presets_without_the_new_knobs_keep_their_metadata(tmp_path: Path) -> None:
    generate(tmp_path, preset="tiny", seed=0, workers=1)
    meta = json.loads((tmp_path / "synth_meta.json").read_text())
    assert "class_dependencies" not in meta
    settings = json.dumps(meta)
    for knob in ("appearance_cues", "ava_actor_scale", "ssv2_object_scale"):
        assert knob not in settings


def _palette_pixels(frame: np.ndarray) -> int:
    """Pixels drawn exactly in a palette colour (the object; the table is noisy, sleeves random)."""
    flat = frame.reshape(-1, 1, 3).astype(np.int16)
    palette = np.asarray(ACTOR_PALETTE, dtype=np.int16).reshape(1, -1, 3)
    return int((flat == palette).all(-1).any(-1).sum())


def test_ssv2_object_scale_enlarges_object_and_keeps_the_hand_in_frame() -> None:
    def render(motion: str, scale: float, seed: int) -> np.ndarray:
        return render_manipulation(np.random.default_rng(seed), motion, "box", 96, 72, 10, 2, scale)

    # same seed: same object colour and base size; the area should grow about 1.8² = 3.2×
    ratios = [
        _palette_pixels(render("lift", 1.8, seed)[0])
        / _palette_pixels(render("lift", 1.0, seed)[0])
        for seed in range(5)
    ]
    assert 2.4 < float(np.median(ratios)) < 4.2, ratios
    # pretending to push a large object: the hand (skin) is visible while it "pushes"
    for seed in range(6):
        frames = render("pretend_push", 1.8, seed)
        middle = frames[8:14]  # τ ≈ 0.4-0.7, the pretend push
        skin = (middle[..., 0] > 190) & (middle[..., 1] > 140) & (middle[..., 2] > 110)
        skin &= middle[..., 0].astype(int) - middle[..., 2] > 25
        assert skin.reshape(len(middle), -1).sum(1).min() > 10, seed


def test_ssv2_object_scale_is_validated() -> None:
    base = PRESETS["tiny"]
    fields = {f: getattr(base, f) for f in base.__dataclass_fields__}
    with pytest.raises(ValueError, match="ssv2_object_scale"):
        SynthPreset(**{**fields, "ssv2_object_scale": 3.0})
