"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

# No test may reach a model hub (this machine has no network but the package registries,
# and CI runs with HF_HUB_OFFLINE=1): set it before huggingface_hub is first imported.
os.environ["HF_HUB_OFFLINE"] = "1"

import pytest


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``tiny`` synthetic dataset (seed 0), generated once per test session.

    Layout: docs/CONVENTIONS.md ("Data layout written by the synthetic generator");
    ``synth_meta.json`` at the root has class lists, sizes and actor colours.
    Treat it as read-only: other tests share it.
    """
    from training.synth import generate

    root = tmp_path_factory.mktemp("synth_tiny")
    generate(root, preset="tiny", seed=0)
    return root
