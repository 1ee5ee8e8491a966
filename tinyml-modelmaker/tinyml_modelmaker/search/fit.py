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
from dataclasses import dataclass, field
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
    train_splits: dict = field(default_factory=dict, repr=False)  # data config (JSON) -> its train split

    def train_split(self, data_config: dict) -> Any:
        """The processed train windows of ``data_config``, read once per process (every model of a preset
        is built and calibrated on them)."""
        from tinyml_tinyverse.common.datasets import load_split

        key = json.dumps(data_config, sort_keys=True, default=str)
        if key not in self.train_splits:
            self.train_splits[key] = load_split(
                self.dataset_dir, "train", self.task, data_config, cache_dir=self.dataset_dir / "cache"
            )
        return self.train_splits[key]


def fit_setup(config: dict, search_dir: Path, dataset_dir: Path) -> tuple[list[Candidate], dict, FitContext]:
    """``(candidates, data config per preset, FitContext)`` of a search config (the run and its local
    workers agree on them)."""
    from tinyml_modelmaker.ai_modules.timeseries.constants import task_of
    from tinyml_modelmaker.ai_modules.timeseries.model_check import models_for_task

    from .space import candidates

    task_name = task_of(config["common"]["task_type"])
    space = candidates(config, models_for_task(task_name))
    section = config["data_processing_feature_extraction"]
    data_configs = {p: preset_data_config(section, p) for p in dict.fromkeys(c.preset for c in space)}
    tr = config["training"]
    ctx = FitContext(task=task_name, dataset_dir=Path(dataset_dir), target_device=config["common"]["target_device"],
                     quantization=int(tr["quantization"]), observer=tr["calibration_observer"],
                     compile_preset=config["compilation"]["preset_name"], seed=int(tr["seed"]),
                     work_dir=Path(search_dir) / "candidates")  # fmt: skip
    return space, data_configs, ctx


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
    from tinyml_tinyverse.common.datasets import model_input_kwargs
    from tinyml_tinyverse.common.models import get_model
    from tinyml_tinyverse.references.common.output_scaling import ScaledOutput, fold_output_scale
    from tinyml_tinyverse.references.common.tasks import get_task

    train = ctx.train_split(data_config)
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


def measure_group(
    group: list[Candidate], ctx: FitContext, data_config: dict, budget: Budget
) -> dict[str, dict]:
    """The compiler's figures of each candidate of ``group`` (one model and preset at several bit widths:
    the untrained model is built and exported once), or the lower bounds that already exceed ``budget``.

    Each candidate's figures: ``flash_bytes``, ``ram_bytes``, ``latency_us`` (None where the device has no
    estimate or the candidate is over the flash / RAM budget: it never trains), ``params``, ``macs``,
    ``method`` and ``error`` (the compiler failed: the candidate cannot be used).
    """
    import numpy as np
    from tinyml_tinyverse.common.ir.onnx_loader import load_onnx_model
    from tinyml_tinyverse.references.common.onnx_export import export_onnx

    t0 = time.perf_counter()
    out = ctx.work_dir / _key_dir(group[0]).rsplit("__", 1)[0]
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    try:
        model, x = untrained_model(ctx, group[0].model, data_config)
    except TinyMLError as exc:
        why = f"cannot build {group[0].model} for this data: {exc}"
        return {c.key: {"candidate": c.key, "error": why} for c in group}
    shared = {
        "params": int(sum(p.numel() for p in model.parameters())),
        "input_shape": [int(d) for d in x.shape[1:]],
    }
    onnx_path = export_onnx(model, list(x.shape[1:]), out / "model.onnx")
    proto = load_onnx_model(onnx_path)
    calib = np.ascontiguousarray(x[:CALIBRATION_WINDOWS], dtype=np.float32)
    results = {}
    for c in group:
        t1 = time.perf_counter()
        figures = {"candidate": c.key, **shared, **_measure_one(c, ctx, proto, onnx_path, calib, budget, out)}
        figures["seconds"] = round(time.perf_counter() - t1 + (t1 - t0 if c is group[0] else 0), 2)
        results[c.key] = figures
    return results


