"""Publishing to the Hugging Face Hub: :func:`push_to_hub` (``cofin push``).

Owns: :mod:`.publish` (checks, staging and the one-commit upload).

May import: models, export and everything below them; never backends, the Detector or
the CLI. Nothing below imports it: the model does not publish itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cofin_sdk._lazy import lazy_attributes

if TYPE_CHECKING:
    from .publish import check_repo_id, push_to_hub

__all__ = ["check_repo_id", "push_to_hub"]

__getattr__, __dir__ = lazy_attributes(__name__, dict.fromkeys(__all__, "publish"))
