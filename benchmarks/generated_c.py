"""Speed and size of the generated C for zoo models, on the host and on a Cortex-M core.

For each model (default: CLS_1k/4k/13k_NPU and one regression, anomaly and forecasting model, at
their default input): export ONNX, quantize it (random calibration data), compile it with
``compile_model`` for ``--target``, check a one-inference host binary against
``QuantizedGraph.run_int``, then print

- host instructions per inference and per MAC at ``-O2``, ``-O3`` and ``-Os`` (callgrind; the
  difference of runs with 1 and 1 + R inferences, so start-up and the harness drop out);
- instructions per MAC of each layer at ``-O2`` (callgrind per instruction address of a ``-g``
  build, attributed through the inlining chain to the layer's call in the generated run function;
  ``-g`` does not change gcc's code);
- Thumb-2 instructions per MAC of one inference of the real ``arm-none-eabi-gcc`` build under the
  ``unicorn`` emulator (``--emu`` devices, ``-O2`` and ``-Os``), whose output bytes must equal the
  host build's;
- the arena next to the liveness bound from the memory report, and flash next to the weights.

MACs are counted from the ONNX graph (conv, transposed conv, linear layers), independently of the
compiler. Run: ``python benchmarks/generated_c.py [--models ...] [--mode 1|2] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

DEFAULT_MODELS = ["CLS_1k_NPU", "CLS_4k_NPU", "CLS_13k_NPU", "REGR_4k_NPU", "AD_4k_NPU", "FCST_4k_NPU"]
HOST_OPTS = ("-O2", "-O3", "-Os")

BENCH_MAIN = """
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "tinyml_model.h"

static const int8_t bench_in[TINYML_MODEL_INPUT_SIZE] = {{{in_values}}};
static int8_t bench_out[TINYML_MODEL_OUTPUT_SIZE];

