"""The ``cofin`` command line.

Subcommands are discovered through the ``cofin.commands`` entry-point group so that
``cofin_sdk`` never imports ``training``/``serving``/``demo`` (dependencies flow one way).
Each entry point is a ``register(subparsers)`` function that adds one sub-parser and
sets ``func`` to a callable taking the parsed ``argparse.Namespace`` and returning an
exit code. Heavy imports belong inside that callable so ``cofin --help`` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
from importlib.metadata import entry_points

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cofin",
        description="cofin: co-finetuned video transformers for action localisation.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for ep in sorted(entry_points(group="cofin.commands"), key=lambda e: e.name):
        try:
            register = ep.load()
        except ImportError as exc:  # an optional extra is missing: keep the others usable
            extra = "train" if ep.value.startswith("training") else "dev"
            subparsers.add_parser(
                ep.name, help=f"(unavailable: {exc}; pip install 'cofin-sdk[{extra}]')"
            )
            continue
        register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, TypeError, KeyError) as exc:
        # Input errors are reported as one clear line, not a traceback.
        if args.verbose:
            raise
        print(f"cofin {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
