"""Post-training quantization of a float graph to a :class:`QuantizedGraph`.

The int8 scheme (mode 1):
- weights: symmetric per output channel, ``scale_c = max|w_c| / qmax`` with ``qmax = 2**(bits-1) - 1``;
- activations: per tensor, asymmetric with a zero point, from a calibration range that holds 0:
  ``scale = (hi - lo) / 255``, ``zero_point = round(-128 - lo / scale)``;
- bias: int32 at scale ``scale_in * scale_c``;
- requantize with a fixed-point multiplier and shift (``rounding.py``, THE rounding rule).
Mode 2 rounds every scale up to a power of two, so each requantization is a rounding shift; its
weights may be 8, 4 or 2 bits. Sigmoid / Tanh are int8 lookup tables (output scales 1/256, 1/128),
Softmax an integer exp table (output scale 1/256). Ranges come from running the float graph in numpy
on the calibration batch and feeding each tensor to an observer (``observers.py``). How each op is
quantized is defined in its op family under ``tinyml_tinyverse.common.ir.ops``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
from tqdm import tqdm

from ..errors import ConfigError, DataError
from ..ir.graph import Graph, run_float
from ..ir.importer import import_onnx
from ..ir.onnx_loader import load_onnx_model
from ..ir.op import op_of
from ..ir.qparams import act_range, activation_qparams, pow2_ceil, weight_qparams
from ..utils.progress import bar_disabled
from .quantized_graph import QuantizedGraph

SUPPORTED_BITWIDTHS = (8, 4, 2)
__all__ = ["act_range", "activation_qparams", "calibrate", "pow2_ceil", "quantize_graph", "quantize_onnx",
           "weight_qparams"]  # fmt: skip


def observed_tensors(graph: Graph) -> list[str]:
    """The tensors whose range calibration measures: the input and every ``"observed"`` op's output."""
    return [graph.input_name] + [n.output for n in graph.nodes if op_of(n).output_qparams == "observed"]


def calibrate(
    graph: Graph, calib_x: np.ndarray, observer: str = "minmax", batch_size: int = 256
) -> dict[str, tuple[float, float]]:
    """Run the float graph on ``calib_x`` and return the observed ``(lo, hi)`` of each tensor that needs one."""
    from .observers import make_observer

    wanted = observed_tensors(graph)
    observers = {t: make_observer(observer) for t in wanted}
    starts = range(0, len(calib_x), batch_size)
    for s in tqdm(
        starts, desc="calibrating", unit="batch", disable=bar_disabled(len(starts) < 4), leave=False
    ):
        values = run_float(graph, calib_x[s : s + batch_size], keep_all=True)
        for t, obs in observers.items():
            obs.update(values[t])
    return {t: tuple(float(v) for v in obs.range()) for t, obs in observers.items()}


def _check_calib(calib_x, graph: Graph) -> np.ndarray:
    if calib_x is None:
        raise ConfigError("quantization needs calibration data (calib_x); give a few hundred training inputs")
    x = np.asarray(calib_x, dtype=np.float32)
    if x.ndim != len(graph.input_shape) or tuple(x.shape[1:]) != tuple(graph.input_shape[1:]):
        raise DataError(
            f"calibration data of shape {x.shape} does not fit the model input {graph.input_name} "
            f"of shape (N, {', '.join(str(d) for d in graph.input_shape[1:])})"
        )
    if len(x) == 0 or not np.all(np.isfinite(x)):
        raise DataError("calibration data is empty or holds NaN / infinite values")
    return x


