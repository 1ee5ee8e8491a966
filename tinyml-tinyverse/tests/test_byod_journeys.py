"""Bring-your-own-data journeys: recordings as spreadsheets, loggers and zip tools really write them.

Every case is a real file on disk read by the dataset code the modelmaker's dataset stage calls.
"""

from __future__ import annotations

import logging
import zipfile

import numpy as np
import pytest
from tinyml_tinyverse.common.datasets import load_split, prepare_dataset, validate_data_config
from tinyml_tinyverse.common.datasets.readers import is_time_column, read_recording
from tinyml_tinyverse.common.errors import DataError

DATA = np.array([[0.5, -1.25, 3.0], [1.5, 2.0, -0.75], [-2.5, 0.125, 4.0], [3.25, -3.5, 0.0]])
T = np.arange(len(DATA)) / 1000


def _rows(sep=",", decimal=".", quote="", time=True):
    out = []
    for t, row in zip(T, DATA):
        cells = ([f"{t:.3f}"] if time else []) + [f"{v:g}" for v in row]
        out.append(sep.join(f"{quote}{c.replace('.', decimal)}{quote}" for c in cells))
    return out


def _read(path, **cfg):
    return read_recording(path, validate_data_config(cfg), "classification")


EXPORTS = {
    # German Excel: ';' and decimal commas, CRLF, UTF-8 BOM
    "excel_de.csv": (
        b"\xef\xbb\xbf" + "\r\n".join(["Zeit [s];ax;ay;az"] + _rows(";", ",")).encode() + b"\r\n"
    ),
    # LabVIEW / Excel "quote all", a trailing blank and a whitespace-only line
    "quoted.csv": "\n".join(['"Time [s]","ax","ay","az"'] + _rows(",", ".", '"') + ["", "   ", ""]).encode(),
    # a logger's comment lines before the header, and an oscilloscope unit in brackets
    "logger.csv": "\n".join(["# DAQ v1.2", "# fs = 1000 Hz", "Time[ms],ax,ay,az"] + _rows()).encode(),
    # an older Windows tool: cp1252 header with a degree sign, trailing separators
    "cp1252.csv": "\n".join(["time,ax,ay,temp °C,"] + [r + "," for r in _rows()]).encode("cp1252"),
    # Excel "Unicode text": UTF-16 with BOM, tab separated
    "unicode.txt": "\r\n".join(["Time (s)\tax\tay\taz"] + _rows("\t")).encode("utf-16"),
    # a .txt with runs of spaces and decimal commas, no header, no time column
    "spaces.txt": "\n".join(_rows("   ", ",", time=False)).encode(),
}


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_spreadsheet_and_logger_exports_read_the_same_numbers(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(EXPORTS[name])
    got = _read(path)
    np.testing.assert_allclose(
        got.x, DATA.astype(np.float32), err_msg=name
    )  # the time column is not an input
    if name != "spaces.txt":
        assert [got.columns.names[i] for i in got.columns.inputs][:2] == ["ax", "ay"]


def test_time_columns_with_units_but_not_short_variable_names():
    for name in (
        "Time [s]",
        "time[ms]",
        "t [s]",
        "t_ms",
        "Zeit (s)",
        "Time (µs)",
        "timestamp_ms",
        '"time"'[1:-1],
    ):
        assert is_time_column(name), name
    for name in ("temp", "tilt", "tx", "ty", "torq", "temperature", "timer_count", "throttle"):
        assert not is_time_column(name), name


def test_missing_cells_follow_nan_policy_and_name_the_file_line(tmp_path):
    lines = ["# exported by pandas", "time,ax,ay,az", *_rows()]
    lines[3] = "0.001,,2,-0.75"  # the empty cell pandas writes for NaN: file line 4
    lines[4] = "0.002,n/a,0.125,4"
    path = tmp_path / "missing.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        DataError, match=r"missing\.csv: NaN/Inf value at line 4, ax \(2 rows affected\).*nan_policy"
    ):
        _read(path)
    got = _read(path, nan_policy="interpolate")
    np.testing.assert_allclose(got.x[:, 0], [0.5, 0.5 + 2.75 / 3, 0.5 + 5.5 / 3, 3.25], rtol=1e-6)
    assert got.fixed_rows == 2
    assert _read(path, nan_policy="drop").x.shape == (2, 3)


