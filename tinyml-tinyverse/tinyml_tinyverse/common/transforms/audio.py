"""Audio feature extraction: POWER_SPECTRUM, MEL_FILTERBANK, DCT, and the keyword-spotting presets.

A log-mel spectrogram is ``WINDOWING, POWER_SPECTRUM, MEL_FILTERBANK, LOG_DB`` and MFCCs add
``DCT``; ``CONCAT`` with ``output_2d: true`` stacks the frames of a clip into ``(1, frames, F)``.
The float arithmetic is the one the generated C runs (float32, one rounding per operation, sums
in order), so the chip's features equal Python's up to ``logf``.

Published formulas, no library code: the mel scale ``mel(f) = 2595 log10(1 + f / 700)`` (O'Shaughnessy,
"Speech communication", 1987, as used by HTK) with triangular filters of peak 1 between
``n_mels + 2`` points equally spaced in mel from ``mel_low_hz`` to ``mel_high_hz``; the DCT-II with
orthonormal scaling ``X[k] = s_k sum_n x[n] cos(pi k (2n + 1) / 2N)``, ``s_0 = sqrt(1/N)``,
``s_k = sqrt(2/N)`` (Ahmed, Natarajan and Rao, 1974).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import ConfigError
from ._base import FEATURE_REGISTRY, PRESET_REGISTRY, FeatureTransform, as_float, sequential_sum
from .c_code import CContext, CSignal, CStep, c_table, read_float, require_real
from .data_processing import frame_length
from .fft import rfft_c, rfft_c_name, rfft_float


def fft_size_for(length: int) -> int:
    """The FFT size of POWER_SPECTRUM: the smallest power of two holding ``length`` samples."""
    return max(2, 1 << (int(length) - 1).bit_length())


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)


@FEATURE_REGISTRY.register("POWER_SPECTRUM")
class PowerSpectrum(FeatureTransform):
    """``re^2 + im^2`` of the real FFT of each frame zero-padded to the next power of two ``N``:
    bins ``0 .. N/2`` (``N/2 + 1`` values). A 480-sample (30 ms at 16 kHz) frame takes a 512-point FFT."""

    def __call__(self, x, ctx):
        if np.iscomplexobj(x):
            raise ConfigError("POWER_SPECTRUM works on real samples; put it before any FFT step")
        x = as_float(x)
        n = fft_size_for(x.shape[-1])
        if n > x.shape[-1]:
            x = np.concatenate([x, np.zeros((*x.shape[:-1], n - x.shape[-1]), np.float32)], axis=-1)
        re, im = rfft_float(x)
        return re * re + im * im

    def c_config(self):
        return {"FE_POWER_FFT_SIZE": fft_size_for(frame_length(self.cfg))}

    def c_step(self, ctx: CContext) -> CStep:
        sig = ctx.signal
        require_real(sig, "POWER_SPECTRUM")
        length, n = sig.length, fft_size_for(sig.length)
        m = n // 2
        body = []
        if sig.integer:
            body.append(f"for (n = 0; n < {length}; ++n) {{\n    src[n].f = (float)src[n].i;\n}}")
        if n > length:
            body.append(f"for (n = {length}; n < {n}; ++n) {{ /* zero padding */\n    src[n].f = 0.0f;\n}}")
        body.append(f"{rfft_c_name(n, False)}(src, dst, dst + {m + 1});")
        body.append(
            f"for (n = 0; n < {ctx.demand}; ++n) {{\n"
            f"    const float re = dst[n].f, im = dst[{m + 1} + n].f;\n"
            "    dst[n].f = re * re + im * im;\n}"
        )
        out = CSignal(m + 1, avail=ctx.demand)
        return CStep(
            out, "\n".join(body), in_place=False, decls=(rfft_c(n, False),), entries=max(n, 2 * m + 2)
        )


@dataclass(frozen=True)
class MelLayout:
    """The triangular filters as the C reads them: filter ``m`` weighs bins ``start[m] ..
    start[m] + length[m] - 1`` with ``weights[offset[m] ..]``."""

    start: np.ndarray
    length: np.ndarray
    offset: np.ndarray
    weights: np.ndarray  # float32, all filters one after the other

    @property
    def bins_used(self) -> int:
        return int(np.max(self.start + self.length))

    def padded(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(index, weight, mask)`` of shape ``(n_mels, widest filter)`` for numpy."""
        width = int(self.length.max())
        j = np.arange(width)
        mask = j[None, :] < self.length[:, None]
        index = np.where(mask, self.start[:, None] + j[None, :], 0)
        weight = np.zeros(mask.shape, np.float32)
        weight[mask] = self.weights
        return index, weight, mask


