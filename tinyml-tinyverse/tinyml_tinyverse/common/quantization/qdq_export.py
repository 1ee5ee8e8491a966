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

from ..ir.op import op_of

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


def _export_node(b: _Builder, node, xs: list[str]) -> str:
    """The float ONNX nodes of one quantized node (defined by its op family, ``Op.export_qdq``)."""
    return op_of(node).export_qdq(b, node, xs)
