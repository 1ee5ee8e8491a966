"""ONNX importer fuzz: seeded mutants of real exported models through the public compile-only path.

Base models (exported with torch in a subprocess, once per base folder): the zoo's ``CLS_1k_NPU``
(an NPU classifier), ``CLS_RES_3k`` (a residual classifier) and ``REGR_1k_NPU`` (a regression
model), each from the classic exporter (``dynamo=False``, opset 13) and the dynamo exporter
(opset 18); a model of mixed ops (batch norm after an add, concat, sigmoid, transposed conv,
resize, pad, slice, a ``view`` that the classic exporter writes as a shape computation, softmax);
and two QDQ models (``CLS_1k_NPU`` and ``CLS_RES_3k`` quantized, ``save_qdq_onnx``).

Mutant ``i`` of seed ``S`` is made from ``random.Random(f"{S}:{i}")``: a base model, one mutation
(a quarter of the time two) from :data:`MUTATIONS` (byte flips, truncation, dropped nodes, dims set
to 0 / -5 / 2^31 / 2^40 / symbolic, wrong attribute values, lengths and types, NaN / Inf
initializers, finite extreme weights and QDQ scales, integer zero points and indices at their limits, unknown op types and domains, dangling, self-referencing and cyclic edges, shuffled
nodes, duplicated producers and outputs, wrong dtypes, opsets, external data, recursive local
functions, names that would close a C comment, ...) and a route through the public compile-only path:

- ``cli``: ``tinyml_modelmaker.run_project`` (what ``tinyml-modelmaker config.yaml`` runs) with
  ``dataset.enable: False``, ``training.enable: False``, ``compilation.model_path: <mutant>``;
- ``cli-int8``: the same with ``compilation.calibration_data`` (an ``.npy`` of inputs): quantized;
- ``library``: ``tinyml_tinyverse.common.compilation.compile_model(<mutant>, out_dir, ...)``.

Every mutant runs in its own process, forked from a server that imported the compiler once, in its
own session, with a wall-clock timeout, a CPU-time limit and an address-space limit. Outcomes:

- ``compiled``: the compile passed (the generated C built and matched the Python reference bit for
  bit, float models within the compiler's tolerance); onnxruntime, where it runs the mutant, agrees
  with the compiled model's reference (float: 1e-4 of the output's peak; QDQ: two output steps;
  graph optimizations off, as its fused QDQ kernels assume what mutants break; ``cli-int8`` is
  checked bit-exact only: its int8 model differs from the float one); and no name from the model
  became code in the generated C (``hostile_name``: names that close a C comment);
- ``error``: a ``TinyMLError`` whose message names the mutant's file and no Python exception type;
- ``unclear``: a ``TinyMLError`` that does not name the file, that wraps a Python exception
  (``KeyError``, ``IndexError``, ...), or that comes from the importer's safety net for a malformed
  node that no check caught ("cannot be translated", "cannot evaluate");
- ``cc-failed``: "C compiler failed" (the generated C did not build); ``mismatch``: the C does not
  match the reference; ``wrong``: compiled, but onnxruntime computes something else, or text of the
  model became C code;
- ``traceback``: any other exception; ``hang``: past the timeout or the CPU limit; ``crash``: the
  process died (signal, abort) without an answer.

Everything but ``compiled`` and ``error`` is a failure, printed with the command that reproduces it.

    python benchmarks/fuzz_onnx.py --mutants 2000 --seed 1 --jobs 2
    python benchmarks/fuzz_onnx.py --seed 1 --only 137 --keep /tmp/m137   # one mutant, its file kept
"""

from __future__ import annotations

import argparse
import collections
import copy
import importlib.util
import json
import os
import random
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

OUTCOMES = ("compiled", "error", "unclear", "cc-failed", "mismatch", "wrong", "traceback", "hang", "crash")
GOOD = ("compiled", "error")
ROUTES = ("cli", "cli-int8", "library")
ROUTE_WEIGHTS = (0.4, 0.2, 0.4)
HAVE_MODELMAKER = importlib.util.find_spec("tinyml_modelmaker") is not None
DEVICE = "F28P65"  # a C2000 part without NPU: the host build checks every compile, no emulator run
# Python exception types that must not leak into a user's error message
LEAKED = (
    "KeyError", "IndexError", "ValueError", "TypeError", "AttributeError", "ZeroDivisionError",
    "AssertionError", "OverflowError", "MemoryError", "RecursionError", "DecodeError", "ValidationError",
    "InferenceError", "FloatingPointError", "UnicodeDecodeError", "NotImplementedError", "Traceback",
)  # fmt: skip


# the importer's safety nets: a malformed node that no check caught before its translator ran
FALLBACKS = ("cannot be translated (", "cannot evaluate with input shapes", "do not fit the op (")


# -- base models ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Base:
    name: str
    task: str  # the modelmaker task type of the cli routes

    @property
    def file(self) -> str:
        return f"{self.name}.onnx"


BASES = (
    Base("cls_npu_op13", "generic_timeseries_classification"),
    Base("cls_npu_op18", "generic_timeseries_classification"),
    Base("residual_op13", "generic_timeseries_classification"),
    Base("residual_op18", "generic_timeseries_classification"),
    Base("regr_op13", "generic_timeseries_regression"),
    Base("regr_op18", "generic_timeseries_regression"),
    Base("mixed_op13", "generic_timeseries_classification"),
    Base("cls_npu_qdq", "generic_timeseries_classification"),
    Base("residual_qdq", "generic_timeseries_classification"),
)


