"""Defaults and schema of every section of a time-series project YAML, plus cross-key checks.

Torch-free. ``SCHEMA[section][key]`` is a :class:`~tinyml_modelmaker.config.Param`; the human text
of each key is in ``descriptions.py``. The ``data_processing_feature_extraction`` section is the
tinyverse ``data_config``: its defaults and checks come from
``tinyml_tinyverse.common.datasets`` (``DATA_CONFIG_DEFAULTS`` / ``validate_data_config``).
"""

from __future__ import annotations

import os
import re
from typing import Any

from tinyml_tinyverse.common.compilation.devices import get_device
from tinyml_tinyverse.common.errors import ConfigError
from tinyml_tinyverse.common.input_limits import InputLimits
from tinyml_tinyverse.common.registry import unknown_name_message

from ...config import Param, check_required
from . import constants as C

DATA_SECTION = "data_processing_feature_extraction"
GENERATED_SCHEME = "generated://"
RUN_NAME_PLACEHOLDERS = ("{date-time}", "{model_name}")
AUTO_MODEL = "auto"  # training.model_name: auto searches the zoo (tinyml_modelmaker.search)


def _check_run_name(value: str) -> str | None:
    rest = value
    for ph in RUN_NAME_PLACEHOLDERS:
        rest = rest.replace(ph, "")
    if "{" in rest or "}" in rest:
        return f"only the placeholders {', '.join(RUN_NAME_PLACEHOLDERS)} are known"
    parts = value.replace("\\", "/").split("/")
    if value.startswith("/") or ".." in parts or not value.strip("/"):
        return "must be a relative folder name without '..'"
    if re.search(r"[^A-Za-z0-9_.\-/{}]", value):
        return "use letters, digits, '_', '-', '.', '/' and the placeholders only"
    return None


def _check_split_factor(value: list) -> str | None:
    if len(value) != 3 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return "must be three numbers [train, val, test], e.g. [0.6, 0.2, 0.2]"
    if any(v < 0 or v > 1 for v in value) or value[0] <= 0:
        return "each fraction must be in [0, 1] and the train fraction above 0"
    if abs(sum(value) - 1.0) > 1e-6:
        return f"the fractions sum to {sum(value):g}, they must sum to 1, e.g. [0.6, 0.2, 0.2]"
    return None


def _check_str_list(value: list) -> str | None:
    if not value or not all(isinstance(v, str) and v for v in value):
        return "give a list of names, e.g. [CLS_*_NPU]"
    return None


def _check_bitwidths(value: list) -> str | None:
    if not value or any(v not in C.WEIGHT_BITWIDTHS or isinstance(v, bool) for v in value):
        return f"give a list of weight bit widths from {list(C.WEIGHT_BITWIDTHS)}, e.g. [8, 4]"
    return None


def _check_storage(value: str) -> str | None:
    if not value.strip() or ("://" not in value and not value.startswith("journal:")):
        return "give an Optuna storage URL (sqlite:///path/study.db, postgresql://...) or journal:PATH"
    return None


def _check_model_config(value: Any) -> str | None:
    if isinstance(value, str) and not value.strip():
        return "give the path of a model_config YAML or a mapping of the model's arguments"
    return None


def _check_model_module(value: Any) -> str | None:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, str) and v.strip() for v in items):
        return "give a .py file (relative to the YAML's folder), a package folder or a module name, or a list of them"
    return None


