"""A candidate's flash, RAM and latency on the target, before it trains: the compiler's own figures.

Each candidate is built untrained for the run's input shape and output count (its output channels
scaled apart by powers of two, as trained weights are, so the compiler emits the per-channel shift
tables a trained model needs rather than the one shared shift of a fresh initialisation), exported to ONNX,
quantized as the run will quantize it (post-training, on real training windows) and compiled with
``compile_model`` for the target device: ``memory_report.json`` gives flash (weights plus code, from
the real build), RAM (arena from the emitted schedule plus I/O) and, where the device has it, the
latency of one inference (Cortex-M: emulated; C2000: model-based). A model whose ONNX graph alone
proves it over the budget (``fit_check`` lower bounds) is rejected without compiling. Figures are
cached per candidate in ``search/candidates.json`` so a resumed search measures nothing twice.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinyml_tinyverse.common.errors import TinyMLError

from .space import Budget, Candidate

CALIBRATION_WINDOWS = 64
PACKED_PRESET = "compress_npu_layer_data"


@dataclass
class FitContext:
    """What measuring a candidate needs from the run."""

    task: str
    dataset_dir: Path
    target_device: str
    quantization: int  # 0 float, 1 int8, 2 NPU style
    observer: str
    compile_preset: str
    seed: int
    work_dir: Path  # search/candidates/


def preset_data_config(data_config: dict, preset: str | None) -> dict:
    """The run's data section with another feature-extraction preset: the keys the user wrote (those that
    differ from the defaults and the original preset) are kept, the rest comes from ``preset``."""
    from tinyml_tinyverse.common.datasets import validate_data_config

    if preset is None or preset == data_config.get("feature_extraction_name"):
        return validate_data_config(dict(data_config))
    original = data_config.get("feature_extraction_name")
    base = validate_data_config({"feature_extraction_name": original} if original else {})
    user = {k: v for k, v in data_config.items() if base.get(k) != v}
    user["feature_extraction_name"] = preset
    return validate_data_config(user)


def untrained_model(ctx: FitContext, model_name: str, data_config: dict) -> tuple[Any, Any]:
    """``(model, train windows)``: the zoo model built for this run's data as training builds it."""
    import torch
    from tinyml_tinyverse.common.datasets import load_split, model_input_kwargs
    from tinyml_tinyverse.common.models import get_model
    from tinyml_tinyverse.references.common.output_scaling import ScaledOutput, fold_output_scale
    from tinyml_tinyverse.references.common.tasks import get_task

    train = load_split(ctx.dataset_dir, "train", ctx.task, data_config, cache_dir=ctx.dataset_dir / "cache")
    task = get_task(ctx.task)
    args = argparse.Namespace(horizon=None, class_weights=None)
    kwargs = {
        **model_input_kwargs(data_config, ctx.dataset_dir),
        **task.model_kwargs(train, data_config, args),
    }
    torch.manual_seed(ctx.seed)
    model = get_model(model_name, **kwargs).eval()
    spread_channel_scales(model, ctx.seed)
    scale = task.output_scale(train)
    if (
        scale is not None
    ):  # regression / forecasting: the scaling is folded into the last layer, as in training
        model = fold_output_scale(ScaledOutput(model, *scale), torch.from_numpy(train.X[:8].copy()))
    return model.eval(), train.X


def compile_preset(configured: str, bits: int) -> str:
    """4 and 2-bit weights are stored packed (compress_npu_layer_data): what they are chosen for."""
    return PACKED_PRESET if bits < 8 else configured


def spread_channel_scales(model: Any, seed: int) -> None:
    """Scale each output channel of every conv / linear weight by 2**k, k in -2..2 (seeded), in place.

    A fresh initialisation gives every channel of a layer about the same range, so the quantized layer
    gets one shared requantization shift; trained layers get one per channel (a table in flash).
    Spreading the ranges makes the untrained model compile to the code a trained one needs."""
    import numpy as np
    import torch
    from tinyml_tinyverse.common.quantization.qat import WEIGHT_LAYERS, weight_channel_axis

    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, WEIGHT_LAYERS):
                axis = weight_channel_axis(module)
                shape = [1] * module.weight.dim()
                shape[axis] = module.weight.shape[axis]
                factors = 2.0 ** rng.integers(-2, 3, size=shape[axis])
                module.weight.mul_(torch.tensor(factors, dtype=module.weight.dtype).reshape(shape))


def _key_dir(candidate: Candidate) -> str:
    return candidate.key.replace("|", "__").replace("/", "_")


