"""Names the vision modality knows: its task type, model-name prefix and example-data generators. Torch-free."""

from __future__ import annotations

from ..timeseries.constants import MODEL_PREFIXES as _TIMESERIES_PREFIXES

TARGET_MODULE = "vision"
DATA_MODALITY = "vision"  # tinyverse's data modality: reading, resizing, normalising, augmenting images

TASK_TYPE_IMAGE_CLASSIFICATION = "image_classification"
TASK_TYPES = {TASK_TYPE_IMAGE_CLASSIFICATION: "classification"}  # task type -> tinyverse task

# task -> model name prefix; the zoo's image models are IMG_CLS_* and Lenet5 (their class says modality = "vision")
MODEL_PREFIXES = {**_TIMESERIES_PREFIXES, "classification": "IMG_CLS_"}

GENERATORS = ("digits", "shapes")  # dataset.input_data_path: generated://<name>
