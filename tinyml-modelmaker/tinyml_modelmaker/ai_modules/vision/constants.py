"""Names the vision modality knows: its task type, model-name prefix and example-data generators. Torch-free."""

from __future__ import annotations

from tinyml_tinyverse.common.task_names import task_records

from ..timeseries.constants import MODEL_PREFIXES as _TIMESERIES_PREFIXES

TARGET_MODULE = "vision"
(RECORD,) = task_records("vision")  # the one task of this modality (tinyml_tinyverse.common.task_names)
DATA_MODALITY = (
    RECORD.modality
)  # tinyverse's data modality: reading, resizing, normalising, augmenting images

TASK_TYPE_IMAGE_CLASSIFICATION = RECORD.task_type
TASK_TYPES = {RECORD.task_type: RECORD.scored_as}  # task type -> tinyverse task

# task -> model name prefix (the record's first; a model class may also say its modality itself)
MODEL_PREFIXES = {**_TIMESERIES_PREFIXES, RECORD.scored_as: RECORD.model_prefixes[0]}

GENERATORS = RECORD.generators  # dataset.input_data_path: generated://<name>
