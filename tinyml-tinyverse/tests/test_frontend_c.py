"""The on-chip front end as C: the FFTs bit-exact with numpy, every transform's C against its Python,
every preset compiled into the pipeline with a model and checked from raw samples to the answer."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from tinyml_tinyverse.common.compilation import compile_model
from tinyml_tinyverse.common.compilation.frontend_c import generate_frontend
from tinyml_tinyverse.common.datasets import model_input_kwargs, validate_data_config
from tinyml_tinyverse.common.errors import CompilationError
from tinyml_tinyverse.common.transforms import (
    FEATURE_REGISTRY,
    PRESET_REGISTRY,
    Recording,
    extract_features,
    min_recording_length,
)
from tinyml_tinyverse.common.transforms.fft import rfft_c, rfft_c_name, rfft_float, rfft_q15

pytestmark = [
    pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # the TorchScript ONNX exporter
]
CFLAGS = ["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror"]


def build_run(tmp_path: Path, sources: dict[str, str]) -> str:
    for name, text in sources.items():
        (tmp_path / name).write_text(text)
    exe = tmp_path / "run"
    c_files = [str(tmp_path / n) for n in sources if n.endswith(".c")]
    proc = subprocess.run(
        [*CFLAGS, "-I", str(tmp_path), *c_files, "-o", str(exe), "-lm"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("q15", [False, True])
@pytest.mark.parametrize("n", [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
def test_fft_c_is_bit_exact_with_numpy(tmp_path, n, q15):
    rng = np.random.default_rng(n)
    if q15:
        x = np.round(rng.uniform(-32768, 32767, size=n)).astype(np.int64)
        init = ", ".join(f"{{.i = {v}}}" for v in x)
    else:
        x = rng.normal(size=n).astype(np.float32)
        init = ", ".join(f"{{.f = {v:.9g}f}}" for v in x)
    m, member, fmt = n // 2, "i" if q15 else "f", "%d" if q15 else "%.9g"
    main = (
        "#include <stdint.h>\n#include <stdio.h>\ntypedef union { float f; int32_t i; } fe_value_t;\n"
        + rfft_c(n, q15)
        + f"static fe_value_t in[{n}] = {{{init}}};\nstatic fe_value_t out[{n + 2}];\n"
        + f"int main(void) {{\n    int k;\n    {rfft_c_name(n, q15)}(in, out, out + {m + 1});\n"
        + f'    for (k = 0; k < {n + 2}; ++k) {{\n        printf("{fmt}\\n", out[k].{member});\n    }}\n    return 0;\n}}\n'
    )
    got = np.array(build_run(tmp_path, {"fft.c": main}).split(), np.float64)
    re, im = (rfft_q15 if q15 else rfft_float)(x[None])
    want = np.concatenate([re[0], im[0]])
    if not q15:
        got = got.astype(np.float32)
    np.testing.assert_array_equal(got, want)  # bit for bit
    ref = np.fft.rfft(x.astype(np.float64)) / (n if q15 else 1)
    err = np.abs(want[: m + 1] + 1j * want[m + 1 :] - ref)
    assert err.max() < (3.0 if q15 else 1e-5 * np.abs(ref).max())


# Custom lists that together use every registered feature transform
CUSTOM = {
    "spectrum": dict(
        frame_size=128, feature_size_per_frame=16,
        feat_ext_transform=["SUBTRACT_MEAN", "WINDOWING", "FFT_FE", "NORMALIZE", "FFT_POS_HALF", "ABS",
                            "DC_REMOVE", "BINNING", "LOG_DB", "STANDARDIZE", "CONCAT"],
        num_frame_concat=3, stride_size=0.5, log_db_floor=-80.0, normalize_bin=True,
    ),
    "statistics": dict(
        frame_size=64, feat_ext_transform=["RAW_FE", "KURT_FE", "ZCR_FE", "SLOPE_FE", "ENT_FE", "DOM_FE"],
        dc_remove=True,
    ),
    "spectral_statistics": dict(frame_size=64, feat_ext_transform=["FFT_FE", "FFT_POS_HALF", "ABS", "ENT_FE", "DOM_FE"]),
    "orthonormal": dict(frame_size=64, feat_ext_transform=["ECG_NORMALIZE", "HAAR", "HADAMARD", "ROUND_OFF"]),
    "fixed_point": dict(
        frame_size=128, feature_size_per_frame=8,
        feat_ext_transform=["TO_Q15", "FFT_Q15", "FFT_POS_HALF", "Q15_SCALE", "Q15_MAG", "DC_REMOVE", "BIN_Q15", "CONCAT"],
        q15_full_scale=4.0, q15_scale_factor=3, num_frame_concat=2,
    ),
    "audio": dict(
        frame_size=400, stride_size=0.4, num_frame_concat=3, sampling_rate=16000, n_mels=24, n_mfcc=12,
        mel_low_hz=40.0, mel_high_hz=7000.0, log_mul=1.0, log_base="e", log_threshold=1e-6,
        feat_ext_transform=["WINDOWING", "POWER_SPECTRUM", "MEL_FILTERBANK", "LOG_DB", "DCT", "STANDARDIZE", "CONCAT"],
    ),
    "q15_then_float": dict(
        frame_size=64, feature_size_per_frame=8,
        feat_ext_transform=["FFT_Q15", "Q15_MAG", "ABS", "BINNING", "LOG_DB"], min_bin=2, analysis_bandwidth=2,
    ),
}  # fmt: skip


def test_the_custom_lists_cover_every_transform():
    used = {n for cfg in CUSTOM.values() for n in cfg["feat_ext_transform"]}
    assert used == set(FEATURE_REGISTRY), sorted(set(FEATURE_REGISTRY) - used)


def frame_features_c(tmp_path, cfg, channels, x, stats):
    """Per-frame features of ``x (span, C)`` by the generated C (frames at every hop)."""
    fe = generate_frontend(cfg, channels, stats)
    spec = fe.spec
    frames = (len(x) - spec.frame_size) // spec.hop + 1
    vals = ", ".join(str(int(v)) if spec.q15_samples else f"{v:.9g}f" for v in x.T.reshape(-1))
    main = f"""#include <stdio.h>
