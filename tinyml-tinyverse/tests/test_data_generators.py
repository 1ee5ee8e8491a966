"""Generated datasets: layout, headers, seeding, and the motor-fault set is learnable but not trivial."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from tinyml_tinyverse.common.datasets import load_split, prepare_dataset
from tinyml_tinyverse.common.datasets.generators import generate_motor_fault


@pytest.mark.parametrize(
    "kind, pattern, header",
    [
        ("motor_fault", "classes/*/*.csv", "time,accel_x,accel_y,accel_z"),
        ("anomaly", "classes/*/*.csv", "time,accel_x,accel_y,accel_z"),
        ("regression", "files/*.csv", "time,current_a,current_b,current_c,torque"),
        ("forecasting", "files/*.csv", "time,load,ambient,temperature"),
    ],
)
def test_cli_writes_the_documented_layout(tmp_path, kind, pattern, header):
    cmd = [sys.executable, "-m", "tinyml_tinyverse.common.datasets.generators", kind, str(tmp_path)]
    subprocess.run(
        cmd + ["--files-per-class", "2", "--length", "600", "--seed", "3"], check=True, capture_output=True
    )
    files = sorted(tmp_path.glob(pattern))
    per_class = {"motor_fault": 8, "anomaly": 4}.get(kind, 2)
    assert len(files) == per_class
    assert files[0].read_text().splitlines()[0] == header
    data = np.loadtxt(files[0], delimiter=",", skiprows=1)
    assert data.shape == (600, len(header.split(","))) and np.isfinite(data).all()
    if kind == "motor_fault":
        assert sorted({f.parent.name for f in files}) == [
            "bearing_defect",
            "imbalance",
            "misalignment",
            "normal",
        ]
    if kind == "anomaly":
        assert sorted({f.parent.name for f in files}) == ["Anomaly", "Normal"]


def test_same_seed_same_data(tmp_path):
    a = generate_motor_fault(tmp_path / "a", files_per_class=1, length=256, seed=5)
    b = generate_motor_fault(tmp_path / "b", files_per_class=1, length=256, seed=5)
    c = generate_motor_fault(tmp_path / "c", files_per_class=1, length=256, seed=6)
    rel = "classes/imbalance/imbalance_000.csv"
    assert (a / rel).read_text() == (b / rel).read_text() != (c / rel).read_text()


def test_motor_fault_is_learnable_but_not_trivial(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    torch.set_num_threads(1)
    # many short recordings: the variation between recordings (speed, gain, severity) is what makes it hard
    data = generate_motor_fault(tmp_path / "raw", files_per_class=20, length=1024, seed=0)
    cfg = {"feature_extraction_name": "Generic_256Input_RAW_256Feature_1Frame", "stride_size": 0.25}
    prepare_dataset(
        data, tmp_path / "ds", "classification", data_config=cfg, split_factor=(0.5, 0.0, 0.5), plots=False
    )
    train, test = (load_split(tmp_path / "ds", s, "classification", cfg) for s in ("train", "test"))

    rms_tr, rms_te = (np.sqrt((d.X**2).mean(axis=(2, 3))) for d in (train, test))
    means = np.stack([rms_tr[train.y == c].mean(0) for c in range(4)])
    rms_acc = (np.argmin(((rms_te[:, None] - means[None]) ** 2).sum(-1), 1) == test.y).mean()
    assert rms_acc < 0.9  # loudness alone does not solve it

    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(3, 8, (7, 1), stride=(2, 1), padding=(3, 0)), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, (5, 1), stride=(2, 1), padding=(2, 0)), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 16, (3, 1), stride=(2, 1), padding=(1, 0)), nn.BatchNorm2d(16), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4),
    )  # fmt: skip
    mu, sd = train.stats["feature_mean"][None, :, None, None], train.stats["feature_std"][None, :, None, None]
    xtr, xte = (torch.from_numpy((d.X - mu) / sd) for d in (train, test))
    ytr = torch.from_numpy(train.y)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(15):
        model.train()
        for idx in torch.randperm(len(xtr)).split(32):
            loss = nn.functional.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(xte).argmax(1).numpy() == test.y).mean()
    assert acc >= 0.85, f"small CNN reached {acc:.2f} window accuracy (RMS baseline {rms_acc:.2f})"
