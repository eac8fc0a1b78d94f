"""Triton Python-backend model running one cofin ONNX graph with onnxruntime.

This file is copied as ``model.py`` into each model version folder of a repository built
with ``cofin serve build --platform python`` (next to ``model.onnx``), for servers that
have only the Python backend, e.g. the ``tritonserver`` bundled in ``nvidia-pytriton``.
It runs the very graph an ``onnxruntime_onnx`` model would, so the tensors, the ensemble
and the client are the same.

It imports only numpy, onnxruntime and Triton's ``triton_python_backend_utils``: no cofin.

Batching: Triton's dynamic batcher hands ``execute`` several requests; those whose inputs
have the same shape (apart from the batch dimension, e.g. the same padded box count) are
concatenated into ONE onnxruntime run and the outputs split back per request. A failing
group answers each of its requests with the error (the server stays up).

Settings (``parameters`` of ``config.pbtxt``): ``onnx_file`` (default ``model.onnx``),
``intra_op_threads`` (default 0: onnxruntime's choice).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

try:
    import triton_python_backend_utils as pb_utils
except ImportError:  # outside the server (tests of the grouping helpers)
    pb_utils = None


def group_by_shape(shapes: Sequence[Sequence[tuple[int, ...]]]) -> list[list[int]]:
    """Indices of requests that can share one run: equal input shapes but dim 0.

    ``shapes[r]`` holds the shapes of request ``r``'s inputs, in input order.

    Example:
        >>> group_by_shape([[(1, 3), (1, 8, 4)], [(2, 3), (2, 16, 4)], [(1, 3), (1, 8, 4)]])
        [[0, 2], [1]]
    """
    groups: dict[tuple, list[int]] = {}
    for index, request_shapes in enumerate(shapes):
        key = tuple(tuple(shape[1:]) for shape in request_shapes)
        groups.setdefault(key, []).append(index)
    return list(groups.values())


def _parameter(config: dict[str, Any], key: str, default: str) -> str:
    return config.get("parameters", {}).get(key, {}).get("string_value", default)


class TritonPythonModel:
    """The Python-backend entry points (``initialize``, ``execute``, ``finalize``)."""

    def initialize(self, args: dict[str, str]) -> None:
        import onnxruntime

        config = json.loads(args["model_config"])
        self.input_names = [spec["name"] for spec in config["input"]]
        self.output_names = [spec["name"] for spec in config["output"]]
        folder = os.path.join(args["model_repository"], args["model_version"])
        path = os.path.join(folder, _parameter(config, "onnx_file", "model.onnx"))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = int(_parameter(config, "intra_op_threads", "0"))
        spin = _parameter(config, "allow_spinning", "0")
        options.add_session_config_entry("session.intra_op.allow_spinning", spin)
        providers = ["CPUExecutionProvider"]
        available = onnxruntime.get_available_providers()
        if args.get("model_instance_kind") == "GPU" and "CUDAExecutionProvider" in available:
            device = int(args.get("model_instance_device_id", 0))
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": device}))
        self.session = onnxruntime.InferenceSession(path, options, providers=providers)

    def execute(self, requests: list[Any]) -> list[Any]:
        inputs = [
            [pb_utils.get_input_tensor_by_name(r, name).as_numpy() for name in self.input_names]
            for r in requests
        ]
        responses: list[Any] = [None] * len(requests)
        for group in group_by_shape([[a.shape for a in arrays] for arrays in inputs]):
            try:
                feeds = {
                    name: np.concatenate([inputs[r][i] for r in group])
                    for i, name in enumerate(self.input_names)
                }
                outputs = self.session.run(self.output_names, feeds)
            except Exception as exc:  # one bad group must not take the other requests down
                error = pb_utils.TritonError(f"{type(exc).__name__}: {exc}")
                for r in group:
                    responses[r] = pb_utils.InferenceResponse(output_tensors=[], error=error)
                continue
            start = 0
            for r in group:
                stop = start + len(inputs[r][0])
                tensors = [
                    pb_utils.Tensor(name, np.ascontiguousarray(out[start:stop]))
                    for name, out in zip(self.output_names, outputs)
                ]
                responses[r] = pb_utils.InferenceResponse(output_tensors=tensors)
                start = stop
        return responses

    def finalize(self) -> None:
        self.session = None
