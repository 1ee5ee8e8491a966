"""Keyword spotting data: the audio config, dataset preparation, split loading with augmentation.

``classes/<word>/*.wav`` (the split, list-file and zip rules of time series, :mod:`.file_dataset`).
Every clip is read (:mod:`.wav_files`: PCM or float WAV, channels averaged), resampled to
``sampling_rate`` with scipy's polyphase resampler and cut or zero-padded to
``audio_duration_ms``. The features are those of the on-chip front end: the clip goes through a
time-series data config (:func:`audio_data_config`: ``SimpleWindow`` frames of ``frame_length_ms``
every ``frame_step_ms``, then ``WINDOWING, POWER_SPECTRUM, MEL_FILTERBANK, LOG_DB [, DCT]
[, STANDARDIZE], CONCAT``), so ``compile_model`` generates and checks the same extraction in C
(``feature_extract.c``, ``tinyml_pipeline.h``). ``X`` is ``(N, 1, frames, n_mfcc | n_mels)``.

The train split is augmented when it is loaded for training: ``augment_copies`` extra copies of
every clip, each shifted in time by up to ``time_shift_ms`` and, with probability
``background_noise_probability``, mixed with a random stretch of background noise at a random volume up to
``background_noise_volume``. The noise comes from ``background_noise_dir``, else from the
dataset's ``_background_noise_/*.wav`` folder (Google Speech Commands' layout), else it is
synthesised (white and pink noise).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from .. import run_files
from ..errors import ConfigError, DataError
from ..input_limits import InputLimits
from ..task_names import modality_tasks
from ..transforms import Recording, extract_features
from ..transforms.audio import AUDIO_PRESET_SETTINGS, audio_preset
from ..utils.progress import bar_disabled
from .cache import load_cached, save_cached
from .data_config import SECTION, validate_data_config
from .file_dataset import labels_of, prepare_file_dataset, split_cache_key, split_files, write_summary
from .layout import SPLITS
from .modalities import CompileInputs
from .modality_config import check_bool, check_number, config_error, merge_config
from .raw_windows import window_geometry
from .timeseries_dataset import DatasetInfo, SplitData, model_input_kwargs, read_dataset_info
from .wav_files import WAV_SUFFIXES, fit_length, load_clip, read_wav, resample

MODALITY = "audio"
NOISE_FOLDER = "_background_noise_"

AUDIO_CONFIG_DEFAULTS: dict[str, Any] = {
    "feature_extraction_name": None,
    "sampling_rate": 16000,
    "audio_duration_ms": 1000,
    "features": "mfcc",
    "n_mels": 40,
    "n_mfcc": 10,
    "frame_length_ms": 30,
    "frame_step_ms": 20,
    "mel_low_hz": 20.0,
    "mel_high_hz": None,
    "standardize": True,
    "augment_copies": 2,
    "time_shift_ms": 100,
    "background_noise_volume": 0.1,
    "background_noise_probability": 0.8,
    "background_noise_dir": None,
}
AUDIO_CONFIG_HELP: dict[str, str] = {
    "feature_extraction_name": "an audio preset (GoogleSpeechCommands_MFCC_Default, "
    "Audio16kHz_LogMel_40Feature_49Frame); keys you write win over it",
    "sampling_rate": "Hz; every clip is resampled to it (scipy.signal.resample_poly)",
    "audio_duration_ms": "every clip is cut or zero-padded at its end to this length",
    "features": "mfcc (MFCCs of the log-mel spectrogram) or log_mel",
    "n_mels": "mel filters of the log-mel spectrogram",
    "n_mfcc": "MFCCs kept per frame (features: mfcc)",
    "frame_length_ms": "length of one analysis frame (its FFT is the next power of two)",
    "frame_step_ms": "hop between frames",
    "mel_low_hz": "lowest frequency of the mel filters",
    "mel_high_hz": "highest frequency of the mel filters (null: sampling_rate / 2)",
    "standardize": "standardise every feature with the mean and std of the train split (on the chip too)",
    "augment_copies": "training: augmented copies of every train clip (0: no augmentation)",
    "time_shift_ms": "training: shift each copy by a random time up to this, both ways",
    "background_noise_volume": "training: the highest volume of the mixed-in background noise (0..1)",
    "background_noise_probability": "training: the probability a copy gets background noise",
    "background_noise_dir": "a folder of noise .wav files (default: the dataset's _background_noise_ folder, "
    "else synthesised white and pink noise)",
}
FRONT_END_KEYS = (
    "features", "sampling_rate", "audio_duration_ms", "frame_length_ms", "frame_step_ms", "n_mels", "n_mfcc",
    "mel_low_hz", "mel_high_hz",
)  # fmt: skip


def validate_audio_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults, then the preset named by ``feature_extraction_name``, then ``config``; checked
    (including that the front end it describes gives at least one frame and no empty mel filter)."""
    cfg = merge_config(config, AUDIO_CONFIG_DEFAULTS, AUDIO_PRESET_SETTINGS, "audio data")
    if cfg["features"] not in ("mfcc", "log_mel"):
        raise config_error("features", f"must be mfcc or log_mel, got {cfg['features']!r}")
    check_number(cfg, "sampling_rate", 1000, 192000, integer=True)
    check_number(cfg, "audio_duration_ms", 1, 60000)
    check_number(cfg, "frame_length_ms", 0.1, 1000)
    check_number(cfg, "frame_step_ms", 0.1, 1000)
    check_number(cfg, "n_mels", 1, 512, integer=True)
    if cfg["features"] == "mfcc":
        check_number(cfg, "n_mfcc", 1, cfg["n_mels"], integer=True)
    for key in ("mel_low_hz", "mel_high_hz"):
        if cfg[key] is not None:
            check_number(cfg, key, 0, cfg["sampling_rate"] / 2)
    check_bool(cfg, "standardize")
    check_number(cfg, "augment_copies", 0, 32, integer=True)
    check_number(cfg, "time_shift_ms", 0, cfg["audio_duration_ms"])
    check_number(cfg, "background_noise_volume", 0, 1)
    check_number(cfg, "background_noise_probability", 0, 1)
    noise = cfg["background_noise_dir"]
    if noise is not None and not isinstance(noise, (str, Path)):
        raise config_error("background_noise_dir", f"must be a folder path or null, got {noise!r}")
    model_input_kwargs(audio_data_config(cfg, validated=True))  # frames and mel filters are possible
    return cfg


