"""The torch-free client set: run by ``.ci/client`` in a venv holding only ``.[client]``
and pytest. Its fixtures (an export, a Triton server on its repository, a video and the
torch model's answers) come from the full environment through two variables:

* ``COFIN_CLIENT_FIXTURES``: the folder ``tests/client/make_fixtures.py`` wrote;
* ``COFIN_CLIENT_TRITON_URL``: ``grpc://...`` of a server on that folder's ``repo/``.

Without them the set is skipped (the full suite has no torch-free interpreter to run it in).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.client)


@pytest.fixture(scope="session")
def fixtures() -> Path:
    folder = os.environ.get("COFIN_CLIENT_FIXTURES")
    if not folder:
        pytest.skip("the client set runs in its own torch-free venv: bash .ci/client")
    return Path(folder)


@pytest.fixture(scope="session")
def triton_url(fixtures: Path) -> str:
    url = os.environ.get("COFIN_CLIENT_TRITON_URL")
    if not url:
        pytest.skip("COFIN_CLIENT_TRITON_URL is not set: bash .ci/client starts the server")
    return url


@pytest.fixture(scope="session")
def reference(fixtures: Path) -> dict[str, np.ndarray]:
    """What the torch model answered on the same video in the full environment."""
    with np.load(fixtures / "reference.npz") as data:
        return {k: data[k] for k in data.files}
