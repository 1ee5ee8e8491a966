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
on the calibration batch and feeding each tensor to an observer (``observers.py``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
from tqdm import tqdm

from ..errors import CompilationError, ConfigError, DataError
from ..utils.progress import bar_disabled
from .graph_ir import Graph, run_float
from .onnx_import import import_onnx, load_onnx_model
from .quantized_graph import QNode, QuantizedGraph
from .rounding import common_shift_multipliers, quantize_multiplier, quantize_multipliers
from .unary import unary_numpy

OBSERVED_OPS = ("conv", "conv_transpose", "dense", "add", "sub", "mul", "concat", "unary")
PASS_THROUGH_OPS = ("maxpool", "avgpool", "clamp", "reshape", "resize", "transpose", "pad", "slice")
FIXED_OUTPUT = {"sigmoid": (1.0 / 256, -128), "tanh": (1.0 / 128, 0), "softmax": (1.0 / 256, -128)}
SUPPORTED_BITWIDTHS = (8, 4, 2)


def _pow2_ceil(x: float) -> float:
    return float(2.0 ** math.ceil(math.log2(x)))


def activation_qparams(lo: float, hi: float, mode: int) -> tuple[float, int]:
    """``(scale, zero_point)`` of an int8 tensor covering ``[lo, hi]`` (widened to hold 0)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    span = hi - lo
    if span <= 1e-12:
        return 1.0, 0
    scale = span / 255.0
    if mode == 2:
        scale = _pow2_ceil(scale)
    zp = int(np.clip(round(-128 - lo / scale), -128, 127))
    return scale, zp


def weight_qparams(w: np.ndarray, bits: int, mode: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel symmetric quantization: ``(w_q int8, scales float64[Cout])``."""
    qmax = 2 ** (bits - 1) - 1
    amax = np.abs(w.reshape(w.shape[0], -1)).max(axis=1).astype(np.float64)
    scales = np.where(amax > 0, amax / qmax, 1.0)
    if mode == 2:
        scales = np.array([_pow2_ceil(s) for s in scales])
    wq = np.clip(np.round(w / scales.reshape((-1,) + (1,) * (w.ndim - 1))), -qmax, qmax).astype(np.int8)
    return wq, scales


def _act_range(act, scale: float, zp: int) -> tuple[int, int]:
    if act is None:
        return -128, 127
    lo = -128 if not math.isfinite(act[0]) else int(np.clip(zp + round(act[0] / scale), -128, 127))
    hi = 127 if not math.isfinite(act[1]) else int(np.clip(zp + round(act[1] / scale), -128, 127))
    return lo, hi


def calibrate(
    graph: Graph, calib_x: np.ndarray, observer: str = "minmax", batch_size: int = 256
) -> dict[str, tuple[float, float]]:
    """Run the float graph on ``calib_x`` and return the observed ``(lo, hi)`` of each tensor that needs one."""
    from .observers import make_observer

    wanted = [graph.input_name] + [n.output for n in graph.nodes if n.op in OBSERVED_OPS]
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
    weight_bitwidth: int = 8,
    observer: str = "minmax",
    forced_qparams: dict[str, tuple[float, int]] | None = None,
) -> QuantizedGraph:
    """Quantize a float :class:`Graph` with calibration inputs ``calib_x`` (N, C, H, W).

    ``forced_qparams`` maps tensor names to a given ``(scale, zero_point)`` (from a QDQ model);
    calibration runs only when some tensor that needs a range has none.
    """
    if mode not in (1, 2):
        raise ConfigError(
            f"quantization mode must be 1 (int8) or 2 (NPU, power-of-two scales), got {mode!r}; mode 0 is float"
        )
    if weight_bitwidth not in SUPPORTED_BITWIDTHS:
        raise ConfigError(f"weight_bitwidth must be one of {SUPPORTED_BITWIDTHS}, got {weight_bitwidth!r}")
    forced = dict(forced_qparams or {})
    needed = [graph.input_name] + [n.output for n in graph.nodes if n.op in OBSERVED_OPS]
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
        ins = [tensors[i] for i in node.inputs]
        out = node.output
        if node.op in OBSERVED_OPS:
            set_q(out, *observed_q(out))
        elif node.op in PASS_THROUGH_OPS:
            set_q(out, ins[0]["scale"], ins[0]["zero_point"])
        elif node.op in FIXED_OUTPUT:
            set_q(out, *FIXED_OUTPUT[node.op])
        else:
            raise CompilationError(f"node {node.name!r}: op {node.op!r} cannot be quantized")
        qnodes.append(_quantize_node(node, ins, tensors[out], weight_bitwidth, mode))
    return QuantizedGraph(
        qnodes,
        graph.input_name,
        list(graph.output_names),
        tensors,
        constants,
        mode,
        weight_bitwidth,
        graph.name,
    )


