"""What a search tries: zoo models x feature-extraction presets x weight bit widths, and the budget.

Torch-free. ``candidates(config)`` expands the ``search`` section into :class:`Candidate` records in a
fixed order (the order every worker agrees on); ``resolve_budget(config)`` fills the budget from the
target device where the section leaves it open.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from tinyml_tinyverse.common.compilation.devices import get_device
from tinyml_tinyverse.common.errors import ConfigError

from tinyml_modelmaker.ai_modules.timeseries.params import AUTO_MODEL

AUTO = AUTO_MODEL  # training.model_name: auto


@dataclass(frozen=True)
class Candidate:
    """One point of the search space."""

    model: str
    preset: str | None  # data_processing_feature_extraction.feature_extraction_name (None: as configured)
    bits: int  # weight bit width (8, 4, 2); 32 for a float model

    @property
    def key(self) -> str:
        return f"{self.group}|{self.bits}"

    @property
    def group(self) -> str:
        """``model|preset``: what one trial trains (its bit widths share the float training)."""
        return f"{self.model}|{self.preset or '-'}"

    def label(self) -> str:
        bits = "float" if self.bits == 32 else f"{self.bits}-bit"
        return " ".join(p for p in (self.model, self.preset, bits) if p)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_key(cls, key: str) -> Candidate:
        """A candidate from its ``key``, or from a group key ``model|preset`` (bits 0: not chosen)."""
        model, preset, bits = (key.split("|") + ["0"])[:3]
        return cls(model, None if preset == "-" else preset, int(bits))


@dataclass(frozen=True)
class Budget:
    """What a candidate may use on the target: bytes of flash and RAM, microseconds per inference."""

    flash_bytes: int
    ram_bytes: int
    latency_us: float | None  # None: no limit
    device: str

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        text = f"flash <= {self.flash_bytes} B, RAM <= {self.ram_bytes} B"
        if self.latency_us is not None:
            text += f", latency <= {self.latency_us:g} us"
        return text + f" on {self.device}"

    def problems(self, figures: dict) -> list[str]:
        """What of a candidate's measured figures is over the budget (empty: it fits)."""
        out = []
        if figures["flash_bytes"] > self.flash_bytes:
            out.append(f"flash {figures['flash_bytes']} B > {self.flash_bytes} B")
        if figures["ram_bytes"] > self.ram_bytes:
            out.append(f"RAM {figures['ram_bytes']} B > {self.ram_bytes} B")
        latency = figures.get("latency_us")
        if self.latency_us is not None:
            if latency is None:
                out.append("no latency estimate for this device (max_latency_us needs one)")
            elif latency > self.latency_us:
                out.append(f"latency {latency:.0f} us > {self.latency_us:g} us")
        return out


def search_active(config: dict) -> bool:
    """True when the run searches for its model (``training.model_name: auto``; ``search.enable`` is
    resolved from it by the config validation)."""
    return bool(config.get("search", {}).get("enable"))


def resolve_budget(config: dict) -> Budget:
    """The search budget: the ``search`` section's limits, else the target device's flash and RAM."""
    search = config["search"]
    device = get_device(config["common"]["target_device"])
    return Budget(
        flash_bytes=int(search["max_flash_bytes"] or device.flash_bytes),
        ram_bytes=int(search["max_ram_bytes"] or device.ram_bytes),
        latency_us=None if search["max_latency_us"] is None else float(search["max_latency_us"]),
        device=device.name,
    )


def model_names(config: dict, task: str, task_models: list[str]) -> list[str]:
    """The zoo models the ``search.models`` globs name, made for ``task``, in registry order."""
    import fnmatch

    from tinyml_modelmaker.ai_modules.timeseries.constants import MODEL_PREFIXES

    globs = config["search"]["models"] or [MODEL_PREFIXES[task] + "*"]
    names: list[str] = []
    for pattern in globs:
        matched = [n for n in task_models if fnmatch.fnmatchcase(n, pattern)]
        if not matched:
            raise ConfigError(
                f"search.models: {pattern!r} names no {task} model; models for {task}: {', '.join(task_models)} "
                f"(globs such as {MODEL_PREFIXES[task]}*_NPU work)"
            )
        names += [n for n in matched if n not in names]
    return names


def candidates(config: dict, task_models: list[str]) -> list[Candidate]:
    """Every candidate of the search section, models first, then presets, then bit widths."""
    from tinyml_modelmaker.ai_modules.timeseries.constants import task_of

    task = task_of(config["common"]["task_type"])
    search, training = config["search"], config["training"]
    presets = search["feature_extraction_names"] or [None]
    if not training["quantization"]:
        bits = [32]
    else:
        bits = search["weight_bitwidths"] or [training["quantization_weight_bitwidth"]]
    return [
        Candidate(m, p, int(b)) for m in model_names(config, task, task_models) for p in presets for b in bits
    ]


def rung_epochs(min_epochs: int, reduction_factor: int, max_epochs: int) -> list[int]:
    """The epochs after which a trial reports to the pruner: ``min_epochs * reduction_factor**k`` below
    ``max_epochs``, then ``max_epochs``."""
    rungs = []
    k = 0
    while True:
        step = min_epochs * reduction_factor**k
        if step >= max_epochs or not math.isfinite(step):
            break
        rungs.append(int(step))
        k += 1
    return rungs + [int(max_epochs)]
