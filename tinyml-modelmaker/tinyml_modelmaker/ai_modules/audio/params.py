"""Defaults and schema of a audio project YAML: the time-series sections with audio's names; the
``data_processing_feature_extraction`` section is tinyverse's audio config (``sampling_rate``,
``audio_duration_ms``, ``features``, ``n_mels``, ``n_mfcc``, ``frame_length_ms``, ``frame_step_ms``,
augmentation keys). Torch-free."""

from __future__ import annotations

from ..file_classification import DATA_SECTION, schema, validator
from . import constants

SCHEMA = schema(constants)
FREE_SECTIONS = (DATA_SECTION,)  # validated by tinyverse's audio data modality
validate = validator(constants, SCHEMA)
