"""Export (ONNX graphs + metadata) and the onnxruntime backend (DESIGN.md, "Inference graph").

Parity is tested the torchvision way: the graphs are traced on one input (batch 2, 3 boxes)
and checked on others (batch 1, 3, 5; 1, 7, 33 boxes, boxes on the border, several videos)
against torch, within 1e-4 for every head.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from cofin_sdk import export as export_module
from cofin_sdk.backends import OnnxBackend, TorchBackend
from cofin_sdk.backends.onnx_backend import default_providers, providers_for_device
from cofin_sdk.detector import Detector
from cofin_sdk.export import (
    DEFAULT_OPSET,
    EXPORT_FILE,
    META_GRAPH,
    META_RECORD,
    check_tensorrt,
    configure_tensorrt,
    export,
    graph_io,
    read_export,
    sha256_file,
    tensorrt_profile,
    weights_sha256,
)
from cofin_sdk.models import create_model, from_pretrained
from cofin_sdk.models.record import ModelRecord, read_model_record
from cofin_sdk.preprocessing import Preprocessing

T, S, D = 4, 32, 192
HEADS = {
    "ava": {"task": "detection", "num_classes": 3, "class_names": ["stand", "sit", "walk"]},
    "k400": {"task": "classification", "num_classes": 5},
    "ssv2": {"task": "classification", "num_classes": 4},
}
GRAPHS = ["backbone", "head_ava", "head_k400", "head_ssv2"]
TOL = 1e-4


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = create_model(
        "vivit_ti16_fe", spatial_depth=1, temporal_depth=1, num_frames=T, image_size=S, heads=HEADS
    )
    model.preprocessing = Preprocessing(
        image_size=S, num_frames=T, mean=(0.4, 0.45, 0.5), std=(0.2, 0.25, 0.3)
    )
    return Path(model.save_pretrained(str(tmp_path_factory.mktemp("model") / "tiny")))


@pytest.fixture(scope="module")
def export_dir(model_dir: Path) -> Path:
    """The export every test reads: fp32 + int8 + fp16 graphs in the model's onnx/ folder."""
    return export(model_dir, model_dir / "onnx", int8_dynamic=True, fp16=True, progress=False)


@pytest.fixture(scope="module")
def torch_backend(model_dir: Path) -> TorchBackend:
    return TorchBackend(from_pretrained(model_dir))


@pytest.fixture(scope="module")
def onnx_backend(export_dir: Path) -> OnnxBackend:
    return OnnxBackend(export_dir)


def _clips(batch: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (batch, T, S, S, 3), dtype=np.uint8)


