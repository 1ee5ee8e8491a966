"""Fixed-point transforms against a scalar integer reference (the C model) and the float FFT."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tinyml_tinyverse.common.datasets import validate_data_config
from tinyml_tinyverse.common.errors import ConfigError
from tinyml_tinyverse.common.transforms import FEATURE_REGISTRY, FrameContext, Recording, extract_features


def sat(v: int) -> int:
    return max(-32768, min(32767, v))


def ref_fft_q15(x: list[int]) -> tuple[list[int], list[int]]:
    """Scalar radix-2 DIT FFT in Q15, written the way the C code is: one butterfly at a time."""
    n = len(x)
    bits = n.bit_length() - 1
    rev = [int(format(i, f"0{bits}b")[::-1], 2) for i in range(n)]
    re, im = [x[r] for r in rev], [0] * n
    m = 1
    while m < n:
        for start in range(0, n, 2 * m):
            for k in range(m):
                angle = 2 * math.pi * k / (2 * m)
                wr, wi = sat(round(math.cos(angle) * 32768)), sat(round(-math.sin(angle) * 32768))
                a, b = start + k, start + k + m
                tr = (re[b] * wr - im[b] * wi) >> 15
                ti = (re[b] * wi + im[b] * wr) >> 15
                re[a], re[b] = sat((re[a] + tr) >> 1), sat((re[a] - tr) >> 1)
                im[a], im[b] = sat((im[a] + ti) >> 1), sat((im[a] - ti) >> 1)
        m *= 2
    return re, im


def run(names, x, **cfg):
    full = validate_data_config({"feat_ext_transform": names, **cfg})
    ctx = FrameContext(np.zeros(len(x), np.int64), np.zeros(len(x), np.int64), np.zeros(len(x), np.int64))
    for n in names:
        x = FEATURE_REGISTRY[n](full)(x, ctx)
    return x


@pytest.fixture
def frames():
    rng = np.random.default_rng(5)
    t = np.arange(64)
    x = 0.6 * np.sin(2 * np.pi * 5 * t / 64)[None, None] + 0.2 * rng.normal(size=(3, 2, 64))
    return np.clip(x, -0.99, 0.99).astype(np.float32)


def test_to_q15(frames):
    q = run(["TO_Q15"], frames, q15_full_scale=2.0)
    assert q.dtype == np.int64
    flat = frames.reshape(-1)
    want = [sat(round(float(v) * 16384)) for v in flat]
    assert q.reshape(-1).tolist() == want


def test_fft_q15_is_bit_exact_with_the_scalar_reference(frames):
    q = run(["TO_Q15"], frames)
    spec = run(["FFT_Q15"], q)
    for i in range(3):
        for c in range(2):
            re, im = ref_fft_q15(q[i, c].tolist())
            assert spec[i, c].real.astype(np.int64).tolist() == re
            assert spec[i, c].imag.astype(np.int64).tolist() == im
    # and it approximates FFT(x) / n within a few LSB per stage
    want = np.fft.fft(q.astype(np.float64), axis=-1) / 64
    assert np.abs(spec - want).max() < 8


def test_magnitude_scale_and_bins_match_integer_formulas(frames):
    spec = run(["TO_Q15", "FFT_Q15", "FFT_POS_HALF"], frames)
    mag = run(["Q15_MAG"], spec)
    re, im = spec.real.astype(np.int64), spec.imag.astype(np.int64)
    assert mag.reshape(-1).tolist() == [
        math.isqrt(int(a * a + b * b)) for a, b in zip(re.reshape(-1), im.reshape(-1))
    ]
    scaled = run(["Q15_SCALE"], mag, q15_scale_factor=3.7)
    m = round(3.7 * 32768)
    assert scaled.reshape(-1).tolist() == [sat((int(v) * m + (1 << 14)) >> 15) for v in mag.reshape(-1)]
    binned = run(["BIN_Q15"], scaled, feature_size_per_frame=8)
    want = [
        [[sum(int(v) for v in scaled[i, c, 4 * b : 4 * b + 4]) >> 2 for b in range(8)] for c in range(2)]
        for i in range(3)
    ]
    assert binned.tolist() == want


def test_isqrt_edges_and_saturation():
    from tinyml_tinyverse.common.transforms.fixed_point import isqrt

    v = np.array([0, 1, 2, 3, 4, 15, 16, 17, 2**31 - 1, 2**31, 2 * 32768**2], np.int64)
    assert isqrt(v).tolist() == [math.isqrt(int(a)) for a in v]
    loud = np.full((1, 1, 8), 5.0, np.float32)
    assert run(["TO_Q15"], loud).max() == 32767


def test_q15_errors(frames):
    with pytest.raises(ConfigError, match="TO_Q15"):
        run(["FFT_Q15"], frames)
    with pytest.raises(ConfigError, match="power-of-two"):
        run(["TO_Q15", "FFT_Q15"], frames[..., :48])
    with pytest.raises(ConfigError, match="power-of-two number"):
        run(["TO_Q15", "BIN_Q15"], frames, feature_size_per_frame=5)


def test_fixed_point_pipeline_end_to_end():
    x = np.random.default_rng(0).uniform(-0.5, 0.5, size=(512, 1)).astype(np.float32)
    cfg = validate_data_config(
        {
            "frame_size": 128,
            "feature_size_per_frame": 16,
            "feat_ext_transform": ["TO_Q15", "FFT_Q15", "FFT_POS_HALF", "Q15_MAG", "Q15_SCALE", "BIN_Q15"],
            "q15_scale_factor": 4.0,
        }
    )
    out = extract_features([Recording(x)], cfg).X
    assert out.shape == (4, 1, 16, 1)
    assert np.array_equal(out, np.round(out)) and out.min() >= 0
