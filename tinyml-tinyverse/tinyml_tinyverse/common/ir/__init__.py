"""The compiler's intermediate representation, below both quantization and compilation.

- :mod:`.onnx_loader`: the one ONNX loader (file, external data, local functions), which runs the
  checks of :mod:`.onnx_checks` once; :mod:`.importer`: ONNX -> :class:`~.graph.Graph`;
  :mod:`.constant_folding`, :mod:`.passes`: folding and graph passes.
- :mod:`.op`: the op registries ``ONNX_OPS`` (translators) and ``OPS`` (float run, quantization,
  integer run, QDQ export, C emission), filled by one file per op family in :mod:`.ops`;
  :func:`add_op_package` adds a package of your own ops.
- :mod:`.rounding` (THE rounding rule), :mod:`.qparams`, :mod:`.numpy_kernels`, :mod:`.c_emit`:
  what the op families share.
"""

from __future__ import annotations

from typing import Any

from .graph import Graph, Node, QNode, run_float
from .op import ONNX_OPS, OPS, Op, add_op_package

__all__ = ["Graph", "Node", "ONNX_OPS", "OPS", "Op", "QNode", "add_op_package", "import_onnx", "load_onnx_model",
           "run_float"]  # fmt: skip


def __getattr__(name: str) -> Any:  # the ONNX side imports onnx: only on first use
    if name == "import_onnx":
        from .importer import import_onnx

        return import_onnx
    if name == "load_onnx_model":
        from .onnx_loader import load_onnx_model

        return load_onnx_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
