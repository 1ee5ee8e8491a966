"""Registries and base types shared by every transform module.

Two registries hold transforms by name: :data:`DATA_PROC_REGISTRY` (``data_proc_transforms``:
windowing, resampling, gain jitter) and :data:`FEATURE_REGISTRY` (``feat_ext_transform``). Both
import every module of ``tinyml_tinyverse.common.transforms`` on first use, so a new file in that
folder that registers a transform makes it usable by name with no other edit::

    from tinyml_tinyverse.common.transforms import FEATURE_REGISTRY, FeatureTransform

    @FEATURE_REGISTRY.register("SQUARE")
    class Square(FeatureTransform):
        def __call__(self, x, ctx):
            return x * x
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..registry import Registry
from .c_code import CContext, CSignal, CStep, NoCImplementation

_LOCATIONS = ["tinyml_tinyverse.common.transforms"]
DATA_PROC_REGISTRY = Registry("data processing transform", locations=_LOCATIONS)
FEATURE_REGISTRY = Registry("feature extraction transform", locations=_LOCATIONS)
PRESET_REGISTRY = Registry("feature extraction preset", locations=_LOCATIONS)


@dataclass
class FrameContext:
    """What a transform may need besides the frames themselves; one entry per row of ``x``.

    ``file_ids`` / ``starts`` / ``stops`` give each row's recording and sample span (in the
    recording after the data processing that ran before windowing). ``stats`` holds statistics
    fitted on the training split (``fit=True``) and reused for the other splits.
    """

    file_ids: np.ndarray
    starts: np.ndarray
    stops: np.ndarray
    labels: np.ndarray | None = None
    class_names: list[str] = field(default_factory=list)
    training: bool = False
    fit: bool = False
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    stats: dict[str, Any] = field(default_factory=dict)

    def take(self, index: np.ndarray) -> FrameContext:
        """The context of the rows ``index`` (same rng, statistics and flags)."""
        labels = None if self.labels is None else self.labels[index]
        return replace(
            self,
            file_ids=self.file_ids[index],
            starts=self.starts[index],
            stops=self.stops[index],
            labels=labels,
        )


class FeatureTransform:
    """A feature extraction step: ``(N, C, ..., L) -> (N, C, ..., L')`` along the last axis.

    ``cfg`` is the validated data config; a transform reads the keys it needs from it. A transform
    that changes the number of rows (``CONCAT``) returns ``(x, ctx)`` from :meth:`regroup` instead.
    ``rowwise`` steps treat every row on its own, so the pipeline may run them on chunks of rows
    (less memory, better cache use); set it False for a step that needs the whole set at once.
    """

    regroups = False
    rowwise = True

    def __init__(self, cfg: dict[str, Any]):
        self.cfg = cfg

    def __call__(self, x: np.ndarray, ctx: FrameContext) -> np.ndarray:
        raise NotImplementedError

    def regroup(self, x: np.ndarray, ctx: FrameContext) -> tuple[np.ndarray, FrameContext]:
        raise NotImplementedError

    def c_config(self) -> dict[str, Any]:
        """``#define`` name -> value that a C implementation of this step needs."""
        return {}

    # ---- the C of the step for one frame (see ``c_code``); the generated front end chains them
    def c_step(self, ctx: CContext) -> CStep:
        """The C99 of this step on one frame of one channel; raise :class:`NoCImplementation` if none."""
        raise NoCImplementation(f"{type(self).__name__} has no C implementation")

    def c_input_demand(self, signal: CSignal, demand: int) -> int:
        """How many input values the C code needs to produce the first ``demand`` outputs."""
        return signal.length


class ElementwiseTransform(FeatureTransform):
    """A step whose output value ``n`` depends on input value ``n`` only (the C computes only the
    values later steps use)."""

    def c_input_demand(self, signal: CSignal, demand: int) -> int:
        return demand


def as_float(x: np.ndarray) -> np.ndarray:
    """float32 (or complex64) view of a frame batch; integer (Q15) values convert exactly."""
    if np.iscomplexobj(x):
        return x if x.dtype == np.complex64 else x.astype(np.complex64)
    return x if x.dtype == np.float32 else x.astype(np.float32)


def sequential_sum(x: np.ndarray) -> np.ndarray:
    """Sum along the last axis in float32, one value after the other (as a C loop adds them)."""
    if x.shape[-1] == 0:
        return np.zeros(x.shape[:-1], np.float32)
    return np.cumsum(x, axis=-1, dtype=np.float32)[..., -1]


def is_integer(x: np.ndarray) -> bool:
    """True for fixed-point data: int64 values, or complex128 spectra with integer parts."""
    return x.dtype == np.complex128 or np.issubdtype(x.dtype, np.integer)


class DataProcTransform:
    """A data processing step. ``apply_recording`` runs before windowing on one recording
    ``(T, C)``; ``apply_frames`` runs after windowing on all frames ``(N, C, L)`` at once.
    A ``random`` step runs only when training (and makes the cached result depend on the seed)."""

    random = False

    def __init__(self, cfg: dict[str, Any]):
        self.cfg = cfg

    def apply_recording(
        self, x: np.ndarray, targets: np.ndarray | None, label: int | None, ctx: FrameContext
    ) -> tuple[np.ndarray, np.ndarray | None]:
        raise NotImplementedError

    def apply_frames(self, x: np.ndarray, ctx: FrameContext) -> np.ndarray:
        raise NotImplementedError

    def c_config(self) -> dict[str, Any]:
        return {}
