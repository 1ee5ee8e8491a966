"""The model of a training run: the task check, building it, the output-shape check, the export copy."""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch import nn

from tinyml_tinyverse.common.errors import ModelError

from . import checkpoint as ckpt
from .cli import MODEL_MODULE_HELP  # noqa: F401  (public here too)
from .distributed import log
from .output_scaling import ScaledOutput, fold_output_scale


def import_model_modules(specs: list[str]) -> None:
    """Import the user's model modules (``--model-module``) and log what each registered."""
    from tinyml_tinyverse.common.models import import_model_module

    for spec in specs or []:
        _, names = import_model_module(spec, where="--model-module")
        log(f"model module {spec}: {', '.join(names)}")


def check_model_task(name: str, task: str) -> None:
    """A zoo model made for another task is an error that lists the models made for this one."""
    from tinyml_tinyverse.common.models import MODEL_REGISTRY, declared_task

    model_task = declared_task(name)  # unknown name: error with close matches
    if model_task and model_task != task:
        fits = [n for n in MODEL_REGISTRY.names() if declared_task(n) == task]
        raise ModelError(
            f"--model {name} is made for {model_task}, not {task}; use one of: {', '.join(fits)}"
        )


def build_model(args: argparse.Namespace, model_kwargs: dict) -> tuple[nn.Module, dict]:
    """The model and the keyword arguments that rebuild it (``config`` included)."""
    from tinyml_tinyverse.common.models import get_model, load_model_config

    config = load_model_config(args.model_config, args.model) if args.model_config else None
    kwargs = {"config": config, **model_kwargs}
    return get_model(args.model, **kwargs), kwargs


def check_output_shape(model: nn.Module, x: np.ndarray, target: np.ndarray, model_name: str) -> None:
    """Fail early, naming the model, when its output cannot be compared with the targets."""
    model.eval()
    with torch.no_grad():
        try:
            out = model(torch.from_numpy(x[:2]))
        except (
            RuntimeError
        ) as exc:  # e.g. a model_config's variables / input_features that are not the data's
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            raise ModelError(
                f"model {model_name} cannot take the data's input {list(x[:2].shape)} ({first}); fix its model config "
                "(variables, input_features) or the data processing so they agree"
            ) from None
    want = tuple(target.shape[1:]) if target.ndim > 1 else ()
    got = tuple(out.shape[1:])
    if (want and np.prod(got) != np.prod(want)) or (not want and len(got) != 1):
        raise ModelError(f"model {model_name} outputs {list(out.shape)} for input {list(x[:2].shape)}, but the targets are {list(target[:2].shape)}; "
                         "choose a model made for this task or fix its model config")  # fmt: skip


def exportable(model: nn.Module, check_x: np.ndarray, device: torch.device) -> tuple[nn.Module, dict]:
    """The model to save and export: target standardization folded in where it can be; else the
    inner model plus ``output_scale`` metadata that :func:`checkpoint.load_best_model` re-applies."""
    model = ckpt.unwrap(model)
    folded = fold_output_scale(model, torch.from_numpy(np.ascontiguousarray(check_x)).to(device))
    if isinstance(folded, ScaledOutput):
        scale = {"mean": folded.mean.cpu().tolist(), "std": folded.std.cpu().tolist()}
        return folded.model, {"output_scale": scale}
    return folded, {}
