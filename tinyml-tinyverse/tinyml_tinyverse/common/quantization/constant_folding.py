"""Moved to :mod:`tinyml_tinyverse.common.ir.constant_folding`; kept for old imports."""

from ..ir.constant_folding import FOLDABLE, describe_node, fold_constant_node, int_list, node_attrs  # noqa: F401