def _measure_one(
    c: Candidate, ctx: FitContext, proto: Any, onnx_path: Path, calib: Any, budget: Budget, out: Path
) -> dict:
    """One bit width of a built model: lower bounds, else the compiler's plan (``plan_model``)."""
    from tinyml_tinyverse.common.compilation.fit_check import estimate_model_memory
    from tinyml_tinyverse.common.compilation.plan import plan_model

    int8 = bool(ctx.quantization)
    bits = c.bits if int8 else 8
    bound = estimate_model_memory(proto, int8=int8, weight_bitwidth=bits)
    if bound.weights_bytes > budget.flash_bytes or bound.ram_bytes > budget.ram_bytes:
        return {"method": "lower bound (fit_check, from the ONNX graph)", "flash_bytes": bound.weights_bytes,
                "ram_bytes": bound.ram_bytes, "latency_us": None, "macs": None}  # fmt: skip
    compiled: Any = str(onnx_path)
    if int8:
        from tinyml_tinyverse.common.quantization import quantize_onnx

        compiled = quantize_onnx(
            onnx_path, calib, mode=ctx.quantization, weight_bitwidth=bits, observer=ctx.observer
        )
    try:
        memory = plan_model(compiled, out / f"plan_{c.bits}", target_device=ctx.target_device, x=calib[:2],
                            preset_name=compile_preset(ctx.compile_preset, bits),
                            latency=budget.latency_us is not None,  # else later, in idle time
                            latency_within=(budget.flash_bytes, budget.ram_bytes))  # fmt: skip
    except TinyMLError as exc:
        return {"error": f"the compiler failed: {str(exc).splitlines()[0]}"}
    latency = memory.get("latency") or {}
    pending = (
        {"latency_pending": str(Path(out.name) / f"plan_{c.bits}")} if memory.get("latency_pending") else {}
    )
    return dict(
        **pending,
        method="compiler plan (memory_report figures of the untrained model)",
        flash_bytes=int(memory["flash"]["total_bytes"]),
        weights_bytes=int(memory["flash"]["weights_bytes"]),
        ram_bytes=int(memory["ram"]["total_bytes"]),
        arena_bytes=int(memory["ram"]["arena_bytes"]),
        latency_us=latency.get("estimated_us"),
        latency_method=latency.get("method"),
        macs=int((memory.get("macs") or {}).get("total") or 0),
    )


TODO_FILE = "todo.json"  # in search/candidates/: the groups this run measures (local workers help)


def groups_of(candidates: list[Candidate]) -> dict[str, list[Candidate]]:
    """``model|preset`` -> its candidates (one model built once, quantized at each bit width)."""
    out: dict[str, list[Candidate]] = {}
    for c in candidates:
        out.setdefault(c.group, []).append(c)
    return out


def plan_measuring(candidates: list[Candidate], ctx: FitContext, data_configs: dict, budget: Budget) -> dict:
    """Start measuring: the cached figures of ``candidates`` (``search/candidates.json``), and the groups
    still to measure written to ``candidates/todo.json`` for the local workers (earlier claims removed).
    Returns the cache; call before the local workers start, then :func:`measure_all`."""
    cache_path = ctx.work_dir.parent / "candidates.json"
    cache: dict[str, dict] = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    if cache.pop("_measured_for", None) != _setting(ctx):  # another device or compile setting: measure again
        cache = {}
    todo = groups_of([c for c in candidates if c.key not in cache or _stale(cache[c.key], budget)])
    ctx.work_dir.mkdir(parents=True, exist_ok=True)
    for leftover in [*ctx.work_dir.glob("*.claim"), *ctx.work_dir.glob("*.figures.json")]:
        leftover.unlink()
    for preset in dict.fromkeys(c[0].preset for c in todo.values()):  # the processed windows, once
        ctx.train_split(data_configs[preset])
    _write_json(ctx.work_dir / TODO_FILE, {"groups": list(todo), "budget": budget.to_dict()})
    return cache


def measure_all(
    candidates: list[Candidate],
    ctx: FitContext,
    data_configs: dict[str | None, dict],
    budget: Budget,
    cache: dict,
    label: str = "",
) -> dict[str, dict]:
    """Figures of every candidate: ``cache`` (from :func:`plan_measuring`) and the groups of ``todo.json``,
    measured here and by the local workers that help (:func:`help_measure`): each group goes to the first
    process that claims it. Waits for the groups the others claimed (one whose process died is measured
    here); saves ``search/candidates.json``."""
    from .study import alive_here

    todo = json.loads((ctx.work_dir / TODO_FILE).read_text())["groups"]
    if todo:
        print(f"search: measuring {sum(len(g) for k, g in groups_of(candidates).items() if k in todo)} "
              f"candidate(s) with the compiler for {budget.device} (flash, RAM, latency of the untrained model; "
              f"local workers help)", flush=True)  # fmt: skip
    by_group = groups_of(candidates)
    _measure_claimed(todo, by_group, ctx, data_configs, budget, label)
    pending = set(todo)
    while pending:
        for key in sorted(pending):
            done = _figures_path(ctx, key)
            if done.is_file():
                cache.update(json.loads(done.read_text()))
                pending.discard(key)
            elif alive_here(_claim_path(ctx, key).read_text()) is False:  # its worker died: measure it here
                _claim_path(ctx, key).unlink()
                _measure_claimed([key], by_group, ctx, data_configs, budget, label)
        if pending:
            time.sleep(0.2)
    figures = {c.key: cache[c.key] for c in candidates}
    save_figures(cache, ctx.work_dir, _setting(ctx))
    return figures


def save_figures(figures: dict[str, dict], work_dir: Path, setting: str | None = None) -> None:
    """Write ``figures`` into ``search/candidates.json`` (the cache a resumed search reads; ``setting``:
    what they were measured for, default the file's)."""
    path = Path(work_dir).parent / "candidates.json"
    if setting is None:
        setting = json.loads(path.read_text()).get("_measured_for", "") if path.is_file() else ""
    old = json.loads(path.read_text()) if path.is_file() else {}
    _write_json(path, {**old, **figures, "_measured_for": setting})


