"""user_input_config.h: compiles, holds the configuration (ours and Tiny ML Tensorlab's names) and
the train split's statistics."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from tinyml_tinyverse.common.datasets import load_split, prepare_dataset, write_user_input_config_h
from tinyml_tinyverse.common.datasets.generators import generate_motor_fault
from tinyml_tinyverse.common.errors import ConfigError

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")  # CI images have it

PRINT_C = r"""
#include <stdio.h>
#include "user_input_config.h"
int main(void) {
    printf("%d %d %d %d %d %d\n", FE_VARIABLES, FE_FRAME_SIZE, FE_FFT_SIZE, FE_BIN_SIZE, FE_FEATURE_SIZE_PER_FRAME,
           FE_NUM_FRAME_CONCAT);
    printf("%d %d %d %d\n", FE_MODEL_INPUT_CHANNELS, FE_MODEL_INPUT_H, FE_STACKING_CHANNELS, FE_STACKING_FRAME_WIDTH);
    printf("%g %g %g\n", (double)FE_LOG_MUL, (double)FE_LOG_BASE, (double)FE_LOG_TOL);
#if defined(FE_FFT) && defined(FE_BIN) && defined(FE_LOG) && defined(FE_CONCAT) && defined(FE_DC_REM) && !defined(FE_WIN)
    printf("flags ok\n");
#endif
    printf("%.7g %.7g\n", (double)fe_standardize_mean[2][7], (double)fe_feature_mean[0]);
    return 0;
}
"""


def build(tmp_path, source):
    (tmp_path / "main.c").write_text(source)
    exe = tmp_path / "main"
    cmd = [
        "gcc",
        "-std=c99",
        "-Wall",
        "-Werror",
        "-I",
        str(tmp_path),
        str(tmp_path / "main.c"),
        "-o",
        str(exe),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return exe


def test_header_constants_flags_and_statistics(tmp_path):
    data = generate_motor_fault(
        tmp_path / "raw", files_per_class=3, length=2304, classes=("normal", "imbalance")
    )
    cfg = {
        "feature_extraction_name": "Generic_256Input_FFTBIN_16Feature_8Frame",
        "feat_ext_transform": [
            "FFT_FE",
            "FFT_POS_HALF",
            "ABS",
            "DC_REMOVE",
            "BINNING",
            "LOG_DB",
            "STANDARDIZE",
            "CONCAT",
        ],
    }
    prepare_dataset(data, tmp_path / "ds", "classification", data_config=cfg, plots=False)
    train = load_split(tmp_path / "ds", "train", "classification", cfg)
    path = write_user_input_config_h(cfg, tmp_path / "user_input_config.h", stats=train.stats)  # 3 channels
    text = path.read_text()
    assert "#define FE_FRAME_SIZE 256" in text and "#define FE_BIN_SIZE 8" in text
    lines = subprocess.run([str(build(tmp_path, PRINT_C))], capture_output=True, text=True, check=True).stdout
    lines = lines.splitlines()
    assert lines[0].split() == ["3", "256", "256", "8", "16", "8"]
    assert lines[1].split() == ["3", "128", "3", "128"]
    assert [float(v) for v in lines[2].split()] == [20.0, 10.0, 1e-100]
    assert lines[3] == "flags ok"
    mean27, fmean0 = (float(v) for v in lines[4].split())
    assert mean27 == pytest.approx(float(train.stats["standardize_mean"][2, 7]), rel=1e-6)
    assert fmean0 == pytest.approx(float(train.stats["feature_mean"][0]), rel=1e-5, abs=1e-6)


def test_1d_stacking_and_q15_values(tmp_path):
    cfg = {
        "feature_extraction_name": "MotorFault_256Input_FE_RFFT_16Feature_8Frame_3InputChannel_removeDC_1D"
    }
    text = write_user_input_config_h(cfg, tmp_path / "user_input_config.h").read_text()
    for line in (
        "#define FE_VARIABLES 3",
        "#define FE_MODEL_INPUT_CHANNELS 1",
        "#define FE_MODEL_INPUT_H 384",
        "#define FE_STACKING_1D 1",
        "#define FE_COMPLEX_MAG_SCALE_FACTOR 5",
        "#define FE_RFFT",
        "#define FE_MAG",
        "#define FE_FEATURE_SIZE_PER_FRAME 16",
    ):
        assert line in text, line
    build(tmp_path, '#include "user_input_config.h"\nint main(void) { return FE_VARIABLES - 3; }\n')


def test_channels_must_be_known(tmp_path):
    with pytest.raises(ConfigError, match="variables"):
        write_user_input_config_h({}, tmp_path / "u.h")
