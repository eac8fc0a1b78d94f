"""AVA mAP against the number of optimiser steps spent on AVA, over every landed arm.

At equal total steps the arms of Tables 1, 3 and 4 give AVA different shares of the
steps (exact-quota weighted: ∝ dataset size; alternating: equal; transfer: the AVA
stage), so this figure separates "fewer AVA steps" from "more upstream data". One panel
per initialisation (random; the image-pretrained spatial encoders of ``--init image`` and
``--init image_shape``).
Reads only the committed arm JSONs (``results/*/*.json``); trains nothing.

    python experiments/plot_ava_steps.py [--results DIR]   # -> figures/ava_map_vs_ava_steps.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

EXPERIMENTS = Path(__file__).resolve().parent


def arm_kind(record: dict) -> str:
    import _common as C

    return C.arm_label(
        C.Arm(
            record["method"],
            tuple(record["upstream"]),
            record["seed"],
            record["steps"],
            record["sampler"],
        )
    )


def load_points(results: Path) -> list[dict]:
    """One point per landed arm with an AVA result (superseded arms are one level deeper)."""
    points = []
    for path in sorted(results.glob("*/*.json")):
        record = json.loads(path.read_text())
        if not isinstance(record, dict) or "row" not in record or record["row"].get("mAP") is None:
            continue
        points.append(
            {
                "kind": arm_kind(record),
                "steps": record["steps"],
                "ava_steps": record["steps_per_head"].get(
                    "ava", 0
                ),  # a 2-step smoke arm may give AVA none
                "mAP": record["row"]["mAP"],
                "seed": record["seed"],
                "init": record.get("init", "random"),
            }
        )
    return points


def _panel(ax, points: list[dict], kinds: list[str], markers: dict, prior: dict) -> None:
    """One initialisation's arms: a colour per arm kind, a marker per total step count."""
    for i, kind in enumerate(kinds):
        for steps, marker in markers.items():
            sel = [q for q in points if q["kind"] == kind and q["steps"] == steps]
            if sel:
                ax.scatter(
                    [q["ava_steps"] for q in sel],
                    [100 * q["mAP"] for q in sel],
                    marker=marker,
                    color=f"C{i}",
                    label=f"{kind}, {steps} steps",
                    alpha=0.8,
                )
    if prior.get("mAP") is not None:
        ax.axhline(100 * prior["mAP"], color="grey", linestyle="--", linewidth=1)
        ax.annotate(
            "class prior",
            (ax.get_xlim()[0], 100 * prior["mAP"]),
            fontsize=7,
            color="grey",
            xytext=(4, 3),
            textcoords="offset points",
        )
    ax.set_xlabel("optimiser steps on AVA (batch 16)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--results", type=Path, default=EXPERIMENTS, help="folder holding results/ and figures/"
    )
    args = p.parse_args()
    points = load_points(args.results / "results")
    if not points:
        raise SystemExit(
            f"plot_ava_steps: error: no AVA arm JSONs under {args.results / 'results'}"
        )
    import matplotlib

    matplotlib.use("Agg")
    import _common as C
    import matplotlib.pyplot as plt

    inits = [i for i in C.INIT_TITLES if any(q["init"] == i for q in points)]
    fig, axes = plt.subplots(
        1, len(inits), figsize=(7 * len(inits), 4.5), sharex=True, sharey=True, squeeze=False
    )
    kinds = sorted({q["kind"] for q in points})
    markers = dict(zip(sorted({q["steps"] for q in points}), "os^vD*", strict=False))
    learn = args.results / "results" / "learnability.json"
    prior = json.loads(learn.read_text()).get("prior_baseline", {}) if learn.is_file() else {}
    for ax, init in zip(axes[0], inits, strict=True):
        _panel(ax, [q for q in points if q["init"] == init], kinds, markers, prior)
        ax.set_title(f"AVA mAP vs AVA steps, {C.INIT_TITLES[init]} (bench2)")
    axes[0][0].set_ylabel("AVA-like val mAP (%)")
    out = args.results / "figures" / "ava_map_vs_ava_steps.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out} ({len(points)} arms)")
    for init in inits:
        for kind in kinds:
            for steps in markers:
                sel = [
                    q
                    for q in points
                    if q["kind"] == kind and q["steps"] == steps and q["init"] == init
                ]
                if sel:
                    mean = sum(q["mAP"] for q in sel) / len(sel)
                    print(
                        f"{C.INIT_TITLES[init]:22s} {kind:36s} {steps:5d} steps: AVA steps "
                        f"{sel[0]['ava_steps']:4d}, mAP {100 * mean:.1f} over {len(sel)} seed(s)"
                    )


if __name__ == "__main__":
    main()
