"""Every zoo model of every task (and a residual model) compiled to C, bit-exact everywhere.

Each model is quantized (mode 1 or 2, alternating) and compiled once (module fixture) for a
target (Cortex-M cores with and without the DSP extension, C2000 parts): ``compile_model`` builds
it with gcc -O2 on the host and checks it bit for bit against the integer reference; for Cortex-M
it builds it with arm-none-eabi-gcc, runs one inference under the Cortex-M emulator (the SMLAD path
on M4/M7/M33) and requires the same output bytes as the host build. Then all models are linked
into one harness per compiler configuration (gcc -Os, clang -O2 and -Os, gcc with
-fsanitize=address,undefined) that runs every test vector of every model.
"""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from tinyml_tinyverse.common.compilation import compile_model
from tinyml_tinyverse.common.compilation.cortex_m_emulator import emulator_unavailable_reason
from tinyml_tinyverse.common.compilation.devices import get_device
from tinyml_tinyverse.common.ir.c_emit import fmt_float
from tinyml_tinyverse.common.models import MODEL_REGISTRY, get_model, is_npu_model, model_task
from tinyml_tinyverse.common.quantization import quantize_onnx

ZOO = [name for name in sorted(MODEL_REGISTRY) if name != "SpecModel"]
# targets in turn: Cortex-M cores with and without the DSP extension (emulated), and C2000 parts
TARGETS = ["CORTEX_M4F", "F28P65", "CORTEX_M0PLUS", "CORTEX_M7"]
NPU_TARGETS = ["CORTEX_M4F", "F28P55", "AM13E2", "MSPM0G5187", "CORTEX_M7"]
CONFIGS = [  # gcc -O2 is compile_model's own check
    ("gcc", "-Os", ()),
    ("clang", "-O2", ()),
    ("clang", "-Os", ()),
    ("gcc", "-O1", ("-fsanitize=address,undefined", "-fno-sanitize-recover=all")),
]