def _boxes(batch: int, n: int, seed: int) -> np.ndarray:
    """Random boxes plus the border cases: the whole input, edges, a 1-pixel box at a corner."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, S - 2, (batch, n, 2))
    boxes = np.concatenate([xy, np.minimum(xy + rng.uniform(1, S, (batch, n, 2)), S)], -1)
    border = [[0, 0, S, S], [0, 0, 1, 1], [S - 1, S - 1, S, S], [0, S / 2, S, S]]
    k = min(n, len(border))
    boxes[:, :k] = border[:k]
    return boxes.astype(np.float32)  # (B, N, 4) input pixels


# ------------------------------------------------------------------ files and metadata
def test_export_writes_every_graph_and_a_manifest_of_them(export_dir, model_dir):
    manifest = read_export(export_dir)
    variants = [f"{g}.{v}.onnx" for g in GRAPHS for v in ("int8", "fp16")]
    expected = {f"{g}.onnx" for g in GRAPHS} | set(variants) | {EXPORT_FILE}
    assert {p.name for p in export_dir.iterdir()} == expected == set(manifest["files"])
    assert manifest["clip"]["fixed"] and manifest["clip"]["num_frames"] == T
    assert manifest["weights_sha256"] == sha256_file(model_dir / "model.safetensors")
    entries = [manifest["backbone"], *manifest["heads"].values()]
    assert list(manifest["heads"]) == list(HEADS)
    for entry in entries:
        assert sha256_file(export_dir / entry["file"]) == entry["sha256"]
        for variant in entry["variants"].values():
            assert sha256_file(export_dir / variant["file"]) == variant["sha256"]
        assert entry["max_abs_diff"] < TOL  # measured at export, on inputs other than the trace


@pytest.mark.parametrize("file", [f"{g}{v}.onnx" for g in GRAPHS for v in ("", ".int8", ".fp16")])
def test_every_graph_checks_and_carries_the_record(export_dir, model_dir, file):
    model = onnx.load(export_dir / file)
    onnx.checker.check_model(model, full_check=True)
    meta = {p.key: p.value for p in model.metadata_props}
    assert ModelRecord.from_dict(json.loads(meta[META_RECORD])) == read_model_record(model_dir)
    graph = json.loads(meta[META_GRAPH])
    assert graph["weights_sha256"] == sha256_file(model_dir / "model.safetensors")
    assert graph["precision"] == (file.split(".")[1] if file.count(".") == 2 else "fp32")
    assert (graph["inputs"], graph["outputs"]) == graph_io(model)
    assert graph["role"] == ("backbone" if file.startswith("backbone") else "head")
    assert graph["clip"]["image_size"] == S


def test_graph_io_is_the_inference_contract(export_dir):
    io = {g: graph_io(onnx.load(export_dir / f"{g}.onnx")) for g in GRAPHS}
    features = {"name": "features", "dtype": "float32", "shape": ["batch", D, 2, 2]}
    assert io["backbone"] == (
        [{"name": "frames", "dtype": "uint8", "shape": ["batch", T, S, S, 3]}],
        [features],
    )
    boxes = {"name": "boxes", "dtype": "float32", "shape": ["batch", "num_boxes", 4]}
    scores = {"name": "scores", "dtype": "float32", "shape": ["batch", "num_boxes", 3]}
    assert io["head_ava"] == ([features, boxes], [scores])
    assert io["head_k400"][1][0]["shape"] == ["batch", 5]


def test_in_memory_weights_hash_like_the_saved_file(model_dir):
    assert weights_sha256(from_pretrained(model_dir)) == sha256_file(
        model_dir / "model.safetensors"
    )


# ------------------------------------------------------------------ parity with torch
@pytest.mark.parametrize("batch", [1, 3, 5])
def test_backbone_parity_on_other_batch_sizes(onnx_backend, torch_backend, batch):
    clips = _clips(batch, seed=10 + batch)
    got, expected = onnx_backend.features(clips), torch_backend.features(clips)
    assert got.shape == expected.shape == (batch, D, 2, 2)
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)


@pytest.mark.parametrize("batch", [1, 3, 5])
@pytest.mark.parametrize("num_boxes", [1, 7, 33])
def test_every_head_parity_on_other_batch_sizes_and_box_counts(
    onnx_backend, torch_backend, batch, num_boxes
):
    features = torch_backend.features(_clips(batch, seed=batch))  # the same input to both heads
    boxes = _boxes(batch, num_boxes, seed=num_boxes)
    got = onnx_backend.head("ava", features, boxes)
    assert got.shape == (batch, num_boxes, 3)
    np.testing.assert_allclose(got, torch_backend.head("ava", features, boxes), rtol=0, atol=TOL)
    for name in ("k400", "ssv2"):
        np.testing.assert_allclose(
            onnx_backend.head(name, features), torch_backend.head(name, features), rtol=0, atol=TOL
        )


@pytest.mark.parametrize("seed, size", [(0, (48, 64)), (1, (64, 40)), (2, (30, 30))])
def test_detector_from_export_matches_the_torch_detector(export_dir, model_dir, seed, size):
    rng = np.random.default_rng(seed)
    video = rng.integers(0, 256, (30, *size, 3), dtype=np.uint8)
    H, W = size
    boxes = {
        0.0: [[0, 0, W, H], [2, 3, W / 2, H - 1]],
        1.0: [[W - 5, H - 5, W, H]],
        2.0: [[1, 1, 9, 9], [0, 0, W, H / 2], [W / 3, 0, W, H]],
    }
    onnx_det = Detector.from_export(export_dir, progress=False, batch_size=2)
    torch_det = Detector.from_pretrained(model_dir, progress=False, batch_size=2)
    got, expected = (d.detect(video, fps=10, boxes=boxes) for d in (onnx_det, torch_det))
    assert len(got) == len(expected) == 6 and got.class_names == expected.class_names
    np.testing.assert_allclose(got.action_scores, expected.action_scores, rtol=0, atol=TOL)
    for head in ("k400", "ssv2"):
        a, b = (d.classify(video, fps=10, head=head, num_clips=3) for d in (onnx_det, torch_det))
        np.testing.assert_allclose(a.clip_probabilities, b.clip_probabilities, rtol=0, atol=TOL)


# ------------------------------------------------------------------ int8 / fp16 variants
@pytest.mark.parametrize(
    "variant, features_atol, atol", [("int8", 1.6e-2, 2e-2), ("fp16", 5e-2, 1e-2)]
)
def test_int8_and_fp16_graphs_run_on_cpu_close_to_torch(
    export_dir, torch_backend, variant, features_atol, atol
):
    """Seen here: int8 features within ~8e-3, scores ~1e-3; fp16 features ~3e-3, scores ~3e-4.

    int8 features: 8.1e-3 on an AVX2 CPU with the export's 7-bit weights, 3.0e-2 with full
    8-bit weights (``vpmaddubsw`` saturates without VNNI), hence the 1.6e-2 bound.
    """
    backend = OnnxBackend(export_dir, **{variant: True})
    assert backend.variant == variant and backend.providers == ["CPUExecutionProvider"]
    clips, boxes = _clips(3, seed=42), _boxes(3, 7, seed=42)
    features = backend.features(clips)
    np.testing.assert_allclose(features, torch_backend.features(clips), rtol=0, atol=features_atol)
    expected = torch_backend.features(clips)
    for name in HEADS:
        args = (boxes,) if name == "ava" else ()
        np.testing.assert_allclose(
            backend.head(name, features, *args),
            torch_backend.head(name, expected, *args),
            rtol=0,
            atol=atol,
        )


def test_int8_graphs_hold_7_bit_weights_as_their_manifest_says(export_dir):
    """reduce_range: |w| <= 64 keeps u8 x s8 pair sums inside int16 on CPUs without VNNI."""
    manifest = read_export(export_dir)
    assert manifest["int8"]["reduce_range"] is True and manifest["int8"]["weight_type"] == "QInt8"
    for graph in GRAPHS:
        weights = [
            onnx.numpy_helper.to_array(init)
            for init in onnx.load(export_dir / f"{graph}.int8.onnx").graph.initializer
            if init.data_type == onnx.TensorProto.INT8
        ]
        assert weights, f"{graph}.int8.onnx has no int8 weights"
        assert max(int(np.abs(w.astype(np.int16)).max()) for w in weights) <= 64, graph


def test_a_variant_the_export_lacks_names_the_flag(tmp_path, model_dir):
    out = export(model_dir, tmp_path / "plain", heads=["k400"], progress=False)
    assert {p.name for p in out.iterdir()} == {"backbone.onnx", "head_k400.onnx", EXPORT_FILE}
    with pytest.raises(ValueError, match="no int8 variant; export with --int8-dynamic"):
        OnnxBackend(out, int8=True)
    backend = OnnxBackend(out)
    assert list(backend.heads) == ["k400"]
    with pytest.raises(ValueError, match=r"this export has heads \['k400'\] \(not exported"):
        backend.head("ava", np.zeros((1, D, 2, 2), np.float32), _boxes(1, 1, 0))
    # An earlier export is replaced in place, its stale files removed.
    export(model_dir, out, heads=["ssv2"], progress=False)
    assert {p.name for p in out.iterdir()} == {"backbone.onnx", "head_ssv2.onnx", EXPORT_FILE}


# ------------------------------------------------------------------ from_pretrained, providers
def test_from_pretrained_onnx_uses_the_onnx_subfolder(export_dir, model_dir):
    detector = Detector.from_pretrained(model_dir, backend="onnx", device="cpu", progress=False)
    assert isinstance(detector.backend, OnnxBackend)
    assert detector.backend.export_dir == export_dir
    assert detector.heads == read_model_record(model_dir).heads
    assert detector.backend.allow_spinning is False  # the default: idle sessions do not spin
    # Session options travel through both constructors (not into the Detector's kwargs).
    spinning = Detector.from_pretrained(
        model_dir, backend="onnx", allow_spinning=True, intra_op_threads=1, progress=False
    )
    assert spinning.backend.allow_spinning is True and spinning.progress is False
    assert Detector.from_export(export_dir, allow_spinning=True).backend.allow_spinning is True


def test_from_pretrained_onnx_exports_on_the_fly_without_an_onnx_folder(
    tmp_path, model_dir, export_dir, monkeypatch, caplog
):
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(model_dir / name, bare / name)
    calls = []

    def fake_export(model, out, **kwargs):  # the real one is tested above; spare 5 s here
        calls.append(model)
        shutil.copytree(export_dir, out)
        return out

    monkeypatch.setattr(export_module, "export", fake_export)
    with caplog.at_level(logging.INFO):
        detector = Detector.from_pretrained(bare, backend="onnx", progress=False)
    assert calls == [bare] and list(detector.heads) == list(HEADS)
    assert "has no onnx/ export: exporting it to a temporary folder" in caplog.text


def test_from_pretrained_onnx_refuses_an_export_of_other_weights(tmp_path, model_dir, export_dir):
    stale = tmp_path / "stale"
    stale.mkdir()
    shutil.copy(model_dir / "config.json", stale / "config.json")
    (stale / "model.safetensors").write_bytes(b"retrained weights")
    shutil.copytree(export_dir, stale / "onnx")
    with pytest.raises(ValueError, match="was exported from other weights than"):
        Detector.from_pretrained(stale, backend="onnx")
    with pytest.raises(ValueError, match="backend='tflite': choose 'torch' or 'onnx'"):
        Detector.from_pretrained(stale, backend="tflite")


@pytest.mark.filterwarnings("ignore:Specified provider .CUDAExecutionProvider.")
def test_providers_are_the_ones_that_really_run(export_dir, caplog):
    assert default_providers()[-1] == "CPUExecutionProvider"
    assert providers_for_device("cpu") == ["CPUExecutionProvider"]
    assert providers_for_device("cuda:1")[0] == ("CUDAExecutionProvider", {"device_id": 1})
    with pytest.raises(ValueError, match="'cpu', 'cuda' or 'cuda:N'"):
        providers_for_device("mps")
    with caplog.at_level(logging.WARNING):
        backend = OnnxBackend(
            export_dir,
            providers=["CUDAExecutionProvider", "CPUExecutionProvider"],
            intra_op_threads=1,
        )
    assert backend.providers == ["CPUExecutionProvider"]  # no GPU here: onnxruntime fell back
    assert "could not use ['CUDAExecutionProvider']" in caplog.text


def test_onnx_backend_imports_and_runs_without_torch(export_dir):
    code = f"""
        import sys
        import numpy as np
        from cofin_sdk.backends import OnnxBackend
        from cofin_sdk import Detector
        backend = OnnxBackend({str(export_dir)!r})
        features = backend.features(np.zeros((2, {T}, {S}, {S}, 3), np.uint8))
        boxes = np.array([[[0, 0, {S}, {S}]], [[1, 2, 3, 4]]], np.float32)
        assert backend.head("ava", features, boxes).shape == (2, 1, 3)
        assert backend.head("k400", features).shape == (2, 5)
        Detector.from_export({str(export_dir)!r}, progress=False)
        print("torch" in sys.modules)
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_missing_onnxruntime_names_the_extra(export_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(
        ImportError, match=r'pip install "cofin-sdk\[onnx\]".*"cofin-sdk\[onnx-gpu\]"'
    ):
        OnnxBackend(export_dir)


# ------------------------------------------------------------------ bad exports (item 8)
def _edit_graph_metadata(folder: Path, file: str, key: str, edit) -> None:
    """Rewrites one metadata_props JSON of a graph and re-records the file's sha256, so only
    the metadata check can notice."""
    model = onnx.load(folder / file)
    for prop in model.metadata_props:
        if prop.key == key:
            value = json.loads(prop.value)
            edit(value)
            prop.value = json.dumps(value)
    onnx.save(model, folder / file)
    _edit_manifest(folder, lambda m: _entry(m, file).update(sha256=sha256_file(folder / file)))


def _entry(manifest: dict, file: str) -> dict:
    return next(e for e in [manifest["backbone"], *manifest["heads"].values()] if e["file"] == file)


def _edit_manifest(folder: Path, edit) -> None:
    manifest = json.loads((folder / EXPORT_FILE).read_text())
    edit(manifest)
    (folder / EXPORT_FILE).write_text(json.dumps(manifest))


BAD_EXPORTS = [
    ("missing_head_graph", lambda d: (d / "head_k400.onnx").unlink(),
     FileNotFoundError, r"head_k400.onnx is missing: cofin_export.json lists it for the head k400 graph"),
    ("no_manifest", lambda d: (d / EXPORT_FILE).unlink(), FileNotFoundError, "has no cofin_export.json"),
    ("manifest_not_json", lambda d: (d / EXPORT_FILE).write_text("{"), ValueError, "cofin_export.json: not valid JSON"),
    ("graph_file_changed", lambda d: (d / "head_ssv2.onnx").write_bytes((d / "head_k400.onnx").read_bytes()),
     ValueError, "head_ssv2.onnx: its sha256 differs from the one cofin_export.json records"),
    ("graph_of_another_model",
     lambda d: _edit_graph_metadata(d, "head_ssv2.onnx", META_RECORD, lambda r: r["preprocessing"].update(mean=[0.5] * 3)),
     ValueError, "head_ssv2.onnx: its metadata_props cofin_record differs from cofin_export.json's record at field 'preprocessing.mean'"),
    ("graph_of_other_weights",
     lambda d: _edit_graph_metadata(d, "head_ava.onnx", META_GRAPH, lambda g: g.update(weights_sha256="0" * 64)),
     ValueError, "head_ava.onnx: its metadata_props cofin_graph.weights_sha256 is '000"),
    ("manifest_record_edited",
     lambda d: _edit_manifest(d, lambda m: m["record"]["model"]["heads"]["ava"].update(class_names=["a", "b", "c"])),
     ValueError, "backbone.onnx: its metadata_props cofin_record differs from cofin_export.json's record at field 'model.heads.ava.class_names'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("tamper", "error", "message"), [r[1:] for r in BAD_EXPORTS], ids=[r[0] for r in BAD_EXPORTS]
)
def test_a_bad_export_is_refused_naming_the_file_and_field(
    export_dir, tmp_path, tamper, error, message
):
    folder = tmp_path / "export"
    shutil.copytree(export_dir, folder, ignore=shutil.ignore_patterns("*.int8.onnx", "*.fp16.onnx"))
    tamper(folder)
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        OnnxBackend(folder)


def _inputs(batch: int = 1, n: int = 2):
    features = np.zeros((batch, D, 2, 2), np.float32)
    return features, _boxes(batch, n, seed=0)


BAD_CALLS = [
    ("clip_of_another_size", lambda b: b.features(np.zeros((1, T, 64, 64, 3), np.uint8)),
     rf"frames must have shape \[B, {T}, {S}, {S}, 3\]"),
    ("clip_of_another_length", lambda b: b.features(np.zeros((1, 8, S, S, 3), np.uint8)), "frames must have shape"),
    ("float_clip", lambda b: b.features(np.zeros((1, T, S, S, 3), np.float32)), "frames must be uint8"),
    ("boxes_of_rank_2", lambda b: b.head("ava", _inputs()[0], _inputs()[1][0]), r"boxes must be \[B, N, 4\]"),
    ("boxes_of_rank_4", lambda b: b.head("ava", _inputs()[0], _inputs()[1][None]), r"boxes must be \[B, N, 4\]"),
    ("boxes_for_another_batch", lambda b: b.head("ava", _inputs(2)[0], _inputs(1)[1]), "boxes hold 1 clips but features 2"),
    ("nan_box", lambda b: b.head("ava", _inputs()[0], np.full((1, 1, 4), np.nan, np.float32)), "NaN"),
    ("no_boxes_for_detection", lambda b: b.head("ava", _inputs()[0]), "is a detection head: pass boxes"),
    ("boxes_for_classification", lambda b: b.head("k400", *_inputs()), "classification head and takes no boxes"),
    ("unknown_head", lambda b: b.head("kinetics", _inputs()[0]), r"unknown head 'kinetics'; this export has heads \['ava', 'k400', 'ssv2'\]"),
    ("features_of_another_model", lambda b: b.head("k400", np.zeros((1, 384, 2, 2), np.float32)),
     rf"features must be float32 \[B, {D}, 2, 2\]"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("call", "message"), [r[1:] for r in BAD_CALLS], ids=[r[0] for r in BAD_CALLS]
)
def test_bad_inputs_are_refused_before_onnxruntime_runs(onnx_backend, call, message):
    with pytest.raises(ValueError, match=message):
        call(onnx_backend)


# ------------------------------------------------------------------ export refusals
@pytest.mark.parametrize("opset", [14, 15, 17, 22, 23])
def test_opsets_where_roialign_is_wrong_or_cannot_run_are_refused(tmp_path, model_dir, opset):
    why = (
        "legacy exporter gives wrong numbers"
        if opset < 18
        else "cannot run RoiAlign at opsets 22-23"
    )
    with pytest.raises(ValueError, match=rf"opset={opset} is refused: .*{why}.*use 18\.\.21"):
        export(model_dir, tmp_path / "out", opset=opset)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"heads": ["ava", "nope"]}, "heads='nope': no such head; the model has ava (detection), k400"),
        ({"image_size": 64}, "image_size=64: the exported graphs have a fixed clip shape, the model record's 4 frames x 32x32"),
        ({"num_frames": 8}, "num_frames=8: the exported graphs have a fixed clip shape"),
        ({"format": "tflite"}, "format='tflite': choose one of onnx, tensorrt"),
        ({"batch": 0}, "batch=0: must be an int >= 1"),
        ({"batch": 9, "max_batch": 4}, "batch=9 is larger than max_batch=4"),
        ({"format": "tensorrt", "int8_dynamic": True}, "int8_dynamic is onnxruntime's CPU quantisation"),
    ],
)  # fmt: skip
def test_export_refuses_bad_arguments_before_writing(tmp_path, model_dir, kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        export(model_dir, tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_export_refuses_a_file_or_a_foreign_folder(tmp_path, model_dir):
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ValueError, match="file.txt is a file; give a folder"):
        export(model_dir, tmp_path / "file.txt")
    with pytest.raises(ValueError, match="non-empty folder that holds no cofin export"):
        export(model_dir, model_dir)  # never mixed into a random folder
    assert sorted(p.name for p in model_dir.iterdir() if p.name != "onnx") == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]


