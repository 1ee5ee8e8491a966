"""Calibration observers on streamed batches."""

from __future__ import annotations

import numpy as np
import pytest
from tinyml_tinyverse.common.errors import ConfigError, DataError, UnknownNameError
from tinyml_tinyverse.common.quantization.observers import OBSERVER_REGISTRY, make_observer


def int8_mse(x: np.ndarray, lo: float, hi: float) -> float:
    """Real asymmetric int8 quantize -> dequantize error of ``x`` with range [lo, hi]."""
    scale = (hi - lo) / 255.0
    zp = np.round(-128 - lo / scale)
    q = np.clip(np.round(x / scale) + zp, -128, 127)
    return float(np.mean(((q - zp) * scale - x) ** 2))


def batches(data: np.ndarray, n: int) -> list[np.ndarray]:
    return np.array_split(data, n)


def test_registry_names():
    assert {"minmax", "percentile", "mse"} <= set(OBSERVER_REGISTRY)


def test_minmax_streams_and_includes_zero():
    rng = np.random.default_rng(0)
    data = rng.uniform(0.5, 3.0, size=(40, 3, 8, 1)).astype(np.float32)
    obs = make_observer("minmax")
    for b in batches(data, 7):
        obs.update(b)
    lo, hi = obs.range()
    assert lo == 0.0  # all values positive: the range is extended to hold 0
    assert hi == pytest.approx(float(data.max()))
    obs.update(np.array([-2.0]))
    assert obs.range() == (-2.0, pytest.approx(float(data.max())))
    sym = make_observer("minmax", symmetric=True)
    sym.update(np.array([-0.5, 2.0]))
    assert sym.range() == (-2.0, 2.0)


def test_histogram_is_fixed_size_and_exact_when_range_grows():
    rng = np.random.default_rng(1)
    # Each batch is wider than the last, so the histogram has to double its radius several times.
    parts = [rng.normal(0, 0.1 * 3**i, size=500) for i in range(6)]
    obs = make_observer("percentile", bins=256)
    for p in parts:
        obs.update(p)
        assert obs.hist.shape == (512,)
    data = np.concatenate(parts)
    ref, _ = np.histogram(data, bins=512, range=(-obs.radius, obs.radius))
    assert obs.radius >= np.abs(data).max()
    assert obs.hist.sum() == data.size
    assert np.abs(obs.hist - ref).sum() <= 4  # only values landing on a bin edge may differ


def test_percentile_clips_outliers():
    rng = np.random.default_rng(2)
    data = rng.normal(0, 1, size=200_000)
    data[:5] = [40.0, -35.0, 50.0, 38.0, -45.0]  # rare huge outliers
    obs = make_observer("percentile", percentile=99.9)
    for b in batches(data, 20):
        obs.update(b)
    lo, hi = obs.range()
    width = 2 * obs.radius / obs.hist.size
    assert lo == pytest.approx(np.percentile(data, 0.1), abs=2 * width)
    assert hi == pytest.approx(np.percentile(data, 99.9), abs=2 * width)
    assert hi < 5 and lo > -5
    sym = make_observer("percentile", percentile=99.9, symmetric=True)
    sym.update(data)
    a = sym.range()[1]
    assert sym.range()[0] == -a
    assert a == pytest.approx(np.percentile(np.abs(data), 99.9), abs=2 * width)


def test_mse_beats_minmax_and_matches_the_brute_force_best():
    rng = np.random.default_rng(3)
    data = rng.standard_t(4, size=30_000) + 0.5  # heavy tails, off centre
    mse_obs = make_observer("mse")
    mm_obs = make_observer("minmax")
    for b in batches(data, 10):
        mse_obs.update(b)
        mm_obs.update(b)
    mse_range = mse_obs.range()
    mm_range = mm_obs.range()
    assert mse_range[1] < mm_range[1] and mse_range[0] > mm_range[0]
    assert int8_mse(data, *mse_range) < int8_mse(data, *mm_range)
    # Brute force with real int8 rounding over a grid of ranges: the observer is as good as the best.
    best = min(
        int8_mse(data, lo, hi)
        for lo in np.linspace(mm_range[0], 0, 30)[:-1]
        for hi in np.linspace(0, mm_range[1], 30)[1:]
    )
    assert int8_mse(data, *mse_range) < 1.02 * best

    uniform = rng.uniform(-1, 3, size=50_000)
    obs = make_observer("mse")
    obs.update(uniform)
    lo, hi = obs.range()
    assert lo == pytest.approx(-1, abs=0.05) and hi == pytest.approx(3, abs=0.05)


def test_mse_symmetric_and_relu_like():
    rng = np.random.default_rng(4)
    relu = np.maximum(rng.normal(0, 1, size=50_000), 0)
    obs = make_observer("mse")
    obs.update(relu)
    lo, hi = obs.range()
    assert lo == 0.0 and 2.0 < hi <= relu.max()
    sym = make_observer("mse", symmetric=True, bits=4)
    sym.update(rng.normal(0, 1, size=20_000))
    lo, hi = sym.range()
    assert lo == -hi and 1.0 < hi < 4.0  # 4 bits clip harder than the ~4.3 sigma maximum


def test_all_zero_tensor():
    for name in ("minmax", "percentile", "mse"):
        obs = make_observer(name)
        obs.update(np.zeros((4, 4)))
        assert obs.range() == (0.0, 0.0)


def test_errors():
    with pytest.raises(UnknownNameError, match="minmax"):
        make_observer("minmx")
    with pytest.raises(ConfigError, match="accepted settings: percentile"):
        make_observer("percentile", pct=99)
    with pytest.raises(ConfigError, match="percentile must be"):
        make_observer("percentile", percentile=30)
    obs = make_observer("mse")
    with pytest.raises(DataError, match="no data"):
        obs.range()
    with pytest.raises(DataError, match="NaN"):
        obs.update(np.array([1.0, np.nan]))
    with pytest.raises(DataError, match="NaN"):
        make_observer("minmax").update(np.array([np.inf]))