def measure(candidate: Candidate, ctx: FitContext, data_config: dict, budget: Budget) -> dict:
    """The compiler's figures of ``candidate`` (or the lower bounds that already exceed ``budget``).

    Returns ``flash_bytes``, ``ram_bytes``, ``latency_us`` (None where the device has no estimate),
    ``params``, ``macs``, ``method`` (``compiled`` or ``lower bound``) and ``error`` (a compile that
    failed: the candidate cannot be used).
    """
    import numpy as np
    from tinyml_tinyverse.common.compilation import compile_model
    from tinyml_tinyverse.common.compilation.fit_check import estimate_model_memory
    from tinyml_tinyverse.common.ir.onnx_loader import load_onnx_model
    from tinyml_tinyverse.references.common.onnx_export import export_onnx

    t0 = time.perf_counter()
    out = ctx.work_dir / _key_dir(candidate)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    figures: dict[str, Any] = {"candidate": candidate.key}
    try:
        model, x = untrained_model(ctx, candidate.model, data_config)
    except TinyMLError as exc:
        return {**figures, "error": f"cannot build {candidate.model} for this data: {exc}"}
    figures["params"] = int(sum(p.numel() for p in model.parameters()))
    figures["input_shape"] = [int(d) for d in x.shape[1:]]
    onnx_path = export_onnx(model, list(x.shape[1:]), out / "model.onnx")
    int8 = bool(ctx.quantization)
    bits = candidate.bits if int8 else 8
    bound = estimate_model_memory(load_onnx_model(onnx_path), int8=int8, weight_bitwidth=bits)
    if bound.weights_bytes > budget.flash_bytes or bound.ram_bytes > budget.ram_bytes:
        return {**figures, "method": "lower bound (fit_check, from the ONNX graph)",
                "flash_bytes": bound.weights_bytes, "ram_bytes": bound.ram_bytes, "latency_us": None,
                "macs": None, "seconds": round(time.perf_counter() - t0, 2)}  # fmt: skip
    calib = np.ascontiguousarray(x[:CALIBRATION_WINDOWS], dtype=np.float32)
    compiled: Any = str(onnx_path)
    if int8:
        from tinyml_tinyverse.common.quantization import quantize_onnx

        compiled = quantize_onnx(
            onnx_path, calib, mode=ctx.quantization, weight_bitwidth=bits, observer=ctx.observer
        )
    error = None
    try:
        compile_model(compiled, out / "compilation", target_device=ctx.target_device, test_vectors={"x": calib[:2]},
                      quantization=None, preset_name=compile_preset(ctx.compile_preset, bits))  # fmt: skip
    except TinyMLError as exc:  # a misfit still leaves memory_report.json: the figures are what counts
        error = str(exc).splitlines()[0]
    report_path = out / "compilation" / "memory_report.json"
    if not report_path.is_file():
        return {
            **figures,
            "error": f"the compiler failed: {error}",
            "seconds": round(time.perf_counter() - t0, 2),
        }
    memory = json.loads(report_path.read_text())
    latency = memory.get("latency") or {}
    figures.update(
        method="compiled (memory_report.json of the untrained model)",
        flash_bytes=int(memory["flash"]["total_bytes"]),
        weights_bytes=int(memory["flash"]["weights_bytes"]),
        ram_bytes=int(memory["ram"]["total_bytes"]),
        arena_bytes=int(memory["ram"]["arena_bytes"]),
        latency_us=latency.get("estimated_us"),
        latency_method=latency.get("method"),
        macs=int((memory.get("macs") or {}).get("total") or 0),
        seconds=round(time.perf_counter() - t0, 2),
    )
    if error and "does not fit" not in error:
        figures["error"] = f"the compiler failed: {error}"
    return figures


def measure_all(
    candidates: list[Candidate],
    ctx: FitContext,
    data_configs: dict[str | None, dict],
    budget: Budget,
    processes: int = 1,
) -> dict[str, dict]:
    """Figures of every candidate, from ``ctx.work_dir/candidates.json`` when measured before; the
    others measured in ``processes`` processes (the search's workers)."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    from tqdm import tqdm

    cache_path = ctx.work_dir.parent / "candidates.json"
    setting = f"{ctx.target_device} quantization {ctx.quantization} {ctx.observer} {ctx.compile_preset}"
    cache: dict[str, dict] = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    if cache.pop("_measured_for", None) != setting:  # another device or compile setting: measure again
        cache = {}
    todo = [c for c in candidates if c.key not in cache or _stale(cache[c.key], budget)]
    if not todo:
        return {c.key: cache[c.key] for c in candidates}
    processes = max(1, min(processes, len(todo)))
    print(f"search: measuring {len(todo)} candidate(s) with the compiler for {budget.device} (flash, RAM"
          f"{', latency' if budget.latency_us is not None else ''} of the untrained model; {processes} process(es))")  # fmt: skip
    for preset in dict.fromkeys(
        c.preset for c in todo
    ):  # the processed windows, once, before the processes read them
        from tinyml_tinyverse.common.datasets import load_split

        load_split(
            ctx.dataset_dir, "train", ctx.task, data_configs[preset], cache_dir=ctx.dataset_dir / "cache"
        )

    def save(c: Candidate, figures: dict) -> None:
        cache[c.key] = figures
        tmp = cache_path.with_name(cache_path.name + ".tmp")
        tmp.write_text(json.dumps({"_measured_for": setting, **cache}, indent=1))
        os.replace(tmp, cache_path)

    bar = tqdm(total=len(todo), desc="measuring", unit="model", leave=False, disable=len(todo) < 2 or None)
    if processes == 1:
        for c in todo:
            save(c, measure(c, ctx, data_configs[c.preset], budget))
            bar.update()
    else:  # fresh processes (spawn): torch's thread pools do not survive a fork
        with ProcessPoolExecutor(processes, mp_context=get_context("spawn"), initializer=_one_thread) as pool:
            futures = {pool.submit(measure, c, ctx, data_configs[c.preset], budget): c for c in todo}
            for future in as_completed(futures):
                save(futures[future], future.result())
                bar.update()
    bar.close()
    return {c.key: cache[c.key] for c in candidates}


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _stale(figures: dict, budget: Budget) -> bool:
    """A lower bound that exceeded an earlier, smaller budget may fit this one: compile it."""
    return str(figures.get("method", "")).startswith("lower bound") and (
        figures["flash_bytes"] <= budget.flash_bytes and figures["ram_bytes"] <= budget.ram_bytes
    )