def quantize_graph(
    graph: Graph,
    calib_x: np.ndarray | None,
    *,
    mode: int = 1,
    weight_bitwidth: int | Mapping[str, int] = 8,
    observer: str = "minmax",
    forced_qparams: dict[str, tuple[float, int]] | None = None,
) -> QuantizedGraph:
    """Quantize a float :class:`Graph` with calibration inputs ``calib_x`` (N, C, H, W).

    ``weight_bitwidth``: one width for every conv / dense layer, or a mapping of layer (node) name to
    its width (mixed precision; layers not named get 8 bits). ``forced_qparams`` maps tensor names to
    a given ``(scale, zero_point)`` (from a QDQ model); calibration runs only when some tensor that
    needs a range has none.
    """
    if mode not in (1, 2):
        raise ConfigError(
            f"quantization mode must be 1 (int8) or 2 (NPU, power-of-two scales), got {mode!r}; mode 0 is float"
        )
    layer_bits = _check_bitwidths(graph, weight_bitwidth, mode)
    forced = dict(forced_qparams or {})
    needed = observed_tensors(graph)
    missing = [t for t in needed if t not in forced]
    ranges: dict[str, tuple[float, float]] = {}
    if missing:
        if calib_x is None and forced:
            raise ConfigError(
                f"tensors {', '.join(missing[:5])} have no QuantizeLinear/DequantizeLinear pair in the model; "
                "give calibration data (calib_x) to quantize them"
            )
        ranges = calibrate(graph, _check_calib(calib_x, graph), observer)

    tensors: dict[str, dict] = {}

    def set_q(name: str, scale: float, zp: int) -> None:
        tensors[name] = dict(shape=list(graph.shapes[name]), scale=float(scale), zero_point=int(zp))

    def observed_q(name: str) -> tuple[float, int]:
        return forced[name] if name in forced else activation_qparams(*ranges[name], mode)

    set_q(graph.input_name, *observed_q(graph.input_name))
    constants: dict[str, np.ndarray] = {}
    for cname, c in graph.constants.items():
        scale, zp = activation_qparams(float(c.min()), float(c.max()), mode)
        constants[cname] = np.clip(np.round(c / scale) + zp, -128, 127).astype(np.int8)
        set_q(cname, scale, zp)

    qnodes = []
    for node in graph.nodes:
        op = op_of(node)
        ins = [tensors[i] for i in node.inputs]
        out = node.output
        if op.output_qparams == "observed":
            set_q(out, *observed_q(out))
        elif op.output_qparams == "input":
            set_q(out, ins[0]["scale"], ins[0]["zero_point"])
        else:
            set_q(out, *op.output_qparams)
        qnodes.append(op.quantize(node, ins, tensors[out], layer_bits.get(node.name, 8), mode))
    return QuantizedGraph(
        qnodes,
        graph.input_name,
        list(graph.output_names),
        tensors,
        constants,
        mode,
        min(layer_bits.values(), default=8),  # the nominal width: the narrowest layer's
        graph.name,
    )


def weighted_layers(graph: Graph) -> list[str]:
    """Names of the layers that have weights (conv, conv_transpose, dense): those a bit width applies to."""
    return [n.name for n in graph.nodes if "w" in n.params]


def _check_bitwidths(graph: Graph, weight_bitwidth: int | Mapping[str, int], mode: int) -> dict[str, int]:
    """``{layer name: bits}`` of every weighted layer, checked."""
    layers = weighted_layers(graph)
    if isinstance(weight_bitwidth, Mapping):
        unknown = sorted(set(weight_bitwidth) - set(layers))
        if unknown:
            raise ConfigError(
                f"weight_bitwidth names layers the model does not have: {', '.join(unknown)}; its layers with "
                f"weights are {', '.join(layers)}"
            )
        bits = {name: int(weight_bitwidth.get(name, 8)) for name in layers}
    else:
        bits = dict.fromkeys(layers, weight_bitwidth)
    for name, b in bits.items():
        if b not in SUPPORTED_BITWIDTHS:
            raise ConfigError(f"weight_bitwidth of {name} must be one of {SUPPORTED_BITWIDTHS}, got {b!r}")
        if b != 8 and mode != 2 and isinstance(weight_bitwidth, Mapping):
            raise ConfigError(
                f"{b}-bit weights ({name}) need quantization mode 2 (NPU style, power-of-two scales); mode 1 uses 8"
            )
    return bits


def quantize_onnx(
    onnx_path_or_model: str | Path | onnx.ModelProto,
    calib_x: np.ndarray,
    *,
    mode: int = 1,
    weight_bitwidth: int | Mapping[str, int] = 8,
    observer: str = "minmax",
) -> QuantizedGraph:
    """Post-training quantization of a float ONNX model.

    ``calib_x``: float32 calibration inputs ``(N, C, H, W)`` (a few hundred training windows).
    ``mode`` 1: int8; 2: power-of-two scales (requantize is a shift), ``weight_bitwidth`` 8, 4 or 2
    (or a mapping of layer name to bits: mixed precision, see :func:`quantize_graph`).
    ``observer``: ``minmax``, ``percentile`` or ``mse``.
    """
    proto = load_onnx_model(onnx_path_or_model)
    graph = import_onnx(proto)
    if isinstance(onnx_path_or_model, (str, Path)):
        graph.name = Path(onnx_path_or_model).stem
    qgraph = quantize_graph(graph, calib_x, mode=mode, weight_bitwidth=weight_bitwidth, observer=observer)
    qgraph.source_onnx = proto.SerializeToString()
    return qgraph
