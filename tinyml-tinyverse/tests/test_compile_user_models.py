"""Bring-your-own ONNX models as a firmware engineer exports them: errors and C output."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from tinyml_tinyverse.common.errors import CompilationError
from tinyml_tinyverse.common.quantization.onnx_import import import_onnx


def _lstm_model() -> onnx.ModelProto:
    """The classic exporter's batch_first LSTM: Transpose(1, 0, 2) of the input, then LSTM."""
    rng = np.random.default_rng(0)
    hidden = 4
    inits = [
        numpy_helper.from_array(rng.standard_normal((1, 4 * hidden, 3)).astype(np.float32), "W"),
        numpy_helper.from_array(rng.standard_normal((1, 4 * hidden, hidden)).astype(np.float32), "R"),
    ]
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], name="/r/Transpose", perm=[1, 0, 2]),
        helper.make_node("LSTM", ["xt", "W", "R"], ["y"], name="/r/LSTM", hidden_size=hidden),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 10, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_lstm_error_names_the_lstm_node_not_the_transpose_before_it():
    with pytest.raises(CompilationError, match=r"node '/r/LSTM' \(op LSTM\) is not supported"):
        import_onnx(_lstm_model())
