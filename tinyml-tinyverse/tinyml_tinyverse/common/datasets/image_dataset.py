"""Image classification data: the image config, dataset preparation, split loading, augmentation.

``classes/<class_name>/*.{png,jpg,jpeg,bmp,npy}`` (the split, list-file and zip rules of time
series, :mod:`.file_dataset`). Every image is read with Pillow (``.npy`` with numpy), turned to
grayscale or RGB, resized to ``image_height`` x ``image_width`` (stretched, or fitted and padded
with black) and normalised per channel, ``(pixel - mean) / std`` with pixels in [0, 1]; mean and
std are the config's or, when unset, fitted on the train split. Training batches are augmented
(random crop, flips, small rotation, brightness) by :class:`ImageAugmenter`, never the val / test
splits. ``X`` is ``(N, C, H, W)`` float32, C = 1 (grayscale) or 3 (rgb).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage
from tqdm import tqdm

from .. import run_files
from ..errors import ConfigError
from ..input_limits import InputLimits
from ..task_names import modality_tasks
from ..utils.progress import bar_disabled
from .cache import load_cached, save_cached
from .file_dataset import labels_of, prepare_file_dataset, split_cache_key, split_files, write_summary
from .image_files import COLOR_MODES, DEFAULT_MAX_IMAGE_PIXELS, IMAGE_SUFFIXES, load_image, read_image
from .layout import SPLITS
from .modalities import CompileInputs
from .modality_config import check_bool, check_number, config_error, merge_config
from .timeseries_dataset import DatasetInfo, SplitData, read_dataset_info

MODALITY = "vision"

IMAGE_CONFIG_DEFAULTS: dict[str, Any] = {
    "feature_extraction_name": None,
    "image_height": 28,
    "image_width": 28,
    "color_mode": "grayscale",
    "resize_mode": "stretch",
    "normalize_mean": None,
    "normalize_std": None,
    "max_image_pixels": DEFAULT_MAX_IMAGE_PIXELS,
    "random_crop_padding": 0,
    "horizontal_flip": False,
    "vertical_flip": False,
    "rotation_degrees": 0.0,
    "brightness": 0.0,
}
IMAGE_CONFIG_HELP: dict[str, str] = {
    "feature_extraction_name": "an image preset (Mnist_Default, MachineReadable_Default, CoffeeBean_Default); "
    "keys you write win over it",
    "image_height": "rows of the model input; every image is resized to it",
    "image_width": "columns of the model input",
    "color_mode": "grayscale (1 channel) or rgb (3 channels)",
    "resize_mode": "stretch (to height x width) or pad (keep the aspect ratio, pad with black)",
    "normalize_mean": "per channel mean subtracted from pixels in [0, 1] (a number or one per channel); "
    "null: fitted on the train split",
    "normalize_std": "per channel std the pixels are divided by; null: fitted on the train split",
    "max_image_pixels": "larger images are refused as possible decompression bombs (Pillow's limit by default)",
    "random_crop_padding": "training: pad by this many black pixels, then crop back at a random place (0: off)",
    "horizontal_flip": "training: mirror left-right with probability 0.5",
    "vertical_flip": "training: mirror top-bottom with probability 0.5",
    "rotation_degrees": "training: rotate by a random angle in [-d, d] degrees (0: off)",
    "brightness": "training: multiply the pixels by a random factor in [1 - b, 1 + b] (0: off)",
}
# Tiny ML Tensorlab's vision presets, with its meaning
IMAGE_PRESETS: dict[str, dict[str, Any]] = {
    "Mnist_Default": dict(
        color_mode="grayscale", image_height=28, image_width=28, normalize_mean=0.1307, normalize_std=0.3081
    ),
    "MachineReadable_Default": dict(
        color_mode="grayscale", image_height=28, image_width=28, normalize_mean=0.5, normalize_std=0.5
    ),
    "CoffeeBean_Default": dict(
        color_mode="rgb", image_height=128, image_width=128,
        normalize_mean=[0.485, 0.456, 0.406], normalize_std=[0.229, 0.224, 0.225],
    ),
}  # fmt: skip


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _per_channel(cfg: dict, key: str, channels: int, positive: bool) -> list[float] | None:
    v = cfg[key]
    if v is None:
        return None
    values = [v] * channels if _is_number(v) else v
    if not isinstance(values, (list, tuple)) or len(values) != channels or not all(map(_is_number, values)):
        raise config_error(
            key, f"must be a number or a list of {channels} numbers (one per channel), got {v!r}"
        )
    if positive and min(values) <= 0:
        raise config_error(key, f"must be > 0, got {v!r}")
    return [float(x) for x in values]


def validate_image_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults, then the preset named by ``feature_extraction_name``, then ``config``; checked."""
    cfg = merge_config(config, IMAGE_CONFIG_DEFAULTS, IMAGE_PRESETS, "image data")
    for key in ("image_height", "image_width"):
        check_number(cfg, key, 4, 4096, integer=True)
    if cfg["color_mode"] not in COLOR_MODES:
        raise config_error(
            "color_mode", f"must be one of {', '.join(COLOR_MODES)}, got {cfg['color_mode']!r}"
        )
    if cfg["resize_mode"] not in ("stretch", "pad"):
        raise config_error("resize_mode", f"must be stretch or pad, got {cfg['resize_mode']!r}")
    channels = COLOR_MODES[cfg["color_mode"]]
    cfg["normalize_mean"] = _per_channel(cfg, "normalize_mean", channels, positive=False)
    cfg["normalize_std"] = _per_channel(cfg, "normalize_std", channels, positive=True)
    check_number(cfg, "max_image_pixels", 16, 1 << 40, integer=True)
    check_number(
        cfg, "random_crop_padding", 0, min(cfg["image_height"], cfg["image_width"]) - 1, integer=True
    )
    for key in ("horizontal_flip", "vertical_flip"):
        check_bool(cfg, key)
    check_number(cfg, "rotation_degrees", 0, 180)
    check_number(cfg, "brightness", 0, 0.99)
    return cfg


