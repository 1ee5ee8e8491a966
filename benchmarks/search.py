"""Model search against training every candidate fully, on generated data, under a flash budget.

Two runs of the same project (``training.model_name: auto``, 2 workers, the same candidates, seeds
and epochs), each in a process of its own as a user's run is: one with the search's pruning
(successive halving), one with ``search.pruner: none`` (every candidate that fits trains all its
epochs). Prints, for each: trials run, candidates complete
and pruned (a candidate is a model at one bit width; a trial trains one model to one rung, its bit
widths sharing the training), the search stage's wall time and the CPU time, and the best model; then
whether the search found a model within 1 point (0.01 of the validation score) of the fully trained
best in under a third of the time.

    python benchmarks/search.py                    # defaults below: 5 to 10 min on 2 busy cores
    python benchmarks/search.py --repeats 3        # the pair 3 times, order alternated; the median ratio
    python benchmarks/search.py --budget 9000 --bits 8 4 --epochs 30
    python benchmarks/search.py --models '*'       # the task's whole zoo (16 models) instead of CLS_*_NPU
    python benchmarks/search.py --train-winner     # and each run's winner trained (the whole run's time)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml


def config(args: argparse.Namespace, pruner: str, repeat: int = 0) -> dict:
    return {
        "common": {
            "task_type": "generic_timeseries_classification",
            "target_device": args.device,
            "projects_path": str(args.out),
            "run_name": f"search_{pruner}" + (f"_{repeat + 1}" if repeat else ""),
        },
        "dataset": {
            "dataset_name": "motor",
            "input_data_path": "generated://motor_fault",
            "generator_config": {"files_per_class": args.files_per_class, "length": args.length},
        },
        "data_processing_feature_extraction": {"feature_extraction_name": args.preset, "variables": 3},
        "training": {
            "enable": args.train_winner,  # the benchmark measures the search stage; --train-winner: and the winner's training
            "model_name": "auto",
            "training_epochs": args.epochs,
            "quantization": 2,
            "quantization_method": "PTQ",
        },
        "search": {
            "models": args.models,
            "weight_bitwidths": args.bits,
            "max_flash_bytes": args.budget,
            "min_epochs": args.min_epochs,
            "reduction_factor": args.reduction_factor,
            "pruner": pruner,
            "workers": args.workers,
        },
        "testing": {"enable": False},
        "compilation": {"enable": False},
    }


def cpu_seconds() -> float:
    """User + system CPU of this process and of the worker processes it waited for."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def study_trials(root: Path) -> int:
    """Optuna trials the search ran (one per candidate and rung; duplicates that found theirs taken excluded)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = f"sqlite:///{root / 'search' / 'study.db'}"
    (name,) = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    trials = optuna.load_study(study_name=name, storage=storage).get_trials()
    return sum(1 for t in trials if t.user_attrs.get("duplicate_of") is None)


RUN = """import json, sys
from tinyml_modelmaker import run_project
summary = run_project(json.loads(sys.argv[1]))
open(sys.argv[2], "w").write(json.dumps(summary, default=str))
"""


def run(args: argparse.Namespace, pruner: str, repeat: int = 0) -> dict:
    """One run in a process of its own, as a user's run is: both sides start as cold."""
    cfg = config(args, pruner, repeat)
    out = Path(args.out) / f"summary_{pruner}_{repeat + 1}.json"
    t0, cpu0 = time.perf_counter(), cpu_seconds()
    subprocess.run([sys.executable, "-c", RUN, json.dumps(cfg), str(out)], check=True)
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    summary = json.loads(out.read_text())
    root = Path(summary["run_folder"])
    measured = json.loads((root / "search" / "candidates.json").read_text())
    with open(root / "search" / "trials.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    metric = next(k for k in rows[0] if k.startswith("val_") and not k.endswith("_float"))
    complete = [r for r in rows if r["state"] == "complete"]
    best = max(complete, key=lambda r: float(r[metric]))
    return {
        "pruner": pruner,
        "search_s": summary["stages"]["search"]["seconds"],
        "train_s": summary["stages"]["training"]["seconds"],
        "run_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "measure_s": round(sum(v.get("seconds", 0) for k, v in measured.items() if not k.startswith("_")), 1),
        "trial_s": round(
            sum(float(s) for s in {r["trial"]: r["seconds"] for r in rows if r["trial"]}.values()), 1
        ),
        "trials": study_trials(root),
        "trained": len(complete),
        "pruned": sum(r["state"] == "pruned" for r in rows),
        "rejected": sum(r["state"] == "rejected" for r in rows),
        "epochs": sum(int(r["epochs"] or 0) for r in rows if r["state"] in ("complete", "pruned")),
        "winner": summary["search"],
        "best": best,
        "metric": metric,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="MSPM0G3507")
    p.add_argument("--models", nargs="+", default=["CLS_*_NPU"])
    p.add_argument("--bits", nargs="+", type=int, default=[8, 4])
    p.add_argument("--budget", type=int, default=12000, help="max_flash_bytes: excludes the largest models")
    p.add_argument("--preset", default="Generic_128Input_RAW_128Feature_1Frame")
    p.add_argument("--files-per-class", type=int, default=24)
    p.add_argument("--length", type=int, default=16384)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--min-epochs", type=int, default=2, help="search.min_epochs (its default)")
    p.add_argument("--reduction-factor", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", type=Path, default=None, help="projects folder (default: a temporary one)")
    p.add_argument("--train-winner", action="store_true",
                   help="also train the winner of each run (the training stage: a search's continues its last trial)")  # fmt: skip
    p.add_argument(
        "--repeats", type=int, default=1, help="run the pair this often (order alternated); median"
    )
    args = p.parse_args()
    keep = args.out is not None
    args.out = args.out or Path(tempfile.mkdtemp(prefix="search_bench_"))
    pairs = []
    try:
        for k in range(args.repeats):  # alternated, so a load that rises or falls favours neither
            order = ("successive_halving", "none") if k % 2 == 0 else ("none", "successive_halving")
            got = {pruner: run(args, pruner, k) for pruner in order}
            pairs.append((got["successive_halving"], got["none"]))
            print(f"pair {k + 1}: wall {got['successive_halving']['search_s']} s vs {got['none']['search_s']} s "
                  f"({got['successive_halving']['search_s'] / got['none']['search_s']:.3f}), load average "
                  f"{os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    finally:
        if not keep:
            shutil.rmtree(args.out, ignore_errors=True)
    ratios = sorted(s["search_s"] / f["search_s"] for s, f in pairs)
    search, full = next(
        pair for pair in pairs if pair[0]["search_s"] / pair[1]["search_s"] == ratios[len(ratios) // 2]
    )
    metric = search["metric"]
    print("\n" + yaml.safe_dump({"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}},
                                sort_keys=False))  # fmt: skip
    print(f"{'':24}{'search (pruning)':>20}{'every candidate fully':>24}")
    for name, key in (("trials run", "trials"), ("candidates complete", "trained"), ("candidates pruned", "pruned"),
                      ("rejected by the budget", "rejected"), ("epochs trained", "epochs"),
                      ("candidates measured, s", "measure_s"), ("trials (sum), s", "trial_s"),
                      ("search stage wall s", "search_s"), ("run CPU s (all procs)", "cpu_s"),
                      *((("winner's training s", "train_s"), ("whole run wall s", "run_s")) if args.train_winner else ())):  # fmt: skip
        print(f"{name:24}{search[key]:>20}{full[key]:>24}")
    w, b = search["winner"], full["best"]
    print(
        f"{'winner / best':24}{w['model'] + ' ' + str(w['bits']) + '-bit':>20}{b['model'] + ' ' + b['bits'] + '-bit':>24}"
    )
    print(f"{metric:24}{w['val_score']:>20.4f}{float(b[metric]):>24.4f}")
    gap = float(b[metric]) - w["val_score"]
    ratio, cpu_ratio = search["search_s"] / full["search_s"], search["cpu_s"] / full["cpu_s"]
    if len(pairs) > 1:
        print(f"\nwall time ratios of the {len(pairs)} pairs: {', '.join(f'{r:.3f}' for r in ratios)}; the table "
              f"shows the median pair")  # fmt: skip
    print(f"\nsearch winner {gap * 100:+.2f} points below the best of full training (target: within 1 point); "
          f"wall time {ratio:.2f}, CPU time {cpu_ratio:.2f} of full training (target: under 0.33; the CPU time "
          f"does not grow when other jobs share the cores)")  # fmt: skip
    print("targets met" if gap <= 0.01 and min(ratio, cpu_ratio) < 1 / 3 else "TARGETS NOT MET")


if __name__ == "__main__":
    main()