def _quantize_node(node, ins: list[dict], outq: dict, bits: int, mode: int) -> QNode:
    a = node.attrs
    s_in, zp_in = ins[0]["scale"], ins[0]["zero_point"]
    s_out, zp_out = outq["scale"], outq["zero_point"]
    qn = QNode(node.op, node.name, list(node.inputs), list(node.outputs))
    if node.op in ("conv", "conv_transpose", "dense"):
        wq, ws = weight_qparams(node.params["w"], bits, mode)
        bias = np.clip(
            np.round(node.params["b"].astype(np.float64) / (s_in * ws)), -(2**31), 2**31 - 1
        ).astype(np.int32)
        mult, shift = quantize_multipliers(s_in * ws / s_out)
        act_min, act_max = _act_range(a.get("act"), s_out, zp_out)
        qn.attrs = {k: v for k, v in a.items() if k != "act"}
        qn.attrs.update(in_zp=zp_in, out_zp=zp_out, act_min=act_min, act_max=act_max, weight_bits=bits)
        qn.arrays = dict(w=wq, bias=bias, mult=mult, shift=shift, w_scale=ws.astype(np.float64))
    elif node.op == "maxpool":
        qn.attrs = dict(a)
    elif node.op == "avgpool":
        qn.attrs = dict(a, zp=zp_in)
    elif node.op == "clamp":
        lo, hi = _act_range((a["lo"], a["hi"]), s_in, zp_in)
        qn.attrs = dict(lo=lo, hi=hi)
    elif node.op in ("sigmoid", "tanh"):
        qn.op = "lut"
        qn.attrs = dict(function=node.op)
        real = (np.arange(-128, 128) - zp_in) * s_in
        f = 1.0 / (1.0 + np.exp(-real)) if node.op == "sigmoid" else np.tanh(real)
        qn.arrays = dict(table=np.clip(np.rint(f / s_out) + zp_out, -128, 127).astype(np.int8))
    elif node.op == "unary":
        qn.op = "lut"
        qn.attrs = dict(a)
        params = {k: v for k, v in a.items() if k != "function"}
        real = (np.arange(-128, 128) - zp_in) * s_in
        f = unary_numpy(a["function"], real, params)
        qn.arrays = dict(table=np.clip(np.rint(f / s_out) + zp_out, -128, 127).astype(np.int8))
    elif node.op == "softmax":
        qn.attrs = dict(axis=a["axis"])
        d = np.arange(-255, 1)
        qn.arrays = dict(table=np.round(np.exp(d * s_in) * 65536.0).astype(np.int32))
    elif node.op in ("add", "sub"):
        (ma, mb), shift = common_shift_multipliers([ins[0]["scale"] / s_out, ins[1]["scale"] / s_out])
        act_min, act_max = _act_range(a.get("act"), s_out, zp_out)
        qn.attrs = dict(zp_a=ins[0]["zero_point"], zp_b=ins[1]["zero_point"], mult_a=ma, mult_b=mb, shift=shift,
                        out_zp=zp_out, act_min=act_min, act_max=act_max)  # fmt: skip
    elif node.op == "mul":
        m, s = quantize_multiplier(ins[0]["scale"] * ins[1]["scale"] / s_out)
        qn.attrs = dict(
            zp_a=ins[0]["zero_point"],
            zp_b=ins[1]["zero_point"],
            mult=m,
            shift=s,
            out_zp=zp_out,
            act_min=-128,
            act_max=127,
        )
    elif node.op == "concat":
        pairs = [quantize_multiplier(q["scale"] / s_out) for q in ins]
        qn.attrs = dict(axis=a["axis"], in_zps=[q["zero_point"] for q in ins], mults=[p[0] for p in pairs],
                        shifts=[p[1] for p in pairs], out_zp=zp_out)  # fmt: skip
    elif node.op == "pad":
        qn.attrs = dict(a, value_q=int(np.clip(zp_in + round(a["value"] / s_in), -128, 127)))
    elif node.op in ("reshape", "resize", "transpose", "slice"):
        qn.attrs = dict(a)
    else:
        raise CompilationError(f"node {node.name!r}: op {node.op!r} cannot be quantized")
    return qn


def quantize_onnx(
    onnx_path_or_model: str | Path | onnx.ModelProto,
    calib_x: np.ndarray,
    *,
    mode: int = 1,
    weight_bitwidth: int = 8,
    observer: str = "minmax",
) -> QuantizedGraph:
    """Post-training quantization of a float ONNX model.

    ``calib_x``: float32 calibration inputs ``(N, C, H, W)`` (a few hundred training windows).
    ``mode`` 1: int8; 2: power-of-two scales (requantize is a shift), ``weight_bitwidth`` 8, 4 or 2.
    ``observer``: ``minmax``, ``percentile`` or ``mse``.
    """
    proto = load_onnx_model(onnx_path_or_model)
    graph = import_onnx(proto)
    if isinstance(onnx_path_or_model, (str, Path)):
        graph.name = Path(onnx_path_or_model).stem
    qgraph = quantize_graph(graph, calib_x, mode=mode, weight_bitwidth=weight_bitwidth, observer=observer)
    qgraph.source_onnx = proto.SerializeToString()
    return qgraph
