"""Image data on disk: reading every supported file kind, the clear errors for bad images, the
dataset stage (layout, split lists, zip, summary, plots, cache), normalisation and augmentation."""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from tinyml_tinyverse.common.datasets.image_dataset import (
    ImageAugmenter,
    build_image_augmenter,
    image_input_kwargs,
    load_image_split,
    prepare_image_dataset,
    validate_image_config,
)
from tinyml_tinyverse.common.datasets.image_files import read_image
from tinyml_tinyverse.common.datasets.image_generators import generate_digits, generate_shapes
from tinyml_tinyverse.common.datasets.modalities import dataset_modality
from tinyml_tinyverse.common.errors import ConfigError, DataError

RGB = {"color_mode": "rgb", "image_height": 32, "image_width": 32}


def test_every_file_kind_reads_as_channels_first_pixels_in_0_1(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)
    for suffix in ("png", "jpg", "bmp"):
        Image.fromarray(rgb).save(tmp_path / f"a.{suffix}")
    np.save(tmp_path / "u8.npy", rgb)
    np.save(tmp_path / "chw.npy", np.moveaxis(rgb, -1, 0))
    np.save(tmp_path / "float.npy", rgb.astype(np.float32) / 255)
    np.save(tmp_path / "u16.npy", rgb[..., 0].astype(np.uint16) * 257)
    for name in ("a.png", "a.jpg", "a.bmp", "u8.npy", "chw.npy", "float.npy", "u16.npy"):
        for mode, channels in (("grayscale", 1), ("rgb", 3)):
            x = read_image(tmp_path / name, 28, 20, mode)
            assert x.shape == (channels, 28, 20) and x.dtype == np.float32, name
            assert 0.0 <= x.min() and x.max() <= 1.0
    # lossless files give the same pixels; grey is the ITU-R 601-2 luma (Pillow's convert("L"))
    png, npy = read_image(tmp_path / "a.png", 40, 30, "rgb"), read_image(tmp_path / "u8.npy", 40, 30, "rgb")
    np.testing.assert_allclose(png, npy, atol=1e-6)
    np.testing.assert_allclose(png, np.moveaxis(rgb, -1, 0) / 255, atol=1e-6)
    grey = read_image(tmp_path / "u8.npy", 40, 30, "grayscale")[0]
    np.testing.assert_allclose(grey, (rgb @ [0.299, 0.587, 0.114]) / 255, atol=1e-5)
    # pad keeps the aspect ratio: a 40 x 30 image in 28 x 28 has black columns on both sides
    padded = read_image(tmp_path / "a.png", 28, 28, "rgb", "pad")
    assert padded[:, :, 0].max() == 0 and padded[:, :, -1].max() == 0 and padded[:, :, 14].max() > 0


