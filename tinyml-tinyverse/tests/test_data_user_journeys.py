"""Regressions found by walking the data user journeys (QA pass): small and fast."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tinyml_tinyverse.common.datasets import report
from tinyml_tinyverse.common.datasets.data_config import validate_data_config
from tinyml_tinyverse.common.datasets.timeseries_dataset import DatasetInfo


def _capture(monkeypatch) -> list:
    figures: list = []
    monkeypatch.setattr(report, "_save", lambda fig, path: figures.append(fig))
    return figures


def test_dataset_plots_name_variables_and_targets(tmp_path, monkeypatch):
    """recordings_per_class.png says which colour is which column; a regression dataset's plots
    say 'per split' (no classes) and name the target column on the PCA colour bar."""
    files = tmp_path / "files"
    files.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        np.savetxt(
            files / f"m{i}.csv", rng.normal(size=(64, 3)), delimiter=",", header="ia,ib,torque", comments=""
        )
    info = DatasetInfo(
        root=files,
        task="regression",
        class_names=[],
        splits={"train": ["m0.csv"], "val": ["m1.csv"], "test": []},
        num_variables=2,
        input_columns=["ia", "ib"],
        target_columns=["torque"],
    )
    figures = _capture(monkeypatch)
    cfg = validate_data_config({"frame_size": 16, "target_columns": ["torque"]})
    report.plot_recordings(info, cfg, Path("r.png"))
    (legend,) = figures[-1].legends
    assert [t.get_text() for t in legend.get_texts()] == ["ia", "ib"]

    report.plot_counts({"train": {"all": 5}, "val": {"all": 2}, "test": {}}, Path("c.png"), by_class=False)
    assert figures[-1].axes[0].get_title() == "Windows per split"

    report.plot_pca(rng.normal(size=(20, 4)), rng.normal(size=20), None, Path("p.png"), colour_label="torque")
    assert any(ax.get_ylabel() == "torque" for ax in figures[-1].axes)  # the colour bar


def test_anomaly_pca_shows_the_anomalies(tmp_path, monkeypatch):
    """Anomaly detection trains on Normal only: feature_pca.png plots every split so anomalies appear."""
    from tinyml_tinyverse.common.datasets import prepare_dataset

    rng = np.random.default_rng(0)
    for label, n in (("Normal", 4), ("Anomaly", 2)):
        folder = tmp_path / "data" / "classes" / label
        folder.mkdir(parents=True)
        for i in range(n):
            np.save(folder / f"r{i}.npy", rng.normal(size=(64, 2)) * (3 if label == "Anomaly" else 1))
    figures = _capture(monkeypatch)
    prepare_dataset(
        str(tmp_path / "data"), str(tmp_path / "out"), "anomalydetection", data_config={"frame_size": 16}
    )
    (pca,) = [f for f in figures if "(PCA)" in f.axes[0].get_title()]
    assert pca.axes[0].get_title() == "Extracted features of train, val and test (PCA)"
    sizes = {c.get_label(): len(c.get_offsets()) for c in pca.axes[0].collections}
    assert sizes["Normal"] > 0 and sizes["Anomaly"] > 0


def test_single_file_split_error_names_the_file_and_the_key(tmp_path):
    """One regression file with split_type amongst_files: the error names the file (not '.') and
    dataset.split_type; within_files then works."""
    import pytest
    from tinyml_tinyverse.common.datasets import prepare_dataset
    from tinyml_tinyverse.common.errors import DataError

    single = tmp_path / "motor.csv"
    np.savetxt(
        single,
        np.random.default_rng(0).normal(size=(300, 3)),
        delimiter=",",
        header="a,b,torque",
        comments="",
    )
    cfg = {"frame_size": 16}
    with pytest.raises(DataError) as info:
        prepare_dataset(str(single), str(tmp_path / "out"), "regression", data_config=cfg, plots=False)
    assert str(info.value).startswith(f"{single}: 1 recording(s) are too few for a val split")
    assert "dataset.split_type: within_files" in str(info.value)
    info = prepare_dataset(
        str(single),
        str(tmp_path / "out2"),
        "regression",
        split_type="within_files",
        data_config=cfg,
        plots=False,
    )
    assert info.target_columns == ["torque"]


def test_zip_with_one_top_folder_beside_a_readme(tmp_path):
    """mydata.zip holding mydata/classes/... and a README.txt at the top: the folder is found."""
    import zipfile

    from tinyml_tinyverse.common.datasets import prepare_dataset

    archive = tmp_path / "mydata.zip"
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(archive, "w") as z:
        for label in ("a", "b"):
            for i in range(3):
                rows = "\n".join(",".join(f"{v:.3f}" for v in r) for r in rng.normal(size=(32, 2)))
                z.writestr(f"mydata/classes/{label}/r{i}.csv", "x,y\n" + rows + "\n")
        z.writestr("README.txt", "recorded on the test bench\n")
    info = prepare_dataset(str(archive), str(tmp_path / "out"), "classification", data_config={"frame_size": 16},
                           plots=False)  # fmt: skip
    assert info.class_names == ["a", "b"] and info.input_columns == ["x", "y"]


def test_many_classes_stay_readable(monkeypatch):
    """12 classes: the counts figure widens, and no two classes share a PCA colour."""
    figures = _capture(monkeypatch)
    names = [f"fault_condition_{k:02d}" for k in range(12)]
    report.plot_counts({s: dict.fromkeys(names, 4) for s in ("train", "val", "test")}, Path("c.png"))
    assert figures[-1].get_size_inches()[0] > 7
    labels = np.arange(12).repeat(3)
    report.plot_pca(np.random.default_rng(0).normal(size=(36, 5)), labels, names, Path("p.png"))
    colours = {tuple(c.get_facecolor()[0][:3]) for c in figures[-1].axes[0].collections}
    assert len(colours) == 12


def test_anomaly_files_reach_val_and_test(caplog, tmp_path):
    """Two anomaly folders of one file each: one goes to val, one to test (both went to val, leaving
    the test metrics undefined); a single anomaly file gets a warning."""
    from tinyml_tinyverse.common.datasets.splitting import auto_split

    files = [f"Normal/n{i}.csv" for i in range(6)] + ["bearing/b0.csv", "imbalance/i0.csv"]
    out = auto_split(files, (0.6, 0.2, 0.2), 42, "anomalydetection")
    for s in ("val", "test"):
        assert [f for f in out[s] if not f.startswith("Normal/")], out
    assert all(f.startswith("Normal/") for f in out["train"])
    from tinyml_tinyverse.common.datasets import prepare_dataset

    root = tmp_path / "ad"
    rng = np.random.default_rng(0)
    for label, n in (("Normal", 4), ("Anomaly", 1)):
        (root / "classes" / label).mkdir(parents=True)
        for i in range(n):
            np.save(root / "classes" / label / f"r{i}.npy", rng.normal(size=(32, 1)))
    with caplog.at_level("WARNING"):
        prepare_dataset(
            str(root), str(tmp_path / "out"), "anomalydetection", data_config={"frame_size": 16}, plots=False
        )
    assert "the test split holds no anomaly recording" in caplog.text


def test_augmentation_is_checked_with_the_data_config(tmp_path):
    """A misspelt augmenter or a missing augmentation file is a config error up front, naming the key."""
    import pytest
    from tinyml_tinyverse.common.errors import ConfigError

    for bad, text in (
        ({"add_nois": {}}, "did you mean 'add_noise'"),
        (str(tmp_path / "no.yaml"), "does not exist"),
    ):
        with pytest.raises(ConfigError) as info:
            validate_data_config({"augmentation": bad})
        assert str(info.value).startswith("data_processing_feature_extraction.augmentation: ")
        assert text in str(info.value)
    assert validate_data_config({"augmentation": {"add_noise": {"scale": 0.1}}})["augmentation"]


def test_pandas_index_column_is_not_an_input(tmp_path):
    """A CSV written by DataFrame.to_csv() starts with an unnamed row-index column: it is dropped
    (it was read as an input variable, a ramp 0..N)."""
    from tinyml_tinyverse.common.datasets import prepare_dataset

    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        folder = tmp_path / "data" / "classes" / label
        folder.mkdir(parents=True)
        for i, header in enumerate((",Time,x,y", "Unnamed: 0,Time,x,y", ",Time,x,y")):
            rows = [
                f"{k},{k * 0.001:.3f},{v[0]:.3f},{v[1]:.3f}" for k, v in enumerate(rng.normal(size=(32, 2)))
            ]
            (folder / f"r{i}.csv").write_text("\n".join([header, *rows]) + "\n")
    info = prepare_dataset(
        str(tmp_path / "data"),
        str(tmp_path / "out"),
        "classification",
        data_config={"frame_size": 16},
        plots=False,
    )
    assert info.input_columns == ["x", "y"] and info.num_variables == 2


def test_files_with_swapped_columns_are_an_error_unless_named(tmp_path):
    """Same column count, other order: read by position this swapped the variables silently."""
    import pytest
    from tinyml_tinyverse.common.datasets import prepare_dataset
    from tinyml_tinyverse.common.errors import DataError

    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        folder = tmp_path / "data" / "classes" / label
        folder.mkdir(parents=True)
        for i in range(3):
            header = "y,x" if (label, i) == ("b", 2) else "x,y"
            np.savetxt(
                folder / f"r{i}.csv", rng.normal(size=(32, 2)), delimiter=",", header=header, comments=""
            )
    with pytest.raises(DataError, match=r"b/r2.csv: its input columns are \['y', 'x'\] but those of"):
        prepare_dataset(str(tmp_path / "data"), str(tmp_path / "o1"), "classification",
                        data_config={"frame_size": 16}, plots=False)  # fmt: skip
    info = prepare_dataset(str(tmp_path / "data"), str(tmp_path / "o2"), "classification",
                           data_config={"frame_size": 16, "variables": ["x", "y"]}, plots=False)  # fmt: skip
    assert info.input_columns == ["x", "y"]
