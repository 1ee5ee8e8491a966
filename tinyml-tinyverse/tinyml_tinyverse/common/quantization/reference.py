"""The integer reference executor: ground truth for the quantized ONNX and the generated C.

Integer arithmetic only (int8 tensors, int64 accumulators); every rescale uses
:func:`~tinyml_tinyverse.common.ir.rounding.requant` (THE rounding rule). Each op's integer run is
defined in its op family (``Op.run_int`` under ``tinyml_tinyverse.common.ir.ops``) and is the numpy
twin of its C kernel, so results are bit-exact.
"""

from __future__ import annotations

import numpy as np

from ..ir.op import op_of


def run_int_node(node, xs: list[np.ndarray], consts: dict | None = None) -> np.ndarray:
    """Evaluate one quantized node on int8 batch inputs."""
    return op_of(node).run_int(node, xs)


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
