"""A real 2-process training run on the CPU (torchrun + gloo): sharded data, DDP, gathered
validation, artifacts written by rank 0 only."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
import test_references_train as T  # noqa: E402


def test_two_process_cpu_training(tmp_path):
    data, data_config = T.make_dataset(tmp_path, "classification")
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "tinyml_tinyverse.references.timeseries_classification.train",
           "--dataset-dir", str(data), "--data-config", str(data_config), "--output-dir", str(out), "--model", "CLS_1k_NPU",
           "--epochs", "2", "--seed", "5", "--no-progress",
           "--refit", "off"]  # the 2-process epochs are what is tested; a refit runs in one process  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    summary = yaml.safe_load((out / "summary.yaml").read_text())
    assert summary["world_size"] == 2
    log = T.artifacts.read_csv(out / "training_log.csv")
    # 192 windows, 96 per rank, auto batch 8 -> 12 steps per epoch on each rank
    assert [int(r["steps"]) for r in log] == [math.ceil(96 / 8)] * 2
    assert proc.stdout.count("epoch 1/2") == 1  # only rank 0 prints
    assert not list(out.glob("*.tmp"))

    # the validation figures gathered from both ranks equal a one-process evaluation of the best model
    from tinyml_tinyverse.references.common import checkpoint, metrics

    model, meta = checkpoint.load_best_model(out / "best_model.pt")
    val = T.load_split(data, "val", "classification", T.DATA_CONFIGS["classification"])
    import torch

    with torch.no_grad():
        logits = model(torch.from_numpy(val.X)).numpy()
    assert metrics.classification_metrics(val.y, logits, 4)["accuracy"] == pytest.approx(
        summary["val"]["accuracy"]
    )
    assert float(log[meta["epoch"] - 1]["val_accuracy"]) == pytest.approx(summary["val"]["accuracy"])
    # every rank validates with rank 0's batch-norm statistics: the logged loss is the saved model's
    assert float(log[meta["epoch"] - 1]["val_loss"]) == pytest.approx(summary["val"]["loss"], rel=1e-5)
