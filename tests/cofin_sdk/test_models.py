"""ViViT model: shapes, gradients, heads, validation, resampling, save/load."""

from __future__ import annotations

import json

import pytest
import torch

from cofin_sdk import create_model, from_pretrained, list_models
from cofin_sdk.models import HeadSpec

HEADS = {
    "ava": {"task": "detection", "num_classes": 6},
    "k400": {"task": "classification", "num_classes": 5},
    "ssv2": {"task": "classification", "num_classes": 3},
}
TINY = dict(spatial_depth=1, temporal_depth=1, num_frames=4, image_size=32)


def tiny_model(name: str = "vivit_ti16_fe", **kw) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(name, heads=HEADS, **{**TINY, **kw})


def video(B: int = 2, T: int = 4, H: int = 32, W: int = 32) -> torch.Tensor:
    return torch.randn(B, 3, T, H, W, generator=torch.Generator().manual_seed(1))


BOXES = torch.tensor(
    [[0, 1.0, 2.0, 20.0, 30.0], [1, 0.0, 0.0, 31.0, 31.0], [1, 8.0, 8.0, 16.0, 24.0]]
)


def test_registry_lists_paper_variants():
    assert {"vivit_ti16_fe", "vivit_s16_fe", "vivit_b16_fe", "vivit_l16_fe"} <= set(list_models())
    cfg_b = create_model(
        "vivit_b16_fe", spatial_depth=1, temporal_depth=1, num_frames=4, image_size=32
    ).config
    assert (cfg_b.embed_dim, cfg_b.num_heads) == (768, 12)
    from cofin_sdk.models import model_config

    l16 = model_config("vivit_l16_fe")
    assert (l16.embed_dim, l16.spatial_depth, l16.temporal_depth, l16.num_heads) == (
        1024,
        24,
        4,
        16,
    )
    b16 = model_config("vivit_b16_fe")
    assert (b16.spatial_depth, b16.temporal_depth, b16.tubelet_size) == (12, 4, (2, 16, 16))


@pytest.mark.parametrize("name", list_models())
def test_every_variant_forward_backward(name):
    model = tiny_model(name)
    D = model.config.embed_dim
    x = video()
    tokens = model.forward_features(x)
    assert tokens.shape == (2, 2, 2, 2, D)  # (B, t, h, w, D)
    assert model(x, head="k400").shape == (2, 5)
    logits = model(x, head="ava", boxes=BOXES)
    assert logits.shape == (3, 6)
    logits.sum().backward()
    assert all(
        p.grad is not None for p in model.parameters() if not _in_other_head(p, model, "ava")
    )


def _in_other_head(param, model, head):
    return any(param is p for n, m in model.heads.items() if n != head for p in m.parameters())


@pytest.mark.parametrize("head,boxes", [("k400", None), ("ava", BOXES)])
def test_every_parameter_on_the_head_path_gets_a_gradient(head, boxes):
    model = tiny_model()
    model(video(), head=head, boxes=boxes).square().sum().backward()
    for name, p in model.named_parameters():
        on_path = not name.startswith("heads.") or name.startswith(f"heads.{head}.")
        if on_path:
            assert p.grad is not None and p.grad.abs().sum() > 0, f"{name} got no gradient"
        else:
            assert p.grad is None, f"{name} is off the {head} path but got a gradient"


def test_heads_switch_on_shared_tokens():
    model = tiny_model().eval()
    x = video()
    with torch.no_grad():
        tokens = model.forward_features(x)
        a = model.forward_head(tokens, "k400")
        b = model.forward_head(tokens, "ssv2")
        assert a.shape == (2, 5) and b.shape == (2, 3)
        torch.testing.assert_close(model(x, head="k400"), a)


def test_classification_head_means_all_tokens():
    model = tiny_model().eval()
    with torch.no_grad():
        tokens = model.forward_features(video())
        expected = model.heads["k400"].fc(tokens.reshape(2, -1, tokens.shape[-1]).mean(1))
        torch.testing.assert_close(model.forward_head(tokens, "k400"), expected)


def test_variable_box_counts_per_sample_match_single_sample_runs():
    model = tiny_model().eval()
    x = video(B=3)
    boxes = torch.tensor([[0, 1.0, 1, 9, 9], [0, 2, 2, 30, 30], [0, 5, 5, 6, 6], [2, 0, 0, 31, 31]])
    with torch.no_grad():
        batched = model(x, head="ava", boxes=boxes)
        for b in range(3):
            rows = boxes[:, 0] == b
            single_boxes = boxes[rows].clone()
            single_boxes[:, 0] = 0
            single = model(x[b : b + 1], head="ava", boxes=single_boxes)
            torch.testing.assert_close(batched[rows], single, atol=1e-5, rtol=1e-5)