# ------------------------------------------------------------------ TensorRT
def test_tensorrt_profiles_cover_batch_and_box_count(export_dir):
    manifest = read_export(export_dir)
    backbone = tensorrt_profile(manifest["backbone"]["inputs"], batch=2, max_batch=16, max_boxes=64)
    assert backbone == {
        "frames": {"min": [1, T, S, S, 3], "opt": [2, T, S, S, 3], "max": [16, T, S, S, 3]}
    }
    head = tensorrt_profile(
        manifest["heads"]["ava"]["inputs"], batch=1, max_batch=None, max_boxes=4
    )
    assert head["boxes"] == {"min": [1, 1, 4], "opt": [1, 4, 4], "max": [8, 4, 4]}
    assert head["features"]["max"] == [8, D, 2, 2]
    with pytest.raises(ValueError, match="max_boxes=0: must be an int >= 1"):
        tensorrt_profile(manifest["heads"]["ava"]["inputs"], 1, 8, 0)


def test_tensorrt_builder_config_gets_the_profile_and_fp16():
    calls = []

    class Recorder:
        def __getattr__(self, name):
            return lambda *args: calls.append((name, *args)) or Recorder()

    trt = types.SimpleNamespace(
        MemoryPoolType=types.SimpleNamespace(WORKSPACE="workspace"),
        BuilderFlag=types.SimpleNamespace(FP16="fp16"),
    )
    profile = {"boxes": {"min": [1, 1, 4], "opt": [2, 8, 4], "max": [8, 32, 4]}}
    configure_tensorrt(trt, Recorder(), profile, fp16=True, workspace_gb=1)
    assert ("set_memory_pool_limit", "workspace", 1 << 30) in calls
    assert ("set_flag", "fp16") in calls
    assert ("set_shape", "boxes", (1, 1, 4), (2, 8, 4), (8, 32, 4)) in calls
    assert [c[0] for c in calls][-1] == "add_optimization_profile"


