"""Named feature extraction presets (``feature_extraction_name``).

A preset is a dict of data config values; keys the user writes explicitly win over the preset.
A name starting with ``Custom_`` uses the user's own ``feat_ext_transform`` list.

The presets carry Tiny ML Tensorlab's names and mean what they mean there: the same steps (listed
here in the order that toolchain applies them), the same bins and the same model input
(``C x H``: channels x features; our tensors are ``N x C x H x 1``).
"""

from __future__ import annotations

from ._base import PRESET_REGISTRY

FFT_BIN = ["FFT_FE", "FFT_POS_HALF", "ABS", "DC_REMOVE", "BINNING", "LOG_DB", "CONCAT"]
FFT_FULL = ["FFT_FE", "FFT_POS_HALF", "ABS", "DC_REMOVE", "LOG_DB", "CONCAT"]
FFT_BANDWIDTH = ["WINDOWING", "FFT_FE", "NORMALIZE", "FFT_POS_HALF", "ABS", "BINNING", "LOG_DB", "CONCAT"]
Q15_RFFT = ["FFT_Q15", "Q15_SCALE", "Q15_MAG", "DC_REMOVE", "BIN_Q15", "CONCAT"]
LOG_DB_10 = dict(log_mul=20.0, log_base=10, log_threshold=1e-100)
LOG_LN = dict(log_mul=10.0, log_base="e", log_threshold=1e-12)


def preset(steps: list[str], frame: int, features: int, frames: int = 1, **extra) -> dict:
    return dict(
        frame_size=frame,
        feature_size_per_frame=features,
        num_frame_concat=frames,
        feat_ext_transform=list(steps),
        output_2d=False,
        **extra,
    )


def fft_bin(frame: int, features: int, frames: int, **extra) -> dict:
    """FFT -> positive half -> |.| -> drop DC -> average of ``frame/2/features`` bins -> 20 log10."""
    return preset(FFT_BIN, frame, features, frames, normalize_bin=True, **LOG_DB_10, **extra)


