"""The ``cofin`` command line: :mod:`.main` (parser, plugin loading, one-line errors) and
the SDK's own sub-commands (:mod:`.detect`, :mod:`.export`, :mod:`.push`).

May import: anything in the SDK; heavy modules only inside a sub-command's function
(``cofin --help`` imports no torch). Nothing in the SDK imports the CLI: checks other
parts need too (output paths) live below it, in :mod:`cofin_sdk.io.paths`.
"""