SCHEMA: dict[str, dict[str, Param]] = {
    "common": {
        "target_module": Param(C.TARGET_MODULE, (str,)),
        "task_type": Param(None, (str,), choices=tuple(C.TASK_TYPES), required=True),
        "target_device": Param("F28P55", (str,), choices=tuple(C.target_devices())),
        "run_name": Param("{date-time}/{model_name}", (str,), check=_check_run_name),
        "projects_path": Param("./data/projects", (str,)),
    },
    "dataset": {
        "enable": Param(True, (bool,)),
        "dataset_name": Param(None, (str,), nullable=True),
        "input_data_path": Param(None, (str,), nullable=True),
        "generator_config": Param({}, (dict,)),
        "split_type": Param("amongst_files", (str,), choices=C.SPLIT_TYPES),
        "split_factor": Param([0.6, 0.2, 0.2], (list,), check=_check_split_factor),
        "seed": Param(42, (int,), minimum=0),
        "max_extract_mb": Param(InputLimits.max_extract_mb, (float,), minimum=1),
        "max_compression_ratio": Param(InputLimits.max_compression_ratio, (float,), minimum=1),
        "allow_outside_links": Param(InputLimits.allow_outside_links, (bool,)),
    },
    "training": {
        "enable": Param(True, (bool,)),
        "model_name": Param(None, (str,), nullable=True),
        "model_config": Param(None, (str, dict), nullable=True, check=_check_model_config),
        "model_module": Param(None, (str, list), nullable=True, check=_check_model_module),
        "batch_size": Param(None, (int,), minimum=1, nullable=True),
        "training_epochs": Param(None, (int,), minimum=1, maximum=100000, nullable=True),
        "min_steps": Param(1000, (int,), minimum=0),
        "learning_rate": Param(0.002, (float,), minimum=1e-12, maximum=10.0),
        "optimizer": Param("adamw", (str,), choices=C.OPTIMIZERS),
        "weight_decay": Param(0.01, (float,), minimum=0.0, maximum=1.0),
        "lr_scheduler": Param("cosine", (str,), choices=C.LR_SCHEDULERS),
        "warmup_epochs": Param(1.0, (float,), minimum=0),
        "early_stopping_patience": Param(10, (int,), minimum=0),
        "best_epoch_by": Param("loss", (str,), choices=C.BEST_EPOCH_BY),
        "min_epochs": Param(None, (int,), minimum=0, nullable=True),
        "ema_decay": Param(0.0, (float,), minimum=0.0, maximum=0.9999),
        "choose_augmentation": Param("auto", (str, bool), choices=C.CHOOSE_AUGMENTATION),
        "refit": Param("auto", (str, bool), choices=C.REFIT_MODES),
        "num_gpus": Param(1, (int,), minimum=0, maximum=64),
        "seed": Param(42, (int,), minimum=0),
        "resume": Param(False, (bool,)),
        "quantization": Param(None, (int,), choices=C.QUANTIZATION_MODES, nullable=True),
        "quantization_method": Param("QAT", (str,), choices=C.QUANTIZATION_METHODS),
        "quantization_weight_bitwidth": Param(8, (int, str), choices=(*C.WEIGHT_BITWIDTHS, C.AUTO_BITWIDTH)),
        "quantization_accuracy_budget": Param(None, (float,), minimum=0.0, nullable=True),
        "calibration_observer": Param("minmax", (str,), choices=C.CALIBRATION_OBSERVERS),
        "qat_epochs": Param(0, (int,), minimum=0),
    },
    "search": {
        "enable": Param(None, (bool,), nullable=True),
        "models": Param(None, (list,), nullable=True, check=_check_str_list),
        "feature_extraction_names": Param(None, (list,), nullable=True, check=_check_str_list),
        "weight_bitwidths": Param(None, (list,), nullable=True, check=_check_bitwidths),
        "max_flash_bytes": Param(None, (int,), minimum=1, nullable=True),
        "max_ram_bytes": Param(None, (int,), minimum=1, nullable=True),
        "max_latency_us": Param(None, (float,), minimum=0.0, nullable=True),
        "trial_epochs": Param(None, (int,), minimum=1, maximum=100000, nullable=True),
        "min_epochs": Param(2, (int,), minimum=1),
        "reduction_factor": Param(3, (int,), minimum=2, maximum=10),
        "pruner": Param("successive_halving", (str,), choices=C.SEARCH_PRUNERS),
        "workers": Param(1, (int,), minimum=1, maximum=64),
        "storage": Param(None, (str,), nullable=True, check=_check_storage),
        "study_name": Param(None, (str,), nullable=True),
    },
    "testing": {
        "enable": Param(True, (bool,)),
    },
    "compilation": {
        "enable": Param(True, (bool,)),
        "model_path": Param(None, (str,), nullable=True),
        "preset_name": Param("default_preset", (str,), choices=C.COMPILATION_PRESETS),
        "calibration_data": Param(None, (str,), nullable=True),
        "num_test_vectors_per_class": Param(2, (int,), minimum=1, maximum=64),
    },
}

