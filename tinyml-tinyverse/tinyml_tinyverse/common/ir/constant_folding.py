"""Constant folding for the ONNX importer: evaluate shape arithmetic whose inputs are all constants.

The classic exporter writes ``x.view(x.size(0), -1)`` as ``Shape -> Gather -> Unsqueeze -> Concat ->
Reshape``; with static shapes every one of those is a constant, folded here in numpy. Each node's
constants are checked against its op first (:func:`check_fold_inputs`: axes, indices, ranks, target
shapes, broadcasting), so a model whose shape arithmetic does not fit gets an error naming the node,
its values and the rule, never numpy's message. :func:`reshape_target` and :func:`check_broadcast`
are shared with the run-time Reshape and the binary ops.
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import CompilationError
from .onnx_names import MAX_TENSOR_ELEMENTS, describe_node


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


def reshape_target(
    node: onnx.NodeProto, x_shape, target: list[int], allowzero: bool = False
) -> tuple[int, ...]:
    """The shape an ONNX Reshape of ``x_shape`` to ``target`` gives (0 copies, one -1 is inferred), checked."""
    x_shape, target = [int(d) for d in x_shape], [int(t) for t in target]
    copies = not allowzero  # a 0 copies the input's dimension
    if target.count(-1) > 1 or min(target, default=0) < -1 or (copies and 0 in target[len(x_shape) :]):
        raise attribute_error(node, "the target shape", target,
                          f"at most one -1, no other negative value, a 0 only where the input {x_shape} has a dimension to copy")  # fmt: skip
    out = [x_shape[i] if t == 0 and copies else t for i, t in enumerate(target)]
    size, known = math.prod(x_shape), math.prod(t for t in out if t != -1)
    if -1 in out and known and size % known == 0:
        out[out.index(-1)] = size // known
    if -1 in out or math.prod(out) != size:
        raise attribute_error(
            node, f"the target shape (input {x_shape}, {size} values)", target, "as many values"
        )
    return tuple(out)


def attribute_error(node: onnx.NodeProto | None, key: str, value, rule: str) -> CompilationError:
    """A node attribute (or constant operand) outside what its op allows: the node, the value, the rule."""
    where = describe_node(node) if node is not None else "a node"
    return CompilationError(f"{where}: {key} {value}: not valid, expected {rule}; export the model again")


def _axis(node: onnx.NodeProto, axis, rank: int, key: str = "axis") -> int:
    """``axis`` in ``[-rank, rank)`` as a non-negative index."""
    if not -rank <= int(axis) < rank:
        raise attribute_error(node, key, int(axis), f"an axis of its rank-{rank} input, in [{-rank}, {rank})")
    return int(axis) % rank


def _axes(node: onnx.NodeProto, axes, rank: int) -> list[int]:
    out = [_axis(node, ax, rank, "axes") for ax in axes]
    if len(set(out)) != len(out):
        raise attribute_error(node, "axes", list(axes), "each axis once")
    return out


def check_broadcast(node: onnx.NodeProto, shapes: list) -> None:
    """Refuse operand shapes that do not broadcast together (numpy / ONNX multidirectional rules)."""
    try:
        np.broadcast_shapes(*[tuple(s) for s in shapes])
    except ValueError:
        raise attribute_error(
            node, "input shapes", [list(s) for s in shapes], "shapes that broadcast together"
        ) from None


def check_fold_inputs(node: onnx.NodeProto, xs: list, a: dict) -> None:
    """Refuse constant inputs that do not fit ``node``'s op, naming the node, the values and the rule."""
    op = node.op_type
    x = None if not xs or xs[0] is None else np.asarray(xs[0])
    if x is None and op not in ("Constant", "ConstantOfShape", "Range"):
        raise attribute_error(node, "the first input", "(empty)", "a tensor")
    if op in ("Gather", "Concat", "Slice", "Squeeze", "Transpose", "Flatten") and x.ndim == 0:
        raise attribute_error(node, "the first input", "(a scalar)", "a tensor of rank 1 or more")
    if op == "Gather":
        ax = _axis(node, a.get("axis", 0), x.ndim)
        idx, n = np.asarray(xs[1]).ravel(), x.shape[ax]
        if not np.issubdtype(idx.dtype, np.integer) or not ((-n <= idx) & (idx < n)).all():
            raise attribute_error(
                node,
                "indices",
                idx.tolist()[:8],
                f"integers in [-{n}, {n}) (axis {ax} of shape {list(x.shape)})",
            )
    elif op == "Concat":
        shapes = [list(np.atleast_1d(v).shape) for v in xs if v is not None]
        ax = _axis(node, a.get("axis", 0), len(shapes[0]))
        if any(
            len(s) != len(shapes[0]) or s[:ax] + s[ax + 1 :] != shapes[0][:ax] + shapes[0][ax + 1 :]
            for s in shapes
        ):
            raise attribute_error(
                node, "input shapes", shapes, f"one rank and the same sizes except on axis {ax}"
            )
    elif op == "Slice":
        lists = [int_list(v) for v in xs[1:] if v is not None]
        n = len(lists[0]) if lists else 0
        steps = int_list(xs[4]) if len(xs) > 4 and xs[4] is not None else [1] * n
        if len(lists) < 2 or any(len(v) != n for v in lists) or 0 in steps:
            raise attribute_error(
                node, "starts/ends/axes/steps", lists, "starts and ends, the same length each, no step 0"
            )
        _axes(node, int_list(xs[3]) if len(xs) > 3 and xs[3] is not None else range(n), x.ndim)
    elif op == "Unsqueeze":
        axes = a["axes"] if "axes" in a else int_list(xs[1])
        _axes(node, axes, x.ndim + len(axes))
    elif op == "Squeeze":
        axes = (
            a.get("axes") if "axes" in a else (int_list(xs[1]) if len(xs) > 1 and xs[1] is not None else None)
        )
        if axes is not None and any(x.shape[ax] != 1 for ax in _axes(node, axes, x.ndim)):
            raise attribute_error(
                node, "axes", list(axes), f"axes of size 1 in its input of shape {list(x.shape)}"
            )
    elif op == "Transpose" and "perm" in a and sorted(int(p) for p in a["perm"]) != list(range(x.ndim)):
        raise attribute_error(node, "perm", list(a["perm"]), f"a permutation of the {x.ndim} axes")
    elif op == "Flatten" and not -x.ndim <= int(a.get("axis", 1)) <= x.ndim:
        raise attribute_error(node, "axis", a.get("axis"), f"in [{-x.ndim}, {x.ndim}]")
    elif op in ("Add", "Sub", "Mul", "Div", "Equal", "Where"):
        check_broadcast(node, [np.shape(v) for v in xs])
    elif op in ("Expand", "ConstantOfShape") and np.ndim(xs[-1]) != 1:
        raise attribute_error(
            node, "the shape input of shape", list(np.shape(xs[-1])), "a 1-D list of dimensions"
        )
    elif op == "Range" and any(np.ndim(v) != 0 for v in xs):
        raise attribute_error(
            node, "input shapes", [list(np.shape(v)) for v in xs], "scalars (start, limit, delta)"
        )


def fold_constant_node(node: onnx.NodeProto, xs: list) -> np.ndarray:
    a = node_attrs(node)
    op = node.op_type
    if op == "Slice" and "starts" in a:  # opset < 10: starts / ends / axes are attributes
        xs = [xs[0], np.array(a["starts"]), np.array(a["ends"]), np.array(a["axes"]) if "axes" in a else None]
    check_fold_inputs(node, xs, a)
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
        return xs[0].reshape(reshape_target(node, xs[0].shape, int_list(xs[1]), a.get("allowzero", 0)))
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
        shape = _bounded(node, int_list(xs[1]))
        check_broadcast(node, [xs[0].shape, shape])
        return xs[0] * np.ones(shape, dtype=xs[0].dtype)
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
