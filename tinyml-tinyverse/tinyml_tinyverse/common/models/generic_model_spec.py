"""Models built from an ordered layer spec.

A spec is an ordered mapping ``name -> dict(type=<layer type>, **arguments)`` (usually a
:class:`~tinyml_tinyverse.common.utils.py_utils.DictPlus`). Layers run in order; each takes the
previous layer's output unless it names ``inputs`` (a layer name, ``'input'`` for the model input,
or a list of names for ``AddLayer`` / ``ConcatLayer``). Shapes are inferred layer by layer, so
``in_channels`` / ``in_features`` can be left out.

Subclass :class:`GenericModelWithSpec`, write ``gen_model_spec()`` and call
``self._init_model_from_spec()``; see ``docs/adding_custom_models.md``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ModelError, UnknownNameError
from ..registry import closest_names
from .layers import LAYER_REGISTRY, Shape

INPUT_NAME = "input"


@dataclass
class BuiltLayer:
    """One built spec entry: its name, type, inputs and shapes."""

    name: str
    type: str
    inputs: list[str]
    in_shapes: list[Shape]
    out_shape: Shape


def input_shape_of(input_features: Any, variables: Any) -> tuple[int, int, int]:
    """Per-sample input shape ``(variables, H, W)``: int ``input_features`` -> ``(F, 1)``."""
    if isinstance(input_features, (list, tuple)) and len(input_features) == 2:
        h, w = input_features
    elif isinstance(input_features, int) and not isinstance(input_features, bool):
        h, w = input_features, 1
    else:
        raise ModelError(
            f"input_features={input_features!r}: write an int (time series length) or an [H, W] pair"
        )
    for key, v in (("input_features", h), ("input_features", w), ("variables", variables)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ModelError(f"{key} must be a positive int, got {v!r}")
    return (int(variables), int(h), int(w))


def unwrap_spec(spec: Any) -> Any:
    """The layers of ``dict(model_spec=layers)`` (what ``gen_model_spec()`` returns); other specs as given."""
    if isinstance(spec, Mapping) and list(spec) == ["model_spec"]:
        inner = spec["model_spec"]
        if (
            isinstance(inner, Mapping) and "type" not in inner
        ):  # not a layer that happens to be named model_spec
            return inner
    return spec


def build_spec(spec: Mapping[str, Any], input_shape: Shape) -> tuple[nn.ModuleDict, list[BuiltLayer]]:
    """Build every layer of ``spec`` for a per-sample ``input_shape``; return modules and records."""
    if not isinstance(spec, Mapping) or not spec:
        raise ModelError("a model spec must be a non-empty mapping of layer name -> dict(type=..., ...)")
    shapes: dict[str, Shape] = {INPUT_NAME: tuple(input_shape)}
    modules = nn.ModuleDict()
    built: list[BuiltLayer] = []
    previous = INPUT_NAME
    for name, entry in spec.items():
        if not isinstance(name, str) or not name or "." in name or name == INPUT_NAME:
            raise ModelError(
                f"layer name {name!r} is not allowed: use a non-empty name without '.', not 'input'"
            )
        if not isinstance(entry, Mapping) or "type" not in entry:
            raise ModelError(f"layer {name!r}: write dict(type=<layer type>, ...), got {entry!r}")
        args = dict(entry)
        type_name = args.pop("type")
        inputs = args.pop("inputs", None)
        try:
            layer_cls = LAYER_REGISTRY[type_name]
        except UnknownNameError as exc:
            raise UnknownNameError(f"layer {name!r}: {exc}") from None
        layer = layer_cls(name, **args)
        inputs = [previous] if inputs is None else [inputs] if isinstance(inputs, str) else list(inputs)
        for src in inputs:
            if src not in shapes:
                hint = closest_names(src, shapes)
                raise ModelError(
                    f"layer {name!r} ({type_name}): input {src!r} is not an earlier layer"
                    + (f"; did you mean {hint}?" if hint else "")
                    + f" Earlier layers: {', '.join(shapes)}"
                )
        if not layer.min_inputs <= len(inputs) <= layer.max_inputs:
            raise ModelError(
                f"layer {name!r} ({type_name}) takes {layer.min_inputs}..{layer.max_inputs} inputs, "
                f"got {inputs}; name them with inputs=[...]"
            )
        in_shapes = [shapes[s] for s in inputs]
        modules[name], shapes[name] = layer.build(in_shapes)
        built.append(BuiltLayer(name, type_name, inputs, in_shapes, shapes[name]))
        previous = name
    return modules, built


def init_arg_names(cls: type) -> list[str]:
    """Names of the keyword arguments of ``cls.__init__`` (what a model_config may override)."""
    params = inspect.signature(cls.__init__).parameters
    return [
        n
        for n, p in params.items()
        if n not in ("self", "config") and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]


def check_config_keys(cls: type, config: Mapping[str, Any], where: str = "model config") -> None:
    """Every key of ``config`` must be an ``__init__`` argument of ``cls``."""
    accepted = init_arg_names(cls)
    unknown = [k for k in config if k not in accepted]
    if unknown:
        hints = []
        for k in unknown:
            close = closest_names(k, accepted)
            hints.append(f"{k!r}" + (f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""))
        raise ModelError(
            f"{where}: unknown key(s) {', '.join(hints)} for model {cls.__name__}; "
            f"accepted keys: {', '.join(accepted)}"
        )


class GenericModelWithSpec(nn.Module):
    """Base class of spec-built models.

    ``config`` entries override the ``__init__`` arguments; every argument ends up as an attribute
    (``self.input_features``, ``self.variables``, ``self.num_classes``, ...) for ``gen_model_spec``.
    ``input_features`` int -> input ``(N, variables, input_features, 1)``; ``(H, W)`` -> ``(N, variables, H, W)``.
    """

    task: str | None = None

    def __init__(
        self,
        config: Mapping[str, Any] | None = None,
        input_features: int | tuple[int, int] = 512,
        variables: int = 1,
        num_classes: int = 2,
        **kwargs: Any,
    ):
        super().__init__()
        config = dict(config or {})
        check_config_keys(type(self), config)
        params = dict(input_features=input_features, variables=variables, num_classes=num_classes, **kwargs)
        params.update(config)
        if isinstance(params["input_features"], list):
            params["input_features"] = tuple(params["input_features"])
        for key, value in params.items():
            setattr(self, key, value)
        self.input_shape = input_shape_of(self.input_features, self.variables)
        self.model_spec: Mapping[str, Any] | None = None

    def gen_model_spec(self) -> dict[str, Any]:
        """Return ``dict(model_spec=layers)``; subclasses write this."""
        raise NotImplementedError(f"{type(self).__name__} must define gen_model_spec()")

    def _init_model_from_spec(self, model_spec: Mapping[str, Any] | None = None) -> None:
        """Build the layers of ``model_spec``: what ``gen_model_spec()`` returns (``dict(model_spec=layers)``,
        the default when none is given) or the layers themselves. ``self.model_spec`` becomes the layers."""
        if model_spec is None:
            model_spec = self.gen_model_spec()
        model_spec = unwrap_spec(model_spec)
        self.model_spec = model_spec
        try:
            self.layers, self.built_layers = build_spec(model_spec, self.input_shape)
        except ModelError as exc:
            raise type(exc)(f"{type(self).__name__}: {exc}") from None
        self._inputs = [b.inputs for b in self.built_layers]
        self._keep = {src for b in self.built_layers for src in b.inputs}

    @property
    def output_shape(self) -> Shape:
        """Per-sample output shape."""
        return self.built_layers[-1].out_shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = {INPUT_NAME: x}
        for (name, layer), inputs in zip(self.layers.items(), self._inputs):
            x = layer(*[outs[s] for s in inputs])
            outs[name] = x
        return x

    @classmethod
    def from_yaml(cls, path: str | Path, config: Mapping[str, Any] | None = None, **kwargs: Any) -> SpecModel:
        """Build a :class:`SpecModel` from a spec YAML (see ``spec_yaml.save_spec_yaml``)."""
        return SpecModel(config or {}, spec_path=str(path), **kwargs)


class SpecModel(GenericModelWithSpec):
    """A model defined only by a spec YAML file (``spec_path``), no Python needed.

    The YAML holds ``model_spec:`` (the layers) and may hold ``task``. Values written as the
    strings ``$num_classes``, ``$variables`` or ``$horizon`` are replaced by those arguments.
    """

    task = "classification"

    def __init__(
        self,
        config: Mapping[str, Any] | None = None,
        spec_path: str = "",
        input_features: int | tuple[int, int] = 512,
        variables: int = 1,
        num_classes: int = 2,
        horizon: int = 1,
    ):
        super().__init__(
            config,
            spec_path=spec_path,
            input_features=input_features,
            variables=variables,
            num_classes=num_classes,
            horizon=horizon,
        )
        from .spec_yaml import read_spec_file

        if not self.spec_path:
            raise ModelError("SpecModel needs spec_path=<layer spec YAML>")
        doc = read_spec_file(self.spec_path)
        self.task = doc.get("task", type(self).task)
        self._init_model_from_spec(self.substitute(doc["model_spec"]))

    def substitute(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        names = {f"${k}": getattr(self, k) for k in ("num_classes", "variables", "horizon")}

        def sub(v: Any) -> Any:
            if isinstance(v, str) and v in names:
                return names[v]
            if isinstance(v, list):
                return [sub(x) for x in v]
            return v

        return {name: {k: sub(v) for k, v in entry.items()} for name, entry in spec.items()}
