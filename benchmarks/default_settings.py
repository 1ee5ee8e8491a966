"""Do the training defaults work without tuning? Defaults against a learning-rate sweep.

For small generated datasets of the kind users bring (tens of recordings), trains each case with the
modelmaker defaults (only data, task and model named) and with other learning rates, over several
seeds, and prints the mean and worst test score of each setting next to the default's. A default
that leaves a large gap to the best swept setting is what this benchmark exists to catch.

    python benchmarks/default_settings.py [--seeds 0 1 2] [--lrs 0.001 0.002 0.005 0.01] [--cases ...]

Runs on CPU; about 2 minutes on 2 cores with the default grid, 3 with five seeds and two swept rates.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import tempfile
import time
from pathlib import Path

import yaml
from tinyml_modelmaker.ai_modules.timeseries.params import SCHEMA
from tinyml_modelmaker.run_tinyml_modelmaker import main as modelmaker_main

# name: (task, generator, generator_config, data section, model, metric, higher is better)
CASES = {
    "motor_fft_24rec": (
        "classification", "motor_fault", {"files_per_class": 6, "length": 8192},
        {"feature_extraction_name": "Generic_256Input_FFTBIN_16Feature_8Frame", "variables": 3},
        "CLS_1k_NPU", "accuracy", True,
    ),
    "motor_raw_24rec": (
        "classification", "motor_fault", {"files_per_class": 6, "length": 8192},
        {"feature_extraction_name": "Generic_256Input_RAW_256Feature_1Frame", "variables": 3},
        "CLS_4k_NPU", "accuracy", True,
    ),
    "torque_regression": (
        "regression", "regression", {"files_per_class": 8, "length": 4096},
        {"feature_extraction_name": "Generic_128Input_RAW_128Feature_1Frame",
         "variables": ["current_a", "current_b", "current_c"], "target_columns": ["torque"]},
        "REGR_1k_NPU", "r2", True,
    ),
}  # fmt: skip


def run_case(root: Path, name: str, seed: int, lr: float | None) -> tuple[float, int, float]:
    """Train one setting; returns (test metric, epochs run, seconds). ``lr`` None: the default."""
    task, generator, gen_cfg, data, model, metric, _ = CASES[name]
    config = {
        "common": {
            "task_type": f"generic_timeseries_{task}",
            "target_device": "F28P55",
            "projects_path": str(root / "projects"),
            "run_name": f"seed{seed}_lr{lr or 'default'}",
        },
        "dataset": {
            "dataset_name": name,
            "input_data_path": f"generated://{generator}",
            "generator_config": gen_cfg,
            "seed": seed,
        },
        "data_processing_feature_extraction": data,
        "training": {"model_name": model, "quantization": 0, "seed": seed},
        "testing": {"enable": False},
        "compilation": {"enable": False},
    }
    if lr is not None:
        config["training"]["learning_rate"] = lr
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        rc = modelmaker_main([str(path)])
    seconds = time.perf_counter() - start
    if rc != 0:
        raise SystemExit(f"{name} seed {seed} lr {lr}: modelmaker exited with {rc}")
    run = root / "projects" / name / "run" / config["common"]["run_name"]
    summary = yaml.safe_load((run / "run_summary.yaml").read_text())["training"]
    return float(summary["test"][metric]), int(summary["epochs_run"]), seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--lrs", type=float, nargs="+", default=[0.001, 0.005, 0.01])
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    args = p.parse_args()
    tr = SCHEMA["training"]
    default_lr = tr["learning_rate"].default
    print(
        f"defaults: learning_rate {default_lr}, optimizer {tr['optimizer'].default}, epochs 50 (at least "
        f"{tr['min_steps'].default} steps) with early stopping (patience {tr['early_stopping_patience'].default}) "
        f"on the val {tr['best_epoch_by'].default}, refit {tr['refit'].default}, batch size fitted to the data"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.cases:
            metric, higher = CASES[name][5], CASES[name][6]
            print(f"\n{name} ({CASES[name][4]}, test {metric}, seeds {args.seeds})")
            print(f"  {'learning rate':<22}{'mean':>8}{'worst':>8}{'epochs':>8}{'s/run':>8}")
            rows = {}
            for lr in [None, *[x for x in args.lrs if x != default_lr]]:
                results = [run_case(Path(tmp), name, seed, lr) for seed in args.seeds]
                scores = [r[0] for r in results]
                rows[lr] = statistics.mean(scores)
                worst = min(scores) if higher else max(scores)
                label = f"{default_lr} (default)" if lr is None else str(lr)
                print(f"  {label:<22}{rows[lr]:8.3f}{worst:8.3f}{statistics.mean(r[1] for r in results):8.1f}"
                      f"{statistics.mean(r[2] for r in results):8.1f}", flush=True)  # fmt: skip
            best_lr = max(rows, key=lambda k: rows[k] if higher else -rows[k])
            gap = abs(rows[best_lr] - rows[None])
            print(f"  gap of the default to the best swept setting ({best_lr or default_lr}): {gap:.3f}")


if __name__ == "__main__":
    main()
