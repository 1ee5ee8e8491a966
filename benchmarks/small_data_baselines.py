"""Measure the 1-NN DTW and ROCKET baselines that ``small_data.py`` could not take from a published table.

For JapaneseVowels, UnitTest (on its own 22 test series) and CardanoSentiment, no per-problem figure
on the series we test was found, so ``small_data.py`` carries figures measured with this script:
aeon's ``KNeighborsTimeSeriesClassifier`` / ``...Regressor`` (1 neighbour, ``distance="dtw"``, full
window) and ``RocketClassifier`` / ``RocketRegressor`` (10 000 kernels, the mean over ``--seeds``), on
the archive's own train/test split. Needs ``pip install aeon`` (a benchmark dependency only).

    python benchmarks/small_data_baselines.py [--problems UnitTest ...] [--seeds 0 1 2 3 4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from small_data import PROBLEMS, aeon_data_dir  # noqa: E402

MEASURED = ["JapaneseVowels", "UnitTest", "CardanoSentiment"]


def load(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    from aeon.datasets import load_from_ts_file

    problem = PROBLEMS[name]
    return load_from_ts_file(str(aeon_data_dir() / problem.name / f"{problem.file}_{split}.ts"))


def score(task: str, truth: np.ndarray, pred: np.ndarray) -> float:
    """Accuracy (classification) or RMSE (regression)."""
    if task == "classification":
        return float(np.mean(pred == truth))
    return float(np.sqrt(np.mean((pred.astype(float) - truth.astype(float)) ** 2)))


def measure(name: str, seeds: list[int]) -> tuple[float, float]:
    """(1-NN DTW, mean ROCKET over ``seeds``) on the problem's test split."""
    task = PROBLEMS[name].task
    x_train, y_train = load(name, "TRAIN")
    x_test, y_test = load(name, "TEST")
    if task == "classification":
        from aeon.classification.convolution_based import RocketClassifier as Rocket
        from aeon.classification.distance_based import KNeighborsTimeSeriesClassifier as Knn
    else:
        from aeon.regression.convolution_based import RocketRegressor as Rocket
        from aeon.regression.distance_based import KNeighborsTimeSeriesRegressor as Knn
    dtw = score(task, y_test, Knn(n_neighbors=1, distance="dtw").fit(x_train, y_train).predict(x_test))
    rocket = [
        score(task, y_test, Rocket(n_kernels=10_000, random_state=s).fit(x_train, y_train).predict(x_test))
        for s in seeds
    ]
    return dtw, statistics.mean(rocket)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=MEASURED, choices=list(PROBLEMS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args(argv)
    print(f"{'dataset':22} {'1NN-DTW':>8} {'ROCKET':>8}   (in small_data.py: DTW, ROCKET)")
    for name in args.problems:
        dtw, rocket = measure(name, args.seeds)
        p = PROBLEMS[name]
        print(f"{name:22} {dtw:8.4f} {rocket:8.4f}   ({p.dtw:.4f}, {p.rocket:.4f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