def export_bases(out_dir: Path) -> None:
    """Export every base model into ``out_dir`` (imports torch: run it in its own process)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from tinyml_tinyverse.common.models import get_model
    from tinyml_tinyverse.common.quantization import quantize_onnx

    class Mixed(nn.Module):
        """Ops the zoo models do not use: batch norm after an add, concat, sigmoid, transposed conv,
        resize, pad, slice, a view (a shape computation in the classic exporter), softmax."""

        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(2, 8, (3, 1), padding=(1, 0))
            self.b = nn.Conv2d(8, 8, (3, 1), padding=(1, 0), groups=4)
            self.bn = nn.BatchNorm2d(8)
            self.up = nn.ConvTranspose2d(16, 4, (2, 1), stride=(2, 1))
            self.fc = nn.Linear(4 * 7, 3)

        def forward(self, x):
            h = F.relu(self.a(x))
            h = self.bn(self.b(h) + h)
            h = torch.cat([h, torch.sigmoid(h) - 0.5], 1)
            h = F.max_pool2d(F.pad(h, (0, 0, 1, 1)), (4, 1))
            h = F.interpolate(torch.tanh(self.up(h)), scale_factor=(0.5, 1.0), mode="nearest")
            h = h[:, :, 1:, :]
            return torch.softmax(self.fc(h.reshape(h.size(0), -1)), -1)

    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    models = {
        "cls_npu": get_model("CLS_1k_NPU", input_features=64, variables=1, num_classes=4),
        "residual": get_model("CLS_RES_3k", input_features=64, variables=1, num_classes=3),
        "regr": get_model("REGR_1k_NPU", input_features=64, variables=1, num_classes=2),
        "mixed": Mixed(),
    }
    shapes = {"mixed": (2, 32, 1)}
    for name, model in models.items():
        model.eval()
        for m in model.modules():  # batch norms with statistics of their own (not folded to identity)
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
        shape = shapes.get(name) or tuple(model.input_shape)
        x = (torch.randn(1, *shape),)
        torch.onnx.export(model, x, str(out_dir / f"{name}_op13.onnx"), dynamo=False, opset_version=13)
        if name != "mixed":
            torch.onnx.export(model, x, str(out_dir / f"{name}_op18.onnx"), dynamo=True, opset_version=18,
                              external_data=False)  # fmt: skip
    rng = np.random.default_rng(0)
    for name in ("cls_npu", "residual"):
        calib = rng.standard_normal((64, 1, 64, 1)).astype(np.float32)
        quantize_onnx(out_dir / f"{name}_op13.onnx", calib).save_qdq_onnx(out_dir / f"{name}_qdq.onnx")


def ensure_bases(base_dir: Path) -> None:
    if all((base_dir / b.file).is_file() for b in BASES):
        return
    cmd = [sys.executable, __file__, "--export-bases", str(base_dir)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"exporting the base models failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


# -- mutations --------------------------------------------------------------------------------------
# each takes (model proto, rng) and changes the model in place; False: not applicable to this model
BYTE_MUTATIONS = ("byte_flip", "truncate")
WEIRD_DIMS = (0, -5, -1, 2**31, 2**40, "N", "", 3, 100_000)
WEIRD_INTS = (0, -1, -5, 2, 7, 2**31 - 1, 2**40, -(2**40))
WEIRD_FLOATS = (float("nan"), float("inf"), float("-inf"), -1.0, 0.0, 1e30)
ELEM_TYPES = (
    TensorProto.INT64, TensorProto.BOOL, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.INT8,
    TensorProto.UINT8, TensorProto.INT32, TensorProto.STRING, TensorProto.UNDEFINED, 99,
)  # fmt: skip
UNKNOWN_OPS = (
    "Conv2",
    "LSTM",
    "Foo",
    "conv",
    "",
    "ConvInteger",
    "If",
    "NonZero",
    "TopK",
    "Gemm ",
    "Convolution",
)


def _pick(rng: random.Random, items):
    items = list(items)
    return rng.choice(items) if items else None


def _set_dim(dim, value) -> None:
    if isinstance(value, str):
        dim.Clear()
        if value:
            dim.dim_param = value
    else:
        dim.dim_value = value


def m_byte_flip(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.choice((1, 2, 4, 8, 32))):
        b[rng.randrange(len(b))] ^= rng.randrange(1, 256)
    return bytes(b)


def m_truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data))]


def m_drop_node(model, rng):
    nodes = model.graph.node
    if not nodes:
        return False
    del nodes[rng.randrange(len(nodes))]


def m_no_nodes(model, rng):
    del model.graph.node[:]


def m_dim_input(model, rng):
    dims = model.graph.input[0].type.tensor_type.shape.dim
    if not dims:
        return False
    _set_dim(dims[rng.randrange(len(dims))], _pick(rng, WEIRD_DIMS))


def m_dim_output(model, rng):
    dims = model.graph.output[0].type.tensor_type.shape.dim
    if not dims:
        return False
    _set_dim(dims[rng.randrange(len(dims))], _pick(rng, WEIRD_DIMS))


def m_dim_initializer(model, rng):
    init = _pick(rng, [t for t in model.graph.initializer if t.dims])
    if init is None:
        return False
    k = rng.randrange(len(init.dims))
    init.dims[k] = rng.choice((0, -5, 2**40, init.dims[k] + 1, init.dims[k] * 2))


def _attr_nodes(model, types):
    return [(n, a) for n in model.graph.node for a in n.attribute if a.type in types]


def m_attr_value(model, rng):
    A = onnx.AttributeProto
    pair = _pick(rng, _attr_nodes(model, (A.INT, A.INTS, A.FLOAT, A.FLOATS, A.STRING)))
    if pair is None:
        return False
    _, a = pair
    if a.type == A.INT:
        a.i = rng.choice(WEIRD_INTS)
    elif a.type == A.INTS and a.ints:
        a.ints[rng.randrange(len(a.ints))] = rng.choice(WEIRD_INTS)
    elif a.type == A.FLOAT:
        a.f = rng.choice(WEIRD_FLOATS)
    elif a.type == A.FLOATS and a.floats:
        a.floats[rng.randrange(len(a.floats))] = rng.choice(WEIRD_FLOATS)
    elif a.type == A.STRING:
        a.s = rng.choice((b"BOGUS", b"", b"SAME_UPPER", b"VALID", b"\xff\xfe"))
    else:
        return False


def m_attr_length(model, rng):
    pair = _pick(rng, _attr_nodes(model, (onnx.AttributeProto.INTS, onnx.AttributeProto.FLOATS)))
    if pair is None:
        return False
    _, a = pair
    values = list(a.ints) or [1]
    n = rng.choice((0, len(values) - 1, len(values) + 1, 2 * len(values), 7))
    new = (values * 8)[: max(n, 0)]
    if a.type == onnx.AttributeProto.INTS:
        del a.ints[:]
        a.ints.extend(new)
    else:
        del a.floats[:]
        a.floats.extend(float(v) for v in new)


def m_attr_type(model, rng):
    pair = _pick(rng, [(n, a) for n in model.graph.node for a in n.attribute])
    if pair is None:
        return False
    node, a = pair
    name = a.name
    value = rng.choice((3, [1, 2], 0.5, "SAME", [0.5, 2.0]))
    node.attribute.remove(a)
    node.attribute.append(helper.make_attribute(name, value))


def m_attr_drop(model, rng):
    pair = _pick(rng, [(n, a) for n in model.graph.node for a in n.attribute])
    if pair is None:
        return False
    node, a = pair
    node.attribute.remove(a)


def _float_initializers(model):
    return [t for t in model.graph.initializer if t.data_type == TensorProto.FLOAT and t.dims]


def m_nan_initializer(model, rng):
    init = _pick(rng, _float_initializers(model))
    if init is None:
        return False
    arr = numpy_helper.to_array(init).copy()
    flat = arr.reshape(-1)
    count = rng.choice((1, 3, flat.size))
    for k in rng.sample(range(flat.size), min(count, flat.size)):
        flat[k] = rng.choice((np.nan, np.inf, -np.inf))
    init.CopyFrom(numpy_helper.from_array(arr, init.name))


def m_unknown_op(model, rng):
    node = _pick(rng, model.graph.node)
    if node is None:
        return False
    node.op_type = rng.choice(UNKNOWN_OPS)


def m_unknown_domain(model, rng):
    node = _pick(rng, model.graph.node)
    if node is None:
        return False
    node.domain = rng.choice(("com.example", "ai.onnx.ml", "com.microsoft", "local"))


def _edge(model, rng):
    node = _pick(rng, [n for n in model.graph.node if any(n.input)])
    if node is None:
        return None, None
    return node, rng.choice([k for k, i in enumerate(node.input) if i])


def m_dangling_edge(model, rng):
    node, k = _edge(model, rng)
    if node is None:
        return False
    node.input[k] = "ghost"


def m_self_edge(model, rng):
    node, k = _edge(model, rng)
    if node is None or not node.output:
        return False
    node.input[k] = node.output[0]


def m_cycle_edge(model, rng):
    nodes = model.graph.node
    if len(nodes) < 2:
        return False
    i, j = sorted(rng.sample(range(len(nodes)), 2))
    if not any(nodes[i].input) or not nodes[j].output:
        return False
    k = rng.choice([k for k, name in enumerate(nodes[i].input) if name])
    nodes[i].input[k] = nodes[j].output[0]


def m_shuffle_nodes(model, rng):
    nodes = list(model.graph.node)
    rng.shuffle(nodes)
    del model.graph.node[:]
    model.graph.node.extend(nodes)


def m_duplicate_producer(model, rng):
    nodes = model.graph.node
    if len(nodes) < 2:
        return False
    i, j = rng.sample(range(len(nodes)), 2)
    nodes[j].output[0] = nodes[i].output[0]


def m_duplicate_node(model, rng):
    node = _pick(rng, model.graph.node)
    if node is None:
        return False
    copy_ = onnx.NodeProto()
    copy_.CopyFrom(node)
    copy_.name = node.name + "_copy"
    model.graph.node.insert(rng.randrange(len(model.graph.node) + 1), copy_)


def m_duplicate_output(model, rng):
    g = model.graph
    if rng.random() < 0.5 or not g.node:
        g.output.append(copy.deepcopy(g.output[0]))
    else:  # an intermediate tensor as an extra output
        name = _pick(rng, [o for n in g.node for o in n.output])
        g.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))


def m_no_outputs(model, rng):
    del model.graph.output[:]


def m_input_dtype(model, rng):
    model.graph.input[0].type.tensor_type.elem_type = rng.choice(ELEM_TYPES)


def m_output_dtype(model, rng):
    model.graph.output[0].type.tensor_type.elem_type = rng.choice(ELEM_TYPES)


def m_initializer_dtype(model, rng):
    init = _pick(rng, model.graph.initializer)
    if init is None:
        return False
    init.data_type = rng.choice(ELEM_TYPES)


def m_initializer_truncate(model, rng):
    init = _pick(rng, [t for t in model.graph.initializer if t.raw_data])
    if init is None:
        return False
    raw = init.raw_data
    init.raw_data = raw[: len(raw) // 2] if rng.random() < 0.7 else raw + b"\0\0\0\0"


def m_int_initializer_values(model, rng):
    inits = [t for t in model.graph.initializer if t.data_type == TensorProto.INT64]
    consts = [
        a
        for n in model.graph.node
        if n.op_type == "Constant"
        for a in n.attribute
        if a.name == "value" and a.t.data_type == TensorProto.INT64
    ]
    values = rng.choice(([-1, -1], [0], [2**40], [], [1, 2, 3, 4, 5, 6], [-5], [1, -1, 0], [2**31, 1]))
    arr = np.array(values, dtype=np.int64)
    if inits and (not consts or rng.random() < 0.5):
        init = rng.choice(inits)
        init.CopyFrom(numpy_helper.from_array(arr, init.name))
    elif consts:
        rng.choice(consts).t.CopyFrom(numpy_helper.from_array(arr))
    else:
        return False


def m_extreme_values(model, rng):
    """Finite but extreme values in one float initializer (weights, biases, QDQ scales): valid ONNX."""
    init = _pick(rng, [t for t in model.graph.initializer if t.data_type == TensorProto.FLOAT])
    if init is None:
        return False
    arr = numpy_helper.to_array(init).astype(np.float32)
    value = np.float32(rng.choice((0.0, -1.0, 1e30, -1e30, 1e-30, 3.4e38, 1e-45)))
    if rng.random() < 0.5 or arr.size == 0:
        arr = np.full_like(arr, value)
    else:
        arr.reshape(-1)[rng.randrange(arr.size)] = value
    init.CopyFrom(numpy_helper.from_array(arr, init.name))


def m_integer_values(model, rng):
    """One integer initializer (zero points, int8 weights, indices, shapes) set to values its type holds."""
    ints = (TensorProto.INT8, TensorProto.UINT8, TensorProto.INT32, TensorProto.INT64)
    init = _pick(rng, [t for t in model.graph.initializer if t.data_type in ints])
    if init is None:
        return False
    arr = numpy_helper.to_array(init).copy()
    info = np.iinfo(arr.dtype)
    choices = [info.min, info.max, 0, 1] + ([-1] if info.min < 0 else [])
    flat = arr.reshape(-1)
    for k in range(flat.size) if rng.random() < 0.3 else [rng.randrange(flat.size)] if flat.size else []:
        flat[k] = rng.choice(choices)
    init.CopyFrom(numpy_helper.from_array(arr, init.name))


def m_opset(model, rng):
    entry = next((o for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    choice = rng.choice(("remove", "duplicate", 0, 1, 5, 7, 9, 11, 99, 10**6))
    if entry is None:
        return False
    if choice == "remove":
        model.opset_import.remove(entry)
    elif choice == "duplicate":
        model.opset_import.append(helper.make_opsetid("", 7))
    else:
        entry.version = choice


def m_ir_version(model, rng):
    model.ir_version = rng.choice((0, 1, 2, 3, 99, 2**40))


def m_external_data(model, rng):
    init = _pick(rng, _float_initializers(model))
    if init is None:
        return False
    size = len(numpy_helper.to_array(init).tobytes())
    location = rng.choice(("missing.bin", "../escape.bin", "/etc/hostname", "SELF", "sub/../../x.bin"))
    offset = rng.choice((0, 0, 16, 2**40))
    length = rng.choice((size, size, 2**40, 1))
    init.ClearField("raw_data")
    del init.float_data[:]
    init.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        entry = init.external_data.add()
        entry.key, entry.value = key, value


def m_recursive_function(model, rng):
    node = _pick(rng, [n for n in model.graph.node if len(n.input) >= 1 and len(n.output) == 1])
    if node is None:
        return False
    body = [helper.make_node("Rec", ["a"], ["b"], domain="local")]
    if rng.random() < 0.5:  # two functions calling each other
        body = [helper.make_node("Rec2", ["a"], ["b"], domain="local")]
        model.functions.append(
            helper.make_function(
                "local",
                "Rec2",
                ["a"],
                ["b"],
                [helper.make_node("Rec", ["a"], ["b"], domain="local")],
                [helper.make_opsetid("", 13), helper.make_opsetid("local", 1)],
            )  # fmt: skip
        )
    model.functions.append(
        helper.make_function("local", "Rec", ["a"], ["b"], body, [helper.make_opsetid("", 13), helper.make_opsetid("local", 1)])
    )  # fmt: skip
    model.opset_import.append(helper.make_opsetid("local", 1))
    new = helper.make_node("Rec", [node.input[0]], [node.output[0]], name=node.name, domain="local")
    node.CopyFrom(new)


def m_local_function(model, rng):
    """A well-formed local function wrapping one node (inlined by the loader)."""
    node = _pick(
        rng, [n for n in model.graph.node if n.op_type in ("Relu", "Sigmoid", "Tanh", "MaxPool", "Softmax")]
    )
    if node is None:
        return False
    inner = onnx.NodeProto()
    inner.CopyFrom(node)
    del inner.input[:]
    del inner.output[:]
    inner.input.append("a")
    inner.output.append("b")
    model.functions.append(
        helper.make_function("local", "Wrapped", ["a"], ["b"], [inner], list(model.opset_import))
    )
    model.opset_import.append(helper.make_opsetid("local", 1))
    node.CopyFrom(
        helper.make_node("Wrapped", [node.input[0]], [node.output[0]], name=node.name, domain="local")
    )


def m_swap_inputs(model, rng):
    node = _pick(rng, [n for n in model.graph.node if len(n.input) >= 2])
    if node is None:
        return False
    names = list(node.input)[::-1]
    del node.input[:]
    node.input.extend(names)


def m_drop_initializer(model, rng):
    init = _pick(rng, model.graph.initializer)
    if init is None:
        return False
    model.graph.initializer.remove(init)


def m_extra_input(model, rng):
    model.graph.input.append(helper.make_tensor_value_info("x2", TensorProto.FLOAT, [1, 1, 8, 1]))
    node = _pick(rng, model.graph.node)
    if node is not None and node.input and rng.random() < 0.5:
        node.input[0] = "x2"


def m_empty_name(model, rng):
    node = _pick(rng, model.graph.node)
    if node is None:
        return False
    if rng.random() < 0.5 and node.output:
        node.output[0] = ""
    elif node.input:
        node.input[0] = ""
    else:
        return False


def m_rename_input(model, rng):
    model.graph.input[0].name = rng.choice(("renamed", "", model.graph.output[0].name))


def m_sparse_initializer(model, rng):
    init = _pick(rng, _float_initializers(model))
    if init is None:
        return False
    arr = numpy_helper.to_array(init)
    flat = arr.reshape(-1)
    nz = np.flatnonzero(flat)
    values = numpy_helper.from_array(flat[nz].astype(np.float32), init.name)
    indices = numpy_helper.from_array(nz.astype(np.int64))
    model.graph.sparse_initializer.append(helper.make_sparse_tensor(values, indices, list(arr.shape)))
    model.graph.initializer.remove(init)


def m_constant_node(model, rng):
    """Move an initializer into a Constant node (valid ONNX, another path through the importer)."""
    init = _pick(rng, model.graph.initializer)
    if init is None:
        return False
    model.graph.initializer.remove(init)
    model.graph.node.insert(0, helper.make_node("Constant", [], [init.name], value=init))


def m_huge_attr(model, rng):
    pair = _pick(
        rng, [(n, a) for n in model.graph.node for a in n.attribute if a.name in ("kernel_shape", "strides", "pads", "dilations")]
    )  # fmt: skip
    if pair is None:
        return False
    _, a = pair
    a.ints[rng.randrange(len(a.ints))] = rng.choice((2**40, 2**31, 100_000, 0, -3))


INJECTED = "tinyml_injected_marker"
HOSTILE_NAMES = (
    f'x *\\\r/ (void)"{INJECTED}"; /*',  # a backslash-CR line splice closing a C comment: code
    f'x*??/\r/ (void)"{INJECTED}"; /*',  # the same through a ??/ trigraph
    f'*/ (void)"{INJECTED}"; /*',
    f"\n#define {INJECTED} 1\n",
    "n\x00ul",
    "Ünïcødé ∑",
    "x" * 100_000,
)


def m_hostile_name(model, rng):
    """A node (or one tensor, everywhere it is named) renamed to text that could break or inject C."""
    text = rng.choice(HOSTILE_NAMES)
    g = model.graph
    if rng.random() < 0.6 or not g.node:
        node = _pick(rng, g.node)
        if node is None:
            return False
        node.name = text
        return None
    old = _pick(rng, [o for n in g.node for o in n.output if o])
    for n in g.node:
        for seq in (n.input, n.output):
            for k, name in enumerate(seq):
                if name == old:
                    seq[k] = text
    for v in [*g.output, *g.value_info]:
        if v.name == old:
            v.name = text


MUTATIONS = {name[2:]: fn for name, fn in sorted(globals().items()) if name.startswith("m_")}


@dataclass
class Mutant:
    index: int
    base: Base
    kinds: tuple[str, ...]
    route: str
    data: bytes


def make_mutant(seed: int, index: int, base_bytes: dict[str, bytes]) -> Mutant:
    """Mutant ``index`` of ``seed``: the same bytes every time."""
    rng = random.Random(f"{seed}:{index}")
    base = rng.choice(BASES)
    route = rng.choices(ROUTES, ROUTE_WEIGHTS)[0]
    if not HAVE_MODELMAKER:  # tinyverse alone: every mutant through compile_model
        route = "library"
    data = base_bytes[base.name]
    kinds: list[str] = []
    while not kinds or (rng.random() < 0.25 and len(kinds) < 2):
        kind = rng.choice(sorted(MUTATIONS))
        if kind in BYTE_MUTATIONS:
            data = MUTATIONS[kind](data, rng)
            kinds.append(kind)
            break  # bytes no longer parse as a model to mutate further
        model = onnx.load_from_string(data)
        try:
            applied = MUTATIONS[kind](model, rng) is not False
        except Exception:  # noqa: BLE001 - e.g. no graph output left, an initializer already broken
            applied = False
        if not applied:
            continue
        data = model.SerializeToString()
        kinds.append(kind)
    return Mutant(index, base, tuple(kinds), route, data)


# -- one mutant in its own process ------------------------------------------------------------------
def classify_error(exc: BaseException, file_name: str) -> tuple[str, str]:
    from tinyml_tinyverse.common.errors import TinyMLError

    message = str(exc)
    if not isinstance(exc, TinyMLError):
        return "traceback", "".join(traceback.format_exception(exc))[-3000:]
    if "C compiler failed" in message:
        return "cc-failed", message
    if "does not match the Python reference" in message:
        return "mismatch", message
    if any(word in message for word in LEAKED) or any(text in message for text in FALLBACKS):
        return "unclear", message
    if file_name not in message:
        return "unclear", message
    return "error", message


def compile_mutant(m: Mutant, work: Path, device: str) -> dict:
    """Compile one mutant through its route; the outcome as a dict (never raises)."""
    path = work / f"m{m.index}_{m.base.name}.onnx"
    path.write_bytes(m.data)
    try:
        if m.route == "library":
            from tinyml_tinyverse.common.compilation import compile_model

            compile_model(path, work / "out", target_device=device)
        else:
            import yaml
            from tinyml_modelmaker import run_project

            config = {
                "common": {"task_type": m.base.task, "target_device": device, "projects_path": str(work / "projects"), "run_name": "r"},
                "dataset": {"enable": False},
                "training": {"enable": False},
                "testing": {"enable": False},
                "compilation": {"model_path": str(path)},
            }  # fmt: skip
            if m.route == "cli-int8":
                shape = (2, 32, 1) if m.base.name.startswith("mixed") else (1, 64, 1)
                calib = np.random.default_rng(1).standard_normal((32, *shape)).astype(np.float32)
                np.save(work / "calib.npy", calib)
                config["compilation"]["calibration_data"] = str(work / "calib.npy")
            (work / "config.yaml").write_text(yaml.safe_dump(config))
            summary = run_project(work / "config.yaml")
            if not summary.get("compilation", {}).get("passed"):
                return {
                    "outcome": "mismatch",
                    "message": f"compilation not passed: {summary.get('compilation')}",
                }
    except BaseException as exc:  # noqa: BLE001 - every exception is an outcome here
        outcome, message = classify_error(exc, path.name)
        return {"outcome": outcome, "message": message}
    injected = injected_code(work)
    if injected:
        return {"outcome": "wrong", "message": f"text of the model became C code in {injected}"}
    return {"outcome": "compiled", "message": ""}


def injected_code(work: Path) -> str | None:
    """The generated source in which the marker of ``m_hostile_name`` is code (outside comments), if any."""
    for src in sorted(work.rglob("artifacts/*.[ch]")):
        if INJECTED not in src.read_text(errors="replace"):
            continue
        cmd = ["gcc", "-std=c99", "-E", "-P", "-I", str(src.parent), "-x", "c", str(src)]  # no comments left
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if INJECTED in proc.stdout:
            return src.name
    return None


def check_with_onnxruntime(path: Path) -> dict:
    """Does onnxruntime compute what the compiled model's reference computes? ``ort``: agree /
    disagree / refused (onnxruntime does not run the mutant)."""
    import onnxruntime as ort
    from tinyml_tinyverse.common.compilation.compile import is_qdq_model, reference_outputs
    from tinyml_tinyverse.common.ir.importer import import_onnx
    from tinyml_tinyverse.common.ir.onnx_loader import load_onnx_model
    from tinyml_tinyverse.common.quantization.qdq_import import import_qdq

    proto = load_onnx_model(path)
    model = import_qdq(proto) if is_qdq_model(proto) else import_onnx(proto)
    x = np.random.default_rng(2).standard_normal((3, *model.input_shape[1:])).astype(np.float32)
    ours = reference_outputs(model, x)
    try:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
        # ONNX's semantics: its reference kernels, not its fusions (QDQ -> QLinear assumes what mutants break)
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        theirs = np.stack(
            [np.concatenate([np.asarray(o, np.float32).ravel() for o in sess.run(None, {name: x[i : i + 1]})]) for i in range(len(x))]
        )  # fmt: skip
    except Exception as exc:  # noqa: BLE001
        return {"ort": "refused", "ort_message": f"{type(exc).__name__}: {exc}"[:500]}
    if theirs.shape != ours.shape:
        return {
            "ort": "disagree",
            "ort_message": f"output sizes {ours.shape} (compiled) vs {theirs.shape} (onnxruntime)",
        }
    diff = float(np.abs(theirs - ours).max(initial=0.0))
    if hasattr(model, "output_scales"):
        tol = 2 * max(model.output_scales) + 1e-6
    else:
        tol = 1e-4 * max(float(np.abs(theirs).max(initial=0.0)), 1.0)
    verdict = "agree" if diff <= tol else "disagree"
    return {"ort": verdict, "ort_message": f"max abs diff {diff:g} (tolerance {tol:g})"}


def _vm_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _child(m: Mutant, work: Path, device: str, write_fd: int, mem_gb: float, cpu_s: int) -> None:
    """The forked child: limits, compile, report (one JSON line per step), exit."""
    os.setsid()
    out = os.open(work / "output.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(out, 1)
    os.dup2(out, 2)
    limit = _vm_bytes() + int(mem_gb * (1 << 30))
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))
    result = compile_mutant(m, work, device)
    os.write(write_fd, (json.dumps(result) + "\n").encode())
    if result["outcome"] == "compiled" and m.route != "cli-int8":
        try:
            verdict = check_with_onnxruntime(next(work.glob("m*.onnx")))
        except BaseException as exc:  # noqa: BLE001 - the compile passed; its reference must rebuild
            verdict = {"ort": "traceback", "ort_message": "".join(traceback.format_exception(exc))[-2000:]}
        os.write(write_fd, (json.dumps(verdict) + "\n").encode())


# -- the fork server ----------------------------------------------------------------------------------
def warm_up(base_dir: Path, device: str) -> None:
    """Import and run everything once in the server so that forked children start warm."""
    from tinyml_tinyverse.common.compilation import compile_model

    if HAVE_MODELMAKER:
        from tinyml_modelmaker import run_project  # noqa: F401
        from tinyml_modelmaker.ai_modules.timeseries import compilation, runner  # noqa: F401

    with tempfile.TemporaryDirectory() as tmp:
        for base in (BASES[0], BASES[-1]):  # a float model and a QDQ model
            try:
                compile_model(base_dir / base.file, Path(tmp) / base.name, target_device=device)
            except Exception as exc:  # noqa: BLE001 - its mutants will show it
                print(f"warm-up: the base model {base.file} does not compile: {str(exc)[:300]}")
    import onnxruntime  # noqa: F401


@dataclass
class Running:
    mutant: Mutant
    pid: int
    fd: int
    work: Path
    start: float
    buf: bytes = b""


def run_fuzz(
    seed: int,
    indices: list[int],
    base_dir: Path,
    *,
    jobs: int = 2,
    timeout: float = 60.0,
    mem_gb: float = 2.0,
    cpu_s: int = 60,
    device: str = DEVICE,
    keep: Path | None = None,
    progress: bool = True,
) -> list[dict]:
    """Run the mutants ``indices`` of ``seed``, ``jobs`` at a time; one result dict per mutant."""
    base_bytes = {b.name: (base_dir / b.file).read_bytes() for b in BASES}
    warm_up(base_dir, device)
    scratch = Path(tempfile.mkdtemp(prefix="fuzz_onnx_"))
    pending = list(indices)
    running: dict[int, Running] = {}
    results = []
    t0 = time.perf_counter()
    try:
        while pending or running:
            while pending and len(running) < jobs:
                m = make_mutant(seed, pending.pop(0), base_bytes)
                work = (keep if keep is not None else scratch) / f"m{m.index}"
                shutil.rmtree(work, ignore_errors=True)
                work.mkdir(parents=True)
                r, w = os.pipe()
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:  # pragma: no cover - the child
                    try:
                        os.close(r)
                        _child(m, work, device, w, mem_gb, cpu_s)
                    finally:
                        os._exit(0)
                os.close(w)
                running[r] = Running(m, pid, r, work, time.perf_counter())
            ready, _, _ = select.select(list(running), [], [], 0.2)
            for fd in ready:
                chunk = os.read(fd, 65536)
                if chunk:
                    running[fd].buf += chunk
                    continue
                results.append(_finish(running.pop(fd), seed, hung=False, keep=keep))
                _report(results[-1], len(results), len(indices), t0, progress)
            now = time.perf_counter()
            for fd in [fd for fd, run in running.items() if now - run.start > timeout]:
                results.append(_finish(running.pop(fd), seed, hung=True, keep=keep))
                _report(results[-1], len(results), len(indices), t0, progress)
    finally:
        for run in running.values():
            os.killpg(run.pid, signal.SIGKILL)
            os.waitpid(run.pid, 0)
        shutil.rmtree(scratch, ignore_errors=True)
    return sorted(results, key=lambda r: r["index"])


def _finish(run: Running, seed: int, hung: bool, keep: Path | None) -> dict:
    if hung:
        try:
            os.killpg(run.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _, status, usage = os.wait4(run.pid, 0)
    os.close(run.fd)
    lines = [json.loads(line) for line in run.buf.decode(errors="replace").splitlines() if line.strip()]
    result = dict(lines[0]) if lines else {}
    for extra in lines[1:]:
        result.update(extra)
    if not lines:
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        if hung or sig == signal.SIGXCPU:
            result = {
                "outcome": "hang",
                "message": f"no answer after {time.perf_counter() - run.start:.0f} s",
            }
        else:
            what = f"signal {signal.Signals(sig).name}" if sig else f"exit code {os.WEXITSTATUS(status)}"
            result = {"outcome": "crash", "message": f"died with {what} without an answer"}
    elif hung and "ort" not in result and result["outcome"] == "compiled":
        result.update(ort="hang", ort_message="onnxruntime or the reference did not finish")
    if result["outcome"] == "compiled" and result.get("ort") in ("disagree", "traceback"):
        result["outcome"] = "wrong"
    m = run.mutant
    result.update(
        index=m.index, base=m.base.name, kinds=list(m.kinds), route=m.route,
        cpu_s=round(usage.ru_utime + usage.ru_stime, 3), wall_s=round(time.perf_counter() - run.start, 3),
        repro=f"python benchmarks/fuzz_onnx.py --seed {seed} --only {m.index} --keep /tmp/fuzz_m{m.index}",
    )  # fmt: skip
    if result["outcome"] not in GOOD:
        output = run.work / "output.txt"
        result["output_tail"] = output.read_text(errors="replace")[-2000:] if output.is_file() else ""
    if keep is None:
        shutil.rmtree(run.work, ignore_errors=True)
    return result


def _report(result: dict, done: int, total: int, t0: float, progress: bool) -> None:
    if not progress:
        return
    bad = result["outcome"] not in GOOD
    if bad or done % 100 == 0 or done == total:
        line = f"[{done}/{total} {time.perf_counter() - t0:.0f}s]"
        if bad:
            line += f" {result['outcome'].upper()} mutant {result['index']} ({result['base']}, {'+'.join(result['kinds'])}, {result['route']})"
        print(line, flush=True)


# -- summary ----------------------------------------------------------------------------------------
def summarize(results: list[dict], seed: int) -> str:
    counts = collections.Counter(r["outcome"] for r in results)
    lines = [f"{len(results)} mutants, seed {seed}"]
    if not HAVE_MODELMAKER:
        lines[0] += " (tinyml_modelmaker is not installed: every mutant through compile_model)"
    lines.append("outcomes: " + ", ".join(f"{o} {counts.get(o, 0)}" for o in OUTCOMES))
    ort = collections.Counter(r.get("ort") for r in results if r["outcome"] in ("compiled", "wrong"))
    if ort:
        lines.append(
            "compiled, checked with onnxruntime: "
            + ", ".join(f"{k} {v}" for k, v in sorted(ort.items(), key=str))
        )
    lines.append("")
    per_kind: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in results:
        for kind in set(r["kinds"]):
            per_kind[kind][r["outcome"]] += 1
    width = max([len(k) for k in per_kind] + [4])
    lines.append(f"{'kind':<{width}} " + " ".join(f"{o:>9}" for o in OUTCOMES))
    for kind in sorted(per_kind):
        lines.append(f"{kind:<{width}} " + " ".join(f"{per_kind[kind].get(o, 0):>9}" for o in OUTCOMES))
    routes = collections.Counter((r["route"], r["outcome"]) for r in results)
    lines.append("")
    for route in ROUTES:
        lines.append(
            f"route {route:<9}"
            + ", ".join(f"{o} {routes[(route, o)]}" for o in OUTCOMES if routes[(route, o)])
        )
    cpu = sum(r["cpu_s"] for r in results)
    lines.append(f"CPU time of the mutants: {cpu:.0f} s (mean {cpu / max(len(results), 1):.2f} s)")
    bad = [r for r in results if r["outcome"] not in GOOD]
    if bad:
        lines.append(f"\n{len(bad)} failures:")
        for r in bad:
            msg = (r.get("message") or "").strip().splitlines()
            last = msg[-1] if r["outcome"] == "traceback" and msg else (msg[0] if msg else "")
            extra = f" [{r.get('ort_message')}]" if r["outcome"] == "wrong" else ""
            lines.append(
                f"  {r['outcome']:<9} #{r['index']} {r['base']} {'+'.join(r['kinds'])} ({r['route']}): {last[:300]}{extra}"
            )
            lines.append(f"            reproduce: {r['repro']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mutants", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument(
        "--only", type=int, nargs="*", help="run only these mutant indices (and print their output)"
    )
    p.add_argument("--bases", type=Path, help="folder of the base models (exported there when missing)")
    p.add_argument("--device", default=DEVICE, help=f"target device (default {DEVICE})")
    p.add_argument(
        "--timeout", type=float, default=60.0, help="seconds per mutant before it counts as a hang"
    )
    p.add_argument("--mem-gb", type=float, default=2.0, help="address space a mutant may add (GiB)")
    p.add_argument("--keep", type=Path, help="keep every mutant's folder (its .onnx, output) here")
    p.add_argument("--json", type=Path, help="write every result here")
    p.add_argument("--export-bases", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.export_bases:
        export_bases(args.export_bases)
        return 0
    base_dir = args.bases or Path(tempfile.mkdtemp(prefix="fuzz_bases_"))
    ensure_bases(base_dir)
    indices = args.only if args.only else list(range(args.mutants))
    results = run_fuzz(args.seed, indices, base_dir, jobs=args.jobs, timeout=args.timeout, mem_gb=args.mem_gb,
                       device=args.device, keep=args.keep)  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(summarize(results, args.seed))
    if args.only:
        for r in results:
            print(
                f"\n--- mutant {r['index']}: {r['outcome']}\n{r.get('message', '')}\n{r.get('output_tail', '')}"
            )
    if args.bases is None:
        shutil.rmtree(base_dir, ignore_errors=True)
    return 1 if any(r["outcome"] not in GOOD for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