def audio_data_config(config: dict[str, Any] | None, validated: bool = False) -> dict[str, Any]:
    """The time-series data config of the audio front end (one clip = one recording of one
    channel): what ``load_split`` extracts and what ``compile_model(data_config=...)`` turns into C."""
    cfg = config if validated else validate_audio_config(config)
    extra = ("STANDARDIZE",) if cfg["standardize"] else ()
    return validate_data_config(audio_preset(**{k: cfg[k] for k in FRONT_END_KEYS}, extra_steps=extra))


def clip_samples(cfg: dict[str, Any]) -> int:
    """Samples of one clip at ``sampling_rate``."""
    return int(round(cfg["sampling_rate"] * cfg["audio_duration_ms"] / 1000))


def audio_input_kwargs(
    config: dict[str, Any] | None, dataset_dir: str | Path | None = None
) -> dict[str, Any]:
    """``dict(input_features=(frames, features), variables=1)``: the model input of this config."""
    return model_input_kwargs(audio_data_config(config))


def prepare_audio_dataset(
    input_data_path: str | Path,
    output_dir: str | Path,
    task: str = "classification",
    *,
    split_type: str = "amongst_files",
    split_factor=(0.6, 0.2, 0.2),
    seed: int = 42,
    config: dict[str, Any] | None = None,
    plots: bool = True,
    limits: InputLimits | None = None,
) -> DatasetInfo:
    """Check (every WAV reads), split and summarise a keyword-spotting dataset into ``output_dir``.

    Writes the split lists, ``dataset_info.yaml`` (``modality: audio``), ``dataset_summary.yaml``
    (files per class and split, sampling rates and lengths found, clips padded or cut) and with
    ``plots`` ``class_counts.png``, ``examples.png`` (features) and ``feature_pca.png``.
    """
    if task not in modality_tasks("audio"):
        raise ConfigError(
            f"audio data supports the task {' or '.join(modality_tasks('audio'))} (keyword spotting), not {task!r}"
        )
    cfg = validate_audio_config(config)
    n = clip_samples(cfg)

    def finish(info: DatasetInfo, details: dict[str, dict[str, Any]]) -> None:
        seconds = [d["seconds"] for d in details.values()]
        want = cfg["audio_duration_ms"] / 1000
        splits = {
            s: load_audio_split(output_dir, s, task, cfg, training=False) for s in SPLITS if info.splits[s]
        }
        extra = {
            "modality": MODALITY,
            "sampling_rates_found": sorted({d["rate"] for d in details.values()}),
            "clip_seconds": {"shortest": min(seconds), "longest": max(seconds)},
            "clips_padded": sum(s < want - 1e-6 for s in seconds),
            "clips_cut": sum(s > want + 1e-6 for s in seconds),
            "background_noise": _noise_source(info.root, cfg),
            "input_shape": list(splits["train"].X.shape[1:]),
        }
        write_summary(info, extra)
        if plots:
            from .file_report import example_files, plot_file_dataset

            train = splits["train"]
            examples = {f: train.X[train.files.index(f)] for f in example_files(info, per_class=4)}
            plot_file_dataset(info, splits, examples, features=True, what=f"{cfg['features']} features")

    info = prepare_file_dataset(
        input_data_path, output_dir, modality=MODALITY, suffixes=WAV_SUFFIXES,
        check=lambda p: load_clip(p, cfg["sampling_rate"], n)[1], split_type=split_type,
        split_factor=split_factor, seed=seed, limits=limits, finish=finish,
    )  # fmt: skip
    return info