int main(int argc, char **argv)
{{
    int n = argc > 1 ? atoi(argv[1]) : 1;
    int i;
    for (i = 0; i < n; ++i) {{
        if (tinyml_model_run(bench_in, bench_out) != 0) return 2;
    }}
    for (i = 0; i < TINYML_MODEL_OUTPUT_SIZE; ++i) printf("%d\\n", (int)bench_out[i]);
    return 0;
}}
"""


def fail(msg: str) -> None:
    print(f"generated_c benchmark: {msg}", file=sys.stderr)
    sys.exit(2)


def callgrind(exe: Path, inferences: int, out_file: str = "/dev/null", extra=()) -> int:
    """Instructions retired by ``exe inferences`` under callgrind."""
    if not shutil.which("valgrind"):
        fail("valgrind is needed (apt-get install valgrind)")
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}", *extra, str(exe), str(inferences)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    found = re.search(r"Collected\s*:\s*(\d+)", proc.stderr)
    if proc.returncode != 0 or not found:
        fail(f"callgrind failed on {exe}: {proc.stderr[-2000:]}")
    return int(found.group(1))


def onnx_macs(onnx_path: Path) -> int:
    from tinyml_tinyverse.common.compilation.onnx_layers import onnx_to_layer_infos

    macs = 0
    for li in onnx_to_layer_infos(onnx_path):
        kh, kw = li.kernel
        if li.op == "conv":
            macs += int(np.prod(li.out_shape)) * (li.in_channels // li.groups) * kh * kw
        elif li.op == "conv_transpose":
            macs += int(np.prod(li.in_shape)) * (li.out_channels // li.groups) * kh * kw
        elif li.op == "linear":
            macs += int(np.prod(li.out_shape)) * li.in_channels
    return macs


# -- per-layer attribution -------------------------------------------------------------------------
_LAYER_RE = re.compile(r"/\* (L\d+): (\S+)")


def layer_lines(source: Path) -> dict[int, str]:
    """Source line -> layer tag: the statements after each ``/* Lk: op ...`` comment of the run function."""
    lines = source.read_text().splitlines()
    out: dict[int, str] = {}
    current = None
    for no, text in enumerate(lines, start=1):
        stripped = text.strip()
        m = _LAYER_RE.match(stripped)
        if m and text.startswith("    "):
            current = m.group(1)
            if not stripped.endswith("*/") or "(" in stripped.split("*/", 1)[1]:
                out[no] = current
            continue
        if current and (stripped.startswith(("}", "return", "memcpy")) or not text.startswith("    ")):
            current = None
        if current and stripped:
            out[no] = current
    return out


def _parse_callgrind(path: Path, exe: Path) -> tuple[dict[int, int], dict[int, int]]:
    """``(self cost per instruction address, inclusive cost of calls per call-site address)`` of ``exe``'s code."""
    self_cost: dict[int, int] = defaultdict(int)
    call_cost: dict[int, int] = defaultdict(int)
    objects: dict[str, str] = {}
    ours = False
    last_addr = 0
    in_call = False
    for line in path.read_text().splitlines():
        if line.startswith(("ob=", "cob=")):  # object names are defined on either, then referred to by id
            ref, _, name = line.split("=", 1)[1].partition(" ")
            if name:
                objects[ref] = name
            if line.startswith("ob="):
                ours = objects.get(ref, "") == str(exe)
            continue
        if not line or line[0].isalpha():
            in_call = line.startswith("calls=")
            continue
        if line[0] not in "0123456789+-*":
            continue
        parts = line.split()
        tok = parts[0]
        if tok == "*":
            addr = last_addr
        elif tok[0] in "+-":
            addr = last_addr + int(tok, 0)
        else:
            addr = int(tok, 0)
        last_addr = addr
        cost = int(parts[2]) if len(parts) > 2 else 0
        if ours:
            (call_cost if in_call else self_cost)[addr] += cost
        in_call = False
    return self_cost, call_cost


def _inline_chains(exe: Path, addrs: list[int]) -> dict[int, list[int]]:
    """Address -> line numbers of its inlining chain (innermost first) in tinyml_model.c."""
    chains: dict[int, list[int]] = {}
    for start in range(0, len(addrs), 2000):
        chunk = addrs[start : start + 2000]
        out = subprocess.run(
            ["addr2line", "-e", str(exe), "-i", "-a", *[hex(a) for a in chunk]],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        current = None
        for line in out.splitlines():
            if line.startswith("0x"):
                current = int(line, 16)
                chains[current] = []
            elif current is not None and "tinyml_model.c:" in line:
                no = line.rsplit(":", 1)[1].split()[0]
                if no.isdigit():
                    chains[current].append(int(no))
    return chains


def per_layer_instructions(exe: Path, source: Path, work: Path, inferences: int = 1) -> dict[str, int]:
    """Instructions of each layer of one inference (``-g`` build of the same code)."""
    out = work / "callgrind.out"
    callgrind(exe, inferences, str(out), extra=("--dump-instr=yes",))
    self_cost, call_cost = _parse_callgrind(out, exe.resolve())
    lines = layer_lines(source)
    chains = _inline_chains(exe, sorted(set(self_cost) | set(call_cost)))
    per_layer: dict[str, int] = defaultdict(int)
    for table in (self_cost, call_cost):
        for addr, cost in table.items():
            for no in chains.get(addr, []):
                if no in lines:
                    per_layer[lines[no]] += cost
                    break
    return {k: v // inferences for k, v in per_layer.items()}


# -- one model -------------------------------------------------------------------------------------
def bench_model(name: str, target: str, work: Path, repeats: int, mode: int, emu: list[str]) -> dict:
    import torch
    from tinyml_tinyverse.common.compilation import compile_model, toolchain
    from tinyml_tinyverse.common.compilation.cortex_m_emulator import (
        emulate_inference,
        emulator_unavailable_reason,
    )
    from tinyml_tinyverse.common.models import get_model
    from tinyml_tinyverse.common.quantization import quantize_onnx

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
    report = compile_model(qgraph, work / "compiled", target_device=target, test_vectors=dict(x=x))
    art = Path(report.artifacts_dir)
    memory = report.memory
    macs = onnx_macs(onnx_path)

    x_int = qgraph.quantize_input(x[:1])
    expected = np.concatenate([o.reshape(-1) for o in qgraph.run_int(x_int)]).astype(np.int64)
    main_c = work / "bench_main.c"
    main_c.write_text(BENCH_MAIN.format(in_values=", ".join(str(int(v)) for v in x_int.reshape(-1))))
    row = dict(model=name, mode=mode, input_shape=shape, macs=macs, report_macs=memory["macs"]["total"])
    host = {}
    for opt in HOST_OPTS:
        flags = [f for f in toolchain.HOST_FLAGS if f != "-O2"] + [opt]
        exe = work / f"bench{opt}"
        cmd = [
            toolchain.find_host_compiler(),
            *flags,
            f"-I{art}",
            str(art / "tinyml_model.c"),
            str(main_c),
            "-o",
            str(exe),
        ]
        subprocess.run(cmd, check=True)
        got = np.array(toolchain.run_binary(exe, ["1"], check=True).stdout.split(), dtype=np.int64)
        if not np.array_equal(got, expected):
            fail(
                f"{name} {opt}: the benchmark binary gives {got.tolist()}, the integer reference {expected.tolist()}"
            )
        per_inf = (callgrind(exe, 1 + repeats) - callgrind(exe, 1)) / repeats
        host[opt] = per_inf
    row["host"] = host
    # per layer at -O2 (the same flags plus -g)
    exe_g = work / "bench_g"
    flags = [*toolchain.HOST_FLAGS, "-g"]
    subprocess.run(
        [
            toolchain.find_host_compiler(),
            *flags,
            f"-I{art}",
            str(art / "tinyml_model.c"),
            str(main_c),
            "-o",
            str(exe_g),
        ],
        check=True,
    )
    layers = per_layer_instructions(exe_g, art / "tinyml_model.c", work)
    layer_rows = []
    for k, entry in enumerate(memory["macs"]["per_layer"]):
        tag = f"L{k}"
        if tag in layers or entry["macs"]:
            layer_rows.append(
                dict(
                    tag=tag,
                    op=entry["op"],
                    name=entry["name"],
                    macs=entry["macs"],
                    instructions=layers.get(tag, 0),
                )
            )
    row["layers"] = layer_rows
    row["layers_total"] = sum(layers.values())
    # Cortex-M under the emulator
    emu_rows = []
    for dev in emu:
        reason = emulator_unavailable_reason(dev)
        if reason:
            emu_rows.append(dict(device=dev, note=reason))
            continue
        for opt in ("-O2", "-Os"):
            run = emulate_inference(
                art, dev, x_int[0], True, expected.size, work / f"emu_{dev}{opt}", opt=opt
            )
            same = np.array_equal(np.frombuffer(run.output, np.int8).astype(np.int64), expected)
            if not same:
                fail(f"{name} on {dev} {opt}: emulator output {list(run.output)} != {expected.tolist()}")
            emu_rows.append(
                dict(device=dev, opt=opt, instructions=run.instructions, cycles=run.estimated_cycles)
            )
    row["emulator"] = emu_rows
    row["arena"] = memory["ram"]["arena_bytes"]
    row["arena_bound"] = memory["ram"]["arena_lower_bound_bytes"]
    row["wrapper_scratch"] = memory["ram"].get("scratch_bytes", 0)
    row["flash"] = memory["flash"]["total_bytes"]
    row["flash_on"] = memory["flash"]["measured_on"]
    row["weights"] = memory["flash"]["weights_bytes"]
    row["latency"] = memory.get("latency")
    return row


def print_rows(rows: list[dict], target: str) -> None:
    print("## Host (x86-64 gcc, callgrind): instructions per inference and per MAC")
    print("| model | MACs | -O2 | /MAC | -O3 | /MAC | -Os | /MAC |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        cells = []
        for opt in HOST_OPTS:
            v = r["host"][opt]
            cells += [f"{v:,.0f}", f"{v / r['macs']:.2f}"]
        print(f"| {r['model']} | {r['macs']:,} | " + " | ".join(cells) + " |")
    print()
    print(
        "## Cortex-M under the emulator (arm-none-eabi-gcc 12): Thumb instructions per inference and per MAC"
    )
    print("| model | device | flags | instructions | /MAC | est. cycles |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    for r in rows:
        for e in r["emulator"]:
            if "note" in e:
                print(f"| {r['model']} | {e['device']} | n/a ({e['note']}) | | | |")
            else:
                print(f"| {r['model']} | {e['device']} | {e['opt']} | {e['instructions']:,} | "
                      f"{e['instructions'] / r['macs']:.2f} | {e['cycles']:,} |")  # fmt: skip
    print()
    print(f"## Memory (compiled for {target}): arena next to the liveness bound, flash next to the weights")
    head = "| model | arena B | liveness bound B | float wrapper buffers outside the arena B | flash B (measured on)"
    print(head + " | weights+params B | latency estimate in the memory report |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        lat = r["latency"] or {}
        est = (
            f"{lat['estimated_us']:,.0f} us at {lat['clock_mhz']:g} MHz" if lat.get("estimated_us") else "n/a"
        )
        print(f"| {r['model']} | {r['arena']} | {r['arena_bound']} | {r['wrapper_scratch']} | {r['flash']} "
              f"({r['flash_on']}) | {r['weights']} | {est} |")  # fmt: skip
    print()
    print("## Per layer (host -O2, callgrind): instructions and instructions per MAC")
    for r in rows:
        total = r["host"]["-O2"]
        print(f"{r['model']}: layers sum {r['layers_total']:,} of {total:,.0f} instructions per inference")
        for lr in r["layers"]:
            per = f"{lr['instructions'] / lr['macs']:.2f}/MAC" if lr["macs"] else "-"
            print(
                f"  {lr['tag']:>4} {lr['op']:<10} {lr['name'][:34]:<34} MACs {lr['macs']:>7,}  instr {lr['instructions']:>9,}  {per}"
            )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    parser.add_argument("--target", default="CORTEX_M4F", help="device for compile_model")
    parser.add_argument(
        "--emu", nargs="*", default=["CORTEX_M4F", "CORTEX_M0PLUS"], help="devices to emulate"
    )
    parser.add_argument("--repeats", type=int, default=3, help="extra inferences counted per host figure")
    parser.add_argument(
        "--work-dir", type=Path, default=None, help="keep the builds here (default: a temp dir)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    parser.add_argument(
        "--mode", type=int, default=1, choices=(1, 2), help="quantization: 1 int8, 2 power-of-two"
    )
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="tinyml_bench_"))
    rows = []
    for name in args.models:
        rows.append(bench_model(name, args.target, work / name, args.repeats, args.mode, args.emu))
        print(f"benchmarked {name}", file=sys.stderr)
    print(f"# generated_c benchmark (quantization mode {args.mode}, compiled for {args.target})\n")
    print_rows(rows, args.target)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str))


if __name__ == "__main__":
    main()
