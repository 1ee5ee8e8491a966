"""Element-wise functions: ONNX Sigmoid, Tanh and the table below (LeakyRelu, HardSigmoid, HardSwish,
Elu, Softplus, Exp, Abs, Neg, Erf, Gelu).

Float IR ops ``sigmoid``, ``tanh`` and ``unary`` (``function`` and its attributes, e.g. LeakyRelu
``alpha``); all become the int8 op ``lut``: a 256-entry table of the function on the 256
dequantized input values, requantized to the output's scale (Sigmoid and Tanh to the fixed scales
1/256 and 1/128, the others to their observed range), so any such function is exact to one
rounding. Float C: one expression per element.
"""

from __future__ import annotations

import math

import numpy as np

from ..op import ONNX_OPS, OPS, Op
from ..qparams import lut_table
from ._shared import qnode


def _erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[np.float64])(x)


# ONNX op -> (numpy function of (x, attrs), C float expression in v and the attrs, default attrs)
UNARY_FUNCTIONS = {
    "LeakyRelu": (
        lambda x, a: np.where(x >= 0, x, x * a["alpha"]),
        "v >= 0.0f ? v : v * {alpha}",
        dict(alpha=0.01),
    ),
    "HardSigmoid": (
        lambda x, a: np.clip(a["alpha"] * x + a["beta"], 0.0, 1.0),
        "tm_clampf({alpha} * v + {beta}, 0.0f, 1.0f)",
        dict(alpha=0.2, beta=0.5),
    ),
    "HardSwish": (
        lambda x, a: x * np.clip(x / 6.0 + 0.5, 0.0, 1.0),
        "v * tm_clampf(v / 6.0f + 0.5f, 0.0f, 1.0f)",
        {},
    ),
    "Elu": (
        lambda x, a: np.where(x > 0, x, a["alpha"] * (np.exp(np.minimum(x, 0)) - 1)),
        "v > 0.0f ? v : {alpha} * (expf(v) - 1.0f)",
        dict(alpha=1.0),
    ),
    "Softplus": (lambda x, a: np.logaddexp(0.0, x), "v > 20.0f ? v : logf(1.0f + expf(v))", {}),
    "Exp": (lambda x, a: np.exp(x), "expf(v)", {}),
    "Abs": (lambda x, a: np.abs(x), "v < 0.0f ? -v : v", {}),
    "Neg": (lambda x, a: -x, "-v", {}),
    "Erf": (lambda x, a: _erf(x), "erff(v)", {}),
    "Gelu": (
        lambda x, a: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))),
        "0.5f * v * (1.0f + erff(v * 0.707106781f))",
        {},
    ),
    "GeluTanh": (
        lambda x, a: 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3))),
        "0.5f * v * (1.0f + tanhf(0.797884561f * (v + 0.044715f * v * v * v)))",
        {},
    ),
}
_FIXED = {
    "sigmoid": (lambda x: 1.0 / (1.0 + np.exp(-x)), (1.0 / 256, -128)),
    "tanh": (np.tanh, (1.0 / 128, 0)),
}


def unary_attrs(op_type: str, given: dict) -> dict:
    """The node's attributes over the defaults of ``op_type``."""
    return {k: float(given.get(k, v)) for k, v in UNARY_FUNCTIONS[op_type][2].items()}


def unary_numpy(op_type: str, x: np.ndarray, attrs: dict) -> np.ndarray:
    return UNARY_FUNCTIONS[op_type][0](np.asarray(x, dtype=np.float64), attrs)


def unary_c_expression(op_type: str, attrs: dict, fmt_float) -> str:
    return UNARY_FUNCTIONS[op_type][1].format(**{k: fmt_float(v) for k, v in attrs.items()})


def _params(attrs: dict) -> dict:
    return {k: v for k, v in attrs.items() if k != "function"}


@ONNX_OPS.register("Sigmoid")
def translate_sigmoid(imp, node, a):
    imp.add("sigmoid", node, [node.input[0]])


@ONNX_OPS.register("Tanh")
def translate_tanh(imp, node, a):
    imp.add("tanh", node, [node.input[0]])


def translate_unary(imp, node, a):
    op = node.op_type
    if op == "Gelu" and a.pop("approximate", b"none") in (b"tanh", "tanh"):
        op = "GeluTanh"
    imp.add("unary", node, [node.input[0]], dict(function=op, **unary_attrs(op, a)))


