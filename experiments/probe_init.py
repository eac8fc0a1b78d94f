"""How usable is an initialisation's (or a trained model's) backbone for AVA? (issue 22).

A diagnostic, not a table: the backbone is frozen, every ground-truth person box of a
sample of ``bench2`` AVA-like keyframes is pooled exactly as the AVA head pools it
(``DetectionHead``: ROI-Align on the time-pooled token map, then max-pool), and a ridge
regression from the standardised box features to the 24 action labels is fitted on
train boxes and scored on val boxes (AP per class as the AVA evaluator computes it,
``_ava_core.average_precision``; ridge by hand, a few lines of numpy). Reported per
source: the linear-probe mAP, the constant-score mAP (each class's val positive rate,
what a prior-only head scores on these boxes) and the participation ratio of the
feature covariance ((Σλ)² / Σλ², the effective number of feature directions).

    python experiments/probe_init.py random /work/exp_runs/image_vit run_dir/final/model.safetensors
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import _common as C
import numpy as np
import torch
from torch import nn

from cofin_sdk import create_model, init_from_vit
from cofin_sdk.models import ViViT
from cofin_sdk.models.heads import DetectionHead
from training.builders import build_datasets
from training.configs.base import load_config
from training.evaluation._ava_core import average_precision

RIDGE = 100.0
SAMPLES = {"train": 400, "eval": 250}  # keyframes (≈ 1,500 / 450 person boxes)


def backbone(source: str) -> ViViT:
    """The bench2 ViViT: ``random`` (seed 0), an image-ViT folder, or a trained ``.safetensors``."""
    cfg = load_config(C.PRESET)[0]
    torch.manual_seed(0)
    model = create_model(
        cfg.model.name,
        num_frames=cfg.run.num_frames,
        image_size=cfg.run.image_size,
        **cfg.model.overrides,
    )
    if source.endswith(".safetensors"):
        from safetensors.torch import load_file

        state = {k: v for k, v in load_file(source).items() if not k.startswith("heads.")}
        model.load_state_dict(state, strict=False)
    elif source != "random":
        init_from_vit(model, source)
    return model.eval()


def box_features(model: ViViT, samples: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Pooled features ``[K, D]`` of every person box and its labels ``bool[K, C]``."""
    head = DetectionHead(model.config.embed_dim, 1, model.config.tubelet_size[1])
    head.fc = nn.Identity()  # the AVA head's pooling without its classifier
    feats, labels = [], []
    with torch.no_grad():
        for i in range(0, len(samples), 16):
            batch = samples[i : i + 16]
            fmap = model.pool_time(model.forward_features(torch.stack([s["video"] for s in batch])))
            rois = torch.cat(
                [torch.nn.functional.pad(s["boxes"], (1, 0), value=j) for j, s in enumerate(batch)]
            )
            feats.append(head(fmap, rois))
            labels.append(torch.cat([s["targets"] for s in batch]) > 0.5)
    return torch.cat(feats).numpy().astype(np.float64), torch.cat(labels).numpy()


def probe(train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray]) -> dict:
    """Ridge probe mAP, constant-score mAP and participation ratio (module docstring)."""
    (xt, yt), (xv, yv) = train, val
    mu, sd = xt.mean(0), xt.std(0) + 1e-6
    xt, xv = (xt - mu) / sd, (xv - mu) / sd
    eig = np.clip(np.linalg.eigvalsh(np.cov(xt.T)), 0, None)
    xt1, xv1 = np.c_[xt, np.ones(len(xt))], np.c_[xv, np.ones(len(xv))]
    w = np.linalg.solve(xt1.T @ xt1 + RIDGE * np.eye(xt1.shape[1]), xt1.T @ yt.astype(float))
    scores = xv1 @ w
    present = [c for c in range(yv.shape[1]) if yv[:, c].any()]
    aps = [average_precision(scores[:, c], yv[:, c], int(yv[:, c].sum())) for c in present]
    return {
        "probe_mAP": float(np.mean(aps)),
        "constant_mAP": float(np.mean([yv[:, c].mean() for c in present])),
        "participation_ratio": float(eig.sum() ** 2 / (eig**2).sum()),
        "boxes": [len(xt), len(xv)],
        "classes": len(present),
    }


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("sources", nargs="+", help="random | image-ViT folder | model .safetensors")
    p.add_argument("--data", default=C.DEFAULT_DATA, help="generated bench2 root")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args()
    cfg = load_config(C.PRESET)[0]
    cfg.datasets = C.synthetic_datasets(args.data, (), detection=True)
    cfg.augment.scale_range, cfg.augment.box_jitter = (1.0, 1.0), 0.0
    cfg.augment.horizontal_flip = False
    sets = {}
    for split, n in SAMPLES.items():
        ds = build_datasets(cfg, split)[0]
        pick = np.random.default_rng(len(split)).choice(len(ds), min(n, len(ds)), replace=False)
        sets[split] = [ds[int(i)] for i in pick]
    out = {}
    for source in args.sources:
        model = backbone(source)
        out[source] = probe(box_features(model, sets["train"]), box_features(model, sets["eval"]))
        r = out[source]
        print(
            f"{source}: probe mAP {100 * r['probe_mAP']:.1f} (constant {100 * r['constant_mAP']:.1f}), "
            f"participation ratio {r['participation_ratio']:.1f}, boxes {r['boxes']}",
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
