"""Read a QDQ ONNX model (QuantizeLinear / DequantizeLinear around float ops) as a QuantizedGraph.

Weights behind a ``DequantizeLinear`` are dequantized into float initializers; each activation
``QuantizeLinear -> DequantizeLinear`` pair is removed and its scale / zero point kept for the
tensor it wraps. The float graph left over is imported as usual and quantized with those
activation parameters; no calibration data is needed when every conv / dense / add / concat
output carries a Q/DQ pair. Weights are re-quantized per output channel with max-abs scaling,
which gives back the model's own int8 weights when it was quantized that way (as
``save_qdq_onnx`` and onnxruntime's quantizer do). uint8 tensors are read as int8 with the zero
point shifted by 128 (the same real values).
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import CompilationError
from ..ir.importer import import_onnx
from ..ir.onnx_loader import load_onnx_model
from ..ir.op import op_of
from .quantize import quantize_graph
from .quantized_graph import QuantizedGraph

# onnxruntime's QOperator format and dynamic quantization: integer kernels, not Q/DQ around float ops
_INTEGER_OPS = {"ConvInteger", "MatMulInteger", "DynamicQuantizeLinear", "QGemm", "QAttention"}


def _qparams(consts: dict, node: onnx.NodeProto) -> tuple[np.ndarray, np.ndarray]:
    scale = consts.get(node.input[1])
    if scale is None:
        raise CompilationError(f"node {node.name!r} ({node.op_type}): the scale must be a constant")
    zp = (
        consts.get(node.input[2])
        if len(node.input) > 2 and node.input[2]
        else np.zeros_like(scale, dtype=np.int8)
    )
    if zp is None:
        raise CompilationError(f"node {node.name!r} ({node.op_type}): the zero point must be a constant")
    scale = scale.astype(np.float64)
    if not (np.isfinite(scale).all() and (scale > 0).all()):
        raise CompilationError(
            f"node {node.name!r} ({node.op_type}): its scale {scale.ravel()[:4].tolist()} must be positive and "
            "finite; export the quantized model again"
        )
    return scale, zp


def _int8_zp(zp: np.ndarray) -> int:
    z = int(np.asarray(zp).ravel()[0])
    return z - 128 if np.asarray(zp).dtype == np.uint8 else z


def qdq_to_float(proto: onnx.ModelProto) -> tuple[onnx.ModelProto, dict[str, tuple[float, int]], dict]:
    """Strip Q/DQ: ``(float model, {tensor: (scale, zero_point)}, info)``."""
    g = proto.graph
    integer_ops = [n for n in g.node if n.op_type.startswith("QLinear") or n.op_type in _INTEGER_OPS]
    if integer_ops:
        n = integer_ops[0]
        raise CompilationError(
            f"node {n.name!r} (op {n.op_type}): the model is quantized with integer operators "
            f"({', '.join(sorted({m.op_type for m in integer_ops}))}); the compiler reads QDQ models: "
            "quantize with onnxruntime quantize_static(..., quant_format=QuantFormat.QDQ), "
            "or compile the float model with calibration data"
        )
    consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    for n in g.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    producers = {o: n for n in g.node for o in n.output}
    alias: dict[str, str] = {}
    forced: dict[str, tuple[float, int]] = {}
    new_inits: dict[str, np.ndarray] = {}
    weight_ints: list[np.ndarray] = []
    scales: list[float] = []
    drop: set[int] = set()
    for k, n in enumerate(g.node):
        if n.op_type == "DequantizeLinear" and n.input[0] in consts:
            scale, zp = _qparams(consts, n)
            q = consts[n.input[0]].astype(np.int64)
            axis = int(next((a.i for a in n.attribute if a.name == "axis"), 1))
            if scale.size > 1:
                if not -q.ndim <= axis < q.ndim or q.shape[axis] != scale.size:
                    raise CompilationError(
                        f"node {n.name!r} (op DequantizeLinear): {scale.size} scales along axis {axis} of a tensor of "
                        f"shape {list(q.shape)}; the axis must exist and hold one value per scale: export it again"
                    )
                shape = [1] * q.ndim
                shape[axis % q.ndim] = -1
                scale, zp = scale.reshape(shape), np.asarray(zp).astype(np.int64).reshape(shape)
            new_inits[n.output[0]] = ((q - zp) * scale).astype(np.float32)
            if consts[n.input[0]].dtype in (np.int8, np.uint8):
                weight_ints.append(q - zp)
            scales.extend(np.asarray(scale, dtype=np.float64).ravel().tolist())
            drop.add(k)
        elif n.op_type == "DequantizeLinear":
            qn = producers.get(n.input[0])
            if qn is None or qn.op_type != "QuantizeLinear":
                raise CompilationError(
                    f"node {n.name!r}: DequantizeLinear of a run-time tensor must follow a QuantizeLinear"
                )
            scale, zp = _qparams(consts, n)
            if scale.size != 1:
                raise CompilationError(
                    f"node {n.name!r}: per-axis quantization of activations is not supported"
                )
            if not (len(n.input) > 2 and n.input[2]) and not any(
                a.name == "output_dtype" for a in qn.attribute
            ):
                zp = np.zeros_like(zp, dtype=np.uint8)  # ONNX: no zero point means uint8, zero point 0
            if np.asarray(zp).dtype not in (np.int8, np.uint8):
                raise CompilationError(
                    f"node {n.name!r}: activation {qn.input[0]!r} is quantized to {np.asarray(zp).dtype}; the "
                    "compiler supports 8-bit activations only (onnxruntime quantize_static: "
                    "activation_type=QuantType.QInt8 or QUInt8)"
                )
            src = qn.input[0]
            while src in alias:
                src = alias[src]
            forced[src] = (float(scale.ravel()[0]), _int8_zp(zp))
            scales.append(float(scale.ravel()[0]))
            alias[n.output[0]] = src
            drop.add(k)
            drop.add(list(g.node).index(qn))
    nodes = []
    for k, n in enumerate(g.node):
        if k in drop:
            continue
        n2 = onnx.NodeProto()
        n2.CopyFrom(n)
        for i, name in enumerate(n2.input):
            while name in alias:
                name = alias[name]
            n2.input[i] = name
        nodes.append(n2)
    # graph outputs that were DQ outputs: rename them to the float tensor they stand for
    out_infos = []
    for o in g.output:
        name = o.name
        while name in alias:
            name = alias[name]
        info = onnx.ValueInfoProto()
        info.CopyFrom(o)
        info.name = name
        out_infos.append(info)
    inits = [
        i for i in g.initializer if i.name not in {n.input[0] for k, n in enumerate(g.node) if k in drop}
    ]
    inits += [numpy_helper.from_array(v, k) for k, v in new_inits.items()]
    graph = helper.make_graph(nodes, g.name, list(g.input), out_infos, inits)
    model = helper.make_model(graph, opset_imports=list(proto.opset_import))
    model.ir_version = proto.ir_version
    bits = 8
    if weight_ints:
        peak = max(int(np.abs(w).max(initial=0)) for w in weight_ints)
        bits = 2 if peak <= 1 else (4 if peak <= 7 else 8)
    pow2 = bool(scales) and all(s > 0 and math.log2(s) == round(math.log2(s)) for s in scales)
    return model, forced, dict(weight_bitwidth=bits, mode=2 if pow2 else 1)


def import_qdq(model, name: str = "model", calib_x: np.ndarray | None = None) -> QuantizedGraph:
    """A QDQ ONNX model (path or proto) as a :class:`QuantizedGraph` with the model's own scales."""
    proto = load_onnx_model(model)
    float_model, forced, info = qdq_to_float(proto)
    graph = import_onnx(float_model)
    graph.name = name
    qgraph = quantize_graph(
        graph, calib_x, mode=info["mode"], weight_bitwidth=info["weight_bitwidth"], forced_qparams=forced
    )
    _check_kept_qparams(qgraph, forced)
    qgraph.source_onnx = float_model.SerializeToString()
    return qgraph


def _check_kept_qparams(qgraph: QuantizedGraph, forced: dict[str, tuple[float, int]]) -> None:
    """A Q/DQ pair after an op that copies integers (reshape, pooling, ...) must keep its input's scale and
    zero point: the compiled op keeps them, so another pair would be ignored (a different result)."""
    for node in qgraph.nodes:
        if node.output not in forced or op_of(node).output_qparams != "input":
            continue
        scale, zp = forced[node.output]
        kept = qgraph.tensors[node.output]
        if not math.isclose(kept["scale"], scale, rel_tol=1e-6) or kept["zero_point"] != zp:
            raise CompilationError(
                f"node {node.name!r} ({node.op}): the QuantizeLinear/DequantizeLinear pair on its output has scale "
                f"{scale:g} and zero point {zp}, but this op keeps its input's ({kept['scale']:g}, "
                f"{kept['zero_point']}); give the pair its input's scale and zero point (or remove it)"
            )
