"""Small-data training: the augmentation probe before the refit, and the weight average (--ema-decay).
Real training runs of a few epochs on generated recordings, prepared on disk."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import yaml
from torch import nn

os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)

from test_references_train import make_dataset, run_train  # noqa: E402
from tinyml_tinyverse.common.errors import ConfigError  # noqa: E402
from tinyml_tinyverse.references.common import artifacts, checkpoint  # noqa: E402
from tinyml_tinyverse.references.common.train_base import PROBE_AUGMENTATION  # noqa: E402
from tinyml_tinyverse.references.common.weight_averaging import WeightAverage  # noqa: E402


@pytest.fixture(scope="module")
def classification(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("small_cls"), "classification")


def phase_rows(out, phase):
    return [r for r in artifacts.read_csv(out / "training_log.csv") if r["phase"] == phase]


def test_probe_chooses_by_val_loss_and_the_refit_follows(classification, tmp_path):
    out = tmp_path / "run"
    summary = run_train("classification", classification, out, "--epochs", "4")
    probe = summary["augmentation_probe"]
    assert probe["tried"] == PROBE_AUGMENTATION
    train, tried = phase_rows(out, "train"), phase_rows(out, "probe")
    assert [int(r["epoch"]) for r in tried] == [1, 2, 3, 4]  # the same epochs as the first phase
    assert probe["val_loss_without"] == pytest.approx(min(float(r["val_loss"]) for r in train), rel=1e-5)
    with_aug = [float(r["val_loss"]) for r in tried]
    assert probe["val_loss_with"] == pytest.approx(min(with_aug), rel=1e-5)
    assert probe["best_epoch"] == 1 + int(np.argmin(with_aug))
    assert probe["kept"] == (probe["val_loss_with"] < probe["val_loss_without"])
    chosen = probe["best_epoch"] if probe["kept"] else summary["best_epoch"]
    assert summary["refit"]["epochs"] == max(chosen, summary["min_epochs"])
    assert len(phase_rows(out, "refit")) == summary["refit"]["epochs"]
    assert yaml.safe_load((out / "summary.yaml").read_text())["augmentation_probe"] == probe


def test_probe_is_off_when_asked_or_when_the_data_config_augments(classification, tmp_path):
    summary = run_train("classification", classification, tmp_path / "off", "--choose-augmentation", "off")
    assert "augmentation_probe" not in summary and not phase_rows(tmp_path / "off", "probe")
    assert summary["refit"]["epochs"] == max(summary["best_epoch"], summary["min_epochs"])
    config = yaml.safe_load(classification[1].read_text())
    own = tmp_path / "augmented.yaml"
    own.write_text(yaml.safe_dump({**config, "augmentation": {"AddNoise": {"scale": 0.05}}}))
    summary = run_train("classification", (classification[0], own), tmp_path / "own")
    assert "augmentation_probe" not in summary and not phase_rows(tmp_path / "own", "probe")
    summary = run_train("classification", classification, tmp_path / "metric", "--best-epoch-by", "metric")
    assert "augmentation_probe" not in summary  # the probe compares val losses: only when the loss chooses


def test_weight_average_arithmetic():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    average = WeightAverage(model, decay=0.9)
    start = {k: v.clone() for k, v in average.module.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
        model[1].num_batches_tracked += 5
    d = average.current_decay()
    assert d == pytest.approx(1 / 10)  # the ramp: (1 + 0) / (10 + 0), below 0.9
    average.update(model)
    now = model.state_dict()
    for k, v in average.module.state_dict().items():
        if v.dtype.is_floating_point:
            torch.testing.assert_close(v, d * start[k] + (1 - d) * now[k])
        else:
            assert torch.equal(v, now[k])  # integer buffers are copied
    average.steps = 10_000
    assert average.current_decay() == 0.9
    with pytest.raises(ValueError):
        WeightAverage(model, 1.0)
    with pytest.raises(ValueError, match="state_dict keys"):
        average.update(nn.Sequential(nn.Linear(2, 2)))


def test_ema_model_is_what_is_kept_and_resume_checks_the_setting(tmp_path):
    data = make_dataset(tmp_path / "data", "regression")
    out = tmp_path / "ema"
    summary = run_train("regression", data, out, "--ema-decay", "0.9")
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    averaged = state["weight_average"]["module"]
    assert state["weight_average"]["decay"] == 0.9 and state["weight_average"]["steps"] > 0
    trained = state["model"]
    assert any(
        not torch.equal(averaged[k], trained[k]) for k in trained if trained[k].dtype.is_floating_point
    )
    if summary["best_epoch"] == 2:  # the last epoch was the best: the kept weights are the average's
        for k, v in state["best_state"].items():
            torch.testing.assert_close(v, averaged[k])
    model, _ = checkpoint.load_best_model(out / "best_model.pt")
    kept = {k: v for k, v in model.state_dict().items()}
    best = state["best_state"]
    assert all(torch.equal(kept[k], best[k]) for k in kept if k in best)
    with pytest.raises(ConfigError, match="--ema-decay"):
        run_train("regression", data, out, "--resume", "auto", "--epochs", "3")
