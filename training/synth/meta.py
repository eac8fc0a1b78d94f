"""``synth_meta.json``: generator settings, class lists, head/mid/tail split."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from typing import Any

from training.synth.ava import MOVIE_OFFSET, AvaVideoResult
from training.synth.taxonomy import (
    ADDONS,
    KINETICS_SPECS,
    MIT_SPECS,
    POSE_WEIGHTS,
    SSV2_OBJECTS,
    appearance_cue,
    distinctive_motions,
)

__all__ = ["build_meta", "class_dependencies", "head_mid_tail", "label_kinds", "META_VERSION"]

META_VERSION = 1
# The paper (App.): of 60 evaluated AVA classes, 8 head (>10k train labels),
# 23 mid (1k-10k), 29 tail (<1k).
PAPER_SPLIT = {"head": 8, "mid": 23, "tail": 29}
PAPER_THRESHOLDS = {"head_above": 10000, "tail_below": 1000}
_OBJECT_ADDONS = ("carry", "phone", "drink", "throw", "point")


def label_kinds(classes: Sequence[str]) -> dict[str, str]:
    """AVA ``label_type`` of each class (PERSON_MOVEMENT / OBJECT_MANIPULATION / PERSON_INTERACTION)."""
    kinds = {}
    for name in classes:
        if name in POSE_WEIGHTS or name not in ADDONS:
            kinds[name] = "PERSON_MOVEMENT"
        elif ADDONS[name].pair:
            kinds[name] = "PERSON_INTERACTION"
        elif name in _OBJECT_ADDONS:
            kinds[name] = "OBJECT_MANIPULATION"
        else:
            kinds[name] = "PERSON_MOVEMENT"
    return kinds


def head_mid_tail(train_counts: Counter, evaluated: Sequence[str]) -> dict[str, Any]:
    """Head/mid/tail thresholds scaled to this dataset.

    The paper's absolute thresholds (10k / 1k labels) mean nothing at this size,
    so they are re-derived by rank: the same *fractions* of evaluated classes as
    in the paper (8/60 head, 29/60 tail) and thresholds half-way between the
    counts at the boundaries. Rule: head if ``count > head_above``, tail if
    ``count < tail_below``, else mid.
    """
    ranked = sorted(evaluated, key=lambda c: (-train_counts.get(c, 0), c))
    counts = [train_counts.get(c, 0) for c in ranked]
    n = len(ranked)
    total = sum(PAPER_SPLIT.values())
    n_head = max(1, round(n * PAPER_SPLIT["head"] / total))
    n_tail = max(1, round(n * PAPER_SPLIT["tail"] / total))
    head_above = (counts[n_head - 1] + counts[min(n_head, n - 1)]) / 2 if n > 1 else counts[0]
    tail_below = (counts[n - n_tail - 1] + counts[n - n_tail]) / 2 if n > n_tail else 0
    tail_below = min(tail_below, head_above)
    groups: dict[str, list[str]] = {"head": [], "mid": [], "tail": []}
    for name, count in zip(ranked, counts, strict=True):
        group = "head" if count > head_above else "tail" if count < tail_below else "mid"
        groups[group].append(name)
    return {
        "head_above": head_above,
        "tail_below": tail_below,
        "rule": "head: count > head_above; tail: count < tail_below; mid otherwise (train labels)",
        "paper_thresholds": PAPER_THRESHOLDS,
        **groups,
    }


def class_dependencies(preset: Any) -> dict[str, dict[str, dict]]:
    """What each upstream class depends on: motion (shared with an AVA class or not) and cues.

    ``motion`` is the class's distinctive motion(s) (add-ons, else the pose or an
    object motion); ``shares_motion_with_ava`` lists the preset's AVA classes among
    them (the transfer co-finetuning can exploit); ``cue`` is the appearance shown with
    probability ``appearance_cues`` each (``None`` for SSv2-like: motion only).
    """
    ava = set(preset.ava_classes)
    out: dict[str, dict[str, dict]] = {}
    for dataset, classes, specs in (
        ("kinetics", preset.kinetics_classes, KINETICS_SPECS),
        ("mit", preset.mit_classes, MIT_SPECS),
    ):
        out[dataset] = {}
        for i, name in enumerate(classes):
            motion = distinctive_motions(specs[name])
            cue = appearance_cue(dataset, i)
            out[dataset][name] = {
                "motion": motion,
                "shares_motion_with_ava": [m for m in motion if m in ava],
                "cue": dataclasses.asdict(cue),
            }
    out["ssv2"] = {
        t: {"motion": [t], "shares_motion_with_ava": [], "cue": None} for t in preset.ssv2_templates
    }
    return out


def build_meta(
    preset: Any, seed: int, results: Sequence[AvaVideoResult], counts: dict[str, dict[str, Counter]]
) -> dict:
    """The JSON-serialisable content of ``synth_meta.json``."""
    evaluated = [c for c in preset.ava_classes if c not in preset.ava_not_evaluated]
    train_counts = counts["ava"]["train"]
    clip = {"size": list(preset.clip_size), "duration": preset.clip_duration, "fps": preset.fps}
    settings = dataclasses.asdict(preset)
    extra: dict[str, Any] = {}
    if preset.appearance_cues > 0:  # presets without cues keep their pre-bench2 metadata
        extra["class_dependencies"] = class_dependencies(preset)
        extra["appearance_cue_prob"] = preset.appearance_cues
    else:
        settings.pop("appearance_cues")
    for knob in ("ava_actor_scale", "ssv2_object_scale"):  # added after `bench`: keep old metadata
        if settings[knob] == 1.0:
            settings.pop(knob)
    return {
        "meta_version": META_VERSION,
        "preset": preset.name,
        "seed": seed,
        "fps": preset.fps,
        "ava": {
            "classes": list(preset.ava_classes),
            "evaluated": evaluated,
            "label_types": label_kinds(preset.ava_classes),
            "size": list(preset.ava_size),
            "duration": preset.ava_duration,
            "fps": preset.fps,
            "first_keyframe": MOVIE_OFFSET + 2,
            "last_keyframe": MOVIE_OFFSET + preset.ava_duration - 2,
            "videos": {
                split: [r.video_id for r in results if r.split == split]
                for split in ("train", "val")
            },
            "train_counts": {c: train_counts.get(c, 0) for c in preset.ava_classes},
            "val_counts": {c: counts["ava"]["val"].get(c, 0) for c in preset.ava_classes},
            "head_mid_tail": head_mid_tail(train_counts, evaluated),
            "actor_colors": {
                r.video_id: {str(k): list(v) for k, v in r.colors.items()} for r in results
            },
        },
        "kinetics": {"classes": list(preset.kinetics_classes), **clip},
        "mit": {"classes": list(preset.mit_classes), **clip},
        "ssv2": {"templates": list(preset.ssv2_templates), "objects": sorted(SSV2_OBJECTS), **clip},
        "clip_counts": {
            d: {s: dict(c) for s, c in v.items()} for d, v in counts.items() if d != "ava"
        },
        "settings": settings,
        **extra,
    }
