"""Causal keyframe placement in training and evaluation: ``run.keyframe`` reaches the AVA
clips the datasets read and the model record, and ``cofin eval --keyframe`` overrides it."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
from _fixtures import tiny_train_config

from cofin_sdk.io.video import read_clip


@pytest.fixture(scope="module")
def tiny_run(synth_root, tmp_path_factory) -> Path:
    from training.trainer import train

    out_dir = tmp_path_factory.mktemp("causal") / "run"
    cfg = tiny_train_config(synth_root, out_dir, **{"schedule.max_steps": 2, "eval.at_end": False})
    train(cfg)
    return out_dir


@pytest.mark.parametrize("placement", ["centre", "causal"])
def test_ava_clips_follow_run_keyframe(synth_root, tmp_path, placement):
    from training.builders import build_datasets

    cfg = tiny_train_config(synth_root, tmp_path, **{"run.keyframe": placement})
    for split in ("train", "eval"):
        ds = build_datasets(cfg, split)[0]
        source, time = ds.clip_source(0)
        prep = ds.preprocessing
        assert prep.keyframe == placement
        want = read_clip(source, time, prep.num_frames, prep.frame_stride, placement=placement)
        np.testing.assert_array_equal(ds.read_frames(0), want)
    other = "centre" if placement == "causal" else "causal"
    assert not np.array_equal(
        ds.read_frames(0),
        read_clip(source, time, prep.num_frames, prep.frame_stride, placement=other),
    )


def test_bad_run_keyframe_names_the_key(synth_root, tmp_path):
    cfg = tiny_train_config(synth_root, tmp_path, **{"run.keyframe": "middle"})
    with pytest.raises(ValueError, match="run.keyframe='middle': choose 'centre' or 'causal'"):
        cfg.validate()


def test_eval_keyframe_overrides_the_saved_placement(tiny_run, tmp_path):
    from training.evaluation.runner import main

    def detections(placement: str) -> str:
        out = tmp_path / placement
        args = argparse.Namespace(checkpoint=str(tiny_run / "final"), out=str(out))
        args.keyframe = placement
        assert main(args) == 0
        return (out / "ava_detections.csv").read_text()

    centre, causal = detections("centre"), detections("causal")
    assert centre.splitlines()[0].split(",")[:6] == causal.splitlines()[0].split(",")[:6]
    assert centre != causal  # same boxes, scores of other clips


def test_eval_bad_keyframe_fails_before_loading(tmp_path):
    from training.evaluation.runner import evaluate_checkpoint

    with pytest.raises(ValueError, match="--keyframe 'end': choose 'centre' or 'causal'"):
        evaluate_checkpoint(str(tmp_path / "no_such_model"), keyframe="end")
