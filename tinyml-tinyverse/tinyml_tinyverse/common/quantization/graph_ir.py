"""Moved to :mod:`tinyml_tinyverse.common.ir` (``ir.graph``, ``ir.numpy_kernels``); kept for old imports."""

from ..ir.graph import Graph, Node, QNode, run_float, run_float_node  # noqa: F401
from ..ir.numpy_kernels import (  # noqa: F401
    as_nchw,
    conv2d,
    conv_out_hw,
    conv_transpose2d,
    pad2d,
    pool2d,
    pool_counts,
    restore_rank,
    slice_nd,
)