def test_zero_boxes_give_empty_logits():
    model = tiny_model()
    out = model(video(), head="ava", boxes=torch.zeros(0, 5))
    assert out.shape == (0, 6)


def test_detection_head_pools_box_region_only():
    """A box's logits depend only on tokens under the box (ROI-Align locality)."""
    model = tiny_model().eval()
    tokens = torch.randn(1, 2, 2, 2, model.config.embed_dim)
    # aligned ROI-Align samples bilinearly between token centres (pixel 8, 24, ...): a box
    # ending at the first centre reads the top-left token alone.
    box = torch.tensor([[0, 0.0, 0.0, 8.0, 8.0]])
    with torch.no_grad():
        ref = model.forward_head(tokens, "ava", box)
        changed = tokens.clone()
        changed[:, :, 1, :] += 10.0  # bottom row
        changed[:, :, :, 1] += 10.0  # right column
        torch.testing.assert_close(model.forward_head(changed, "ava", box), ref)
        changed[:, :, 0, 0] += 10.0
        assert not torch.allclose(model.forward_head(changed, "ava", box), ref)


NAN_BOX = torch.tensor([[0, float("nan"), 0, 5, 5]])


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(head="kinetics700"), ValueError, "unknown head 'kinetics700'.*heads"),
        (dict(head="ava"), ValueError, "detection head: pass boxes"),
        (dict(head="k400", boxes=BOXES), ValueError, "classification head and takes no boxes"),
        (
            dict(head="ava", boxes=torch.zeros(3, 4)),
            ValueError,
            r"Tensor\[K,5\].*got shape \(3, 4\)",
        ),
        (dict(head="ava", boxes=[[0, 1, 1, 2, 2]]), TypeError, "boxes must be a torch.Tensor"),
        (dict(head="ava", boxes=NAN_BOX), ValueError, "NaN"),
        (dict(head="ava", boxes=torch.tensor([[5, 0, 0, 5, 5.0]])), ValueError, "batch indices"),
        (dict(head="ava", boxes=torch.tensor([[0.5, 0, 0, 5, 5.0]])), ValueError, "batch indices"),
        (dict(head="ava", boxes=torch.tensor([[0, 9, 0, 5, 5.0]])), ValueError, "x2 >= x1"),
    ],
)
def test_bad_head_and_box_inputs_raise_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        tiny_model()(video(), **kwargs)


@pytest.mark.parametrize(
    "shape,match",
    [
        ((2, 4, 32, 32), r"Tensor\[B,3,T,H,W\]"),
        ((2, 1, 4, 32, 32), r"Tensor\[B,3,T,H,W\]"),
        ((2, 3, 3, 32, 32), "multiples of the tubelet"),
        ((2, 3, 4, 30, 32), "multiples of the tubelet"),
    ],
)
def test_bad_video_shapes(shape, match):
    with pytest.raises(ValueError, match=match):
        tiny_model()(torch.randn(*shape), head="k400")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(name="vivit_h14_fe"), "unknown model 'vivit_h14_fe'"),
        (dict(spatial_detph=2), r"unknown model options \['spatial_detph'\]"),
        (dict(heads={"ava": {"task": "segmentation", "num_classes": 3}}), "head 'ava'.*task"),
        (dict(heads={"ava": {"task": "detection", "num_classes": 0}}), "num_classes"),
        (
            dict(heads={"ava": {"task": "detection", "num_classes": 2, "class_names": ["a"]}}),
            "class_names has 1",
        ),
        (dict(num_frames=5), "multiple of the tubelet"),
    ],
)
def test_bad_model_configs(kwargs, match):
    args = {"name": "vivit_ti16_fe", **TINY, **kwargs}
    with pytest.raises(ValueError, match=match):
        create_model(args.pop("name"), **args)


def test_position_embeddings_resample_for_other_sizes():
    model = tiny_model().eval()
    with torch.no_grad():
        tokens = model.forward_features(video(B=1, T=8, H=48, W=64))
    assert tokens.shape == (1, 4, 3, 4, model.config.embed_dim)
    boxes = torch.tensor([[0, 0.0, 0.0, 63.0, 47.0]])
    assert model(video(B=1, T=8, H=48, W=64), head="ava", boxes=boxes).shape == (1, 6)


