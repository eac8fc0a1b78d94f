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

# Distributions only an extra installs -> that extra (the base install and `client` are torch-free).
_EXTRA_OF = {"torch": "torch", "torchvision": "torch", "safetensors": "torch"}


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
            value = getattr(_import(f".{where[name]}", module_name, name), name)
        elif name in extra:
            value = _import(f".{name}", module_name, name)
        else:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        vars(sys.modules[module_name])[name] = value  # cache: resolved once per name
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[module_name])) | set(where) | extra)

    return __getattr__, __dir__


def _import(submodule: str, package: str, name: str) -> Any:
    """Imports ``submodule``; a missing torch names the extra that installs it."""
    try:
        return importlib.import_module(submodule, package)
    except ModuleNotFoundError as exc:
        extra = _EXTRA_OF.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        raise ImportError(
            f'{package}.{name} needs {exc.name}: pip install "cofin-sdk[{extra}]" (without it, '
            "Detector.from_export and Detector.from_triton run exports and Triton servers)"
        ) from None
