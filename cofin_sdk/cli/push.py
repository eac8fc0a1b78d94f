"""``cofin push``: publish a model folder to the Hugging Face Hub in one commit.

Examples::

    cofin push runs/synthetic_tiny/final my-user/cofin-tiny
    cofin push runs/synthetic_tiny/final my-user/cofin-tiny --revision exp-1 --with-export \\
        --message "co-finetuned on AVA + K400"
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register_push"]


def register_push(subparsers: Any) -> None:
    """Adds ``cofin push``."""
    parser = subparsers.add_parser(
        "push",
        help="publish a model folder to the Hugging Face Hub (weights, record, card, ONNX)",
        description=(
            "Upload model.safetensors, config.json and a model card generated from it (and "
            "with --with-export an ONNX export in onnx/) to a Hub model repo in one commit. "
            "The repo is created if needed. Token: HF_TOKEN or `hf auth login`."
        ),
    )
    parser.add_argument("model_dir", metavar="MODEL_DIR", help="folder written by save_pretrained")
    parser.add_argument("repo_id", metavar="REPO_ID", help="Hub repo id, namespace/name")
    parser.add_argument(
        "--private", action="store_true", help="create the repo private (if it is new)"
    )
    parser.add_argument(
        "--revision",
        metavar="BRANCH",
        help="branch to commit to (created if missing; default main)",
    )
    parser.add_argument(
        "--with-export",
        action="store_true",
        help="also export ONNX graphs into onnx/ (needs the onnx extra)",
    )
    parser.add_argument("--message", help="commit message (default: architecture, heads, version)")
    parser.set_defaults(func=run_push)


def run_push(args: argparse.Namespace) -> int:
    """Runs ``cofin push``; prints the commit URL."""
    from cofin_sdk.hub.publish import push_to_hub

    url = push_to_hub(
        args.model_dir,
        args.repo_id,
        private=True if args.private else None,
        revision=args.revision,
        with_export=args.with_export,
        commit_message=args.message,
    )
    print(f"pushed {args.model_dir} to {args.repo_id}: {url}")
    return 0
