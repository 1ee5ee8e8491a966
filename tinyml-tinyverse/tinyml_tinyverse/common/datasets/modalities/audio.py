"""The audio modality: keyword spotting from class folders of WAV clips (``audio_dataset``)."""

from __future__ import annotations

from ...task_names import modality_tasks
from ..audio_dataset import (
    AUDIO_CONFIG_DEFAULTS,
    AUDIO_CONFIG_HELP,
    audio_compile_inputs,
    audio_input_kwargs,
    build_audio_augmenter,
    load_audio_split,
    prepare_audio_dataset,
    validate_audio_config,
)
from . import DATA_MODALITY_REGISTRY, DataModality

DATA_MODALITY_REGISTRY.register(
    "audio",
    DataModality(
        name="audio",
        tasks=modality_tasks("audio"),
        config_defaults=AUDIO_CONFIG_DEFAULTS,
        config_help=AUDIO_CONFIG_HELP,
        validate_config=validate_audio_config,
        prepare_dataset=prepare_audio_dataset,
        load_split=load_audio_split,
        model_input_kwargs=audio_input_kwargs,
        build_augmenter=build_audio_augmenter,
        compile_inputs=audio_compile_inputs,
        description="sound clips: classes/<word>/*.wav",
    ),
)
