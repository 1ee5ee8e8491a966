"""What an op's C emission writes to: :class:`CEmitter`, and helpers for C text.

An op family emits, per layer, ``const`` arrays (:meth:`CEmitter.array`), static functions or
parameter blocks (:meth:`CEmitter.define`), the statements of the run function
(:meth:`CEmitter.call`) and asks for the kernel sections it needs (:meth:`CEmitter.need`), which
live in the ``.c`` file beside the family's ``.py`` file as ``/* @section <precision>_<name> */``
blocks, or as one ``/* @section any_<name> */`` block for both precisions, written with the element
type ``tm_elem_t`` (``int8_t`` or ``float`` in the emitted C). The compiler (``compilation.codegen_c``) plans the schedule, the memory layouts and the
arena, then assembles ``tinyml_model.c`` from what the ops emitted.
"""

from __future__ import annotations

import inspect
import re
from functools import cache
from pathlib import Path

import numpy as np

from ..errors import CompilationError

FLOAT_MAX = "3.402823466e+38f"
_SECTION_RE = re.compile(r"^/\* @section (\w+) \*/$", re.MULTILINE)
_COMMON_C = Path(__file__).with_name("ops") / "common.c"
ELEM_CTYPE = {"int8": "int8_t", "float": "float"}  # what ``tm_elem_t`` of an any_ section becomes
ELEM_PLACEHOLDER = "tm_elem_t"
CTYPE_BYTES = {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "int32_t": 4, "float": 4}


@cache
def c_sections(path: str) -> dict[str, str]:
    """The named ``/* @section name */`` blocks of a C file."""
    p = Path(path)
    if not p.is_file():
        raise CompilationError(f"the C kernels of an op are missing: {p} not found")
    parts = _SECTION_RE.split(p.read_text())
    return {parts[i]: parts[i + 1].strip("\n") + "\n" for i in range(1, len(parts), 2)}


def fmt_float(v: float) -> str:
    """A C float literal that reads back as exactly ``float32(v)``."""
    v = float(np.float32(v))
    if not np.isfinite(v):
        return FLOAT_MAX if v > 0 else "-" + FLOAT_MAX
    s = f"{v:.9g}"
    if not any(ch in s for ch in ".e"):
        s += ".0"
    return s + "f"


