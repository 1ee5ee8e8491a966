"""Quantization of ONNX models to int8 and the integer reference executor.

``quantize_onnx(model, calib_x, mode=1|2, weight_bitwidth=8|4|2, observer=...) -> QuantizedGraph``;
``QuantizedGraph.run_int / run_dequantized / save / save_qdq_onnx``; ``load_quantized_graph(path)``.
The rounding rule shared with the C code is in :mod:`.rounding`.

Keep this ``__init__`` light: ``observers`` (the calibration observer names) must import without
onnx, so the names below are imported on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {
    "quantize_graph": ".quantize",
    "quantize_onnx": ".quantize",
    "QNode": ".quantized_graph",
    "QuantizedGraph": ".quantized_graph",
    "load_quantized_graph": ".quantized_graph",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
