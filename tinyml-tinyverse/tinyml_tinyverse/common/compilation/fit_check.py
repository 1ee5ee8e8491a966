"""Refuse a model that cannot fit the target before any test vector or C is made: seconds, not minutes.

From the ONNX graph alone, once the loader has checked it (its initializer dims and the shapes ONNX
infers; no import, nothing allocated from a shape):

- flash >= the weights in the precision the compiler will use (4 bytes a value for float, the
  weight bit width for int8);
- RAM >= the model's input and output buffers plus the largest tensor one layer writes.

Both are lower bounds of what ``memory_report.json`` measures after the build, so a model that fits
is never refused here; the exact check still runs after the build (``memory_report.check_fit``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import onnx

from ..errors import CompilationError
from ..ir.onnx_loader import load_onnx_model
from .devices import Device, get_device
from .memory_report import _fit_hint

# values the compiler keeps as weights (int64 / bool initializers are shapes, axes and indices)
_WEIGHT_TYPES = {
    onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16,
    onnx.TensorProto.INT8, onnx.TensorProto.UINT8, onnx.TensorProto.INT32,
}  # fmt: skip
# outputs that get no memory of their own: folded into the next layer (a zero Pad becomes a conv's
# padding) or the same bytes as their input (reshapes, identities)
_NO_MEMORY_OPS = {"Pad", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"}


@dataclass(frozen=True)
class FitEstimate:
    """Lower bounds of a compiled model's memory, in bytes."""

    precision: str  # "float" or "int8"
    num_weights: int
    weights_bytes: int
    io_bytes: int  # the caller's input and output buffers
    largest_tensor_bytes: int  # the largest tensor one layer writes (it lives in the arena)

    @property
    def ram_bytes(self) -> int:
        return self.io_bytes + self.largest_tensor_bytes


def _numel(dims) -> int:
    """Elements of a shape; unknown (-1) or negative dims count 1 (the batch), as the test vectors do."""
    return math.prod(int(d) if int(d) >= 0 else 1 for d in dims)


def _dims(value_info: onnx.ValueInfoProto) -> list[int] | None:
    tensor = value_info.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]


def _load(model: str | Path | onnx.ModelProto) -> onnx.ModelProto:
    """The model, checked by the toolchain's one loader (a malformed one is refused there, named)."""
    return load_onnx_model(model, load_external_data=False)


def _source(qgraph) -> onnx.ModelProto | None:
    """The float ONNX a QuantizedGraph was made from (bytes this toolchain wrote), if recorded."""
    source = getattr(qgraph, "source_onnx", None)
    return onnx.load_from_string(source) if source else None


def _weights(graph: onnx.GraphProto) -> list[onnx.TensorProto]:
    """Initializers and Constant values a layer uses as weights. Batch-norm statistics fold into the
    conv before them and unused values are dropped, so neither counts."""
    values = {t.name: t for t in graph.initializer}
    for n in graph.node:
        if n.op_type == "Constant":
            values.update((n.output[0], a.t) for a in n.attribute if a.name == "value" and a.HasField("t"))
    kept: set[str] = set()
    for n in graph.node:
        # BatchNormalization inputs 1..4 (scale, bias, mean, var) are folded away
        kept.update(name for k, name in enumerate(n.input) if not (n.op_type == "BatchNormalization" and k))
    return [t for name, t in values.items() if name in kept and t.data_type in _WEIGHT_TYPES]


def estimate_model_memory(proto: onnx.ModelProto, *, int8: bool, weight_bitwidth: int = 8) -> FitEstimate:
    """The lower bounds of the module doc for an ONNX model compiled as int8 or float."""
    graph = proto.graph
    elem = 1 if int8 else 4
    num_weights = sum(_numel(t.dims) for t in _weights(graph))
    weights_bytes = num_weights * weight_bitwidth // 8 if int8 else num_weights * 4
    inits = {t.name for t in graph.initializer}
    try:
        inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=False).graph
    except Exception:  # noqa: BLE001 - a broken graph: the declared shapes only
        inferred = graph
    shapes = {v.name: _dims(v) for v in [*inferred.input, *inferred.value_info, *inferred.output]}
    io = [v.name for v in graph.input if v.name not in inits] + [v.name for v in graph.output]
    io_bytes = sum(_numel(shapes[name]) * elem for name in set(io) if shapes.get(name) is not None)
    written = [o for n in graph.node if n.op_type not in _NO_MEMORY_OPS for o in n.output]
    largest = max(
        (_numel(shapes[o]) * elem for o in written if o not in io and shapes.get(o) is not None), default=0
    )
    return FitEstimate("int8" if int8 else "float", num_weights, weights_bytes, io_bytes, largest)


def _bytes(n: int) -> str:
    return f"{n} bytes ({_size(n)})" if n >= 1024 else f"{n} bytes"


def _size(n: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def _compiles_as_int8(model, proto: onnx.ModelProto, quantization: int | None, calibrated: bool) -> bool:
    """The precision rules of ``compile_model``: QDQ stays int8; 0 is float; 1 / 2 quantize; None
    quantizes when calibration data is given."""
    if not isinstance(model, (str, Path, onnx.ModelProto)):  # a QuantizedGraph
        return True
    if any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in proto.graph.node):
        return True
    return quantization in (1, 2) or (quantization is None and calibrated)


def check_model_fits(
    model,
    device: Device | str,
    *,
    quantization: int | None = None,
    calibrated: bool = False,
    weight_bitwidth: int = 8,
) -> FitEstimate | None:
    """Raise :class:`CompilationError` when ``model`` (ONNX path / ModelProto / QuantizedGraph with its
    source ONNX) cannot fit ``device``'s flash or RAM; returns the estimate (None for a QuantizedGraph
    without its source). The model is checked first by the one ONNX loader, whose errors name the file
    and what is malformed. ``quantization`` / ``calibrated`` (calibration data given) as in
    ``compile_model``."""
    device = get_device(device) if isinstance(device, str) else device
    if isinstance(model, (str, Path, onnx.ModelProto)):
        proto = _load(model)
    else:  # a QuantizedGraph: the float model it was made from
        proto = _source(model)
    if proto is None:
        return None
    int8 = _compiles_as_int8(model, proto, quantization, calibrated)
    est = estimate_model_memory(proto, int8=int8, weight_bitwidth=weight_bitwidth)
    problems = []
    if est.weights_bytes > device.flash_bytes:
        problems.append(
            f"flash: its {est.num_weights:,} weights need at least {_bytes(est.weights_bytes)} as {est.precision} but "
            f"{device.name} has {_bytes(device.flash_bytes)}"
        )
    if est.ram_bytes > device.ram_bytes:
        layer = (
            f" and its largest layer output ({_size(est.largest_tensor_bytes)})"
            if est.largest_tensor_bytes
            else ""
        )
        problems.append(
            f"RAM: its input and output buffers ({_size(est.io_bytes)}){layer} need at least {_bytes(est.ram_bytes)} "
            f"as {est.precision} but {device.name} has {_bytes(device.ram_bytes)}"
        )
    if not problems:
        return est
    name = Path(model).name if isinstance(model, (str, Path)) else (proto.graph.name or "the model")
    quant = dict(mode=quantization or 1, weight_bitwidth=weight_bitwidth) if int8 else None
    raise CompilationError(
        f"{name} does not fit {device.name}; refused before generating test vectors or C: {'; '.join(problems)}. "
        + _fit_hint({"quantization": quant})
        + " (`tinyml-modelmaker --describe devices` lists each target's flash and RAM)"
    )