def c_values(ctype: str, values, per_line: int = 16, indent: str = "    ") -> str:
    """The comma-separated initializer of ``values``, wrapped ``per_line`` to a line."""
    flat = np.asarray(values).ravel()
    items = (
        [fmt_float(v) for v in flat.tolist()] if ctype == "float" else [str(int(v)) for v in flat.tolist()]
    )
    if not items:
        items = ["0"]
    return f",\n{indent}".join(", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line))


def c_array(ctype: str, name: str, values: np.ndarray, per_line: int = 16) -> str:
    """``static const ctype name[n] = {...};`` with values wrapped ``per_line`` to a line."""
    n = max(1, np.asarray(values).size)
    return f"static const {ctype} {name}[{n}] = {{\n    {c_values(ctype, values, per_line)}\n}};\n"


def pack_weights(w: np.ndarray, bits: int) -> np.ndarray:
    """Pack int8 values of ``bits`` (4 or 2) bits, lowest bits first, into uint8 bytes."""
    per = 8 // bits
    flat = (w.astype(np.int64).ravel() & ((1 << bits) - 1)).astype(np.uint8)
    flat = np.concatenate([flat, np.zeros((-len(flat)) % per, np.uint8)])
    groups = flat.reshape(-1, per)
    out = np.zeros(len(groups), dtype=np.uint8)
    for k in range(per):
        out |= (groups[:, k] << (k * bits)).astype(np.uint8)
    return out


def chw(shape) -> tuple[int, int, int]:
    """``(C, H, W)`` of a per-sample shape ``(1, C[, H[, W]])``."""
    s = list(shape[1:]) + [1] * (4 - len(shape))
    return int(s[0]), int(s[1]), int(s[2])


_COMMENT_UNSAFE = re.compile(r"[^A-Za-z0-9 _.,:;()<>=+#@%&|~^!$'\"\[\]{}/-]")


def safe_comment(text: str) -> str:
    """User text (node and model names) for a C comment: printable ASCII without ``*``, ``?`` and ``\\``,
    every other character as ``_``, at most 200 characters. Nothing can end the comment (no ``*/``,
    no backslash line splice, no ``??/`` trigraph) or make a compiler warn (``/*`` inside)."""
    return _COMMENT_UNSAFE.sub("_", str(text))[:200]


def act_bounds_f(act) -> tuple[str, str]:
    """C float literals of a fused activation range (the full float range when None)."""
    if act is None:
        return "-" + FLOAT_MAX, FLOAT_MAX
    return fmt_float(act[0]), fmt_float(act[1])


class CEmitter:
    """The C of one model under construction (see the module doc)."""

    def __init__(self, model, precision: str, pack_bits: bool = False):
        self.model = model
        self.precision = precision
        self.int8 = precision == "int8"
        self.ctype = "int8_t" if self.int8 else "float"
        self.elem = 1 if self.int8 else 4
        self.pack_bits = pack_bits
        self.decls: list[str] = []
        self.calls: list[str] = []
        self.sections: list[tuple[str, str]] = [(str(_COMMON_C), f"{precision}_common")]
        self.weights_bytes = 0
        self.const_elements: dict[str, int] = {}  # C type -> elements of the const arrays
        self.uses_math = False
        self.layouts: dict[str, str] = {}
        self.flat_perm: dict[
            str, np.ndarray
        ] = {}  # a flattened channel-last tensor: NCHW index per memory index
        self.pointers: dict[str, str] = {}
        self.extra_shapes: dict[str, tuple[int, ...]] = {}  # tensors the schedule adds (layout copies)
        self.tag = "L0"

    # -- the model
    def shape(self, name: str) -> tuple[int, ...]:
        if name in self.extra_shapes:
            return self.extra_shapes[name]
        if self.int8:
            return tuple(self.model.tensors[name]["shape"])
        return tuple(self.model.shapes[name])

    def size(self, name: str) -> int:
        return int(np.prod(self.shape(name)))

    def is_const(self, name: str) -> bool:
        return name in self.model.constants

    def layout(self, name: str) -> str:
        """``"nchw"`` (C-contiguous in the logical order) or ``"nhwc"`` (channels innermost)."""
        return self.layouts.get(name, "nchw")

    def memory_order(self, name: str) -> list[int]:
        """The logical axes of ``name`` (batch excluded) from the outermost in memory to the innermost."""
        axes = list(range(1, len(self.shape(name))))
        return axes[1:] + axes[:1] if self.layout(name) == "nhwc" and len(axes) >= 2 else axes

    def strides(self, name: str) -> dict[int, int]:
        """Element stride in memory of each logical axis of ``name`` (batch excluded)."""
        shape, out, acc = self.shape(name), {}, 1
        for ax in reversed(self.memory_order(name)):
            out[ax] = acc
            acc *= shape[ax]
        return out

    def ptr(self, name: str) -> str:
        """The C expression of a tensor's first element."""
        return self.pointers[name]

    # -- writing C
    def array(self, ctype: str, name: str, values) -> str:
        """Declare ``static const ctype name[] = {values}`` (flash) and return ``name``."""
        values = np.asarray(values)
        self.decls.append(c_array(ctype, name, values))
        self.weights_bytes += CTYPE_BYTES[ctype] * max(1, values.size)
        self.const_elements[ctype] = self.const_elements.get(ctype, 0) + max(1, values.size)
        return name

    def define(self, text: str) -> None:
        """A static function, table or parameter block of this layer."""
        self.decls.append(text if text.endswith("\n") else text + "\n")

    def call(self, comment: str, code: str) -> None:
        """Statements of the run function for the current layer, under ``/* <tag>: <comment> */``."""
        body = "\n".join(f"    {line}" if line else "" for line in code.strip("\n").split("\n"))
        self.calls.append(f"    /* {self.tag}: {safe_comment(comment)} */\n{body}")

    def need(self, op, section: str) -> None:
        """Include the kernel section ``section`` of the ``.c`` file beside ``op``'s module."""
        self._need(str(Path(inspect.getfile(type(op))).with_suffix(".c")), section)

    def need_common(self, section: str) -> None:
        """Include a section of ``ir/ops/common.c`` (helpers shared by several families)."""
        self._need(str(_COMMON_C), section)

    def _need(self, path: str, section: str) -> None:
        """The precision's own ``<precision>_<section>``, else the one for both, ``any_<section>``."""
        name = f"{self.precision}_{section}"
        if name not in c_sections(path):
            name = f"any_{section}"
        if (path, name) in self.sections:
            return
        if name not in c_sections(path):
            raise CompilationError(
                f"the C section {self.precision}_{section!r} (or any_{section}) is missing from {path}"
            )
        self.sections.append((path, name))

    def kernels(self) -> str:
        elem = ELEM_CTYPE[self.precision]
        return "\n".join(c_sections(p)[s].replace(ELEM_PLACEHOLDER, elem) for p, s in self.sections)


class Step:
    """One layer of the emitted schedule: ``node`` and the nodes fused into its kernel."""

    def __init__(self, node, tag: str, fused: list | None = None, in_place: bool = False):
        self.node = node
        self.tag = tag  # "L<k>": k is the node's index in the model (the memory report's per-layer order)
        self.fused = list(fused or [])
        self.in_place = in_place  # the output overwrites the first input
        self.comment = node.op  # the run function's comment of this step

    @property
    def nodes(self) -> list:
        return [self.node, *self.fused]

    @property
    def output(self) -> str:
        return self.nodes[-1].output
