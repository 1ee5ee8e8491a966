"""Transform registries, presets, config validation and the drop-in-a-file extension path."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import tinyml_tinyverse
from tinyml_tinyverse.common.datasets import (
    DATA_CONFIG_DEFAULTS,
    DATA_CONFIG_HELP,
    model_input_kwargs,
    validate_data_config,
)
from tinyml_tinyverse.common.errors import ConfigError
from tinyml_tinyverse.common.transforms import FEATURE_REGISTRY, PRESET_REGISTRY

ISSUE_TRANSFORMS = (
    "RAW_FE FFT_FE FFT_POS_HALF WINDOWING DC_REMOVE ABS BINNING NORMALIZE LOG_DB CONCAT ECG_NORMALIZE "
    "HAAR HADAMARD TO_Q15 FFT_Q15 Q15_SCALE Q15_MAG BIN_Q15 ROUND_OFF SUBTRACT_MEAN STANDARDIZE "
    "KURT_FE ENT_FE ZCR_FE DOM_FE SLOPE_FE"
).split()

# Tiny ML Tensorlab's time-series presets and their model input C x W (ours: C x H x 1)
PRESET_SHAPES = {
    "Generic_1024Input_FFTBIN_64Feature_8Frame": (1, 512),
    "Generic_512Input_FFTBIN_32Feature_8Frame": (1, 256),
    "Generic_256Input_FFTBIN_16Feature_8Frame": (1, 128),
    "Generic_32Input_FFTBIN_4Feature_8Frame": (1, 32),
    "Generic_1024Input_FFT_512Feature_1Frame": (1, 512),
    "Generic_512Input_FFT_256Feature_1Frame": (1, 256),
    "Generic_256Input_FFT_128Feature_1Frame": (1, 128),
    "Generic_512Input_RAW_512Feature_1Frame": (1, 512),
    "Generic_256Input_RAW_256Feature_1Frame": (1, 256),
    "Generic_128Input_RAW_128Feature_1Frame": (1, 128),
    "Generic_8Input_ABS_8Feature_1Frame": (1, 8),
    "FFT1024Input_256Feature_1Frame_Full_Bandwidth": (1, 256),
    "FFT1024Input_256Feature_1Frame_Half_Bandwidth": (1, 256),
    "FFT1024Input_64Feature_4Frame_Half_Bandwidth": (1, 256),
    "FFT1024Input_32Feature_8Frame_Quarter_Bandwidth": (1, 256),
    "ArcFault_1024Input_256Feature_1Frame_Full_Bandwidth": (1, 256),
    "ArcFault_1024Input_256Feature_1Frame_Half_Bandwidth": (1, 256),
    "ArcFault_1024Input_64Feature_4Frame_Half_Bandwidth": (1, 256),
    "ArcFault_1024Input_32Feature_8Frame_Quarter_Bandwidth": (1, 256),
    "FFT256Input_FE_RFFT_16Feature_8Frame_removeDC_Full_Bandwidth": (1, 128),
    "ArcFault_1024Input_FE_RFFT_128Feature_8Frame_1InputChannel_removeDC_Full_Bandwidth": (1, 1024),
    "ArcFault_512Input_FE_RFFT_32Feature_8Frame_1InputChannel_removeDC_Full_Bandwidth": (1, 256),
    "MotorFault_256Input_FE_RFFT_16Feature_8Frame_3InputChannel_removeDC_1D": (1, 384),
    "MotorFault_256Input_FE_RFFT_16Feature_8Frame_3InputChannel_removeDC_2D1": (3, 128),
    "FallDetection_256Input_FE_RFFT_8Feature_8Frame_3InputChannel_removeDC_2D1": (3, 64),
    "Input256_FFTBIN_16Feature_8Frame_3InputChannel_removeDC_1D": (1, 384),
    "Input256_FFTBIN_16Feature_8Frame_3InputChannel_removeDC_2D1": (3, 128),
    "Input256_FFT_128Feature_1Frame_3InputChannel_removeDC_2D1": (3, 128),
    "Input128_RAW_128Feature_1Frame_3InputChannel_removeDC_2D1": (3, 128),
    "MotorFault_128Input_RAW_128Feature_1Frame_3InputChannel_removeDC_2D1": (3, 128),
    # audio (issue 12): 16 kHz, 1000 ms, 30 / 20 ms frames => 49 frames; 10 MFCC (the reference's) or 40 log-mels
    "GoogleSpeechCommands_MFCC_Default": (1, (49, 10)),
    "Audio16kHz_LogMel_40Feature_49Frame": (1, (49, 40)),
}


def test_every_issue_transform_is_registered():
    assert set(ISSUE_TRANSFORMS) <= set(FEATURE_REGISTRY)
    assert set(PRESET_SHAPES) == set(PRESET_REGISTRY)


@pytest.mark.parametrize("name", sorted(PRESET_SHAPES))
def test_preset_shapes_are_the_reference_ones(name):
    variables = 3 if "3InputChannel" in name else 1
    got = model_input_kwargs({"feature_extraction_name": name, "variables": variables})
    channels, width = PRESET_SHAPES[name]
    assert got == {"input_features": width, "variables": channels}


def test_preset_steps_mean_what_the_reference_names_say():
    def steps(name):
        return validate_data_config({"feature_extraction_name": name})

    generic = steps("Generic_256Input_FFTBIN_16Feature_8Frame")
    assert (
        "WINDOWING" not in generic["feat_ext_transform"] and generic["normalize_bin"]
    )  # averaged bins, no Hann
    assert (generic["log_mul"], generic["log_base"], generic["log_threshold"]) == (20.0, 10, 1e-100)
    band = steps("FFT1024Input_256Feature_1Frame_Half_Bandwidth")
    assert (
        band["feat_ext_transform"][:3] == ["WINDOWING", "FFT_FE", "NORMALIZE"] and not band["normalize_bin"]
    )
    assert (band["analysis_bandwidth"], band["min_bin"], band["log_base"]) == (2, 122, "e")
    q15 = steps("ArcFault_1024Input_FE_RFFT_128Feature_8Frame_1InputChannel_removeDC_Full_Bandwidth")
    assert q15["feat_ext_transform"] == ["FFT_Q15", "Q15_SCALE", "Q15_MAG", "DC_REMOVE", "BIN_Q15", "CONCAT"]
    assert (q15["q15_scale_factor"], q15["concat_stride"]) == (4, 8)
    assert validate_data_config({"frame_skip": 8})["concat_stride"] == 8  # the reference's key name


def test_defaults_are_documented_and_validation_is_idempotent():
    assert set(DATA_CONFIG_HELP) == set(DATA_CONFIG_DEFAULTS)
    cfg = validate_data_config(
        {"feature_extraction_name": "Generic_512Input_FFTBIN_32Feature_8Frame", "frame_size": 256}
    )
    assert cfg["frame_size"] == 256  # an explicit key wins over the preset
    assert cfg["feature_size_per_frame"] == 32
    assert validate_data_config(cfg) == cfg
    assert validate_data_config(None)["feat_ext_transform"] == ["RAW_FE"]
    custom = validate_data_config({"feature_extraction_name": "Custom_mine", "feat_ext_transform": ["HAAR"]})
    assert custom["feat_ext_transform"] == ["HAAR"]


@pytest.mark.parametrize(
    "cfg, match",
    [
        ({"frame_sise": 128}, "unknown key .*frame_sise.*did you mean 'frame_size'"),
        ({"frame_size": "128"}, "frame_size: must be a whole number"),
        ({"frame_size": 0}, "frame_size"),
        ({"stride_size": 1.5}, "stride_size"),
        ({"nan_policy": "ignore"}, "nan_policy: must be one of error, drop, interpolate"),
        (
            {"feat_ext_transform": ["FFT_EF"]},
            "unknown feature extraction transform 'FFT_EF'.*did you mean 'FFT_FE'",
        ),
        ({"data_proc_transforms": ["SimpleWindows"]}, "did you mean 'SimpleWindow'"),
        (
            {"feature_extraction_name": "Generic_256Input_FFTBIN_16Features_8Frame"},
            "did you mean 'Generic_256Input_FFTBIN_16Feature_8Frame'",
        ),
        ({"data_proc_transforms": ["Downsample"]}, "sampling_rate and new_sr"),
        ({"data_proc_transforms": ["GainVariation"]}, "gain_variations"),
        ({"gain_variations": [2.0, 1.0]}, "low <= high"),
        ({"num_frame_concat": 4}, "no CONCAT"),
        ({"variables": 0}, "variables"),
        ({"augmentation": 3}, "augmentation"),
        ({"stacking": "2D"}, "stacking: must be 1D or 2D1"),
        ({"log_base": 1}, "log_base"),
        ({"log_threshold": 0}, "log_threshold"),
        ({"frame_skip": 2, "concat_stride": 3}, "frame_skip: is another name of concat_stride"),
    ],
)
def test_config_errors_name_the_key(cfg, match):
    with pytest.raises(ConfigError, match=match):
        validate_data_config(cfg)


def test_model_input_kwargs_needs_variables():
    with pytest.raises(ConfigError, match="variables is not set"):
        model_input_kwargs({})
    assert model_input_kwargs({"variables": ["ax", "ay"], "frame_size": 64}) == {
        "input_features": 64,
        "variables": 2,
    }


def test_a_dropped_in_file_registers_a_transform(tmp_path):
    """Copy the package, drop a new module into common/transforms/, use it by name: no other edit."""
    pkg = Path(tinyml_tinyverse.__file__).parent
    shutil.copytree(pkg, tmp_path / "tinyml_tinyverse", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "tinyml_tinyverse" / "common" / "transforms" / "my_square.py").write_text(
        textwrap.dedent(
            """
            from tinyml_tinyverse.common.transforms import FEATURE_REGISTRY, FeatureTransform
            from tinyml_tinyverse.common.transforms.c_code import CSignal, CStep

            @FEATURE_REGISTRY.register("SQUARE")
            class Square(FeatureTransform):
                def __call__(self, x, ctx):
                    return x * x

                def c_step(self, ctx):  # the same step on the chip
                    body = f"for (n = 0; n < {ctx.signal.length}; ++n) {{ buf[n].f = buf[n].f * buf[n].f; }}"
                    return CStep(CSignal(ctx.signal.length), body)
            """
        )
    )
    script = textwrap.dedent(
        """
        import numpy as np
        import tinyml_tinyverse
        from tinyml_tinyverse.common.compilation.frontend_c import generate_frontend
        from tinyml_tinyverse.common.datasets import validate_data_config
        from tinyml_tinyverse.common.transforms import Recording, extract_features
        cfg = validate_data_config({"feat_ext_transform": ["SQUARE"], "frame_size": 4})
        x = extract_features([Recording(np.arange(8, dtype=np.float32)[:, None])], cfg).X
        print(tinyml_tinyverse.__file__)
        print(x.reshape(-1).tolist())
        print("fe_step0_square" in generate_frontend(cfg, 1).source)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    lines = out.stdout.splitlines()
    assert lines[0].startswith(str(tmp_path))
    assert lines[1] == str([float(v * v) for v in range(8)])
    assert lines[2] == "True"  # its C is in the generated feature_extract.c
