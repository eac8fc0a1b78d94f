"""The image-pretraining stand-in (issue 22): the image set and its ViT checkpoint.

Tiny sizes: 1-2 images per class, a 2-layer encoder at 48 px, 2 optimiser steps.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from cofin_sdk import create_model, init_from_vit
from training.image_pretrain import ImageViT, PretrainConfig, pretrain, timm_state_dict
from training.synth.images import (
    CLASSES,
    HEIGHT,
    KINDS,
    WIDTH,
    generate_images,
    kind_of,
    render_image,
)
from training.synth.scenes import ACTOR_PALETTE

TINY = PretrainConfig(spatial_depth=2, image_size=48, batch_size=8, steps=2, drop_path_rate=0.0)


@pytest.fixture(scope="module")
def image_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    generate_images(root, {"train": 2, "val": 1}, seed=0)
    return root


def test_image_set_layout(image_root):
    meta = json.loads((image_root / "images_meta.json").read_text())
    assert meta["classes"] == list(CLASSES) and len(CLASSES) == len(KINDS) * len(ACTOR_PALETTE)
    for split, n in (("train", 2), ("val", 1)):
        folders = sorted(p.name for p in (image_root / split).iterdir())
        assert folders == sorted(CLASSES)
        assert all(len(list((image_root / split / c).glob("*.jpg"))) == n for c in CLASSES)


def test_image_dataset_gives_one_frame_clips(image_root):
    from cofin_sdk.preprocessing import Preprocessing
    from training.image_pretrain import ImageFolderClips

    prep = Preprocessing(image_size=48, num_frames=1)
    train = ImageFolderClips(image_root, "train", prep, train=True)
    val = ImageFolderClips(image_root, "val", prep, train=False)
    assert len(train) == 2 * len(CLASSES) and len(val) == len(CLASSES)
    assert train.classes == val.classes == sorted(CLASSES)
    clip, label = val[3]
    assert clip.shape == (3, 1, 48, 48) and clip.dtype == torch.float32
    assert val.classes[label] == sorted(CLASSES)[3]
    # letterboxed as a video frame: 96×72 → 48×36 content, the bottom rows are padding
    assert torch.equal(clip[:, :, 36:], torch.full_like(clip[:, :, 36:], -1.0))
    assert train[0][0].shape == (3, 1, 48, 48)
    with pytest.raises(FileNotFoundError, match="python -m training.synth.images"):
        ImageFolderClips(image_root, "test", prep, train=False)


def test_images_show_their_class_colour_and_are_reproducible():
    for label in (CLASSES.index("ball_2"), CLASSES.index("person_5"), CLASSES.index("bottle_7")):
        image = render_image(label, np.random.default_rng(label))
        again = render_image(label, np.random.default_rng(label))
        assert image.shape == (HEIGHT, WIDTH, 3) and image.dtype == np.uint8
        assert np.array_equal(image, again)
        colour = np.array(ACTOR_PALETTE[label % len(ACTOR_PALETTE)])
        near = np.abs(image.astype(int) - colour).max(axis=-1) <= 25
        assert near.sum() >= 15, f"{CLASSES[label]}: the main subject's colour is missing"


def test_kind_target_labels_by_kind_and_jitters_colour(image_root):
    from cofin_sdk.preprocessing import Preprocessing
    from training.image_pretrain import ImageFolderClips

    prep = Preprocessing(image_size=48, num_frames=1)
    plain = ImageFolderClips(image_root, "train", prep, train=False, target="kind")
    assert plain.classes == sorted(KINDS) and len(plain) == 2 * len(CLASSES)
    for index in (0, 17, len(plain) - 1):
        folder = plain.image_classes[plain.folder.samples[index][1]]
        assert plain.classes[plain[index][1]] == kind_of(folder)
    by_class = ImageFolderClips(image_root, "val", prep, train=False)
    assert [by_class.classes[i].rsplit("_", 1)[0] for i in range(len(by_class.classes))] == [
        sorted(KINDS)[k] for k in by_class.label_kind
    ]
    with pytest.raises(ValueError, match="'class' or 'kind'"):
        ImageFolderClips(image_root, "train", prep, train=False, target="colour")
    with pytest.raises(ValueError, match="not an image class"):
        kind_of("dog_1")
    # colour jitter changes the colours of a training image, never its label
    jittered = ImageFolderClips(
        image_root, "train", prep, train=True, target="kind", colour_jitter=True
    )
    jittered.aug = None  # isolate the colour part (letterbox only)
    torch.manual_seed(0)
    draws = [jittered[5] for _ in range(6)]
    assert {label for _, label in draws} == {plain[5][1]}
    assert any(not torch.allclose(clip, plain[5][0], atol=0.05) for clip, _ in draws)


def test_pretrained_checkpoint_loads_through_init_from_vit(image_root, tmp_path):
    summary = pretrain(image_root, tmp_path / "vit", TINY)  # the default target: the kind
    assert 0.0 <= summary["val_top1"] <= 1.0 and summary["chance"] == pytest.approx(1 / 7)
    assert summary["val_kind_accuracy"] == summary["val_top1"]  # the kind is the label
    assert summary["classes"] == sorted(KINDS)
    by_class = pretrain(image_root, tmp_path / "vit56", dataclasses.replace(TINY, target="class"))
    assert by_class["chance"] == pytest.approx(1 / 56)
    assert by_class["val_kind_accuracy"] >= by_class["val_top1"]  # right class ⇒ right kind
    from safetensors.torch import load_file

    state = load_file(str(tmp_path / "vit" / "model.safetensors"))
    assert state["head.weight"].shape == (7, 192)
    assert state["patch_embed.proj.weight"].shape == (192, 3, 12, 12)
    assert state["pos_embed"].shape == (1, 16, 192) and "blocks.1.attn.qkv.weight" in state

    video_model = create_model(
        "vivit_ti16_fe",
        spatial_depth=2,
        temporal_depth=1,
        tubelet_size=(4, 12, 12),
        num_frames=8,
        image_size=48,
        heads={"k": {"task": "classification", "num_classes": 3}},
    )
    report = init_from_vit(video_model, str(tmp_path / "vit"))
    assert {"head.weight", "head.bias"} <= set(report.unexpected_keys)
    w = video_model.patch_embed.weight  # central-frame inflation: kernel at t // 2, zeros elsewhere
    assert w.shape == (192, 3, 4, 12, 12)
    assert torch.equal(w[:, :, 2], state["patch_embed.proj.weight"])
    assert not w[:, :, [0, 1, 3]].any()
    assert torch.equal(video_model.spatial_pos_embed, state["pos_embed"])
    assert torch.equal(
        video_model.spatial_blocks[1].mlp.fc2.weight, state["blocks.1.mlp.fc2.weight"]
    )

    # a static clip gives, per tubelet, the image ViT's own spatial features
    image_vit = ImageViT(TINY, len(CLASSES))
    image_vit.encoder.load_state_dict(
        {**image_vit.encoder.state_dict(), **_encoder_part(state)}, strict=True
    )
    image_vit.eval(), video_model.eval()
    frame = torch.randn(2, 3, 1, 48, 48)
    with torch.no_grad():
        want = image_vit.encoder.forward_spatial(frame)  # (2, 1 + 16, D)
        got = video_model.forward_spatial(frame.repeat(1, 1, 8, 1, 1))  # (2 * 2, 1 + 16, D)
    torch.testing.assert_close(got[0::2], want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got[1::2], want, atol=1e-5, rtol=1e-5)


def _encoder_part(state: dict) -> dict:
    out = {
        "patch_embed.weight": state["patch_embed.proj.weight"][:, :, None],
        "patch_embed.bias": state["patch_embed.proj.bias"],
        "spatial_pos_embed": state["pos_embed"],
        "cls_token": state["cls_token"],
        "spatial_norm.weight": state["norm.weight"],
        "spatial_norm.bias": state["norm.bias"],
    }
    out |= {f"spatial_{k}": v for k, v in state.items() if k.startswith("blocks.")}
    return out


@pytest.mark.parametrize("pool", ["max", "avg"])
def test_checkpoint_is_a_timm_vision_transformer(pool):
    timm_vit = pytest.importorskip("timm.models.vision_transformer")
    torch.manual_seed(0)
    model = ImageViT(dataclasses.replace(TINY, pool=pool), 7).eval()
    with torch.no_grad():
        for p in model.parameters():  # non-trivial weights everywhere (the head bias starts at 0)
            p.add_(0.02 * torch.randn_like(p))
    vit = timm_vit.VisionTransformer(
        img_size=48,
        patch_size=12,
        embed_dim=192,
        depth=2,
        num_heads=3,
        num_classes=7,
        no_embed_class=True,
        global_pool=pool,
        fc_norm=False,
    ).eval()
    vit.load_state_dict(timm_state_dict(model), strict=True)
    x = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(vit(x), model(x[:, :, None]), atol=1e-5, rtol=1e-5)


def test_encoder_gets_a_gradient_from_the_first_step():
    """A zero head passes no gradient to the encoder (the first recipe's slow start)."""
    torch.manual_seed(0)
    clips, labels = torch.randn(4, 3, 1, 48, 48), torch.tensor([0, 1, 2, 3])
    for std, moves in ((0.02, True), (0.0, False)):
        model = ImageViT(dataclasses.replace(TINY, head_init_std=std), 7)
        torch.nn.functional.cross_entropy(model(clips), labels).backward()
        assert bool(model.encoder.patch_embed.weight.grad.abs().sum() > 0) is moves
    with pytest.raises(ValueError, match="'max' or 'avg'"):
        ImageViT(dataclasses.replace(TINY, pool="token"), 7)