class Residual(torch.nn.Module):
    """Skip connection, concat, sigmoid, softmax: the element-wise ops on channel-last tensors."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Conv2d(2, 8, (3, 1), padding=(1, 0))
        self.b = torch.nn.Conv2d(8, 8, (3, 1), padding=(1, 0))
        self.c = torch.nn.Conv2d(16, 8, (3, 1), stride=(2, 1), padding=(1, 0))
        self.fc = torch.nn.Linear(8 * 16, 4)

    def forward(self, x):
        h = torch.relu(self.a(x))
        h = torch.relu(self.b(h) + h)
        h = torch.relu(self.c(torch.cat([h, torch.sigmoid(h) - 0.5], 1)))
        return torch.softmax(self.fc(h.flatten(1)), -1)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """``{name: (artifacts dir, report)}`` of every zoo model and the residual model."""
    root = tmp_path_factory.mktemp("zoo")
    compiled = {}
    for k, name in enumerate([*ZOO, "residual"]):
        torch.manual_seed(k)
        model = (Residual() if name == "residual" else get_model(name)).eval()
        shape = (2, 32, 1) if name == "residual" else tuple(model.input_shape)
        path = root / name / "model.onnx"
        path.parent.mkdir(parents=True)
        torch.onnx.export(model, (torch.randn(1, *shape),), str(path), dynamo=False)
        x = np.random.default_rng(k).standard_normal((24, *shape)).astype(np.float32)
        npu = name != "residual" and is_npu_model(name)
        targets = NPU_TARGETS if npu else TARGETS
        target = targets[k % len(targets)]
        q = quantize_onnx(path, x, mode=1 + k % 2)
        report = compile_model(q, root / name / "out", target_device=target, test_vectors=dict(x=x[:6]))
        compiled[name] = (root / name / "out" / "artifacts", report, q)
    return compiled


def test_every_zoo_model_compiles_bit_exact_and_the_emulator_agrees(zoo):
    assert set(zoo) == {*ZOO, "residual"}
    tasks = {model_task(n) for n in ZOO}
    assert tasks == {"classification", "regression", "forecasting", "anomalydetection"}
    for name, (_, report, _q) in zoo.items():
        assert report.passed and report.max_abs_diff == 0 and report.num_vectors == 6, name
        mem = report.memory
        assert mem["ram"]["arena_bytes"] == mem["ram"]["arena_lower_bound_bytes"], (name, mem["ram"])
        assert mem["ram"]["scratch_bytes"] == 0
        lat = mem["latency"]
        if get_device(report.target_device).family == "C2000":
            assert lat["cortex_m_instructions"] is None and "model-based estimate" in lat["method"]
            assert mem["c28x"]["unit"] == "16-bit words" and mem["flash"]["measured_on"].startswith("host")
            assert mem["c28x"]["arena_words"] == mem["ram"]["arena_bytes"]  # one int8 value per word
        elif emulator_unavailable_reason(report.target_device) is None:
            assert lat["output_matches_host_build"] is True, name
            assert lat["cortex_m_instructions"] > mem["macs"]["total"] / 2, (name, lat)
            assert lat["estimated_us"] == pytest.approx(lat["estimated_cycles"] / lat["clock_mhz"], rel=1e-3)
            assert "estimate" in lat["method"] and "emulator" in lat["method"]
        if get_device(report.target_device).has_npu:
            assert "no NPU instructions are emitted" in mem["accelerator"]
            assert any("no NPU instructions" in note for note in report.notes)


def _combined_harness(zoo: dict, work: Path) -> tuple[list[Path], list[list[str]]]:
    """One main.c running every model's vectors; per model its sources and the macros that rename them."""
    decls, calls, units = [], [], []
    for k, (name, (art, _report, q)) in enumerate(sorted(zoo.items())):
        p = f"zoo{k}"
        n_in, n_out = int(np.prod(q.input_shape)), sum(int(np.prod(s)) for s in q.output_shapes)
        renames = [
            f"-Dtinyml_model_run={p}_run", f"-Dtinyml_model_run_float={p}_run_float",
            f"-Dtinyml_test_count={p}_count", f"-Dtinyml_test_input={p}_input",
            f"-Dtinyml_test_expected={p}_expected", f"-Dtinyml_test_input_float={p}_input_float",
        ]  # fmt: skip
        units += [(art / "tinyml_model.c", renames, art), (art / "test_vector.c", renames, art)]
        decls += [
            f"int {p}_run(const int8_t *in, int8_t *out);",
            f"int {p}_run_float(const float *in, float *out);",
            f"extern const int32_t {p}_count;",
            f"extern const int8_t {p}_input[][{n_in}];",
            f"extern const int8_t {p}_expected[][{n_out}];",
            f"extern const float {p}_input_float[][{n_in}];",
        ]
        scale, zp = fmt_float(q.output_scales[0]), q.output_zero_points[0]
        calls += [
            f"    for (v = 0; v < {p}_count; ++v) {{",
            f"        int8_t out[{n_out}];",
            f"        float out_f[{n_out}];",
            f"        int32_t bad = {p}_run({p}_input[v], out) != 0 || {p}_run_float({p}_input_float[v], out_f) != 0;",
            f"        for (i = 0; i < {n_out}; ++i) {{",
            f"            bad += out[i] != {p}_expected[v][i];",
            f"            bad += out_f[i] != (float)((int32_t){p}_expected[v][i] - {zp}) * {scale};",
            "        }",
            f'        printf("%s %d %s\\n", "{name}", (int)v, bad ? "FAIL" : "PASS");',
            "    }",
        ]
    main = work / "main.c"
    main.write_text(
        "#include <stdint.h>\n#include <stdio.h>\n" + "\n".join(decls)
        + "\nint main(void)\n{\n    int32_t v, i;\n" + "\n".join(calls) + "\n    return 0;\n}\n"
    )  # fmt: skip
    return main, units


@pytest.mark.parametrize(
    "compiler, opt, extra", CONFIGS, ids=[f"{c}{o}{'-asan-ubsan' if e else ''}" for c, o, e in CONFIGS]
)
def test_every_zoo_model_bit_exact_with_each_compiler(zoo, tmp_path, compiler, opt, extra):
    cc = shutil.which(compiler)
    if cc is None:
        pytest.skip(f"{compiler} is not installed")
    main, units = _combined_harness(zoo, tmp_path)
    flags = ["-std=c99", "-Wall", "-Wextra", "-Werror", opt, *extra]

    def build(k: int) -> Path:
        src, renames, inc = units[k]
        obj = tmp_path / f"{k}.o"
        proc = subprocess.run([cc, *flags, *renames, f"-I{inc}", "-c", str(src), "-o", str(obj)],
                              capture_output=True, text=True)  # fmt: skip
        assert proc.returncode == 0, f"{src}: {proc.stderr[-3000:]}"
        return obj

    with ThreadPoolExecutor(max_workers=2) as pool:
        objs = list(pool.map(build, range(len(units))))
    exe = tmp_path / "zoo"
    link = subprocess.run(
        [cc, *flags, str(main), *map(str, objs), "-o", str(exe)], capture_output=True, text=True
    )
    assert link.returncode == 0, link.stderr
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert len(lines) == 6 * len(zoo)
    failed = [line for line in lines if not line.endswith("PASS")]
    assert not failed, failed[:10]
    assert "runtime error" not in proc.stderr and "AddressSanitizer" not in proc.stderr, proc.stderr[-3000:]