def _tensorrt_ready() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorrt") is not None and torch.cuda.is_available()


@pytest.mark.skipif(_tensorrt_ready(), reason="tensorrt and a CUDA GPU are present")
def test_tensorrt_export_stops_at_once_naming_what_is_missing(tmp_path, model_dir):
    with pytest.raises(
        (ImportError, ValueError), match="format=tensorrt needs .*a CUDA GPU"
    ) as exc:
        export(model_dir, tmp_path / "out", format="tensorrt")
    if exc.type is ImportError:
        assert "pip install tensorrt" in str(exc.value)
    assert not (tmp_path / "out").exists()


def test_tensorrt_installed_without_gpu_names_only_the_gpu(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: object() if name == "tensorrt" else real(name, *a),
    )
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"tensorrt needs a CUDA GPU \(torch") as exc:
        check_tensorrt("--format ")
    assert "pip install" not in str(exc.value)


@pytest.mark.gpu
@pytest.mark.skipif(not _tensorrt_ready(), reason="needs tensorrt and a CUDA GPU")
def test_tensorrt_engines_are_built_with_metadata_beside_them(tmp_path, model_dir):
    out = export(model_dir, tmp_path / "trt", format="tensorrt", fp16=True, progress=False)
    manifest = read_export(out)
    for entry in [manifest["backbone"], *manifest["heads"].values()]:
        plan = out / entry["tensorrt"]["file"]
        assert plan.stat().st_size > 0 and sha256_file(plan) == entry["tensorrt"]["sha256"]
        side = json.loads((out / entry["tensorrt"]["metadata"]).read_text())
        assert side["record"] == manifest["record"] and side["tensorrt"]["fp16"]


