"""The training report's plots and onnxruntime check left for a process without torch
(``report.deferred_report`` + ``report_pending.finish_pending``, used by the modelmaker's stage processes):
the training process never imports matplotlib or onnxruntime, the later process never imports torch, and
the plots and the check's figure are those a report in one process gives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_references_train import EXPECTED_FILES, make_dataset, train_args_list
from tinyml_tinyverse.common.errors import ModelError

HEAVY = ("torch", "matplotlib", "onnxruntime")


def _python(code: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parent
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("task", ["classification", "anomalydetection"])
def test_training_report_finished_in_a_process_without_torch(task, tmp_path):
    data = make_dataset(tmp_path / "data", task)
    out = tmp_path / "out"
    argv = train_args_list(task, data, out, "--quantization", "2", "--quantization-method", "PTQ")
    trained = _python(
        "import json, sys, torch\n"
        "torch.set_num_threads(1)\n"
        f"from tinyml_tinyverse.references.timeseries_{task} import train\n"
        "from tinyml_tinyverse.references.common.report import deferred_report\n"
        "with deferred_report():\n"
        f"    train.main(train.get_args_parser().parse_args({argv!r}))\n"
        f"print(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))\n"
    )
    assert trained == {"torch": True, "matplotlib": False, "onnxruntime": False}
    assert not list(out.glob("*.png"))
    assert yaml.safe_load((out / "summary.yaml").read_text())["onnx"]["max_rel_diff_vs_torch"] is None

    finished = _python(
        "import json, sys\n"
        "from tinyml_tinyverse.references.common.report_pending import finish_pending\n"
        f"checked = finish_pending({str(out)!r})\n"
        f"print(json.dumps({{**{{m: m in sys.modules for m in {HEAVY!r}}}, 'checked': checked}}))\n"
    )
    assert finished["torch"] is False and finished["onnxruntime"] is True
    assert 0 <= finished["checked"]["max_rel_diff_vs_torch"] <= 1e-4
    summary = yaml.safe_load((out / "summary.yaml").read_text())
    assert summary["onnx"]["max_rel_diff_vs_torch"] == finished["checked"]["max_rel_diff_vs_torch"]
    drawn = {p.name for p in out.glob("*.png")}
    expected = {
        "loss_curve.png",
        "metric_curve.png",
        *(f for f in EXPECTED_FILES[task] if f.endswith(".png")),
    }
    assert drawn == expected and set(summary["test_plots"]) <= drawn
    assert not list(out.glob("*pending*"))
    assert (
        _python(  # nothing left: a second call does nothing
            "import json\nfrom tinyml_tinyverse.references.common.report_pending import finish_pending\n"
            f"print(json.dumps(finish_pending({str(out)!r})))\n"
        )
        is None
    )


def test_recorded_plots_round_trip_and_a_parity_miss_is_an_error(tmp_path):
    from tinyml_tinyverse.references.common import onnx_export, plots

    with plots.deferred() as calls:
        plots.plot_roc(tmp_path / "roc.png", {"a": (np.array([0.0, 1.0]), np.array([0.0, 1.0]), 0.5)})
        plots.plot_curves(tmp_path / "c.png", [1, 2], {"loss": [0.5, 0.25]}, "loss", best_epoch=2)
    assert [c[0] for c in calls] == ["plot_roc", "plot_curves"] and not list(tmp_path.glob("*.png"))
    plots.save_calls(tmp_path / "p.npz", calls)
    assert [p.name for p in plots.draw_saved(tmp_path / "p.npz")] == ["roc.png", "c.png"]
    assert (tmp_path / "roc.png").stat().st_size > 1000 and (tmp_path / "c.png").is_file()

    import torch

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 2))
    path = onnx_export.export_onnx(model, [1, 6, 1], tmp_path / "m.onnx")
    x = np.random.default_rng(0).normal(size=(4, 1, 6, 1)).astype(np.float32)
    ref = onnx_export.torch_outputs(model, x)
    assert onnx_export.parity(path, x, ref) <= 1e-5
    with pytest.raises(ModelError, match="disagree"):
        onnx_export.parity(path, x, ref + 1.0)
