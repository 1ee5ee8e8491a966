"""The run folder ``<projects_path>/<dataset_name>/run/<run_name>/`` and its fixed layout.

An existing run folder is never silently reused: a new run needs a new ``run_name``; ``--resume``
continues an existing one (the latest matching folder when ``run_name`` holds ``{date-time}``).
Torch-free.
"""

from __future__ import annotations

import datetime as _dt
import glob
import os
from dataclasses import dataclass
from pathlib import Path

from tinyml_tinyverse.common.errors import ConfigError

DATE_TIME_FORMAT = "%Y%m%d-%H%M%S"


@dataclass(frozen=True)
class RunPaths:
    """Where each stage of one run reads and writes."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config_resolved.yaml"

    @property
    def summary(self) -> Path:
        return self.root / "run_summary.yaml"

    @property
    def dataset(self) -> Path:
        return self.root / "dataset"

    @property
    def dataset_info(self) -> Path:
        return self.dataset / "dataset_info.yaml"

    @property
    def data_config(self) -> Path:
        return self.root / "data_config.yaml"

    @property
    def training_base(self) -> Path:
        return self.root / "training" / "base"

    @property
    def training_quantization(self) -> Path:
        return self.root / "training" / "quantization"

    @property
    def testing(self) -> Path:
        return self.root / "testing"

    @property
    def compilation(self) -> Path:
        return self.root / "compilation"


def run_model_name(config: dict) -> str:
    """The name that fills ``{model_name}``: the training model, else the compiled ONNX file's stem."""
    name = config["training"].get("model_name")
    if name:
        return name
    model_path = config.get("compilation", {}).get("model_path")
    return Path(model_path).stem if model_path else "model"


def expand_run_name(template: str, model_name: str, now: _dt.datetime | None = None) -> str:
    """Fill ``{date-time}`` and ``{model_name}`` of a run_name template."""
    now = now or _dt.datetime.now()
    return template.replace("{date-time}", now.strftime(DATE_TIME_FORMAT)).replace("{model_name}", model_name)


def project_dir(config: dict) -> Path:
    """``<projects_path>/<dataset_name>``."""
    return Path(config["common"]["projects_path"]) / config["dataset"]["dataset_name"]


def open_run_folder(config: dict, *, resume: bool = False, now: _dt.datetime | None = None) -> RunPaths:
    """Create the run folder of a new run, or find the one to resume; never reuse one silently."""
    runs = project_dir(config) / "run"
    template = config["common"]["run_name"]
    model_name = run_model_name(config)
    if resume:
        if "{date-time}" in template:
            filled = glob.escape(template.replace("{model_name}", model_name)).replace("{date-time}", "*")
            pattern = os.path.join(glob.escape(str(runs)), filled)
            found = sorted(p for p in glob.glob(pattern) if os.path.isdir(p))
            if not found:
                raise ConfigError(
                    f"--resume: no run folder matches {pattern!r}; start a new run without --resume "
                    f"or name the run to resume with --run-name"
                )
            return RunPaths(Path(found[-1]))
        root = runs / expand_run_name(template, model_name, now)
        if not root.is_dir():
            raise ConfigError(f"--resume: run folder {str(root)!r} does not exist; start it without --resume")
        return RunPaths(root)
    root = runs / expand_run_name(template, model_name, now)
    if root.exists():
        raise ConfigError(
            f"run folder {str(root)!r} already exists and is never overwritten; pass a new run_name "
            f"(--run-name NAME or common.run_name) or continue it with --resume"
        )
    root.mkdir(parents=True)
    return RunPaths(root)
