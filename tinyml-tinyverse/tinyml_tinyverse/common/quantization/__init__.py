"""Quantization of ONNX models to int8 and the integer reference executor.

``quantize_onnx(model, calib_x, mode=1|2, weight_bitwidth=8|4|2, observer=...) -> QuantizedGraph``;
``QuantizedGraph.run_int / run_dequantized / save / save_qdq_onnx``; ``load_quantized_graph(path)``.
The rounding rule shared with the C code is in :mod:`.rounding`.
"""

from .quantize import quantize_graph, quantize_onnx
from .quantized_graph import QNode, QuantizedGraph, load_quantized_graph

__all__ = ["QNode", "QuantizedGraph", "load_quantized_graph", "quantize_graph", "quantize_onnx"]