# -- augmentation -----------------------------------------------------------------------------------
def _noise_files(root: Path, cfg: dict[str, Any]) -> list[Path]:
    """``background_noise_dir``'s WAV files, else those of ``_background_noise_`` beside the class
    folders (or beside ``classes/``)."""
    if cfg["background_noise_dir"]:
        folder = Path(cfg["background_noise_dir"])
        if not folder.is_dir():
            raise ConfigError(
                f"{SECTION}.background_noise_dir: {folder} is not a folder; give a folder of noise .wav files or null"
            )
    else:
        folder = next(
            (d for d in (root / NOISE_FOLDER, root.parent / NOISE_FOLDER) if d.is_dir()), root / NOISE_FOLDER
        )
    return sorted(p for p in folder.glob("*.wav") if p.is_file()) if folder.is_dir() else []


def _noise_source(root: Path, cfg: dict[str, Any]) -> str:
    files = _noise_files(root, cfg)
    return f"{len(files)} file(s) in {files[0].parent}" if files else "synthesised (white and pink noise)"


def synthetic_noise(rng: np.random.Generator, num_samples: int) -> list[np.ndarray]:
    """A white and a pink (1/f power) noise of ``num_samples``, peak 1."""
    white = rng.standard_normal(num_samples)
    spectrum = np.fft.rfft(rng.standard_normal(num_samples))
    spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))
    spectrum[0] = 0
    pink = np.fft.irfft(spectrum, num_samples)
    return [(v / np.max(np.abs(v))).astype(np.float32) for v in (white, pink)]


