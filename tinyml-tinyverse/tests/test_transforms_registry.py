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
    "HAAR HADAMARD TO_Q15 FFT_Q15 Q15_SCALE Q15_MAG BIN_Q15"
).split()

PRESET_SHAPES = {
    "Generic_1024Input_FFTBIN_64Feature_8Frame": 512,
    "Generic_512Input_FFTBIN_32Feature_8Frame": 256,
    "Generic_256Input_FFTBIN_16Feature_8Frame": 128,
    "FFT1024Input_256Feature_1Frame_Full_Bandwidth": 256,
    "Generic_512Input_RAW_512Feature_1Frame": 512,
    "Generic_256Input_RAW_256Feature_1Frame": 256,
    "Generic_128Input_RAW_128Feature_1Frame": 128,
    "Input256_FFTBIN_16Feature_8Frame_3InputChannel_removeDC_2D1": (8, 16),
    "Input256_FFTBIN_16Feature_8Frame_3InputChannel_removeDC_1D": 128,
}


def test_every_issue_transform_is_registered():
    assert set(ISSUE_TRANSFORMS) <= set(FEATURE_REGISTRY)
    assert set(PRESET_SHAPES) == set(PRESET_REGISTRY)


@pytest.mark.parametrize("name", sorted(PRESET_SHAPES))
def test_preset_shapes(name):
    got = model_input_kwargs({"feature_extraction_name": name, "variables": 3})
    assert got == {"input_features": PRESET_SHAPES[name], "variables": 3}


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

            @FEATURE_REGISTRY.register("SQUARE")
            class Square(FeatureTransform):
                def __call__(self, x, ctx):
                    return x * x
            """
        )
    )
    script = textwrap.dedent(
        """
        import numpy as np
        import tinyml_tinyverse
        from tinyml_tinyverse.common.datasets import validate_data_config
        from tinyml_tinyverse.common.transforms import Recording, extract_features
        cfg = validate_data_config({"feat_ext_transform": ["SQUARE"], "frame_size": 4})
        x = extract_features([Recording(np.arange(8, dtype=np.float32)[:, None])], cfg).X
        print(tinyml_tinyverse.__file__)
        print(x.reshape(-1).tolist())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    lines = out.stdout.splitlines()
    assert lines[0].startswith(str(tmp_path))
    assert lines[1] == str([float(v * v) for v in range(8)])
