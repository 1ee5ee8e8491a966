"""Constant folding for the ONNX importer: evaluate shape arithmetic whose inputs are all constants.

The classic exporter writes ``x.view(x.size(0), -1)`` as ``Shape -> Gather -> Unsqueeze -> Concat ->
Reshape``; with static shapes every one of those is a constant, folded here in numpy.
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import CompilationError
from .onnx_checks import MAX_TENSOR_ELEMENTS, describe_node


def node_attrs(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def int_list(v) -> list:
    return [int(i) for i in np.asarray(v).ravel()]


# ops evaluated at import time when all their inputs are constants (shape arithmetic)
FOLDABLE = {
    "Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Slice", "Cast", "Reshape", "Identity",
    "Add", "Sub", "Mul", "Div", "ConstantOfShape", "Range", "Transpose", "Flatten", "Expand", "Neg",
    "Equal", "Where", "Sqrt", "Floor", "Ceil", "Constant", "Dropout",
}  # fmt: skip


def fold_constant_node(node: onnx.NodeProto, xs: list) -> np.ndarray:
    a = node_attrs(node)
    op = node.op_type
    if op == "Constant":
        if "value" in a:
            return numpy_helper.to_array(a["value"])
        for key in ("value_float", "value_int"):
            if key in a:
                return np.array(a[key])
        for key in ("value_floats", "value_ints"):
            if key in a:
                return np.array(a[key])
        raise CompilationError(f"{describe_node(node)}: unsupported Constant form")
    if op in ("Identity", "Dropout"):
        return xs[0]
    if op == "Gather":
        return np.take(xs[0], xs[1].astype(np.int64), axis=a.get("axis", 0))
    if op == "Unsqueeze":
        axes = a["axes"] if "axes" in a else int_list(xs[1])
        y = xs[0]
        for ax in sorted(int(i) % (y.ndim + len(axes)) for i in axes):
            y = np.expand_dims(y, ax)
        return y
    if op == "Squeeze":
        axes = a.get("axes") if "axes" in a else (int_list(xs[1]) if len(xs) > 1 else None)
        return np.squeeze(xs[0], axis=None if axes is None else tuple(axes))
    if op == "Concat":
        return np.concatenate([np.atleast_1d(x) for x in xs], axis=a["axis"])
    if op == "Slice":
        starts, ends = int_list(xs[1]), int_list(xs[2])
        axes = int_list(xs[3]) if len(xs) > 3 and xs[3] is not None else list(range(len(starts)))
        steps = int_list(xs[4]) if len(xs) > 4 and xs[4] is not None else [1] * len(starts)
        idx = [slice(None)] * xs[0].ndim
        for s, e, ax, st in zip(starts, ends, axes, steps):
            idx[ax] = slice(s, e, st)
        return xs[0][tuple(idx)]
    if op == "Cast":
        return xs[0].astype(onnx.helper.tensor_dtype_to_np_dtype(a["to"]))
    if op == "Reshape":
        target = int_list(xs[1])
        target = [xs[0].shape[i] if t == 0 else t for i, t in enumerate(target)]
        return xs[0].reshape(target)
    if op in ("Add", "Sub", "Mul", "Div"):
        fn = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op]
        y = fn(xs[0], xs[1])
        if op == "Div" and np.issubdtype(xs[0].dtype, np.integer):
            y = np.trunc(y)
        return y.astype(np.result_type(xs[0], xs[1]))
    if op == "ConstantOfShape":
        value = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
        return np.full(_bounded(node, int_list(xs[0])), value.ravel()[0], dtype=value.dtype)
    if op == "Range":
        if float(xs[2]) == 0:
            raise CompilationError(f"{describe_node(node)}: its delta is 0 (an endless range); fix the model")
        _bounded(node, [max(0, int(np.ceil((float(xs[1]) - float(xs[0])) / float(xs[2]))))])
        return np.arange(xs[0], xs[1], xs[2])
    if op == "Transpose":
        return np.transpose(xs[0], a.get("perm"))
    if op == "Flatten":
        ax = a.get("axis", 1)
        return xs[0].reshape(int(np.prod(xs[0].shape[:ax])), -1)
    if op == "Expand":
        return xs[0] * np.ones(_bounded(node, int_list(xs[1])), dtype=xs[0].dtype)
    if op == "Neg":
        return -xs[0]
    if op == "Equal":
        return np.equal(xs[0], xs[1])
    if op == "Where":
        return np.where(xs[0], xs[1], xs[2])
    if op == "Sqrt":
        return np.sqrt(xs[0])
    if op == "Floor":
        return np.floor(xs[0])
    if op == "Ceil":
        return np.ceil(xs[0])
    raise CompilationError(f"{describe_node(node)}: cannot fold this op")


def _bounded(node: onnx.NodeProto, shape: list[int]) -> list[int]:
    """A shape to fill with a folded constant: non-negative, at most MAX_TENSOR_ELEMENTS values."""
    if any(d < 0 for d in shape) or math.prod(shape) > MAX_TENSOR_ELEMENTS:
        raise CompilationError(
            f"{describe_node(node)}: its constant output of shape {shape} is negative or holds more than "
            f"{MAX_TENSOR_ELEMENTS} values; fix the model's shape computation"
        )
    return shape
