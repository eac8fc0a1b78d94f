"""Initialisation from image ViTs: numerical parity with timm (random weights, offline)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

timm = pytest.importorskip("timm")

from cofin_sdk import create_model, init_from_vit  # noqa: E402
from cofin_sdk.models.vit_init import inflate_patch_embed  # noqa: E402


@pytest.fixture(scope="module")
def vit():
    torch.manual_seed(0)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False).eval()
    with torch.no_grad():  # timm zero-inits some tensors; randomise so the test sees every mapping
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return model


def vivit(**kw):
    torch.manual_seed(1)
    return create_model(
        "vivit_ti16_fe",
        num_frames=4,
        image_size=224,
        heads={"k": {"task": "classification", "num_classes": 3}},
        **kw,
    ).eval()


def frames(n=4, seed=0):
    return torch.randn(n, 3, 224, 224, generator=torch.Generator().manual_seed(seed))


def test_static_clip_reproduces_timm_tokens(vit):
    model = vivit()
    report = init_from_vit(model, vit.state_dict())
    assert report.unexpected_keys == ["head.bias", "head.weight"]
    assert all(k.startswith(("temporal", "heads.")) for k in report.missing_keys)
    frame = frames(1)
    clip = frame.unsqueeze(2).repeat(1, 1, 4, 1, 1)  # (1, 3, T, H, W), identical frames
    with torch.no_grad():
        expected = vit.forward_features(frame)  # (1, 197, 192)
        got = model.forward_spatial(clip)  # (t=2, 197, 192)
    for t in range(2):
        torch.testing.assert_close(got[t], expected[0], atol=1e-4, rtol=0)


def test_central_frame_inflation_reads_the_central_frame_of_each_tubelet(vit):
    model = vivit()
    init_from_vit(model, vit.state_dict(), tubelet_init="central_frame")
    f = frames(4)
    clip = f.permute(1, 0, 2, 3).unsqueeze(0)  # (1, 3, 4, H, W): four different frames
    with torch.no_grad():
        got = model.forward_spatial(clip)
        for t in range(2):  # tubelet t covers frames 2t, 2t+1; index t//2 == 1 is central
            torch.testing.assert_close(
                got[t], vit.forward_features(f[2 * t + 1 : 2 * t + 2])[0], atol=1e-4, rtol=0
            )


def test_average_inflation_equals_image_model_on_the_mean_frame(vit):
    model = vivit()
    init_from_vit(model, vit.state_dict(), tubelet_init="average")
    f = frames(4)
    clip = f.permute(1, 0, 2, 3).unsqueeze(0)
    with torch.no_grad():
        got = model.forward_spatial(clip)
        mean_frame = f[0:2].mean(0, keepdim=True)  # conv is linear: mean of the two frames
        torch.testing.assert_close(got[0], vit.forward_features(mean_frame)[0], atol=1e-4, rtol=0)


def test_position_embedding_resampled_for_larger_inputs(vit):
    model = create_model("vivit_ti16_fe", num_frames=2, image_size=320).eval()
    init_from_vit(model, vit.state_dict())
    assert model.spatial_pos_embed.shape == (1, 400, 192)
    expected = timm.layers.resample_abs_pos_embed(
        vit.pos_embed[:, 1:].detach(),
        new_size=(20, 20),
        old_size=(14, 14),
        num_prefix_tokens=0,
        interpolation="bicubic",
        antialias=False,
    )
    torch.testing.assert_close(model.spatial_pos_embed.detach(), expected, atol=1e-5, rtol=0)


def test_checkpoint_files_and_errors(vit, tmp_path):
    from safetensors.torch import save_file

    state = {f"module.{k}": v.contiguous() for k, v in vit.state_dict().items()}  # DDP-style prefix
    save_file(state, tmp_path / "vit.safetensors")
    torch.save({"state_dict": vit.state_dict()}, tmp_path / "vit.pth")
    reference = vivit()
    init_from_vit(reference, vit.state_dict())
    for name in ("vit.safetensors", "vit.pth"):
        model = vivit()
        init_from_vit(model, tmp_path / name)
        torch.testing.assert_close(
            model.state_dict()["spatial_blocks.3.attn.qkv.weight"],
            reference.state_dict()["spatial_blocks.3.attn.qkv.weight"],
        )
    with pytest.raises(ValueError, match="does not fit the model"):
        init_from_vit(create_model("vivit_s16_fe", num_frames=2, image_size=224), vit.state_dict())
    with pytest.raises(ValueError, match="unrecognised ViT checkpoint"):
        init_from_vit(vivit(), {"foo.weight": torch.zeros(2)})
    with pytest.raises(ValueError, match="tubelet_init"):
        init_from_vit(vivit(), vit.state_dict(), tubelet_init="random")
    with pytest.raises(FileNotFoundError):
        init_from_vit(vivit(), tmp_path / "missing.safetensors")


def _to_transformers_layout(state):
    """timm keys → Hugging Face ``transformers`` ViTModel keys (written independently here)."""
    out = {
        "vit.embeddings.cls_token": state["cls_token"],
        "vit.embeddings.position_embeddings": state["pos_embed"],
        "vit.embeddings.patch_embeddings.projection.weight": state["patch_embed.proj.weight"],
        "vit.embeddings.patch_embeddings.projection.bias": state["patch_embed.proj.bias"],
        "vit.layernorm.weight": state["norm.weight"],
        "vit.layernorm.bias": state["norm.bias"],
    }
    for i in range(12):
        p, b = f"vit.encoder.layer.{i}.", f"blocks.{i}."
        for kind in ("weight", "bias"):
            q, k, v = state[f"{b}attn.qkv.{kind}"].chunk(3)
            out.update(
                {
                    f"{p}attention.attention.query.{kind}": q,
                    f"{p}attention.attention.key.{kind}": k,
                    f"{p}attention.attention.value.{kind}": v,
                    f"{p}attention.output.dense.{kind}": state[f"{b}attn.proj.{kind}"],
                    f"{p}layernorm_before.{kind}": state[f"{b}norm1.{kind}"],
                    f"{p}layernorm_after.{kind}": state[f"{b}norm2.{kind}"],
                    f"{p}intermediate.dense.{kind}": state[f"{b}mlp.fc1.{kind}"],
                    f"{p}output.dense.{kind}": state[f"{b}mlp.fc2.{kind}"],
                }
            )
    return out


def test_transformers_layout_matches_timm_layout(vit):
    a, b = vivit(), vivit()
    init_from_vit(a, vit.state_dict())
    init_from_vit(b, _to_transformers_layout(vit.state_dict()))
    for k, v in a.state_dict().items():
        if k.startswith("spatial") or k in ("patch_embed.weight", "cls_token"):
            torch.testing.assert_close(b.state_dict()[k], v, rtol=0, atol=0)


def test_google_npz_matches_timms_own_npz_loader(tmp_path):
    """Random arrays in the vit_jax (AugReg) layout, loaded by timm's loader and by ours."""
    rng = np.random.default_rng(0)
    D, heads, hd, depth = 192, 3, 64, 12
    arrays = {
        "embedding/kernel": (16, 16, 3, D),
        "embedding/bias": (D,),
        "cls": (1, 1, D),
        "Transformer/posembed_input/pos_embedding": (1, 197, D),
        "Transformer/encoder_norm/scale": (D,),
        "Transformer/encoder_norm/bias": (D,),
        "head/kernel": (D, 1000),
        "head/bias": (1000,),
    }
    for i in range(depth):
        blk = f"Transformer/encoderblock_{i}/"
        for n in ("query", "key", "value"):
            arrays[f"{blk}MultiHeadDotProductAttention_1/{n}/kernel"] = (D, heads, hd)
            arrays[f"{blk}MultiHeadDotProductAttention_1/{n}/bias"] = (heads, hd)
        arrays[f"{blk}MultiHeadDotProductAttention_1/out/kernel"] = (heads, hd, D)
        arrays[f"{blk}MultiHeadDotProductAttention_1/out/bias"] = (D,)
        for ln in (0, 2):
            arrays[f"{blk}LayerNorm_{ln}/scale"] = (D,)
            arrays[f"{blk}LayerNorm_{ln}/bias"] = (D,)
        arrays[f"{blk}MlpBlock_3/Dense_0/kernel"] = (D, 4 * D)
        arrays[f"{blk}MlpBlock_3/Dense_0/bias"] = (4 * D,)
        arrays[f"{blk}MlpBlock_3/Dense_1/kernel"] = (4 * D, D)
        arrays[f"{blk}MlpBlock_3/Dense_1/bias"] = (D,)
    path = tmp_path / "vit.npz"
    np.savez(
        path, **{k: (rng.standard_normal(s) * 0.05).astype(np.float32) for k, s in arrays.items()}
    )
    ref = timm.create_model("vit_tiny_patch16_224", pretrained=False).eval()
    timm.models.vision_transformer._load_weights(ref, str(path))
    model = vivit()
    init_from_vit(model, path)
    frame = frames(1)
    with torch.no_grad():
        got = model.forward_spatial(frame.unsqueeze(2).repeat(1, 1, 2, 1, 1))
        torch.testing.assert_close(got[0], ref.forward_features(frame)[0], atol=1e-4, rtol=0)


def test_hub_repo_id_from_prepopulated_cache(vit, tmp_path, monkeypatch):
    import huggingface_hub.constants as hf_constants
    from safetensors.torch import save_file

    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path))
    commit = "a" * 40
    snap = tmp_path / "models--timm--vit_tiny_patch16_224.augreg_in21k" / "snapshots" / commit
    snap.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in vit.state_dict().items()}, snap / "model.safetensors")
    (snap.parent.parent / "refs").mkdir()
    (snap.parent.parent / "refs" / "main").write_text(commit)
    model = vivit()
    init_from_vit(model, "timm/vit_tiny_patch16_224.augreg_in21k")
    torch.testing.assert_close(model.spatial_norm.weight, vit.norm.weight)


def test_inflation_shapes():
    w = torch.randn(4, 3, 16, 16)
    central = inflate_patch_embed(w, 3, "central_frame")
    assert central.shape == (4, 3, 3, 16, 16) and central[:, :, 0].abs().sum() == 0
    torch.testing.assert_close(central[:, :, 1], w)
    torch.testing.assert_close(inflate_patch_embed(w, 3, "average").sum(2), w)
