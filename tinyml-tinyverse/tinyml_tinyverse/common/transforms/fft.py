"""The real FFT that runs on the chip, in numpy (vectorised over frames) and as generated C.

Textbook algorithm (Cooley-Tukey decimation in time; the real-input split of Sorensen et al.,
"Real-valued fast Fourier transform algorithms", 1987): a real frame ``x`` of ``N = 2M`` samples
is packed into ``M`` complex values ``z[n] = x[2n] + i x[2n+1]`` in bit-reversed order; radix-4
stages (groups of 4, 16, ...; the first one, whose twiddles are all 1, reads the packed input
directly) and, when ``log2 M`` is odd, a last radix-2 stage give ``Z = FFT_M(z)``; the split step
turns ``Z`` into the bins ``X[0 .. M]`` of the real FFT::

    X[k] = E[k] + W_N^k O[k],  E = (Z[k] + conj Z[M-k]) / 2,  O = (Z[k] - conj Z[M-k]) / 2i

for ``k = 0 .. M/2`` with ``Z[M] = Z[0]`` (``k = 0`` gives the DC and Nyquist bins with the same
formula), ``X[M-k] = conj(E[k] - W_N^k O[k])``.

Float path (:func:`rfft_float`): float32 arithmetic, each product and sum rounded on its own as in
C without fused multiply-add, so numpy and the generated C agree bit for bit. Twiddles are
``cos`` / ``-sin`` computed in float64 and rounded to float32 (exact 0 and +-1 where the angle is a
multiple of pi/2). The result is the FFT itself.

Fixed-point path (:func:`rfft_q15`): int16 input (saturated), int32 arithmetic, twiddles
``round(cos * 32768)`` held in int32 (so 1.0 is exact), products rounded ``(p + 2^14) >> 15``, each
radix-4 stage scaled ``(v + 2) >> 2``, the radix-2 stage ``(v + 1) >> 1``, the split
``X = (Z[k] + conj Z[M-k] + 2 W_N^k O' + 2) >> 2`` with ``O' = ((Z[k] - conj Z[M-k]) / i + 1) >> 1``:
the result is ``FFT(x) / N`` in int32 (a full-scale input can exceed the int16 range by a
few LSB). No intermediate overflows int32: every stage averages, so magnitudes stay below
``sqrt(2) * 32768`` plus a few LSB and every product below ``2^31``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import ConfigError
from .c_code import c_table

Q15_ONE = 32768


def is_power_of_two(n: int) -> bool:
    return n >= 2 and not n & (n - 1)


def stage_plan(m: int) -> list[tuple[int, int]]:
    """``(radix, group length)`` of the stages of a complex FFT of size ``m``."""
    stages, length = [], 1
    while length * 4 <= m:
        length *= 4
        stages.append((4, length))
    if length < m:
        stages.append((2, m))
    return stages


def _snap(v: np.ndarray) -> np.ndarray:
    """Exact 0 and +-1 where cos / sin are mathematically exact."""
    v = np.where(np.abs(v) < 1e-12, 0.0, v)
    return np.where(np.abs(np.abs(v) - 1) < 1e-12, np.sign(v), v)


def _twiddles(length: int, mults: tuple[int, ...], count: int) -> np.ndarray:
    """Rows ``cos, -sin`` of ``2 pi mult j / length`` for each mult, ``j < count``."""
    j = np.arange(count)
    rows = []
    for mult in mults:
        theta = 2 * np.pi * mult * j / length
        rows += [_snap(np.cos(theta)), _snap(-np.sin(theta))]
    return np.stack(rows) if rows else np.zeros((0, count))


@dataclass(frozen=True)
class FftPlan:
    """Tables of the real FFT of size ``n`` in float64 (each path rounds them its own way)."""

    n: int
    rev: np.ndarray  # bit reversal of log2(m) bits, m = n / 2
    stages: tuple[tuple[int, int], ...]  # (radix, group length)
    stage_twiddles: tuple[np.ndarray, ...]  # radix 4: (6, L/4) W^j, W^2j, W^3j; radix 2: (2, L/2)
    split_twiddles: np.ndarray  # (2, m/2 + 1): W_N^k for k = 0 .. m/2

    @property
    def m(self) -> int:
        return self.n // 2

    def tables(self, q15: bool) -> tuple[list[np.ndarray], np.ndarray]:
        if q15:
            return [np.round(t * Q15_ONE).astype(np.int64) for t in self.stage_twiddles], np.round(
                self.split_twiddles * Q15_ONE
            ).astype(np.int64)
        return [t.astype(np.float32) for t in self.stage_twiddles], self.split_twiddles.astype(np.float32)


@lru_cache(maxsize=32)
def fft_plan(n: int) -> FftPlan:
    """The plan of a real FFT of ``n`` samples (a power of two >= 2)."""
    if not is_power_of_two(n):
        raise ConfigError(f"the real FFT needs a power-of-two frame length, got {n}; change frame_size")
    m = n // 2
    bits = m.bit_length() - 1
    idx = np.arange(m)
    rev = np.zeros(m, np.int64)
    for b in range(bits):
        rev |= ((idx >> b) & 1) << (bits - 1 - b)
    stages = stage_plan(m)
    tw = [
        _twiddles(length, (1, 2, 3), length // 4) if radix == 4 else _twiddles(length, (1,), length // 2)
        for radix, length in stages
    ]
    split = _twiddles(n, (1,), m // 2 + 1)
    return FftPlan(n, rev, tuple(stages), tuple(tw), split)


# ---------------------------------------------------------------- numpy
class _Float:
    """float32 arithmetic: every product and sum rounded on its own."""

    half = np.float32(0.5)

    @staticmethod
    def mul(ar, ai, wr, wi):
        return ar * wr - ai * wi, ar * wi + ai * wr

    @staticmethod
    def scale(v, shift):
        return v

    @classmethod
    def halve(cls, v):
        return v * cls.half


class _Q15:
    """int32 arithmetic of the fixed-point path (numpy int64 holds it exactly)."""

    @staticmethod
    def mul(ar, ai, wr, wi):
        return (ar * wr - ai * wi + (1 << 14)) >> 15, (ar * wi + ai * wr + (1 << 14)) >> 15

    @staticmethod
    def scale(v, shift):
        return (v + (1 << (shift - 1))) >> shift

    @staticmethod
    def halve(v):
        return (v + 1) >> 1


def _radix4(ar: _Float | _Q15, t0, a2, a1, a3, tw):
    """One radix-4 DIT butterfly on blocks (A0, A2, A1, A3 as stored); returns the 4 outputs."""
    (t0r, t0i), (t1r, t1i) = t0, ar.mul(*a2, tw[2], tw[3]) if tw is not None else a2
    t2r, t2i = ar.mul(*a1, tw[0], tw[1]) if tw is not None else a1
    t3r, t3i = ar.mul(*a3, tw[4], tw[5]) if tw is not None else a3
    s01r, s01i, d01r, d01i = t0r + t1r, t0i + t1i, t0r - t1r, t0i - t1i
    s23r, s23i, d23r, d23i = t2r + t3r, t2i + t3i, t2r - t3r, t2i - t3i
    outs = [(s01r + s23r, s01i + s23i), (d01r + d23i, d01i - d23r)]
    outs += [(s01r - s23r, s01i - s23i), (d01r - d23i, d01i + d23r)]
    return [(ar.scale(r, 2), ar.scale(i, 2)) for r, i in outs]


FRAMES_PER_BLOCK = 128  # frames transformed together, on the last axis (contiguous operands)


def _complex_fft(
    zr: np.ndarray, zi: np.ndarray, plan: FftPlan, ar, stage_tw
) -> tuple[np.ndarray, np.ndarray]:
    """The stages of the size-m complex FFT on bit-reversed ``z (m, frames)``; natural-order result.

    Each radix-4 stage holds its data as ``(block b, j, group g, frames)`` for the element at
    ``g * 4q + b * q + j``, so every operand is one contiguous array and a twiddle multiplies a
    whole ``(g, frames)`` plane; the outputs are reordered into the next stage's layout (the
    arithmetic is exactly the in-place one of the C).
    """
    m, cols = zr.shape
    stages = list(zip(plan.stages, stage_tw))
    radix4 = [(length, tw) for (radix, length), tw in stages if radix == 4]
    if radix4:
        groups = m // 4
        order = np.arange(m).reshape(groups, 4).T  # (b, g) -> position 4g + b
        r, i = zr[order][:, None], zi[order][:, None]  # (4, 1, G, frames)
        for length, tw in radix4:
            q = length // 4
            groups = m // length
            outs = _radix4(
                ar, *[(r[b], i[b]) for b in range(4)], tw[:, :, None, None] if length > 4 else None
            )
            r, i = np.stack([o[0] for o in outs]), np.stack([o[1] for o in outs])  # (b_out, q, G, frames)
            if (
                groups >= 4
            ):  # a radix-4 stage follows: g = 4 g' + b', j' = b_out * q + j -> (b', j', g', frames)
                shape = (4, q, groups // 4, 4, cols)
                r = np.ascontiguousarray(r.reshape(shape).transpose(3, 0, 1, 2, 4)).reshape(
                    4, 4 * q, groups // 4, cols
                )
                i = np.ascontiguousarray(i.reshape(shape).transpose(3, 0, 1, 2, 4)).reshape(
                    4, 4 * q, groups // 4, cols
                )
        zr = np.ascontiguousarray(r.transpose(2, 0, 1, 3)).reshape(m, cols)  # natural: g * 4q + b * q + j
        zi = np.ascontiguousarray(i.transpose(2, 0, 1, 3)).reshape(m, cols)
    for (radix, length), tw in stages:
        if radix == 2:  # the last stage: two halves, twiddles W_m^j
            h = length // 2
            tr, ti = ar.mul(zr[h:], zi[h:], tw[0][:, None], tw[1][:, None])
            zr = np.concatenate([ar.scale(zr[:h] + tr, 1), ar.scale(zr[:h] - tr, 1)])
            zi = np.concatenate([ar.scale(zi[:h] + ti, 1), ar.scale(zi[:h] - ti, 1)])
    return zr, zi


def _rfft(
    x: np.ndarray, ar: _Float | _Q15, q15: bool, bins: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    n = x.shape[-1]
    plan = fft_plan(n)
    m = plan.m
    lead = x.shape[:-1]
    flat = x.reshape(-1, n)
    stage_tw, split_tw = plan.tables(q15)
    split_tw = split_tw[:, :, None]
    k = np.arange(0, m // 2 + 1)
    out_r, out_i = np.empty((m + 1, len(flat)), flat.dtype), np.empty((m + 1, len(flat)), flat.dtype)
    for start in range(0, len(flat), FRAMES_PER_BLOCK):
        xt = flat[start : start + FRAMES_PER_BLOCK].T  # (n, frames)
        cols = xt.shape[1]
        zr, zi = _complex_fft(xt[0::2][plan.rev], xt[1::2][plan.rev], plan, ar, stage_tw)
        zr, zi = np.concatenate([zr, zr[:1]]), np.concatenate([zi, zi[:1]])  # Z[m] = Z[0]
        a_r, a_i, b_r, b_i = zr[k], zi[k], zr[m - k], zi[m - k]
        o_r, o_i = ar.halve(a_i + b_i), ar.halve(b_r - a_r)
        pr, pi = ar.mul(o_r, o_i, split_tw[0], split_tw[1])
        xr, xi = out_r[:, start : start + cols], out_i[:, start : start + cols]
        if q15:  # X = (a + conj b + 2 P + 2) >> 2: one rounding
            sr, si = a_r + b_r, a_i - b_i
            xr[k], xi[k] = (sr + 2 * pr + 2) >> 2, (si + 2 * pi + 2) >> 2
            xr[m - k], xi[m - k] = (sr - 2 * pr + 2) >> 2, (2 * pi - si + 2) >> 2
        else:
            er, ei = ar.halve(a_r + b_r), ar.halve(a_i - b_i)
            xr[k], xi[k] = er + pr, ei + pi
            xr[m - k], xi[m - k] = er - pr, pi - ei
    return out_r.T.reshape(*lead, m + 1), out_i.T.reshape(*lead, m + 1)


def rfft_float(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Real FFT along the last axis in float32: ``(re, im)`` of bins ``0 .. N/2``."""
    return _rfft(np.asarray(x, np.float32), _Float, q15=False)


