"""The ONNX importer, fuzzed through the public compile-only path (issue 10), and the malformed models
the fuzz and the hand-made battery found, each one on a real file.

The fuzz is ``benchmarks/fuzz_onnx.py`` (run it at any size): seeded mutants of real exported models,
each compiled in its own process with a timeout, a CPU limit and a memory limit, through
``tinyml-modelmaker``'s compile-only run and ``compile_model``. Every outcome must be a compiled model
(bit-exact with the reference, and agreeing with onnxruntime) or a clear error of the project's types
naming the file; a traceback, hang, crash, C compiler failure or mismatch fails the test and prints the
seed and the command that reproduces the mutant. ``TINYML_FUZZ_SEED`` / ``TINYML_FUZZ_MUTANTS`` change
the seed and the count.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from tinyml_tinyverse.common.compilation import compile_model
from tinyml_tinyverse.common.compilation.compile import reference_outputs
from tinyml_tinyverse.common.errors import CompilationError
from tinyml_tinyverse.common.ir.constant_folding import fold_constant_node
from tinyml_tinyverse.common.ir.importer import import_onnx
from tinyml_tinyverse.common.ir.onnx_loader import load_onnx_model
from tinyml_tinyverse.common.quantization.qdq_import import import_qdq

FUZZ = Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz_onnx.py"
SEED = int(os.environ.get("TINYML_FUZZ_SEED", "10"))
MUTANTS = int(os.environ.get("TINYML_FUZZ_MUTANTS", "300"))
DEVICE = "F28P65"

_spec = importlib.util.spec_from_file_location("fuzz_onnx", FUZZ)
fuzz = importlib.util.module_from_spec(_spec)
sys.modules["fuzz_onnx"] = fuzz
_spec.loader.exec_module(fuzz)


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> Path:
    """The fuzz's base models, exported once (torch, in its own process)."""
    folder = tmp_path_factory.mktemp("fuzz_bases")
    fuzz.ensure_bases(folder)
    return folder


