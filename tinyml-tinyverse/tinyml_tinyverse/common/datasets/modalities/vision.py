"""The vision modality: image classification from class folders of images (``image_dataset``)."""

from __future__ import annotations

from ...task_names import modality_tasks
from ..image_dataset import (
    IMAGE_CONFIG_DEFAULTS,
    IMAGE_CONFIG_HELP,
    build_image_augmenter,
    image_compile_inputs,
    image_input_kwargs,
    load_image_split,
    prepare_image_dataset,
    validate_image_config,
)
from . import DATA_MODALITY_REGISTRY, DataModality

DATA_MODALITY_REGISTRY.register(
    "vision",
    DataModality(
        name="vision",
        tasks=modality_tasks("vision"),
        config_defaults=IMAGE_CONFIG_DEFAULTS,
        config_help=IMAGE_CONFIG_HELP,
        validate_config=validate_image_config,
        prepare_dataset=prepare_image_dataset,
        load_split=load_image_split,
        model_input_kwargs=image_input_kwargs,
        build_augmenter=build_image_augmenter,
        compile_inputs=image_compile_inputs,
        description="images: classes/<class_name>/*.{png,jpg,jpeg,bmp,npy}",
    ),
)
