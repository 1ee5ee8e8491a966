"""Instructions of the generated on-chip front end (feature_extract.c), counted with callgrind.

For ``Generic_1024Input_FFTBIN_64Feature_8Frame`` and ``Generic_256Input_FFTBIN_16Feature_8Frame``
(float, as the presets define them) and their fixed-point twins (the Q15 FE_RFFT chain with the same
frame, bins and frames: ``FFT_Q15, Q15_SCALE, Q15_MAG, DC_REMOVE, BIN_Q15, CONCAT``), this script
generates ``feature_extract.c``, builds it on the host with ``-O2`` and counts with valgrind's
callgrind:

- the real FFT alone, next to ``N log2 N`` (the target: within 3x);
- ``fe_frame_features`` (one frame of one channel: copy in, FFT, magnitude, bins, log ...);
- one frame of the pipeline for all channels of the example data (3), next to the instructions of
  one inference of the model the classification example uses (``CLS_4k_NPU``, int8) on that
  preset's input (the target: the front end per frame below the model per inference).

Every count is the difference of runs with 1 and 1 + R calls, so start-up and the harness drop out.
Before counting, the benchmark's C features are compared with Python's (bit-exact for Q15).

Run: ``python benchmarks/feature_extract_c.py [--repeats 20] [--channels 3]``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

PRESETS = ("Generic_1024Input_FFTBIN_64Feature_8Frame", "Generic_256Input_FFTBIN_16Feature_8Frame")
Q15_STEPS = ["FFT_Q15", "Q15_SCALE", "Q15_MAG", "DC_REMOVE", "BIN_Q15", "CONCAT"]
FLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror"]

BENCH_FE = """#include <stdio.h>
#include <stdlib.h>
#include "feature_extract.h"
static const fe_sample_t frame[FE_FRAME_SIZE] = {{{samples}}};
static float features[FE_FEATURES_PER_FRAME];
int main(int argc, char **argv)
{{
    int n = argc > 1 ? atoi(argv[1]) : 1, i;
    for (i = 0; i < n; ++i) {{
        fe_frame_features(frame, 0, 0, features);
    }}
    for (i = 0; i < FE_FEATURES_PER_FRAME; ++i) {{
        printf("%.9g\\n", (double)features[i]);
    }}
    return 0;
}}
"""

BENCH_FFT = """#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
typedef union {{
    float f;
    int32_t i;
}} fe_value_t;
{fft}
static fe_value_t in[{n}];
static fe_value_t out[{n} + 2];
__attribute__((noinline)) static void run(void)
{{
    {name}(in, out, out + {m} + 1);
}}
int main(int argc, char **argv)
{{
    int n = argc > 1 ? atoi(argv[1]) : 1, i;
    for (i = 0; i < {n}; ++i) {{
        in[i].{member} = {init};
    }}
    for (i = 0; i < n; ++i) {{
        run();
    }}
    printf("%d\\n", (int)out[3].{member});
    return 0;
}}
"""

BENCH_MODEL = """#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "tinyml_model.h"
static const int8_t in[TINYML_MODEL_INPUT_SIZE] = {{{values}}};
static int8_t out[TINYML_MODEL_OUTPUT_SIZE];
int main(int argc, char **argv)
{{
    int n = argc > 1 ? atoi(argv[1]) : 1, i;
    for (i = 0; i < n; ++i) {{
        tinyml_model_run(in, out);
    }}
    printf("%d\\n", (int)out[0]);
    return 0;
}}
"""


def fail(msg: str) -> None:
    print(f"feature_extract_c benchmark: {msg}", file=sys.stderr)
    sys.exit(2)


def build(sources: list[Path], exe: Path, includes: list[Path]) -> Path:
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    cmd = [cc, *FLAGS, *[f"-I{d}" for d in includes], *map(str, sources), "-o", str(exe), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        fail(f"build failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return exe


def instructions(exe: Path, calls: int) -> int:
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", str(exe), str(calls)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    found = re.search(r"Collected\s*:\s*(\d+)", proc.stderr)
    if proc.returncode or not found:
        fail(f"callgrind failed on {exe}:\n{proc.stderr[-2000:]}")
    return int(found.group(1))


def per_call(exe: Path, repeats: int) -> float:
    return (instructions(exe, 1 + repeats) - instructions(exe, 1)) / repeats


def configs() -> list[tuple[str, str, dict]]:
    from tinyml_tinyverse.common.transforms import PRESET_REGISTRY

    out = []
    for name in PRESETS:
        preset = dict(PRESET_REGISTRY[name])
        out.append((name, "float", {"feature_extraction_name": name}))
        q15 = {k: preset[k] for k in ("frame_size", "feature_size_per_frame", "num_frame_concat")}
        out.append(
            (
                name,
                "Q15",
                {
                    **q15,
                    "feature_extraction_name": "Custom_q15",
                    "feat_ext_transform": Q15_STEPS,
                    "q15_scale_factor": 5,
                },
            )
        )
    return out


def bench_fft(work: Path, n: int, q15: bool, repeats: int) -> float:
    from tinyml_tinyverse.common.transforms.fft import rfft_c, rfft_c_name

    src = work / f"fft{n}_{int(q15)}.c"
    init = "(i * 37) % 2001 - 1000" if q15 else "(float)((i * 37) % 101 - 50) / 50.0f"
    src.write_text(
        BENCH_FFT.format(
            fft=rfft_c(n, q15), n=n, m=n // 2, name=rfft_c_name(n, q15), member="i" if q15 else "f", init=init
        )
    )
    return per_call(build([src], work / src.stem, []), repeats)


def bench_frontend(work: Path, cfg: dict, repeats: int) -> tuple[float, object]:
    from tinyml_tinyverse.common.compilation.frontend_c import generate_frontend
    from tinyml_tinyverse.common.transforms import Recording, extract_features

    fe = generate_frontend(cfg, 1)
    d = work / f"fe_{fe.spec.frame_size}_{int(fe.spec.q15_samples)}"
    d.mkdir(exist_ok=True)
    (d / "feature_extract.h").write_text(fe.header)
    (d / "feature_extract.c").write_text(fe.source)
    rng = np.random.default_rng(0)
    t = np.arange(fe.spec.frame_size)
    x = np.sin(2 * np.pi * 0.05 * t) + 0.2 * rng.standard_normal(t.size)
    x = np.round(x * 3000) if fe.spec.q15_samples else x
    x = x.astype(np.float32)
    fmt = (lambda v: str(int(v))) if fe.spec.q15_samples else (lambda v: f"{v:.9g}f")
    (d / "bench.c").write_text(BENCH_FE.format(samples=", ".join(fmt(v) for v in x)))
    exe = build([d / "feature_extract.c", d / "bench.c"], d / "bench", [d])
    got = np.array(
        subprocess.run([str(exe), "1"], capture_output=True, text=True, check=True).stdout.split(), np.float32
    )
    one = dict(
        cfg, num_frame_concat=1, feat_ext_transform=[s for s in cfg["feat_ext_transform"] if s != "CONCAT"]
    )
    want = extract_features([Recording(x[:, None])], one).X.reshape(-1)
    ok = np.array_equal(got, want) if fe.integer_features else np.allclose(got, want, rtol=1e-4, atol=1e-5)
    if not ok:
        fail(f"the benchmark's C features differ from Python's for {cfg['feature_extraction_name']}")
    return per_call(exe, repeats), fe


def bench_model(work: Path, cfg: dict, channels: int, repeats: int) -> tuple[float, tuple]:
    import torch
    from tinyml_tinyverse.common.compilation import compile_model
    from tinyml_tinyverse.common.datasets import model_input_kwargs
    from tinyml_tinyverse.common.models import get_model
    from tinyml_tinyverse.common.quantization import quantize_onnx

    kw = model_input_kwargs(dict(cfg, variables=channels))
    torch.manual_seed(0)
    model = get_model(
        "CLS_4k_NPU", input_features=kw["input_features"], variables=kw["variables"], num_classes=4
    )
    model = model.eval()
    shape = tuple(model.input_shape)
    d = work / f"model_{'x'.join(map(str, shape))}"
    d.mkdir(exist_ok=True)
    onnx_path = d / "model.onnx"
    torch.onnx.export(model, (torch.randn(1, *shape),), str(onnx_path), dynamo=False)
    rng = np.random.default_rng(0)
    qgraph = quantize_onnx(onnx_path, rng.standard_normal((64, *shape)).astype(np.float32), mode=2)
    report = compile_model(qgraph, d / "compiled", target_device="F28P55")
    art = Path(report.artifacts_dir)
    x = qgraph.quantize_input(rng.standard_normal((1, *shape)).astype(np.float32))
    (d / "bench.c").write_text(BENCH_MODEL.format(values=", ".join(str(int(v)) for v in x.reshape(-1))))
    exe = build([art / "tinyml_model.c", d / "bench.c"], d / "bench", [art])
    return per_call(exe, repeats), shape


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--repeats", type=int, default=20, help="calls counted per figure (after one warm-up call)"
    )
    p.add_argument(
        "--channels", type=int, default=3, help="channels of one pipeline frame (the example data has 3)"
    )
    args = p.parse_args()
    if not shutil.which("valgrind"):
        fail("valgrind is not installed (Debian: apt-get install valgrind)")
    from tinyml_tinyverse.common.datasets import validate_data_config

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        models: dict = {}
        for name, path, cfg_in in configs():
            cfg = validate_data_config(cfg_in)
            n = int(cfg["frame_size"])
            fft = bench_fft(work, n, path == "Q15", args.repeats)
            fe_frame, fe = bench_frontend(work, cfg, args.repeats)
            if name not in models:
                models[name] = bench_model(
                    work, validate_data_config({"feature_extraction_name": name}), args.channels, args.repeats
                )
            model, shape = models[name]
            nlogn = n * np.log2(n)
            rows.append(
                dict(
                    preset=name, path=path, n=n, fft=fft, nlogn=nlogn, fe=fe_frame, frame=fe_frame * args.channels,
                    model=model, shape=shape, features=fe.spec.features_per_frame,
                )
            )  # fmt: skip
            print(f"  measured {name} {path}", file=sys.stderr, flush=True)
    print(
        f"\nGenerated front end, host {shutil.which('cc') or 'cc'} -O2, callgrind instructions (mean of {args.repeats} calls)\n"
    )
    head = "| preset | path | N | FFT | N log2 N | FFT / N log2 N | fe_frame_features (1 ch) | pipeline frame ({c} ch) | CLS_4k_NPU int8 inference (input) | frame / inference |"
    print(head.format(c=args.channels))
    print("|" + "---|" * 10)
    for r in rows:
        print(
            f"| {r['preset']} | {r['path']} | {r['n']} | {r['fft']:.0f} | {r['nlogn']:.0f} | {r['fft'] / r['nlogn']:.2f}x "
            f"| {r['fe']:.0f} | {r['frame']:.0f} | {r['model']:.0f} ({'x'.join(map(str, r['shape']))}) "
            f"| {r['frame'] / r['model']:.2f} |"
        )
    bad_fft = [r for r in rows if r["fft"] > 3 * r["nlogn"]]
    bad_frame = [r for r in rows if r["frame"] >= r["model"]]
    print(
        f"\nFFT within 3x N log2 N: {'yes' if not bad_fft else 'no: ' + ', '.join(r['preset'] + ' ' + r['path'] for r in bad_fft)}; "
        f"front end per frame below the model per inference: "
        f"{'yes' if not bad_frame else 'no: ' + ', '.join(r['preset'] + ' ' + r['path'] for r in bad_frame)}"
    )


if __name__ == "__main__":
    main()