def test_fuzz_gives_compiled_models_or_clear_errors(bases, tmp_path):
    out = tmp_path / "results.json"
    cmd = [sys.executable, str(FUZZ), "--mutants", str(MUTANTS), "--seed", str(SEED), "--jobs", "2",
           "--bases", str(bases), "--json", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    assert out.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads(out.read_text())
    assert len(results) == MUTANTS
    bad = [r for r in results if r["outcome"] not in fuzz.GOOD]
    assert not bad, f"seed {SEED}:\n" + fuzz.summarize(results, SEED)
    # the fuzz reaches the compiler: many mutants are refused, some still compile (and agree with
    # onnxruntime), and every kind of mutation and every route ran
    outcomes = [r["outcome"] for r in results]
    assert outcomes.count("compiled") >= MUTANTS // 20 and outcomes.count("error") >= MUTANTS // 2
    assert any(r.get("ort") == "agree" for r in results)
    assert {k for r in results for k in r["kinds"]} == set(fuzz.MUTATIONS)
    assert {r["route"] for r in results} == (set(fuzz.ROUTES) if fuzz.HAVE_MODELMAKER else {"library"})


# -- models made by hand ------------------------------------------------------------------------------
def small_model(nodes=None, inits=(), shape=(1, 1, 8, 1), elem=TensorProto.FLOAT, opset=13, out="y"):
    """``x -> [nodes] -> y``; by default one Relu."""
    nodes = nodes if nodes is not None else [helper.make_node("Relu", ["x"], ["y"], name="relu")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", elem, list(shape))],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], list(inits))  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def save(model, path: Path) -> Path:
    path.write_bytes(model.SerializeToString())
    return path


def conv_model(pads, kernel=(3, 1), shape=(1, 2, 8, 1), out_channels=3, name="conv"):
    w = np.random.default_rng(0).standard_normal((out_channels, shape[1], *kernel)).astype(np.float32)
    node = helper.make_node("Conv", ["x", "W"], ["y"], name=name, kernel_shape=list(kernel), pads=list(pads))
    return small_model([node], [numpy_helper.from_array(w, "W")], shape)


def refused(path, match):
    with pytest.raises(CompilationError, match=match) as err:
        compile_model(path, path.parent / "out", target_device=DEVICE)
    assert str(path) in str(err.value)  # every error names the file
    return str(err.value)


@pytest.mark.parametrize(
    "case, match",
    [
        ("empty", r"is empty \(0 bytes\)"),
        ("no_nodes", r"the graph has no nodes"),
        ("dangling", r"node 'add' \(op Add\) reads tensor 'ghost', which no node computes"),
        ("pads_length", r"node 'conv' \(op Conv\).*pads.*(incorrect size|4 values)"),
        ("recursive_function", r"local function local::Loop1 calls itself \(local::Loop1 -> local::Loop1\)"),
        ("zero_dim", r"input 'x' dimension 2 is 0; every dimension must be at least 1"),
        ("negative_dim", r"input 'x' dimension 2 is -5"),
        ("huge_dim", r"1099511627776 values.*far beyond the RAM of any target"),
        ("symbolic_dim", r"input 'x' has a dynamic dimension 2 \('T'\), a dynamic shape"),
        ("int64_input", r"input 'x' is int64; the compiler compiles float32 inputs only"),
        ("bool_input", r"input 'x' is bool"),
        ("float16_input", r"input 'x' is float16"),
        ("nan_weight", r"initializer 'W' holds 2 NaN or infinite value\(s\) of 18"),
        ("short_weight", r"initializer 'W' holds 8 bytes of data but its shape \[3, 2, 3, 1\] needs 72"),
        ("unknown_op", r"node 'n' \(op Conv2\) is not supported by the compiler.*did you mean 'Conv'"),
        ("vendor_domain", r"node 'relu' \(op Relu\) is from domain 'com.example'.*ONNX's own Relu is supported"),
        ("self_edge", r"the graph has a cycle: node 'relu' \(op Relu\) -> node 'relu' \(op Relu\)"),
        ("two_producers", r"tensor 'y' is written by two nodes, node 'a' \(op Relu\) and node 'b' \(op Relu\)"),
        ("opset_99", r"ONNX opset 99 is not supported: the compiler reads opsets 7 to \d+"),
        ("no_output", r"the graph has no outputs"),
        ("window_too_large", r"node 'conv' \(op Conv\): its window \(9 taps, dilation 1\) is larger than its padded input"),
        ("group_zero", r"node 'conv' \(op Conv\).*group"),
        ("non_utf8_op", r"node #0's op_type is not UTF-8 text"),
        ("auto_pad_and_pads", r"node 'conv' \(op Conv\): auto_pad 'VALID' with pads \[1, 0, 1, 0\]: not valid, expected either auto_pad or pads"),
        ("float32_overflow", r"NaN or infinite outputs on the test inputs: node 'conv' \(conv\) is the first to overflow float32 \(its largest weight is 3e\+38\)"),
    ],
)  # fmt: skip
def test_malformed_model_gets_a_clear_error(tmp_path, case, match):
    path = tmp_path / f"{case}.onnx"
    relu = helper.make_node("Relu", ["x"], ["y"], name="relu")
    if case == "empty":
        path.write_bytes(b"")
    elif case == "no_nodes":
        save(small_model([], out="x"), path)
    elif case == "dangling":
        save(small_model([helper.make_node("Add", ["x", "ghost"], ["y"], name="add")]), path)
    elif case == "pads_length":
        save(conv_model([1, 0, 1]), path)
    elif case == "recursive_function":
        fn = helper.make_function("local", "Loop1", ["a"], ["b"], [helper.make_node("Loop1", ["a"], ["b"], domain="local")],
                                  [helper.make_opsetid("", 13), helper.make_opsetid("local", 1)])  # fmt: skip
        model = small_model([helper.make_node("Loop1", ["x"], ["y"], domain="local")])
        model.functions.append(fn)
        model.opset_import.append(helper.make_opsetid("local", 1))
        save(model, path)
    elif case in ("zero_dim", "negative_dim", "huge_dim", "symbolic_dim"):
        dim = {"zero_dim": 0, "negative_dim": -5, "huge_dim": 2**40, "symbolic_dim": "T"}[case]
        save(small_model(shape=(1, 1, dim, 1)), path)
    elif case in ("int64_input", "bool_input", "float16_input"):
        elem = {
            "int64_input": TensorProto.INT64,
            "bool_input": TensorProto.BOOL,
            "float16_input": TensorProto.FLOAT16,
        }
        save(small_model(elem=elem[case]), path)
    elif case == "nan_weight":
        model = conv_model([1, 0, 1, 0])
        w = numpy_helper.to_array(model.graph.initializer[0]).copy()
        w[0, 0, 0, 0], w[1, 1, 1, 0] = np.nan, np.inf
        model.graph.initializer[0].CopyFrom(numpy_helper.from_array(w, "W"))
        save(model, path)
    elif case == "short_weight":
        model = conv_model([1, 0, 1, 0])
        model.graph.initializer[0].raw_data = model.graph.initializer[0].raw_data[:8]
        save(model, path)
    elif case == "unknown_op":
        save(small_model([helper.make_node("Conv2", ["x"], ["y"], name="n")]), path)
    elif case == "vendor_domain":
        relu.domain = "com.example"
        model = small_model([relu])
        model.opset_import.append(helper.make_opsetid("com.example", 1))
        save(model, path)
    elif case == "self_edge":
        save(small_model([helper.make_node("Relu", ["y"], ["y"], name="relu")]), path)
    elif case == "two_producers":
        save(small_model([helper.make_node("Relu", ["x"], ["y"], name="a"), helper.make_node("Relu", ["x"], ["y"], name="b")]), path)  # fmt: skip
    elif case == "opset_99":
        save(small_model(opset=99), path)
    elif case == "no_output":
        model = small_model()
        del model.graph.output[:]
        save(model, path)
    elif case == "window_too_large":
        save(conv_model([0, 0, 0, 0], kernel=(9, 1)), path)
    elif case == "group_zero":
        model = conv_model([1, 0, 1, 0])
        model.graph.node[0].attribute.append(helper.make_attribute("group", 0))
        save(model, path)
    elif case == "auto_pad_and_pads":  # found by the fuzz: the pads were dropped, an Add further on failed
        model = conv_model([1, 0, 1, 0])
        model.graph.node[0].attribute.append(helper.make_attribute("auto_pad", "VALID"))
        save(model, path)
    elif case == "float32_overflow":  # finite weights whose products overflow: named, not a NaN mismatch
        model = conv_model([1, 0, 1, 0])
        model.graph.initializer[0].CopyFrom(
            numpy_helper.from_array(np.full((3, 2, 3, 1), 3e38, np.float32), "W")
        )
        save(model, path)
    elif case == "non_utf8_op":
        data = small_model([helper.make_node("Relu", ["x"], ["y"], name="relu")]).SerializeToString()
        path.write_bytes(data.replace(b"Relu", b"R\xffeu"))
    refused(path, match)


def test_external_data_stays_inside_the_model_folder(tmp_path):
    model = conv_model([1, 0, 1, 0])
    w = model.graph.initializer[0]
    data = numpy_helper.to_array(w).tobytes()
    (tmp_path / "weights.bin").write_bytes(data)
    (tmp_path / "sub").mkdir()

    def external(location, length=len(data)):
        m = onnx.ModelProto()
        m.CopyFrom(model)
        t = m.graph.initializer[0]
        t.ClearField("raw_data")
        t.data_location = TensorProto.EXTERNAL
        for key, value in (("location", location), ("offset", "0"), ("length", str(length))):
            entry = t.external_data.add()
            entry.key, entry.value = key, value
        return save(m, tmp_path / "sub" / "m.onnx")

    refused(
        external("../weights.bin"),
        r"tensor 'W' keeps its data in an external file '../weights.bin', outside the model's folder",
    )
    refused(external("/etc/hostname"), r"outside the model's folder")
    refused(external("missing.bin"), r"keeps its weights in missing.bin, which is not next to it")
    (tmp_path / "sub" / "weights.bin").write_bytes(data)
    refused(
        external("weights.bin", 2**40),
        r"bytes 0 to 1099511627776 of a 72-byte file, but its shape \[3, 2, 3, 1\] needs 72",
    )
    path = external("weights.bin")  # beside the model, the right size: read
    report = compile_model(path, tmp_path / "ok", target_device=DEVICE)
    assert report.passed
    assert (
        load_onnx_model(path, load_external_data=False).graph.initializer[0].data_location
        == TensorProto.EXTERNAL
    )


def test_nodes_out_of_order_compile_like_the_sorted_model(tmp_path, bases):
    model = onnx.load(bases / "residual_op13.onnx")
    shuffled = onnx.ModelProto()
    shuffled.CopyFrom(model)
    nodes = list(shuffled.graph.node)[::-1]
    del shuffled.graph.node[:]
    shuffled.graph.node.extend(nodes)
    x = np.random.default_rng(0).standard_normal((3, 1, 64, 1)).astype(np.float32)
    ours = import_onnx(save(shuffled, tmp_path / "shuffled.onnx"))
    ref = import_onnx(bases / "residual_op13.onnx")
    from tinyml_tinyverse.common.ir.graph import run_float

    a = run_float(ours, x)[ours.output_names[0]]
    b = run_float(ref, x)[ref.output_names[0]]
    np.testing.assert_array_equal(a, b)
    assert compile_model(tmp_path / "shuffled.onnx", tmp_path / "out", target_device=DEVICE).passed


def test_node_names_never_become_c_code(tmp_path):
    """A name that closes a C comment (backslash + CR line splice, ??/ trigraph, */) stays in its comment."""
    marker = "tinyml_injected_marker"
    for k, name in enumerate(
        [f'x *\\\r/ (void)"{marker}"; /*', f'x*??/\r/ (void)"{marker}"; /*', f'*/ (void)"{marker}"; /*']
    ):
        model = conv_model([1, 0, 1, 0], name=name)
        path = save(model, tmp_path / f"m{k}.onnx")
        assert compile_model(path, tmp_path / f"out{k}", target_device=DEVICE).passed
        src = tmp_path / f"out{k}" / "artifacts" / "tinyml_model.c"
        assert marker in src.read_text()  # the name is there, in a comment
        code = subprocess.run(["gcc", "-std=c99", "-E", "-P", "-I", str(src.parent), str(src)],
                              capture_output=True, text=True, check=True).stdout  # fmt: skip
        assert marker not in code


@pytest.mark.parametrize("pads", [[2, 0, 2, 7], [2, 1, 2, 1]])
@pytest.mark.parametrize("mode", ["float", "int8", "int8-packed-4bit"])
def test_conv_padded_along_w_of_a_one_column_input_is_exact(tmp_path, pads, mode):
    """The time-series fast path of the float and packed conv kernels skipped W padding (found by the fuzz)."""
    path = save(conv_model(pads, kernel=(5, 1), shape=(1, 2, 16, 1), out_channels=4), tmp_path / "m.onnx")
    calib = np.random.default_rng(1).standard_normal((32, 2, 16, 1)).astype(np.float32)
    kw = dict(quantization=0) if mode == "float" else dict(calib_x=calib, quantization=1)
    if mode == "int8-packed-4bit":
        kw.update(quantization=2, weight_bitwidth=4, preset_name="compress_npu_layer_data")
    report = compile_model(path, tmp_path / "out", target_device=DEVICE, **kw)
    assert report.passed and (report.max_abs_diff == 0 if mode != "float" else report.max_rel_diff <= 1e-5)


def test_qdq_model_whose_last_conv_has_only_padded_outputs_compiles(bases, tmp_path):
    """CLS_1k_NPU on 64 samples: the int8 C of its last conv declared an unused variable (-Werror)."""
    report = compile_model(bases / "cls_npu_qdq.onnx", tmp_path, target_device=DEVICE)
    assert report.passed and report.precision == "int8" and report.max_abs_diff == 0


def swap_inputs(model: onnx.ModelProto, node_name: str) -> onnx.ModelProto:
    """The fuzz's ``swap_inputs`` on one named node: its inputs in reverse order."""
    node = next(n for n in model.graph.node if n.name == node_name)
    names = list(node.input)[::-1]
    del node.input[:]
    node.input.extend(names)
    return model


@pytest.mark.parametrize(
    "node, match",
    [  # the classic exporter's shape arithmetic for ``h.reshape(h.size(0), -1)`` and a padding computation
        ("/Reshape", r"node '/Reshape' \(op Reshape\): the target shape \[0, .*\]: not valid, expected at most one -1, no other "
                     r"negative value, a 0 only where the input \[\d+\] has a dimension to copy"),
        ("/Unsqueeze", r"node '/Concat_2' \(op Concat\): input shapes \[\[1, 1\], \[1\]\]: not valid, expected one rank"),
    ],
)  # fmt: skip
def test_inconsistent_shape_arithmetic_names_the_folded_node(bases, tmp_path, node, match):
    """Found by the fuzz (seed 1, mutants 1838 and 1184): swapped inputs in a shape computation that ONNX
    shape inference lets through gave an IndexError / a numpy message from constant folding."""
    path = save(swap_inputs(onnx.load(bases / "mixed_op13.onnx"), node), tmp_path / "m.onnx")
    refused(path, match)


def fold(op: str, xs: list, **attrs) -> np.ndarray:
    """Constant folding of one node ``n`` of ``op`` over the constants ``xs``."""
    return fold_constant_node(
        helper.make_node(op, [f"in{k}" for k in range(len(xs))], ["out"], name="n", **attrs), xs
    )


@pytest.mark.parametrize(
    "op, inputs, attrs, match",
    [
        ("Gather", [np.array([1, 8, 1]), np.array(5)], {}, r"indices \[5\]: not valid, expected integers in \[-3, 3\)"),
        ("Concat", [np.array([[1, 8]]), np.array([1])], {"axis": 0}, r"input shapes \[\[1, 2\], \[1\]\]"),
        ("Concat", [np.array([1]), np.array([1])], {"axis": 1}, r"axis 1: not valid, expected an axis of its rank-1 input"),
        ("Reshape", [np.zeros(2), np.array([0, 0, 0])], {}, r"the target shape \[0, 0, 0\]: not valid"),
        ("Reshape", [np.zeros(6), np.array([4, -1])], {}, r"the target shape \(input \[6\], 6 values\) \[4, -1\]: not valid, expected as many values"),
        ("Unsqueeze", [np.zeros(2), np.array([5])], {}, r"axes 5: not valid"),
        ("Unsqueeze", [np.zeros(2), np.array([0, 0])], {}, r"axes \[0, 0\]: not valid, expected each axis once"),
        ("Squeeze", [np.zeros((2, 3)), np.array([0])], {}, r"expected axes of size 1 in its input of shape \[2, 3\]"),
        ("Slice", [np.zeros(4), np.array([0]), np.array([1, 2])], {}, r"starts/ends/axes/steps \[\[0\], \[1, 2\]\]"),
        ("Slice", [np.zeros(4), np.array([0]), np.array([2]), np.array([0]), np.array([0])], {}, r"no step 0"),
        ("Transpose", [np.zeros((2, 3))], {"perm": [0, 0]}, r"perm \[0, 0\]: not valid, expected a permutation"),
        ("Add", [np.zeros(3), np.zeros(2)], {}, r"input shapes \[\[3\], \[2\]\]: not valid, expected shapes that broadcast"),
        ("Expand", [np.zeros(3), np.array([2, 2])], {}, r"input shapes \[\[3\], \[2, 2\]\]: not valid"),
        ("Range", [np.array([0]), np.array(3), np.array(1)], {}, r"expected scalars \(start, limit, delta\)"),
    ],
)  # fmt: skip
def test_folded_shape_arithmetic_checks_its_constants(op, inputs, attrs, match):
    """Every op the importer folds checks its constant inputs and names the node, the values and the rule."""
    with pytest.raises(CompilationError, match=rf"node 'n' \(op {op}\): .*{match}"):
        fold(op, inputs, **attrs)


def test_folded_shape_arithmetic_of_valid_models_still_folds():
    """The checks refuse only what does not fit: opset-9 Slice attributes, negative axes and indices fold."""
    np.testing.assert_array_equal(fold("Slice", [np.arange(5)], starts=[1], ends=[3]), [1, 2])
    np.testing.assert_array_equal(fold("Gather", [np.array([1, 8, 2]), np.array([-1, 0])]), [2, 1])
    np.testing.assert_array_equal(fold("Concat", [np.array([1]), np.array(8)], axis=-1), [1, 8])
    assert fold("Unsqueeze", [np.zeros(3), np.array([-1, 0])]).shape == (1, 3, 1)
    assert fold("Reshape", [np.zeros((2, 3, 4)), np.array([0, -1])]).shape == (2, 12)
    assert fold("Expand", [np.zeros((3, 1)), np.array([2, 1, 4])]).shape == (2, 3, 4)


def test_qdq_bias_with_a_zero_point_follows_onnx(bases, tmp_path):
    """Found by the fuzz (seed 1, mutant 1507): the classifier's int32 bias dequantized with a non-zero
    zero point. The compiled model follows ONNX's definition ((q - zero point) * scale), which
    onnxruntime's reference kernels compute; its fused QDQ kernels (graph optimizations on) ignore the
    zero point, so the fuzz runs onnxruntime with graph optimizations off."""
    base = onnx.load(bases / "residual_qdq.onnx")
    bias_dq = next(
        n.name for n in base.graph.node if n.op_type == "DequantizeLinear" and "Gemm_bias" in n.input[0]
    )
    path = save(swap_inputs(onnx.load(bases / "residual_qdq.onnx"), bias_dq), tmp_path / "m.onnx")
    report = compile_model(path, tmp_path / "out", target_device=DEVICE)
    assert report.passed and report.precision == "int8" and report.max_abs_diff == 0
    assert fuzz.check_with_onnxruntime(path)["ort"] == "agree"
    # the zero point matters: the outputs move by more than the two steps the check allows
    x = np.random.default_rng(2).standard_normal((3, 1, 64, 1)).astype(np.float32)
    swapped, original = (
        import_qdq(load_onnx_model(path)),
        import_qdq(load_onnx_model(bases / "residual_qdq.onnx")),
    )
    moved = np.abs(reference_outputs(swapped, x) - reference_outputs(original, x)).max()
    assert moved > 2 * max(swapped.output_scales) + 1e-6
