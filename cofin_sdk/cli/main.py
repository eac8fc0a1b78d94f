"""The ``cofin`` command line.

Subcommands are discovered through the ``cofin.commands`` entry-point group so that
``cofin_sdk`` never imports ``training``/``serving``/``demo`` (dependencies flow one way).
Each entry point is a ``register(subparsers)`` function that adds one sub-parser and
sets ``func`` to a callable taking the parsed ``argparse.Namespace`` and returning an
exit code. Heavy imports belong inside that callable so ``cofin --help`` stays fast.

Only the entry point of the sub-command being run is loaded; the others appear as
placeholders with a one-line help from :data:`_BUILTIN_HELP`, so ``cofin --help`` and
``cofin detect --help`` import neither torch nor the other sub-commands' modules.

Errors: expected failures (bad input, missing files, unavailable devices, see
:func:`_is_expected`) print one line ``cofin <cmd>: error: <message>`` and exit 1;
``--debug`` adds the traceback. Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import traceback
from collections.abc import Collection, Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import Any

__all__ = ["main", "build_parser"]

#: One-line helps of the built-in sub-commands, shown by ``cofin --help`` without
#: importing them. Must equal each ``register``'s ``help=`` (tests/cofin_sdk/test_startup.py).
_BUILTIN_HELP: dict[str, str] = {
    "classify": "clip classification of a video",
    "demo": "serve the Gradio demo (annotated video, detections, top-5, timeline)",
    "detect": "person-box action detection on a video",
    "eval": "evaluate a checkpoint on the validation sets (AVA mAP, clip top-1/top-5)",
    "eval-ava": "AVA frame-mAP@0.5IOU of a detections CSV (official ActivityNet protocol)",
    "export": "export ONNX graphs (backbone + one per head) or TensorRT engines of a model",
    "push": "publish a model folder to the Hugging Face Hub (weights, record, card, ONNX)",
    "quickstart": "generate data, co-finetune, evaluate, detect: end to end on CPU",
    "serve": "build a Triton model repository (serve build) and run tritonserver on it (serve start)",
    "synth": "generate synthetic AVA/Kinetics/Moments/SSv2 data in the real formats",
    "train": "co-finetune a model (one dataset per minibatch)",
    "watch": "live action detection on a stream (RTSP/HTTP/TCP/UDP, webcam, file, pipe)",
}

# OSError covers FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError.
_EXPECTED_ERRORS = (OSError, ValueError, TypeError, KeyError)


def build_parser(commands: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The ``cofin`` parser.

    Args:
        commands: Sub-commands whose entry points are loaded and registered for real;
            the others get a light placeholder that only lists them. Default: all.

    Returns:
        The parser; a parsed real sub-command sets ``func``.
    """
    parser = argparse.ArgumentParser(
        prog="cofin",
        description="cofin: co-finetuned video transformers for action localisation.",
    )
    _add_global_flags(parser, default=False)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    available = _entry_points()
    to_load = available.keys() if commands is None else set(commands) & available.keys()
    for name in sorted(to_load):  # real ones first: a plugin may add more than one name
        _register(subparsers, available[name])
    for name, ep in sorted(available.items()):
        if name not in subparsers.choices:
            subparsers.add_parser(name, help=_BUILTIN_HELP.get(name, f"(plugin {ep.value})"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``cofin`` on ``argv`` (default ``sys.argv[1:]``) and returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser([name] if (name := _command_name(argv)) else [])
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        if args.debug:
            traceback.print_exc()
        print(f"cofin {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        name, detail = type(exc).__name__, str(exc)
        if _is_expected(exc):
            message = detail or name
        else:  # probably a bug: name the exception type
            message = f"{name}: {detail}" if detail else name
            if not args.debug:
                message += " (run with --debug for the traceback)"
        print(f"cofin {args.command}: error: {message}", file=sys.stderr)
        return 1


def _is_expected(exc: Exception) -> bool:
    """Whether ``exc`` is a user-facing failure (bad input, environment), not a bug."""
    if isinstance(exc, ImportError):
        return bool(str(exc))  # a missing package, named in the message
    if isinstance(exc, _EXPECTED_ERRORS):
        return True
    package = type(exc).__module__.split(".")[0]
    if package == "safetensors":
        return True  # its errors subclass Exception directly
    # torch's C++ errors (unknown device string, no CUDA driver) arrive as a bare
    # RuntimeError, often raised from our frame; a CPU-only build asserts in torch.cuda.
    if isinstance(exc, RuntimeError) and "torch" in sys.modules:
        return package == "torch" or type(exc) is RuntimeError
    return isinstance(exc, AssertionError) and _raised_in(exc, "torch")


def _raised_in(exc: BaseException, package: str) -> bool:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    name = "" if tb is None else str(tb.tb_frame.f_globals.get("__name__", ""))
    return name == package or name.startswith(f"{package}.")


def _command_name(argv: Sequence[str]) -> str | None:
    """The sub-command in ``argv``: the first non-option (no global option takes a value)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group="cofin.commands")}


def _register(subparsers: Any, ep: EntryPoint) -> None:
    try:
        register = ep.load()
    except ImportError as exc:  # an optional extra is missing: say which when it is run
        extra = "train" if ep.value.startswith("training") else "dev"
        _register_unavailable(subparsers, ep.name, f"{exc}; pip install 'cofin-sdk[{extra}]'")
        return
    register(subparsers)
    if ep.name in subparsers.choices:  # also accept `cofin detect ... --debug`
        _add_global_flags(subparsers.choices[ep.name], default=argparse.SUPPRESS)


def _register_unavailable(subparsers: Any, name: str, message: str) -> None:
    parser = subparsers.add_parser(name, help=f"(unavailable: {message})")
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    def fail(args: argparse.Namespace) -> int:
        raise ImportError(message)

    parser.set_defaults(func=fail)


def _add_global_flags(parser: argparse.ArgumentParser, default: Any) -> None:
    """``-v`` and ``--debug``; on a sub-parser (``default=SUPPRESS``) they are accepted
    after the sub-command too, without overriding the global value or cluttering its help."""
    on_subparser = default is argparse.SUPPRESS
    flags = {
        ("-v", "--verbose"): ("verbose", "debug logging"),
        ("--debug",): ("debug", "show the traceback of an error"),
    }
    for options, (dest, help_text) in flags.items():
        # Skipped where the sub-command defines the flag itself.
        with contextlib.suppress(argparse.ArgumentError):
            parser.add_argument(
                *options,
                dest=dest,
                action="store_true",
                default=default,
                help=argparse.SUPPRESS if on_subparser else help_text,
            )


if __name__ == "__main__":
    sys.exit(main())
