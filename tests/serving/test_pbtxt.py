"""The repository builder without a server: config.pbtxt text parsed by Triton's own
protobuf schema (tritonclient's ``model_config_pb2``), the layout for models without
detection or classification heads, the padding rules, bad settings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cofin_sdk.backends.triton_backend import bucket_size, pad_boxes
from cofin_sdk.models.record import ModelRecord
from serving.pbtxt import DynamicBatching, InstanceGroup, TensorSpec, Warmup, model_config, quote
from serving.python_model import group_by_shape
from serving.repository import build_repository, check_repository_out

text_format = pytest.importorskip("google.protobuf.text_format")
model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2")


def parse(path: Path):
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def _export_with(export: Path, tmp_path: Path, heads: list[str]) -> Path:
    """A copy of the export that keeps only ``heads`` (as `cofin export --heads` would)."""
    copy = tmp_path / "export"
    shutil.copytree(export, copy)
    manifest = json.loads((copy / "cofin_export.json").read_text())
    manifest["heads"] = {k: v for k, v in manifest["heads"].items() if k in heads}
    (copy / "cofin_export.json").write_text(json.dumps(manifest))
    return copy


def test_python_repository_configs(built):
    repo = built["repo"]
    assert sorted(p.name for p in repo.iterdir() if p.is_dir()) == [
        "cofin",
        "cofin_backbone",
        "cofin_head_ava",
        "cofin_head_kinetics",
        "cofin_head_ssv2",
    ]
    backbone = parse(repo / "cofin_backbone" / "config.pbtxt")
    assert backbone.backend == "python" and backbone.max_batch_size == 8
    assert [(i.name, i.data_type, list(i.dims)) for i in backbone.input] == [
        ("frames", model_config_pb2.TYPE_UINT8, [4, 32, 32, 3])
    ]
    assert [(o.name, list(o.dims)) for o in backbone.output] == [("features", [192, 2, 2])]
    assert backbone.dynamic_batching.max_queue_delay_microseconds == 1000
    assert list(backbone.dynamic_batching.preferred_batch_size) == [8]
    (group,) = backbone.instance_group
    assert group.kind == model_config_pb2.ModelInstanceGroup.KIND_CPU and group.count == 1
    assert [w.name for w in backbone.model_warmup] == ["random"]
    assert (repo / "cofin_backbone" / "1" / "model.py").is_file()
    assert (repo / "cofin_backbone" / "1" / "model.onnx").is_file()

    ava = parse(repo / "cofin_head_ava" / "config.pbtxt")
    assert [(i.name, list(i.dims)) for i in ava.input] == [
        ("features", [192, 2, 2]),
        ("boxes", [-1, 4]),
    ]
    assert [(o.name, list(o.dims)) for o in ava.output] == [("scores", [-1, 5])]
    assert [list(w.inputs["boxes"].dims) for w in ava.model_warmup] == [[8, 4], [16, 4], [32, 4]]
    assert all(
        w.inputs["boxes"].zero_data and w.inputs["features"].random_data for w in ava.model_warmup
    )

    ensemble = parse(repo / "cofin" / "config.pbtxt")
    assert ensemble.platform == "ensemble"
    assert [(i.name, list(i.dims)) for i in ensemble.input] == [
        ("frames", [4, 32, 32, 3]),
        ("boxes", [-1, 4]),
    ]
    assert [(o.name, list(o.dims)) for o in ensemble.output] == [
        ("scores_ava", [-1, 5]),
        ("scores_kinetics", [4]),
        ("scores_ssv2", [3]),
    ]
    steps = {
        s.model_name: (dict(s.input_map), dict(s.output_map))
        for s in ensemble.ensemble_scheduling.step
    }
    assert steps["cofin_backbone"] == ({"frames": "frames"}, {"features": "features"})
    assert steps["cofin_head_ava"] == (
        {"features": "features", "boxes": "boxes"},
        {"scores": "scores_ava"},
    )
    assert steps["cofin_head_ssv2"] == ({"features": "features"}, {"scores": "scores_ssv2"})
    assert ensemble.ensemble_scheduling.max_inflight_requests == 0  # the 2.51 server lacks it
    assert ensemble.parameters["cofin_box_buckets"].string_value == "8,16,32"
    for config in (backbone, ava, ensemble):  # every model describes itself
        record = ModelRecord.from_dict(json.loads(config.parameters["cofin_record"].string_value))
        assert list(record.heads) == ["ava", "kinetics", "ssv2"]
        assert record.heads["ava"].class_names == ["stand", "sit", "walk", "run", "wave"]


@pytest.mark.parametrize(
    "heads, inputs, outputs",
    [
        (["kinetics", "ssv2"], ["frames"], ["scores_kinetics", "scores_ssv2"]),  # no detection
        (["ava"], ["frames", "boxes"], ["scores_ava"]),  # no classification
    ],
)
def test_repository_without_detection_or_classification(built, tmp_path, heads, inputs, outputs):
    export = _export_with(built["export"], tmp_path, heads)
    repo = build_repository(
        export, tmp_path / "repo", platform="onnxruntime", max_batch=4, instances=2
    )
    ensemble = parse(repo / "cofin" / "config.pbtxt")
    assert [i.name for i in ensemble.input] == inputs
    assert [o.name for o in ensemble.output] == outputs
    assert sorted(p.name for p in repo.iterdir() if p.is_dir()) == sorted(
        ["cofin", "cofin_backbone", *[f"cofin_head_{h}" for h in heads]]
    )
    assert ensemble.ensemble_scheduling.max_inflight_requests == 16  # 4 x max_batch
    backbone = parse(repo / "cofin_backbone" / "config.pbtxt")
    assert backbone.platform == "onnxruntime_onnx" and backbone.max_batch_size == 4
    assert backbone.instance_group[0].count == 2
    assert backbone.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_AUTO
    assert (repo / "cofin_backbone" / "1" / "model.onnx").is_file()
    assert not (repo / "cofin_backbone" / "1" / "model.py").exists()


def test_rebuild_replaces_and_foreign_folders_are_refused(built, tmp_path):
    repo = build_repository(built["export"], tmp_path / "repo", platform="python", max_batch=2)
    repo = build_repository(built["export"], repo, platform="onnxruntime", max_batch=3)
    assert parse(repo / "cofin" / "config.pbtxt").max_batch_size == 3
    assert json.loads((repo / "cofin_repository.json").read_text())["platform"] == "onnxruntime"
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds no cofin repository"):
        check_repository_out(foreign)
    with pytest.raises(ValueError, match="holds no cofin repository"):
        build_repository(built["export"], foreign)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]  # no staging left


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"platform": "tflite"}, "choose one of onnxruntime, tensorrt, python"),
        ({"max_batch": 0}, "max_batch 0: must be an int >= 1"),
        ({"instances": 1.5}, "instances 1.5"),
        ({"box_buckets": (8, 0)}, "box_buckets"),
        ({"instance_kind": "tpu"}, "instance kind 'tpu'"),
        ({"platform": "tensorrt"}, "needs TensorRT engines"),
    ],
)
def test_bad_settings(built, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_repository(built["export"], tmp_path / "repo", **kwargs)
    assert not (tmp_path / "repo").exists()


def test_neither_export_nor_model(tmp_path):
    (tmp_path / "junk").mkdir()
    with pytest.raises(ValueError, match="neither a cofin export"):
        build_repository(tmp_path / "junk", tmp_path / "repo")


def test_writer_escapes_json_and_checks_inputs():
    record = json.dumps({"name": 'a "quoted" \\ name', "ünï": "ok\nline"})
    spec = TensorSpec("x", "float32", (3,))
    text = model_config(
        "m",
        "python",
        2,
        [spec],
        [spec],
        batching=DynamicBatching(0),
        instances=InstanceGroup(1, "gpu"),
        warmup=[Warmup("w", 1, (spec,), {"x": "random"})],
        parameters={"cofin_record": record},
    )
    config = text_format.Parse(text, model_config_pb2.ModelConfig())
    assert json.loads(config.parameters["cofin_record"].string_value) == json.loads(record)
    assert config.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
    assert quote('a"b') == '"a\\"b"'
    with pytest.raises(ValueError, match="dtype 'float64'"):
        TensorSpec("x", "float64", (3,))
    with pytest.raises(ValueError, match="dims must be"):
        TensorSpec("x", "float32", (0,))


def test_box_buckets_and_padding():
    assert [bucket_size(n) for n in (1, 7, 8, 9, 16, 17, 32, 33, 65)] == [
        8,
        8,
        8,
        16,
        16,
        32,
        32,
        64,
        96,
    ]
    assert bucket_size(3, (4, 2)) == 4
    boxes = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    padded = pad_boxes(boxes)
    assert padded.shape == (2, 8, 4)
    np.testing.assert_array_equal(padded[:, :3], boxes)
    np.testing.assert_array_equal(padded[:, 3:], np.repeat(boxes[:, :1], 5, axis=1))  # a real box
    assert pad_boxes(padded) is padded


def test_python_model_groups_requests_by_shape():
    shapes = [
        [(1, 192, 2, 2), (1, 8, 4)],
        [(2, 192, 2, 2), (2, 16, 4)],
        [(3, 192, 2, 2), (3, 8, 4)],
    ]
    assert group_by_shape(shapes) == [[0, 2], [1]]
    assert group_by_shape([]) == []


def test_a_model_folder_is_exported_first(built, tmp_path, monkeypatch):
    import cofin_sdk.export

    calls = []

    def fake_export(
        model, out, revision=None, cache_dir=None, progress=True
    ):  # real: tests/cofin_sdk
        calls.append((model, revision, cache_dir))
        shutil.copytree(built["export"], out)
        return out

    monkeypatch.setattr(cofin_sdk.export, "export", fake_export)
    repo = build_repository(
        built["model"], tmp_path / "repo", platform="python", revision="v1", cache_dir="/hub"
    )
    assert calls == [(built["model"], "v1", "/hub")]
    assert parse(repo / "cofin" / "config.pbtxt").output[0].name == "scores_ava"
    with pytest.raises(ValueError, match="--platform tensorrt needs TensorRT engines"):
        build_repository(built["model"], tmp_path / "trt", platform="tensorrt")


def _with_engines(export: Path, tmp_path: Path, max_batch: int, max_boxes: int) -> Path:
    """A copy of the export with (fake) TensorRT engines recorded as `--format tensorrt` does."""
    import hashlib

    copy = _export_with(export, tmp_path, ["ava", "kinetics", "ssv2"])
    manifest = json.loads((copy / "cofin_export.json").read_text())
    for entry in [manifest["backbone"], *manifest["heads"].values()]:
        plan = copy / entry["file"].replace(".onnx", ".plan")
        plan.write_bytes(b"engine of " + entry["file"].encode())
        profile = {
            spec["name"]: {
                "max": [
                    max_batch if d == "batch" else max_boxes if d == "num_boxes" else d
                    for d in spec["shape"]
                ]
            }
            for spec in entry["inputs"]
        }
        entry["tensorrt"] = {
            "file": plan.name,
            "sha256": hashlib.sha256(plan.read_bytes()).hexdigest(),
            "profile": profile,
        }
    (copy / "cofin_export.json").write_text(json.dumps(manifest))
    return copy


def test_tensorrt_repository_uses_the_engines_and_checks_their_profile(built, tmp_path):
    export = _with_engines(built["export"], tmp_path / "a", max_batch=8, max_boxes=32)
    repo = build_repository(export, tmp_path / "repo", platform="tensorrt")
    backbone = parse(repo / "cofin_backbone" / "config.pbtxt")
    assert backbone.platform == "tensorrt_plan"
    assert backbone.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
    assert (repo / "cofin_head_ava" / "1" / "model.plan").read_bytes() == b"engine of head_ava.onnx"
    small = _with_engines(built["export"], tmp_path / "b", max_batch=4, max_boxes=16)
    with pytest.raises(ValueError, match="takes batches up to 4 but --max-batch is 8"):
        build_repository(small, tmp_path / "repo2", platform="tensorrt")
    with pytest.raises(ValueError, match="takes up to 16 boxes but the largest box bucket is 32"):
        build_repository(small, tmp_path / "repo2", platform="tensorrt", max_batch=4)
    repo = build_repository(
        small, tmp_path / "repo2", platform="tensorrt", max_batch=4, box_buckets=(8, 16)
    )
    assert (
        parse(repo / "cofin" / "config.pbtxt").parameters["cofin_box_buckets"].string_value
        == "8,16"
    )
