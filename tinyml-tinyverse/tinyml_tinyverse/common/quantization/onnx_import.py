"""Moved to :mod:`tinyml_tinyverse.common.ir` (``ir.importer``, ``ir.onnx_loader``); kept for old imports.

``SUPPORTED_OPS`` lists the ONNX ops the op registry translates (``ir.op.ONNX_OPS``).
"""

from ..ir.importer import import_onnx  # noqa: F401
from ..ir.onnx_loader import load_onnx_model  # noqa: F401
from ..ir.op import ONNX_OPS

SUPPORTED_OPS = ONNX_OPS.names()
