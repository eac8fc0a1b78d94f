"""Start-up cost of the ``cofin`` CLI and of torch-free imports, before/after in one run.

Runs each command in a fresh child process and reports the median wall time and the
child's own peak RSS (``os.wait4``, so one child's memory is never mixed with
another's). With ``--baseline REV`` the same commands also run against a ``git
worktree`` of ``REV`` (via ``PYTHONPATH``), interleaved run by run with the working
tree so machine load hits both alike; the table then shows both and the ratios.

Usage:
    python benchmarks/startup.py [--runs 5] [--baseline 39e6835]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _cofin_script() -> list[str]:
    """The installed console script (not a pyenv shim, whose bash start-up would count)."""
    script = Path(sys.executable).with_name("cofin")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from cofin_sdk.cli.main import main; sys.exit(main())"]


def commands() -> dict[str, list[str]]:
    """Label -> argv of each measured command."""
    cofin = _cofin_script()
    return {
        "cofin --help": [*cofin, "--help"],
        "cofin eval-ava --help": [*cofin, "eval-ava", "--help"],
        "cofin detect --help": [*cofin, "detect", "--help"],
        'python -c "import cofin_sdk.results"': [sys.executable, "-c", "import cofin_sdk.results"],
    }


def tree_env(tree: Path) -> dict[str, str]:
    """Environment that makes ``cofin_sdk``/``training`` resolve to ``tree``.

    Children also run with ``cwd=tree``: ``python -c`` puts the working directory first
    on ``sys.path``, ahead of ``PYTHONPATH``.
    """
    path = [str(tree), os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [str(tree)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))  # no empty entry: that means cwd
    probe = [sys.executable, "-c", "import cofin_sdk; print(cofin_sdk.__file__)"]
    found = subprocess.run(probe, env=env, cwd=tree, capture_output=True, text=True, check=True)
    found = Path(found.stdout.strip()).resolve()
    if tree.resolve() not in found.parents:
        raise RuntimeError(f"PYTHONPATH={tree} imports cofin_sdk from {found}, not from the tree")
    return env


def measure(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """One run of ``argv``: (wall seconds, peak RSS of that child in MB)."""
    with tempfile.TemporaryFile() as stderr:  # a file, not a pipe: nobody reads it while waiting
        start = time.perf_counter()
        child = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, not by Popen
        if child.returncode != 0:
            stderr.seek(0)
            raise RuntimeError(f"{argv} exited {child.returncode}: {stderr.read().decode()}")
    return seconds, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def run(trees: dict[str, Path], runs: int) -> dict[tuple[str, str], tuple[float, float]]:
    """(tree label, command label) -> (median seconds, median peak RSS MB)."""
    envs = {label: tree_env(tree) for label, tree in trees.items()}
    samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for index in range(runs + 1):  # run 0 warms the page cache and writes __pycache__
        for command, argv in commands().items():
            for label, env in envs.items():
                result = measure(argv, env, trees[label])
                if index:
                    samples.setdefault((label, command), []).append(result)
    return {
        key: (statistics.median(s for s, _ in values), statistics.median(m for _, m in values))
        for key, values in samples.items()
    }


def table(results: dict[tuple[str, str], tuple[float, float]], labels: list[str]) -> str:
    header = [f"{label} {what}" for what in ("time", "RSS") for label in labels]
    if len(labels) == 2:
        header += ["time ratio", "RSS ratio"]
    lines = ["| command | " + " | ".join(header) + " |", "|---" * (len(header) + 1) + "|"]
    for command in commands():
        times = [results[label, command][0] for label in labels]
        rss = [results[label, command][1] for label in labels]
        cells = [f"{t:.2f} s" for t in times] + [f"{m:.0f} MB" for m in rss]
        if len(labels) == 2:
            cells += [f"**{times[0] / times[1]:.1f}×**", f"**{rss[0] / rss[1]:.1f}×**"]
        lines.append(f"| `{command}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs per command (median)")
    parser.add_argument("--baseline", metavar="REV", help="also measure this git revision")
    args = parser.parse_args()
    if args.baseline is None:
        print(table(run({"now": REPO}, args.runs), ["now"]))
        return
    with tempfile.TemporaryDirectory(prefix="cofin-baseline-") as tmp:
        worktree = Path(tmp) / "tree"
        git = ["git", "-C", str(REPO), "worktree"]
        subprocess.run(
            [*git, "add", "--quiet", "--detach", str(worktree), args.baseline], check=True
        )
        try:
            results = run({"before": worktree, "after": REPO}, args.runs)
        finally:
            subprocess.run([*git, "remove", "--force", str(worktree)], check=True)
    print(f"before = {args.baseline}, after = working tree; median of {args.runs} runs")
    print(table(results, ["before", "after"]))


if __name__ == "__main__":
    main()