for _op in UNARY_FUNCTIONS:
    if _op != "GeluTanh":  # not an ONNX op: Gelu(approximate="tanh")
        ONNX_OPS.register(_op, translate_unary)


class FixedFunction(Op):
    """Sigmoid or Tanh: fixed output scales, float C from the kernel file."""

    layout = "follow"

    def __init__(self, name: str):
        self.name = name
        self.fn, self.output_qparams = _FIXED[name]

    def run_float(self, node, xs):
        x = xs[0] if self.name == "tanh" else xs[0].astype(np.float64)
        return self.fn(x).astype(np.float32)

    def quantize(self, node, ins, out_q, bits, mode):
        table = lut_table(self.fn, ins[0], out_q)
        return qnode(node, "lut", dict(function=self.name), dict(table=table))

    def emit_c(self, em, step):
        node = step.node
        em.need(self, self.name)
        em.uses_math = True
        em.call(
            step.comment,
            f"tm_{self.name}({em.ptr(node.inputs[0])}, {em.ptr(node.output)}, {em.size(node.output)});",
        )


class Unary(Op):
    name = "unary"
    layout = "follow"

    def run_float(self, node, xs):
        return unary_numpy(node.attrs["function"], xs[0], _params(node.attrs)).astype(np.float32)

    def quantize(self, node, ins, out_q, bits, mode):
        a = node.attrs
        table = lut_table(lambda r: unary_numpy(a["function"], r, _params(a)), ins[0], out_q)
        return qnode(node, "lut", dict(a), dict(table=table))

    def emit_c(self, em, step):
        from ..c_emit import fmt_float

        node, a = step.node, step.node.attrs
        fn = f"tm_{step.tag}_{a['function'].lower()}"
        expr = unary_c_expression(a["function"], _params(a), fmt_float)
        em.define(
            f"static void {fn}(const float *x, float *y, int32_t n)\n{{\n    int32_t i;\n"
            f"    for (i = 0; i < n; ++i) {{\n        const float v = x[i];\n        y[i] = {expr};\n    }}\n}}"
        )
        em.uses_math = True
        em.call(
            step.comment, f"{fn}({em.ptr(node.inputs[0])}, {em.ptr(node.output)}, {em.size(node.output)});"
        )


class Lut(Op):
    """The int8 form of every element-wise function: ``y = table[x + 128]``."""

    name = "lut"
    layout = "follow"

    def run_int(self, node, xs):
        return node.arrays["table"][xs[0].astype(np.int64) + 128]

    def export_qdq(self, b, node, xs):
        fn = node.attrs["function"]
        if fn in ("sigmoid", "tanh"):
            return b.node("Sigmoid" if fn == "sigmoid" else "Tanh", [xs[0]])
        if fn in ("Gelu", "GeluTanh"):
            return _gelu(b, xs[0], fn == "GeluTanh")
        return b.node(fn, [xs[0]], **{k: float(v) for k, v in _params(node.attrs).items()})

    def in_place(self, em, node):
        return True

    def emit_c(self, em, step):
        node = step.node
        em.need(self, "lut")
        t = em.array("int8_t", f"{step.tag}_table", node.arrays["table"])
        em.call(
            step.comment,
            f"tm_lut({em.ptr(node.inputs[0])}, {em.ptr(node.output)}, {em.size(node.output)}, {t});",
        )


def _gelu(b, x: str, tanh: bool) -> str:
    """GELU from opset-14 ops: ``0.5 x (1 + erf(x / sqrt 2))`` or its tanh approximation."""

    def c(v: float) -> str:
        return b.init("gelu_c", np.array(v, np.float32))

    if tanh:
        cube = b.node("Mul", [b.node("Mul", [x, x]), x])
        inner = b.node("Mul", [b.node("Add", [x, b.node("Mul", [cube, c(0.044715)])]), c(0.7978845608)])
        t = b.node("Tanh", [inner])
    else:
        t = b.node("Erf", [b.node("Mul", [x, c(0.7071067812)])])
    return b.node("Mul", [b.node("Mul", [x, c(0.5)]), b.node("Add", [t, c(1.0)])])


OPS.register("sigmoid", FixedFunction("sigmoid"))
OPS.register("tanh", FixedFunction("tanh"))
OPS.register("unary", Unary())
OPS.register("lut", Lut())