def background_noises(root: Path, cfg: dict[str, Any], seed: int) -> list[np.ndarray]:
    """The noise signals at ``sampling_rate`` (at least one clip long, repeated when shorter)."""
    n, sr = clip_samples(cfg), cfg["sampling_rate"]
    out = []
    for path in _noise_files(root, cfg):
        wav = read_wav(path, max_seconds=600)
        x = resample(wav.samples, wav.rate, sr)
        out.append(np.tile(x, -(-n // len(x))) if len(x) < n else x)
    return out or synthetic_noise(np.random.default_rng(seed), 4 * n)


def augment_clip(
    rng: np.random.Generator, clip: np.ndarray, noises: list[np.ndarray], cfg: dict[str, Any]
) -> np.ndarray:
    """``clip`` shifted by a random time (zeros fill in) and maybe mixed with a random stretch of noise."""
    n = len(clip)
    limit = int(round(cfg["time_shift_ms"] * cfg["sampling_rate"] / 1000))
    shift = int(rng.integers(-limit, limit + 1)) if limit else 0
    out = np.zeros(n, np.float32)
    if shift >= 0:
        out[shift:] = clip[: n - shift]
    else:
        out[:shift] = clip[-shift:]
    if noises and rng.random() < cfg["background_noise_probability"]:
        noise = noises[int(rng.integers(len(noises)))]
        start = int(rng.integers(0, len(noise) - n + 1))
        out = out + np.float32(rng.uniform(0, cfg["background_noise_volume"])) * noise[start : start + n]
    return np.clip(out, -1.0, 1.0).astype(np.float32)


# -- loading ----------------------------------------------------------------------------------------
def read_clips(info: DatasetInfo, files: list[str], cfg: dict[str, Any], what: str = "") -> np.ndarray:
    """``(N, samples)`` float32 clips of ``files`` at ``sampling_rate``."""
    n = clip_samples(cfg)
    bar = tqdm(
        files,
        desc=f"reading {what} clips".replace("  ", " "),
        unit="clip",
        leave=False,
        disable=bar_disabled(),
    )
    return np.stack([load_clip(info.root / f, cfg["sampling_rate"], n)[0] for f in bar])


def load_audio_split(
    dataset_dir: str | Path,
    split: str,
    task: str = "classification",
    config: dict[str, Any] | None = None,
    *,
    cache_dir: str | Path | None = None,
    training: bool | None = None,
    seed: int = 0,
) -> SplitData:
    """Split ``split`` as the front end's features ``X (N, 1, frames, F)`` and class indices ``y``.

    ``training`` (default: ``split == "train"``) adds ``augment_copies`` augmented copies of every
    clip (``file_ids`` says which clip each row comes from), seeded by ``seed``. STANDARDIZE's
    statistics are fitted on the un-augmented train split and reused for every split. Cached in
    ``cache_dir`` (default ``<dataset_dir>/cache``).
    """
    cfg = validate_audio_config(config)
    dcfg = audio_data_config(cfg, validated=True)
    info, files = split_files(dataset_dir, split, MODALITY)
    cache_dir = Path(dataset_dir) / run_files.CACHE_DIR if cache_dir is None else Path(cache_dir)
    training = (split == "train" if training is None else training) and cfg["augment_copies"] > 0
    fit = split == "train" and not training
    train_stats: dict[str, Any] = {}
    if not fit:
        train_stats = load_audio_split(
            dataset_dir, "train", task, cfg, cache_dir=cache_dir, training=False
        ).stats
    settings = {
        "modality": MODALITY, "split": split, "cfg": {k: str(v) for k, v in cfg.items()}, "training": training,
        "seed": seed if training else None, "stats": {k: np.asarray(v).tolist() for k, v in train_stats.items()},
    }  # fmt: skip
    key = split_cache_key(info, files, settings)
    hit = load_cached(cache_dir, key)
    if hit is not None:
        arrays, meta = hit
        stats = {k: np.asarray(v, np.float32) for k, v in meta["stats"].items()}
        return SplitData(arrays["X"], arrays["y"], arrays["file_ids"], files, info.class_names, stats, task)
    clips = read_clips(info, files, cfg, split)
    labels = labels_of(info, files)
    recs = [Recording(c[:, None], label=int(y)) for c, y in zip(clips, labels)]
    if training:
        rng = np.random.default_rng(seed)
        noises = background_noises(info.root, cfg, seed)
        for _ in range(cfg["augment_copies"]):
            recs += [
                Recording(augment_clip(rng, c, noises, cfg)[:, None], label=int(y))
                for c, y in zip(clips, labels)
            ]
    feats = extract_features(recs, dcfg, class_names=info.class_names, fit=fit, stats=train_stats)
    if len(feats.X) != len(recs):
        raise DataError(
            f"{dataset_dir}: the {split} clips gave {len(feats.X)} examples for {len(recs)} clips"
        )
    x, file_ids = feats.X, feats.file_ids % len(files)
    stats = train_stats
    if fit:
        stats = {k: np.asarray(v, np.float32) for k, v in feats.stats.items()}
        stats["feature_mean"] = x.mean(axis=(0, 2, 3)).astype(np.float32)
        stats["feature_std"] = x.std(axis=(0, 2, 3)).astype(np.float32)
    y = labels[file_ids]
    meta = {"stats": {k: np.asarray(v).tolist() for k, v in stats.items()}}
    save_cached(cache_dir, key, {"X": x, "y": y, "file_ids": file_ids}, meta)
    return SplitData(x, y, file_ids, files, info.class_names, stats, task)


def build_audio_augmenter(config: dict[str, Any] | None, seed: int, stats: dict[str, Any]) -> None:
    """None: audio is augmented when the train split is loaded (the front end runs on the waveform)."""
    return None


def audio_compile_inputs(
    dataset_dir: str | Path, config: dict[str, Any] | None, *, split: str = "test"
) -> CompileInputs:
    """What ``compile_model`` needs to build and check the audio front end in C: the clips of
    ``split`` (train when it is empty) as raw windows with their features and labels, two clips
    one after the other as a streamed recording, the front end's data config and statistics."""
    cfg = validate_audio_config(config)
    info = read_dataset_info(dataset_dir)
    split = split if info.splits[split] else "train"
    data = load_audio_split(dataset_dir, split, "classification", cfg, training=False)
    dcfg = audio_data_config(cfg, validated=True)
    span, _ = window_geometry(dcfg)
    clips = read_clips(info, data.files, cfg, split)
    recording = fit_length(np.concatenate(clips[:2]), 2 * clip_samples(cfg))[:, None]
    vectors = {"x": data.X, "y": data.y, "raw": clips[:, :span, None], "recording": recording}
    return CompileInputs(test_vectors=vectors, data_config=dcfg, feature_stats=dict(data.stats))
