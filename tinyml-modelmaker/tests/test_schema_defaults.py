"""The YAML schema and the reference training script agree: same defaults, same allowed values.

The training stage turns the resolved config into ``train.py`` arguments (``reference_call.train_argv``).
Parsed, the arguments of the schema defaults must equal the script's own defaults, and every allowed
value of a key must be a value the script accepts (and the reverse), so that a default or a choice
changed on one side only fails here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from tinyml_modelmaker.ai_modules.timeseries import constants as C
from tinyml_modelmaker.ai_modules.timeseries.params import SCHEMA
from tinyml_modelmaker.ai_modules.timeseries.training.tinyml_tinyverse.reference_call import train_argv
from tinyml_modelmaker.config import defaults_of
from tinyml_modelmaker.run_folder import RunPaths
from tinyml_tinyverse.common.quantization.observers import OBSERVER_REGISTRY
from tinyml_tinyverse.references.common.optim import OPTIMIZER_REGISTRY, SCHEDULER_REGISTRY
from tinyml_tinyverse.references.timeseries_classification import train

# arguments the stage sets from the run itself, not from a training key of the YAML
RUN_ARGUMENTS = {"dataset_dir", "data_config", "output_dir", "quantization_output_dir", "cache_dir", "model"}
# training keys whose YAML default deliberately differs from the script's, and why
DIFFERENT_ON_PURPOSE = {
    "num_gpus": "YAML 1: one process on a GPU when torch sees one; the script's None: the same, from --device",
    "quantization": "YAML null: chosen by the target device (2 on NPU targets, else 1); the script: 0 (float)",
}
REQUIRED = ["--dataset-dir", "D", "--output-dir", "O", "--model", "CLS_4k"]


def _default_config() -> dict:
    config = defaults_of(SCHEMA)
    config["training"]["model_name"] = "CLS_4k"
    config["training"]["quantization"] = 0  # null is resolved by the device before the stage runs
    return config


def _parse(config: dict, tmp_path: Path) -> tuple[argparse.Namespace, set[str]]:
    """The script's parse of the stage's arguments for ``config``, and the destinations they set."""
    parser = train.get_args_parser()
    argv = train_argv(config, RunPaths(tmp_path / "run"), tmp_path / "dataset", cuda=False, progress=True)
    flags = {a.option_strings[0]: a.dest for a in parser._actions if a.option_strings}
    dests = {flags[token] for token in argv if token in flags}
    return parser.parse_args(argv), dests


def _action(dest: str) -> argparse.Action:
    return next(a for a in train.get_args_parser()._actions if a.dest == dest)


def test_schema_defaults_equal_the_script_defaults(tmp_path):
    parsed, dests = _parse(_default_config(), tmp_path)
    script = train.get_args_parser().parse_args(REQUIRED)
    compared = sorted(dests - RUN_ARGUMENTS - set(DIFFERENT_ON_PURPOSE) - {"device", "no_progress"})
    assert len(compared) >= 15, compared  # every training key the stage passes
    differ = {
        d: (getattr(parsed, d), getattr(script, d))
        for d in compared
        if getattr(parsed, d) != getattr(script, d)
    }
    assert not differ, f"YAML default != train.py default (YAML, script): {differ}"


def test_a_drifted_default_is_caught(tmp_path):
    """The comparison above can fail: a schema default moved by hand shows up."""
    config = _default_config()
    config["training"]["weight_decay"] = 0.5
    parsed, _ = _parse(config, tmp_path)
    assert parsed.weight_decay != train.get_args_parser().parse_args(REQUIRED).weight_decay


@pytest.mark.parametrize("key", [k for k, p in SCHEMA["training"].items() if p.choices is not None])
def test_schema_choices_equal_the_script_choices(tmp_path, key):
    """Each allowed YAML value reaches the script as a value it accepts, and the script accepts no other."""
    seen = set()
    for choice in SCHEMA["training"][key].choices:
        config = _default_config()
        config["training"][key] = choice
        parsed, dests = _parse(config, tmp_path)  # argparse exits on a value it does not accept
        assert key in dests, f"training.{key} does not reach train.py as --{key.replace('_', '-')}"
        seen.add(getattr(parsed, key))
    registries = {"optimizer": OPTIMIZER_REGISTRY, "lr_scheduler": SCHEDULER_REGISTRY}  # no argparse choices
    allowed = _action(key).choices or registries.get(key)
    assert allowed is not None, f"training.{key}: the script names no choices for --{key.replace('_', '-')}"
    assert seen == set(allowed), (
        f"training.{key}: the YAML gives {sorted(map(str, seen))}, train.py takes {sorted(map(str, allowed))}"
    )


def test_names_copied_from_registries():
    """Names the schema offers are the registries' names."""
    assert set(C.OPTIMIZERS) == set(OPTIMIZER_REGISTRY)
    assert set(C.LR_SCHEDULERS) == set(SCHEDULER_REGISTRY)
    assert list(C.CALIBRATION_OBSERVERS) == list(OBSERVER_REGISTRY)
