"""The model record: saved in full, read by one typed reader, checked against the weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cofin_sdk import Detector, create_model, from_pretrained
from cofin_sdk.models import ViViT
from cofin_sdk.models.record import ModelRecord, read_model_record
from cofin_sdk.preprocessing import Preprocessing

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
    cfg.run.resize = "torch_bilinear_antialias"  # not the default: the config's rule is saved
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
        "resize": "torch_bilinear_antialias",
        "keyframe": "causal",
    }


def test_records_written_before_the_resize_rule_keep_the_torch_rule(saved: Path) -> None:
    assert read_model_record(saved).preprocessing.resize == "cv2_area"  # new records
    _edit(saved, lambda d: d["preprocessing"].pop("resize"))  # as cofin 0.1 wrote it
    assert read_model_record(saved).preprocessing.resize == "torch_bilinear_antialias"
    assert Detector.from_pretrained(saved, progress=False).preprocessing.resize == (
        "torch_bilinear_antialias"
    )


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
        (
            lambda d: d["preprocessing"].update(mean=[0.5]),
            r"preprocessing\.mean must be a list of 3",
        ),
        (lambda d: d.update(format_version=9), "unsupported format_version 9"),
        (lambda d: d.pop("model"), "missing field 'model'"),
    ],
)
def test_loading_checks_record_against_weights(saved: Path, change, match) -> None:
    _edit(saved, change)
    with pytest.raises(ValueError, match=match) as info:
        from_pretrained(saved)
    assert "config.json" in str(info.value) or "model.safetensors" in str(info.value)


# (field path, bad value, message): every field of the typed record is checked on load,
# naming the file and the dotted field (issue 17).
FIELD_ROWS = [
    ("model.num_heads", "three", "model.num_heads must be a positive integer, got 'three'"),
    ("model.num_heads", 0, "model.num_heads must be a positive integer, got 0"),
    ("model.num_heads", True, "model.num_heads must be a positive integer, got True"),
    ("model.embed_dim", 19.5, "model.embed_dim must be a positive integer, got 19.5"),
    ("model.mlp_ratio", "4", "model.mlp_ratio must be a positive number, got '4'"),
    ("model.mlp_ratio", -1.0, "model.mlp_ratio must be a positive number, got -1.0"),
    ("model.drop_path_rate", 1.5, r"model.drop_path_rate must be a number in \[0, 1\), got 1.5"),
    ("model.qkv_bias", "yes", "model.qkv_bias must be true or false, got 'yes'"),
    ("model.tubelet_size", [2, 16], "model.tubelet_size must be a list of 3 positive integers"),
    ("model.tubelet_size", "2x16x16", "model.tubelet_size must be a list, got str"),
    ("model.roi_sampling_ratio", -1, "model.roi_sampling_ratio must be a non-negative integer"),
    ("model.roi_pool", 7, "model.roi_pool must be a string, got 7"),
    ("model.heads", [], "model.heads must be a JSON object"),
    ("model.heads.ava.num_classes", "3", "model.heads.ava.num_classes must be a positive integer"),
    (
        "model.heads.ava.class_names",
        ["a", 2, "c"],
        "model.heads.ava.class_names must be a list of strings",
    ),
    ("model.heads.k400", "cls", "model.heads.k400 must be a JSON object, got 'cls'"),
    (
        "preprocessing.image_size",
        None,
        "preprocessing.image_size must be a positive integer, got None",
    ),
    ("preprocessing.frame_stride", 1.0, "preprocessing.frame_stride must be a positive integer"),
    ("preprocessing.std", ["a", 1, 1], "preprocessing.std must be a list of numbers"),
    ("preprocessing", [1, 2], "preprocessing must be a JSON object"),
    ("architecture", 3, "architecture must be a JSON string, got 3"),
    ("metadata", [1], "metadata must be a JSON object, got \\[1\\]"),
]


def _set_path(data: dict, path: str, value) -> None:
    *parents, leaf = path.split(".")
    for key in parents:
        data = data[key]
    data[leaf] = value


@pytest.mark.parametrize(
    ("path", "value", "match"), FIELD_ROWS, ids=[r[0] + "=" + repr(r[1]) for r in FIELD_ROWS]
)
def test_every_field_type_and_range_is_checked(saved: Path, path, value, match) -> None:
    _edit(saved, lambda d: _set_path(d, path, value))
    with pytest.raises(ValueError, match=match) as info:
        read_model_record(saved)
    assert str(info.value).startswith(str(saved / "config.json") + ": ")


def test_unknown_fields_warn_and_load(saved: Path, caplog) -> None:
    def add_fields(data):
        data["preprocessing"]["colour"] = "rgb"
        data["model"]["rope"] = True
        data["serving_hints"] = {}

    _edit(saved, add_fields)
    with caplog.at_level("WARNING", logger="cofin_sdk.models.record"):
        record = read_model_record(saved)
    assert record.preprocessing.image_size == 32
    warned = " ".join(r.getMessage() for r in caplog.records)
    for field in ("preprocessing.colour", "model.rope", "serving_hints"):
        assert f"ignoring unknown field {field}" in warned


def test_a_record_from_a_newer_cofin_says_which_version(saved: Path) -> None:
    def newer(data):
        data["cofin_version"] = "9.4.0"
        data["model"]["num_heads"] = {"spatial": 3, "temporal": 3}

    _edit(saved, newer)
    with pytest.raises(ValueError, match="model.num_heads must be a positive integer") as info:
        read_model_record(saved)
    assert "written by cofin 9.4.0, newer than this cofin" in str(info.value)
    _edit(saved, lambda d: d.update(format_version=2))
    with pytest.raises(ValueError, match="unsupported format_version 2.*written by cofin 9.4.0"):
        read_model_record(saved)


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
