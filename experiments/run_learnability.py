"""Learnability of the bench2 tasks (issue 13 item 1): single-dataset models vs the bars.

Bars, at the per-arm budget (``--steps`` at batch 16, one core): upstream top-1 ≥ 3× chance
on Kinetics-, Moments- and SSv2-like; AVA mAP ≥ 2× the class-prior baseline. The prior
baseline scores every evaluated (score ≥ 0.8) val person box with constant per-class
scores equal to the class's training label frequency, through the same evaluator.

    python experiments/run_learnability.py [--seeds 0] [--steps 700] [--commit]
"""

from __future__ import annotations

import csv
import json
import math
import tempfile
from collections import Counter
from pathlib import Path

import _common as C

DATASETS = ("ava", "kinetics", "mit", "ssv2")


def prior_baseline(root: str) -> dict:
    """AVA mAP of constant class-prior scores on the val person boxes (score >= 0.8)."""
    from training.evaluation.ava import evaluate_ava_files
    from training.evaluation.runner import EVAL_LABEL_MAP

    ann = Path(root) / "ava" / "annotations"
    train = list(csv.reader((ann / "ava_train_v2.2.csv").open()))
    boxes = {tuple(r[:6]) for r in train}
    counts = Counter(int(r[6]) for r in train)
    freq = {c: n / len(boxes) for c, n in counts.items()}  # P(class | training box)
    dets = [
        r for r in csv.reader((ann / "ava_val_predicted_boxes.csv").open()) if float(r[-1]) >= 0.8
    ]
    out = Path(tempfile.mkdtemp()) / "prior_detections.csv"
    with out.open("w", newline="") as f:
        w = csv.writer(f)
        for r in dets:
            for c, p in sorted(freq.items()):
                w.writerow([*r[:6], c, f"{p:.6f}"])
    meta = json.loads((Path(root) / "synth_meta.json").read_text())["ava"]["head_mid_tail"]
    res = evaluate_ava_files(
        ann / "ava_val_v2.2.csv",
        out,
        ann / EVAL_LABEL_MAP,
        exclusions=ann / "ava_val_excluded_timestamps_v2.2.csv",
        train_labels=ann / "ava_train_v2.2.csv",
        head_threshold=int(meta["head_above"]),
        tail_threshold=math.ceil(meta["tail_below"]),
    )
    out.unlink()
    return {
        "mAP": res.mAP,
        **{f"mAP_{g}": v for g, v in res.group_mAP.items()},
        "num_boxes": len(dets),
    }


def main() -> None:
    args = C.parse_args(__doc__, [0])
    chance = {}
    for d in DATASETS[1:]:
        meta = json.loads((Path(args.data) / "synth_meta.json").read_text())[d]
        chance[d] = 1.0 / len(meta.get("classes") or meta["templates"])
    prior = prior_baseline(args.data)
    # other step counts (e.g. the 474-step AVA-only control) get their own summary files
    table = C.table_name("learnability", args)
    records = {
        d: [C.run_arm(C.Arm("single", (d,), s, args.steps), args, table) for s in args.seeds]
        for d in DATASETS
    }
    lines = [
        f"Single-dataset models, seeds {args.seeds}; {C.settings_text(args.steps, args.init)}.",
        "",
        "| Task | metric | bar | single-dataset model | ratio | meets bar | wall (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    bars = {}
    for d in DATASETS:
        rs = [r for r in records[d] if r]
        key, ref, factor = (
            ("mAP", prior["mAP"], 2.0) if d == "ava" else (f"{d}_top1", chance[d], 3.0)
        )
        m, _, n = C.mean_std([r["row"].get(key) for r in rs])
        what = (
            f"AVA mAP (prior baseline {ref * 100:.1f})"
            if d == "ava"
            else f"top-1 (chance {ref * 100:.1f})"
        )
        ok = n > 0 and m >= factor * ref
        bars[d] = {
            "metric": key,
            "reference": ref,
            "factor": factor,
            "value": m if n else None,
            "meets": ok,
        }
        wall = f"{C.mean_std([r['wall_s'] for r in rs])[0]:.0f}" if rs else "–"
        ratio = f"{m / ref:.1f}×" if n else "–"
        lines.append(
            f"| {d} | {what} | ≥ {factor * ref * 100:.1f} | {C.fmt_ms([r['row'].get(key) for r in rs])} | "
            f"{ratio} | {'yes' if ok else ('no' if n else 'not run')} | {wall} |"
        )
    lines += [
        "",
        f"Prior baseline (constant training-frequency scores on the {prior['num_boxes']} val boxes with score ≥ 0.8): "
        f"mAP {C.fmt(prior['mAP'])}, head {C.fmt(prior['mAP_head'])}, mid {C.fmt(prior['mAP_mid'])}, tail {C.fmt(prior['mAP_tail'])}.",
    ]
    ava = [r for r in records["ava"] if r]
    if ava:
        lines.append(
            "AVA-only model by group: "
            + ", ".join(
                f"{g} {C.fmt_ms([r['row'].get('mAP_' + g) for r in ava])}"
                for g in ("head", "mid", "tail")
            )
        )
    C.write_summary(
        table,
        {
            "prior_baseline": prior,
            "chance": chance,
            "bars": bars,
            "steps": args.steps,
            "seeds": args.seeds,
            "records": records,
        },
        "\n".join(lines),
    )


if __name__ == "__main__":
    main()
