"""The audio front end in Python: POWER_SPECTRUM, MEL_FILTERBANK and DCT against independent
float64 references of their published formulas, the presets' shapes and the config errors. (Their
C against this Python: test_frontend_c.py, the ``audio`` list and the audio presets.)"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import scipy.signal
from tinyml_tinyverse.common.datasets import model_input_kwargs, validate_data_config
from tinyml_tinyverse.common.datasets.audio_dataset import audio_data_config, validate_audio_config
from tinyml_tinyverse.common.errors import ConfigError
from tinyml_tinyverse.common.transforms import Recording, extract_features
from tinyml_tinyverse.common.transforms.audio import dct_matrix, fft_size_for, mel_layout

SR = 16000


def mel_matrix_reference(sr: float, n_fft: int, n_mels: int, low: float, high: float) -> np.ndarray:
    """HTK mel triangles by linear interpolation between the band edges (float64)."""
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    edges = 700 * (10 ** (np.linspace(mel(low), mel(high), n_mels + 2) / 2595) - 1)
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    return np.stack([np.interp(freqs, edges[m : m + 3], [0, 1, 0]) for m in range(n_mels)])


def dense(layout, bins: int) -> np.ndarray:
    out = np.zeros((len(layout.start), bins))
    for m, (s, n, o) in enumerate(zip(layout.start, layout.length, layout.offset)):
        out[m, s : s + n] = layout.weights[o : o + n]
    return out


def test_mel_filters_are_the_htk_triangles():
    layout = mel_layout(16000.0, 512, 40, 20.0, 8000.0)
    np.testing.assert_allclose(dense(layout, 257), mel_matrix_reference(16000, 512, 40, 20, 8000), atol=1e-6)
    assert fft_size_for(480) == 512 and fft_size_for(512) == 512 and fft_size_for(400) == 512


def test_dct_is_the_orthonormal_dct_ii():
    np.testing.assert_allclose(
        dct_matrix(40, 40), scipy.fft.dct(np.eye(40), type=2, norm="ortho", axis=0), atol=1e-6
    )
    full = dct_matrix(16, 16).astype(np.float64)
    np.testing.assert_allclose(full @ full.T, np.eye(16), atol=1e-6)


@pytest.mark.parametrize("features", ["mfcc", "log_mel"])
def test_features_match_a_float64_reference(features):
    rng = np.random.default_rng(0)
    t = np.arange(SR) / SR
    clip = 0.3 * np.sin(2 * np.pi * (300 + 1500 * t) * t) + 0.05 * rng.standard_normal(SR)
    cfg = validate_audio_config({"features": features, "standardize": False})
    got = extract_features([Recording(clip.astype(np.float32)[:, None])], audio_data_config(cfg)).X[0, 0]
    frames = np.lib.stride_tricks.sliding_window_view(clip.astype(np.float32).astype(np.float64), 480)[::320][
        :49
    ]
    power = np.abs(np.fft.rfft(frames * scipy.signal.get_window("hann", 480), 512)) ** 2
    log_mel = np.log(power @ mel_matrix_reference(SR, 512, 40, 20, 8000).T + 1e-6)
    want = scipy.fft.dct(log_mel, type=2, norm="ortho", axis=-1)[:, :10] if features == "mfcc" else log_mel
    assert got.shape == want.shape == ((49, 10) if features == "mfcc" else (49, 40))
    np.testing.assert_allclose(got, want, atol=2e-4 * np.abs(want).max())


def test_presets_and_the_audio_config_give_the_reference_shape():
    assert model_input_kwargs({"feature_extraction_name": "GoogleSpeechCommands_MFCC_Default"}) == {
        "input_features": (49, 10), "variables": 1,
    }  # fmt: skip
    preset = validate_data_config({"feature_extraction_name": "GoogleSpeechCommands_MFCC_Default"})
    ours = audio_data_config({"standardize": False})
    assert {k: ours[k] for k in preset if k != "feature_extraction_name"} == {
        k: preset[k] for k in preset if k != "feature_extraction_name"
    }  # the audio config's defaults are Tiny ML Tensorlab's preset
    short = audio_data_config(
        {"audio_duration_ms": 500, "frame_length_ms": 32, "frame_step_ms": 16, "n_mfcc": 13}
    )
    assert model_input_kwargs(short) == {"input_features": (30, 13), "variables": 1}
    assert short["feat_ext_transform"][-2:] == ["STANDARDIZE", "CONCAT"]


def test_bad_audio_settings_are_config_errors_naming_the_key():
    bad = [
        ({"frame_step_ms": 40}, "frame_step_ms"),
        ({"n_mfcc": 50}, "n_mfcc"),
        ({"n_mels": 200}, "holds no FFT bin"),
        ({"sampling_rate": 16000.5}, "sampling_rate"),
        ({"mel_high_hz": 9000}, "mel_high_hz"),
        ({"features": "mfccs"}, "mfcc or log_mel"),
        ({"n_mel": 40}, "did you mean 'n_mels'"),
        (
            {"feature_extraction_name": "GoogleSpeechCommands_MFCC"},
            "did you mean 'GoogleSpeechCommands_MFCC_Default'",
        ),
    ]
    for config, words in bad:
        with pytest.raises(ConfigError, match=words):
            validate_audio_config(config)
    with pytest.raises(ConfigError, match="MEL_FILTERBANK needs .*sampling_rate"):
        extract_features(
            [Recording(np.zeros((512, 1), np.float32))],
            validate_data_config(
                {"frame_size": 512, "n_mels": 8, "feat_ext_transform": ["POWER_SPECTRUM", "MEL_FILTERBANK"]}
            ),
        )