def _png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims ``width`` x ``height`` grey pixels (a decompression bomb's
    header: a few hundred bytes that would decode to gigabytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def test_bad_images_are_clear_errors_naming_the_file(tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(np.full((64, 64, 3), 200, np.uint8)).save(good)
    cases = {
        "truncated.png": (good.read_bytes()[:60], "truncated or damaged"),
        "text.png": (b"this is not an image at all\n" * 4, "not an image"),
        "bomb.png": (_png_claiming(30000, 30000), "decompression bomb"),
    }
    for name, (data, words) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(DataError, match=words) as err:
            read_image(tmp_path / name, 28, 28)
        assert name in str(err.value)
    with pytest.raises(DataError, match="max_image_pixels.*decompression bomb"):
        read_image(good, 28, 28, max_pixels=1000)  # 4096 pixels > our limit
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "big_floats.npy", np.full((8, 8), 3.0))
    np.save(tmp_path / "vector.npy", np.zeros(10))
    for name, words in (
        ("objects.npy", "not a readable .npy"),
        ("big_floats.npy", r"\[0, 1\]"),
        ("vector.npy", "shape"),
    ):
        with pytest.raises(DataError, match=words) as err:
            read_image(tmp_path / name, 28, 28)
        assert name in str(err.value)


def test_image_config_defaults_presets_and_errors():
    cfg = validate_image_config({})
    assert image_input_kwargs(cfg) == {"input_features": (28, 28), "variables": 1}
    assert image_input_kwargs(RGB) == {"input_features": (32, 32), "variables": 3}
    mnist = validate_image_config({"feature_extraction_name": "Mnist_Default"})
    assert (mnist["normalize_mean"], mnist["normalize_std"]) == ([0.1307], [0.3081])
    coffee = validate_image_config({"feature_extraction_name": "CoffeeBean_Default", "image_height": 64})
    assert coffee["image_height"] == 64 and coffee["image_width"] == 128 and len(coffee["normalize_std"]) == 3
    bad = [
        ({"image_heigth": 28}, "did you mean 'image_height'"),
        ({"color_mode": "cmyk"}, "color_mode"),
        ({"normalize_std": [0.5, 0.5]}, "one per channel"),
        ({"normalize_std": 0}, "> 0"),
        ({"random_crop_padding": 28}, "random_crop_padding"),
        ({"rotation_degrees": 400}, "rotation_degrees"),
        ({"feature_extraction_name": "Mnist_default"}, "did you mean 'Mnist_Default'"),
    ]
    for config, words in bad:
        with pytest.raises(ConfigError, match=words):
            validate_image_config(config)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    return generate_shapes(tmp_path_factory.mktemp("shapes"), files_per_class=6, seed=3)


def test_prepare_split_load_and_cache(tmp_path, shapes):
    out = tmp_path / "ds"
    info = prepare_image_dataset(shapes, out, config=RGB, seed=1)
    assert dataset_modality(out).name == "vision"
    assert info.class_names == ["circle", "cross", "square", "triangle"]
    counts = {s: len(v) for s, v in info.splits.items()}
    assert counts == {"train": 16, "val": 4, "test": 4}
    lists = {s: (out / "annotations" / f"{s}_list.txt").read_text().split() for s in ("train", "val", "test")}
    assert sorted(sum(lists.values(), [])) == sorted(
        info.splits["train"] + info.splits["val"] + info.splits["test"]
    )
    summary = yaml.safe_load((out / "dataset_summary.yaml").read_text())
    assert summary["image_sizes"]["smallest"] == [32, 32] and summary["input_shape"] == [3, 32, 32]
    for plot in ("class_counts.png", "examples.png", "feature_pca.png"):
        assert (out / plot).stat().st_size > 1000, plot
    train = load_image_split(out, "train", config=RGB)
    test = load_image_split(out, "test", config=RGB)
    assert train.X.shape == (16, 3, 32, 32) and test.X.shape == (4, 3, 32, 32)
    # normalised with the train split's per-channel statistics, for every split
    assert np.allclose(train.X.mean(axis=(0, 2, 3)), 0, atol=1e-4) and np.allclose(
        train.X.std(axis=(0, 2, 3)), 1, atol=1e-3
    )
    assert test.stats["normalize_mean"] == train.stats["normalize_mean"]
    pixels = read_image(info.root / test.files[0], 32, 32, "rgb")
    mean, std = (
        np.reshape(train.stats["normalize_mean"], (3, 1, 1)),
        np.reshape(train.stats["normalize_std"], (3, 1, 1)),
    )
    np.testing.assert_allclose(test.X[0], (pixels - mean) / std, rtol=1e-5, atol=1e-5)
    assert [info.class_names[k] for k in test.y] == [f.split("/")[0] for f in test.files]
    # given statistics win; a second load is a cache hit with the same arrays
    fixed = load_image_split(out, "test", config={**RGB, "normalize_mean": 0.5, "normalize_std": 0.25})
    np.testing.assert_allclose(fixed.X[0], (pixels - 0.5) / 0.25, rtol=1e-5, atol=1e-5)
    again = load_image_split(out, "test", config=RGB)
    np.testing.assert_array_equal(again.X, test.X)


def test_zip_input_shipped_lists_and_layout_errors(tmp_path, shapes):
    archive = tmp_path / "shapes.zip"
    files = sorted(f.relative_to(shapes / "classes").as_posix() for f in (shapes / "classes").rglob("*.png"))
    test = ["circle/circle_0000.png", "cross/cross_0000.png"]
    with zipfile.ZipFile(archive, "w") as z:
        for f in files:
            z.write(shapes / "classes" / f, f"mydata/classes/{f}")
        z.writestr("mydata/annotations/train_list.txt", "".join(f"{f}\n" for f in files if f not in test))
        z.writestr("mydata/annotations/test_list.txt", "".join(f"{f}\n" for f in test))
    info = prepare_image_dataset(archive, tmp_path / "ds", config=RGB)
    assert info.splits["test"] == test  # the shipped lists win; val is carved out of train
    # a bad image is named before anything else is written
    bad = tmp_path / "bad"
    for label in ("a", "b"):
        for i in range(3):
            (bad / "classes" / label).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.zeros((8, 8), np.uint8)).save(bad / "classes" / label / f"{i}.png")
    (bad / "classes" / "b" / "2.png").write_bytes(b"GIF89a not really")
    with pytest.raises(DataError, match=r"b/2\.png: not an image"):
        prepare_image_dataset(bad, tmp_path / "ds_bad")
    assert not (tmp_path / "ds_bad" / "dataset_info.yaml").exists()
    only_text = tmp_path / "text"
    for label in ("a", "b"):
        (only_text / "classes" / label).mkdir(parents=True)
        (only_text / "classes" / label / "x.csv").write_text("1,2\n")
    with pytest.raises(DataError, match="holds no .png/.jpg"):
        prepare_image_dataset(only_text, tmp_path / "ds_text")
    with pytest.raises(ConfigError, match="inside.*your data folder"):
        prepare_image_dataset(shapes, shapes / "classes" / "out")
    with pytest.raises(DataError, match="not a single file"):
        prepare_image_dataset(shapes / "classes" / "circle" / "circle_0000.png", tmp_path / "one")
    with pytest.raises(ConfigError, match="amongst_files"):
        prepare_image_dataset(shapes, tmp_path / "w", split_type="within_files")
    with pytest.raises(ConfigError, match="prepared as vision data, not audio"):
        from tinyml_tinyverse.common.datasets.audio_dataset import load_audio_split

        load_audio_split(tmp_path / "ds", "train")


