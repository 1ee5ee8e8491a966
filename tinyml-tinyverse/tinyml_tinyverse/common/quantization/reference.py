"""The integer reference executor: ground truth for the quantized ONNX and the generated C.

Integer arithmetic only (int8 tensors, int64 accumulators); every rescale uses
:func:`~.rounding.requant` (THE rounding rule). Each function below is the numpy twin of one C
kernel in ``tinyml_model.c``; they follow the same order of operations, so results are bit-exact.
"""

from __future__ import annotations

import numpy as np

from .graph_ir import as_nchw, conv2d, conv_transpose2d, pad2d, pool2d, pool_counts, restore_rank, slice_nd
from .rounding import requant, round_div, saturate


def _per_channel(v: np.ndarray, ndim: int, axis: int = 1) -> np.ndarray:
    shape = [1] * ndim
    shape[axis] = -1
    return np.asarray(v, dtype=np.int64).reshape(shape)


def _finish(acc: np.ndarray, mult, shift, a: dict) -> np.ndarray:
    """Requantize accumulators, add the output zero point, clamp to the (fused) activation range."""
    return saturate(requant(acc, mult, shift) + a["out_zp"], a["act_min"], a["act_max"])


def run_int_node(node, xs: list[np.ndarray], consts: dict | None = None) -> np.ndarray:
    """Evaluate one quantized node on int8 batch inputs."""
    a = node.attrs
    p = node.arrays
    op = node.op
    x = xs[0]
    if op in ("conv", "conv_transpose"):
        xi = as_nchw(x).astype(np.int64) - a["in_zp"]
        w = p["w"].astype(np.int64)
        if op == "conv":
            acc = conv2d(xi, w, a["strides"], a["pads"], a["dilations"], a["group"])
        else:
            acc = conv_transpose2d(
                xi, w, a["strides"], a["pads"], a["dilations"], a["group"], a["output_padding"], a["out_hw"]
            )
        acc = acc + _per_channel(p["bias"], 4)
        y = _finish(acc, _per_channel(p["mult"], 4), _per_channel(p["shift"], 4), a)
        return restore_rank(y, x)
    if op == "dense":
        acc = (x.astype(np.int64) - a["in_zp"]) @ p["w"].astype(np.int64).T + p["bias"].astype(np.int64)
        return _finish(acc, p["mult"].astype(np.int64), p["shift"].astype(np.int64), a)
    if op == "maxpool":
        y = pool2d(
            as_nchw(x).astype(np.int64),
            "max",
            a["kernel"],
            a["strides"],
            a["pads"],
            a["out_hw"],
            pad_value=-(1 << 20),
        )
        return restore_rank(y.astype(np.int8), x)
    if op == "avgpool":
        x4 = as_nchw(x).astype(np.int64) - a["zp"]
        total = pool2d(x4, "sum", a["kernel"], a["strides"], a["pads"], a["out_hw"])
        count = pool_counts(
            x4.shape[2:], a["kernel"], a["strides"], a["pads"], a["out_hw"], a["count_include_pad"]
        )
        return restore_rank(saturate(round_div(total, count) + a["zp"]), x)
    if op == "clamp":
        return np.clip(x, a["lo"], a["hi"]).astype(np.int8)
    if op == "lut":
        return p["table"][x.astype(np.int64) + 128]
    if op == "softmax":
        xi = x.astype(np.int64)
        d = xi - xi.max(axis=a["axis"], keepdims=True)
        e = p["table"].astype(np.int64)[d + 255]
        total = e.sum(axis=a["axis"], keepdims=True)
        return saturate(round_div(e * 256, total) - 128)
    if op in ("add", "sub"):
        ta = (xs[0].astype(np.int64) - a["zp_a"]) * a["mult_a"]
        tb = (xs[1].astype(np.int64) - a["zp_b"]) * a["mult_b"]
        acc = ta + tb if op == "add" else ta - tb
        y = ((acc + (np.int64(1) << (a["shift"] - 1))) >> a["shift"]) + a["out_zp"]
        return saturate(y, a["act_min"], a["act_max"])
    if op == "mul":
        acc = (xs[0].astype(np.int64) - a["zp_a"]) * (xs[1].astype(np.int64) - a["zp_b"])
        return _finish(acc, a["mult"], a["shift"], a)
    if op == "concat":
        parts = [
            saturate(requant(xi.astype(np.int64) - zp, m, s) + a["out_zp"])
            for xi, zp, m, s in zip(xs, a["in_zps"], a["mults"], a["shifts"])
        ]
        return np.concatenate(parts, axis=a["axis"])
    if op == "reshape":
        return x.reshape((x.shape[0],) + tuple(a["shape"][1:]))
    if op == "resize":
        y = as_nchw(x)[:, :, np.asarray(a["index_h"])][:, :, :, np.asarray(a["index_w"])]
        return restore_rank(y, x)
    if op == "transpose":
        return np.ascontiguousarray(np.transpose(x, a["perm"]))
    if op == "slice":
        return slice_nd(x, a)
    if op == "pad":
        return restore_rank(pad2d(as_nchw(x), a["pads"], a["value_q"]).astype(np.int8), x)
    raise NotImplementedError(f"integer reference has no op {op!r} (node {node.name})")


def run_int(qgraph, x_int8: np.ndarray, keep_all: bool = False) -> dict[str, np.ndarray]:
    """Run a :class:`~.quantized_graph.QuantizedGraph` on an int8 batch; returns its output tensors."""
    x = np.asarray(x_int8)
    if x.dtype != np.int8:
        raise TypeError(f"run_int expects an int8 array, got {x.dtype}; use quantize_input() first")
    values: dict[str, np.ndarray] = {k: v for k, v in qgraph.constants.items()}
    values[qgraph.input_name] = x
    for node in qgraph.nodes:
        values[node.output] = run_int_node(node, [values[i] for i in node.inputs])
    if keep_all:
        return values
    return {name: values[name] for name in qgraph.output_names}
