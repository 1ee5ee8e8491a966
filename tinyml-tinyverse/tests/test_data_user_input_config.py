"""user_input_config.h: compiled with gcc; a C feature extractor built on it matches Python bit for bit."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from scipy import signal
from tinyml_tinyverse.common.datasets import (
    load_split,
    prepare_dataset,
    validate_data_config,
    write_user_input_config_h,
)
from tinyml_tinyverse.common.datasets.generators import generate_motor_fault
from tinyml_tinyverse.common.errors import ConfigError
from tinyml_tinyverse.common.transforms import Recording, extract_features

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")  # CI images have it

Q15_C = r"""
#include <stdio.h>
#include <stdint.h>
#include <math.h>
#include "user_input_config.h"

static int32_t sat16(int64_t v) { return v > 32767 ? 32767 : (v < -32768 ? -32768 : (int32_t)v); }
static int64_t isqrt64(int64_t v) {
    int64_t s = (int64_t)sqrt((double)v);
    while (s * s > v) s--;
    while ((s + 1) * (s + 1) <= v) s++;
    return s;
}
int main(void) {
    float x[FE_FRAME_SIZE];
    int32_t re[FE_FFT_SIZE], im[FE_FFT_SIZE], q[FE_FRAME_SIZE], mag[FE_FFT_SIZE / 2];
    int bits = 0;
    while ((1 << bits) < FE_FFT_SIZE) bits++;
    for (;;) {
        for (int i = 0; i < FE_FRAME_SIZE; i++)
            if (scanf("%f", &x[i]) != 1) return 0;
        for (int i = 0; i < FE_FRAME_SIZE; i++)
            q[i] = sat16(llrint((double)x[i] * 32768.0 / (double)FE_Q15_FULL_SCALE));
        for (int i = 0; i < FE_FFT_SIZE; i++) {
            int r = 0;
            for (int b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
            re[i] = q[r];
            im[i] = 0;
        }
        for (int m = 1; m < FE_FFT_SIZE; m *= 2) {
            int step = FE_FFT_SIZE / (2 * m);
            for (int s = 0; s < FE_FFT_SIZE; s += 2 * m)
                for (int k = 0; k < m; k++) {
                    int64_t wr = fe_twiddle_q15_re[k * step], wi = fe_twiddle_q15_im[k * step];
                    int a = s + k, b = a + m;
                    int64_t tr = ((int64_t)re[b] * wr - (int64_t)im[b] * wi) >> 15;
                    int64_t ti = ((int64_t)re[b] * wi + (int64_t)im[b] * wr) >> 15;
                    int64_t ar = re[a], ai = im[a];
                    re[a] = sat16((ar + tr) >> 1); re[b] = sat16((ar - tr) >> 1);
                    im[a] = sat16((ai + ti) >> 1); im[b] = sat16((ai - ti) >> 1);
                }
        }
        for (int k = 0; k < FE_FFT_SIZE / 2; k++) {
            int64_t m = isqrt64((int64_t)re[k] * re[k] + (int64_t)im[k] * im[k]);
            mag[k] = sat16((m * FE_Q15_SCALE_MULTIPLIER + (1 << 14)) >> 15);
        }
        int shift = 0;
        while ((1 << shift) < FE_BIN_SIZE) shift++;
        for (int b = 0; b < FE_FEATURE_SIZE_PER_FRAME; b++) {
            int64_t sum = 0;
            for (int j = 0; j < FE_BIN_SIZE; j++) sum += mag[b * FE_BIN_SIZE + j];
            printf("%lld ", (long long)(sum >> shift));
        }
        printf("\n");
    }
}
"""

FLOAT_C = r"""
#include <stdio.h>
#include "user_input_config.h"
int main(void) {
    printf("%d %d %d %d %d %d %d\n", FE_VARIABLES, FE_FRAME_SIZE, FE_STRIDE_SAMPLES, FE_FFT_SIZE, FE_BIN_SIZE,
           FE_FEATURE_SIZE_PER_FRAME, FE_NUM_FRAME_CONCAT);
    printf("%d %d %d %g\n", FE_MODEL_INPUT_CHANNELS, FE_MODEL_INPUT_H, FE_MODEL_INPUT_W, (double)FE_LOG_DB_FLOOR);
    for (int i = 0; i < FE_NUM_STEPS; i++) printf("%d ", fe_steps[i]);
    printf("\n%.9g %.9g\n", (double)fe_hann_window[5], (double)fe_norm_mean[2][7]);
    printf("%.9g %.9g\n", (double)fe_norm_std[1][3], (double)fe_feature_mean[0]);
    return 0;
}
"""


FFT_BIN_C = r"""
#include <stdio.h>
#include <math.h>
#include "user_input_config.h"
int main(void) {
    double x[FE_FRAME_SIZE], mag[FE_FFT_SIZE / 2];
    const double pi = 3.14159265358979323846;
    for (;;) {
        double mean = 0.0;
        for (int i = 0; i < FE_FRAME_SIZE; i++) {
            float v;
            if (scanf("%f", &v) != 1) return 0;
            x[i] = v;
            mean += v;
        }
#ifdef FE_USE_DC_REMOVE
        for (int i = 0; i < FE_FRAME_SIZE; i++) x[i] -= mean / FE_FRAME_SIZE;
#endif
        for (int i = 0; i < FE_FRAME_SIZE; i++) x[i] *= fe_hann_window[i];
        for (int k = 0; k < FE_FFT_SIZE / 2; k++) {  /* plain DFT of the positive half */
            double re = 0.0, im = 0.0;
            for (int n = 0; n < FE_FFT_SIZE; n++) {
                re += x[n] * cos(2 * pi * k * n / FE_FFT_SIZE);
                im -= x[n] * sin(2 * pi * k * n / FE_FFT_SIZE);
            }
            mag[k] = sqrt(re * re + im * im);
        }
        for (int b = 0; b < FE_FEATURE_SIZE_PER_FRAME; b++) {
            double sum = 0.0;
            for (int j = 0; j < FE_BIN_SIZE; j++) sum += mag[b * FE_BIN_SIZE + j];
            double db = 20.0 * log10(sum / FE_BIN_SIZE);
            printf("%.6f ", db < FE_LOG_DB_FLOOR ? (double)FE_LOG_DB_FLOOR : db);
        }
        printf("\n");
    }
}
"""


def build(tmp_path, source):
    (tmp_path / "main.c").write_text(source)
    exe = tmp_path / "fe"
    cmd = [
        "gcc",
        "-std=c99",
        "-Wall",
        "-Werror",
        "-O1",
        "-I",
        str(tmp_path),
        str(tmp_path / "main.c"),
        "-o",
        str(exe),
    ]
    proc = subprocess.run(cmd + ["-lm"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return exe


def test_c_fixed_point_feature_extraction_is_bit_exact(tmp_path):
    cfg = validate_data_config(
        {
            "frame_size": 128,
            "feature_size_per_frame": 16,
            "variables": 1,
            "feat_ext_transform": ["TO_Q15", "FFT_Q15", "FFT_POS_HALF", "Q15_MAG", "Q15_SCALE", "BIN_Q15"],
            "q15_full_scale": 2.0,
            "q15_scale_factor": 6.5,
        }
    )
    t = np.arange(128 * 20)
    rng = np.random.default_rng(4)
    x = (0.8 * np.sin(2 * np.pi * t * 0.07) + 0.4 * rng.normal(size=t.size)).astype(np.float32)[:, None]
    py = extract_features([Recording(x)], cfg).X[:, 0, :, 0].astype(np.int64)
    write_user_input_config_h(cfg, tmp_path / "user_input_config.h")
    exe = build(tmp_path, Q15_C)
    frames = "\n".join(" ".join(f"{v:.9g}" for v in x[i * 128 : (i + 1) * 128, 0]) for i in range(20))
    out = subprocess.run([str(exe)], input=frames, capture_output=True, text=True, check=True).stdout
    c = np.array([[int(v) for v in line.split()] for line in out.splitlines()])
    assert c.shape == py.shape == (20, 16)
    np.testing.assert_array_equal(c, py)
    assert py.max() > 100  # the features are not trivially zero


def test_header_constants_and_statistics(tmp_path):
    data = generate_motor_fault(
        tmp_path / "raw", files_per_class=3, length=2304, classes=("normal", "imbalance")
    )
    cfg = {
        "feature_extraction_name": "Generic_256Input_FFTBIN_16Feature_8Frame",
        "feat_ext_transform": [
            "DC_REMOVE",
            "WINDOWING",
            "FFT_FE",
            "FFT_POS_HALF",
            "ABS",
            "BINNING",
            "LOG_DB",
            "NORMALIZE",
            "CONCAT",
        ],
    }
    prepare_dataset(data, tmp_path / "ds", "classification", data_config=cfg, plots=False)
    train = load_split(tmp_path / "ds", "train", "classification", cfg)
    path = write_user_input_config_h(cfg, tmp_path / "user_input_config.h", stats=train.stats)
    text = path.read_text()
    assert "#define FE_FRAME_SIZE 256" in text and "#define FE_BIN_SIZE 8" in text
    exe = build(tmp_path, FLOAT_C)
    lines = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()
    assert lines[0].split() == ["3", "256", "256", "256", "8", "16", "8"]
    assert lines[1].split() == ["3", "128", "1", "-100"]
    assert len(lines[2].split()) == 9
    hann5, mean27 = (float(v) for v in lines[3].split())
    assert hann5 == pytest.approx(signal.get_window("hann", 256)[5], rel=1e-6)
    assert mean27 == pytest.approx(float(train.stats["normalize_mean"][2, 7]), rel=1e-6)
    std13, fmean0 = (float(v) for v in lines[4].split())
    assert std13 == pytest.approx(float(train.stats["normalize_std"][1, 3]), rel=1e-6)
    assert fmean0 == pytest.approx(float(train.stats["feature_mean"][0]), rel=1e-5, abs=1e-6)


def test_channels_must_be_known(tmp_path):
    with pytest.raises(ConfigError, match="variables"):
        write_user_input_config_h({}, tmp_path / "u.h")


@pytest.mark.parametrize(
    "preset",
    [
        "Generic_256Input_FFTBIN_16Feature_8Frame",
        "Input256_FFTBIN_16Feature_8Frame_3InputChannel_removeDC_2D1",
    ],
)
def test_c_fft_bin_features_match_python(tmp_path, preset):
    cfg = validate_data_config({"feature_extraction_name": preset, "variables": 3})
    rng = np.random.default_rng(2)
    t = np.arange(256 * 9)
    x = np.sin(2 * np.pi * 0.05 * t)[:, None] * [1.0, 0.5, 0.2] + 0.3 + 0.1 * rng.normal(size=(t.size, 3))
    x = x.astype(np.float32)
    py = extract_features([Recording(x)], cfg).X  # 2 examples of 8 frames
    frames_py = py[0, 1].reshape(8, 16)  # channel 1, example 0
    write_user_input_config_h(cfg, tmp_path / "user_input_config.h")
    exe = build(tmp_path, FFT_BIN_C)
    frames = "\n".join(" ".join(f"{v:.9g}" for v in x[i * 256 : (i + 1) * 256, 1]) for i in range(8))
    out = subprocess.run([str(exe)], input=frames, capture_output=True, text=True, check=True).stdout
    c = np.array([[float(v) for v in line.split()] for line in out.splitlines()])
    np.testing.assert_allclose(c, frames_py, atol=2e-3)
