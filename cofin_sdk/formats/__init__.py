"""Data formats: THE box rule and the AVA CSV files.

Owns: :mod:`.boxes` (box conventions and the one validity rule), :mod:`.ava` (reading
and writing AVA annotation, label-map and detection CSVs; the parser in
:mod:`._ava_csv`).

May import: nothing else in the SDK (the bottom layer; torch-free). The model record
(``config.json``) is a format too, but it is made of the model's config: it lives in
:mod:`cofin_sdk.models.record`.
"""
