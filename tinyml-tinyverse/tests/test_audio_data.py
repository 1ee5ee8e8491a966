"""Sound data on disk: WAV reading (bit depths, float, channels, rates), the clear errors for bad
WAVs, the dataset stage, loading with the front end, augmentation and the compile inputs."""

from __future__ import annotations

import wave

import numpy as np
import pytest
import yaml
from scipy.io import wavfile
from tinyml_tinyverse.common.datasets.audio_dataset import (
    audio_input_kwargs,
    augment_clip,
    load_audio_split,
    prepare_audio_dataset,
    validate_audio_config,
)
from tinyml_tinyverse.common.datasets.audio_generators import (
    espeak_version,
    formant_word,
    generate_spoken_words,
    generate_tones,
    write_wav,
)
from tinyml_tinyverse.common.datasets.modalities import dataset_modality, get_data_modality
from tinyml_tinyverse.common.datasets.wav_files import load_clip, read_wav
from tinyml_tinyverse.common.errors import DataError

TONE = 0.5 * np.sin(2 * np.pi * 440 * np.arange(44100) / 44100)


def _pcm_wav(path, x, rate, width, channels=1):
    scale = {1: 127, 2: 32767, 3: 8388607, 4: 2147483647}[width]
    v = np.round(np.repeat(x[:, None], channels, axis=1) * scale).astype(np.int64)
    if width == 1:
        raw = (v + 128).astype(np.uint8).tobytes()
    else:
        raw = b"".join(int(s).to_bytes(width, "little", signed=True) for s in v.reshape(-1))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(raw)


def test_every_wav_kind_reads_as_mono_float_and_resamples(tmp_path):
    x = TONE[:4410]
    for width in (1, 2, 3, 4):
        _pcm_wav(tmp_path / f"pcm{width}.wav", x, 44100, width, channels=2)
    wavfile.write(tmp_path / "float.wav", 44100, np.stack([x, x], 1).astype(np.float32))
    for name in ("pcm1.wav", "pcm2.wav", "pcm3.wav", "pcm4.wav", "float.wav"):
        wav = read_wav(tmp_path / name)
        assert wav.rate == 44100 and wav.samples.shape == (4410,) and wav.samples.dtype == np.float32
        np.testing.assert_allclose(wav.samples, x, atol=1e-2 if name == "pcm1.wav" else 1e-4)
    # 44.1 kHz stereo -> 16 kHz mono (the mean of the channels); the tone keeps its 440 Hz and its
    # amplitude; a short file is zero-padded at its end
    wavfile.write(tmp_path / "stereo.wav", 44100, (np.stack([TONE, 0.5 * TONE], 1) * 32767).astype(np.int16))
    clip, info = load_clip(tmp_path / "stereo.wav", 16000, 20000)
    assert clip.shape == (20000,) and info == {"rate": 44100, "seconds": 1.0}
    assert np.all(clip[16100:] == 0) and abs(np.abs(clip[1000:15000]).max() - 0.375) < 0.01
    spectrum = np.abs(np.fft.rfft(clip[:16000]))
    assert abs(np.argmax(spectrum) - 440) <= 1
    cut, _ = load_clip(tmp_path / "stereo.wav", 16000, 8000)
    np.testing.assert_allclose(cut, clip[:8000], atol=1e-4)  # cut keeps the start


