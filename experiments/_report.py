"""Statistics and markdown for the miniature study's tables (used through ``_common``).

Pure functions of the arm records (``experiments/results/<table>/<arm>.json``): mean ± std
over seeds, paired differences with a paired t-test (scipy) or a bootstrap interval, and
the table / comparison rows.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

HEADS = ("kinetics", "mit", "ssv2")


def mean_std(values: list[float | None]) -> tuple[float, float, int]:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return float("nan"), float("nan"), 0
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0), len(vals)


def fmt(value: float | None, scale: float = 100.0, sign: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value * scale:+.1f}" if sign else f"{value * scale:.1f}"


def fmt_ms(values: list[float | None], sign: bool = False) -> str:
    m, s, n = mean_std(values)
    if n == 0:
        return "–"
    return f"{fmt(m, sign=sign)} ± {s * 100:.1f}" if n > 1 else fmt(m, sign=sign)


def fmt_row(row: dict[str, Any]) -> str:
    return ", ".join(f"{k} {fmt(v)}" for k, v in row.items())


def paired(a: list[dict], b: list[dict], metric: str) -> dict[str, Any]:
    """Paired difference ``b - a`` over the seeds both arms have, with a paired t-test.

    Returns per-seed differences, mean, std, n, the two-sided paired t-test p-value and
    its 95% t interval (scipy), or a 95% bootstrap interval of the mean when scipy is
    missing (p-value then ``None``).
    """
    import numpy as np

    by_seed = {r["seed"]: r["row"].get(metric) for r in a if r}
    pairs = [
        (r["seed"], by_seed[r["seed"]], r["row"].get(metric))
        for r in b
        if r
        and r["seed"] in by_seed
        and by_seed[r["seed"]] is not None
        and r["row"].get(metric) is not None
    ]
    diffs = np.array([y - x for _, x, y in pairs], dtype=np.float64)
    out: dict[str, Any] = {
        "metric": metric,
        "seeds": [s for s, _, _ in pairs],
        "diffs": diffs.tolist(),
        "n": len(diffs),
        "mean": float(diffs.mean()) if len(diffs) else None,
        "std": float(diffs.std(ddof=1)) if len(diffs) > 1 else None,
        "p": None,
        "ci95": None,
    }
    if len(diffs) < 2:
        return out
    try:
        from scipy import stats

        test = stats.ttest_rel([y for _, _, y in pairs], [x for _, x, _ in pairs])
        half = stats.t.ppf(0.975, len(diffs) - 1) * diffs.std(ddof=1) / math.sqrt(len(diffs))
        out.update(
            p=float(test.pvalue),
            ci95=[out["mean"] - half, out["mean"] + half],
            test="paired t-test",
        )
    except ImportError:
        rng = np.random.default_rng(0)
        boots = rng.choice(diffs, size=(10_000, len(diffs))).mean(axis=1)
        out.update(
            ci95=[float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))],
            test="bootstrap",
        )
    return out


def fmt_paired(stat: dict[str, Any]) -> str:
    if not stat["n"]:
        return "–"
    per_seed = ", ".join(fmt(d, sign=True) for d in stat["diffs"])
    if stat["n"] < 2:
        return per_seed + " (1 seed)"
    text = f"{fmt(stat['mean'], sign=True)} ± {stat['std'] * 100:.1f} [{per_seed}]"
    if stat["ci95"]:
        text += f", 95% CI {fmt(stat['ci95'][0], sign=True)}…{fmt(stat['ci95'][1], sign=True)}"
    if stat["p"] is not None:
        text += f", p = {stat['p']:.3f}"
    return text


def mean_per_class(records: list[dict]) -> dict[str, dict[str, Any]]:
    """Per-class AP averaged over seeds: ``{name: {group, train_count, ap}}``."""
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        for c in r.get("per_class", []):
            entry = out.setdefault(
                c["name"], {"group": c["group"], "train_count": c["train_count"], "aps": []}
            )
            if c["ap"] is not None:
                entry["aps"].append(c["ap"])
    for entry in out.values():
        entry["ap"] = statistics.fmean(entry.pop("aps")) if entry.get("aps") else float("nan")
    return out


def ava_result(per_class: dict[str, dict[str, Any]]):
    """An ``AvaResult`` from ``mean_per_class`` output (for the plotting helpers)."""
    import numpy as np

    from training.evaluation.ava import AvaResult

    names = list(per_class)
    ap = np.array([per_class[n]["ap"] for n in names], dtype=np.float64)
    groups = [per_class[n]["group"] for n in names]
    group_map = {
        g: float(np.nanmean(ap[[x == g for x in groups]])) if g in groups else float("nan")
        for g in ("head", "mid", "tail")
    }
    return AvaResult(
        class_ids=list(range(1, len(names) + 1)),
        class_names=names,
        ap=ap,
        num_groundtruth=[0] * len(names),
        num_detections=[0] * len(names),
        mAP=float(np.nanmean(ap)),
        groups=groups,
        train_counts=np.array([per_class[n]["train_count"] for n in names]),
        group_mAP=group_map,
    )


def table_lines(groups: dict[str, list[dict]]) -> list[str]:
    """Markdown rows: arm | seeds | steps per head | AVA mAP h/m/t | top-1 per head | wall."""
    lines = [
        "| Arm | seeds done | steps AVA / K / MiT / SSv2 | AVA mAP | Head | Mid | Tail | K top-1 | MiT top-1 | SSv2 top-1 | wall (s, mean) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, rs in groups.items():
        rs = [r for r in rs if r]
        if not rs:
            lines.append(f"| {name} | – (not run yet) |" + " |" * 9)
            continue
        hs = rs[0]["steps_per_head"]
        steps = " / ".join(str(hs.get(h, "–")) for h in ("ava",) + HEADS)
        cells = [
            fmt_ms([r["row"].get(k) for r in rs])
            for k in ("mAP", "mAP_head", "mAP_mid", "mAP_tail")
        ]
        cells += [fmt_ms([r["row"].get(f"{h}_top1") for r in rs]) for h in HEADS]
        wall = statistics.fmean(r["wall_s"] for r in rs)
        seeds = ",".join(str(r["seed"]) for r in rs)
        lines.append(f"| {name} | {seeds} | {steps} | " + " | ".join(cells) + f" | {wall:.0f} |")
    return lines


def comparison_lines(
    pairs: list[tuple[str, list[dict], list[dict]]], metrics: tuple[str, ...]
) -> list[str]:
    """Markdown: paired differences (b − a) per comparison and metric; returns lines."""
    names = {
        "mAP": "AVA mAP",
        "mAP_head": "head",
        "mAP_mid": "mid",
        "mAP_tail": "tail",
        "kinetics_top1": "K top-1",
        "mit_top1": "MiT top-1",
        "ssv2_top1": "SSv2 top-1",
    }
    lines = [
        "| Comparison (B − A, points) | metric | mean ± std [per seed], 95% CI, paired t-test p |",
        "|---|---|---|",
    ]
    for label, a, b in pairs:
        for m in metrics:
            stat = paired(a, b, m)
            if stat["n"]:
                lines.append(f"| {label} | {names.get(m, m)} | {fmt_paired(stat)} |")
    return lines


def wall_lines(records: list[dict]) -> list[str]:
    """Wall time of a table: one-core time summed over its arms and the first-to-last span."""
    import datetime as dt

    rs = [r for r in records if r and "finished_utc" in r]
    if not rs:
        return []
    fmt_utc = "%Y-%m-%d %H:%M:%S"
    ends = [dt.datetime.strptime(r["finished_utc"], fmt_utc) for r in rs]
    starts = [e - dt.timedelta(seconds=r["wall_s"]) for e, r in zip(ends, rs, strict=True)]
    core = sum(r["wall_s"] for r in rs)
    span = (max(ends) - min(starts)).total_seconds()
    return [
        f"Wall time: {len(rs)} arms, {core / 60:.0f} min of one core in total "
        f"(mean {core / len(rs) / 60:.1f} min per arm); {span / 60:.0f} min from the first "
        f"arm's start to the last arm's end ({min(starts):%H:%M}–{max(ends):%H:%M} UTC, two arms "
        "at a time on the 2 cores, shared arms counted where they ran)."
    ]


def motion_split(records: list[dict], shared: set[str]) -> list[dict]:
    """Per-seed pseudo-records: mean AP of the AVA classes that share a motion with the
    upstream data (``shared``) and of those that do not, for ``paired`` comparisons."""
    out = []
    for r in records:
        if not r or not r.get("per_class"):
            out.append({})
            continue
        aps = {c["name"]: c["ap"] for c in r["per_class"] if c["ap"] is not None}
        row = {}
        for key, names in (
            ("shared", [n for n in aps if n in shared]),
            ("not_shared", [n for n in aps if n not in shared]),
        ):
            row[key] = statistics.fmean(aps[n] for n in names) if names else None
        if row["shared"] is not None and row["not_shared"] is not None:
            row["gap"] = row["shared"] - row["not_shared"]
        out.append({"seed": r["seed"], "row": row})
    return out


def motion_split_lines(
    label: str, a: list[dict], b: list[dict], shared: set[str], evaluated: list[str]
) -> list[str]:
    """Markdown: does ``b − a`` differ between AVA classes with and without a shared motion?"""
    sa, sb = motion_split(a, shared), motion_split(b, shared)
    with_motion = sorted(c for c in evaluated if c in shared)
    without = sorted(c for c in evaluated if c not in shared)
    rows = []
    whats = {
        "shared": f"share a motion ({len(with_motion)}: {', '.join(with_motion)})",
        "not_shared": f"share no motion ({len(without)}: {', '.join(without)})",
        "gap": "shared − not shared (interaction)",
    }
    for key, what in whats.items():
        stat = paired(sa, sb, key)
        if stat["n"]:
            rows.append(f"| {label} | {what} | {fmt_paired(stat)} |")
    if not rows:
        return []
    return [
        "| Comparison (B − A, points) | AVA classes that … with the upstream classes | mean AP difference ± std [per seed], 95% CI, p |",
        "|---|---|---|",
        *rows,
    ]