#include "feature_extract.h"
static const fe_sample_t xs[{channels * len(x)}] = {{{vals}}};
int main(void)
{{
    float f[FE_FEATURES_PER_FRAME];
    int c, k, n;
    for (c = 0; c < {channels}; ++c) {{
        for (k = 0; k < {frames}; ++k) {{
            fe_frame_features(&xs[c * {len(x)} + k * FE_HOP], 0, c, f);
            for (n = 0; n < FE_FEATURES_PER_FRAME; ++n) {{
                printf("%.9g ", (double)f[n]);
            }}
            printf("\\n");
        }}
    }}
    return 0;
}}
"""
    out = build_run(
        tmp_path, {"feature_extract.h": fe.header, "feature_extract.c": fe.source, "main.c": main}
    )
    got = np.array([[float(v) for v in ln.split()] for ln in out.splitlines()], np.float32)
    return got.reshape(channels, frames, spec.features_per_frame), fe


@pytest.mark.parametrize("name", sorted(CUSTOM))
def test_each_transform_c_matches_its_python(tmp_path, name):
    cfg = validate_data_config({**CUSTOM[name], "variables": 2})
    rng = np.random.default_rng(7)
    n = cfg["frame_size"] * 4
    t = np.arange(n)
    x = np.sin(2 * np.pi * 0.07 * t)[:, None] * [0.9, 0.4] + 0.2 * rng.standard_normal((n, 2)) + 0.1
    if name.startswith("q15"):
        x = np.round(x * 5000)
    x = x.astype(np.float32)
    fit = extract_features([Recording(x)], cfg, fit=True)
    # Python's per-frame features: CONCAT off, the same statistics
    per_frame = validate_data_config(
        {
            **cfg,
            "feat_ext_transform": [s for s in cfg["feat_ext_transform"] if s != "CONCAT"],
            "num_frame_concat": 1,
        }
    )
    py = extract_features([Recording(x)], per_frame, stats=fit.stats).X[:, :, :, 0]  # (frames, C, F)
    got, fe = frame_features_c(tmp_path, cfg, 2, x, fit.stats)
    py = np.moveaxis(py, 0, 1)
    assert got.shape == py.shape
    if fe.integer_features:
        np.testing.assert_array_equal(got, py)
    else:
        np.testing.assert_allclose(got, py, rtol=1e-4, atol=1e-5)
        before_log = [s for s in cfg["feat_ext_transform"] if s not in ("LOG_DB", "ENT_FE")]
        if before_log == cfg["feat_ext_transform"]:
            np.testing.assert_array_equal(got, py)  # no libm call: bit for bit


def test_what_the_chip_cannot_run_is_a_compile_error_naming_it():
    with pytest.raises(CompilationError, match="Downsample"):
        generate_frontend(
            validate_data_config(
                {"data_proc_transforms": ["Downsample", "SimpleWindow"], "sampling_rate": 100, "new_sr": 50}
            ),
            1,
        )
    with pytest.raises(CompilationError, match="FFT_FE.*power-of-two"):
        generate_frontend(
            validate_data_config({"frame_size": 48, "feat_ext_transform": ["FFT_FE", "ABS"]}), 1
        )
    with pytest.raises(CompilationError, match="STANDARDIZE.*statistics"):
        generate_frontend(validate_data_config({"feat_ext_transform": ["STANDARDIZE"]}), 1)

    class PythonOnly(FEATURE_REGISTRY["ABS"].__mro__[1]):  # a FeatureTransform without c_step
        def __call__(self, x, ctx):
            return x

    FEATURE_REGISTRY.register("PYTHON_ONLY_STEP", PythonOnly)
    try:
        with pytest.raises(CompilationError, match="PYTHON_ONLY_STEP has no C"):
            generate_frontend(validate_data_config({"feat_ext_transform": ["PYTHON_ONLY_STEP"]}), 1)
    finally:
        dict.pop(FEATURE_REGISTRY, "PYTHON_ONLY_STEP")


class Linear(nn.Module):
    def __init__(self, c, h, w=1, k=3):
        super().__init__()
        self.fc = nn.Linear(c * h * w, k)

    def forward(self, x):
        return self.fc(x.flatten(1))


def compile_pipeline(out: Path, cfg_in: dict, channels: int, scale: float = 1.0, quantization: int = 1, **kw):
    """A small int8 model on the features of ``cfg_in``, compiled with its front end and pipeline."""
    cfg = validate_data_config(cfg_in)
    shape = model_input_kwargs(dict(cfg, variables=channels))
    c, f = shape["variables"], shape["input_features"]
    h, w = (f, 1) if isinstance(f, int) else f  # (H, W) with output_2d
    torch.manual_seed(0)
    torch.onnx.export(
        Linear(c, h, w).eval(),
        (torch.zeros(1, c, h, w),),
        str(out / "m.onnx"),
        opset_version=13,
        dynamo=False,
    )
    rng = np.random.default_rng(1)
    n = max(cfg["frame_size"] * 12, min_recording_length(cfg) * 2)  # several windows per recording
    recs = [
        ((np.sin(2 * np.pi * 0.02 * (i + 1) * np.arange(n))[:, None] + 0.3 * rng.standard_normal((n, channels))) * scale)
        .astype(np.float32)
        for i in range(3)
    ]  # fmt: skip
    feats = extract_features([Recording(r) for r in recs], cfg, fit=True)
    span = int(feats.stops[0] - feats.starts[0])
    raw = np.stack([recs[f][s : s + span] for f, s in zip(feats.file_ids, feats.starts)])
    vectors = dict(x=feats.X, raw=raw, y=feats.file_ids, recording=recs[0], **kw)
    report = compile_model(
        str(out / "m.onnx"), out, target_device="CORTEX_M4F", calib_x=feats.X, quantization=quantization, test_vectors=vectors,
        data_config=cfg_in, feature_stats=feats.stats, task="classification", class_names=["a", "b", "c"],
        vectors_per_class=1,
    )  # fmt: skip
    return report, json.loads((out / "memory_report.json").read_text())["frontend"]


@pytest.mark.parametrize("name", sorted(PRESET_REGISTRY))
def test_every_preset_compiles_into_a_verified_pipeline(tmp_path, name):
    channels = 3 if "3InputChannel" in name else 2
    scale = 3000.0 if "FE_RFFT" in name else 1.0  # Q15 presets take ADC codes
    report, fe = compile_pipeline(
        tmp_path, {"feature_extraction_name": name, "variables": channels}, channels, scale
    )
    assert report.passed
    checks = fe["checks"]
    assert checks["passed"] and checks["windows"] == 3 and checks["outputs_exact"] == 3
    assert (
        checks["stream"]["windows"] >= 1 and checks["stream"]["exact_outputs"] == checks["stream"]["windows"]
    )
    if "FE_RFFT" in name or "RAW" in name:
        assert checks["features_bit_exact"] == 3
    art = tmp_path / "artifacts"
    for f in (
        "feature_extract.c",
        "feature_extract.h",
        "tinyml_pipeline.c",
        "tinyml_pipeline.h",
        "user_input_config.h",
    ):
        assert (art / f).is_file(), f
    assert not (tmp_path / "artifacts.partial").exists()
    ram, flash = fe["ram"], fe["flash"]
    assert ram["ring_buffer_bytes"] > 0 and ram["frame_features_bytes"] > 0 and flash["code_bytes"] > 0
    if "FFT" in name:
        assert flash["fft_tables_bytes"] > 0 and ram["fft_scratch_bytes"] > 0
    source = (art / "feature_extract.c").read_text() + (art / "tinyml_pipeline.c").read_text()
    assert "malloc" not in source


def test_custom_list_with_statistics_overlap_and_reordered_columns(tmp_path):
    cfg = {**CUSTOM["spectrum"], "feature_extraction_name": "Custom_mine", "concat_stride": 2}
    # the file has the model's channels in the other order: pushed column 0 is model channel 1
    report, fe = compile_pipeline(tmp_path, cfg, 2, columns=[5, 2], column_names=["ax", "ay"])
    assert report.passed and fe["checks"]["outputs_exact"] == 3
    header = (tmp_path / "artifacts" / "tinyml_pipeline.h").read_text()
    assert "recording's column order: ay, ax" in header
    assert "#define TINYML_PIPELINE_HOP_SAMPLES 128" in header  # 64-sample hop x concat_stride 2


def test_float_model_pipeline(tmp_path):
    cfg = {"feature_extraction_name": "Generic_256Input_FFTBIN_16Feature_8Frame", "variables": 2}
    report, fe = compile_pipeline(tmp_path, cfg, 2, quantization=0)
    assert report.passed and report.precision == "float" and fe["checks"]["passed"]
    assert fe["checks"]["stream"]["same_class"] == fe["checks"]["stream"]["windows"] > 0


def test_a_failing_front_end_leaves_no_finished_artifacts(tmp_path, monkeypatch):
    from tinyml_tinyverse.common.compilation import frontend

    def broken(*a, **k):
        raise CompilationError("the on-chip pipeline does not reproduce Python: test")

    monkeypatch.setattr(frontend, "_check", broken)
    with pytest.raises(CompilationError, match="does not reproduce"):
        compile_pipeline(
            tmp_path, {"feature_extraction_name": "Generic_256Input_RAW_256Feature_1Frame", "variables": 1}, 1
        )
    assert (
        not (tmp_path / "artifacts").exists()
        and (tmp_path / "artifacts.partial" / "tinyml_pipeline.c").is_file()
    )


@pytest.mark.parametrize("fpu", [True, False])
def test_c_integer_square_root_is_exact(tmp_path, fpu):
    """Q15_MAG's fe_isqrt: sqrtf with one correction each way (FPU), digit by digit (no FPU)."""
    import math

    from tinyml_tinyverse.common.transforms.fixed_point import ISQRT_DECL

    rng = np.random.default_rng(0)
    roots = np.r_[0:70, rng.integers(0, 65536, 3000), 65535, 46340, 46341]
    values = np.unique(
        np.clip(
            np.r_[
                roots * roots, roots * roots - 1, roots * roots + 1, rng.integers(0, 2**32, 3000), 2**32 - 1
            ],
            0,
            2**32 - 1,
        )
    )
    main = (
        ("" if fpu else "#define __ARM_ARCH 6\n")  # a core without FPU takes the integer path
        + "#include <math.h>\n#include <stdint.h>\n#include <stdio.h>\n"
        + ISQRT_DECL
        + f"static const uint32_t v[{len(values)}] = {{{', '.join(f'{int(x)}u' for x in values)}}};\n"
        + "int main(void)\n{\n    int i;\n"
        + f'    for (i = 0; i < {len(values)}; ++i) {{\n        printf("%d\\n", (int)fe_isqrt(v[i]));\n    }}\n    return 0;\n}}\n'
    )
    got = [int(x) for x in build_run(tmp_path, {"isqrt.c": main}).split()]
    assert got == [math.isqrt(int(x)) for x in values]
