"""Human descriptions of the audio modality's task, sections and keys (``--describe --target-module
audio``; ``docs/config_reference.md``). Torch-free."""

from __future__ import annotations

from ..file_classification import descriptions
from . import constants

TASK_DESCRIPTIONS, SECTION_DESCRIPTIONS, PARAM_DESCRIPTIONS, PRESET_DESCRIPTIONS = descriptions(
    constants,
    task=(
        "Keyword spotting: assign one word (class) to each clip. Data: classes/<word>/*.wav (PCM or float, any "
        "rate, mono or multi-channel mixed down), resampled to sampling_rate and cut or padded to "
        "audio_duration_ms; time-shift and background-noise augmentation on the training split. Front end: "
        "MFCC or log-mel, compiled to C with the model. Models: KWS_*. Metrics: accuracy, macro F1, confusion "
        "matrix, ROC-AUC."
    ),
    data_section=(
        "How clips become model inputs: sampling rate, length, the MFCC / log-mel front end (the same on the "
        "chip) and training augmentation. The keys, defaults and checks are those of tinyverse's audio data "
        "modality (audio_dataset.py, docs/vision_audio.md); a preset (feature_extraction_name) fills several "
        "keys, keys written here win."
    ),
    layout="classes/<word>/*.wav (a _background_noise_/ folder beside them feeds the augmentation)",
    models="KWS_4k, KWS_20k, KWS_80k",
)
