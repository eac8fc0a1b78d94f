"""The model record: saved in full, read by one typed reader, checked against the weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cofin_sdk import Detector, create_model, from_pretrained
from cofin_sdk.models import ViViT
from cofin_sdk.preprocessing import Preprocessing
from cofin_sdk.record import ModelRecord, read_model_record

HEADS = {
    "ava": {"task": "detection", "num_classes": 3, "class_names": ["a", "b", "c"]},
    "k400": {"task": "classification", "num_classes": 4},
}


def _tiny() -> ViViT:
    return create_model(
        "vivit_ti16_fe", spatial_depth=1, temporal_depth=1, num_frames=4, image_size=32, heads=HEADS
    )


@pytest.fixture()
def saved(tmp_path: Path) -> Path:
    model = _tiny()
    model.preprocessing = Preprocessing(
        image_size=32, num_frames=4, frame_stride=3, mean=(0.4, 0.45, 0.5), std=(0.2, 0.25, 0.3)
    )
    return model.save_pretrained(str(tmp_path / "m"), metadata={"metrics": {"mAP": 0.25}})


def test_record_round_trips_and_backends_read_only_it(saved: Path) -> None:
    record = read_model_record(saved)
    assert record.architecture == "vivit_ti16_fe"
    assert record.preprocessing.mean == (0.4, 0.45, 0.5) and record.preprocessing.frame_stride == 3
    assert record.heads["ava"].class_names == ["a", "b", "c"]
    assert record.metadata["metrics"]["mAP"] == 0.25
    assert ModelRecord.from_dict(record.to_dict()) == record
    detector = Detector.from_pretrained(saved, progress=False)
    assert detector.preprocessing == record.preprocessing  # mean/std from the record
    assert set(detector.heads) == {"ava", "k400"}


def test_trainer_saves_the_whole_preprocessing(synth_root: Path, tmp_path: Path) -> None:
    from training.configs.base import load_config
    from training.trainer import build_datasets, build_model

    cfg = load_config("synthetic_tiny")[-1]
    for dataset in cfg.datasets:
        dataset.root = str(synth_root / Path(dataset.root).name)
    cfg.run.mean, cfg.run.std = (0.3, 0.4, 0.5), (0.6, 0.7, 0.8)
    cfg.run.keyframe = "causal"  # a causally trained model says so in its record
    model = build_model(cfg, build_datasets(cfg, "train"))
    folder = model.save_pretrained(str(tmp_path / "trained"))
    saved = json.loads((Path(folder) / "config.json").read_text())["preprocessing"]
    assert saved == {
        "image_size": cfg.run.image_size,
        "num_frames": cfg.run.num_frames,
        "frame_stride": cfg.run.frame_stride,
        "mean": [0.3, 0.4, 0.5],
        "std": [0.6, 0.7, 0.8],
        "keyframe": "causal",
    }


def _edit(folder: Path, change) -> None:
    path = folder / "config.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda d: d.update(architecture="vivit_h14_fe"), "unknown architecture 'vivit_h14_fe'"),
        (lambda d: d["preprocessing"].update(image_size=64), r"preprocessing\.image_size is 64"),
        (lambda d: d["preprocessing"].update(num_frames=8), r"preprocessing\.num_frames is 8"),
        (
            lambda d: (d["model"].update(image_size=64), d["preprocessing"].update(image_size=64)),
            r"weights are for image_size 32 but the record's model\.image_size is 64",
        ),
        (
            lambda d: (d["model"].update(num_frames=8), d["preprocessing"].update(num_frames=8)),
            r"weights are for num_frames 4 but the record's model\.num_frames is 8",
        ),
        (lambda d: d["model"].update(embed_dim=384, num_heads=6), "embed_dim 192"),
        (lambda d: d["model"]["heads"].pop("k400"), r"weights have heads \['ava', 'k400'\]"),
        (
            lambda d: d["model"]["heads"]["k400"].update(num_classes=9),
            r"head 'k400' has 4 classes in the weights",
        ),
        (lambda d: d["preprocessing"].update(mean=[0.5]), r"'preprocessing'.*3 finite floats"),
        (lambda d: d["preprocessing"].update(colour="rgb"), r"unknown preprocessing keys"),
        (lambda d: d.update(format_version=9), "unsupported format_version 9"),
        (lambda d: d.pop("model"), "missing field 'model'"),
    ],
)
def test_loading_checks_record_against_weights(saved: Path, change, match) -> None:
    _edit(saved, change)
    with pytest.raises(ValueError, match=match) as info:
        from_pretrained(saved)
    assert "config.json" in str(info.value) or "model.safetensors" in str(info.value)


def test_corrupt_files_are_clear_errors(saved: Path) -> None:
    weights = saved / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ValueError, match="model.safetensors.*truncated or corrupt"):
        from_pretrained(saved)
    (saved / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config\.json: not valid JSON"):
        read_model_record(saved)


def test_a_run_config_is_not_a_model_record(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"datasets": [], "run": {}}))
    with pytest.raises(ValueError, match="training config .* final/ folder"):
        read_model_record(tmp_path)


def test_from_pretrained_honours_subclasses(saved: Path) -> None:
    class MyViViT(ViViT):
        pass

    loaded = MyViViT.from_pretrained(str(saved))
    assert type(loaded) is MyViViT
    reference = from_pretrained(saved).eval()
    video = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(
            loaded.eval()(video, head="k400"), reference(video, head="k400"), rtol=0, atol=0
        )


def test_model_preprocessing_must_agree_with_architecture() -> None:
    model = _tiny()
    assert model.preprocessing == Preprocessing(image_size=32, num_frames=4)
    with pytest.raises(ValueError, match=r"preprocessing\.image_size=64 disagrees"):
        model.preprocessing = Preprocessing(image_size=64, num_frames=4)


def test_a_loaded_model_keeps_its_metadata_when_saved_again(saved: Path, tmp_path: Path) -> None:
    loaded = from_pretrained(saved)
    assert loaded.metadata == {"metrics": {"mAP": 0.25}}
    again = loaded.save_pretrained(str(tmp_path / "again"))
    assert read_model_record(again).metadata == {"metrics": {"mAP": 0.25}}