@lru_cache(maxsize=16)
def mel_layout(sampling_rate: float, n_fft: int, n_mels: int, low_hz: float, high_hz: float) -> MelLayout:
    """Triangular mel filters (peak 1) on the ``n_fft / 2 + 1`` bins of an ``n_fft``-point FFT."""
    if not 0 <= low_hz < high_hz <= sampling_rate / 2:
        raise ConfigError(
            f"MEL_FILTERBANK: mel_low_hz={low_hz} and mel_high_hz={high_hz} must satisfy 0 <= low < high <= "
            f"sampling_rate / 2 = {sampling_rate / 2}"
        )
    edges = mel_to_hz(np.linspace(hz_to_mel(low_hz), hz_to_mel(high_hz), n_mels + 2))
    freqs = np.arange(n_fft // 2 + 1) * sampling_rate / n_fft
    starts, lengths, weights = [], [], []
    for m in range(n_mels):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        w = np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid))
        nonzero = np.flatnonzero(w > 0)
        if len(nonzero) == 0:
            raise ConfigError(
                f"MEL_FILTERBANK: mel filter {m} ({lo:.0f} - {hi:.0f} Hz) holds no FFT bin ({sampling_rate / n_fft:.1f} Hz "
                f"apart); lower n_mels ({n_mels}), raise mel_low_hz, or use longer frames (frame_size)"
            )
        first, last = nonzero[0], nonzero[-1]
        starts.append(first)
        lengths.append(last - first + 1)
        weights.append(np.maximum(w[first : last + 1], 0.0))
    length = np.array(lengths, np.int64)
    offset = np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64)
    return MelLayout(np.array(starts, np.int64), length, offset, np.concatenate(weights).astype(np.float32))


def _require_int(cfg: dict, key: str, step: str) -> int:
    value = cfg.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"{step} needs data_processing_feature_extraction.{key} (a whole number >= 1), got {value!r}"
        )
    return value


