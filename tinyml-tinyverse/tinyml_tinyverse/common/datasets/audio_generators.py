"""Small keyword-spotting datasets made offline (deterministic for a seed), as 16-bit PCM WAV files.

- ``tones``: ``classes/<tone_low|tone_high|chirp_up|chirp_down|beeps>/*.wav``, synthesised sounds
  at a random time, pitch, length and loudness in noise, 1 s at 16 kHz.
- ``spoken_words``: ``classes/<word>/*.wav``, 1 s clips of spoken words (Google Speech Commands'
  ten by default) at 22050 Hz, and ``classes/_background_noise_/*.wav`` (white, pink, hum) beside
  the word folders, as that dataset has them. Spoken by the ``espeak-ng`` synthesiser with a random voice, speed, pitch, place
  and loudness; where ``espeak-ng`` is not installed, each word is a fixed sequence of vowels made
  by formant synthesis instead (a buzz through vowel resonances, random pitch). ``generated_with.txt``
  in the dataset says which was used.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
from scipy import signal

from .wav_files import read_wav

log = logging.getLogger(__name__)

TONE_CLASSES = ("tone_low", "tone_high", "chirp_up", "chirp_down", "beeps")
SPEECH_COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
ESPEAK_VOICES = ("en", "en-us", "en-gb-x-rp", "en-gb-scotland")
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f4")
# first two formants (Hz) of a few vowels, for the synthesised fallback
VOWELS = (
    (730, 1090),
    (270, 2290),
    (300, 870),
    (530, 1840),
    (570, 840),
    (660, 1720),
    (440, 1020),
    (490, 1350),
)


def write_wav(path: Path, x: np.ndarray, rate: int, channels: int = 1) -> None:
    """``x`` (float in [-1, 1]) as 16-bit PCM WAV, the same signal on every channel; atomic."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = np.clip(np.round(np.asarray(x, np.float64) * 32767), -32768, 32767).astype("<i2")
    tmp = path.with_name(path.name + ".tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.repeat(pcm[:, None], channels, axis=1).tobytes())
    os.replace(tmp, path)


def _envelope(n: int, rate: int, attack_s: float = 0.01) -> np.ndarray:
    ramp = min(n // 2, max(1, int(attack_s * rate)))
    env = np.ones(n)
    env[:ramp] = np.linspace(0, 1, ramp)
    env[n - ramp :] = np.linspace(1, 0, ramp)
    return env


def tone(rng: np.random.Generator, label: str, rate: int = 16000, seconds: float = 1.0) -> np.ndarray:
    """One clip of the tone class ``label``, placed at a random time in noise."""
    n = int(rate * seconds)
    length = int(rng.uniform(0.25, 0.6) * rate)
    t = np.arange(length) / rate
    if label == "tone_low":
        phase = 2 * np.pi * rng.uniform(250, 500) * t
    elif label == "tone_high":
        phase = 2 * np.pi * rng.uniform(1500, 2600) * t
    elif label in ("chirp_up", "chirp_down"):
        f0, f1 = rng.uniform(300, 600), rng.uniform(1800, 3000)
        f0, f1 = (f0, f1) if label == "chirp_up" else (f1, f0)
        phase = 2 * np.pi * np.cumsum(np.linspace(f0, f1, length)) / rate
    elif label == "beeps":
        phase = 2 * np.pi * rng.uniform(800, 1200) * t
        phase = np.where((t * rng.uniform(6, 10)) % 1 < 0.5, phase, np.nan)
    else:
        raise ValueError(f"unknown tone class {label!r}; use one of {TONE_CLASSES}")
    sound = np.nan_to_num(np.sin(phase) + 0.3 * np.sin(2 * phase)) * _envelope(length, rate)
    out = rng.normal(0, rng.uniform(0.005, 0.05), n)
    start = int(rng.integers(0, n - length + 1))
    out[start : start + length] += rng.uniform(0.2, 0.8) * sound / 1.3
    return out


def generate_tones(
    out_dir: str | Path,
    *,
    seed: int = 0,
    files_per_class: int = 30,
    sampling_rate: int = 16000,
    channels: int = 1,
) -> Path:
    """Write ``out_dir/classes/<class>/<class>_<i>.wav`` (1 s, ``sampling_rate``, ``channels``)."""
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    for label in TONE_CLASSES:
        for i in range(files_per_class):
            path = out / "classes" / label / f"{label}_{i:04d}.wav"
            write_wav(path, tone(rng, label, sampling_rate), sampling_rate, channels)
    return out


def espeak_version() -> str | None:
    """``espeak-ng``'s version line, or None when it is not installed (or does not run)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        return None
    try:
        proc = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    return proc.stdout.strip().splitlines()[0].split("Data at")[0].strip()


def speak(word: str, voice: str, speed: int, pitch: int, workdir: Path) -> tuple[np.ndarray, int]:
    """``word`` spoken by espeak-ng: float samples and their rate."""
    path = workdir / "word.wav"
    cmd = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(path), "--", word]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    wav = read_wav(path)
    return wav.samples, wav.rate


def formant_word(rng: np.random.Generator, word: str, rate: int) -> np.ndarray:
    """A synthesised stand-in for ``word``: its fixed vowel sequence (from the word's hash) made by
    a buzz at a random pitch through two vowel resonances per syllable."""
    digest = hashlib.sha256(word.encode()).digest()
    syllables = [VOWELS[b % len(VOWELS)] for b in digest[: 1 + digest[-1] % 3]]
    f0 = rng.uniform(90, 220)
    parts = []
    for f1, f2 in syllables:
        length = int(rng.uniform(0.12, 0.22) * rate)
        t = np.arange(length) / rate
        buzz = signal.sawtooth(2 * np.pi * f0 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t)) * t)
        y = np.zeros(length)
        for f, bw in ((f1, 80.0), (f2, 120.0)):
            r = np.exp(-np.pi * bw / rate)
            y += signal.lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * f / rate), r * r], buzz)
        parts.append(y * _envelope(length, rate, 0.02))
    x = np.concatenate(parts)
    return x / np.max(np.abs(x))


def _place(rng: np.random.Generator, word: np.ndarray, n: int) -> np.ndarray:
    """``word`` at a random place in ``n`` samples of quiet noise, random loudness."""
    word = word[:n] / max(1e-6, float(np.max(np.abs(word[:n]))))
    out = rng.normal(0, rng.uniform(0.002, 0.02), n)
    start = int(rng.integers(0, n - len(word) + 1))
    out[start : start + len(word)] += rng.uniform(0.3, 0.9) * word
    return out


def _noise_files(out: Path, rng: np.random.Generator, rate: int, seconds: float = 5.0) -> None:
    n = int(rate * seconds)
    white = rng.standard_normal(n)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))
    spectrum[0] = 0
    pink = np.fft.irfft(spectrum, n)
    t = np.arange(n) / rate
    hum = sum(np.sin(2 * np.pi * 50 * k * t) / k for k in (1, 2, 3)) + 0.1 * white
    for name, x in (("white_noise", white), ("pink_noise", pink), ("hum", hum)):
        write_wav(out / "classes" / "_background_noise_" / f"{name}.wav", 0.5 * x / np.max(np.abs(x)), rate)


def generate_spoken_words(
    out_dir: str | Path,
    *,
    seed: int = 0,
    files_per_class: int = 30,
    words: tuple[str, ...] | list[str] = SPEECH_COMMANDS,
    sampling_rate: int = 22050,
) -> Path:
    """Write ``out_dir/classes/<word>/<word>_<i>.wav`` (1 s clips), ``classes/_background_noise_/*.wav``
    and ``generated_with.txt`` (espeak-ng, or the formant synthesis used without it)."""
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    version = espeak_version()
    if version is None:
        log.warning(
            "espeak-ng is not installed: the spoken_words dataset is made by formant synthesis instead"
        )
    n = int(sampling_rate)
    with tempfile.TemporaryDirectory() as tmp:
        for word in words:
            for i in range(files_per_class):
                if version is not None:
                    voice = f"{ESPEAK_VOICES[rng.integers(len(ESPEAK_VOICES))]}+{ESPEAK_VARIANTS[rng.integers(len(ESPEAK_VARIANTS))]}"
                    x, rate = speak(
                        word, voice, int(rng.integers(130, 200)), int(rng.integers(25, 75)), Path(tmp)
                    )
                    if rate != sampling_rate:
                        x = signal.resample_poly(x, sampling_rate, rate)
                else:
                    x = formant_word(rng, word, sampling_rate)
                write_wav(out / "classes" / word / f"{word}_{i:04d}.wav", _place(rng, x, n), sampling_rate)
    _noise_files(out, rng, sampling_rate)
    source = version or "formant synthesis (espeak-ng not found)"
    (out / "generated_with.txt").write_text(f"spoken_words, seed {seed}: {source}\n", encoding="utf-8")
    return out