def channels_of(cfg: dict[str, Any]) -> int:
    return COLOR_MODES[cfg["color_mode"]]


def image_input_kwargs(
    config: dict[str, Any] | None, dataset_dir: str | Path | None = None
) -> dict[str, Any]:
    """``dict(input_features=(H, W), variables=C)``: the model input of this image config."""
    cfg = validate_image_config(config)
    return {"input_features": (cfg["image_height"], cfg["image_width"]), "variables": channels_of(cfg)}


def _read(path: Path, cfg: dict[str, Any]) -> np.ndarray:
    return read_image(
        path,
        cfg["image_height"],
        cfg["image_width"],
        cfg["color_mode"],
        cfg["resize_mode"],
        cfg["max_image_pixels"],
    )


def prepare_image_dataset(
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
    """Check (every image decodes), split and summarise an image dataset into ``output_dir``.

    Writes the split lists, ``dataset_info.yaml`` (``modality: vision``), ``dataset_summary.yaml``
    (files per class and split, image sizes) and with ``plots`` ``class_counts.png``,
    ``examples.png`` and ``feature_pca.png``; fills the cache of processed splits.
    """
    if task not in modality_tasks("vision"):
        raise ConfigError(
            f"image data supports the task {' or '.join(modality_tasks('vision'))}, not {task!r}"
        )
    cfg = validate_image_config(config)

    def check(path: Path) -> dict[str, Any]:
        h, w, _ = load_image(path, cfg["color_mode"], cfg["max_image_pixels"]).shape
        return {"height": h, "width": w}

    def finish(info: DatasetInfo, details: dict[str, dict[str, Any]]) -> None:
        sizes = [(d["height"], d["width"]) for d in details.values()]
        splits = {s: load_image_split(output_dir, s, task, cfg) for s in SPLITS if info.splits[s]}
        extra = {
            "modality": MODALITY,
            "image_sizes": {
                "smallest": list(min(sizes)),
                "largest": list(max(sizes)),
                "distinct": len(set(sizes)),
            },
            "input_shape": list(splits["train"].X.shape[1:]),
            "normalize_mean": splits["train"].stats["normalize_mean"],
            "normalize_std": splits["train"].stats["normalize_std"],
        }
        write_summary(info, extra)
        if plots:
            from .file_report import example_files, plot_file_dataset

            plot_file_dataset(info, splits, {f: _read(info.root / f, cfg) for f in example_files(info)})

    info = prepare_file_dataset(
        input_data_path, output_dir, modality=MODALITY, suffixes=IMAGE_SUFFIXES, check=check,
        split_type=split_type, split_factor=split_factor, seed=seed, limits=limits, num_variables=channels_of(cfg),
        finish=finish,
    )  # fmt: skip
    return info


def _fit_normalisation(pixels: np.ndarray, cfg: dict[str, Any]) -> tuple[list[float], list[float]]:
    mean = cfg["normalize_mean"] or pixels.mean(axis=(0, 2, 3), dtype=np.float64).tolist()
    std = cfg["normalize_std"] or np.maximum(pixels.std(axis=(0, 2, 3), dtype=np.float64), 1e-3).tolist()
    return [float(v) for v in mean], [float(v) for v in std]


def _geometry(cfg: dict[str, Any]) -> dict[str, Any]:
    keys = ("image_height", "image_width", "color_mode", "resize_mode", "normalize_mean", "normalize_std")
    return {k: cfg[k] for k in keys}


def load_image_split(
    dataset_dir: str | Path,
    split: str,
    task: str = "classification",
    config: dict[str, Any] | None = None,
    *,
    cache_dir: str | Path | None = None,
    training: bool | None = None,
    seed: int = 0,
) -> SplitData:
    """Split ``split`` of a prepared image dataset as ``X (N, C, H, W)`` normalised pixels and class
    indices ``y``; one example per file (``file_ids = 0 .. N-1``). ``stats`` holds the per channel
    ``normalize_mean`` / ``normalize_std`` (fitted on the train split unless the config gives them)
    and ``feature_mean`` / ``feature_std``. Cached in ``cache_dir`` (default ``<dataset_dir>/cache``).
    ``training`` and ``seed`` are accepted for the common signature: image augmentation runs on the
    training batches (:class:`ImageAugmenter`), not here."""
    cfg = validate_image_config(config)
    info, files = split_files(dataset_dir, split, MODALITY)
    cache_dir = Path(dataset_dir) / run_files.CACHE_DIR if cache_dir is None else Path(cache_dir)
    train_stats = {}
    if split != "train" and (cfg["normalize_mean"] is None or cfg["normalize_std"] is None):
        train_stats = load_image_split(dataset_dir, "train", task, cfg, cache_dir=cache_dir).stats
    settings = {"modality": MODALITY, "split": split, "cfg": _geometry(cfg), "train_stats": train_stats}
    key = split_cache_key(info, files, settings)
    hit = load_cached(cache_dir, key)
    if hit is not None:
        arrays, meta = hit
        return SplitData(
            arrays["X"], arrays["y"], arrays["file_ids"], files, info.class_names, meta["stats"], task
        )
    bar = tqdm(files, desc=f"reading {split} images", unit="image", leave=False, disable=bar_disabled())
    pixels = np.stack([_read(info.root / f, cfg) for f in bar])
    if train_stats:
        mean, std = train_stats["normalize_mean"], train_stats["normalize_std"]
    else:
        mean, std = _fit_normalisation(pixels, cfg)
    shape = (1, len(mean), 1, 1)
    x = ((pixels - np.reshape(mean, shape)) / np.reshape(std, shape)).astype(np.float32)
    stats = train_stats or {
        "normalize_mean": mean,
        "normalize_std": std,
        "feature_mean": x.mean(axis=(0, 2, 3)).tolist(),
        "feature_std": x.std(axis=(0, 2, 3)).tolist(),
    }
    y, file_ids = labels_of(info, files), np.arange(len(files), dtype=np.int64)
    save_cached(cache_dir, key, {"X": x, "y": y, "file_ids": file_ids}, {"stats": stats})
    return SplitData(x, y, file_ids, files, info.class_names, stats, task)


class ImageAugmenter:
    """Random crop (pad with black, crop back), flips, rotation and brightness of a batch of
    normalised images ``(N, C, H, W)``, done on the pixels in [0, 1] (de-normalised, then
    normalised again). Each call draws new randomness from one seeded generator."""

    def __init__(self, cfg: dict[str, Any], stats: dict[str, Any], seed: int):
        self.cfg = cfg
        mean = cfg["normalize_mean"] or stats["normalize_mean"]
        std = cfg["normalize_std"] or stats["normalize_std"]
        self.mean = np.asarray(mean, np.float32).reshape(1, -1, 1, 1)
        self.std = np.asarray(std, np.float32).reshape(1, -1, 1, 1)
        self.rng = np.random.default_rng(seed)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        cfg, rng = self.cfg, self.rng
        p = x * self.std + self.mean
        n, _, h, w = p.shape
        pad = cfg["random_crop_padding"]
        if pad:
            padded = np.pad(p, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
            dy, dx = rng.integers(0, 2 * pad + 1, n), rng.integers(0, 2 * pad + 1, n)
            p = np.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])
        if cfg["horizontal_flip"]:
            flip = rng.random(n) < 0.5
            p[flip] = p[flip, :, :, ::-1]
        if cfg["vertical_flip"]:
            flip = rng.random(n) < 0.5
            p[flip] = p[flip, :, ::-1, :]
        if cfg["rotation_degrees"]:
            angles = rng.uniform(-cfg["rotation_degrees"], cfg["rotation_degrees"], n)
            p = np.stack(
                [ndimage.rotate(p[i], angles[i], axes=(2, 1), reshape=False, order=1) for i in range(n)]
            )
        if cfg["brightness"]:
            b = cfg["brightness"]
            p = p * rng.uniform(1 - b, 1 + b, (n, 1, 1, 1)).astype(np.float32)
        p = np.clip(p, 0.0, 1.0)
        return ((p - self.mean) / self.std).astype(np.float32)

    @property
    def active(self) -> bool:
        c = self.cfg
        return bool(c["random_crop_padding"] or c["horizontal_flip"] or c["vertical_flip"]) or bool(
            c["rotation_degrees"] or c["brightness"]
        )


def build_image_augmenter(
    config: dict[str, Any] | None, seed: int, stats: dict[str, Any]
) -> ImageAugmenter | None:
    """The training augmenter of the image config (None when every augmentation is off)."""
    aug = ImageAugmenter(validate_image_config(config), stats, seed)
    return aug if aug.active else None


def image_compile_inputs(
    dataset_dir: str | Path, config: dict[str, Any] | None, *, split: str = "test"
) -> CompileInputs:
    """Test vectors for ``compile_model``: normalised images of ``split`` (of the train split when
    it is empty) and their labels; the C model takes the normalised pixels (no front end)."""
    info = read_dataset_info(dataset_dir)
    data = load_image_split(dataset_dir, split if info.splits[split] else "train", "classification", config)
    return CompileInputs(test_vectors={"x": data.X, "y": data.y})
