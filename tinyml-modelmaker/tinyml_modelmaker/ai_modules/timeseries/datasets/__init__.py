"""The dataset stage: generate example data when asked, then check, split and summarise the data.

``dataset.input_data_path`` is a folder, a .zip or a file in the documented layouts, or
``generated://<name>``: the tinyverse generator ``<name>`` writes an example dataset into
``<projects_path>/<dataset_name>/generated/`` the first time (a later run reuses it).
The stage calls ``tinyml_tinyverse.common.datasets.prepare_dataset`` into the run's ``dataset/``
and records where the prepared data is in ``dataset/dataset_info.yaml`` for the later stages.
"""

from __future__ import annotations

import dataclasses
import importlib
import shutil
from pathlib import Path
from typing import Any

from tinyml_tinyverse.common.errors import ConfigError

from ....config import dump_yaml, plain
from ....run_folder import RunPaths, project_dir
from ..constants import task_of
from ..params import DATA_SECTION, GENERATED_SCHEME

GENERATED_MARKER = ".generated_complete"


def generated_data_dir(config: dict) -> Path:
    """Where ``generated://<name>`` data lives: ``<projects_path>/<dataset_name>/generated``."""
    return project_dir(config) / "generated"


def generate_if_needed(config: dict) -> Path:
    """The data path to read: the user's, or the generated dataset (written now if missing)."""
    path = config["dataset"]["input_data_path"]
    if not path.startswith(GENERATED_SCHEME):
        return Path(path)
    name = path[len(GENERATED_SCHEME) :]
    out_dir = generated_data_dir(config)
    if (out_dir / GENERATED_MARKER).is_file():
        print(f"dataset: reusing generated {name} data in {out_dir}")
        return out_dir
    generators = importlib.import_module("tinyml_tinyverse.common.datasets.generators")
    function = getattr(generators, f"generate_{name}", None)
    if function is None:
        raise ConfigError(f"dataset.input_data_path {path!r}: tinyverse has no generator generate_{name}")
    if out_dir.exists():  # a generation that was interrupted: start again
        shutil.rmtree(out_dir)
    print(f"dataset: generating {name} data into {out_dir}")
    kwargs = dict(config["dataset"]["generator_config"] or {})
    try:
        function(out_dir, **kwargs)
    except TypeError as exc:
        raise ConfigError(
            f"dataset.generator_config {kwargs}: not accepted by generate_{name}: {exc}"
        ) from None
    (out_dir / GENERATED_MARKER).write_text("complete\n")
    return out_dir


def info_to_dict(info: Any, output_dir: Path) -> dict:
    """A plain dict of a ``DatasetInfo`` with at least ``dataset_dir`` (absolute)."""
    if dataclasses.is_dataclass(info):
        data = dataclasses.asdict(info)
    elif hasattr(info, "to_dict"):
        data = info.to_dict()
    elif isinstance(info, dict):
        data = dict(info)
    else:
        data = {k: v for k, v in vars(info).items() if not k.startswith("_")}
    data = plain(data)
    data["dataset_dir"] = str(Path(data.get("dataset_dir") or output_dir).resolve())
    return data


def run(config: dict, paths: RunPaths) -> dict:
    """Prepare the dataset into ``paths.dataset``; returns (and writes) the dataset info."""
    from tinyml_tinyverse.common.datasets import prepare_dataset

    ds = config["dataset"]
    data_path = generate_if_needed(config)
    paths.dataset.mkdir(parents=True, exist_ok=True)
    info = prepare_dataset(
        str(data_path),
        str(paths.dataset),
        task_of(config["common"]["task_type"]),
        split_type=ds["split_type"],
        split_factor=list(ds["split_factor"]),
        seed=ds["seed"],
        data_config=config[DATA_SECTION],
    )
    data = info_to_dict(info, paths.dataset)
    data["input_data_path"] = str(data_path)
    dump_yaml(data, paths.dataset_info)
    return data


def use_prepared(config: dict, paths: RunPaths) -> dict:
    """``dataset.enable: false``: the dataset an earlier run left here, or an already prepared folder."""
    import yaml

    if paths.dataset_info.is_file():
        return yaml.safe_load(paths.dataset_info.read_text()) or {}
    path = config["dataset"]["input_data_path"]
    if (
        path
        and not path.startswith(GENERATED_SCHEME)
        and Path(path).is_dir()
        and (Path(path) / "annotations").is_dir()
    ):
        data = {"dataset_dir": str(Path(path).resolve()), "input_data_path": path, "prepared_elsewhere": True}
        paths.dataset.mkdir(parents=True, exist_ok=True)
        dump_yaml(data, paths.dataset_info)
        return data
    raise ConfigError(
        f"dataset.enable is false but {paths.dataset_info} does not exist and dataset.input_data_path is not a "
        f"prepared dataset (a folder with annotations/); set dataset.enable: true, or resume a run whose dataset "
        f"stage finished (--resume --run-name NAME)"
    )
