"""Table 1 analogue: transfer (upstream → AVA finetune) vs co-finetuning (upstream + AVA).

Equal total data and equal steps: both arms take ``--steps`` optimiser steps at batch 16.
The transfer baseline spends the upstream share of the steps (Kinetics size / total, the
expected Kinetics share under weighted co-finetuning) on Kinetics, then the rest on AVA
with a new AVA head and a fresh optimiser (``training.configs._synthetic.transfer_stages``).

    python experiments/run_table1.py [--seeds 0 1 2] [--steps 360] [--out /work/exp_runs]
"""

from __future__ import annotations

import copy
import time

import _common as C


def main() -> None:
    args = C.parse_args(__doc__, [0, 1, 2], 360)
    t0 = time.perf_counter()
    up = ("kinetics",)
    sizes = C.dataset_sizes(args.data, up)
    runs = {"transfer": [], "cofinetune": []}
    for seed in args.seeds:
        cofin = C.base_config(args.data, up, seed, C.run_dir(args.out, args.steps, up, "cofin", seed),
                              args.steps, extra=args.overrides, sizes=sizes)
        base = copy.deepcopy(cofin)
        base.run.out_dir = C.run_dir(args.out, args.steps, up, "transfer", seed)
        stages = C.transfer_config(base, sizes, args.steps)
        for arm, cfgs in (("cofinetune", [cofin]), ("transfer", stages)):
            res = C.train_stages(cfgs, args.fresh)
            final = res["stages"][-1]
            upstream_metrics = res["stages"][0]["metrics"] if arm == "transfer" else None
            if arm == "transfer":
                head_steps = {"kinetics": round(stages[0].schedule.epochs * (sizes["kinetics"] // C.BATCH)),
                              "ava": round(stages[1].schedule.epochs * (sizes["ava"] // C.BATCH))}
            else:
                head_steps = C.steps_per_head(cofin, sizes, args.steps)
            runs[arm].append({"seed": seed, "row": C.summary_row(final["metrics"], upstream_metrics),
                              "steps_per_head": head_steps, "wall_s": res["wall_s"],
                              "run_dirs": [s["out_dir"] for s in res["stages"]]})
            print(f"[table1] seed {seed} {arm}: {runs[arm][-1]['row']} ({res['wall_s']:.0f} s)", flush=True)
    # markdown
    keys = ("mAP", "mAP_head", "mAP_mid", "mAP_tail", "kinetics_top1")
    lines = [f"Seeds {args.seeds}; mean ± std over seeds (AP and top-1 in %). {C.settings_text(args.steps)}.", "",
             "| Method | steps AVA / Kinetics | AVA mAP | Head | Mid | Tail | Kinetics top-1 | wall (s, per seed) |",
             "|---|---|---|---|---|---|---|---|"]
    names = {"transfer": "Kinetics → AVA (transfer baseline)", "cofinetune": "Kinetics + AVA (co-finetuning)"}
    for arm in ("transfer", "cofinetune"):
        rs = runs[arm]
        hs = rs[0]["steps_per_head"]
        cells = [C.fmt_ms([r["row"].get(k) for r in rs]) for k in keys]
        if arm == "transfer":
            cells[-1] += "*"
        wall = C.mean_std([r["wall_s"] / 100 for r in rs])[0] * 100
        lines.append(f"| {names[arm]} | {hs['ava']} / {hs['kinetics']} | " + " | ".join(cells) + f" | {wall:.0f} |")
    lines += ["", "Per seed (AVA mAP %): " + "; ".join(
        f"{arm} " + ", ".join(C.fmt(r['row']['mAP']) for r in runs[arm]) for arm in ("transfer", "cofinetune")),
        "", "\\* transfer: top-1 of the stage-1 (Kinetics-only) model; the finetuned model has no Kinetics head."]
    # per-class difference figure (mean AP over seeds)
    base_res = C.mean_result([C.load_ava_result(C.final_eval_dir(r["run_dirs"][-1])) for r in runs["transfer"]])
    cof_res = C.mean_result([C.load_ava_result(C.final_eval_dir(r["run_dirs"][-1])) for r in runs["cofinetune"]])
    from training.evaluation.plots import plot_ap_difference, plot_per_class_ap

    C.FIGURES.mkdir(parents=True, exist_ok=True)
    plot_ap_difference(base_res, cof_res, C.FIGURES / "table1_ap_difference.png", labels=("transfer", "co-finetuning"))
    plot_per_class_ap(cof_res, C.FIGURES / "table1_cofinetune_per_class_ap.png",
                      title=f"co-finetuning, mean over seeds {args.seeds}")
    per_class = [{"name": n, "group": g, "train_count": int(c), "ap_transfer": float(a), "ap_cofinetune": float(b)}
                 for n, g, c, a, b in zip(cof_res.class_names, cof_res.groups, cof_res.train_counts,
                                          base_res.ap, cof_res.ap)]
    payload = {"table": "1", "seeds": args.seeds, "steps": args.steps, "overrides": args.overrides,
               "dataset_sizes": sizes, "runs": runs, "per_class_mean_ap": per_class,
               "total_wall_s": time.perf_counter() - t0}
    C.write_outputs("table1", payload, "\n".join(lines))


if __name__ == "__main__":
    main()