def test_augmentation_changes_training_batches_only_and_is_seeded(tmp_path):
    digits = generate_digits(tmp_path / "digits", files_per_class=3)
    prepare_image_dataset(digits, tmp_path / "ds", plots=False)
    train = load_image_split(tmp_path / "ds", "train")
    assert build_image_augmenter({}, 0, train.stats) is None  # nothing asked, nothing done
    cfg = {"random_crop_padding": 3, "horizontal_flip": True, "rotation_degrees": 15, "brightness": 0.3}
    a, b = build_image_augmenter(cfg, 7, train.stats), build_image_augmenter(cfg, 7, train.stats)
    x = train.X[:8].copy()
    out = a(x)
    assert out.shape == x.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out, b(x))  # same seed, same batch, same result
    np.testing.assert_array_equal(x, train.X[:8])  # the input is untouched
    assert not np.allclose(out, x) and not np.allclose(a(x), out)  # new randomness each call
    # in pixel space the result stays in [0, 1]
    mean, std = train.stats["normalize_mean"][0], train.stats["normalize_std"][0]
    pixels = out * std + mean
    assert pixels.min() >= -1e-5 and pixels.max() <= 1 + 1e-5
    flip = ImageAugmenter(validate_image_config({"horizontal_flip": True}), train.stats, 0)
    flip.rng = np.random.default_rng(0)
    flipped = flip(x)
    mirrored = [np.allclose(f, o[:, :, ::-1], atol=1e-5) for f, o in zip(flipped, x)]
    unchanged = [np.allclose(f, o, atol=1e-5) for f, o in zip(flipped, x)]
    assert all(m or u for m, u in zip(mirrored, unchanged)) and any(mirrored) and any(unchanged)
