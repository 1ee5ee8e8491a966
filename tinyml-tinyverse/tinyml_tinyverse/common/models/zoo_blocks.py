"""Spec-building helpers shared by the zoo modules (plain functions returning DictPlus specs).

A stage is ``(out_channels, kernel, stride, pool)``: one ConvBNReLU block with kernel ``(kernel, 1)``
and stride ``(stride, 1)`` on time series (square on images), then a max pool of ``pool`` when
``pool > 1``. ``out_channels=None`` makes a pool-only stage. Strides and pools shrink when the input
is too short for them, so a model made for 512 samples still builds for short windows.
"""

from __future__ import annotations

from typing import Any

from ..utils.py_utils import DictPlus

Stage = tuple[Any, int, int, int]
MIN_SIZE = 3  # keep at least this many rows after any downsampling (GAP rule: H * W > 2)


def hw(k: int, w: int) -> tuple[int, int]:
    """A size along time, ``(k, 1)`` for time series (W = 1), square ``(k, k)`` for images."""
    return (k, 1) if w == 1 else (k, k)


def fit_factor(factor: int, size: int, min_size: int = MIN_SIZE) -> int:
    """The largest of factor, factor // 2, ... that leaves at least ``min_size`` rows (>= 1)."""
    while factor > 1 and size // factor < min_size:
        factor //= 2
    return max(factor, 1)


def add_folded_first_conv(
    layers: DictPlus, shape: tuple[int, int, int], out_c: int, k: int, s: int, block: str, name: str
) -> tuple[int, int, int]:
    """NPU first conv for several variables: one input channel, a kernel spanning all variables.

    ``(V, T, 1)`` is reshaped (a pure view, no data movement) to ``(1, V, T)``; a conv with kernel
    ``(V, k)``, stride ``(1, s)`` and padding ``(0, k // 2)`` gives ``(out_c, 1, T')``, which is
    reshaped to ``(out_c, T', 1)``. The conv has exactly the parameters of a ``V``-channel ``(k, 1)``
    conv, and the first conv has 1 input channel and kernel width ``k`` as the NPU wants.
    """
    v, t, _ = shape
    t_out = (t + 2 * (k // 2) - k) // s + 1
    layers += {f"{name}_fold": dict(type="ReshapeLayer", shape=[1, v, t])}
    layers += {
        name: dict(type=block, out_channels=out_c, kernel_size=(v, k), stride=(1, s), padding=(0, k // 2))
    }
    layers += {f"{name}_unfold": dict(type="ReshapeLayer", shape=[out_c, t_out, 1])}
    return (out_c, t_out, 1)


def add_conv_stages(
    layers: DictPlus,
    stages: list[Stage],
    shape: tuple[int, int, int],
    block: str = "ConvBNReLULayer",
    prefix: str = "",
    npu: bool = False,
    min_rows: int = MIN_SIZE,
) -> tuple[int, int, int]:
    """Append conv(+pool) stages to ``layers``; return the per-sample shape after them.

    ``npu=True`` with several variables on a time series makes the first conv a folded one
    (:func:`add_folded_first_conv`), so it has one input channel. Strides and pools shrink so that
    at least ``min_rows`` rows remain.
    """
    c, h, w = shape
    fold = npu and c > 1 and w == 1
    for i, (out_c, k, s, pool) in enumerate(stages, 1):
        if out_c is not None:
            s = fit_factor(s, h, min_rows)
            if fold:
                c, h, w = add_folded_first_conv(layers, (c, h, w), out_c, k, s, block, f"{prefix}conv{i}")
                fold = False
            else:
                args = dict(kernel_size=hw(k, w), stride=hw(s, w))
                layers += {f"{prefix}conv{i}": dict(type=block, out_channels=out_c, **args)}
                c, h, w = out_c, (h - 1) // s + 1, w if w == 1 else (w - 1) // s + 1
        pool = fit_factor(pool, h, min_rows)
        if pool > 1:
            layers += {f"{prefix}pool{i}": dict(type="MaxPoolLayer", kernel_size=hw(pool, w))}
            h, w = h // pool, w if w == 1 else w // pool
    return c, h, w


def flatten_min_rows(stages: list[Stage], min_features: int = 16) -> int:
    """Rows to keep before a flatten head so the linear layer gets >= ``min_features`` (NPU rule)."""
    last = [c for c, *_ in stages if c is not None][-1]
    return max(MIN_SIZE, -(-min_features // last))


def add_head(layers: DictPlus, head: str, out_features: int, hidden: int = 0, dropout: float = 0.0) -> None:
    """Append a classifier/regressor head: ``'gap'`` (global average pool) or ``'flatten'``."""
    if head == "gap":
        layers += {"gap": dict(type="GlobalAvgPoolLayer")}
    layers += {"flatten": dict(type="ReshapeLayer", ndim=2)}
    if hidden:
        layers += {"fc_hidden": dict(type="LinearBNReLULayer", out_features=hidden)}
    if dropout:
        layers += {"dropout": dict(type="DropoutLayer", p=dropout)}
    layers += {"fc": dict(type="LinearLayer", out_features=out_features)}