def forget_todo(work_dir: Path) -> None:
    """Remove an earlier run's ``todo.json``: the local workers wait for this run's (:func:`help_measure`)."""
    (Path(work_dir) / TODO_FILE).unlink(missing_ok=True)


def help_measure(
    candidates: list[Candidate], ctx: FitContext, data_configs: dict, label: str, wait_s: float = 600
) -> int:
    """A local worker's share of the measuring: it waits (up to ``wait_s``) for the run's ``todo.json``,
    then measures the groups nobody claimed yet; returns how many groups it measured."""
    todo_path = ctx.work_dir / TODO_FILE
    t0 = time.perf_counter()
    while not todo_path.is_file():
        if time.perf_counter() - t0 > wait_s:
            return 0
        time.sleep(0.2)
    todo = json.loads(todo_path.read_text())
    return _measure_claimed(
        todo["groups"], groups_of(candidates), ctx, data_configs, Budget(**todo["budget"]), label
    )


def _measure_claimed(keys: list[str], by_group: dict, ctx: FitContext, data_configs: dict, budget: Budget,
                     label: str) -> int:  # fmt: skip
    from .study import worker_id

    measured = 0
    for key in keys:
        try:  # the claim: a file only one process can create
            fd = os.open(_claim_path(ctx, key), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w") as f:
            f.write(worker_id())
        group = by_group[key]
        figures = measure_group(group, ctx, data_configs[group[0].preset], budget)
        for c in group:
            figures[c.key]["measured_by"] = label or worker_id()
        _write_json(_figures_path(ctx, key), figures)
        measured += 1
    return measured


def _claim_path(ctx: FitContext, key: str) -> Path:
    return ctx.work_dir / (_key_dir(Candidate.from_key(key)).rsplit("__", 1)[0] + ".claim")


def _figures_path(ctx: FitContext, key: str) -> Path:
    return ctx.work_dir / (_key_dir(Candidate.from_key(key)).rsplit("__", 1)[0] + ".figures.json")


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def _setting(ctx: FitContext) -> str:
    return f"{ctx.target_device} quantization {ctx.quantization} {ctx.observer} {ctx.compile_preset}"


def _stale(figures: dict, budget: Budget) -> bool:
    """Figures to measure again: a lower bound that exceeded an earlier, smaller budget, or a candidate
    whose latency was not measured (over that budget), that fit this one."""
    fits = "flash_bytes" in figures and (
        figures["flash_bytes"] <= budget.flash_bytes and figures["ram_bytes"] <= budget.ram_bytes
    )
    unmeasured = (
        str(figures.get("method", "")).startswith("lower bound") or figures.get("latency_method") is None
    )
    return fits and unmeasured and not figures.get("error")


LATENCY_CLAIM, LATENCY_RESULT = "latency.claim", "latency.json"


def measure_one_latency(work_dir: Path, device: str) -> bool:
    """Claim one deferred latency (``plan_model(latency=False)``) in ``work_dir`` (``search/candidates``)
    and run it under the emulator; False when none is left to claim."""
    from tinyml_tinyverse.common.compilation.plan import LATENCY_JOB

    for job in sorted(Path(work_dir).glob(f"*/plan_*/{LATENCY_JOB}")):
        if not (job.parent / LATENCY_RESULT).exists() and _run_latency(job.parent, device):
            return True
    return False


def _run_latency(plan_dir: Path, device: str) -> bool:
    """Claim ``plan_dir``'s latency and measure it into ``latency.json``; False when another has it."""
    from tinyml_tinyverse.common.compilation.plan import plan_latency

    from .study import worker_id

    try:
        fd = os.open(plan_dir / LATENCY_CLAIM, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(worker_id())
    try:
        result = {"latency": plan_latency(plan_dir, device)}
    except TinyMLError as exc:
        result = {"error": str(exc).splitlines()[0]}
    _write_json(plan_dir / LATENCY_RESULT, result)
    return True


def collect_latencies(figures: dict[str, dict], work_dir: Path, device: str) -> None:
    """Fill in the deferred latencies of ``figures`` (in place): those measured in idle time, the rest
    measured here (or waited for, while the process that claimed one runs)."""
    from .study import alive_here

    for f in figures.values():
        if not f.get("latency_pending"):
            continue
        plan_dir = Path(work_dir) / f["latency_pending"]
        while not (plan_dir / LATENCY_RESULT).is_file():
            claim = plan_dir / LATENCY_CLAIM
            if claim.is_file() and alive_here(claim.read_text()) is not False:
                time.sleep(0.2)
                continue
            claim.unlink(missing_ok=True)
            _run_latency(plan_dir, device)
        result = json.loads((plan_dir / LATENCY_RESULT).read_text())
        latency = result.get("latency") or {}
        f["latency_us"] = latency.get("estimated_us")
        f["latency_method"] = latency.get("method") or f"not measured: {result.get('error')}"
        del f["latency_pending"]
