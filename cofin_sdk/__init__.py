"""cofin: co-finetuned ViViT video transformers for spatio-temporal action localisation."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
