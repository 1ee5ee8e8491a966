"""Augmenters: each against a direct computation, seeding, config errors, YAML config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import signal
from tinyml_tinyverse.common.augmenters import AUGMENTER_REGISTRY, build_augmenter
from tinyml_tinyverse.common.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def batch():
    t = np.arange(64)
    rng = np.random.default_rng(0)
    x = np.sin(2 * np.pi * t / 16)[None, None, :, None] * rng.uniform(0.5, 2, (6, 3, 1, 1))
    return (x + 0.1 * rng.normal(size=x.shape)).astype(np.float32)


def test_empty_config_is_identity(batch):
    for cfg in (None, {}, []):
        assert build_augmenter(cfg, 0)(batch) is batch


@pytest.mark.parametrize(
    "name, params",
    [
        ("TimeWarp", {"max_speed_ratio": 1.0}),
        ("Crop", {"size": 1.0}),
        ("Resize", {"min_ratio": 1.0, "max_ratio": 1.0}),
        ("Drift", {"max_drift": 0.0}),
        ("LinearTransform", {"sigma": 0.0}),
        ("AddNoise", {"scale": 0.0}),
        ("Pool", {"size": 1}),
    ],
)
def test_neutral_parameters_give_identity(batch, name, params):
    np.testing.assert_allclose(build_augmenter({name: params}, 0)(batch), batch, atol=1e-5)


def test_reverse_pool_convolve_match_numpy(batch):
    np.testing.assert_array_equal(build_augmenter({"Reverse": {}}, 0)(batch), batch[:, :, ::-1])
    pooled = build_augmenter({"Pool": {"size": 4}}, 0)(batch)
    want = np.repeat(batch.reshape(6, 3, 16, 4, 1).mean(axis=3), 4, axis=2)
    np.testing.assert_allclose(pooled, want, rtol=1e-6)
    smooth = build_augmenter({"Convolve": {"window": "hann", "size": 5}}, 0)(batch)
    k = signal.get_window("hann", 5, fftbins=False)
    k /= k.sum()
    padded = np.pad(batch[2, 1, :, 0], 2, mode="edge")
    np.testing.assert_allclose(smooth[2, 1, :, 0], np.convolve(padded, k, mode="valid"), rtol=1e-5, atol=1e-6)


def test_noise_quantize_dropout_statistics(batch):
    big = np.repeat(batch, 50, axis=0)
    noisy = build_augmenter({"AddNoise": {"scale": 0.1}}, 0)(big)
    ratio = (noisy - big).std(axis=2) / big.std(axis=2)
    assert abs(ratio.mean() - 0.1) < 0.01
    q = build_augmenter({"Quantize": {"n_levels": 5}}, 0)(batch)
    assert all(len(np.unique(q[i, c])) <= 5 for i in range(6) for c in range(3))
    d = build_augmenter({"Dropout": {"rate": 0.25, "fill": 0.0}}, 0)(big)
    frac = (d == 0).all(axis=1).mean()
    assert 0.2 < frac < 0.3


def test_time_warp_and_crop_keep_range_and_shape(batch):
    for cfg in ({"TimeWarp": {"max_speed_ratio": 3.0}}, {"Crop": {"size": 0.5}}, {"Resize": {}}):
        out = build_augmenter(cfg, 0)(batch)
        assert out.shape == batch.shape and out.dtype == batch.dtype
        assert out.min() >= batch.min() - 1e-6 and out.max() <= batch.max() + 1e-6  # interpolation only
        assert not np.allclose(out, batch)


def test_seeded_and_probability(batch):
    cfg = {"AddNoise": {"scale": 0.2, "p": 0.5}, "LinearTransform": {"sigma": 0.1}}
    a, b = build_augmenter(cfg, 7), build_augmenter(cfg, 7)
    np.testing.assert_array_equal(a(batch), b(batch))
    assert not np.array_equal(a(batch), build_augmenter(cfg, 8)(batch))
    untouched = build_augmenter({"AddNoise": {"scale": 1.0, "p": 0.0}}, 0)(batch)
    np.testing.assert_array_equal(untouched, batch)


def test_config_errors():
    with pytest.raises(ConfigError, match="did you mean 'AddNoise'"):
        build_augmenter({"AddNoize": {}}, 0)
    with pytest.raises(ConfigError, match="unknown parameter.*scal"):
        build_augmenter({"AddNoise": {"scal": 0.1}}, 0)
    with pytest.raises(ConfigError, match="Crop"):
        build_augmenter({"Crop": {"size": 2.0}}, 0)
    with pytest.raises(ConfigError, match="does not exist"):
        build_augmenter("no_such_file.yaml", 0)


def test_shipped_yaml_and_every_issue_augmenter(batch, tmp_path):
    aug = build_augmenter(str(REPO / "misc" / "augmenter_config.yaml"), 0)
    assert aug(batch).shape == batch.shape
    wanted = ["add_noise", "time_warp", "drift", "crop", "reverse", "quantize", "dropout", "pool"]
    wanted += ["resize", "convolve", "linear_transform"]
    assert all(w in AUGMENTER_REGISTRY for w in wanted)
    listed = tmp_path / "aug.yaml"
    listed.write_text("- Reverse: {}\n- Reverse: {p: 1.0}\n")
    np.testing.assert_array_equal(build_augmenter(str(listed), 0)(batch), batch)  # reversed twice


def test_shift_wraps_or_holds_by_a_bounded_whole_number_of_samples(batch):
    big = np.repeat(batch, 20, axis=0)
    for mode in ("wrap", "edge"):
        out = build_augmenter({"Shift": {"max_shift": 0.1, "mode": mode}}, 0)(big)
        seen = set()
        for x, y in zip(big, out):
            candidates = []
            for k in range(-6, 7):  # 0.1 x 64 samples, rounded: at most 6 either way
                want = np.roll(x, k, axis=1)
                if mode == "edge" and k > 0:
                    want[:, :k] = x[:, :1]
                elif mode == "edge" and k < 0:
                    want[:, k:] = x[:, -1:]
                if np.array_equal(y, want):
                    candidates.append(k)
            assert candidates, "not a shift of at most 6 samples"
            seen.add(candidates[0])
        assert len(seen) > 5  # the shifts differ between examples
    with pytest.raises(ConfigError, match="Shift"):
        build_augmenter({"Shift": {"max_shift": 0}}, 0)
    with pytest.raises(ConfigError, match="mode"):
        build_augmenter({"Shift": {"mode": "mirror"}}, 0)
