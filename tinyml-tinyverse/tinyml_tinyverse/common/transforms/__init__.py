"""Data processing and feature extraction transforms, found by name in registries.

- :data:`DATA_PROC_REGISTRY`: ``SimpleWindow``, ``Downsample`` (``DownSample``), ``GainVariation``.
- :data:`FEATURE_REGISTRY`: ``RAW_FE``, ``FFT_FE``, ``FFT_POS_HALF``, ``WINDOWING``, ``DC_REMOVE``,
  ``ABS``, ``BINNING``, ``NORMALIZE``, ``LOG_DB``, ``CONCAT``, ``ECG_NORMALIZE``, ``HAAR``,
  ``HADAMARD``, ``TO_Q15``, ``FFT_Q15``, ``Q15_SCALE``, ``Q15_MAG``, ``BIN_Q15``.
- :data:`PRESET_REGISTRY`: named presets for ``feature_extraction_name``.

Add a transform by dropping a module into this folder that registers it (see ``_base``).
"""

from ._base import (
    DATA_PROC_REGISTRY,
    FEATURE_REGISTRY,
    PRESET_REGISTRY,
    DataProcTransform,
    FeatureTransform,
    FrameContext,
)
from .pipeline import Features, Recording, build_pipeline, extract_features, min_recording_length

__all__ = [
    "DATA_PROC_REGISTRY",
    "FEATURE_REGISTRY",
    "PRESET_REGISTRY",
    "DataProcTransform",
    "FeatureTransform",
    "FrameContext",
    "Features",
    "Recording",
    "build_pipeline",
    "extract_features",
    "min_recording_length",
]