def test_excel_error_cell_and_a_row_longer_than_the_header_name_the_line(tmp_path):
    lines = ["time,ax,ay,az", *_rows()]
    lines[2] = "0.001,1.5,#VALUE!,-0.75"
    (tmp_path / "err.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(
        DataError, match=r"err\.csv: cannot read the numbers: line 3, column 3 \('ay'\): '#VALUE!'"
    ):
        _read(tmp_path / "err.csv")
    lines = ["time,ax,ay,az", *_rows()]
    lines[3] += ",99"  # a value more than the header names: never silently dropped
    (tmp_path / "extra.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(
        DataError, match=r"extra\.csv: cannot read the numbers: line 4 has 5 columns, the header 4"
    ):
        _read(tmp_path / "extra.csv")


def test_binary_file_with_a_csv_name(tmp_path):
    (tmp_path / "rec.csv").write_bytes(b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(64))
    with pytest.raises(DataError, match=r"rec\.csv: is a binary file, not text .*export it as CSV"):
        _read(tmp_path / "rec.csv")


def test_variable_name_typo_suggests_the_column(tmp_path):
    (tmp_path / "r.csv").write_text("\n".join(["time,accel_x,accel_y,accel_z", *_rows()]) + "\n")
    with pytest.raises(DataError, match=r"r\.csv: variables names column 'acel_y'.*did you mean 'accel_y'\?"):
        _read(tmp_path / "r.csv", variables=["accel_x", "acel_y"])


def _signal(n, f, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 1000
    return np.stack([np.sin(2 * np.pi * f * t + k) + 0.05 * rng.standard_normal(n) for k in range(2)], 1)


def _write_messy(path, data, i):
    """Each recording of a different tool: ';' + decimal comma + BOM + CRLF, quoted, or commented."""
    t = np.arange(len(data)) / 1000
    body = [(ti, *row) for ti, row in zip(t, data)]
    if i % 3 == 0:
        text = "\r\n".join(
            ["Time [s];x;y"] + [";".join(f"{v:.4f}".replace(".", ",") for v in r) for r in body]
        )
        path.write_bytes(b"\xef\xbb\xbf" + text.encode() + b"\r\n\r\n")
    elif i % 3 == 1:
        path.write_text(
            "\n".join(['"time","x","y"'] + [",".join(f'"{v:.4f}"' for v in r) for r in body]) + "\n"
        )
    else:
        path.write_text("\n".join(["# logger", "t_ms,x,y"] + [",".join(f"{v:.4f}" for v in r) for r in body]))


def test_windows_zip_with_macos_litter_and_non_ascii_class_names(tmp_path):
    """One zip: backslash member names (older Windows tools), __MACOSX/ and .DS_Store, class folders
    with spaces and non-ASCII letters, recordings from three different tools. It must just work."""
    classes = {"fan off": 5, "lüfter an": 40, "风扇 fast": 120}
    archive = tmp_path / "my recordings.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for ci, (name, freq) in enumerate(classes.items()):
            for i in range(3):
                src = tmp_path / "src" / f"{ci}_{i}.csv"
                src.parent.mkdir(exist_ok=True)
                _write_messy(src, _signal(96, freq, 10 * ci + i), i)
                zf.write(src, f"recordings\\classes\\{name}\\rec {i}.csv")
            zf.writestr(f"__MACOSX/recordings/classes/{name}/._rec 0.csv", b"\x00\x05\x16\x07junk")
        zf.writestr("recordings/.DS_Store", b"\x00\x00\x00\x01Bud1")
        zf.writestr("recordings\\classes\\.DS_Store", b"\x00\x00\x00\x01Bud1")
    cfg = {"frame_size": 32}
    info = prepare_dataset(archive, tmp_path / "out", "classification", data_config=cfg, plots=False)
    assert info.class_names == sorted(classes)
    assert info.input_columns == ["x", "y"]  # the time column of every tool is dropped
    train = load_split(tmp_path / "out", "train", "classification", cfg)
    assert train.X.shape[1:] == (2, 32, 1) and set(train.y.tolist()) == {0, 1, 2}
    assert np.isfinite(train.X).all()


def test_recordings_all_too_short_blame_the_settings_not_a_file(tmp_path):
    for c in ("a", "b"):
        for i in range(3):
            p = tmp_path / "d" / "classes" / c / f"r{i}.csv"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("x,y\n" + "\n".join(f"{i},{j}" for j in range(40)) + "\n")
    with pytest.raises(
        DataError, match=r"all 6 recordings are too short: the longest has 40 samples.*needs 64"
    ):
        prepare_dataset(
            tmp_path / "d", tmp_path / "o", "classification", data_config={"frame_size": 64}, plots=False
        )
    (tmp_path / "d" / "classes" / "a" / "r0.csv").write_text("x,y\n" + "\n".join(f"0,{j}" for j in range(80)))
    with pytest.raises(DataError, match=r"a/r1\.csv: too short: it has 40 samples .* \(and 4 more: "):
        prepare_dataset(
            tmp_path / "d", tmp_path / "o", "classification", data_config={"frame_size": 64}, plots=False
        )


def test_layout_hints_lowercase_normal_and_unsupported_files(tmp_path, caplog):
    root = tmp_path / "ad" / "classes"
    for c in ("normal", "fault"):
        (root / c).mkdir(parents=True)
        for i in range(3):
            (root / c / f"r{i}.csv").write_text("x\n" + "\n".join(str(j % 7) for j in range(40)))
    with pytest.raises(DataError, match=r"rename 'normal' to 'Normal' \(the name is case-sensitive\)"):
        prepare_dataset(
            tmp_path / "ad", tmp_path / "o", "anomalydetection", data_config={"frame_size": 16}, plots=False
        )
    (root / "normal").rename(root / "Normal")
    (root / "fault" / "r9.xlsx").write_bytes(b"PK\x03\x04")
    (root / "fault" / "notes.md").write_text("recorded on tuesday")
    with caplog.at_level(logging.WARNING):
        prepare_dataset(
            tmp_path / "ad", tmp_path / "o", "anomalydetection", data_config={"frame_size": 16}, plots=False
        )
    assert "1 file(s) of an unsupported type are left out (r9.xlsx)" in caplog.text
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "rec.xlsx").write_bytes(b"PK\x03\x04")
    with pytest.raises(
        DataError, match=r"flat: no dataset found \(it holds \['rec\.xlsx'\]\); expected the layout"
    ):
        prepare_dataset(tmp_path / "flat", tmp_path / "o2", "regression", plots=False)


