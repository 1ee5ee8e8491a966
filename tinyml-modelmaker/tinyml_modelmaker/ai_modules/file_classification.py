"""What the vision and audio modalities share: one classification task on class folders of files.

Their sections are the time-series ones with their own names (``common.target_module``, the task
type, the generators, one split type), their data section is the tinyverse data modality's config
(its keys, defaults and checks), and their runs go through the stage machinery of
``timeseries.runner``. Each modality package states its names in ``constants.py`` and builds its
``params`` and ``descriptions`` with the functions here. Torch-free.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from types import ModuleType
from typing import Any

from ..config import Param
from .timeseries import descriptions as ts_descriptions
from .timeseries import params as ts_params

DATA_SECTION = ts_params.DATA_SECTION
SPLIT_TYPES = ("amongst_files",)  # one example per file: within_files means nothing


def schema(constants: ModuleType) -> dict[str, dict[str, Param]]:
    """The time-series schema with this modality's name, its one task type (the default) and split type."""
    out = copy.deepcopy(ts_params.SCHEMA)
    (task_type,) = constants.TASK_TYPES
    common, dataset = out["common"], out["dataset"]
    common["target_module"] = replace(common["target_module"], default=constants.TARGET_MODULE)
    common["task_type"] = replace(
        common["task_type"], default=task_type, choices=tuple(constants.TASK_TYPES), required=False
    )
    dataset["split_type"] = replace(dataset["split_type"], choices=SPLIT_TYPES)
    return out


def validator(constants: ModuleType, the_schema: dict) -> Any:
    """``params.validate`` of the modality: the time-series checks with its names and data modality."""

    def validate(resolved: dict, source: str = "") -> dict:
        """Cross-key checks of a merged config (``timeseries.params.validate`` with this modality's names)."""
        return ts_params.validate(resolved, source, schema=the_schema, constants=constants)

    return validate


def descriptions(
    constants: ModuleType, *, task: str, data_section: str, layout: str, models: str
) -> tuple[dict, ...]:
    """``TASK_DESCRIPTIONS``, ``SECTION_DESCRIPTIONS``, ``PARAM_DESCRIPTIONS`` and ``PRESET_DESCRIPTIONS`` of
    the modality: those of time series, with its ``task`` description, its ``data_section`` text, and the
    keys whose meaning differs told for it (``layout``: the data layout, ``models``: the zoo's models)."""
    (task_type,) = constants.TASK_TYPES
    sections = {**ts_descriptions.SECTION_DESCRIPTIONS, DATA_SECTION: data_section}
    params = copy.deepcopy(ts_descriptions.PARAM_DESCRIPTIONS)
    generators = "|".join(constants.GENERATORS)
    params["common"]["target_module"] = (
        f"The modality, here `{constants.TARGET_MODULE}`; others: `--describe --target-module NAME`. Found by "
        "name under tinyml_modelmaker/ai_modules/."
    )
    params["common"]["task_type"] = f"The task; `{task_type}`, the only one (the default)."
    params["dataset"]["input_data_path"] = (
        f"A data folder or a .zip in the layout {layout}, or generated://<{generators}> to generate an example "
        "dataset into <projects_path>/<dataset_name>/generated/ the first time (generated_<hash>/ when "
        "generator_config is set)."
    )
    params["dataset"]["split_type"] = "amongst_files: every file (one example) goes to one split."
    params["training"]["model_name"] = (
        f"A model of the zoo made for it ({models}) or one you registered; see `--describe models`."
    )
    return {task_type: task}, sections, params, dict(ts_descriptions.PRESET_DESCRIPTIONS)
