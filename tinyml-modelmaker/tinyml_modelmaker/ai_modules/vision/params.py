"""Defaults and schema of a vision project YAML: the time-series sections with vision's names; the
``data_processing_feature_extraction`` section is tinyverse's image config (``image_height``,
``image_width``, ``color_mode``, normalisation and augmentation keys). Torch-free."""

from __future__ import annotations

from ..file_classification import DATA_SECTION, schema, validator
from . import constants

SCHEMA = schema(constants)
FREE_SECTIONS = (DATA_SECTION,)  # validated by tinyverse's vision data modality
validate = validator(constants, SCHEMA)
