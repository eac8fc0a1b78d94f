"""Table 1 analogue: transfer (Kinetics → AVA finetune) vs co-finetuning (Kinetics + AVA).

Equal total data and equal steps: both arms take ``--steps`` optimiser steps at batch 16.
The transfer baseline spends the Kinetics share of the steps (Kinetics size / total, the
share exact-quota weighted co-finetuning gives it) on Kinetics only, then the rest on AVA
with a new AVA head and a fresh optimiser (``training.configs._synthetic.transfer_stages``).
Its stage 1 is also the single-dataset Kinetics model at equal Kinetics steps, for the
paper's "co-finetuning also helps the upstream task" comparison. ``--steps 1400`` is the
2× training-length run (results under ``results/table1_steps1400/``).

    python experiments/run_table1.py [--seeds 0 1 2] [--steps 700] [--commit] [--smoke]
"""

from __future__ import annotations

import time

import _common as C

UPSTREAM = ("kinetics",)


def main() -> None:
    args = C.parse_args(__doc__, [0, 1, 2])
    table = (
        "table1" if args.steps in (C.DEFAULT_STEPS, C.SMOKE_STEPS) else f"table1_steps{args.steps}"
    )
    t0 = time.perf_counter()
    arms = {
        m: [C.Arm(m, UPSTREAM, s, args.steps) for s in args.seeds] for m in ("transfer", "cofin")
    }
    recs = {m: [] for m in arms}
    for i in range(len(args.seeds)):  # seed by seed, so an interrupted run leaves complete pairs
        for m in ("transfer", "cofin"):
            recs[m].append(C.run_arm(arms[m][i], args, table))
    groups = {
        "Kinetics → AVA (transfer baseline)": recs["transfer"],
        "Kinetics + AVA (co-finetuning)": recs["cofin"],
    }
    metrics = ("mAP", "mAP_head", "mAP_mid", "mAP_tail", "kinetics_top1")
    lines = [
        f"Seeds {args.seeds}; mean ± std over the seeds done (AP and top-1 in %). {C.settings_text(args.steps)}.",
        "",
        *C.table_lines(groups),
        "",
        "Transfer baseline: K top-1 is its stage-1 (Kinetics-only) model's, trained for the same number of "
        "Kinetics steps as co-finetuning gives the Kinetics head; the finetuned model has no Kinetics head.",
        "",
        "Paired differences, co-finetuning − transfer (same seed), in points:",
        "",
        *C.comparison_lines(
            [("co-finetuning − transfer", recs["transfer"], recs["cofin"])], metrics
        ),
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
    lines += ["", *C.wall_lines(recs["transfer"] + recs["cofin"])]
    payload = {
        "table": table,
        "seeds": args.seeds,
        "steps": args.steps,
        "records": recs,
        "paired": {m: C.paired(recs["transfer"], recs["cofin"], m) for m in metrics},
        "per_class_mean_ap": {
            "transfer": C.mean_per_class([r for r in recs["transfer"] if r]),
            "cofin": C.mean_per_class([r for r in recs["cofin"] if r]),
        },
        "session_wall_s": time.perf_counter() - t0,
    }
    C.write_summary(table, payload, "\n".join(lines))


if __name__ == "__main__":
    main()
