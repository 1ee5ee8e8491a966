"""Moved to :mod:`tinyml_tinyverse.common.ir.ops.unary`; kept for old imports."""

from ..ir.ops.unary import UNARY_FUNCTIONS, unary_attrs, unary_c_expression, unary_numpy  # noqa: F401
