"""Read a WAV file as a mono float32 clip at a given rate and length.

PCM (8-, 16-, 24- and 32-bit integer) through the standard library's ``wave`` module, IEEE float
through ``scipy.io.wavfile``; several channels are averaged; the rate is changed with scipy's
polyphase resampler (``resample_poly``, anti-aliasing FIR); the clip is cut or padded with zeros
at its end. A file that is not a WAV, is truncated or holds no samples is a :class:`DataError`
naming it.
"""

from __future__ import annotations

import math
import warnings
import wave
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy import signal
from scipy.io import wavfile

from ..errors import DataError

WAV_SUFFIXES = (".wav",)
RESAMPLE_MARGIN = 64  # extra input samples read beyond the clip so the resampler's filter has its context


def _pcm(raw: bytes, width: int) -> np.ndarray:
    """Little-endian PCM bytes -> float32 in [-1, 1)."""
    if width == 1:  # unsigned 8-bit
        return (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    if width == 2:
        return np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    if width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        return (np.where(v >= 1 << 23, v - (1 << 24), v)).astype(np.float32) / float(1 << 23)
    if width == 4:
        return (np.frombuffer(raw, "<i4").astype(np.float64) / 2147483648.0).astype(np.float32)
    raise ValueError(f"{8 * width}-bit samples")


def _read_pcm(path: Path, max_frames: int | None) -> tuple[np.ndarray, int, int]:
    with wave.open(str(path), "rb") as w:
        channels, width, rate, frames = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
        if channels < 1 or rate < 1:
            raise DataError(
                f"{path}: the WAV header gives {channels} channels at {rate} Hz; the file is damaged"
            )
        want = frames if max_frames is None else min(frames, max_frames)
        raw = w.readframes(want)
    if len(raw) < want * width * channels:
        raise DataError(
            f"{path}: truncated: its header promises {frames} frames but the file ends after "
            f"{len(raw) // (width * channels)}; re-export or remove it"
        )
    try:
        x = _pcm(raw, width)
    except ValueError:
        raise DataError(
            f"{path}: {8 * width}-bit PCM is not supported; use 8, 16, 24 or 32-bit PCM"
        ) from None
    return x.reshape(-1, channels), rate, frames


def _read_float(path: Path) -> tuple[np.ndarray, int, int]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", wavfile.WavFileWarning)
        try:
            rate, data = wavfile.read(path, mmap=False)
        except wavfile.WavFileWarning as exc:
            raise DataError(f"{path}: truncated or damaged WAV ({exc}); re-export or remove it") from None
        except (ValueError, OSError, EOFError) as exc:
            raise DataError(f"{path}: not a readable WAV file ({exc})") from None
    data = np.asarray(data)
    if not np.issubdtype(data.dtype, np.floating):
        raise DataError(f"{path}: unsupported WAV sample type {data.dtype}")
    data = data.astype(np.float32)
    if not np.isfinite(data).all():
        raise DataError(f"{path}: the WAV file holds NaN or infinite samples")
    return data.reshape(len(data), -1), int(rate), len(data)


@dataclass
class Wav:
    """A file's samples (float32 ``(T,)`` in [-1, 1], channels averaged), its rate and its length
    in seconds (of the whole file, also when fewer samples were read)."""

    samples: np.ndarray
    rate: int
    seconds: float


def read_wav(path: str | Path, max_seconds: float | None = None) -> Wav:
    """The WAV file at ``path``; ``max_seconds`` reads no more than that (PCM files)."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(12)
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
        raise DataError(f"{path}: not a WAV file (it does not start with a RIFF/WAVE header); remove it")
    try:
        max_frames = None
        if max_seconds is not None:
            with wave.open(str(path), "rb") as w:
                max_frames = int(math.ceil(max_seconds * w.getframerate())) + RESAMPLE_MARGIN
        x, rate, frames = _read_pcm(path, max_frames)
    except wave.Error as exc:
        if "unknown format: 3" in str(exc) or "unknown format: 65534" in str(exc):
            x, rate, frames = _read_float(path)  # IEEE float (or an extensible header wave cannot read)
        else:
            raise DataError(
                f"{path}: not a WAV file the reader understands ({exc}); export it as 16-bit PCM WAV"
            ) from None
    except EOFError:
        raise DataError(
            f"{path}: truncated WAV file (it ends inside its header); re-export or remove it"
        ) from None
    if x.size == 0:
        raise DataError(f"{path}: the WAV file holds no samples; remove it")
    return Wav(x.mean(axis=1, dtype=np.float32), rate, frames / rate)


def resample(x: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    """``x`` from ``rate`` to ``new_rate`` Hz with ``scipy.signal.resample_poly`` (float32)."""
    if rate == new_rate:
        return x.astype(np.float32, copy=False)
    ratio = Fraction(int(new_rate), int(rate))
    return signal.resample_poly(x, ratio.numerator, ratio.denominator).astype(np.float32)


def fit_length(x: np.ndarray, num_samples: int) -> np.ndarray:
    """The first ``num_samples`` of ``x``, zero-padded at the end when shorter."""
    if len(x) >= num_samples:
        return np.ascontiguousarray(x[:num_samples], np.float32)
    return np.concatenate([x, np.zeros(num_samples - len(x), np.float32)]).astype(np.float32)


def load_clip(path: str | Path, sampling_rate: int, num_samples: int) -> tuple[np.ndarray, dict]:
    """The clip at ``path`` as float32 ``(num_samples,)`` at ``sampling_rate``, and what it was
    (``rate``, ``seconds``: its length before cutting or padding)."""
    wav = read_wav(path, max_seconds=num_samples / sampling_rate)
    clip = fit_length(resample(wav.samples, wav.rate, sampling_rate), num_samples)
    return clip, {"rate": wav.rate, "seconds": round(wav.seconds, 4)}