@FEATURE_REGISTRY.register("MEL_FILTERBANK")
class MelFilterbank(FeatureTransform):
    """``n_mels`` triangular mel filters (peak 1, HTK mel scale) from ``mel_low_hz`` to ``mel_high_hz``
    (default ``sampling_rate / 2``) applied to a spectrum of ``N/2 + 1`` bins (POWER_SPECTRUM's), each
    filter's weighted bins summed in order."""

    def layout(self, bins: int) -> MelLayout:
        sr = self.cfg.get("sampling_rate")
        if not sr:
            raise ConfigError("MEL_FILTERBANK needs data_processing_feature_extraction.sampling_rate (Hz)")
        n_mels = _require_int(self.cfg, "n_mels", "MEL_FILTERBANK")
        high = self.cfg.get("mel_high_hz") or sr / 2
        low = self.cfg.get("mel_low_hz") or 0.0
        return mel_layout(float(sr), 2 * (bins - 1), n_mels, float(low), float(high))

    def __call__(self, x, ctx):
        if np.iscomplexobj(x):
            raise ConfigError(
                "MEL_FILTERBANK works on a real spectrum; put POWER_SPECTRUM (or ABS) before it"
            )
        index, weight, mask = self.layout(x.shape[-1]).padded()
        products = np.where(mask, as_float(x)[..., index] * weight, np.float32(0))
        return sequential_sum(products)

    def c_config(self):
        layout = self.layout(fft_size_for(frame_length(self.cfg)) // 2 + 1)
        return {
            "AUDIO_N_MELS": len(layout.start),
            "FE_MEL_LOW_HZ": float(self.cfg.get("mel_low_hz") or 0.0),
            "FE_MEL_HIGH_HZ": float(self.cfg.get("mel_high_hz") or self.cfg["sampling_rate"] / 2),
        }

    def c_input_demand(self, signal: CSignal, demand: int) -> int:
        return self.layout(signal.length).bins_used

    def c_step(self, ctx: CContext) -> CStep:
        sig = ctx.signal
        require_real(sig, "MEL_FILTERBANK")
        layout = self.layout(sig.length)
        p = ctx.prefix
        decls = (
            c_table("uint16_t", f"{p}_mel_start", layout.start),
            c_table("uint16_t", f"{p}_mel_length", layout.length),
            c_table("uint16_t", f"{p}_mel_offset", layout.offset),
            c_table("float", f"{p}_mel_weights", layout.weights),
        )
        body = (
            f"for (n = 0; n < {ctx.demand}; ++n) {{\n"
            f"    const float *w = {p}_mel_weights + {p}_mel_offset[n];\n"
            f"    const fe_value_t *x = src + {p}_mel_start[n];\n"
            "    float acc = 0.0f;\n"
            f"    for (k = 0; k < (int32_t){p}_mel_length[n]; ++k) {{\n"
            f"        acc = acc + w[k] * {read_float(sig, 'x[k]')};\n"
            "    }\n"
            "    dst[n].f = acc;\n}"
        )
        return CStep(CSignal(len(layout.start), avail=ctx.demand), body, in_place=False, decls=decls)


@lru_cache(maxsize=16)
def dct_matrix(length: int, count: int) -> np.ndarray:
    """``(count, length)`` float32 rows of the orthonormal DCT-II."""
    n = np.arange(length)
    k = np.arange(count)[:, None]
    scale = np.where(k == 0, math.sqrt(1.0 / length), math.sqrt(2.0 / length))
    return (scale * np.cos(np.pi * k * (2 * n + 1) / (2 * length))).astype(np.float32)


@FEATURE_REGISTRY.register("DCT")
class Dct(FeatureTransform):
    """Orthonormal DCT-II of each frame, the first ``n_mfcc`` coefficients (all when unset): MFCCs
    when it follows ``MEL_FILTERBANK, LOG_DB``."""

    def count(self, length: int) -> int:
        k = self.cfg.get("n_mfcc")
        if k is None:
            return length
        k = _require_int(self.cfg, "n_mfcc", "DCT")
        if k > length:
            raise ConfigError(
                f"DCT: n_mfcc={k} is more than the {length} values it transforms (n_mels); lower it"
            )
        return k

    def __call__(self, x, ctx):
        if np.iscomplexobj(x):
            raise ConfigError("DCT works on real values; put ABS or POWER_SPECTRUM before it")
        x = as_float(x)
        matrix = dct_matrix(x.shape[-1], self.count(x.shape[-1]))
        return sequential_sum(x[..., None, :] * matrix)

    def c_config(self):
        return {"AUDIO_MFCC": 1, "AUDIO_N_MFCC": int(self.cfg.get("n_mfcc") or 0)}

    def c_step(self, ctx: CContext) -> CStep:
        sig = ctx.signal
        require_real(sig, "DCT")
        count, length = self.count(sig.length), sig.length
        table = f"{ctx.prefix}_dct"
        body = (
            f"for (n = 0; n < {ctx.demand}; ++n) {{\n"
            f"    const float *c = {table} + n * {length};\n"
            "    float acc = 0.0f;\n"
            f"    for (k = 0; k < {length}; ++k) {{\n"
            f"        acc = acc + c[k] * {read_float(sig, 'src[k]')};\n"
            "    }\n"
            "    dst[n].f = acc;\n}"
        )
        decl = c_table("float", table, dct_matrix(length, count)[: ctx.demand])
        return CStep(CSignal(count, avail=ctx.demand), body, in_place=False, decls=(decl,))


# -- presets --------------------------------------------------------------------------------------
LOG_MEL = ["WINDOWING", "POWER_SPECTRUM", "MEL_FILTERBANK", "LOG_DB"]
LOG_NATURAL = dict(log_mul=1.0, log_base="e", log_threshold=1e-6)


def audio_preset(
    features: str = "mfcc",
    sampling_rate: int = 16000,
    audio_duration_ms: float = 1000,
    frame_length_ms: float = 30,
    frame_step_ms: float = 20,
    n_mels: int = 40,
    n_mfcc: int | None = 10,
    mel_low_hz: float | None = 20.0,
    mel_high_hz: float | None = None,
    extra_steps: tuple[str, ...] = (),
) -> dict:
    """The data config of a log-mel (``features='log_mel'``) or MFCC front end over clips of
    ``audio_duration_ms``: one example per clip, ``(1, frames, n_mels | n_mfcc)`` with ``output_2d``;
    ``extra_steps`` go after the last feature step (e.g. ``STANDARDIZE``)."""
    if features not in ("mfcc", "log_mel"):
        raise ConfigError(f"audio features must be 'mfcc' or 'log_mel', got {features!r}")
    frame = int(round(sampling_rate * frame_length_ms / 1000))
    hop = int(round(sampling_rate * frame_step_ms / 1000))
    samples = int(round(sampling_rate * audio_duration_ms / 1000))
    if not 1 <= hop <= frame <= samples:
        raise ConfigError(
            f"audio frames: need 1 <= frame_step_ms ({hop} samples) <= frame_length_ms ({frame} samples) <= "
            f"audio_duration_ms ({samples} samples) at {sampling_rate} Hz"
        )
    steps = LOG_MEL + (["DCT"] if features == "mfcc" else []) + list(extra_steps) + ["CONCAT"]
    return dict(
        data_proc_transforms=["SimpleWindow"],
        feat_ext_transform=steps,
        frame_size=frame,
        stride_size=hop / frame,
        num_frame_concat=(samples - frame) // hop + 1,
        concat_stride=1,
        output_2d=True,
        variables=1,
        sampling_rate=sampling_rate,
        n_mels=n_mels,
        n_mfcc=n_mfcc if features == "mfcc" else None,
        mel_low_hz=mel_low_hz,
        mel_high_hz=mel_high_hz,
        **LOG_NATURAL,
    )


# the settings of the named audio presets (audio_preset's arguments)
AUDIO_PRESET_SETTINGS = {
    # Tiny ML Tensorlab's keyword-spotting preset: 16 kHz, 1000 ms, 10 MFCC of 40 mels, 30 / 20 ms => 49 x 10
    "GoogleSpeechCommands_MFCC_Default": dict(features="mfcc", n_mels=40, n_mfcc=10),
    # ours: the log-mel spectrogram of the same frames => 49 x 40
    "Audio16kHz_LogMel_40Feature_49Frame": dict(features="log_mel", n_mels=40),
}

for _name, _settings in AUDIO_PRESET_SETTINGS.items():
    PRESET_REGISTRY.register(_name, audio_preset(**_settings))