def test_stochastic_depth_is_linear_and_only_active_in_training():
    model = tiny_model(drop_path_rate=0.2, spatial_depth=3, temporal_depth=1)
    rates = [
        b.drop_path.drop_prob if hasattr(b.drop_path, "drop_prob") else 0.0
        for b in [*model.spatial_blocks, *model.temporal_blocks]
    ]
    assert rates == pytest.approx([0.0, 0.2 / 3, 0.4 / 3, 0.2])
    x = video()
    model.train()
    torch.manual_seed(0)
    a = model(x, head="k400")
    b = model(x, head="k400")
    assert not torch.allclose(a, b)
    model.eval()
    torch.testing.assert_close(model(x, head="k400"), model(x, head="k400"))


def test_gradient_checkpointing_gives_identical_gradients():
    x = video()
    grads = []
    for ckpt in (False, True):
        model = tiny_model(grad_checkpointing=ckpt)
        model(x, head="ava", boxes=BOXES).sum().backward()
        grads.append(
            torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        )
    torch.testing.assert_close(grads[0], grads[1])


def test_bf16_autocast_runs_and_stays_close():
    model = tiny_model().eval()
    x = video()
    with torch.no_grad():
        ref = model(x, head="ava", boxes=BOXES)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(x, head="ava", boxes=BOXES)
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), ref, atol=0.1, rtol=0.1)


def test_add_and_remove_heads():
    model = tiny_model()
    model.add_head("mit", {"task": "classification", "num_classes": 4})
    assert model(video(), head="mit").shape == (2, 4)
    model.remove_head("k400")
    assert "k400" not in model.head_names and "k400" not in model.config.heads
    with pytest.raises(ValueError, match="unknown head"):
        model.remove_head("k400")


# ----------------------------------------------------------------------------- save / load
def test_save_load_round_trip_is_exact(tmp_path):
    model = tiny_model()
    model.config.heads["k400"].class_names = [f"action {i}" for i in range(5)]
    model.preprocessing = {"frame_stride": 3}
    model.save_pretrained(tmp_path / "m", metadata={"metrics": {"mAP": 0.5}})
    assert {p.name for p in (tmp_path / "m").iterdir()} == {
        "model.safetensors",
        "config.json",
        "README.md",
    }
    loaded = from_pretrained(tmp_path / "m").eval()
    model.eval()
    x = video()
    with torch.no_grad():
        torch.testing.assert_close(
            loaded(x, head="ava", boxes=BOXES), model(x, head="ava", boxes=BOXES), rtol=0, atol=0
        )
    assert loaded.config.heads["k400"].class_names[2] == "action 2"
    assert loaded.preprocessing == model.preprocessing
    assert loaded.preprocessing.frame_stride == 3 and loaded.preprocessing.image_size == 32
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["architecture"] == "vivit_ti16_fe" and config["metadata"]["metrics"]["mAP"] == 0.5
    assert "| `ava` | detection | 6 |" in (tmp_path / "m" / "README.md").read_text()


def test_mismatched_checkpoint_is_a_clear_error(tmp_path):
    tiny_model().save_pretrained(tmp_path / "m")
    config_path = tmp_path / "m" / "config.json"
    config = json.loads(config_path.read_text())
    config["model"]["heads"]["ava"]["num_classes"] = 7
    config_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"head 'ava' has 6 classes.*num_classes is 7"):
        from_pretrained(tmp_path / "m")


@pytest.mark.parametrize(
    "make,error",
    [
        (lambda p: p, FileNotFoundError),  # empty folder: no config.json
        (lambda p: p / "nope", FileNotFoundError),
    ],
)
def test_missing_pretrained_sources(tmp_path, make, error):
    with pytest.raises(error):
        from_pretrained(make(tmp_path))


def test_from_pretrained_reads_a_prepopulated_hub_cache_offline(tmp_path, monkeypatch):
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = tiny_model().eval()
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo_dir = tmp_path / "hub" / "models--cofin--vivit-tiny-test"
    model.save_pretrained(repo_dir / "snapshots" / commit)
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(commit)
    loaded = from_pretrained("cofin/vivit-tiny-test", cache_dir=tmp_path / "hub").eval()
    x = video()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, head="k400"), model(x, head="k400"), rtol=0, atol=0)
    with pytest.raises(FileNotFoundError, match="cofin/not-cached"):
        from_pretrained("cofin/not-cached", cache_dir=tmp_path / "hub")


def test_headspec_round_trip():
    spec = HeadSpec.parse("ava", {"task": "detection", "num_classes": 2, "class_ids": [1, 3]})
    assert spec.class_ids == [1, 3]
