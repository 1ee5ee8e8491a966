"""An ONNX graph as NPU layer records, and the NPU rules checked on it.

:func:`onnx_to_layer_infos` turns the Conv / ConvTranspose / MaxPool / AveragePool /
GlobalAveragePool / Gemm / MatMul nodes of a graph (and a ReduceMean over all spatial axes, which
is how torch's dynamo exporter writes a global average pool) into the
:class:`~tinyml_tinyverse.common.npu_rules.LayerInfo` records the models side builds from
torch, so that :func:`check_onnx_npu_rules` applies the same rules to a model from any framework.

Shapes are per sample (batch axis dropped) in the ``N x C x H x W`` convention: a 1-d conv on
``(N, C, L)`` is described as ``(C, L, 1)`` with kernel ``(k, 1)``; a linear layer as ``(F,)``.
Local functions (torch dynamo exports) are inlined and shapes inferred first.
"""

from __future__ import annotations

from os import PathLike

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import CompilationError
from ..ir.onnx_loader import load_onnx_model, with_inferred_shapes
from ..npu_rules import LayerInfo, NpuViolation, check_npu_rules

LAYER_OPS = {
    "Conv": "conv",
    "ConvTranspose": "conv_transpose",
    "MaxPool": "maxpool",
    "AveragePool": "avgpool",
    "GlobalAveragePool": "global_avgpool",
    "GlobalMaxPool": "other",
    "Gemm": "linear",
    "MatMul": "linear",
    "ReduceMean": "global_avgpool",
}


def flat_graph_with_shapes(model: onnx.ModelProto | str | PathLike) -> onnx.ModelProto:
    """``model`` (loaded by the one ONNX loader) with local functions inlined and shapes inferred."""
    return with_inferred_shapes(load_onnx_model(model))


def _tensor_shapes(model: onnx.ModelProto) -> dict[str, list]:
    """Tensor name -> dims (int, or the symbolic name / None of a dynamic dim)."""
    shapes: dict[str, list] = {}
    graph = model.graph
    for vi in [*graph.input, *graph.value_info, *graph.output]:
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape"):
            dims = vi.type.tensor_type.shape.dim
            shapes[vi.name] = [
                d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in dims
            ]
    for init in graph.initializer:
        shapes[init.name] = list(init.dims)
    return shapes


