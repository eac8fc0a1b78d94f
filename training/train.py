"""``cofin train CONFIG`` and ``torchrun --nproc-per-node N -m training.train CONFIG``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

__all__ = ["main", "register", "run_stages"]

logger = logging.getLogger(__name__)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "config",
        help="preset name (see --list), a .py file with get_config(), or a saved config.json",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set optim.base_lr=0.1 --set datasets.ava.root=/data/ava",
    )
    parser.add_argument(
        "--resume", metavar="RUN_DIR", help="resume the run in RUN_DIR from its newest checkpoint"
    )
    parser.add_argument("--list", action="store_true", help="list the presets and exit")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="co-finetune a model (one dataset per minibatch)")
    _add_arguments(parser)
    parser.set_defaults(func=run)


def run_stages(config: str, overrides: list[str], resume: str | None = None) -> list[Path]:
    """Train every stage of a recipe in order; returns each stage's ``final`` folder."""
    from training.configs.base import load_config
    from training.trainer import train

    if resume:
        saved = Path(resume) / "config.json"
        if not saved.is_file():
            raise FileNotFoundError(
                f"{saved} not found: --resume expects a run folder written by cofin train"
            )
        stages = load_config(str(saved), overrides)
    else:
        stages = load_config(config, overrides)
    finals = []
    for i, stage in enumerate(stages):
        if len(stages) > 1:
            logger.info("stage %d/%d: %s", i + 1, len(stages), stage.name)
        done = (Path(stage.run.out_dir) / "final" / "model.safetensors").is_file()
        if done and resume and len(stages) > 1:
            finals.append(Path(stage.run.out_dir) / "final")
            continue
        finals.append(train(stage, resume=bool(resume)))
    return finals


def run(args: argparse.Namespace) -> int:
    if args.list:
        from training.configs.base import list_configs

        print("\n".join(list_configs()))
        return 0
    finals = run_stages(args.config, args.overrides, args.resume)
    if os.environ.get("RANK", "0") != "0":
        return 0
    for final in finals:
        print(f"model saved to {final}  (load with Detector.from_pretrained('{final}'))")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__)
    _add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
