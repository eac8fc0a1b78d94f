"""Lazy module attributes (PEP 562), so heavy submodules load only when a name is used.

Example (in a package ``__init__``)::

    __getattr__, __dir__ = lazy_attributes(__name__, {"Detector": "detector"})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Collection, Mapping
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(
    module_name: str, where: Mapping[str, str], submodules: Collection[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for a module whose names live in its submodules.

    Args:
        module_name: The module's ``__name__``.
        where: ``{public name: submodule}``, e.g. ``{"ViViT": "vivit"}``.
        submodules: Submodules reachable as attributes too (``pkg.models`` after
            ``import pkg``).
    """
    extra = frozenset(submodules)

    def __getattr__(name: str) -> Any:
        if name in where:
            value = getattr(importlib.import_module(f".{where[name]}", module_name), name)
        elif name in extra:
            value = importlib.import_module(f".{name}", module_name)
        else:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        vars(sys.modules[module_name])[name] = value  # cache: resolved once per name
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[module_name])) | set(where) | extra)

    return __getattr__, __dir__