def test_bad_wavs_are_clear_errors_naming_the_file(tmp_path):
    wavfile.write(tmp_path / "good.wav", 16000, (TONE[:1600] * 32767).astype(np.int16))
    good = (tmp_path / "good.wav").read_bytes()
    cases = {
        "truncated.wav": (good[:1000], "truncated"),
        "header_only.wav": (good[:30], "truncated"),
        "text.wav": (b"hello, this is text and not sound\n" * 3, "not a WAV file"),
        "empty.wav": (b"", "not a WAV file"),
    }
    for name, (data, words) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(DataError, match=words) as err:
            read_wav(tmp_path / name)
        assert name in str(err.value)
    with wave.open(str(tmp_path / "silent.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
    with pytest.raises(DataError, match="holds no samples"):
        read_wav(tmp_path / "silent.wav")
    wavfile.write(tmp_path / "nan.wav", 16000, np.array([0.0, np.nan], np.float32))
    with pytest.raises(DataError, match="NaN"):
        read_wav(tmp_path / "nan.wav")


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    """Tones at 8 kHz in two channels: every clip is mixed down and resampled to 16 kHz."""
    return generate_tones(tmp_path_factory.mktemp("tones"), files_per_class=5, sampling_rate=8000, channels=2)


def test_prepare_and_load_with_the_front_end(tmp_path, tones):
    out = tmp_path / "ds"
    info = prepare_audio_dataset(tones, out, seed=0)
    assert dataset_modality(out).name == "audio"
    assert info.class_names == ["beeps", "chirp_down", "chirp_up", "tone_high", "tone_low"]
    summary = yaml.safe_load((out / "dataset_summary.yaml").read_text())
    assert summary["sampling_rates_found"] == [8000] and summary["input_shape"] == [1, 49, 10]
    assert summary["background_noise"].startswith("synthesised")
    for plot in ("class_counts.png", "examples.png", "feature_pca.png"):
        assert (out / plot).stat().st_size > 1000
    val = load_audio_split(out, "val", training=False)
    train = load_audio_split(out, "train", seed=1)
    plain = load_audio_split(out, "train", training=False)
    n = len(info.splits["train"])
    assert val.X.shape == (len(info.splits["val"]), 1, 49, 10) and plain.X.shape == (n, 1, 49, 10)
    assert train.X.shape == (3 * n, 1, 49, 10)  # the clips and two augmented copies
    np.testing.assert_array_equal(train.file_ids, np.tile(np.arange(n), 3))
    np.testing.assert_array_equal(train.X[:n], plain.X)
    assert not np.allclose(train.X[n : 2 * n], plain.X)
    np.testing.assert_array_equal(train.y, np.tile(plain.y, 3))
    # standardised with the clean train split's statistics, in every split
    assert np.allclose(plain.X.mean(axis=(0, 2)), 0, atol=1e-4)
    np.testing.assert_array_equal(val.stats["standardize_mean"], plain.stats["standardize_mean"])
    again = load_audio_split(out, "train", seed=1)
    np.testing.assert_array_equal(again.X, train.X)  # seeded (and cached)
    other = load_audio_split(out, "train", seed=2)
    assert not np.allclose(other.X[n:], train.X[n:])
    assert audio_input_kwargs({"features": "log_mel"}) == {"input_features": (49, 40), "variables": 1}
    # the compile inputs: raw windows of the clips give exactly the split's features
    inputs = get_data_modality("audio").compile_inputs(out, {})
    vec = inputs.test_vectors
    test = load_audio_split(out, "test")
    assert vec["raw"].shape == (len(test.X), 15840, 1) and vec["recording"].shape == (32000, 1)
    np.testing.assert_array_equal(vec["x"], test.X)
    assert inputs.data_config["feat_ext_transform"][-2:] == ["STANDARDIZE", "CONCAT"]
    assert set(inputs.feature_stats) >= {"standardize_mean", "standardize_std"}


def test_augmentation_shift_and_noise(tmp_path):
    cfg = validate_audio_config(
        {"time_shift_ms": 10, "background_noise_probability": 1.0, "background_noise_volume": 0.5}
    )
    clip = np.zeros(16000, np.float32)
    clip[8000] = 1.0
    rng = np.random.default_rng(0)
    quiet = validate_audio_config({"time_shift_ms": 10, "background_noise_probability": 0.0})
    shifted = [augment_clip(rng, clip, [np.ones(20000, np.float32)], quiet) for _ in range(20)]
    moves = {int(np.argmax(s)) - 8000 for s in shifted}
    assert len(moves) > 3 and max(abs(m) for m in moves) <= 160  # 10 ms at 16 kHz
    noisy = augment_clip(rng, clip, [np.full(20000, 0.25, np.float32)], cfg)
    level = np.median(noisy)
    assert 0 <= level <= 0.125 and np.count_nonzero(noisy == level) > 15000


def test_background_noise_folder_is_used(tmp_path):
    words = tmp_path / "words"
    for label in ("a", "b"):
        for i in range(3):
            write_wav(
                words / "classes" / label / f"{i}.wav",
                0.1 * np.sin(np.arange(16000) * (0.1 + i + 3 * (label == "b"))),
                16000,
            )
    write_wav(
        words / "classes" / "_background_noise_" / "hum.wav", 0.5 * np.sin(np.arange(8000) * 0.05), 16000
    )
    info = prepare_audio_dataset(words, tmp_path / "ds", plots=False)
    assert info.class_names == ["a", "b"]  # the noise folder is no class
    summary = yaml.safe_load((tmp_path / "ds" / "dataset_summary.yaml").read_text())
    assert summary["background_noise"].startswith("1 file(s)")
    assert load_audio_split(tmp_path / "ds", "train", seed=0).X.shape[0] == 3 * len(info.splits["train"])


def test_spoken_words_with_and_without_espeak(tmp_path, monkeypatch):
    from tinyml_tinyverse.common.datasets import audio_generators

    monkeypatch.setattr(audio_generators, "espeak_version", lambda: None)  # as on a machine without espeak-ng
    out = generate_spoken_words(tmp_path / "fallback", files_per_class=2, words=("yes", "no"), seed=1)
    assert "formant synthesis (espeak-ng not found)" in (out / "generated_with.txt").read_text()
    clips = sorted((out / "classes").rglob("*.wav"))
    assert len(clips) == 2 * 2 + 3  # two words, two clips each, three noise files
    assert read_wav(out / "classes" / "yes" / "yes_0000.wav").rate == 22050
    a = formant_word(np.random.default_rng(0), "yes", 16000)
    assert np.isfinite(a).all() and np.max(np.abs(a)) == pytest.approx(1.0)
    monkeypatch.undo()
    if espeak_version() is None:
        pytest.skip("espeak-ng is not installed here; the fallback above is what such a machine gets")
    spoken = generate_spoken_words(tmp_path / "espeak", files_per_class=2, words=("yes", "no"), seed=1)
    assert "eSpeak NG" in (spoken / "generated_with.txt").read_text()
    again = generate_spoken_words(tmp_path / "espeak2", files_per_class=2, words=("yes", "no"), seed=1)
    assert (spoken / "classes/yes/yes_0001.wav").read_bytes() == (
        again / "classes/yes/yes_0001.wav"
    ).read_bytes()