def fft_full(frame: int, **extra) -> dict:
    """FFT -> positive half -> |.| -> drop DC -> 20 log10: ``frame/2`` features."""
    return preset(FFT_FULL, frame, frame // 2, 1, **LOG_DB_10, **extra)


def fft_bandwidth(features: int, frames: int, bandwidth: int, min_bin: int) -> dict:
    """Hann -> FFT / N -> positive half -> |.| -> sum of bins from ``min_bin`` -> 10 ln."""
    return preset(
        FFT_BANDWIDTH, 1024, features, frames, analysis_bandwidth=bandwidth, min_bin=min_bin, **LOG_LN
    )


def q15_rfft(frame: int, features: int, frames: int, shift: int, **extra) -> dict:
    """Fixed point: Q15 real FFT -> shift -> 2.14 magnitude -> drop DC -> integer bin means."""
    return preset(Q15_RFFT, frame, features, frames, q15_scale_factor=shift, **extra)


def raw(frame: int, **extra) -> dict:
    """The raw samples of one frame of ``frame`` samples."""
    return preset(["RAW_FE", "CONCAT"], frame, frame, 1, **extra)


THREE = dict(variables=3)
PRESETS = {
    # generic, one channel unless the YAML sets variables (then C = variables)
    "Generic_1024Input_FFTBIN_64Feature_8Frame": fft_bin(1024, 64, 8),
    "Generic_512Input_FFTBIN_32Feature_8Frame": fft_bin(512, 32, 8),
    "Generic_256Input_FFTBIN_16Feature_8Frame": fft_bin(256, 16, 8),
    "Generic_32Input_FFTBIN_4Feature_8Frame": fft_bin(32, 4, 8),
    "Generic_1024Input_FFT_512Feature_1Frame": fft_full(1024),
    "Generic_512Input_FFT_256Feature_1Frame": fft_full(512),
    "Generic_256Input_FFT_128Feature_1Frame": fft_full(256),
    "Generic_512Input_RAW_512Feature_1Frame": raw(512),
    "Generic_256Input_RAW_256Feature_1Frame": raw(256),
    "Generic_128Input_RAW_128Feature_1Frame": raw(128),
    "Generic_8Input_ABS_8Feature_1Frame": preset(["ABS", "LOG_DB", "CONCAT"], 8, 8, 1, **LOG_DB_10),
    # the float FFT with bandwidth selection (arc fault detection)
    "FFT1024Input_256Feature_1Frame_Full_Bandwidth": fft_bandwidth(256, 1, 1, 1),
    "FFT1024Input_256Feature_1Frame_Half_Bandwidth": fft_bandwidth(256, 1, 2, 122),
    "FFT1024Input_64Feature_4Frame_Half_Bandwidth": fft_bandwidth(64, 4, 2, 1),
    "FFT1024Input_32Feature_8Frame_Quarter_Bandwidth": fft_bandwidth(32, 8, 4, 1),
    "ArcFault_1024Input_256Feature_1Frame_Full_Bandwidth": fft_bandwidth(256, 1, 1, 1),
    "ArcFault_1024Input_256Feature_1Frame_Half_Bandwidth": fft_bandwidth(256, 1, 2, 122),
    "ArcFault_1024Input_64Feature_4Frame_Half_Bandwidth": fft_bandwidth(64, 4, 2, 1),
    "ArcFault_1024Input_32Feature_8Frame_Quarter_Bandwidth": fft_bandwidth(32, 8, 4, 1),
    # fixed point (Q15), bit-exact between Python and the chip
    "FFT256Input_FE_RFFT_16Feature_8Frame_removeDC_Full_Bandwidth": q15_rfft(256, 16, 8, 5),
    "ArcFault_1024Input_FE_RFFT_128Feature_8Frame_1InputChannel_removeDC_Full_Bandwidth": q15_rfft(
        1024, 128, 8, 4, concat_stride=8, variables=1
    ),
    "ArcFault_512Input_FE_RFFT_32Feature_8Frame_1InputChannel_removeDC_Full_Bandwidth": q15_rfft(
        512, 32, 8, 5, variables=1
    ),
    "MotorFault_256Input_FE_RFFT_16Feature_8Frame_3InputChannel_removeDC_1D": q15_rfft(
        256, 16, 8, 5, stacking="1D", **THREE
    ),
    "MotorFault_256Input_FE_RFFT_16Feature_8Frame_3InputChannel_removeDC_2D1": q15_rfft(
        256, 16, 8, 5, stacking="2D1", **THREE
    ),
    "FallDetection_256Input_FE_RFFT_8Feature_8Frame_3InputChannel_removeDC_2D1": q15_rfft(
        256, 8, 8, 5, stacking="2D1", **THREE
    ),
    # three channels
    "Input256_FFTBIN_16Feature_8Frame_3InputChannel_removeDC_1D": fft_bin(256, 16, 8, stacking="1D", **THREE),
    "Input256_FFTBIN_16Feature_8Frame_3InputChannel_removeDC_2D1": fft_bin(
        256, 16, 8, stacking="2D1", **THREE
    ),
    "Input256_FFT_128Feature_1Frame_3InputChannel_removeDC_2D1": fft_full(256, stacking="2D1", **THREE),
    "Input128_RAW_128Feature_1Frame_3InputChannel_removeDC_2D1": raw(128, stacking="2D1", **THREE),
    # Tiny ML Tensorlab lists FE_DECIMATE and FE_Q15 here, which it does not implement: raw samples
    "MotorFault_128Input_RAW_128Feature_1Frame_3InputChannel_removeDC_2D1": raw(128, stacking="2D1", **THREE),
}

for _name, _values in PRESETS.items():
    PRESET_REGISTRY.register(_name, _values)