# ------------------------------------------------------------------ fused attention
def test_fused_attention_backbone_is_one_attention_node_per_block(export_dir, model_dir, tmp_path):
    manifest = read_export(export_dir)
    assert (manifest["opset"], manifest["backbone_opset"]) == (DEFAULT_OPSET, 23)

    def ops(folder: Path, name: str) -> tuple[int, list[str]]:
        proto = onnx.load(folder / name)
        opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
        return opset, [n.op_type for n in proto.graph.node]

    fused_opset, fused = ops(export_dir, "backbone.onnx")
    assert fused_opset == 23 and fused.count("Attention") == 2  # 1 spatial + 1 temporal block
    assert "Softmax" not in fused
    head_opset, _ = ops(export_dir, "head_ava.onnx")
    assert head_opset == DEFAULT_OPSET  # RoiAlign stays where onnxruntime runs it
    plain_dir = export(model_dir, tmp_path / "plain", fused_attention=False, progress=False)
    plain_opset, plain = ops(plain_dir, "backbone.onnx")
    assert plain_opset == DEFAULT_OPSET and "Attention" not in plain and "Softmax" in plain
    clips = _clips(3, seed=7)  # not the traced batch
    np.testing.assert_allclose(
        OnnxBackend(export_dir).features(clips), OnnxBackend(plain_dir).features(clips), atol=1e-5
    )
