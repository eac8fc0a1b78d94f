"""Input and output: video decoding, the clip rule, writing, frame sources, clip batching,
and the checks on output paths made before long work.

Owns: :mod:`.video` (probe, seek and decode with PyAV), :mod:`.clip_rule` (THE time ->
frame -> clip mapping training and inference share), :mod:`.writer` (H.264 writing),
:mod:`.sources` (files and arrays behind one frame-reading interface), :mod:`.clips`
(letterboxed clip batches for the Detector) and :mod:`.paths` (may this output path or
folder be written? asked by the CLI, export and training before they start).

May import: :mod:`cofin_sdk.formats` and :mod:`cofin_sdk.preprocessing` only (the bottom
layer of the SDK, with them; nothing here imports torch at module level).
"""
