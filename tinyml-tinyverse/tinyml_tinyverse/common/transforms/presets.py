"""Named feature extraction presets (``feature_extraction_name``).

A preset is a dict of data config values; keys the user writes explicitly win over the preset.
A name starting with ``Custom_`` uses the user's own ``feat_ext_transform`` list.
"""

from __future__ import annotations

from ._base import PRESET_REGISTRY

FFT_BIN = ["WINDOWING", "FFT_FE", "FFT_POS_HALF", "ABS", "BINNING", "LOG_DB", "CONCAT"]


def fft_bin_preset(frame: int, features: int, frames: int, *, dc_remove: bool = False, **extra) -> dict:
    """Hann window -> FFT -> positive half -> magnitude -> ``features`` bins -> dB -> ``frames`` frames."""
    steps = (["DC_REMOVE"] if dc_remove else []) + FFT_BIN
    return dict(
        frame_size=frame,
        feature_size_per_frame=features,
        num_frame_concat=frames,
        feat_ext_transform=steps,
        output_2d=False,
        **extra,
    )


def raw_preset(frame: int) -> dict:
    """The raw samples of one frame of ``frame`` samples."""
    return dict(
        frame_size=frame,
        feature_size_per_frame=frame,
        num_frame_concat=1,
        feat_ext_transform=["RAW_FE"],
        output_2d=False,
    )


PRESET_REGISTRY.register("Generic_1024Input_FFTBIN_64Feature_8Frame", fft_bin_preset(1024, 64, 8))
PRESET_REGISTRY.register("Generic_512Input_FFTBIN_32Feature_8Frame", fft_bin_preset(512, 32, 8))
PRESET_REGISTRY.register("Generic_256Input_FFTBIN_16Feature_8Frame", fft_bin_preset(256, 16, 8))
PRESET_REGISTRY.register("FFT1024Input_256Feature_1Frame_Full_Bandwidth", fft_bin_preset(1024, 256, 1))
PRESET_REGISTRY.register("Generic_512Input_RAW_512Feature_1Frame", raw_preset(512))
PRESET_REGISTRY.register("Generic_256Input_RAW_256Feature_1Frame", raw_preset(256))
PRESET_REGISTRY.register("Generic_128Input_RAW_128Feature_1Frame", raw_preset(128))
PRESET_REGISTRY.register(
    "Input256_FFTBIN_16Feature_8Frame_3InputChannel_removeDC_2D1",
    fft_bin_preset(256, 16, 8, dc_remove=True, variables=3) | {"output_2d": True},
)
PRESET_REGISTRY.register(
    "Input256_FFTBIN_16Feature_8Frame_3InputChannel_removeDC_1D",
    fft_bin_preset(256, 16, 8, dc_remove=True, variables=3),
)