def _classes(root, counts, n=40):
    for c, k in counts.items():
        for i in range(k):
            p = root / c / f"r{i}.csv"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("x,y\n" + "\n".join(f"{(i + j) % 5},{j % 3}" for j in range(n)) + "\n")
    return root


def test_readme_and_split_lists_beside_flat_recordings_are_not_recordings(tmp_path):
    root = tmp_path / "logs"
    root.mkdir()
    for i in range(5):
        (root / f"run {i}.csv").write_text(
            "time,a,torque\n" + "\n".join(f"{j},{j % 7},{j % 3}" for j in range(40))
        )
    (root / "README.txt").write_text("Dyno runs of March\nrecorded at 1 kHz\n")
    info = prepare_dataset(root, tmp_path / "o", "regression", data_config={"frame_size": 16}, plots=False)
    assert "README.txt" not in sum(info.splits.values(), [])
    (root / "train_list.txt").write_text("run 0.csv\nrun 1.csv\nrun 2.csv\n")
    (root / "val_list.txt").write_text("run 3.csv\n")
    (root / "test_list.txt").write_text("run 4.csv\n")
    info = prepare_dataset(root, tmp_path / "o2", "regression", data_config={"frame_size": 16}, plots=False)
    assert info.splits["test"] == ["run 4.csv"]
    listed = (tmp_path / "o2" / "annotations" / "file_list.txt").read_text().split("\n")
    assert [f for f in listed if f] == [f"run {i}.csv" for i in range(5)]
    # a zip holding a README beside one folder of class folders (no classes/ level)
    archive = tmp_path / "data.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("README.txt", "two machines\n")
        for c in ("ok", "worn"):
            for i in range(3):
                zf.writestr(f"export/{c}/r{i}.csv", "x\n" + "\n".join(str((i + j) % 4) for j in range(40)))
    info = prepare_dataset(
        archive, tmp_path / "o3", "classification", data_config={"frame_size": 16}, plots=False
    )
    assert info.class_names == ["ok", "worn"]


def test_too_few_files_per_class_names_the_class(tmp_path):
    _classes(tmp_path / "d" / "classes", {"idle": 2, "fan on": 2})
    with pytest.raises(
        DataError, match=r"a class needs 3 recordings or more .* 'fan on' has 2\); add recordings"
    ):
        prepare_dataset(
            tmp_path / "d", tmp_path / "o", "classification", data_config={"frame_size": 16}, plots=False
        )


def test_anomaly_split_without_normal_recordings_is_warned(tmp_path, caplog):
    _classes(tmp_path / "d" / "classes", {"Normal": 2, "bad": 2})
    with caplog.at_level(logging.WARNING):
        prepare_dataset(
            tmp_path / "d", tmp_path / "o", "anomalydetection", data_config={"frame_size": 16}, plots=False
        )
    assert "the val split holds no Normal recording, so its false alarms are not measured" in caplog.text


