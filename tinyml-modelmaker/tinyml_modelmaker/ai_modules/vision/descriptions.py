"""Human descriptions of the vision modality's task, sections and keys (``--describe --target-module
vision``; ``docs/config_reference.md``). Torch-free."""

from __future__ import annotations

from ..file_classification import descriptions
from . import constants

TASK_DESCRIPTIONS, SECTION_DESCRIPTIONS, PARAM_DESCRIPTIONS, PRESET_DESCRIPTIONS = descriptions(
    constants,
    task=(
        "Assign one class to each image (e.g. digits, shapes, defects). Data: classes/<class_name>/"
        "*.{png,jpg,jpeg,bmp,npy}, any size, resized to image_height x image_width, grey or RGB, normalised; "
        "augmentation on the training split only. Models: Lenet5, IMG_CLS_*. Metrics: accuracy, macro F1, "
        "confusion matrix, ROC-AUC."
    ),
    data_section=(
        "How images become model inputs: size, colour, normalisation and training augmentation. The keys, "
        "defaults and checks are those of tinyverse's vision data modality (image_dataset.py, "
        "docs/vision_audio.md); a preset (feature_extraction_name) fills several keys, keys written here win."
    ),
    layout="classes/<class_name>/*.{png,jpg,jpeg,bmp,npy}",
    models="Lenet5, IMG_CLS_1k, IMG_CLS_4k, IMG_CLS_20k",
)
