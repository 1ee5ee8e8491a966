"""The int8 model keeps the float model's accuracy (within 2 percentage points) on held-out data."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tinyml_tinyverse.common.quantization import quantize_onnx


def make_windows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three classes of noisy vibration windows: 2 Hz, 5 Hz, and 5 Hz with a 2nd harmonic."""
    rng = np.random.default_rng(seed)
    t = np.arange(64) / 64.0
    y = rng.integers(0, 3, n)
    freq = np.where(y == 0, 2.0, 5.0)[:, None] * rng.uniform(0.9, 1.1, (n, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    x = np.sin(2 * np.pi * freq * t + phase) + 0.4 * (y == 2)[:, None] * np.sin(4 * np.pi * freq * t)
    x = x + 0.3 * rng.standard_normal((n, 64))
    return x.astype(np.float32).reshape(n, 1, 64, 1), y


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, (7, 1), padding=(3, 0))
        self.bn1 = nn.BatchNorm2d(8)
        self.c2 = nn.Conv2d(8, 8, (5, 1), stride=(2, 1), padding=(2, 0))
        self.fc = nn.Linear(8 * 8, 3)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.c1(x))), (2, 1))
        x = F.max_pool2d(F.relu(self.c2(x)), (2, 1))
        return self.fc(x.flatten(1))


def test_int8_accuracy_within_two_points_of_float(tmp_path):
    torch.manual_seed(0)
    x_train, y_train = make_windows(600, 0)
    x_test, y_test = make_windows(400, 1)
    model = Net()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    for _ in range(3):
        for i in range(0, len(xt), 50):
            opt.zero_grad()
            F.cross_entropy(model(xt[i : i + 50]), yt[i : i + 50]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        float_acc = (model(torch.from_numpy(x_test)).argmax(1).numpy() == y_test).mean()
    assert float_acc > 0.8  # the float model learned the task
    path = tmp_path / "net.onnx"
    torch.onnx.export(model, (torch.from_numpy(x_test[:1]),), str(path), dynamo=False, opset_version=13)
    for mode in (1, 2):
        q = quantize_onnx(path, x_train[:200], mode=mode)
        int8_acc = (q.run_dequantized(x_test)[0].argmax(1) == y_test).mean()
        assert abs(int8_acc - float_acc) <= 0.02, (mode, float_acc, int8_acc)
