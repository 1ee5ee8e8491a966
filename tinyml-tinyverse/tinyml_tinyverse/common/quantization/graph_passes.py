"""Moved to :mod:`tinyml_tinyverse.common.ir.passes`; kept for old imports."""

from ..ir.passes import fold_batchnorm, fold_dense_bias, fold_pads, fuse_activations, prune_constants  # noqa: F401