def test_headerless_time_column_is_pointed_out(tmp_path, caplog):
    root = tmp_path / "d" / "classes"
    for c in ("a", "b"):
        for i in range(3):
            p = root / c / f"r{i}.txt"
            p.parent.mkdir(parents=True, exist_ok=True)
            t = 50.0 + np.arange(64) / 1000  # a logger's clock, far from 0: float32 rounding
            p.write_text("\n".join(f"{v:.3f} {np.sin(v * 40 + i):.4f}" for v in t))
    with caplog.at_level(logging.WARNING):
        prepare_dataset(
            tmp_path / "d", tmp_path / "o", "classification", data_config={"frame_size": 16}, plots=False
        )
    assert "input column 0 ('col0') rises by a constant 0.001 per row" in caplog.text
    assert "time_columns: [0]" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        prepare_dataset(
            tmp_path / "d",
            tmp_path / "o2",
            "classification",
            data_config={"frame_size": 16, "time_columns": [0]},
            plots=False,
        )
    assert "rises by a constant" not in caplog.text


def test_channels_first_npy_and_a_single_labelled_file_say_what_to_change(tmp_path):
    for c in ("a", "b"):
        for i in range(3):
            p = tmp_path / "d" / "classes" / c / f"r{i}.npy"
            p.parent.mkdir(parents=True, exist_ok=True)
            np.save(p, np.random.default_rng(i).normal(size=(3, 200)).astype(np.float32))  # (channels, time)
    with pytest.raises(DataError, match=r"has 3 rows and 200 columns: rows must be time steps.*x\.T"):
        prepare_dataset(
            tmp_path / "d", tmp_path / "o", "classification", data_config={"frame_size": 16}, plots=False
        )
    (tmp_path / "all.csv").write_text("ax,label\n" + "\n".join(f"{j},{j % 2}" for j in range(40)))
    with pytest.raises(
        DataError, match=r"all\.csv: a classification dataset needs class folders.*classes/<its label>/"
    ):
        prepare_dataset(tmp_path / "all.csv", tmp_path / "o2", "classification", plots=False)


def test_pandas_numbered_header_is_a_header_not_a_sample(tmp_path):
    (tmp_path / "df.csv").write_text(
        "0,1,2\n" + "\n".join(_rows(time=False)) + "\n"
    )  # DataFrame(x).to_csv(index=False)
    np.testing.assert_allclose(_read(tmp_path / "df.csv").x, DATA.astype(np.float32))
    (tmp_path / "counts.csv").write_text("0,1,2\n3,4,5\n")  # integer data stays data
    np.testing.assert_array_equal(_read(tmp_path / "counts.csv").x, [[0, 1, 2], [3, 4, 5]])


def test_an_empty_column_cannot_be_interpolated_and_says_so(tmp_path):
    (tmp_path / "r.csv").write_text("time,ax,ay\n" + "\n".join(f"{j},{j % 3}," for j in range(20)))
    with pytest.raises(DataError, match=r"r\.csv: 'ay' holds no number at all .*variables"):
        _read(tmp_path / "r.csv", nan_policy="interpolate")
    np.testing.assert_array_equal(
        _read(tmp_path / "r.csv", variables=["ax"], nan_policy="interpolate").x[:3, 0], [0, 1, 2]
    )


def test_a_class_missing_from_val_and_test_is_warned(tmp_path, caplog):
    _classes(tmp_path / "d" / "classes", {"idle": 4, "fan on": 2})
    with caplog.at_level(logging.WARNING):
        prepare_dataset(
            tmp_path / "d", tmp_path / "o", "classification", data_config={"frame_size": 16}, plots=False
        )
    assert "the val split holds no recording of ['fan on']" in caplog.text
    assert "the test split holds no recording of ['fan on']" in caplog.text


def test_a_one_row_csv_is_too_short_without_a_transpose_hint(tmp_path):
    _classes(tmp_path / "d" / "classes", {"a": 3, "b": 3})
    (tmp_path / "d" / "classes" / "a" / "r1.csv").write_text("x,y\n1,2\n")
    with pytest.raises(DataError, match=r"a/r1\.csv: too short: it has 1 samples") as err:
        prepare_dataset(
            tmp_path / "d", tmp_path / "o", "classification", data_config={"frame_size": 16}, plots=False
        )
    assert "transposed" not in str(err.value)
