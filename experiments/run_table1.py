"""Table 1 analogue: transfer (Kinetics → AVA finetune) vs co-finetuning (Kinetics + AVA).

Equal total data and equal steps: both arms take ``--steps`` optimiser steps at batch 16.
The transfer baseline spends the Kinetics share of the steps (Kinetics size / total, the
share exact-quota weighted co-finetuning gives it) on Kinetics only, then the rest on AVA
with a new AVA head and a fresh optimiser (``training.configs._synthetic.transfer_stages``).
Its stage 1 is also the single-dataset Kinetics model at equal Kinetics steps, for the
paper's "co-finetuning also helps the upstream task" comparison. ``--steps 1400`` is the
2× training-length run (results under ``results/table1_steps1400/``).

The third arm is the control: an AVA-only model with the AVA steps of the transfer
baseline's AVA stage (474 at 700 steps), nothing else. ``--init image`` runs the table
from the image-pretrained spatial encoder (``results/table1_pretrained/``: the first,
colour-learning stand-in; ``--init image_shape``: the shape-learning one,
``results/table1_pretrained_shape/``).

    python experiments/run_table1.py [--seeds 0 1 2] [--steps 700] [--init image_shape] [--commit] [--smoke]
"""

from __future__ import annotations

import dataclasses
import json
import time

import _common as C
from _report import fmt_paired

UPSTREAM = ("kinetics",)
COMPARISONS = (  # (label, arm A, arm B): B − A
    ("co-finetuning − transfer", "transfer", "cofin"),
    ("co-finetuning − AVA only", "ava_only", "cofin"),
    ("transfer − AVA only", "ava_only", "transfer"),
)
LABELS = {"transfer": "K → AVA (transfer)", "cofin": "K + AVA (co-finetuning)"}


def landed(arms: dict[str, list[C.Arm]], init: str) -> dict[str, list[dict]]:
    """The committed records of ``arms`` under initialisation ``init`` ({} where missing)."""
    out = {}
    for m, lst in arms.items():
        paths = [C.find_arm(dataclasses.replace(a, init=init).key) for a in lst]
        out[m] = [json.loads(p.read_text()) if p else {} for p in paths]
    return out


