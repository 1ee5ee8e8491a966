"""The training stage: the resolved config -> a call of the tinyverse reference scripts of the task
(``tinyml_tinyverse.references.timeseries_<task>``: ``train`` and ``test_onnx``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tinyml_modelmaker.run_folder import RunPaths

from .tinyml_tinyverse import reference_call


@dataclass(frozen=True)
class TaskTrainer:
    """Trains and tests the models of one task through its reference scripts."""

    task: str

    def train(self, config: dict, paths: RunPaths, dataset_dir: Path, *, cuda: bool) -> dict:
        """Train (and quantize) with the task's ``train``; returns its summary."""
        argv = reference_call.train_argv(config, paths, dataset_dir, cuda=cuda)
        return reference_call.run_training(self.task, argv, config, paths)

    def test(
        self,
        config: dict,
        paths: RunPaths,
        dataset_dir: Path,
        model_path: Path,
        output_dir: Path,
        reference_model: Path | None = None,
    ) -> dict:
        """Test an ONNX model on the test split with the task's ``test_onnx``; returns its metrics."""
        return reference_call.run_test_onnx(
            self.task, config, paths, dataset_dir, model_path, output_dir, reference_model
        )


def get_trainer(task: str) -> TaskTrainer:
    """The trainer of a tinyverse task (``classification``, ``regression``, ...)."""
    return TaskTrainer(task)
