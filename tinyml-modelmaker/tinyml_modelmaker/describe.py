"""``tinyml-modelmaker --describe [TOPIC]``: tasks, sections, parameters, presets, devices and models.

Text for the terminal, or Markdown (``--markdown``) from which ``docs/config_reference.md`` is
generated for every modality. Everything comes from the modality's ``descriptions.py`` and
``params.py`` (and the data section from its tinyverse data modality) so the documentation cannot
drift from the code. Torch-free except the ``models`` topic.
"""

from __future__ import annotations

import textwrap
from types import ModuleType

from tinyml_tinyverse.common.errors import ConfigError
from tinyml_tinyverse.common.registry import unknown_name_message

from .ai_modules.registry import get_target_module, target_module_names

TOPICS = ("tasks", "devices", "presets", "models")


def _default(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, str) else str(value)


def _wrap(text: str, indent: str) -> str:
    return textwrap.fill(text, width=100, initial_indent=indent, subsequent_indent=indent)


def _param_lines(module: ModuleType, section: str, key: str, markdown: bool) -> list[str]:
    param = module.params.SCHEMA[section][key]
    text = module.descriptions.PARAM_DESCRIPTIONS[section][key]
    if markdown:
        return [f"| `{key}` | `{_default(param.default)}` | {param.allowed()} | {text} |"]
    return [f"  {section}.{key} = {_default(param.default)}   [{param.allowed()}]", _wrap(text, "      ")]


def _section_lines(module: ModuleType, section: str, markdown: bool) -> list[str]:
    desc = module.descriptions.SECTION_DESCRIPTIONS[section]
    lines = [f"## `{section}`", "", desc, ""] if markdown else [f"{section}:", _wrap(desc, "  ")]
    if section in module.params.FREE_SECTIONS:
        lines += _data_section_lines(module, markdown)
        return lines + [""]
    if markdown:
        lines += ["| key | default | allowed | meaning |", "|---|---|---|---|"]
    for key in module.params.SCHEMA[section]:
        lines += _param_lines(module, section, key, markdown)
    return lines + [""]


def _data_section_lines(module: ModuleType, markdown: bool) -> list[str]:
    """Keys, defaults and help of the data section, straight from the modality's tinyverse data modality
    (numpy/scipy, no torch)."""
    from tinyml_tinyverse.common.datasets import get_data_modality

    data = get_data_modality(getattr(module.constants, "DATA_MODALITY", module.constants.TARGET_MODULE))
    defaults, helps = data.config_defaults, data.config_help
    if markdown:
        lines = ["| key | default | meaning |", "|---|---|---|"]
        return lines + [f"| `{k}` | `{_default(v)}` | {helps.get(k, '')} |" for k, v in defaults.items()]
    lines = []
    for k, v in defaults.items():
        lines += [f"  {k} = {_default(v)}", _wrap(helps.get(k, ""), "      ")]
    return lines


def _tasks_lines(module: ModuleType, markdown: bool) -> list[str]:
    lines = ["## Task types", ""] if markdown else ["tasks (common.task_type):"]
    for name, text in module.descriptions.TASK_DESCRIPTIONS.items():
        lines += [f"- `{name}`: {text}"] if markdown else [f"  {name}", _wrap(text, "      ")]
    return lines + [""]


def _presets(module: ModuleType) -> dict[str, str]:
    """The compilation presets a modality describes (optional: a modality without compilation has none)."""
    return getattr(module.descriptions, "PRESET_DESCRIPTIONS", {})


def _presets_lines(module: ModuleType, markdown: bool) -> list[str]:
    lines = ["## Compilation presets", ""] if markdown else ["presets (compilation.preset_name):"]
    for name, text in _presets(module).items():
        lines += [f"- `{name}`: {text}"] if markdown else [f"  {name}", _wrap(text, "      ")]
    return lines + [""]


def _devices_lines(markdown: bool) -> list[str]:
    from tinyml_tinyverse.common.compilation.devices import DEVICE_REGISTRY, NPU_NOTE

    if markdown:
        lines = [
            "## Target devices",
            "",
            "| device | family | CPU | clock MHz | flash KiB | RAM KiB | FPU | NPU |",
            "|---|---|---|---|---|---|---|---|",
        ]
    else:
        lines = ["devices (common.target_device):"]
    for name in sorted(DEVICE_REGISTRY):
        d = DEVICE_REGISTRY[name]
        fpu, npu = ("yes" if d.has_fpu else "no"), ("yes*" if d.has_npu else "no")
        if markdown:
            lines.append(
                f"| `{name}` | {d.family} | {d.cpu} | {d.clock_mhz:g} | {d.flash_kib:g} | {d.ram_kib:g} | {fpu} | {npu} |"
            )
        else:
            lines.append(
                f"  {name:<14} {d.family:<8} {d.cpu:<14} {d.clock_mhz:>4g} MHz  flash {d.flash_kib:>6g} KiB  "
                f"RAM {d.ram_kib:>5g} KiB  FPU {fpu:<3} NPU {npu}"
            )
    note = f"* {NPU_NOTE}"
    return lines + (["", note] if markdown else [_wrap(note, "  ")]) + [""]


