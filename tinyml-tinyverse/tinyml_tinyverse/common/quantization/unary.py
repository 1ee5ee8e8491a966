"""Element-wise functions compiled as 256-entry int8 lookup tables (int8) or one C expression (float).

Each entry: ONNX op -> (numpy function of ``(x, attrs)``, C float expression in ``v`` and the attrs,
default attrs). The int8 table of a node is ``f`` evaluated on the 256 dequantized input values and
requantized to the output's observed scale, so any such function is exact to one rounding.
"""

from __future__ import annotations

import math

import numpy as np


def _erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[np.float64])(x)


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


def unary_attrs(op_type: str, given: dict) -> dict:
    """The node's attributes over the defaults of ``op_type``."""
    defaults = UNARY_FUNCTIONS[op_type][2]
    return {k: float(given.get(k, v)) for k, v in defaults.items()}


def unary_numpy(op_type: str, x: np.ndarray, attrs: dict) -> np.ndarray:
    return UNARY_FUNCTIONS[op_type][0](np.asarray(x, dtype=np.float64), attrs)


def unary_c_expression(op_type: str, attrs: dict, fmt_float) -> str:
    return UNARY_FUNCTIONS[op_type][1].format(**{k: fmt_float(v) for k, v in attrs.items()})
