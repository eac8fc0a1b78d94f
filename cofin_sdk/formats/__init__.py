"""Data formats: THE box rule and the AVA CSV files.

Owns: :mod:`.boxes` (box conventions and the one validity rule), :mod:`.ava` (reading
and writing AVA annotation, label-map and detection CSVs; the parser in
:mod:`._ava_csv`).

May import: nothing else in the SDK (the bottom layer; torch-free).
"""
