"""Export a :class:`QuantizedGraph` as a QDQ ONNX model (opset 14) that onnxruntime runs.

Every activation is followed by ``QuantizeLinear -> DequantizeLinear`` with its scale and zero
point; conv / dense weights are int8 initializers behind a per-channel ``DequantizeLinear`` and
biases int32 ones at scale ``scale_in * scale_w``. Float ops sit between the Q/DQ pairs, so the
model's outputs equal :meth:`QuantizedGraph.run_dequantized` up to rounding ties (onnxruntime
rounds half to even in float, the integer reference half up): within about one output LSB.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

QDQ_OPSET = 14


class _Builder:
    def __init__(self, qgraph):
        self.q = qgraph
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def name(self, base: str) -> str:
        self.count += 1
        return f"{base}__{self.count}"

    def init(self, base: str, value: np.ndarray) -> str:
        n = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(value), n))
        return n

    def node(self, op: str, inputs: list[str], out: str | None = None, **attrs) -> str:
        out = out or self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=self.name(op), **attrs))
        return out

    def qdq(self, x: str, tensor: str, out: str | None = None) -> str:
        t = self.q.tensors[tensor]
        s = self.init(f"{tensor}_scale", np.array(t["scale"], dtype=np.float32))
        z = self.init(f"{tensor}_zp", np.array(t["zero_point"], dtype=np.int8))
        return self.node("DequantizeLinear", [self.node("QuantizeLinear", [x, s, z]), s, z], out)

    def dq_const(self, base: str, q: np.ndarray, scale, axis: int | None = None) -> str:
        scale = np.asarray(scale, dtype=np.float32)
        zp = np.zeros(scale.shape, dtype=np.int8 if q.dtype == np.int8 else np.int32)
        ins = [self.init(base, q), self.init(base + "_scale", scale), self.init(base + "_zp", zp)]
        return self.node("DequantizeLinear", ins, **({} if axis is None else {"axis": axis}))


def _spatial(x_rank: int, values, pairs: bool = False) -> list[int]:
    """2-D attribute values for a rank-``x_rank`` tensor (1-D ops keep only the H entries)."""
    v = [int(i) for i in values]
    if x_rank == 4:
        return v
    return [v[0], v[2]] if pairs else [v[0]]


def export_qdq_onnx(qgraph, path: str | Path) -> Path:
    """Write ``qgraph`` as a QDQ ONNX model at ``path`` (atomic) and return the path."""
    b = _Builder(qgraph)
    names: dict[str, str] = {}
    x_in = qgraph.input_name
    names[x_in] = b.qdq(x_in, x_in)
    for cname, value in qgraph.constants.items():
        t = qgraph.tensors[cname]
        names[cname] = b.node(
            "DequantizeLinear",
            [b.init(cname, value), b.init(cname + "_scale", np.array(t["scale"], np.float32)),
             b.init(cname + "_zp", np.array(t["zero_point"], np.int8))],
        )  # fmt: skip
    for node in qgraph.nodes:
        y = _export_node(b, node, [names[i] for i in node.inputs])
        out_name = node.output if node.output in qgraph.output_names else None
        names[node.output] = b.qdq(y, node.output, out=out_name)

    def vinfo(name: str, batch_dim: bool = True):
        shape = ["N"] + list(qgraph.tensors[name]["shape"][1:])
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    graph = helper.make_graph(
        b.nodes, f"{qgraph.name}_qdq", [vinfo(x_in)], [vinfo(o) for o in qgraph.output_names], b.inits
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", QDQ_OPSET)], producer_name="tinyml_tinyverse"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    onnx.save(model, str(tmp))
    os.replace(tmp, path)
    return path


def _act(b: _Builder, y: str, node, out_t: dict) -> str:
    a = node.attrs
    if a.get("act_min", -128) == -128 and a.get("act_max", 127) == 127:
        return y
    s, zp = out_t["scale"], out_t["zero_point"]
    lo = b.init("act_min", np.array((a["act_min"] - zp) * s, np.float32))
    hi = b.init("act_max", np.array((a["act_max"] - zp) * s, np.float32))
    return b.node("Clip", [y, lo, hi])


def _export_node(b: _Builder, node, xs: list[str]) -> str:
    q = b.q
    a = node.attrs
    op = node.op
    x_rank = len(q.tensors[node.inputs[0]]["shape"])
    in_t = q.tensors[node.inputs[0]]
    out_t = q.tensors[node.output]
    if op in ("conv", "conv_transpose"):
        w, ws = node.arrays["w"], node.arrays["w_scale"]
        bias_scale = in_t["scale"] * ws
        kernel = w.shape[2:] if x_rank == 4 else w.shape[2:3]
        attrs = dict(
            strides=_spatial(x_rank, list(a["strides"]) + [0, 0])[: len(kernel)]
            if x_rank == 4
            else [int(a["strides"][0])],
            dilations=[int(d) for d in a["dilations"]][: len(kernel)],
            pads=_spatial(x_rank, a["pads"], pairs=True),
            group=int(a["group"]),
        )
        attrs["strides"] = [int(s) for s in a["strides"]][: len(kernel)]
        wk = w.reshape(w.shape[:2] + tuple(kernel))
        bias = b.dq_const(f"{node.name}_bias", node.arrays["bias"].astype(np.int32), bias_scale, axis=0)
        if op == "conv":
            wq = b.dq_const(f"{node.name}_w", wk.astype(np.int8), ws, axis=0)
            y = b.node("Conv", [xs[0], wq, bias], **attrs)
        else:
            g = int(a["group"])
            cout, cin_g = wk.shape[:2]
            wf = (wk.astype(np.float64) * ws.reshape((-1,) + (1,) * (wk.ndim - 1))).astype(np.float32)
            wf = wf.reshape((g, cout // g, cin_g) + tuple(kernel)).transpose(
                0, 2, 1, *range(3, 3 + len(kernel))
            )
            wf = wf.reshape((g * cin_g, cout // g) + tuple(kernel))
            attrs["output_padding"] = [int(p) for p in a["output_padding"]][: len(kernel)]
            y = b.node("ConvTranspose", [xs[0], b.init(f"{node.name}_w", wf), bias], **attrs)
        return _act(b, y, node, out_t)
    if op == "dense":
        w, ws = node.arrays["w"], node.arrays["w_scale"]
        wq = b.dq_const(f"{node.name}_wT", np.ascontiguousarray(w.T).astype(np.int8), ws, axis=1)
        bias = b.dq_const(
            f"{node.name}_bias", node.arrays["bias"].astype(np.int32), in_t["scale"] * ws, axis=0
        )
        return _act(b, b.node("Add", [b.node("MatMul", [xs[0], wq]), bias]), node, out_t)
    if op in ("maxpool", "avgpool"):
        kernel = list(a["kernel"])[: x_rank - 2]
        attrs = dict(
            kernel_shape=kernel,
            strides=list(a["strides"])[: x_rank - 2],
            pads=_spatial(x_rank, a["pads"], pairs=True),
        )
        if op == "avgpool":
            attrs["count_include_pad"] = int(a["count_include_pad"])
            return b.node("AveragePool", [xs[0]], **attrs)
        return b.node("MaxPool", [xs[0]], **attrs)
    if op == "clamp":
        s, zp = in_t["scale"], in_t["zero_point"]
        lo = b.init("clip_min", np.array((a["lo"] - zp) * s, np.float32))
        hi = b.init("clip_max", np.array((a["hi"] - zp) * s, np.float32))
        return b.node("Clip", [xs[0], lo, hi])
    if op == "lut" and a["function"] in ("sigmoid", "tanh"):
        return b.node("Sigmoid" if a["function"] == "sigmoid" else "Tanh", [xs[0]])
    if op == "lut" and a["function"] in ("Gelu", "GeluTanh"):
        return _gelu(b, xs[0], a["function"] == "GeluTanh")
    if op == "lut":
        return b.node(a["function"], [xs[0]], **{k: float(v) for k, v in a.items() if k != "function"})
    if op == "softmax":
        return b.node("Softmax", [xs[0]], axis=int(a["axis"]))
    if op in ("add", "sub", "mul"):
        y = b.node({"add": "Add", "sub": "Sub", "mul": "Mul"}[op], xs[:2])
        return _act(b, y, node, out_t)
    if op == "concat":
        return b.node("Concat", xs, axis=int(a["axis"]))
    if op == "reshape":
        shape = b.init("shape", np.array([-1] + list(a["shape"][1:]), dtype=np.int64))
        return b.node("Reshape", [xs[0], shape])
    if op == "slice":
        axes = list(range(1, x_rank))
        begin = [int(a["begin"][i]) for i in axes]
        step = [int(a["step"][i]) for i in axes]
        end = [bg + (int(a["count"][i]) - 1) * st + 1 for bg, st, i in zip(begin, step, axes)]
        ins = [xs[0]] + [
            b.init(k, np.array(v, np.int64))
            for k, v in (("starts", begin), ("ends", end), ("axes", axes), ("steps", step))
        ]
        return b.node("Slice", ins)
    if op == "pad":
        t, lft, btm, r = (int(v) for v in a["pads"])
        pads = [0, 0, t, lft, 0, 0, btm, r] if x_rank == 4 else [0, 0, t, 0, 0, btm]
        value = (a["value_q"] - in_t["zero_point"]) * in_t["scale"]
        return b.node(
            "Pad",
            [
                xs[0],
                b.init("pads", np.array(pads, np.int64)),
                b.init("pad_value", np.array(value, np.float32)),
            ],
        )
    if op == "transpose":
        return b.node("Transpose", [xs[0]], perm=[int(i) for i in a["perm"]])
    if op == "resize":
        y = b.node("Gather", [xs[0], b.init("index_h", np.array(a["index_h"], np.int64))], axis=2)
        if x_rank == 4:
            y = b.node("Gather", [y, b.init("index_w", np.array(a["index_w"], np.int64))], axis=3)
        return y
    raise NotImplementedError(f"QDQ export has no op {op!r} (node {node.name})")


def _gelu(b: _Builder, x: str, tanh: bool) -> str:
    """GELU from opset-14 ops: ``0.5 x (1 + erf(x / sqrt 2))`` or its tanh approximation."""

    def c(v: float) -> str:
        return b.init("gelu_c", np.array(v, np.float32))

    if tanh:
        cube = b.node("Mul", [b.node("Mul", [x, x]), x])
        inner = b.node("Mul", [b.node("Add", [x, b.node("Mul", [cube, c(0.044715)])]), c(0.7978845608)])
        t = b.node("Tanh", [inner])
    else:
        t = b.node("Erf", [b.node("Mul", [x, c(0.7071067812)])])
    return b.node("Mul", [b.node("Mul", [x, c(0.5)]), b.node("Add", [t, c(1.0)])])
