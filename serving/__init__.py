"""cofin serving on NVIDIA Triton Inference Server (DESIGN.md, "Serving").

* :mod:`serving.repository`: ``build_repository`` writes a model repository from an export
  (backbone, one model per head, the ensemble ``cofin``);
* :mod:`serving.pbtxt`: the ``config.pbtxt`` text writer (pure functions);
* :mod:`serving.python_model`: the Python-backend ``model.py`` running onnxruntime;
* :mod:`serving.server`: ``TritonServer``, a local ``tritonserver`` on a repository;
  it runs under :mod:`serving._guard`, so it dies with its launcher;
* :mod:`serving.ports`: free ports, and the one-line error naming who holds a busy one;
* :mod:`serving.cli`: ``cofin serve build`` / ``cofin serve start``.

The client is in the SDK: :class:`cofin_sdk.backends.TritonBackend` and
``Detector.from_triton``. Imports here are light; Triton modules load when used.
"""
