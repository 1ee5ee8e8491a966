"""Names the audio modality knows: its task type, model-name prefix and example-data generators. Torch-free."""

from __future__ import annotations

from ..timeseries.constants import MODEL_PREFIXES as _TIMESERIES_PREFIXES

TARGET_MODULE = "audio"
DATA_MODALITY = "audio"  # tinyverse's data modality: WAV reading, resampling, augmentation, MFCC front end

TASK_TYPE_AUDIO_CLASSIFICATION = "audio_classification"
TASK_TYPES = {TASK_TYPE_AUDIO_CLASSIFICATION: "classification"}  # task type -> tinyverse task

# task -> model name prefix; the zoo's keyword spotters are KWS_* (their class says modality = "audio")
MODEL_PREFIXES = {**_TIMESERIES_PREFIXES, "classification": "KWS_"}

GENERATORS = ("tones", "spoken_words")  # dataset.input_data_path: generated://<name>
