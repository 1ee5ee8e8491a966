"""Checks of the chosen model before any data work: it exists, suits the task and fits the target.

Run by the runner right after the torch-free config validation, so a user learns in seconds that a
model cannot work: the name is looked up in ``MODEL_REGISTRY`` (closest names on a typo), its task
is compared with the config's, on NPU targets the NPU rules run on the built model, and the
parameter memory is estimated against the device flash.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tinyml_tinyverse.common.compilation.devices import get_device
from tinyml_tinyverse.common.errors import CompilationError, ModelError
from tinyml_tinyverse.common.registry import unknown_name_message
from tinyml_tinyverse.common.task_names import get_task_record

from ..registry import config_data_modality, config_task
from .constants import lowest_bitwidth
from .params import DATA_SECTION

# Placeholder output size used only to build the model for the check (the real one comes from the data).
_CHECK_NUM_CLASSES = 4


def model_modality(name: str) -> str:
    """The kind of data a registered model is made for: its class attribute ``modality`` (the zoo's
    image and keyword-spotting models say ``vision`` / ``audio``), else ``timeseries``."""
    from tinyml_tinyverse.common.models import MODEL_REGISTRY

    return getattr(MODEL_REGISTRY[name], "modality", "timeseries")


def models_for_task(task: str, modality: str = "timeseries") -> list[str]:
    """Registered models made for ``task`` on ``modality`` data (by their ``task`` and ``modality``
    attributes, so custom names count too)."""
    from tinyml_tinyverse.common.models import MODEL_REGISTRY, model_task

    names = []
    for name in MODEL_REGISTRY.names():
        try:
            if model_task(name) == task and model_modality(name) == modality:
                names.append(name)
        except Exception:  # a registered building block without a task
            continue
    return names


def import_model_modules(config: dict) -> list[dict[str, Any]]:
    """Import ``training.model_module`` (files, folders or module names) so their models are registered;
    prints and returns what each gave (``[{"module": ..., "file": ..., "models": [...]}]``)."""
    from tinyml_tinyverse.common.models import import_model_module

    done = []
    for spec in config["training"].get("model_module") or []:
        module, names = import_model_module(spec, where="training.model_module")
        file = getattr(module, "__file__", None)
        print(
            f"model module: imported {spec}"
            + (f" ({file})" if file and file != spec else "")
            + f": {', '.join(names)}"
        )
        done.append({"module": spec, "file": file, "models": list(names)})
    return done


def check_model_name(config: dict) -> None:
    """The model is registered (closest names on a typo) and made for the config's task."""
    from tinyml_tinyverse.common.models import MODEL_REGISTRY, model_task
    from tinyml_tinyverse.common.models.user_models import REGISTER_HINT

    name, task, modality = config["training"]["model_name"], config_task(config), config_data_modality(config)
    if name not in MODEL_REGISTRY:
        raise ModelError(
            unknown_name_message("model", name, models_for_task(task, modality), "training.model_name")
            + " (list them with: tinyml-modelmaker --describe models). "
            + REGISTER_HINT
        )
    if model_task(name) != task or model_modality(name) != modality:
        allowed = ", ".join(models_for_task(task, modality))
        kind = "" if model_modality(name) == modality else f"{model_modality(name)} "  # data of another kind
        raise ModelError(
            f"training.model_name {name!r} is {'an' if (kind or 'x')[0] in 'aeiou' else 'a'} {kind}{model_task(name)} model, not {kind and modality + ' '}{task}; "
            f"models for {config['common']['task_type']}: {allowed}"
        )


def input_channels_known(config: dict) -> bool:
    """True when the data config fixes the input channels, so the model can be checked before any data work
    (always for images and sound: the colour mode or the front end fixes them)."""
    return config_data_modality(config) != "timeseries" or config[DATA_SECTION].get("variables") is not None


def check_model(config: dict, dataset_dir: Path | None = None) -> dict[str, Any]:
    """Build the configured model once and check it against the target device; returns the figures.

    The input shape comes from the data config (and ``dataset_dir`` when the config does not name
    the input channels). Raises ModelError for NPU rule violations and CompilationError when the
    weights cannot fit the device flash.
    """
    from tinyml_tinyverse.common.datasets import get_data_modality
    from tinyml_tinyverse.common.models import get_model, load_model_config

    t0 = time.perf_counter()
    tr, common = config["training"], config["common"]
    name, task = tr["model_name"], config_task(config)
    data_config = config[DATA_SECTION]
    input_kwargs = get_data_modality(config_data_modality(config)).model_input_kwargs(
        data_config, dataset_dir
    )
    kwargs = dict(input_kwargs, num_classes=_CHECK_NUM_CLASSES)
    if get_task_record(task).needs_horizon:
        kwargs["horizon"] = int(data_config.get("horizon") or 1)
    model_config = load_model_config(tr["model_config"], name) if tr["model_config"] is not None else None
    model = get_model(name, config=model_config, **kwargs)
    features = kwargs["input_features"]
    hw = (features, 1) if isinstance(features, int) else tuple(features)
    input_shape = (1, int(kwargs["variables"]), *hw)

    device = get_device(common["target_device"])
    bits = lowest_bitwidth(tr["quantization_weight_bitwidth"]) if tr["quantization"] else 32
    params = sum(p.numel() for p in model.parameters())
    weight_bytes = params * bits // 8
    figures = {
        "parameters": int(params),
        "weight_bytes_estimate": int(weight_bytes),
        "input_shape": list(input_shape),
        "num_outputs_assumed": _CHECK_NUM_CLASSES,  # the real count comes from the data
    }
    if weight_bytes > device.flash_bytes:
        smaller = (
            "quantize it (training.quantization: 1 or 2)"
            if bits == 32
            else "lower quantization_weight_bitwidth"
        )
        raise CompilationError(
            f"training.model_name {name}: about {weight_bytes / 1024:.1f} KiB of {bits}-bit weights "
            f"({params} parameters) do not fit the {device.flash_kib:g} KiB flash of {device.name}; "
            f"choose a smaller model, {smaller}, or a larger target_device"
        )
    if device.has_npu and tr["quantization"]:  # the compiler checks every quantized model for an NPU target
        from tinyml_tinyverse.common.models.describe import check_model_npu

        violations = check_model_npu(model, input_shape, weight_bitwidth=bits)
        if violations:
            lines = "; ".join(getattr(v, "message", str(v)) for v in violations)
            raise ModelError(
                f"training.model_name {name} breaks the NPU rules of {device.name}: {lines}. "
                f"Choose an *_NPU model, fix the model_config, or pick a target_device without NPU"
            )
        figures["npu_rules"] = "passed"
    print(
        f"model check: {name} on input {list(input_shape)} suits {device.name}: {params} parameters, "
        f"~{weight_bytes / 1024:.1f} KiB of weights of {device.flash_kib:g} KiB flash ({time.perf_counter() - t0:.1f} s)"
    )
    return figures
