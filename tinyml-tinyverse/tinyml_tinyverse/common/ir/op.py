"""The op registries of the compiler, filled by the family files of ``tinyml_tinyverse.common.ir.ops``.

- :data:`ONNX_OPS`: ONNX op type -> translator ``fn(imp, node, attrs)`` that adds IR nodes through
  the importer ``imp`` (:class:`~.importer.Importer`).
- :data:`OPS`: IR op name -> :class:`Op`, everything the compiler does with one op: its float run,
  its quantization, its integer run, its QDQ export and its C.

Both registries import every module of their packages on first use, so an op family is one file
(plus its C in a ``.c`` file beside it) and adding a file is enough. A package of your own joins
with :func:`add_op_package`. An unknown name gets the registry's near-match error.
"""

from __future__ import annotations

from typing import Any

from ..errors import CompilationError, UnknownNameError
from ..registry import Registry

OPS_PACKAGE = "tinyml_tinyverse.common.ir.ops"
ONNX_OPS = Registry("ONNX op", locations=[OPS_PACKAGE])
OPS = Registry("compiler op", locations=[OPS_PACKAGE])


def add_op_package(package: str) -> None:
    """Register the ops defined by the modules of ``package`` (imported on the next lookup)."""
    ONNX_OPS.add_location(package)
    OPS.add_location(package)


def op_of(node: Any) -> Op:
    """The :class:`Op` of a node; an unknown op names the node and the closest known ops."""
    try:
        return OPS[node.op]
    except UnknownNameError as exc:
        raise CompilationError(f"node {node.name!r}: {exc}") from None


class Op:
    """One IR op. A family file subclasses it per op and registers an instance in :data:`OPS`.

    ``output_qparams`` says how the output of the float op is quantized: ``"observed"`` (its
    calibrated range), ``"input"`` (the first input's scale and zero point) or a fixed
    ``(scale, zero_point)``. ``layout`` is the int8 C memory layout rule: ``"channel_last"`` (reads
    channel-last input, writes either layout), ``"follow"`` (element-wise: any layout, output as the
    inputs), ``"canonical"`` (needs C-contiguous NCHW tensors).
    """

    name = ""
    output_qparams: str | tuple[float, int] = "observed"
    layout = "canonical"

    def _missing(self, what: str, node: Any) -> CompilationError:
        return CompilationError(f"node {node.name!r}: op {self.name!r} has no {what}")

    # -- numpy
    def run_float(self, node, xs: list):
        """float32 output of ``node`` on batch inputs ``xs``."""
        raise self._missing("float executor", node)

    def quantize(self, node, ins: list[dict], out_q: dict, bits: int, mode: int):
        """The :class:`~.graph.QNode` of a float node, given its tensors' ``scale``/``zero_point``."""
        raise self._missing("quantization", node)

    def run_int(self, node, xs: list):
        """int8 output of a quantized ``node`` on int8 batch inputs ``xs`` (the integer reference)."""
        raise self._missing("integer reference", node)

    # -- export
    def export_qdq(self, b, node, xs: list[str]) -> str:
        """Add the float ONNX nodes of a quantized node to the QDQ builder ``b``; return the output name."""
        raise self._missing("QDQ export", node)

    # -- C
    def emit_c(self, em, step) -> None:
        """Emit the C of ``step`` (its node and any fused ones) through the emitter ``em``."""
        raise self._missing("C kernel", step.node)

    def layout_rule(self, em, node) -> str:
        """The memory layout rule of ``node`` in ``em``'s model (see ``layout``; float C is all NCHW)."""
        return self.layout if em.int8 else "canonical"

    def macs(self, em, node) -> int:
        """Multiply-accumulates of one inference of ``node``."""
        return 0

    def fuse(self, em, node, consumer) -> bool:
        """Whether ``consumer`` (the only reader of ``node``'s output) is computed inside ``node``'s kernel."""
        return False

    def in_place(self, em, node) -> bool:
        """Whether the C kernel may write its output over its first input (when that input dies here)."""
        return False
