"""Every floating-point transform against a direct numpy / scipy computation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal
from tinyml_tinyverse.common.datasets import validate_data_config
from tinyml_tinyverse.common.errors import ConfigError
from tinyml_tinyverse.common.transforms import (
    FEATURE_REGISTRY,
    FrameContext,
    Recording,
    extract_features,
)


def ctx_for(n: int, files=None) -> FrameContext:
    files = np.zeros(n, np.int64) if files is None else np.asarray(files)
    starts = np.arange(n, dtype=np.int64)
    return FrameContext(files, starts, starts + 1, fit=True)


def run(names, x, **cfg):
    full = validate_data_config({"feat_ext_transform": names, **cfg})
    ctx = ctx_for(len(x))
    for n in names:
        step = FEATURE_REGISTRY[n](full)
        x = step.regroup(x, ctx)[0] if step.regroups else step(x, ctx)
    return x


@pytest.fixture
def frames():
    return np.random.default_rng(1).normal(size=(5, 2, 64)).astype(np.float32) + 0.3


def test_elementwise_steps(frames):
    np.testing.assert_array_equal(run(["RAW_FE"], frames), frames)
    np.testing.assert_allclose(
        run(["RAW_FE"], frames, dc_remove=True), frames - frames.mean(-1, keepdims=True), atol=1e-6
    )
    np.testing.assert_allclose(
        run(["SUBTRACT_MEAN"], frames), frames - frames.mean(-1, keepdims=True), atol=1e-6
    )
    np.testing.assert_array_equal(
        run(["DC_REMOVE"], frames), frames[..., 1:]
    )  # drops the first value (DC bin)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(64) / 64)  # periodic Hann
    np.testing.assert_allclose(run(["WINDOWING"], frames), frames * hann, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(run(["ABS"], frames), np.abs(frames))
    np.testing.assert_allclose(run(["NORMALIZE"], frames, frame_size=64), frames / 64, rtol=1e-7)
    np.testing.assert_array_equal(run(["ROUND_OFF"], frames * 10), np.round(frames * 10))
    z = (frames - frames.mean(-1, keepdims=True)) / (frames.std(-1, keepdims=True) + 1e-6)
    np.testing.assert_allclose(run(["ECG_NORMALIZE"], frames), z, rtol=1e-4, atol=1e-5)


def test_fft_chain(frames):
    spec = run(["FFT_FE"], frames)
    assert spec.dtype == np.complex64
    np.testing.assert_allclose(spec, np.fft.fft(frames.astype(np.float64), axis=-1), rtol=1e-4, atol=1e-4)
    half = run(["FFT_FE", "FFT_POS_HALF", "ABS"], frames)  # DC .. Nyquist: 64 / 2 + 1 bins
    np.testing.assert_allclose(
        half, np.abs(np.fft.rfft(frames.astype(np.float64), axis=-1)), rtol=1e-4, atol=1e-4
    )
    more = run(["FFT_FE", "FFT_POS_HALF"], frames, min_bin=5)  # keeps L/2 + min_bin bins
    assert more.shape[-1] == 37
    odd = run(["FFT_FE"], frames[..., :48])  # not a power of two: scipy's FFT (no C)
    np.testing.assert_allclose(
        odd, np.fft.fft(frames[..., :48].astype(np.float64), axis=-1), rtol=1e-4, atol=1e-4
    )


def test_binning_sums_or_averages_from_min_bin(frames):
    mag = np.abs(frames)  # 64 values; frame_size 128 -> bin size 128 // 2 // 8 = 8
    summed = run(["BINNING"], mag, frame_size=128, feature_size_per_frame=8)
    want = np.array(
        [[[mag[i, c, 8 * b : 8 * b + 8].sum() for b in range(8)] for c in range(2)] for i in range(5)]
    )
    np.testing.assert_allclose(summed, want, rtol=1e-6)
    mean = run(["BINNING"], mag, frame_size=128, feature_size_per_frame=8, normalize_bin=True)
    np.testing.assert_allclose(mean, want / 8, rtol=1e-6)
    half = run(["BINNING"], mag, frame_size=128, feature_size_per_frame=8, analysis_bandwidth=2, min_bin=3)
    want = np.array(
        [[[mag[i, c, 3 + 4 * b : 7 + 4 * b].sum() for b in range(8)] for c in range(2)] for i in range(5)]
    )
    np.testing.assert_allclose(half, want, rtol=1e-6)
    with pytest.raises(ConfigError, match="feature_size_per_frame"):
        run(["BINNING"], mag, frame_size=128)
    with pytest.raises(ConfigError, match="min_bin"):
        run(["BINNING"], mag, frame_size=128, feature_size_per_frame=8, min_bin=4)


def test_log_db_is_log_mul_log_base_of_x_plus_threshold(frames):
    mag = np.abs(frames)
    mag[0, 0, 0] = 0.0
    db = run(["LOG_DB"], mag)  # defaults: 20 log10(x + 1e-100)
    np.testing.assert_allclose(
        db[mag > 0], 20 * np.log10(mag[mag > 0].astype(np.float64)), rtol=1e-5, atol=1e-4
    )
    assert db[0, 0, 0] == pytest.approx(-2000.0)  # the threshold is below float32: log of it, exactly
    ln = run(["LOG_DB"], mag, log_mul=10.0, log_base="e", log_threshold=1e-12)
    np.testing.assert_allclose(ln, 10 * np.log(mag.astype(np.float64) + 1e-12), rtol=1e-5, atol=1e-4)
    floored = run(["LOG_DB"], mag, log_db_floor=-60.0)
    assert floored.min() == pytest.approx(-60.0)


def test_statistics_are_joined_in_list_order():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 2, 200)).astype(np.float32)
    cfg = validate_data_config(
        {"feat_ext_transform": ["KURT_FE", "ZCR_FE", "SLOPE_FE", "ENT_FE", "DOM_FE"], "frame_size": 200}
    )
    out = extract_features([Recording(x[0].T)], cfg).X[0, :, :, 0]  # one frame, 2 channels
    assert out.shape == (2, 6)
    from scipy import stats

    v = x[0].astype(np.float64)
    np.testing.assert_allclose(out[:, 0], stats.kurtosis(v, axis=-1), rtol=1e-4)
    zcr = (np.diff(np.signbit(v), axis=-1) != 0).sum(-1) / 199
    np.testing.assert_allclose(out[:, 1], zcr, rtol=1e-6)
    d = np.diff(v, axis=-1)
    slope = ((d[:, :-1] * d[:, 1:]) < 0).sum(-1) / 198
    np.testing.assert_allclose(out[:, 2], slope, rtol=1e-6)
    p = v**2 / (v**2).sum(-1, keepdims=True)
    np.testing.assert_allclose(out[:, 3], -(p * np.log(p)).sum(-1) / np.log(200), rtol=1e-4)
    top = np.argsort(-v, axis=-1, kind="stable")[:, :2]
    np.testing.assert_array_equal(out[:, 4:], top)
    with pytest.raises(ConfigError, match="complex"):
        run(["FFT_FE", "ENT_FE"], x)


def test_haar_and_hadamard(frames):
    haar = run(["HAAR"], frames)
    for i in range(5):
        for c in range(2):
            a, b = frames[i, c, 0::2], frames[i, c, 1::2]
            np.testing.assert_allclose(haar[i, c], np.r_[a + b, a - b] / np.sqrt(2), rtol=1e-5, atol=1e-6)

    def fwht(v):  # textbook in-place fast Walsh-Hadamard transform
        v = v.astype(np.float64).copy()
        h = 1
        while h < len(v):
            for s in range(0, len(v), 2 * h):
                for j in range(s, s + h):
                    v[j], v[j + h] = v[j] + v[j + h], v[j] - v[j + h]
            h *= 2
        return v / np.sqrt(len(v))

    had = run(["HADAMARD"], frames)
    np.testing.assert_allclose(had[3, 1], fwht(frames[3, 1]), rtol=1e-4, atol=1e-5)
    with pytest.raises(ConfigError, match="power-of-two"):
        run(["HADAMARD"], frames[..., :48])


def test_standardize_fits_on_train_and_reuses():
    rng = np.random.default_rng(0)
    train = rng.normal(3.0, 2.0, size=(400, 2, 8)).astype(np.float32)
    cfg = validate_data_config({"feat_ext_transform": ["STANDARDIZE"]})
    ctx = ctx_for(len(train))
    out = FEATURE_REGISTRY["STANDARDIZE"](cfg)(train, ctx)
    np.testing.assert_allclose(ctx.stats["standardize_mean"], train.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(ctx.stats["standardize_std"], train.std(axis=0), rtol=1e-5)
    assert abs(out.mean()) < 1e-4 and abs(out.std() - 1) < 1e-3
    other = rng.normal(size=(3, 2, 8)).astype(np.float32)
    reuse = FrameContext(ctx.file_ids[:3], ctx.starts[:3], ctx.stops[:3], fit=False, stats=ctx.stats)
    got = FEATURE_REGISTRY["STANDARDIZE"](cfg)(other, reuse)
    np.testing.assert_allclose(got, (other - train.mean(0)) / (train.std(0) + 1e-6), rtol=1e-4)


def test_concat_groups_frames_of_one_file_only():
    x = np.arange(7 * 1 * 2, dtype=np.float32).reshape(7, 1, 2)
    files = np.array([0, 0, 0, 0, 1, 1, 1])
    cfg = validate_data_config({"feat_ext_transform": ["CONCAT"], "num_frame_concat": 3, "concat_stride": 1})
    out, ctx = FEATURE_REGISTRY["CONCAT"](cfg).regroup(x, ctx_for(7, files))
    want = [np.stack([x[s + k] for k in range(3)], axis=1) for s in (0, 1, 4)]  # never across files
    np.testing.assert_array_equal(out, np.stack(want))
    assert ctx.file_ids.tolist() == [0, 0, 1]
    assert ctx.starts.tolist() == [0, 1, 4] and ctx.stops.tolist() == [3, 4, 7]


def test_preset_pipeline_matches_a_per_window_loop():
    """Generic_256Input_FFTBIN_16Feature_8Frame as Tiny ML Tensorlab defines it: no window, the
    positive half with Nyquist, |.|, DC bin dropped, 16 averages of 8 bins, 20 log10(x + 1e-100)."""
    rng = np.random.default_rng(3)
    recs = [rng.normal(size=(3000, 3)).astype(np.float32), rng.normal(size=(2100, 3)).astype(np.float32)]
    cfg = validate_data_config({"feature_extraction_name": "Generic_256Input_FFTBIN_16Feature_8Frame"})
    got = extract_features([Recording(r) for r in recs], cfg).X
    expected = []
    for r in recs:
        frames = []
        for s in range(0, len(r) - 255, 256):
            spec = np.abs(np.fft.fft(r[s : s + 256].T.astype(np.float64), axis=-1))[:, : 128 + 1]
            frames.append(20 * np.log10(spec[:, 1:].reshape(3, 16, 8).mean(-1) + 1e-100))
        for e in range(len(frames) - 7):
            expected.append(np.concatenate(frames[e : e + 8], axis=1)[:, :, None])
    assert got.shape == (len(expected), 3, 128, 1) == (4 + 1, 3, 128, 1)
    np.testing.assert_allclose(got, np.stack(expected), rtol=1e-4, atol=1e-4)


def test_2d1_and_1d_stack_the_channels_as_named():
    """``_2D1``: the model gets 3 x 128 (one channel per variable); ``_1D``: 1 x 384, the channels
    one after the other; ``output_2d`` keeps frames and features apart."""
    rec = [Recording(np.random.default_rng(0).normal(size=(2304, 3)).astype(np.float32))]
    base = "Input256_FFTBIN_16Feature_8Frame_3InputChannel_removeDC_"
    x2 = extract_features(rec, validate_data_config({"feature_extraction_name": base + "2D1"})).X
    x1 = extract_features(rec, validate_data_config({"feature_extraction_name": base + "1D"})).X
    assert x2.shape == (2, 3, 128, 1) and x1.shape == (2, 1, 384, 1)
    np.testing.assert_array_equal(x2.reshape(2, 1, 384, 1), x1)
    grid = extract_features(
        rec, validate_data_config({"feature_extraction_name": base + "2D1", "output_2d": True})
    ).X
    assert grid.shape == (2, 3, 8, 16)
    np.testing.assert_array_equal(grid.reshape(2, 3, 128, 1), x2)


def test_downsample_matches_resample_poly_and_removes_alias():
    fs, new = 1000, 250
    t = np.arange(4000) / fs
    x = (np.sin(2 * np.pi * 20 * t) + np.sin(2 * np.pi * 300 * t)).astype(np.float32)[:, None]
    cfg = validate_data_config(
        {
            "data_proc_transforms": ["Downsample", "SimpleWindow"],
            "sampling_rate": fs,
            "new_sr": new,
            "frame_size": 1000,
        }
    )
    got = extract_features([Recording(x)], cfg).X[0, 0, :, 0]
    want = signal.resample_poly(x[:, 0], 1, 4)[:1000]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    spec = np.abs(np.fft.rfft(got)) / 500
    assert spec[80] > 0.9  # 20 Hz kept (bin = 0.25 Hz)
    naive = np.abs(np.fft.rfft(x[::4, 0][:1000])) / 500
    assert naive[200] > 0.9  # plain decimation folds 300 Hz onto 50 Hz (bin 200) ...
    assert spec[200] < 0.05  # ... the anti-aliased Downsample removes it
    alias = extract_features(
        [Recording(x)], validate_data_config({**cfg, "data_proc_transforms": ["DownSample"]})
    ).X
    np.testing.assert_array_equal(alias[0, 0, :, 0], got)


def test_gain_variation_only_when_training():
    x = np.ones((1000, 2), np.float32)
    cfg = validate_data_config(
        {
            "data_proc_transforms": ["SimpleWindow", "GainVariation"],
            "frame_size": 100,
            "gain_variations": [0.5, 2.0],
        }
    )
    same = extract_features([Recording(x, label=0)], cfg, training=False).X
    np.testing.assert_array_equal(same, 1.0)
    jit = extract_features([Recording(x, label=0)], cfg, training=True, seed=1).X
    gains = jit[:, 0, 0, 0]
    assert gains.min() >= 0.5 and gains.max() <= 2.0 and len(np.unique(gains)) == 10
    np.testing.assert_array_equal(jit, gains[:, None, None, None] * np.ones_like(jit))  # one gain per window
    per_class = validate_data_config({**cfg, "gain_variations": {"a": [1.0, 1.0], "b": [3.0, 3.0]}})
    recs = [Recording(x, label=0), Recording(x, label=1)]
    out = extract_features(recs, per_class, class_names=["a", "b"], training=True).X
    assert set(np.unique(out[:10])) == {1.0} and set(np.unique(out[10:])) == {3.0}


def test_chunked_rowwise_steps_give_the_same_result(monkeypatch):
    from tinyml_tinyverse.common.transforms import pipeline

    rng = np.random.default_rng(9)
    recs = [Recording(rng.normal(size=(n, 2)).astype(np.float32)) for n in (700, 300, 520)]
    cfg = validate_data_config(
        {"frame_size": 32, "stride_size": 0.5, "feature_size_per_frame": 8, "num_frame_concat": 3}
        | {
            "feat_ext_transform": [
                "SUBTRACT_MEAN",
                "WINDOWING",
                "FFT_FE",
                "FFT_POS_HALF",
                "ABS",
                "BINNING",
                "STANDARDIZE",
                "CONCAT",
            ]
        }
    )
    whole = extract_features(recs, cfg, fit=True)
    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 5)
    chunked = extract_features(recs, cfg, fit=True)
    np.testing.assert_array_equal(chunked.X, whole.X)
    np.testing.assert_array_equal(chunked.file_ids, whole.file_ids)
    np.testing.assert_array_equal(chunked.stats["standardize_mean"], whole.stats["standardize_mean"])
