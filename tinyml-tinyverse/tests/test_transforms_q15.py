"""Fixed-point transforms: integer formulas, the Q15 FFT against the float FFT, the Q15 presets."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tinyml_tinyverse.common.datasets import model_input_kwargs, validate_data_config
from tinyml_tinyverse.common.errors import ConfigError
from tinyml_tinyverse.common.transforms import FEATURE_REGISTRY, FrameContext, Recording, extract_features


def sat(v: int) -> int:
    return max(-32768, min(32767, v))


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


def test_to_q15_rounds_half_to_even_and_saturates(frames):
    q = run(["TO_Q15"], frames, q15_full_scale=2.0)
    assert q.dtype == np.int64
    want = [
        sat(round(float(np.float32(v) * np.float32(16384.0)))) for v in frames.reshape(-1)
    ]  # round: half even
    assert q.reshape(-1).tolist() == want
    assert run(["TO_Q15"], np.full((1, 1, 8), 5.0, np.float32)).max() == 32767
    assert run(
        ["TO_Q15"], np.array([[[0.5, 1.5, 2.5, -0.5]]], np.float32), q15_full_scale=32768.0
    ).tolist() == [[[0, 2, 2, 0]]]


@pytest.mark.parametrize("n", [2, 8, 64, 256, 1024])
def test_fft_q15_is_fft_over_n_within_a_few_lsb(n):
    rng = np.random.default_rng(n)
    q = np.round(rng.uniform(-30000, 30000, size=(20, 1, n))).astype(np.int64)
    spec = run(["FFT_Q15"], q)
    assert spec.shape == (20, 1, n) and spec.dtype == np.complex128  # all bins, integer parts
    assert np.array_equal(spec.real, np.round(spec.real)) and np.array_equal(spec.imag, np.round(spec.imag))
    want = np.fft.fft(q.astype(np.float64), axis=-1) / n
    err = np.abs(spec - want)
    assert (
        err.max() < 3.0 and err.mean() < 1.0
    )  # rounded at every stage: well below the 1-LSB-per-stage of truncation


def test_float_samples_are_int16_counts_for_q15_steps(frames):
    counts = np.round(frames * 1000)
    np.testing.assert_array_equal(
        run(["FFT_Q15"], counts.astype(np.float32)), run(["FFT_Q15"], counts.astype(np.int64))
    )
    with pytest.warns(UserWarning, match="int16 counts"):
        run(["FFT_Q15"], frames * 0.1)  # all below 0.5: the user forgot TO_Q15
    with pytest.raises(ConfigError, match="power-of-two"):
        run(["FFT_Q15"], counts[..., :48])


def test_scale_magnitude_and_bins_match_integer_formulas(frames):
    spec = run(["TO_Q15", "FFT_Q15", "FFT_POS_HALF"], frames)
    scaled = run(["Q15_SCALE"], spec, q15_scale_factor=4)  # arm_shift_q15: << 4, saturated
    re, im = spec.real.astype(np.int64), spec.imag.astype(np.int64)
    assert scaled.real.reshape(-1).tolist() == [sat(int(v) << 4) for v in re.reshape(-1)]
    assert scaled.imag.reshape(-1).tolist() == [sat(int(v) << 4) for v in im.reshape(-1)]
    down = run(["Q15_SCALE"], spec, q15_scale_factor=-2)
    assert down.real.reshape(-1).tolist() == [int(v) >> 2 for v in re.reshape(-1)]
    mag = run(["Q15_MAG"], scaled)  # 2.14 format: floor(sqrt(re^2 + im^2)) / 2
    r2, i2 = scaled.real.astype(np.int64).reshape(-1), scaled.imag.astype(np.int64).reshape(-1)
    assert mag.reshape(-1).tolist() == [math.isqrt(int(a * a + b * b)) >> 1 for a, b in zip(r2, i2)]
    no_dc = run(["DC_REMOVE"], mag)
    binned = run(
        ["BIN_Q15"], no_dc, frame_size=64, feature_size_per_frame=8
    )  # 64 // 2 // 8 = 4 values per bin
    want = [
        [[sum(int(v) for v in no_dc[i, c, 4 * b : 4 * b + 4]) // 4 for b in range(8)] for c in range(2)]
        for i in range(3)
    ]
    assert binned.tolist() == want
    neg = run(["BIN_Q15"], np.array([[[-7, -1, 0, 5, 40000, 40000]]]), frame_size=6, feature_size_per_frame=1)
    assert neg.tolist() == [[[-2]]]  # (-7 - 1 + 0) / 3 = -2.67, truncated toward zero as C does
    sat_bins = run(["BIN_Q15"], np.array([[[40000, 40000, 1, 1]]]), frame_size=8, feature_size_per_frame=2)
    assert sat_bins.tolist() == [[[32767, 1]]]


def test_isqrt_edges():
    from tinyml_tinyverse.common.transforms.fixed_point import isqrt

    v = np.array([0, 1, 2, 3, 4, 15, 16, 17, 2**31 - 1, 2**31, 2 * 32768**2, 2**32 - 1], np.int64)
    assert isqrt(v).tolist() == [math.isqrt(int(a)) for a in v]


def test_q15_errors(frames):
    with pytest.raises(ConfigError, match="Q15_MAG"):
        run(["FFT_Q15", "BIN_Q15"], np.round(frames * 1000), feature_size_per_frame=4)
    with pytest.raises(ConfigError, match="q15_scale_factor"):
        validate_data_config({"q15_scale_factor": 2.5})
    with pytest.raises(ConfigError, match="q15_scale_factor"):
        validate_data_config({"q15_scale_factor": 16})


@pytest.mark.parametrize(
    "name, shape",
    [
        ("FFT256Input_FE_RFFT_16Feature_8Frame_removeDC_Full_Bandwidth", (1, 128)),
        ("MotorFault_256Input_FE_RFFT_16Feature_8Frame_3InputChannel_removeDC_1D", (1, 384)),
        ("MotorFault_256Input_FE_RFFT_16Feature_8Frame_3InputChannel_removeDC_2D1", (3, 128)),
        ("FallDetection_256Input_FE_RFFT_8Feature_8Frame_3InputChannel_removeDC_2D1", (3, 64)),
        ("ArcFault_1024Input_FE_RFFT_128Feature_8Frame_1InputChannel_removeDC_Full_Bandwidth", (1, 1024)),
        ("ArcFault_512Input_FE_RFFT_32Feature_8Frame_1InputChannel_removeDC_Full_Bandwidth", (1, 256)),
    ],
)
def test_q15_presets_are_integer_features_of_the_reference_shape(name, shape):
    channels = 3 if "3InputChannel" in name else 1
    cfg = validate_data_config({"feature_extraction_name": name, "variables": channels})
    assert model_input_kwargs(cfg) == {"input_features": shape[1], "variables": shape[0]}
    rng = np.random.default_rng(0)
    x = np.round(rng.normal(0, 3000, size=(cfg["frame_size"] * 24, channels))).astype(np.float32)  # ADC codes
    out = extract_features([Recording(x)], cfg).X
    assert out.shape[1:] == (*shape, 1)
    assert np.array_equal(out, np.round(out)) and out.min() >= 0 and out.max() > 10
    stride = 8 if "ArcFault_1024" in name else 1  # frame_skip 8: a new example every 8 frames
    assert len(out) == (24 - 8) // stride + 1