def _constants(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    values = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    values[node.output[0]] = numpy_helper.to_array(attr.t)
    return values


def _constant_derived(model: onnx.ModelProto, constants: dict[str, np.ndarray]) -> set[str]:
    """Names of tensors computed from constants only (e.g. a dequantized or transposed weight)."""
    static = set(constants)
    for node in model.graph.node:
        inputs = [i for i in node.input if i]
        if inputs and all(i in static for i in inputs):
            static.update(node.output)
    return static


def _attr(node: onnx.NodeProto, name: str, default=None):
    for attr in node.attribute:
        if attr.name == name:
            return onnx.helper.get_attribute_value(attr)
    return default


def _node_name(node: onnx.NodeProto, index: int) -> str:
    return node.name or f"{node.op_type}_{index}"


def _static(shape: list | None, node: onnx.NodeProto, name: str, tensor: str) -> tuple[int, ...]:
    """Per-sample static shape of ``tensor`` (batch axis dropped); error naming the node if dynamic."""
    if shape is None:
        raise CompilationError(
            f"node {name!r} ({node.op_type}): tensor {tensor!r} has no known shape; export the model "
            "with a fixed input shape (e.g. torch.onnx.export without dynamic axes) and a single input"
        )
    per_sample = shape[1:] if len(shape) > 1 else shape
    if any(not isinstance(d, int) or d <= 0 for d in per_sample):
        raise CompilationError(
            f"node {name!r} ({node.op_type}): tensor {tensor!r} has a dynamic shape {shape}; only the batch "
            "axis may be dynamic - export with a fixed input size (no dynamic_axes on time or channels)"
        )
    return tuple(int(d) for d in per_sample)


def _as_chw(shape: tuple[int, ...]) -> tuple[int, ...]:
    """(C, L) -> (C, L, 1): 1-d feature maps put time on H with W = 1."""
    return (*shape, 1) if len(shape) == 2 else shape


def _pair(values, default: int = 1) -> tuple[int, int]:
    values = list(values) if values is not None else []
    if not values:
        return (default, default)
    return (int(values[0]), int(values[1]) if len(values) > 1 else 1)


def _reduce_axes(node: onnx.NodeProto, constants: dict[str, np.ndarray], rank: int) -> list[int] | None:
    axes = _attr(node, "axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        if node.input[1] not in constants:
            return None
        axes = constants[node.input[1]].ravel().tolist()
    if axes is None:
        return None
    return sorted(int(a) % rank for a in axes)


def onnx_to_layer_infos(model: onnx.ModelProto | str | PathLike) -> list[LayerInfo]:
    """One :class:`LayerInfo` per conv / pool / linear node of ``model``, in graph order.

    The first Conv node is marked ``is_first``. A dynamic dimension other than the batch axis
    raises :class:`CompilationError` naming the node.
    """
    model = flat_graph_with_shapes(model)
    shapes = _tensor_shapes(model)
    constants = _constants(model)
    static_tensors = _constant_derived(model, constants)
    layers: list[LayerInfo] = []
    seen_conv = False
    for index, node in enumerate(model.graph.node):
        op = LAYER_OPS.get(node.op_type)
        if op is None:
            continue
        name = _node_name(node, index)
        in_shape = _static(shapes.get(node.input[0]), node, name, node.input[0])
        out_shape = _static(shapes.get(node.output[0]), node, name, node.output[0])
        if node.op_type == "ReduceMean":
            rank = len(in_shape) + 1
            axes = _reduce_axes(node, constants, rank)
            if rank < 3 or axes != list(range(2, rank)):
                continue  # a mean over other axes is not a pooling layer
        info = LayerInfo(name=name, op=op, in_shape=in_shape, out_shape=out_shape)
        if op in ("conv", "conv_transpose"):
            weight_shape = shapes.get(node.input[1]) or []
            if len(weight_shape) < 3 or not all(isinstance(d, int) for d in weight_shape):
                raise CompilationError(
                    f"node {name!r} ({node.op_type}): weight {node.input[1]!r} has no static shape"
                )
            groups = int(_attr(node, "group", 1))
            info.in_shape, info.out_shape = _as_chw(in_shape), _as_chw(out_shape)
            info.in_channels = in_shape[0]
            info.out_channels = weight_shape[0] if op == "conv" else weight_shape[1] * groups
            info.kernel = _pair(_attr(node, "kernel_shape") or weight_shape[2:])
            info.stride = _pair(_attr(node, "strides"))
            info.groups = groups
            info.is_first = op == "conv" and not seen_conv
            seen_conv = seen_conv or op == "conv"
        elif op in ("maxpool", "avgpool", "global_avgpool", "other"):
            info.in_shape, info.out_shape = _as_chw(in_shape), _as_chw(out_shape)
            if op in ("maxpool", "avgpool"):
                info.kernel = _pair(_attr(node, "kernel_shape"))
                info.stride = _pair(_attr(node, "strides"))
            else:
                info.kernel = tuple(info.in_shape[1:3])
        else:  # linear: Gemm or MatMul, features on the last axis
            info.in_channels = in_shape[-1]
            info.out_channels = out_shape[-1]
            if node.op_type == "Gemm" and _attr(node, "transA", 0):
                info.in_channels = in_shape[0]
            if node.op_type == "MatMul" and node.input[1] not in static_tensors:
                info.op = "other"  # product of two activations, not a layer with weights
        layers.append(info)
    return layers


def check_onnx_npu_rules(
    model: onnx.ModelProto | str | PathLike, weight_bitwidth: int = 8
) -> list[NpuViolation]:
    """Every NPU rule violation of the ONNX ``model`` (empty: the model fits the NPU)."""
    return check_npu_rules(onnx_to_layer_infos(model), weight_bitwidth=weight_bitwidth)
