"""Kept importable: the AVA readers live in :mod:`cofin_sdk.formats.ava` (one copy of the rules)."""

from __future__ import annotations

from cofin_sdk.formats.ava import AvaRows, read_ava_csv, read_exclusions, read_label_map

__all__ = ["AvaRows", "read_label_map", "read_ava_csv", "read_exclusions"]