# Sections whose keys are validated by tinyverse rather than by SCHEMA.
FREE_SECTIONS = (DATA_SECTION,)


def leave_to_the_data(raw: dict, validated: dict) -> None:
    """Keys the user left unset that the dataset stage decides (tinyverse ``data_derived``): null
    frame_size, empty feat_ext_transform, until the stage has seen the recordings."""
    from tinyml_tinyverse.common.datasets.data_derived import features_are_auto, frame_size_is_auto

    if frame_size_is_auto(raw):
        validated["frame_size"] = None
    if features_are_auto(raw):
        validated["feat_ext_transform"] = []


def validate_data_section(section: dict, source: str, modality: str = "timeseries") -> dict:
    """Validate the data section with the tinyverse data ``modality`` (defaults, preset, key and transform
    names); numpy, not torch."""
    from tinyml_tinyverse.common.datasets import get_data_modality

    try:
        return dict(get_data_modality(modality).validate_config(dict(section or {})))
    except ConfigError as exc:
        raise ConfigError(f"{_where(source)}{exc}") from None


def _where(source: str) -> str:
    return f"{source}: " if source else ""


def _check_path(source: str, key: str, path: str | None, what: str) -> None:
    if path is not None and not os.path.exists(path):
        beside_yaml = ""
        if source and not os.path.isabs(path):
            candidate = os.path.join(os.path.dirname(os.path.abspath(source)), path)
            if os.path.exists(candidate):
                beside_yaml = f"; did you mean {candidate!r}, next to the YAML file? Give that path"
        raise ConfigError(
            f"{_where(source)}{key}: {path!r} does not exist ({what}); fix the path "
            f"(relative paths start at the current folder {os.getcwd()}, not at the YAML's){beside_yaml}"
        )


