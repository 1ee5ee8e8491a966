"""The run folder ``<projects_path>/<dataset_name>/run/<run_name>/`` and its fixed layout.

An existing run folder is never silently reused: a new run needs a new ``run_name``; ``--resume``
continues an existing one (the latest matching folder when ``run_name`` holds ``{date-time}``).
Torch-free.
"""

from __future__ import annotations

import datetime as _dt
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from tinyml_tinyverse.common import run_files
from tinyml_tinyverse.common.errors import ConfigError

DATE_TIME_FORMAT = "%Y%m%d-%H%M%S"
CONFIG_NAME = run_files.CONFIG_RESOLVED


@dataclass(frozen=True)
class RunPaths:
    """Where each stage of one run reads and writes."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def summary(self) -> Path:
        return self.root / run_files.RUN_SUMMARY

    @property
    def dataset(self) -> Path:
        return self.root / "dataset"

    @property
    def dataset_info(self) -> Path:
        return self.dataset / run_files.DATASET_INFO

    @property
    def data_config(self) -> Path:
        return self.root / run_files.DATA_CONFIG

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


def _date_time_runs(runs: Path, template: str, model_name: str) -> list[Path]:
    """The run folders a ``{date-time}`` template has made, oldest first (named runs do not match)."""
    filled = template.replace("{model_name}", model_name)
    parts = [re.escape(part) for part in filled.split("{date-time}")]
    pattern = re.compile(r"\d{8}-\d{6}".join(parts))
    depth = len(Path(filled).parts)
    found = [
        p
        for p in runs.glob("/".join(["*"] * depth))
        if p.is_dir() and pattern.fullmatch(p.relative_to(runs).as_posix())
    ]
    return sorted(found, key=lambda p: p.relative_to(runs).as_posix())


def _run_names(runs: Path, max_depth: int = 4) -> list[str]:
    """The names of the run folders under ``runs`` (those holding a config_resolved.yaml)."""
    found = []
    for depth in range(1, max_depth + 1):
        found += [p.parent for p in runs.glob("*/" * depth + CONFIG_NAME)]
    return sorted(p.relative_to(runs).as_posix() for p in found)


def _existing_runs(runs: Path, limit: int = 8) -> str:
    """``'a', 'b'`` (the latest ``limit`` runs under ``runs``), or ``none yet``."""
    names = _run_names(runs)
    if not names:
        return "none yet"
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(repr(n) for n in names[-limit:]) + more


def _create(root: Path) -> bool:
    """Make ``root`` (and its parents); False if it exists already. A folder that cannot be written is
    a ConfigError naming common.projects_path."""
    try:
        root.mkdir(parents=True)
    except FileExistsError:
        return False
    except OSError as exc:
        raise ConfigError(
            f"cannot create the run folder {str(root)!r}: {exc.strerror or exc}; set common.projects_path "
            f"to a folder you can write to"
        ) from None
    return True


def open_run_folder(config: dict, *, resume: bool = False, now: _dt.datetime | None = None) -> RunPaths:
    """Create the run folder of a new run, or find the one to resume; never reuse one silently."""
    runs = project_dir(config) / "run"
    template = config["common"]["run_name"]
    model_name = run_model_name(config)
    if resume:
        if "{date-time}" in template:
            found = _date_time_runs(runs, template, model_name)
            if not found:
                shown = str(runs / template.replace("{model_name}", model_name))
                raise ConfigError(
                    f"--resume: no run folder matches {shown!r} (runs there: {_existing_runs(runs)}); start a "
                    f"new run without --resume or name the run to resume with --run-name"
                )
            return RunPaths(found[-1])
        root = runs / expand_run_name(template, model_name, now)
        if not root.is_dir():
            raise ConfigError(
                f"--resume: run folder {str(root)!r} does not exist (runs there: {_existing_runs(runs)}); "
                f"pass the name of one with --run-name, or start a new run without --resume"
            )
        return RunPaths(root)
    now = now or _dt.datetime.now()
    root = runs / expand_run_name(template, model_name, now)
    for parent in root.relative_to(runs).parents:
        if parent != Path(".") and (runs / parent / CONFIG_NAME).is_file():
            raise ConfigError(
                f"run_name {root.relative_to(runs).as_posix()!r} would put a new run inside the run folder "
                f"{str(runs / parent)!r}; choose a run_name that is not below another run's folder"
            )
    if "{date-time}" in template:
        # two runs started within the same second: the later one takes the next free second
        for _ in range(60):
            if _create(root):
                return RunPaths(root)
            now += _dt.timedelta(seconds=1)
            root = runs / expand_run_name(template, model_name, now)
    elif _create(root):
        return RunPaths(root)
    raise ConfigError(
        f"run folder {str(root)!r} already exists and is never overwritten; pass a new run_name "
        f"(--run-name NAME or common.run_name) or continue it with --resume --run-name {shlex.quote(root.relative_to(runs).as_posix())}"
    )
