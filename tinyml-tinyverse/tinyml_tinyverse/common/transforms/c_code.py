"""The C side of a feature transform: what a step's C emission receives and returns.

Every feature transform that can run on the chip implements ``c_step(ctx: CContext) -> CStep``
next to its Python code, so a transform added as one file brings its C with it. The generator
(:mod:`tinyml_tinyverse.common.compilation.frontend_c`) chains the steps of one frame:

- values travel in buffers of ``fe_value_t`` (a union of ``float f`` and ``int32_t i``); a complex
  value takes two consecutive entries (real, imaginary);
- an in-place step (``CStep.in_place``) reads and writes ``buf``; another reads ``src`` and
  writes ``dst`` (never the same buffer, both ``restrict``); ``channel`` (``int32_t``) is the
  channel of the frame; ``n`` and ``k`` are declared ``int32_t`` loop counters;
- ``decls`` are file-scope declarations (tables, helper functions), deduplicated by their text.

The C must compute what the Python step computes: bit for bit on integer (Q15) data, and with
the same float32 operations in the same order on float data (so that C and Python agree to a
few units in the last place; only ``logf`` / ``sqrtf`` of the C library may differ by one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError


@dataclass(frozen=True)
class CSignal:
    """What flows from one C step to the next.

    ``length`` values per frame as in Python (a complex value counts once); the C code computes
    only the first ``avail`` of them (what later steps use). A complex signal keeps its real parts
    in entries ``0 ..`` and its imaginary parts in entries ``stride ..``.
    """

    length: int
    complex: bool = False
    integer: bool = False  # int32 values (fixed point) instead of float
    avail: int = -1  # -1: all ``length`` values
    stride: int = 0

    @property
    def n(self) -> int:
        """Values the buffer holds."""
        return self.length if self.avail < 0 else self.avail

    @property
    def entries(self) -> int:
        """``fe_value_t`` entries the signal takes in a buffer."""
        return self.stride + self.n if self.complex else self.n

    @property
    def member(self) -> str:
        return "i" if self.integer else "f"


@dataclass
class CContext:
    """What a step's C emission may use."""

    signal: CSignal  # what enters the step
    demand: int  # output values the later steps use (the code may compute only these)
    cfg: dict[str, Any]  # the validated data config
    frame_length: int  # samples per frame entering feature extraction
    channels: int  # model input channels
    stats: dict[str, Any]  # train split statistics (STANDARDIZE)
    following: tuple[str, ...] = ()  # names of the steps after this one
    prefix: str = "fe_s0"  # unique identifier prefix for this step's tables


@dataclass
class CStep:
    """The C of one step (see the module docstring for the names the body may use)."""

    out: CSignal
    body: str = ""
    in_place: bool = True
    decls: tuple[str, ...] = field(default_factory=tuple)
    math: bool = False  # the code needs <math.h>
    entries: int = 0  # buffer entries the code touches beyond what ``out`` holds


class NoCImplementation(ConfigError):
    """A configured transform has no C implementation (the chip cannot reproduce it)."""


def c_float(v: float) -> str:
    """A float32 literal that reads back as exactly ``np.float32(v)`` (9 significant digits)."""
    f = np.float32(v)
    if not np.isfinite(f):
        raise ConfigError(f"the value {v} has no finite float32 literal for the generated C")
    text = f"{float(f):.9g}"
    if "e" not in text and "." not in text:
        text += ".0"
    return text + "f"


def c_table(ctype: str, name: str, values: Iterable, per_line: int = 8) -> str:
    """``static const <ctype> name[n] = {...};`` (floats as exact float32 literals)."""
    vals = np.asarray(list(values) if not isinstance(values, np.ndarray) else values).reshape(-1)
    suffix = "u" if ctype.startswith("uint") else ""
    fmt = c_float if ctype == "float" else (lambda v: f"{int(v)}{suffix}")
    items = [fmt(v) for v in vals]
    rows = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    body = ",\n    ".join(rows)
    return f"static const {ctype} {name}[{len(items)}] = {{\n    {body}\n}};\n"


def read_float(sig: CSignal, ref: str) -> str:
    """C expression of entry ``ref`` (e.g. ``src[n]``) as float."""
    return f"(float){ref}.i" if sig.integer else f"{ref}.f"


def block_loops(sig: CSignal, count: int, line: str) -> str:
    """``line`` (indexing ``[o + n ...]``, ``o`` the block offset) over the ``count`` values of
    the real parts and, for a complex signal, of the imaginary parts."""
    offsets = [0, sig.stride] if sig.complex else [0]
    out = []
    for off in offsets:
        body = line.replace("[o + ", f"[{off} + " if off else "[")
        out.append(f"for (n = 0; n < {count}; ++n) {{\n    {body}\n}}")
    return "\n".join(out)


def require_real(sig: CSignal, name: str) -> None:
    if sig.complex:
        raise ConfigError(
            f"{name} works on real values but gets a complex spectrum; put ABS or Q15_MAG before it"
        )


Q15_ROUND_DECL = """static int32_t fe_q15_round(float v)
{
    /* round half to even (as numpy.round), then saturate to int16 */
    v = rintf(v);
    return v >= 32767.0f ? 32767 : (v <= -32768.0f ? -32768 : (int32_t)v);
}
"""