def _validate_dataset(resolved: dict, source: str, generators: tuple[str, ...] = C.GENERATORS) -> None:
    """input_data_path present (or one of ``generators``) and dataset_name filled in."""
    dataset, model_path = resolved["dataset"], resolved["compilation"]["model_path"]
    path = dataset["input_data_path"]
    if dataset["enable"] and path is None:
        raise ConfigError(
            f"{_where(source)}dataset.input_data_path is required when dataset.enable is true: give a folder, "
            f"a .zip or a file, or {GENERATED_SCHEME}<name> with name in {', '.join(generators)}"
        )
    if path is not None and path.startswith(GENERATED_SCHEME):
        name = path[len(GENERATED_SCHEME) :]
        if name not in generators:
            raise ConfigError(
                _where(source)
                + unknown_name_message("generator", name, generators, "dataset.input_data_path")
            )
    elif dataset["enable"]:
        _check_path(source, "dataset.input_data_path", path, "the data folder, .zip or file")
    if dataset["dataset_name"] is None:
        if path is None and model_path is None:
            raise ConfigError(
                f"{_where(source)}dataset.dataset_name is required when dataset.input_data_path is not given"
            )
        if path is None:
            base = os.path.splitext(model_path)[0]
        else:
            base = path[len(GENERATED_SCHEME) :] if path.startswith(GENERATED_SCHEME) else path
        name = os.path.basename(os.path.abspath(base))  # "." or "./" names the folder itself
        if name == "classes":  # the classes/ folder itself was given: the project is its parent
            name = os.path.basename(os.path.dirname(os.path.abspath(base)))
        # a .zip or a single recording names the project without its extension
        stem, ext = os.path.splitext(name)
        is_file = ext.lower() == ".zip" or (path is not None and os.path.isfile(path))
        # a derived name only names a folder: spaces and other characters become '_'
        derived = re.sub(r"[^A-Za-z0-9_.\-]+", "_", stem if is_file and stem else name).strip("_")
        dataset["dataset_name"] = derived if derived not in ("", ".", "..") else "dataset"
    name = dataset["dataset_name"]
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name) or name in (".", ".."):
        raise ConfigError(
            f"{_where(source)}dataset.dataset_name {name!r}: use letters, digits, '_', '-' or '.' (it names a folder)"
        )
    if dataset["enable"] and path is not None and os.path.isdir(path):
        # checked before any run folder is made: nothing may be written into the user's data
        projects = resolved["common"]["projects_path"]
        project = os.path.realpath(os.path.join(projects, name))
        data = os.path.realpath(path)
        if os.path.commonpath([project, data]) == data:
            raise ConfigError(
                f"{_where(source)}common.projects_path {projects!r}: the run folders would go to {project}, inside "
                f"your data folder {path!r} (dataset.input_data_path), and nothing is written into the data you "
                f"bring; set common.projects_path to a folder outside it, e.g. {os.path.join(os.path.dirname(data), 'projects')}"
            )


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _resolve_model_modules(value: str | list | None, source: str) -> list[str] | None:
    """training.model_module as a list: files and folders made absolute (relative ones start at the YAML's
    folder), module names kept; a path that does not exist is an error."""
    if value is None:
        return None
    base = os.path.dirname(os.path.abspath(source)) if source else os.getcwd()
    out = []
    for item in value if isinstance(value, list) else [value]:
        path = os.path.join(base, os.path.expanduser(item))
        if item.endswith(".py") or "/" in item or "\\" in item or os.path.exists(path):
            if not os.path.exists(path):
                raise ConfigError(
                    f"{_where(source)}training.model_module: {item!r} does not exist (looked for {path}; relative "
                    f"paths start at the folder of the YAML); give a .py file, a package folder or a module name"
                )
            item = os.path.normpath(path)
        out.append(item)
    return out


def _validate_training(resolved: dict, source: str, constants=C) -> None:
    """Model name by the naming convention (``constants.MODEL_PREFIXES``), model_config path, automatic
    quantization, bit width."""
    common, training = resolved["common"], resolved["training"]
    task = constants.TASK_TYPES[common["task_type"]]
    prefixes = constants.MODEL_PREFIXES
    model_name = training["model_name"]
    if training["enable"] and model_name is None:
        raise ConfigError(f"{_where(source)}training.model_name is required when training.enable is true")
    if model_name is not None:
        # Naming convention first (torch-free): a name with another task's prefix is wrong for sure.
        # Other names (custom models) are checked against MODEL_REGISTRY by the runner.
        prefix = prefixes[task]
        other = [t for t, p in prefixes.items() if t != task and model_name.startswith(p)]
        if other:
            raise ConfigError(
                f"{_where(source)}training.model_name {model_name!r} is {_article(other[0])} {other[0]} model (prefix "
                f"{prefixes[other[0]]}), not {_article(task)} {task} model: models for {common['task_type']} are "
                f"named {prefix}* (e.g. {prefix}4k_NPU); list them with: tinyml-modelmaker --describe models"
            )
    training["model_module"] = _resolve_model_modules(training["model_module"], source)
    if isinstance(training["model_config"], str):
        _check_path(source, "training.model_config", training["model_config"], "a model_config YAML")
    if training["quantization"] is None:
        training["quantization"] = 2 if get_device(common["target_device"]).has_npu else 1
    if training["quantization_weight_bitwidth"] == C.AUTO_BITWIDTH and not training["enable"]:
        raise ConfigError(
            f"{_where(source)}training.quantization_weight_bitwidth: auto chooses each layer's width on the "
            f"validation split during training; with training.enable: false give 8, 4 or 2"
        )
    if training["quantization_weight_bitwidth"] != 8 and training["quantization"] != 2:
        raise ConfigError(
            f"{_where(source)}training.quantization_weight_bitwidth {training['quantization_weight_bitwidth']} "
            f"needs training.quantization: 2 (NPU style); with quantization {training['quantization']} use 8"
        )


