"""Training-time augmentation of batches ``(N, C, H, W)``, built from the ``augmentation`` config.

``augmentation`` is a mapping ``{AugmenterName: {param: value, ..., p: probability}}`` applied in
the order written (or a list of such one-key mappings), or the path of a YAML file holding it
(optionally under a top-level ``augmentation:`` key), e.g. ``misc/augmenter_config.yaml``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, UnknownNameError
from ..safe_yaml import load_yaml_file
from ._base import AUGMENTER_REGISTRY, Augmenter

__all__ = ["AUGMENTER_REGISTRY", "Augmenter", "Compose", "build_augmenter", "read_augmentation_config"]


class Compose:
    """Apply augmenters in order with one seeded generator (each call draws new randomness)."""

    def __init__(self, augmenters: list[Augmenter], seed: int):
        self.augmenters = augmenters
        self.rng = np.random.default_rng(seed)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        for aug in self.augmenters:
            x = aug(x, self.rng)
        return x

    def __repr__(self) -> str:
        return f"Compose({self.augmenters!r})"


def read_augmentation_config(aug_config: dict | list | str | Path | None) -> list[tuple[str, dict]]:
    """The ``(name, params)`` steps of an augmentation config (dict, list or YAML path)."""
    if aug_config is None or aug_config == {} or aug_config == []:
        return []
    where = "augmentation"
    if isinstance(aug_config, (str, Path)):
        path = Path(aug_config)
        if not path.is_file():
            raise ConfigError(f"augmentation: the file {str(path)!r} does not exist")
        where = str(path)
        aug_config = load_yaml_file(path, what="augmentation file") or {}
        if isinstance(aug_config, dict) and set(aug_config) == {"augmentation"}:
            aug_config = aug_config["augmentation"] or {}
    items = aug_config.items() if isinstance(aug_config, dict) else None
    if items is None:
        if not isinstance(aug_config, list) or not all(
            isinstance(s, dict) and len(s) == 1 for s in aug_config
        ):
            raise ConfigError(f"{where}: expected a mapping {{AugmenterName: {{params}}}} or a list of them")
        items = [next(iter(s.items())) for s in aug_config]
    steps = []
    for name, params in items:
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise ConfigError(f"{where}.{name}: parameters must be a mapping, got {params!r}")
        steps.append((str(name), dict(params)))
    return steps


def build_augmenter(aug_config: dict | list | str | None, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """A callable ``x (N, C, H, W) -> same shape`` applying the configured augmenters in order.

    Identity when the config is empty. Unknown augmenters or parameters raise :class:`ConfigError`.
    """
    augmenters = []
    for name, params in read_augmentation_config(aug_config):
        try:
            cls = AUGMENTER_REGISTRY[name]
        except UnknownNameError as e:
            raise ConfigError(f"augmentation: {e}") from None
        accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            raise ConfigError(f"augmentation.{name}: unknown parameter(s) {unknown}; accepted: {accepted}")
        try:
            augmenters.append(cls(**params))
        except (TypeError, ValueError) as e:
            raise ConfigError(f"augmentation.{name}: {e}") from None
    return Compose(augmenters, seed)


def _describe() -> dict[str, Any]:
    """Name -> accepted parameters, for documentation."""
    return {n: list(inspect.signature(c.__init__).parameters)[1:] for n, c in AUGMENTER_REGISTRY.items()}
