"""The compilation presets (``compile_model(preset_name=...)``), each with its description. Torch-free."""

from __future__ import annotations

from ..registry import Registry

PRESET_REGISTRY = Registry("compilation preset")
PRESET_REGISTRY.register(
    "default_preset", "Weights stored in their natural layout; the safe choice for every target."
)
PRESET_REGISTRY.register(
    "compress_npu_layer_data",
    "Packs NPU layer data (4- and 2-bit weights, fused parameters) to save flash on NPU targets.",
)