def sat16(x: np.ndarray) -> np.ndarray:
    """Saturate to the int16 range."""
    return np.clip(x, -32768, 32767)


def rfft_q15(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-point real FFT along the last axis: int64 ``(re, im)`` of bins ``0 .. N/2`` = FFT / N."""
    return _rfft(sat16(np.asarray(x, np.int64)), _Q15, q15=True)


# ---------------------------------------------------------------- C
def _c_twiddles(tw: np.ndarray, q15: bool) -> np.ndarray:
    """Rows (re, im) per twiddle as the C reads them; Q15: (c, d - c, c + d) for 3-product multiplies."""
    if not q15:
        return tw
    out = []
    for c, d in zip(tw[0::2], tw[1::2]):
        out += [c, d - c, c + d]
    return (np.stack(out) if out else tw).astype(np.int64) & 0xFFFFFFFF  # as uint32


def rfft_c_name(n: int, q15: bool) -> str:
    return f"fe_rfft{n}_{'q15' if q15 else 'f32'}"


def rfft_c(n: int, q15: bool) -> str:
    """C99 of ``void <rfft_c_name>(const fe_value_t *restrict x, fe_value_t *restrict out_re,
    fe_value_t *restrict out_im)``.

    Reads ``n`` real values (``.f``, or ``.i`` already saturated to int16 for Q15) and writes the
    bins ``0 .. n/2``: real parts to ``out_re[..]``, imaginary parts to ``out_im[..]``. All loop
    bounds are constants (the compiler unrolls and vectorises); the work arrays are static
    (``2 * (n/2 + 1)`` values).
    """
    plan = fft_plan(n)
    m = plan.m
    name = rfft_c_name(n, q15)
    t = "int32_t" if q15 else "float"
    wt = "uint32_t" if q15 else "float"
    mem = "i" if q15 else "f"
    stage_tw, split_tw = plan.tables(q15)
    first4 = bool(plan.stages) and plan.stages[0] == (4, 4)
    # with a first radix-4 stage only rev(4u) (u < m/4) is needed: rev(k) = 4 rev(4k) for k < m/4
    tables = [c_table("uint16_t", f"{name}_rev", plan.rev[::4] if first4 else plan.rev)]
    for (radix, length), tw in zip(plan.stages, stage_tw):
        if radix == 2 or length > 4:
            tables.append(c_table(wt, f"{name}_w{length}", _c_twiddles(tw, q15).reshape(-1)))
    tables.append(c_table(wt, f"{name}_split", _c_twiddles(split_tw, q15).reshape(-1)))
    tables.append(f"static {t} {name}_re[{m + 1}];\nstatic {t} {name}_im[{m + 1}];\n")

    def mul(dst: str, a: str, w: str, idx: tuple[str, str, str]) -> list[str]:
        """``dst = a * w``; ``idx``: table reads of w's rows (float: re, im; Q15: c, d - c, c + d)."""
        if q15:  # 3 products (Gauss) in wrapping uint32: exact, the true results fit int32
            return [
                f"const uint32_t {dst}k1 = {idx[0]} * (uint32_t)({a}r + {a}i);",
                f"const uint32_t {dst}k2 = {idx[1]} * (uint32_t){a}r;",
                f"const uint32_t {dst}k3 = {idx[2]} * (uint32_t){a}i;",
                f"const int32_t {dst}r = (int32_t)({dst}k1 - {dst}k3 + 16384u) >> 15;",
                f"const int32_t {dst}i = (int32_t)({dst}k1 + {dst}k2 + 16384u) >> 15;",
            ]
        return [
            f"const float {w}r = {idx[0]}, {w}i = {idx[1]};",
            f"const float {dst}r = {a}r * {w}r - {a}i * {w}i;",
            f"const float {dst}i = {a}r * {w}i + {a}i * {w}r;",
        ]

    def rows(table: str, count: int, index: str, first: int) -> tuple[str, str, str]:
        return tuple(f"{table}[{(first + r) * count} + {index}]" for r in range(3 if q15 else 2))

    def scaled(expr: str, shift: int) -> str:
        return f"({expr} + {1 << (shift - 1)}) >> {shift}" if q15 else expr

    def halve(expr: str) -> str:
        return f"({expr} + 1) >> 1" if q15 else f"({expr}) * 0.5f"

    def radix4(q: str, wtab: str | None) -> list[str]:
        """Butterfly on t0 (block 0) and a2, a1, a3 (blocks 1, 2, 3); writes w0..w3 (re, im)."""
        lines = []
        if wtab is None:
            lines += [f"const {t} t1r = a2r, t1i = a2i, t2r = a1r, t2i = a1i, t3r = a3r, t3i = a3i;"]
        else:
            per = 3 if q15 else 2
            lines += [
                *mul("t1", "a2", "w2", rows(wtab, int(q), "j", per)),
                *mul("t2", "a1", "w1", rows(wtab, int(q), "j", 0)),
                *mul("t3", "a3", "w3", rows(wtab, int(q), "j", 2 * per)),
            ]
        lines += [
            f"const {t} s01r = t0r + t1r, s01i = t0i + t1i, d01r = t0r - t1r, d01i = t0i - t1i;",
            f"const {t} s23r = t2r + t3r, s23i = t2i + t3i, d23r = t2r - t3r, d23i = t2i - t3i;",
        ]
        return lines

    outs4 = [("s01r + s23r", "s01i + s23i"), ("d01r + d23i", "d01i - d23r")]
    outs4 += [("s01r - s23r", "s01i - s23i"), ("d01r - d23i", "d01i + d23r")]
    later = plan.stages[1:] if first4 else plan.stages
    loop_vars = ["n"] + (["g"] if later else []) + (["j"] if any(r == 4 for r, _ in later) else [])
    body = [
        f"static void {name}(const fe_value_t *restrict x, fe_value_t *restrict out_re, fe_value_t *restrict out_im)",
        "{",
        f"    {t} *restrict re = {name}_re;",
        f"    {t} *restrict im = {name}_im;",
        f"    int32_t {', '.join(loop_vars)};",
    ]
    stages = list(plan.stages)
    # first radix-4 stage (twiddles 1) for k < m/4 in natural order on z[k], z[k + m/2], z[k + m/4],
    # z[k + 3m/4] (contiguous reads); its 4 outputs go to out_re/out_im[4k .. 4k + 3] as scratch and
    # the next stage reads the group of k from there at its bit-reversed position rev(k)
    gather = first4 and len(plan.stages) > 1 and plan.stages[1][0] == 4
    if first4:
        stages.pop(0)
        q = m // 4
        load = []
        for var, off in (("t0", 0), ("a2", m), ("a1", m // 2), ("a3", 3 * m // 2)):
            o = f" + {off}" if off else ""
            load += [f"const {t} {var}r = x[2 * n{o}].{mem}, {var}i = x[2 * n{o} + 1].{mem};"]
        body += [f"    for (n = 0; n < {q}; ++n) {{ /* radix-4 stage, groups of 4 */"]
        body += ["        " + ln for ln in load + radix4("1", None)]
        for b, (er_, ei_) in enumerate(outs4):
            o = f" + {b}" if b else ""
            body += [
                f"        out_re[4 * n{o}].{mem} = {scaled(er_, 2)};",
                f"        out_im[4 * n{o}].{mem} = {scaled(ei_, 2)};",
            ]
        body += ["    }"]
        if not gather:
            body += [f"    for (n = 0; n < {q}; ++n) {{ /* to bit-reversed order */"]
            for b in range(4):
                o, p = (f" + {b}", f" + {b}") if b else ("", "")
                body += [
                    f"        re[4 * {name}_rev[n]{p}] = out_re[4 * n{o}].{mem};",
                    f"        im[4 * {name}_rev[n]{p}] = out_im[4 * n{o}].{mem};",
                ]
            body += ["    }"]
    else:
        body += [
            f"    for (n = 0; n < {m}; ++n) {{ /* bit-reversed load */",
            f"        re[{name}_rev[n]] = x[2 * n].{mem};",
            f"        im[{name}_rev[n]] = x[2 * n + 1].{mem};",
            "    }",
        ]
    for radix, length in stages:
        w = f"{name}_w{length}"
        if radix == 4:
            q = length // 4
            load = [
                f"const {t} t0r = r[j], t0i = i[j];",
                f"const {t} a2r = r[j + {q}], a2i = i[j + {q}];",
                f"const {t} a1r = r[j + {2 * q}], a1i = i[j + {2 * q}];",
                f"const {t} a3r = r[j + {3 * q}], a3i = i[j + {3 * q}];",
            ]
            if gather:  # groups of 16 read the 4 results of k = rev(g/4 + c) from the scratch
                load = []
                for c, var in enumerate(("t0", "a2", "a1", "a3")):
                    k = f"4 * {name}_rev[(g >> 2) + {c}]"
                    load += [f"const {t} {var}r = out_re[{k} + j].{mem}, {var}i = out_im[{k} + j].{mem};"]
                gather = False
            store = []
            for b, (er_, ei_) in enumerate(outs4):
                off = f" + {b * q}" if b else ""
                store += [f"r[j{off}] = {scaled(er_, 2)};", f"i[j{off}] = {scaled(ei_, 2)};"]
            body += [f"    for (g = 0; g < {m}; g += {length}) {{ /* radix-4 stage, groups of {length} */"]
            body += [f"        {t} *restrict r = re + g;", f"        {t} *restrict i = im + g;"]
            body += [f"        for (j = 0; j < {q}; ++j) {{"]
            body += ["            " + ln for ln in load + radix4(str(q), w) + store] + ["        }", "    }"]
        else:
            h = length // 2
            body += [
                f"    for (g = 0; g < {h}; ++g) {{ /* last stage: radix 2, twiddles W_{m}^g */",
                f"        const {t} ar = re[g], ai = im[g], br = re[g + {h}], bi = im[g + {h}];",
                *["        " + ln for ln in mul("t", "b", "w", rows(w, h, "g", 0))],
                f"        re[g] = {scaled('ar + tr', 1)};",
                f"        im[g] = {scaled('ai + ti', 1)};",
                f"        re[g + {h}] = {scaled('ar - tr', 1)};",
                f"        im[g + {h}] = {scaled('ai - ti', 1)};",
                "    }",
            ]
    split = [f"const {t} ar = re[n], ai = im[n], br = re[{m} - n], bi = im[{m} - n];"]
    split += [f"const {t} o_r = {halve('ai + bi')}, o_i = {halve('br - ar')};"]
    split += mul("p", "o_", "w", rows(f"{name}_split", m // 2 + 1, "n", 0))
    if q15:
        split += [
            "const int32_t sr = ar + br, si = ai - bi, pr2 = 2 * pr, pi2 = 2 * pi;",
            "out_re[n].i = (sr + pr2 + 2) >> 2;",
            "out_im[n].i = (si + pi2 + 2) >> 2;",
            f"out_re[{m} - n].i = (sr - pr2 + 2) >> 2;",
            f"out_im[{m} - n].i = (pi2 - si + 2) >> 2;",
        ]
    else:
        split += [
            f"const float er = {halve('ar + br')}, ei = {halve('ai - bi')};",
            "out_re[n].f = er + pr;",
            "out_im[n].f = ei + pi;",
            f"out_re[{m} - n].f = er - pr;",
            f"out_im[{m} - n].f = pi - ei;",
        ]
    body += [
        f"    re[{m}] = re[0]; /* Z[m] = Z[0] */",
        f"    im[{m}] = im[0];",
        f"    for (n = 0; n < {max(m // 2, 1)}; ++n) {{ /* split: Z -> X[n], X[m - n] */",
        *["        " + ln for ln in split],
        "    }",
    ]
    if m >= 2:
        body += [f"    n = {m // 2}; /* the middle bin pairs with itself */", "    {"]
        body += ["        " + ln for ln in split] + ["    }"]
    body += ["}", ""]
    return "".join(tables) + "\n".join(body)
