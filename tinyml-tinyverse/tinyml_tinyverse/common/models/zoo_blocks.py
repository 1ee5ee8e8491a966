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


def fold_variables(layers: DictPlus, shape: tuple[int, int, int], prefix: str = "") -> tuple[int, int, int]:
    """NPU input: ``(V, T, 1)`` -> ``(1, T, V)`` with a PermuteLayer when V > 1 (time series only).

    The NPU wants one input channel on the first conv; a first conv with kernel ``(k, V)`` and
    padding ``(k // 2, 0)`` then sees all variables, with exactly the parameters of a ``V``-channel
    ``(k, 1)`` conv.
    """
    c, h, w = shape
    if c > 1 and w == 1:
        layers += {f"{prefix}fold_variables": dict(type="PermuteLayer", dims=[2, 1, 0])}
        return (1, h, c)
    return shape


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

    ``npu=True`` folds several input variables into the first conv's kernel width
    (:func:`fold_variables`), so the first conv has one input channel. Strides and pools shrink
    so that at least ``min_rows`` rows remain.
    """
    variables = shape[0]
    if npu:
        shape = fold_variables(layers, shape, prefix)
    folded = variables > 1 and shape[0] == 1
    c, h, w = shape
    for i, (out_c, k, s, pool) in enumerate(stages, 1):
        if out_c is not None:
            s = fit_factor(s, h, min_rows)
            if folded:  # kernel spans all variables, output width 1
                args = dict(kernel_size=(k, w), stride=(s, 1), padding=(k // 2, 0))
                w, folded = 1, False
            else:
                args = dict(kernel_size=hw(k, w), stride=hw(s, w))
                w = w if w == 1 else (w - 1) // s + 1
            layers += {f"{prefix}conv{i}": dict(type=block, out_channels=out_c, **args)}
            c, h = out_c, (h - 1) // s + 1
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
