"""Deterministic kernels without torch's compiler: the same flags, the same trained weights bit for bit."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import torch
import yaml


def _python(code: str) -> str:
    env_code = "import os; os.environ['OMP_NUM_THREADS'] = '1'\n" + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", env_code], capture_output=True, text=True, check=True).stdout


def test_deterministic_kernels_set_the_flags_without_importing_the_compiler():
    out = _python(
        """
        import sys, torch
        from tinyml_tinyverse.references.common.train_base import seed_everything
        seed_everything(1)
        print(torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
              "torch._inductor" in sys.modules, "torch._dynamo" in sys.modules)
        """
    )
    assert out.split() == ["True", "True", "False", "False"]


TRAIN = """
import torch
from tinyml_tinyverse.common.datasets import prepare_dataset
from tinyml_tinyverse.common.datasets.generators import generate_motor_fault
from tinyml_tinyverse.references.common import train_base
from tinyml_tinyverse.references.timeseries_classification import train
if {public}:  # what seed_everything called before: the public API, which imports the compiler
    train_base.use_deterministic_kernels = lambda warn_only: torch.use_deterministic_algorithms(True, warn_only=warn_only)
root = {root!r}
prepare_dataset(generate_motor_fault(root + "/raw", files_per_class=4, length=1200), root + "/ds", "classification",
                data_config={{"frame_size": 64, "variables": 3}}, plots=False)
open(root + "/cfg.yaml", "w").write("frame_size: 64\\nvariables: 3\\n")
args = train.get_args_parser().parse_args(["--dataset-dir", root + "/ds", "--data-config", root + "/cfg.yaml",
    "--output-dir", root + "/out", "--model", "CLS_1k_NPU", "--epochs", "3", "--no-progress", "--device", "cpu"])
train.main(args)
"""


def test_trained_weights_are_bit_identical_to_the_public_call(tmp_path):
    runs = {}
    for public in (False, True):
        root = tmp_path / ("public" if public else "eager_flag")
        _python(TRAIN.format(public=public, root=str(root)))
        state = torch.load(root / "out" / "best_model.pt", weights_only=True, map_location="cpu")
        log = yaml.safe_load((root / "out" / "summary.yaml").read_text())
        runs[public] = (state, log)
    (ours, ours_log), (public, public_log) = runs[False], runs[True]
    weights = {k: v for k, v in ours["model"].items()} if "model" in ours else ours
    reference = {k: v for k, v in public["model"].items()} if "model" in public else public
    assert weights.keys() == reference.keys()
    for name, value in weights.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, reference[name]), name
    assert ours_log["val"] == public_log["val"] and ours_log["test"] == public_log["test"]
