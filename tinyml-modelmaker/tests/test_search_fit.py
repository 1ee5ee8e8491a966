"""The measuring of the search's candidates shared between processes: each model measured once, by the
process that claims it; a claim whose process died is measured again; deferred latencies gathered."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from tinyml_modelmaker.search import fit
from tinyml_modelmaker.search.space import Budget, Candidate

BUDGET = Budget(flash_bytes=12000, ram_bytes=32768, latency_us=None, device="MSPM0G3507")
SPACE = [Candidate(m, None, b) for m in ("CLS_100_NPU", "CLS_1k_NPU", "CLS_4k_NPU") for b in (8, 4)]


def _ctx(tmp_path: Path) -> fit.FitContext:
    return fit.FitContext(task="classification", dataset_dir=tmp_path / "dataset", target_device="MSPM0G3507",
                          quantization=2, observer="minmax", compile_preset="default_preset", seed=42,
                          work_dir=tmp_path / "search" / "candidates")  # fmt: skip


def test_each_model_is_measured_once_and_a_dead_claim_is_measured_again(tmp_path, monkeypatch):
    ctx = _ctx(tmp_path)
    ctx.work_dir.mkdir(parents=True)
    calls = []

    def fake_group(group, _ctx, _data_config, _budget):
        calls.append(group[0].group)
        return {c.key: {"candidate": c.key, "flash_bytes": 1000 * c.bits, "ram_bytes": 500} for c in group}

    monkeypatch.setattr(fit, "measure_group", fake_group)
    groups = list(fit.groups_of(SPACE))
    (ctx.work_dir / fit.TODO_FILE).write_text(json.dumps({"groups": groups, "budget": BUDGET.to_dict()}))
    # another local process claimed CLS_1k_NPU and died before it wrote its figures (pid 2**22 + 1 is unused)
    fit._claim_path(ctx, groups[1]).write_text(f"{socket.gethostname()}:{2**22 + 1}")
    figures = fit.measure_all(SPACE, ctx, {None: {}}, BUDGET, cache={})
    assert calls == [groups[0], groups[2], groups[1]]  # the dead claim's model last, here
    assert set(figures) == {c.key for c in SPACE} and figures["CLS_1k_NPU|-|4"]["flash_bytes"] == 4000
    cached = json.loads((tmp_path / "search" / "candidates.json").read_text())
    assert cached["_measured_for"] and cached["CLS_4k_NPU|-|8"]["measured_by"]
    # a helper (a local worker) finds nothing left to claim
    assert fit.help_measure(SPACE, ctx, {None: {}}, "worker 2") == 0 and len(calls) == 3


def test_stale_figures_are_measured_again():
    lower = {"method": "lower bound (fit_check, from the ONNX graph)", "flash_bytes": 11000, "ram_bytes": 10}
    assert fit._stale(lower, BUDGET)  # a bound over an earlier, smaller budget, within this one
    assert not fit._stale(dict(lower, flash_bytes=13000), BUDGET)
    planned = {"method": "compiler plan", "flash_bytes": 5000, "ram_bytes": 10, "latency_method": "estimate"}
    assert not fit._stale(planned, BUDGET)
    assert fit._stale(
        {k: v for k, v in planned.items() if k != "latency_method"}, BUDGET
    )  # latency never run
    assert not fit._stale({"error": "the compiler failed: x", "flash_bytes": 1, "ram_bytes": 1}, BUDGET)


def test_deferred_latencies_are_gathered_also_from_a_dead_claim(tmp_path, monkeypatch):
    from tinyml_tinyverse.common.compilation import plan

    work = tmp_path / "candidates"
    runs = []

    def fake_latency(plan_dir, device):
        runs.append(Path(plan_dir).name)
        return {"estimated_us": 100.0 + len(runs), "method": "estimate (test)"}

    monkeypatch.setattr(plan, "plan_latency", fake_latency)
    figures = {}
    for bits in (8, 4):
        d = work / "CLS_1k_NPU__-" / f"plan_{bits}"
        d.mkdir(parents=True)
        (d / plan.LATENCY_JOB).write_bytes(b"")
        figures[f"CLS_1k_NPU|-|{bits}"] = {
            "latency_pending": f"CLS_1k_NPU__-/plan_{bits}",
            "latency_us": None,
        }
    assert fit.measure_one_latency(work, "MSPM0G3507") and runs == ["plan_4"]  # idle time: one at a time
    (work / "CLS_1k_NPU__-" / "plan_8" / fit.LATENCY_CLAIM).write_text(f"{socket.gethostname()}:{2**22 + 1}")
    assert not fit.measure_one_latency(work, "MSPM0G3507")  # claimed (by a process that died)
    fit.collect_latencies(figures, work, "MSPM0G3507")
    assert runs == ["plan_4", "plan_8"]
    assert figures["CLS_1k_NPU|-|4"] == {"latency_us": 101.0, "latency_method": "estimate (test)"}
    assert figures["CLS_1k_NPU|-|8"]["latency_us"] == 102.0