def _models_lines(module: ModuleType) -> list[str]:
    """The registered models grouped by the task they are made for (imports torch through the zoo)."""
    from .ai_modules.timeseries.model_check import models_for_task

    data = getattr(module.constants, "DATA_MODALITY", module.constants.TARGET_MODULE)
    lines = []
    for task_type, task in module.constants.TASK_TYPES.items():
        lines += [f"{task_type}:", _wrap(", ".join(models_for_task(task, data)) or "(none)", "  ")]
    return lines + [""]


def _module_lines(module: ModuleType, sections: list[str], markdown: bool, level: str) -> list[str]:
    """Tasks and sections of one modality (Markdown headings one ``level`` deeper)."""
    lines = []
    for block in [_tasks_lines(module, markdown)] + [_section_lines(module, s, markdown) for s in sections]:
        lines += [level + line if markdown and line.startswith("## ") else line for line in block]
    return lines


def describe(topic: str | None = None, *, markdown: bool = False, target_module: str | None = None) -> str:
    """The description of ``topic`` (None: everything but models) as text or Markdown.

    Topics: ``tasks``, ``devices``, ``presets``, ``models``, a section name, ``section.key``, or a
    task type, device or preset name. ``target_module``: the modality (None: every modality for the
    whole description, ``timeseries`` for a topic).
    """
    if topic is None and target_module is None:
        lines = ["# Project configuration reference", ""] if markdown else []
        if markdown:
            lines += [
                "Generated from the `descriptions.py` and `params.py` of each modality under",
                "`tinyml_modelmaker/ai_modules/` (the data section from its tinyverse data modality) by",
                "`tinyml-modelmaker --describe --markdown > docs/config_reference.md`; do not edit by hand.",
                "One project YAML uses the sections of the modality its `common.target_module` names.",
                "",
            ]
        for name in sorted(target_module_names(), key=lambda n: (n != "timeseries", n)):  # time series first
            lines += (
                [f"## Modality `{name}` (`common.target_module: {name}`)", ""]
                if markdown
                else [f"== {name} =="]
            )
            lines += describe(markdown=markdown, target_module=name).splitlines() + [""]
        module = get_target_module("timeseries")
        lines += _presets_lines(module, markdown) + _devices_lines(markdown)
        return "\n".join(lines).rstrip() + "\n"
    module = get_target_module(target_module or "timeseries")
    sections = list(module.params.SCHEMA) + [
        s for s in module.params.FREE_SECTIONS if s not in module.params.SCHEMA
    ]
    if topic is None:  # one modality: its tasks and sections
        return "\n".join(_module_lines(module, sections, markdown, "#")).rstrip() + "\n"
    if topic == "tasks":
        lines = _tasks_lines(module, markdown)
    elif topic == "devices":
        lines = _devices_lines(markdown)
    elif topic == "presets":
        lines = _presets_lines(module, markdown)
    elif topic == "models":
        lines = _models_lines(module)
    elif topic in sections:
        lines = _section_lines(module, topic, markdown)
    elif "." in topic and topic.split(".", 1)[0] in module.params.SCHEMA:
        section, key = topic.split(".", 1)
        if key not in module.params.SCHEMA[section]:
            raise ConfigError(
                unknown_name_message("key", key, module.params.SCHEMA[section], where=f"section {section!r}")
            )
        lines = _param_lines(module, section, key, markdown)
    elif topic in module.descriptions.TASK_DESCRIPTIONS:
        lines = [topic, _wrap(module.descriptions.TASK_DESCRIPTIONS[topic], "  ")]
    elif topic in _presets(module):
        lines = [topic, _wrap(_presets(module)[topic], "  ")]
    else:
        from tinyml_tinyverse.common.compilation.devices import DEVICE_REGISTRY, NPU_NOTE

        if topic in DEVICE_REGISTRY:
            d = DEVICE_REGISTRY[topic]
            lines = [
                f"{d.name}: {d.description}",
                f"  family {d.family}, CPU {d.cpu} at {d.clock_mhz:g} MHz, flash {d.flash_kib:g} KiB, "
                f"RAM {d.ram_kib:g} KiB, FPU {d.has_fpu}, NPU {d.has_npu}",
            ] + ([_wrap(NPU_NOTE, "  ")] if d.has_npu else [])
        else:
            known = list(TOPICS) + sections + list(module.descriptions.TASK_DESCRIPTIONS)
            raise ConfigError(
                unknown_name_message("--describe topic", topic, known)
                + " (or section.key, a device or preset name)"
            )
    return "\n".join(lines).rstrip() + "\n"
