"""Recordings of one length (at most 8 default frames): one window per recording, inferred from the data
when the config leaves frame_size to it (UCR-style series); everything else keeps its behaviour."""

from __future__ import annotations

import numpy as np
import pytest
from tinyml_tinyverse.common.datasets import (
    DATA_CONFIG_DEFAULTS,
    load_split,
    model_input_kwargs,
    prepare_dataset,
    read_dataset_info,
    validate_data_config,
)
from tinyml_tinyverse.common.datasets.data_derived import (
    frame_size_is_auto,
    infer_frame_size,
    needs_normalize,
)
from tinyml_tinyverse.common.errors import DataError


def write_classes(root, lengths_by_class: dict[str, list[int]], channels: int = 1, seed: int = 0):
    rng = np.random.default_rng(seed)
    for label, lengths in lengths_by_class.items():
        folder = root / "classes" / label
        folder.mkdir(parents=True)
        for i, n in enumerate(lengths):
            x = rng.normal(size=(n, channels)) + (3.0 if label == "b" else 0.0)
            np.savetxt(
                folder / f"rec{i}.csv", x, delimiter=",", header=",".join(f"c{j}" for j in range(channels))
            )
    return root


def test_fixed_length_series_get_one_window_each(tmp_path):
    data = write_classes(tmp_path / "data", {"a": [24] * 5, "b": [24] * 5}, channels=2)
    info = prepare_dataset(data, tmp_path / "ds", "classification", plots=False)
    assert info.inferred == {"frame_size": 24} == read_dataset_info(tmp_path / "ds").inferred
    for split in ("train", "val", "test"):
        part = load_split(tmp_path / "ds", split, "classification", {})
        assert part.X.shape[1:] == (2, 24, 1) and len(part.X) == len(info.splits[split])
    assert model_input_kwargs({}, tmp_path / "ds") == {"input_features": 24, "variables": 2}
    assert model_input_kwargs({"frame_size": None}, tmp_path / "ds")["input_features"] == 24
    assert (
        model_input_kwargs({"variables": 2})["input_features"] == DATA_CONFIG_DEFAULTS["frame_size"]
    )  # no data


def test_a_given_frame_size_or_preset_wins_and_keeps_the_error(tmp_path):
    data = write_classes(tmp_path / "data", {"a": [24] * 4, "b": [24] * 4})
    with pytest.raises(DataError, match="all 8 recordings are too short.*frame_size=256"):
        prepare_dataset(
            data, tmp_path / "ds1", "classification", data_config={"frame_size": 256}, plots=False
        )
    with pytest.raises(DataError, match="too short"):
        preset = {"feature_extraction_name": "Generic_256Input_FFTBIN_16Feature_8Frame"}
        prepare_dataset(data, tmp_path / "ds2", "classification", data_config=preset, plots=False)
    info = prepare_dataset(
        data, tmp_path / "ds3", "classification", data_config={"frame_size": 12}, plots=False
    )
    assert info.inferred == {}  # the user's frame size: two windows per series
    assert len(load_split(tmp_path / "ds3", "train", "classification", {"frame_size": 12}).X) == 2 * len(
        info.splits["train"]
    )
    # the inferred size does not override a frame size given later either
    prepare_dataset(data, tmp_path / "ds4", "classification", plots=False)
    assert load_split(tmp_path / "ds4", "train", "classification", {"frame_size": 8}).X.shape[2] == 8


def test_varying_lengths_and_forecasting_are_not_guessed(tmp_path):
    data = write_classes(tmp_path / "data", {"a": [20, 24, 24], "b": [24, 22, 24]})
    with pytest.raises(DataError, match="too short"):
        prepare_dataset(data, tmp_path / "ds", "classification", plots=False)
    cfg = validate_data_config({})
    assert infer_frame_size([24, 24], "forecasting", cfg) is None  # a window must leave room for the horizon
    assert infer_frame_size([24, 24], "regression", cfg) == 24
    assert infer_frame_size([427, 427], "classification", cfg) == 427  # an example, not a stream: whole
    assert infer_frame_size([4096, 4096], "classification", cfg) is None  # a stream: 256-sample windows
    concat = validate_data_config({"feat_ext_transform": ["RAW_FE", "CONCAT"], "num_frame_concat": 2})
    assert infer_frame_size([24], "classification", concat) is None


def test_auto_means_no_frame_size_from_the_user_or_the_preset():
    assert frame_size_is_auto({}) and frame_size_is_auto({"frame_size": None}) and frame_size_is_auto(None)
    assert not frame_size_is_auto({"frame_size": 64})
    assert not frame_size_is_auto({"feature_extraction_name": "Generic_256Input_FFTBIN_16Feature_8Frame"})
    # null is the default, and a preset's frame size stays when the user writes null
    assert validate_data_config({"frame_size": None})["frame_size"] == DATA_CONFIG_DEFAULTS["frame_size"]
    preset = {"feature_extraction_name": "Generic_128Input_RAW_128Feature_1Frame", "frame_size": None}
    assert validate_data_config(preset)["frame_size"] == 128


def test_channels_of_very_different_ranges_are_standardised(tmp_path):
    """One int8 input scale for a score near 0.5 and a volume in thousands leaves the score no levels:
    the data sets feat_ext_transform [STANDARDIZE] (per channel, train statistics) when the user set none."""
    rng = np.random.default_rng(3)
    for label, shift in (("a", 0.0), ("b", 0.1)):
        folder = tmp_path / "data" / "classes" / label
        folder.mkdir(parents=True)
        for i in range(4):
            x = np.column_stack([0.5 + shift + 0.05 * rng.normal(size=30), 5000 + 2000 * rng.normal(size=30)])
            np.savetxt(folder / f"r{i}.csv", x, delimiter=",", header="score,volume")
    info = prepare_dataset(tmp_path / "data", tmp_path / "ds", "classification", plots=False)
    assert info.inferred == {"frame_size": 30, "feat_ext_transform": ["STANDARDIZE"]}
    train = load_split(tmp_path / "ds", "train", "classification", {})
    assert np.allclose(train.X.std(axis=(0, 2, 3)), 1.0, atol=0.05)  # both channels standardised
    assert "standardize_mean" in train.stats  # written into user_input_config.h for the C front end
    raw = load_split(tmp_path / "ds", "train", "classification", {"feat_ext_transform": ["RAW_FE"]})
    assert raw.X[:, 1].std() > 1000  # a feat_ext_transform the user gives wins
    assert not needs_normalize(np.array([-1.0]), np.array([1.0]))  # one channel: one scale fits it
    assert not needs_normalize(np.array([-1.0, -3.0]), np.array([1.0, 2.0]))  # comparable ranges
