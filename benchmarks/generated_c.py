"""Speed and size of the generated C for the NPU classifiers of the zoo.

For each model (default ``CLS_4k_NPU`` and ``CLS_13k_NPU`` at their default input): export ONNX,
quantize it (int8, random calibration data), compile it with ``compile_model``, then build a
single-inference host binary from the generated ``tinyml_model.c`` and count its instructions with
valgrind's callgrind (or ``perf stat`` where valgrind is missing). Prints:

- instructions per inference (difference of runs with 1 and 1 + R inferences, so start-up and the
  harness drop out) and instructions per MAC (MACs of conv and linear layers, counted from the ONNX
  graph);
- the activation arena next to its lower bound: the largest input + output bytes of any single
  conv / pool / linear / concat layer (int8), which any plan must hold at once;
- flash next to the weight bytes: the ``.text + .data`` of the model object built for the host and,
  where ``arm-none-eabi-gcc`` is installed, for the target's Cortex-M core, against int8 weights +
  int32 biases.

The int8 outputs of the benchmark binary are checked against ``QuantizedGraph.run_int`` first, so
the counted code computes the right answer.

Run: ``python benchmarks/generated_c.py [--models CLS_4k_NPU CLS_13k_NPU] [--target CORTEX_M4F]``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

BENCH_MAIN = """
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "tinyml_model.h"

#define BENCH_IN_SIZE {in_size}
#define BENCH_OUT_SIZE {out_size}

static const int8_t bench_in[BENCH_IN_SIZE] = {{{in_values}}};
static int8_t bench_out[BENCH_OUT_SIZE];