def _validate_search(resolved: dict, source: str) -> None:
    """``training.model_name: auto`` and the search section agree; presets and bit widths are usable."""
    search, training = resolved["search"], resolved["training"]
    auto = training["model_name"] == AUTO_MODEL
    if search["enable"] is None:
        search["enable"] = auto
    if search["enable"] and not auto:
        raise ConfigError(
            f"{_where(source)}search.enable is true but training.model_name is {training['model_name']!r}; set "
            f"training.model_name: auto to search for the model, or search.enable: false to train this one"
        )
    if auto and not search["enable"]:
        raise ConfigError(
            f"{_where(source)}training.model_name: auto searches for the model, but search.enable is false; "
            f"name a model or drop search.enable"
        )
    if not search["enable"]:
        return
    if training["model_config"] is not None:
        raise ConfigError(
            f"{_where(source)}training.model_config overrides one model's arguments and cannot apply to every "
            f"candidate of a search (training.model_name: auto); drop it or name the model"
        )
    if training["quantization_weight_bitwidth"] == C.AUTO_BITWIDTH:
        raise ConfigError(
            f"{_where(source)}training.quantization_weight_bitwidth: auto is not searched; list the widths to try "
            f"in search.weight_bitwidths (e.g. [8, 4])"
        )
    bits = search["weight_bitwidths"] or []
    if any(b != 8 for b in bits) and training["quantization"] != 2:
        raise ConfigError(
            f"{_where(source)}search.weight_bitwidths {bits}: 4 and 2-bit weights need training.quantization: 2 "
            f"(NPU style); with quantization {training['quantization']} search [8] only"
        )
    for name in search["feature_extraction_names"] or []:
        validate_data_section(dict(resolved.get(DATA_SECTION) or {}, feature_extraction_name=name), source)


def _validate_compilation(resolved: dict, source: str) -> None:
    """compilation.model_path is an existing .onnx file; calibration_data exists."""
    compilation = resolved["compilation"]
    model_path = compilation["model_path"]
    if model_path is not None:
        if not model_path.endswith(".onnx"):
            raise ConfigError(f"{_where(source)}compilation.model_path {model_path!r}: give an .onnx file")
        _check_path(source, "compilation.model_path", model_path, "the ONNX model to compile")
    _check_path(
        source, "compilation.calibration_data", compilation["calibration_data"], "a .npy of model inputs"
    )


def validate(resolved: dict, source: str = "", *, schema: dict | None = None, constants=C) -> dict:
    """Cross-key checks of a merged config; fills automatic values (dataset_name, quantization).

    Torch-free; the data section is validated by the tinyverse data modality. Returns ``resolved``.
    The vision and audio modalities call it with their ``schema`` and ``constants`` (``TARGET_MODULE``,
    ``TASK_TYPES``, ``MODEL_PREFIXES``, ``GENERATORS``, ``DATA_MODALITY``).
    """
    check_required(resolved, SCHEMA if schema is None else schema, source=source)
    if resolved["common"]["target_module"] != constants.TARGET_MODULE:
        raise ConfigError(
            f"{_where(source)}common.target_module {resolved['common']['target_module']!r} is not "
            f"{constants.TARGET_MODULE!r}"
        )
    _validate_dataset(resolved, source, constants.GENERATORS)
    _validate_training(resolved, source, constants)
    _validate_search(resolved, source)
    _validate_compilation(resolved, source)
    raw_data = resolved.get(DATA_SECTION) or {}
    modality = getattr(constants, "DATA_MODALITY", constants.TARGET_MODULE)
    resolved[DATA_SECTION] = validate_data_section(raw_data, source, modality)
    if modality == "timeseries":
        leave_to_the_data(raw_data, resolved[DATA_SECTION])
    return resolved
