"""The dataset stage: generate example data when asked, then check, split and summarise the data.

``dataset.input_data_path`` is a folder, a .zip or a file in the documented layouts, or
``generated://<name>``: the tinyverse generator ``<name>`` writes an example dataset into
``<projects_path>/<dataset_name>/generated/`` the first time (a later run reuses it; a
``dataset.generator_config`` gets its own ``generated_<hash>/``).
The stage calls ``tinyml_tinyverse.common.datasets.prepare_dataset`` into the run's ``dataset/``
(which writes ``dataset/dataset_info.yaml``, the later stages' entry point). Its plots are drawn by
:func:`draw_plots` once the run's last stage has finished (or failed), so they do not delay training.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
from pathlib import Path

from tinyml_tinyverse.common import run_files
from tinyml_tinyverse.common.errors import ConfigError
from tinyml_tinyverse.common.registry import unknown_name_message

from tinyml_modelmaker.run_folder import RunPaths, project_dir

from ...registry import config_data_modality, config_task
from ..params import DATA_SECTION, GENERATED_SCHEME

GENERATED_MARKER = ".generated_complete"  # generators.COMPLETE_MARKER, read without importing numpy
INFO_FILE = run_files.DATASET_INFO  # written by prepare_dataset into its output folder


def generated_data_dir(config: dict) -> Path:
    """Where ``generated://<name>`` data lives: ``<projects_path>/<dataset_name>/generated``.

    A non-empty ``dataset.generator_config`` gets its own folder ``generated_<hash>`` so data made
    with other settings (which earlier runs may point at) is never replaced.
    """
    kwargs = config["dataset"]["generator_config"] or {}
    if not kwargs:
        return project_dir(config) / "generated"
    digest = hashlib.sha1(json.dumps(kwargs, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return project_dir(config) / f"generated_{digest}"


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
    known = getattr(generators, "GENERATORS", {})
    if name not in known:
        raise ConfigError(
            unknown_name_message("generator", name, known, "dataset.input_data_path") + f" ({path!r})"
        )
    print(f"dataset: generating {name} data into {out_dir}")
    kwargs = dict(config["dataset"]["generator_config"] or {})
    try:  # safe when two runs generate the same data at once
        return generators.generate_dataset(name, out_dir, **kwargs)
    except TypeError as exc:
        raise ConfigError(
            f"dataset.generator_config {kwargs}: not accepted by generate_{name}: {exc}"
        ) from None


def prepared_dir(config: dict, paths: RunPaths) -> Path:
    """The prepared dataset of this run (``dataset/``), or ``input_data_path`` when it is already prepared.

    Used when ``dataset.enable`` is false or an earlier run did the dataset stage.
    """
    if (paths.dataset / INFO_FILE).is_file():
        return paths.dataset
    path = config["dataset"]["input_data_path"]
    if path and not path.startswith(GENERATED_SCHEME):
        if (Path(path) / INFO_FILE).is_file():
            return Path(path)
        if (Path(path) / "dataset" / INFO_FILE).is_file():  # an earlier run folder: its dataset/
            return Path(path) / "dataset"
    raise ConfigError(
        f"no prepared dataset: {paths.dataset / INFO_FILE} does not exist and dataset.input_data_path "
        f"({path!r}) is not a folder prepared by the dataset stage (a run's dataset/ folder, holding "
        f"{INFO_FILE}); set dataset.enable: true, point dataset.input_data_path at an earlier run's dataset/ "
        f"folder, or resume a run whose dataset stage finished (--resume --run-name NAME)"
    )


def resolve_data_keys(config: dict, dataset_dir: Path) -> dict:
    """Fill the data keys left to the data (null frame_size, empty feat_ext_transform) from the prepared
    dataset: what its dataset stage inferred (tinyverse ``data_derived``), else the defaults. Returns
    the inferred keys."""
    from tinyml_tinyverse.common.datasets import DATA_CONFIG_DEFAULTS, read_dataset_info
    from tinyml_tinyverse.common.datasets.data_derived import with_inferred

    section = config[DATA_SECTION]
    if config_data_modality(config) != "timeseries":  # images and sound: every key is known from the config
        return {}
    auto = {k for k in ("frame_size", "feat_ext_transform") if not section.get(k)}
    if not auto:
        return {}
    inferred = read_dataset_info(dataset_dir).inferred
    section.update(with_inferred(section, inferred))
    if section.get("frame_size") is None:
        section["frame_size"] = DATA_CONFIG_DEFAULTS["frame_size"]
    return {k: v for k, v in inferred.items() if k in auto}


def run(config: dict, paths: RunPaths) -> dict:
    """Prepare the dataset into ``paths.dataset`` with the config's data modality (time series, images,
    sound); returns what the run summary shows of it."""
    from tinyml_tinyverse.common.datasets import InputLimits, get_data_modality

    ds = config["dataset"]
    data_path = generate_if_needed(config)
    paths.dataset.mkdir(parents=True, exist_ok=True)
    info = get_data_modality(config_data_modality(config)).prepare_dataset(
        str(data_path),
        str(paths.dataset),
        config_task(config),
        split_type=ds["split_type"],
        split_factor=list(ds["split_factor"]),
        seed=ds["seed"],
        config=config[DATA_SECTION],
        limits=InputLimits(**{f.name: ds[f.name] for f in dataclasses.fields(InputLimits) if f.name in ds}),
        plots="later",  # drawn by draw_plots after the run's last stage, off the way to the first epoch
    )
    counts = "/".join(str(len(info.splits.get(s, []))) for s in ("train", "val", "test"))
    classes = f"{len(info.class_names)} classes ({', '.join(info.class_names)}), " if info.class_names else ""
    n_vars = int(info.num_variables)
    targets = f", target {', '.join(info.target_columns)}" if info.target_columns else ""
    columns = f" ({', '.join(info.input_columns)})" if info.input_columns else ""
    print(
        f"dataset: {classes}train/val/test {counts} files, {n_vars} input variable{'s' if n_vars != 1 else ''}"
        f"{columns}{targets}; summary in {paths.dataset} (plots there at the end of the run)"
    )
    return {
        "dataset_dir": str(paths.dataset),
        "input_data_path": str(data_path),
        "class_names": list(info.class_names),
        "num_variables": int(info.num_variables),
        "input_columns": list(info.input_columns),
        "files_per_split": {split: len(files) for split, files in info.splits.items()},
        **({"inferred": dict(info.inferred)} if info.inferred else {}),
    }


def draw_plots(paths: RunPaths) -> None:
    """Draw the dataset plots the dataset stage left pending (see ``prepare_dataset(plots="later")``)."""
    from tinyml_tinyverse.common.datasets.report import draw_pending_plots

    if draw_pending_plots(paths.dataset):
        print(f"dataset: plots drawn into {paths.dataset}")