int main(int argc, char **argv) {{
    int n = argc > 1 ? atoi(argv[1]) : 1;
    int i;
    for (i = 0; i < n; ++i) {{
        if (tinyml_model_run(bench_in, bench_out) != 0) return 2;
    }}
    for (i = 0; i < BENCH_OUT_SIZE; ++i) printf("%d\\n", (int)bench_out[i]);
    return 0;
}}
"""

# Nodes that need their input and output buffers apart; element-wise ops can run in place.
BOUND_OPS = {"Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "Gemm", "MatMul"}
BOUND_OPS |= {"ReduceMean", "Concat", "Resize", "Softmax"}


def fail(msg: str) -> None:
    print(f"generated_c benchmark: {msg}", file=sys.stderr)
    sys.exit(2)


def find_compile_model():
    """``compile_model`` from ``tinyml_tinyverse.common.compilation`` or one of its modules."""
    import tinyml_tinyverse.common.compilation as comp

    if hasattr(comp, "compile_model"):
        return comp.compile_model
    for info in pkgutil.iter_modules(comp.__path__):
        module = importlib.import_module(f"{comp.__name__}.{info.name}")
        if hasattr(module, "compile_model"):
            return module.compile_model
    fail(
        "compile_model is not available yet (looked in tinyml_tinyverse.common.compilation and its "
        "modules); this benchmark runs once the C code generator has landed"
    )


def count_instructions(exe: Path, inferences: int) -> tuple[int, str]:
    """Instructions retired by ``exe inferences`` (user space), and the tool used."""
    if shutil.which("valgrind"):
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", str(exe), str(inferences)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        found = re.search(r"Collected\s*:\s*(\d+)", proc.stderr)
        if proc.returncode == 0 and found:
            return int(found.group(1)), "callgrind"
    if shutil.which("perf"):
        proc = subprocess.run(
            ["perf", "stat", "-x,", "-e", "instructions:u", str(exe), str(inferences)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        for line in proc.stderr.splitlines():
            parts = line.split(",")
            if len(parts) > 2 and "instructions" in parts[2] and parts[0].strip().isdigit():
                return int(parts[0]), "perf"
    fail("neither valgrind (callgrind) nor perf could count instructions; install valgrind")


def graph_figures(onnx_path: Path) -> dict:
    """MACs, the arena lower bound and the weight bytes, from the shape-inferred ONNX graph."""
    import onnx
    from tinyml_tinyverse.common.compilation.onnx_layers import flat_graph_with_shapes, onnx_to_layer_infos

    macs = 0
    for li in onnx_to_layer_infos(onnx_path):
        kh, kw = li.kernel
        if li.op == "conv":
            macs += int(np.prod(li.out_shape)) * (li.in_channels // li.groups) * kh * kw
        elif li.op == "conv_transpose":
            macs += int(np.prod(li.in_shape)) * (li.out_channels // li.groups) * kh * kw
        elif li.op == "linear":
            macs += int(np.prod(li.out_shape)) * li.in_channels
    model = flat_graph_with_shapes(onnx.load(str(onnx_path)))
    inits = {i.name: int(np.prod(i.dims)) for i in model.graph.initializer}
    numel = {}
    for vi in [*model.graph.input, *model.graph.value_info, *model.graph.output]:
        dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        numel[vi.name] = int(np.prod(dims[1:])) if dims else 1  # per sample, int8 bytes
    lower_bound, weight_bytes = 0, 0
    for node in model.graph.node:
        if node.op_type in ("Conv", "ConvTranspose", "Gemm", "MatMul"):
            weight_bytes += inits.get(node.input[1], 0)  # int8 weights
            if len(node.input) > 2:
                weight_bytes += 4 * inits.get(node.input[2], 0)  # int32 bias
        if node.op_type not in BOUND_OPS:
            continue
        acts = [numel.get(t, 0) for t in node.input if t and t not in inits]
        lower_bound = max(lower_bound, sum(acts) + sum(numel.get(t, 0) for t in node.output))
    return dict(macs=macs, arena_lower_bound=lower_bound, weight_bytes=weight_bytes)


def report_figure(memory: dict, dotted: str):
    """``memory["a"]["b"]`` for ``"a.b"``; None where the memory report has no such figure."""
    value = memory
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def bench_model(name: str, target: str, work: Path, repeats: int, mode: int = 1) -> dict:
    import torch
    from tinyml_tinyverse.common.compilation import toolchain
    from tinyml_tinyverse.common.models import get_model
    from tinyml_tinyverse.common.quantization import quantize_onnx

    compile_model = find_compile_model()
    work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = get_model(name).eval()
    shape = tuple(model.input_shape)
    onnx_path = work / f"{name}.onnx"
    torch.onnx.export(model, (torch.randn(1, *shape),), str(onnx_path), dynamo=False)
    rng = np.random.default_rng(0)
    calib = rng.standard_normal((64, *shape)).astype(np.float32)
    qgraph = quantize_onnx(onnx_path, calib, mode=mode)
    x = rng.standard_normal((4, *shape)).astype(np.float32)
    y = np.zeros(4, dtype=np.int64)
    report = compile_model(
        qgraph, work / "compiled", target_device=target, test_vectors=dict(raw=x, x=x, y=y)
    )
    art = Path(report.artifacts_dir)

    x_int = qgraph.quantize_input(x[:1])
    expected = np.concatenate([o.reshape(-1) for o in qgraph.run_int(x_int)]).astype(np.int64)
    main_c = work / "bench_main.c"
    main_c.write_text(
        BENCH_MAIN.format(
            in_size=x_int.size,
            out_size=expected.size,
            in_values=", ".join(str(int(v)) for v in x_int.reshape(-1)),
        )
    )
    exe = toolchain.build_host([art / "tinyml_model.c", main_c], work / "bench", include_dirs=[art])
    got = np.array(toolchain.run_binary(exe, ["1"], check=True).stdout.split(), dtype=np.int64)
    if not np.array_equal(got, expected):
        fail(f"{name}: the benchmark binary gives {got.tolist()}, the integer reference {expected.tolist()}")
    one, tool = count_instructions(exe, 1)
    many, _ = count_instructions(exe, 1 + repeats)
    per_inference = (many - one) / repeats

    figures = graph_figures(onnx_path)
    host_obj = work / "tinyml_model_host.o"
    subprocess.run(
        [
            toolchain.find_host_compiler(),
            *toolchain.HOST_FLAGS,
            f"-I{art}",
            "-c",
            str(art / "tinyml_model.c"),
            "-o",
            str(host_obj),
        ],
        check=True,
    )
    host = toolchain.section_sizes(host_obj)
    arm = toolchain.build_for_device([art / "tinyml_model.c"], target, work / "arm", include_dirs=[art])
    memory = getattr(report, "memory", {}) or {}
    return dict(
        model=name,
        quantization=mode,
        input_shape=shape,
        params=int(sum(p.numel() for p in model.parameters())),
        macs=figures["macs"],
        instructions_per_inference=int(per_inference),
        instructions_per_mac=per_inference / max(figures["macs"], 1),
        counter=tool,
        arena_bytes=report_figure(memory, "ram.arena_bytes"),
        report_macs=report_figure(memory, "macs.total"),
        report_weight_bytes=report_figure(memory, "flash.weights_bytes"),
        arena_lower_bound=figures["arena_lower_bound"],
        weight_bytes=figures["weight_bytes"],
        report_flash_bytes=report_figure(memory, "flash.total_bytes"),
        report_flash_measured_on=report_figure(memory, "flash.measured_on"),
        host_flash_bytes=host["text"] + host["data"],
        arm_flash_bytes=None if arm is None else arm["text"] + arm["data"],
        arm_bss_bytes=None if arm is None else arm["bss"],
        arm_note=None if arm is not None else toolchain.device_build_unavailable_reason(target),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["CLS_4k_NPU", "CLS_13k_NPU"])
    parser.add_argument(
        "--target", default="CORTEX_M4F", help="device for compile_model and the ARM size build"
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="extra inferences counted to get per-inference cost"
    )
    parser.add_argument(
        "--work-dir", type=Path, default=None, help="keep the build here (default: a temp dir)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    parser.add_argument(
        "--mode", type=int, default=1, choices=(1, 2), help="quantization: 1 int8, 2 power-of-two"
    )
    args = parser.parse_args()

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="tinyml_bench_"))
    rows = [bench_model(name, args.target, work / name, args.repeats, args.mode) for name in args.models]
    for r in rows:
        arena = "n/a" if r["arena_bytes"] is None else f"{r['arena_bytes']} B"
        arm = f"{r['arm_flash_bytes']} B" if r["arm_flash_bytes"] is not None else f"n/a ({r['arm_note']})"
        print(
            f"{r['model']} (quantization {r['quantization']})  input {r['input_shape']}  {r['params']} params  {r['macs']} MACs "
            f"(memory report: {r['report_macs']})"
        )
        print(
            f"  instructions/inference {r['instructions_per_inference']:,} ({r['counter']}, host -O2)"
            f"   instructions/MAC {r['instructions_per_mac']:.2f}"
        )
        print(
            f"  arena {arena}   largest single-layer in+out {r['arena_lower_bound']} B (in-place layers can go below it)"
        )
        print(
            f"  flash: host object {r['host_flash_bytes']} B, {args.target} object {arm}, "
            f"report {r['report_flash_bytes']} B (measured on {r['report_flash_measured_on']})\n"
            f"  weights+biases {r['weight_bytes']} B (int8 w + int32 b; memory report's weights incl. "
            f"requant params: {r['report_weight_bytes']} B)"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str))


if __name__ == "__main__":
    main()
