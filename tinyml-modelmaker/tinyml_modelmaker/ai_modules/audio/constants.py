"""Names the audio modality knows: its task type, model-name prefix and example-data generators. Torch-free."""

from __future__ import annotations

from tinyml_tinyverse.common.task_names import task_records

from ..timeseries.constants import MODEL_PREFIXES as _TIMESERIES_PREFIXES

TARGET_MODULE = "audio"
(RECORD,) = task_records("audio")  # the one task of this modality (tinyml_tinyverse.common.task_names)
DATA_MODALITY = (
    RECORD.modality
)  # tinyverse's data modality: WAV reading, resampling, augmentation, MFCC front end

TASK_TYPE_AUDIO_CLASSIFICATION = RECORD.task_type
TASK_TYPES = {RECORD.task_type: RECORD.scored_as}  # task type -> tinyverse task

# task -> model name prefix (the record's first; a model class may also say its modality itself)
MODEL_PREFIXES = {**_TIMESERIES_PREFIXES, RECORD.scored_as: RECORD.model_prefixes[0]}

GENERATORS = RECORD.generators  # dataset.input_data_path: generated://<name>