def side_by_side(arms: dict[str, list[C.Arm]], ava_steps: int) -> list[str]:
    """Markdown: every arm and paired comparison under every initialisation with landed
    arms, side by side ([] unless at least two have)."""
    recs = {init: landed(arms, init) for init in C.INITS}
    inits = [i for i, by in recs.items() if any(r for rs in by.values() for r in rs)]
    if len(inits) < 2:
        return []
    names = {**LABELS, "ava_only": f"AVA only, {ava_steps} steps (control)"}
    titles = " | ".join(C.INIT_TITLES[i] for i in inits)
    rule = "|---|---|" + "---|" * len(inits)
    lines = [
        "By initialisation (mean ± std over seeds; paired differences per seed, 95% t "
        "interval, paired t-test p):",
        "",
        f"| Arm | metric | {titles} |",
        rule,
    ]
    metrics = (("mAP", "AVA mAP"), ("mAP_head", "head"), ("mAP_mid", "mid"), ("mAP_tail", "tail"))
    for m, label in names.items():
        for key, mname in (*metrics, ("kinetics_top1", "K top-1")):
            cells = [C.fmt_ms([r["row"].get(key) for r in recs[i][m] if r]) for i in inits]
            if any(c != "–" for c in cells):
                lines.append(f"| {label} | {mname} | " + " | ".join(cells) + " |")
    lines += ["", f"| Comparison (B − A, points) | metric | {titles} |", rule]
    for label, a, b in COMPARISONS:
        for key, mname in metrics:
            cells = [fmt_paired(C.paired(recs[i][a], recs[i][b], key)) for i in inits]
            lines.append(f"| {label} | {mname} | " + " | ".join(cells) + " |")
    others = [i for i in inits if i != "random"]
    if "random" in inits and others:  # the init's own effect, arm by arm, paired by seed
        lines += [
            "",
            "| Init − random init (points, paired by seed) | metric | "
            + " | ".join(C.INIT_TITLES[i] for i in others)
            + " |",
            "|---|---|" + "---|" * len(others),
        ]
        for m, label in names.items():
            for key, mname in (("mAP", "AVA mAP"), ("kinetics_top1", "K top-1")):
                cells = [fmt_paired(C.paired(recs["random"][m], recs[i][m], key)) for i in others]
                if any(c != "–" for c in cells):
                    lines.append(f"| {label} | {mname} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    args = C.parse_args(__doc__, [0, 1, 2])
    table = C.table_name("table1", args)
    t0 = time.perf_counter()
    arms = {
        m: [C.Arm(m, UPSTREAM, s, args.steps) for s in args.seeds] for m in ("transfer", "cofin")
    }
    # the control: AVA only, with the AVA steps of the transfer baseline's AVA stage
    ava_steps = C.steps_per_head(*C.arm_stages(arms["transfer"][0], args))["ava"]
    arms["ava_only"] = [C.Arm("single", ("ava",), s, ava_steps) for s in args.seeds]
    recs = {m: [] for m in arms}
    for i in range(len(args.seeds)):  # seed by seed, so an interrupted run leaves complete sets
        for m in arms:
            recs[m].append(C.run_arm(arms[m][i], args, table))
    groups = {
        "Kinetics → AVA (transfer baseline)": recs["transfer"],
        "Kinetics + AVA (co-finetuning)": recs["cofin"],
        f"AVA only, {ava_steps} steps (control)": recs["ava_only"],
    }
    metrics = ("mAP", "mAP_head", "mAP_mid", "mAP_tail", "kinetics_top1")
    lines = [
        f"Seeds {args.seeds}; mean ± std over the seeds done (AP and top-1 in %). {C.settings_text(args.steps, args.init)}.",
        "",
        *C.table_lines(groups),
        "",
        "Transfer baseline: K top-1 is its stage-1 (Kinetics-only) model's, trained for the same number of "
        "Kinetics steps as co-finetuning gives the Kinetics head; the finetuned model has no Kinetics head.",
        "",
        "Paired differences (same seed), in points:",
        "",
        *C.comparison_lines(
            [("co-finetuning − transfer", recs["transfer"], recs["cofin"])], metrics
        ),
        *C.comparison_lines(
            [
                ("co-finetuning − AVA only", recs["ava_only"], recs["cofin"]),
                ("transfer − AVA only", recs["ava_only"], recs["transfer"]),
            ],
            metrics[:4],
        )[2:],
    ]
    shared, evaluated = C.shared_motions(args.data, UPSTREAM)
    split = C.motion_split_lines(
        "co-finetuning − transfer", recs["transfer"], recs["cofin"], shared, evaluated
    )
    if split:
        lines += [
            "",
            "By whether an AVA class's motion also occurs in a Kinetics-like class:",
            "",
            *split,
        ]
    fig = C.plot_difference(
        recs["transfer"], recs["cofin"], f"{table}_ap_difference", ("transfer", "co-finetuning")
    )
    if fig:
        lines += [
            "",
            f"Per-class AP difference (seed-averaged; paper Fig. 1): `figures/{fig.name}`",
        ]
    lines += ["", *C.wall_lines(recs["transfer"] + recs["cofin"] + recs["ava_only"])]
    both = side_by_side(arms, ava_steps)
    if both:
        lines += ["", *both]
    payload = {
        "table": table,
        "seeds": args.seeds,
        "steps": args.steps,
        "records": recs,
        "init": args.init,
        "paired": {m: C.paired(recs["transfer"], recs["cofin"], m) for m in metrics},
        "paired_vs_ava_only": {
            name: {m: C.paired(recs["ava_only"], recs[name], m) for m in metrics[:4]}
            for name in ("cofin", "transfer")
        },
        "per_class_mean_ap": {
            "transfer": C.mean_per_class([r for r in recs["transfer"] if r]),
            "cofin": C.mean_per_class([r for r in recs["cofin"] if r]),
        },
        "session_wall_s": time.perf_counter() - t0,
    }
    C.write_summary(table, payload, "\n".join(lines))


if __name__ == "__main__":
    main()
