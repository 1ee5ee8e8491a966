"""The winner's training continues its search trial's float training when the two are the same training.

The search's last trial of the winner trained it to the end (all its epochs, or until early stopping)
with the run's recipe, seed and data, scored on val. The training stage would repeat exactly that
before what only it does (the refit on train + val, the augmentation probe, the quantization at the
winner's bit width, the test split, the plots). When the trial's ``train.py`` arguments and the
stage's agree on everything the float training depends on, the stage starts from the trial's
checkpoint (``--resume``, which continues a training exactly as if it had not stopped) instead of
training those epochs again. Anything else (another epoch count, batch size, learning rate, data
config, more than one GPU...) trains from the start as before.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import yaml
from tinyml_tinyverse.common import run_files

from tinyml_modelmaker.run_folder import RunPaths

COPIED = (run_files.CHECKPOINT, run_files.BEST_MODEL, run_files.TRAINING_LOG)
# what only comes after the float training, or only says where files go: may differ
AFTER_OR_WHERE = {
    "output_dir", "test_output_dir", "quantization_output_dir", "data_config", "cache_dir", "skip_test",
    "no_progress", "resume", "stop_after_epoch", "refit", "choose_augmentation", "quantization",
    "quantization_method", "quantization_weight_bitwidth", "quantization_accuracy_budget", "qat_epochs",
    "calibration_observer", "opset",
}  # fmt: skip


def continue_from_trial(config: dict, paths: RunPaths, dataset_dir: Path, task: str, *, cuda: bool) -> dict:
    """The config the training stage trains with: ``config``, or, when the search's trial of the winner is
    the same float training, a copy that resumes from it (its checkpoint, best model and log copied into
    ``training/base``; ``training.resume`` on, the epochs explicit)."""
    from tinyml_modelmaker.ai_modules.timeseries.training.tinyml_tinyverse.reference_call import train_argv

    from .stage import read_winner, search_dir
    from .trial import TRAIN_ARGS_FILE, group_dir, preset_key

    winner = read_winner(paths)
    if not config["search"]["enable"] or winner is None or config["training"]["resume"]:
        return config
    if (paths.training_base / run_files.CHECKPOINT).is_file():  # the stage's own training, being resumed
        return config
    trial = search_dir(paths) / "trials" / group_dir(f"{winner['model']}|{preset_key(winner.get('preset'))}")
    base = RunPaths(trial).training_base
    if not (trial / TRAIN_ARGS_FILE).is_file() or not all(
        (base / f).is_file() for f in (*COPIED, run_files.SUMMARY)
    ):
        return config
    ours = copy.deepcopy(config)
    ours["training"]["training_epochs"] = _epochs(config, paths, task, dataset_dir)
    ours["training"]["resume"] = True
    theirs = json.loads((trial / TRAIN_ARGS_FILE).read_text())
    if not _same_float_training(task, train_argv(ours, paths, dataset_dir, cuda=cuda), theirs):
        return config
    paths.training_base.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        shutil.copyfile(base / name, paths.training_base / name)
    epochs = yaml.safe_load((base / run_files.SUMMARY).read_text()).get("epochs_run")
    print(f"training: {winner['model']} continues from search trial {winner.get('trial')} ({trial}): the same float "
          f"training ({epochs} epochs there); the rest of the recipe runs here", flush=True)  # fmt: skip
    return ours


def _epochs(config: dict, paths: RunPaths, task: str, dataset_dir: Path) -> int:
    """The epochs the stage trains: ``training.training_epochs``, else what ``train.py`` picks for this data
    (the search's trials compute it the same way)."""
    from .stage import trial_epochs

    plain = copy.deepcopy(config)
    plain["search"]["trial_epochs"] = None
    return trial_epochs(plain, task, Path(dataset_dir), {None: yaml.safe_load(paths.data_config.read_text())})


def _same_float_training(task: str, ours: list[str], theirs: list[str]) -> bool:
    """Whether two ``train.py`` argument lists train the same float model: every argument equal but where
    files go and what comes after the float training, and the same data config."""
    import importlib

    from tinyml_modelmaker.ai_modules.timeseries.constants import REFERENCE_PACKAGES

    parser = importlib.import_module(f"{REFERENCE_PACKAGES[task]}.train").get_args_parser()
    a, b = vars(parser.parse_args(ours)), vars(parser.parse_args(theirs))
    if {k: v for k, v in a.items() if k not in AFTER_OR_WHERE} != {
        k: v for k, v in b.items() if k not in AFTER_OR_WHERE
    }:
        return False
    configs = [
        yaml.safe_load(Path(args["data_config"]).read_text()) if args["data_config"] else None
        for args in (a, b)
    ]
    return configs[0] == configs[1]
