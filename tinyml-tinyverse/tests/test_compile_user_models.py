"""Bring-your-own ONNX models as a firmware engineer exports them: errors and C output."""

import re
import shutil
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from tinyml_tinyverse.common.compilation.codegen_c import generate
from tinyml_tinyverse.common.errors import CompilationError
from tinyml_tinyverse.common.model_aux import model_aux_header
from tinyml_tinyverse.common.quantization.onnx_import import import_onnx
from tinyml_tinyverse.common.quantization.qdq_import import qdq_to_float
from tinyml_tinyverse.common.quantization.quantize import quantize_graph


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


def _mlp_model() -> onnx.ModelProto:
    """Linear -> Relu -> Linear on a 2-D input, as torch.onnx.export writes an MLP."""
    rng = np.random.default_rng(1)
    inits = [
        numpy_helper.from_array(rng.standard_normal((8, 16)).astype(np.float32), "w1"),
        numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), "b1"),
        numpy_helper.from_array(rng.standard_normal((3, 8)).astype(np.float32), "w2"),
        numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "b2"),
    ]
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1", transB=1),
        helper.make_node("Relu", ["h"], ["hr"], name="relu"),
        helper.make_node("Gemm", ["hr", "w2", "b2"], ["y"], name="fc2", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.parametrize("precision", ["float", "int8"])
def test_generated_c_has_no_unused_static_helpers(precision, tmp_path):
    """clang -Wall -Werror rejects an unused static inline function (gcc does not)."""
    graph = import_onnx(_mlp_model())
    if precision == "int8":
        calib = np.random.default_rng(2).standard_normal((16, 16)).astype(np.float32)
        graph = quantize_graph(graph, calib, mode=1)
    source = generate(graph).source
    helpers = re.findall(r"^static inline \w+ (tm_\w+)\(", source, flags=re.M)
    assert helpers, "the dense kernel's helpers should be there"
    unused = [h for h in helpers if len(re.findall(rf"\b{h}\(", source)) < 2]
    assert not unused, f"unused static inline helpers in the generated C: {unused}"
    assert "tm_kfirst" not in source  # conv-only helper
    clang = shutil.which("clang")
    if clang:
        (tmp_path / "tinyml_model.h").write_text(generate(graph).header)
        (tmp_path / "tinyml_model.c").write_text(source)
        cmd = [clang, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-c", "tinyml_model.c"]
        proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


def test_model_without_its_external_weight_file_names_the_file_and_the_fix(tmp_path):
    """torch.onnx.export (dynamo) writes model.onnx.data; a user who copies model.onnx alone."""
    path = tmp_path / "model.onnx"
    onnx.save(_mlp_model(), path, save_as_external_data=True, location="model.onnx.data", size_threshold=0)
    assert import_onnx(path).output_names  # loads with its data file next to it
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (moved / "model.onnx").write_bytes(path.read_bytes())
    with pytest.raises(CompilationError, match=r"model\.onnx\.data.*external_data=False"):
        import_onnx(moved / "model.onnx")


def _qdq_relu_model(zp_dtype, with_zp: bool = True) -> onnx.ModelProto:
    """x -> QuantizeLinear -> DequantizeLinear -> Relu, as onnxruntime's QDQ quantizer writes it."""
    inits = [numpy_helper.from_array(np.array(0.01, np.float32), "s")]
    q_in, dq_in = ["x", "s"], ["xq", "s"]
    if with_zp:
        inits.append(numpy_helper.from_array(np.array(0, zp_dtype), "z"))
        q_in.append("z")
        dq_in.append("z")
    nodes = [
        helper.make_node("QuantizeLinear", q_in, ["xq"], name="x_QuantizeLinear"),
        helper.make_node("DequantizeLinear", dq_in, ["xd"], name="x_DequantizeLinear"),
        helper.make_node("Relu", ["xd"], ["y"], name="relu"),
    ]
    graph = helper.make_graph(
        nodes,
        "qdq",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])


def test_qdq_with_16_bit_activations_is_refused_not_compiled_as_int8():
    with pytest.raises(CompilationError, match=r"'x' is quantized to int16.*8-bit activations"):
        qdq_to_float(_qdq_relu_model(np.int16))
    _, forced, _ = qdq_to_float(_qdq_relu_model(np.uint8))
    assert forced["x"] == (pytest.approx(0.01), -128)


def test_qdq_without_zero_point_is_uint8_as_onnx_defines():
    _, forced, _ = qdq_to_float(_qdq_relu_model(None, with_zp=False))
    assert forced["x"] == (pytest.approx(0.01), -128)


def test_qoperator_model_names_the_integer_op_and_the_qdq_fix():
    model = _qdq_relu_model(np.uint8)
    model.graph.node.append(helper.make_node("QLinearConv", ["a", "b"], ["c"], name="/c1/Conv_quant"))
    with pytest.raises(CompilationError, match=r"'/c1/Conv_quant' \(op QLinearConv\).*QuantFormat\.QDQ"):
        qdq_to_float(model)


NAN_MAIN = r"""
#include <math.h>
#include <stdio.h>
#include "tinyml_model.h"
int main(void)
{
    static float in[TINYML_MODEL_INPUT_SIZE];
    static float out[TINYML_MODEL_OUTPUT_SIZE];
    int i;
    for (i = 0; i < TINYML_MODEL_INPUT_SIZE; ++i) {
        in[i] = (i % 3 == 0) ? NAN : ((i % 3 == 1) ? INFINITY : -1e30f);
    }
    printf("rc=%d\n", tinyml_model_run_float(in, out));
    return 0;
}
"""


def test_float_wrapper_has_no_undefined_cast_for_nan_or_inf_inputs(tmp_path):
    """A NaN from the sensor path must not reach a float -> int cast (undefined behaviour in C)."""
    calib = np.random.default_rng(2).standard_normal((16, 16)).astype(np.float32)
    gm = generate(quantize_graph(import_onnx(_mlp_model()), calib, mode=1))
    (tmp_path / "tinyml_model.h").write_text(gm.header)
    (tmp_path / "tinyml_model.c").write_text(gm.source)
    (tmp_path / "main.c").write_text(NAN_MAIN)
    cc = shutil.which("clang") or shutil.which("gcc") or "cc"
    flags = ["-std=c99", "-O1", "-fsanitize=undefined,float-cast-overflow", "-fno-sanitize-recover=all"]
    build = subprocess.run(
        [cc, *flags, "tinyml_model.c", "main.c", "-o", "nan_check", "-lm"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    if build.returncode != 0:
        pytest.skip(f"{cc} cannot build with the undefined-behaviour sanitizer: {build.stderr[-300:]}")
    proc = subprocess.run([str(tmp_path / "nan_check")], capture_output=True, text=True)
    assert proc.returncode == 0 and "rc=0" in proc.stdout, proc.stderr


def test_model_aux_without_class_names_has_one_name_per_class():
    """`const char *names[] = TINYML_MODEL_CLASS_NAMES; names[argmax]` must stay in bounds."""
    aux = model_aux_header(None, num_classes=3)
    assert "#define TINYML_MODEL_NUM_CLASSES 3" in aux
    assert '#define TINYML_MODEL_CLASS_NAMES {"0", "1", "2"}' in aux
