"""Per-layer requantization in C: the cheapest form of THE rounding rule that is exact for a layer."""

from __future__ import annotations

import numpy as np

from ...errors import CompilationError

POW2_MULT = 1 << 30


class Requant:
    """``out(acc, oc)``: requantize an int32 accumulator of output channel ``oc`` to int8.

    Forms, chosen per layer from its multipliers and the bounds of its accumulators:
    - power-of-two scales (every multiplier ``2^30``): ``(acc + 2^(r-1)) >> r`` with ``r = shift - 30``
      (one shift table of int8, or one constant), when every ``r >= 1`` and the sum fits 32 bits;
    - shifts of 33 or more: the high word of ``acc * mult`` then ``(hi + 2^(r-1)) >> r``, ``r = shift - 32``
      (exact: the rounding constant ``2^(shift-1)`` is a multiple of ``2^32``);
    - otherwise THE rule in 64 bits (``tm_requant``).
    Tables: ``<tag>_m`` (int32 multipliers, not in the power-of-two forms), ``<tag>_r`` (int8 shifts).
    """

    def __init__(self, em, tag: str, mult, shift, bound, out_zp: int, lo: int, hi: int):
        mult = np.asarray(mult, dtype=np.int64).ravel()
        shift = np.asarray(shift, dtype=np.int64).ravel()
        bound = np.asarray(bound, dtype=np.int64).ravel()
        if len(bound) == 1:
            bound = np.full(len(mult), int(bound[0]), dtype=np.int64)
        self.tag, self.out_zp, self.lo, self.hi = tag, int(out_zp), int(lo), int(hi)
        self.mult_table = self.shift_table = None
        pow2 = bool(np.all(mult == POW2_MULT))
        r = shift - 30
        if pow2 and np.all(r >= 1) and np.all(r <= 31) and np.all(bound + (1 << (r - 1)) < 2**31):
            self.form = "pow2"
            if len(set(r.tolist())) == 1:
                self.const_shift = int(r[0])
            else:
                self.const_shift = None
                self.shift_table = em.array("int8_t", f"{tag}_r", r)
        elif not pow2 and np.all(shift >= 33) and np.all(shift <= 62):
            self.form = "high_word"
            self.mult_table = em.array("int32_t", f"{tag}_m", mult)
            self.shift_table = em.array("int8_t", f"{tag}_r", shift - 32)
        else:
            if np.any(shift > 127) or np.any(shift < 1):
                raise CompilationError(f"layer {tag}: requantization shifts {shift.tolist()} do not fit int8")
            self.form = "general"
            if not pow2:
                self.mult_table = em.array("int32_t", f"{tag}_m", mult)
            self.shift_table = em.array("int8_t", f"{tag}_r", shift)
            em.need_common("common")

    def function(self) -> str:
        """``static inline int8_t <tag>_out(int32_t acc, int32_t oc)``."""
        t = self.tag
        if self.form == "pow2" and self.const_shift is not None:
            r = self.const_shift
            body = [f"int32_t v = (acc + {1 << (r - 1)}) >> {r};", "(void)oc;"]
        elif self.form == "pow2":
            body = [f"const int32_t r = {self.shift_table}[oc];", "int32_t v = (acc + (1 << (r - 1))) >> r;"]
        elif self.form == "high_word":
            body = [
                f"const int32_t r = {self.shift_table}[oc];",
                f"const int32_t h = (int32_t)(((int64_t)acc * {self.mult_table}[oc]) >> 32);",
                "int32_t v = (h + (1 << (r - 1))) >> r;",
            ]
        else:
            m = f"{self.mult_table}[oc]" if self.mult_table else str(POW2_MULT)
            body = [f"int32_t v = tm_requant(acc, {m}, {self.shift_table}[oc]);"]
        lines = "\n".join(f"    {b}" for b in body)
        return (
            f"static inline int8_t {t}_out(int32_t acc, int32_t oc)\n{{\n{lines}\n    v += {self.out_zp};\n"
            f"    return (int8_t)(v < {self.lo} ? {self.lo} : (v > {self.hi} ? {self.hi} : v));\n}}\n"
        )
