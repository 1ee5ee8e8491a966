"""Hostile-input battery: bad files and configs through the public CLI, each outcome classified.

Every case builds its bad input in a fresh temporary folder, runs ``tinyml-modelmaker`` on it in a
subprocess (its own session, a wall-clock timeout and an address-space limit) and classifies what a
user gets:

- ``clear``: exit code 2 and an ``ERROR:`` line naming what the case expects (file, line, key, limit);
- ``correct``: the run succeeded and produced the right result (checked on disk);
- ``traceback``: a Python traceback reached the user;
- ``hang``: still running at the timeout;
- ``crash``: killed by a signal or an exit code other than 0 / 2 without a traceback;
- ``unclear``: a handled error that does not name what the user needs (or an error where a correct
  result was due);
- ``silent-wrong``: exit code 0 where the input should have been refused.

    python benchmarks/hostile_inputs.py [-k SUBSTRING] [--timeout 90] [--mem-gb 6] [--verbose]

Prints one line per case and the counts per outcome. Needs the repository's ``.venv`` (or any
environment where ``tinyml-modelmaker`` and both packages are installed).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import io
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml

OUTCOMES = ("clear", "correct", "traceback", "hang", "crash", "unclear", "silent-wrong")


# -- what a case is ----------------------------------------------------------------------------------
@dataclasses.dataclass
class Try:
    """Commands to run at once (usually one); ``check`` decides a success is correct; ``setup`` runs first."""

    commands: list[list[str]]
    check: Callable[[], str | None] | None = None  # returns a problem, or None when the result is right
    setup: list[list[str]] = dataclasses.field(default_factory=list)
    setup_fn: Callable[[], None] | None = None  # runs after ``setup`` (e.g. damage what it made)
    harm: Callable[[str], str | None] | None = None  # given all output: what harm was done, or None


@dataclasses.dataclass
class Case:
    name: str
    group: str
    build: Callable[[Path], Try]
    expect: str  # "error" or "ok"
    match: str = ""  # regex the error must match (case-insensitive) to count as clear
    note: str = ""


CASES: list[Case] = []


def case(group: str, expect: str = "error", match: str = "", note: str = ""):
    def register(fn: Callable[[Path], Try]) -> Callable[[Path], Try]:
        CASES.append(Case(fn.__name__, group, fn, expect, match, note))
        return fn

    return register


def cli() -> str:
    here = Path(sys.executable).parent / "tinyml-modelmaker"
    return str(here) if here.exists() else (shutil.which("tinyml-modelmaker") or "tinyml-modelmaker")


# -- inputs ----------------------------------------------------------------------------------------
def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def write_recording(path: Path, n: int = 128, seed: int = 0, cols: int = 2, freq: float = 3.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    data = [np.sin(2 * np.pi * freq * t / 64 + k) + 0.1 * rng.standard_normal(n) for k in range(cols)]
    lines = ["time," + ",".join(f"s{k}" for k in range(cols))]
    lines += [f"{i / 100:.2f}," + ",".join(f"{d[i]:.4f}" for d in data) for i in range(n)]
    path.write_text("\n".join(lines) + "\n")


def class_folder(root: Path, classes=("a", "b"), files: int = 3, n: int = 128) -> Path:
    for ci, name in enumerate(classes):
        for i in range(files):
            write_recording(root / "classes" / name / f"r{i}.csv", n, seed=100 * ci + i, freq=2.0 + 3 * ci)
    return root


def data_config(tmp: Path, data_path, **dataset) -> dict:
    """Dataset stage only."""
    return {
        "common": {
            "task_type": "generic_timeseries_classification",
            "target_device": "CORTEX_M4F",
            "projects_path": str(tmp / "projects"),
            "run_name": "r",
        },
        "dataset": {"input_data_path": str(data_path), "dataset_name": "d", **dataset},
        "data_processing_feature_extraction": {"frame_size": 32},
        "training": {"enable": False},
        "testing": {"enable": False},
        "compilation": {"enable": False},
    }


def full_config(tmp: Path, data_path, epochs: int = 1) -> dict:
    """Dataset, a short float training and compilation (no testing)."""
    cfg = data_config(tmp, data_path)
    cfg["training"] = {"model_name": "CLS_1k", "training_epochs": epochs, "quantization": 0}
    cfg["compilation"] = {"enable": True}
    return cfg


def compile_config(tmp: Path, model_path, device: str = "CORTEX_M4F") -> dict:
    return {
        "common": {
            "task_type": "generic_timeseries_classification",
            "target_device": device,
            "projects_path": str(tmp / "projects"),
            "run_name": "c",
        },
        "dataset": {"enable": False},
        "training": {"enable": False},
        "testing": {"enable": False},
        "compilation": {"model_path": str(model_path)},
    }


def run_cli(tmp: Path, cfg: dict | Path, *extra: str) -> Try:
    path = cfg if isinstance(cfg, Path) else write_yaml(tmp / "config.yaml", cfg)
    return Try([[cli(), str(path), *extra]])


def dataset_ok(tmp: Path, classes: int | None = None) -> Callable[[], str | None]:
    def check() -> str | None:
        info = tmp / "projects" / "d" / "run" / "r" / "dataset" / "dataset_info.yaml"
        if not info.is_file():
            return "no dataset_info.yaml"
        meta = yaml.safe_load(info.read_text())
        if classes is not None and len(meta["class_names"]) != classes:
            return f"class_names {meta['class_names']}"
        return None

    return check


# ONNX models made with onnx.helper (no torch needed)
def onnx_model(
    path: Path,
    input_shape,
    *,
    weights=None,
    nodes=None,
    inputs=None,
    elem=None,
    functions=(),
    pool=False,
    out_elem=None,
):
    from onnx import TensorProto, helper

    elem = TensorProto.FLOAT if elem is None else elem
    inits = []
    if nodes is None:  # [GlobalAveragePool ->] Flatten -> Gemm(W) -> output
        pooled = pool and len(input_shape) == 4
        feat = input_shape[1] if pooled else int(np.prod(input_shape[1:]))
        out = 3 if weights is None else weights
        w = np.zeros((feat, out), dtype=np.float32) if weights is not None else np.ones((feat, 3), np.float32)
        inits.append(helper.make_tensor("W", TensorProto.FLOAT, w.shape, w.tobytes(), raw=True))
        nodes = [helper.make_node("GlobalAveragePool", ["x"], ["p"])] if pooled else []
        nodes += [
            helper.make_node("Flatten", ["p" if pooled else "x"], ["f"], axis=1),
            helper.make_node("Gemm", ["f", "W"], ["y"]),
        ]
        out_shape = [input_shape[0], out]
    else:
        out_shape = None
    graph = helper.make_graph(
        nodes,
        "g",
        inputs or [helper.make_tensor_value_info("x", elem, list(input_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT if out_elem is None else out_elem, out_shape)],
        inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("local", 1)],
        functions=list(functions),
    )
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return path


def _conv_onnx(path: Path, w: np.ndarray | None = None, pads=(1, 0, 1, 0), **attrs) -> Path:
    """``x [1, 1, 8, 1] -> Conv(W [2, 1, 3, 1], pads) -> y``, ``attrs`` added to the Conv."""
    import onnx
    from onnx import TensorProto, helper

    w = np.ones((2, 1, 3, 1), np.float32) if w is None else w
    conv = helper.make_node(
        "Conv", ["x", "W"], ["y"], name="conv", kernel_shape=[3, 1], pads=list(pads), **attrs
    )
    model = onnx.load(onnx_model(path, [1, 1, 8, 1], nodes=[conv]))
    model.graph.initializer.append(helper.make_tensor("W", TensorProto.FLOAT, w.shape, w.tobytes(), raw=True))
    path.write_bytes(model.SerializeToString())
    return path


# -- config and YAML -----------------------------------------------------------------------------
def _valid(tmp: Path) -> dict:
    cfg = data_config(tmp, tmp / "data")
    class_folder(tmp / "data")
    return cfg


@case("yaml", match=r"config\.yaml.*line 3")
def yaml_syntax_error(tmp):
    (tmp / "config.yaml").write_text("common:\n  task_type: generic_timeseries_classification\n bad: [\n")
    return Try([[cli(), str(tmp / "config.yaml"), "--check"]])


@case("yaml", match=r"config\.yaml.*(MB|bytes).*(TINYML_|limit)")
def yaml_huge_value(tmp):
    text = yaml.safe_dump(_valid(tmp), sort_keys=False)
    (tmp / "config.yaml").write_text(text + "# " + "x" * 100 + "\nextra: '" + "y" * (50 << 20) + "'\n")
    return Try([[cli(), str(tmp / "config.yaml"), "--check"]])


@case("yaml", match=r"config\.yaml.*(nest|deep)")
def yaml_deep_nesting(tmp):
    (tmp / "config.yaml").write_text("common: " + "[" * 20000 + "]" * 20000 + "\n")
    return Try([[cli(), str(tmp / "config.yaml"), "--check"]])


@case("yaml", match=r"config\.yaml.*(alias|expand)")
def yaml_alias_bomb(tmp):
    """Nine anchors, each a list of ten aliases of the one before: 10**9 values once expanded."""
    anchors = "".join(
        f"    a{i}: &a{i} [" + ", ".join(["x"] * 10 if i == 0 else [f"*a{i - 1}"] * 10) + "]\n"
        for i in range(9)
    )
    text = yaml.safe_dump(_valid(tmp), sort_keys=False)
    text = text.replace("  dataset_name: d\n", "  dataset_name: d\n  generator_config:\n" + anchors, 1)
    (tmp / "config.yaml").write_text(text)
    return Try([[cli(), str(tmp / "config.yaml"), "--check"]])


@case("yaml", match=r"/dev/zero.*(regular|not a file)")
def config_is_dev_zero(tmp):
    return Try([[cli(), "/dev/zero", "--check"]])


@case("yaml", match=r"config\.yaml.*line 4")
def yaml_non_utf8(tmp):
    text = yaml.safe_dump(_valid(tmp), sort_keys=False).encode()
    lines = text.split(b"\n")
    lines[3] = lines[3] + b"  # caf\xe9 \xff"
    (tmp / "config.yaml").write_bytes(b"\n".join(lines))
    return Try([[cli(), str(tmp / "config.yaml"), "--check"]])


@case("yaml", match=r"config\.yaml.*line \d+.*model_name.*line \d+")
def yaml_duplicate_model_name(tmp):
    cfg = _valid(tmp)
    cfg["training"] = {"enable": False, "model_name": "CLS_1k"}
    text = yaml.safe_dump(cfg, sort_keys=False).replace(
        "  model_name: CLS_1k\n", "  model_name: CLS_1k\n  model_name: CLS_4k\n"
    )
    (tmp / "config.yaml").write_text(text)
    return Try([[cli(), str(tmp / "config.yaml"), "--check"]])


@case("yaml", match=r"config\.yaml.*line \d+.*training.*line \d+")
def yaml_duplicate_section(tmp):
    cfg = _valid(tmp)
    cfg["training"] = {"enable": False, "model_name": "CLS_1k", "training_epochs": 3}
    text = yaml.safe_dump(cfg, sort_keys=False) + "training:\n  batch_size: 8\n"
    (tmp / "config.yaml").write_text(text)
    return Try([[cli(), str(tmp / "config.yaml"), "--check"]])


@case("yaml", match=r"config\.yaml.*mapping")
def yaml_top_level_list(tmp):
    (tmp / "config.yaml").write_text("- common\n- dataset\n")
    return Try([[cli(), str(tmp / "config.yaml"), "--check"]])


@case("yaml", match=r"task_type.*required")
def yaml_empty_file(tmp):
    (tmp / "config.yaml").write_text("")
    return Try([[cli(), str(tmp / "config.yaml"), "--check"]])


@case("yaml", match=r"does not exist")
def config_missing_file(tmp):
    return Try([[cli(), str(tmp / "nope.yaml"), "--check"]])


@case("yaml", match=r"config\.yaml.*training_epoch.*training_epochs")
def config_wrong_key(tmp):
    cfg = _valid(tmp)
    cfg["training"] = {"enable": False, "training_epoch": 3}
    return run_cli(tmp, cfg, "--check")


@case("yaml", match=r"unknown section.*trainnig.*training")
def config_wrong_section(tmp):
    cfg = _valid(tmp)
    cfg["trainnig"] = {"training_epochs": 3}
    return run_cli(tmp, cfg, "--check")


@case("yaml", match=r"training_epochs.*int")
def config_wrong_type(tmp):
    cfg = _valid(tmp)
    cfg["training"] = {"enable": False, "training_epochs": "many"}
    return run_cli(tmp, cfg, "--check")


@case("yaml", match=r"training_epochs.*(range|>=)")
def config_out_of_range(tmp):
    cfg = _valid(tmp)
    cfg["training"] = {"enable": False, "training_epochs": -3}
    return run_cli(tmp, cfg, "--check")


@case("yaml", match=r"--set.*training\.training_epochs")
def config_bad_override(tmp):
    return run_cli(tmp, _valid(tmp), "--check", "--set", "training.training_epochs=lots")


@case("yaml", match=r"target_device.*CORTEX_M4F")
def unknown_target_device(tmp):
    cfg = _valid(tmp)
    cfg["common"]["target_device"] = "CORTEX_M4"
    return run_cli(tmp, cfg, "--check")


@case("yaml", match=r"model_name.*CLS_4k")
def unknown_model_name(tmp):
    cfg = _valid(tmp)
    cfg["training"] = {"model_name": "CLS_4kk", "training_epochs": 1}
    return run_cli(tmp, cfg)


@case("yaml", match=r"feature_extraction_name")
def unknown_feature_extraction(tmp):
    cfg = _valid(tmp)
    cfg["data_processing_feature_extraction"]["feature_extraction_name"] = "Generic_FFT_nope"
    return run_cli(tmp, cfg, "--check")


@case("yaml", match=r"generator.*motor_fault")
def unknown_generator(tmp):
    cfg = _valid(tmp)
    cfg["dataset"]["input_data_path"] = "generated://motor_faults"
    return run_cli(tmp, cfg, "--check")


def _with_model_config(tmp: Path, text: str) -> Try:
    """A one-epoch CLS_1k run whose training.model_config file holds ``text``."""
    cfg = _valid(tmp)
    (tmp / "model_config.yaml").write_text(text)
    cfg["training"] = {
        "model_name": "CLS_1k",
        "training_epochs": 1,
        "model_config": str(tmp / "model_config.yaml"),
    }
    return run_cli(tmp, cfg)


@case("yaml", match=r"model_config\.yaml.*line \d+.*variables.*line \d+")
def model_config_duplicate_key(tmp):
    return _with_model_config(tmp, "variables: 2\nvariables: 3\n")


@case("yaml", match=r"CLS_1k.*input.*model config.*variables")
def model_config_wrong_variables(tmp):
    return _with_model_config(tmp, "variables: 3\n")


@case("yaml", match=r"model_config\.yaml.*(MB|bytes)")
def model_config_huge(tmp):
    return _with_model_config(tmp, "variables: '" + "2" * (50 << 20) + "'\n")


@case("yaml", match=r"aug\.yaml.*(nest|deep)")
def augmenter_config_deep(tmp):
    cfg = _valid(tmp)
    (tmp / "aug.yaml").write_text("noise: " + "[" * 20000 + "]" * 20000 + "\n")
    cfg["data_processing_feature_extraction"]["augmentation"] = str(tmp / "aug.yaml")
    cfg["training"] = {"model_name": "CLS_1k", "training_epochs": 1}
    return run_cli(tmp, cfg)


@case("yaml", match=r"spec\.yaml.*line \d+.*line \d+")
def spec_yaml_duplicate_layer(tmp):
    cfg = _valid(tmp)
    spec = (
        "model_spec:\n"
        "  conv: {type: ConvBNReLULayer, out_channels: 4, kernel_size: [3, 1]}\n"
        "  gap: {type: GlobalAvgPoolLayer}\n"
        "  conv: {type: ConvBNReLULayer, out_channels: 8, kernel_size: [3, 1]}\n"
        "  flat: {type: ReshapeLayer}\n"
        "  fc: {type: LinearLayer, out_features: $num_classes}\n"
    )
    (tmp / "spec.yaml").write_text(spec)
    cfg["training"] = {
        "model_name": "SpecModel",
        "training_epochs": 1,
        "model_config": {"spec_path": str(tmp / "spec.yaml")},
    }
    return run_cli(tmp, cfg)


# -- data ------------------------------------------------------------------------------------------
@case("data", match=r"input_data_path.*does not exist")
def data_missing_folder(tmp):
    return run_cli(tmp, data_config(tmp, tmp / "no_such_folder"))


@case("data", match=r"/dev/zero.*(folder|file)")
def data_dev_zero(tmp):
    return run_cli(tmp, data_config(tmp, "/dev/zero"))


@case("data", match=r"fifo.*(folder|regular|file)")
def data_fifo(tmp):
    os.mkfifo(tmp / "fifo")
    return run_cli(tmp, data_config(tmp, tmp / "fifo"))


@case("data", match=r"Normal.*normal|normal.*Normal")
def data_classes_differ_in_case(tmp):
    class_folder(tmp / "data", classes=("Normal", "normal", "fault"))
    return run_cli(tmp, data_config(tmp, tmp / "data"))


@case("data", match=r"link.*outside", note="the secret's content must never be printed")
def data_symlink_outside(tmp):
    class_folder(tmp / "data")
    (tmp / "secret.txt").write_text("SECRET-user,SECRET-key\nSECRET-a,SECRET-b\n")
    os.symlink(tmp / "secret.txt", tmp / "data" / "classes" / "a" / "stolen.csv")
    t = run_cli(tmp, data_config(tmp, tmp / "data"))
    t.harm = lambda text: (
        "printed the content of a file outside the data folder" if "SECRET" in text else None
    )
    return t


@case("data", match=r"link.*outside")
def data_symlink_class_folder_outside(tmp):
    class_folder(tmp / "data")
    class_folder(tmp / "elsewhere", classes=("c",))
    os.symlink(tmp / "elsewhere" / "classes" / "c", tmp / "data" / "classes" / "c")
    return run_cli(tmp, data_config(tmp, tmp / "data"))


@case("data", expect="ok")
def data_symlink_inside(tmp):
    class_folder(tmp / "data")
    os.symlink(tmp / "data" / "classes" / "a" / "r0.csv", tmp / "data" / "classes" / "b" / "copy_of_a0.csv")
    t = run_cli(tmp, data_config(tmp, tmp / "data"))
    t.check = dataset_ok(tmp, 2)
    return t


def _with_line(tmp: Path, recording: str, index: int, line: str) -> Try:
    """A valid class folder where line ``index`` of ``classes/<recording>`` is replaced by ``line``."""
    class_folder(tmp / "data")
    bad = tmp / "data" / "classes" / recording
    lines = bad.read_text().splitlines()
    lines[index] = line
    bad.write_text("\n".join(lines) + "\n")
    return run_cli(tmp, data_config(tmp, tmp / "data"))


@case("data", match=r"r1\.csv.*'abc'")
def csv_non_numeric(tmp):
    return _with_line(tmp, "a/r1.csv", 5, "0.04,abc,1.0")


@case("data", match=r"r0\.csv.*columns")
def csv_ragged(tmp):
    class_folder(tmp / "data")
    bad = tmp / "data" / "classes" / "b" / "r0.csv"
    bad.write_text(bad.read_text() + "1.0,2.0\n")
    return run_cli(tmp, data_config(tmp, tmp / "data"))


@case("data", match=r"r2\.csv.*(empty|no data|rows)")
def csv_empty_file(tmp):
    class_folder(tmp / "data")
    (tmp / "data" / "classes" / "a" / "r2.csv").write_text("")
    return run_cli(tmp, data_config(tmp, tmp / "data"))


@case("data", match=r"r2\.csv.*(no data|rows|short|empty)")
def csv_header_only(tmp):
    class_folder(tmp / "data")
    (tmp / "data" / "classes" / "a" / "r2.csv").write_text("time,s0,s1\n")
    return run_cli(tmp, data_config(tmp, tmp / "data"))


@case("data", match=r"r2\.csv")
def csv_random_bytes(tmp):
    class_folder(tmp / "data")
    (tmp / "data" / "classes" / "a" / "r2.csv").write_bytes(np.random.default_rng(0).bytes(4000))
    return run_cli(tmp, data_config(tmp, tmp / "data"))


@case("data", match=r"r2\.csv.*NaN.*nan_policy")
def csv_nan(tmp):
    return _with_line(tmp, "a/r2.csv", 3, "0.02,nan,0.5")


@case("data", match=r"r2\.npy.*(pickle|object)")
def npy_object_array(tmp):
    class_folder(tmp / "data")
    np.save(
        tmp / "data" / "classes" / "a" / "r2.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True
    )
    return run_cli(tmp, data_config(tmp, tmp / "data"))


@case("data", match=r"evil\.pkl")
def pickle_with_code(tmp):
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp / 'PWNED'}",))

    class_folder(tmp / "data")
    (tmp / "data" / "classes" / "a" / "evil.pkl").write_bytes(pickle.dumps(Evil()))
    t = run_cli(tmp, data_config(tmp, tmp / "data"))
    t.harm = lambda _: "ran code from a pickle" if (tmp / "PWNED").exists() else None
    return t


@case("data", match=r"single|two class|at least two")
def one_class_only(tmp):
    class_folder(tmp / "data", classes=("a",))
    return run_cli(tmp, data_config(tmp, tmp / "data"))


@case("data", match=r"class folder 'b'.*no")
def empty_class_folder(tmp):
    class_folder(tmp / "data", classes=("a", "c"))
    (tmp / "data" / "classes" / "b").mkdir()
    return run_cli(tmp, data_config(tmp, tmp / "data"))


@case("data", match=r"train_list\.txt:\d+.*inside")
def annotation_path_traversal(tmp):
    class_folder(tmp / "data")
    (tmp / "data" / "annotations").mkdir()
    (tmp / "data" / "annotations" / "train_list.txt").write_text("a/r0.csv\n../../../../etc/passwd\n")
    return run_cli(tmp, data_config(tmp, tmp / "data"))


@case("data", match=r"too short")
def recordings_too_short(tmp):
    class_folder(tmp / "data", n=10)
    return run_cli(tmp, data_config(tmp, tmp / "data"))


@case("data", match=r"already exists")
def run_folder_exists(tmp):
    class_folder(tmp / "data")
    (tmp / "projects" / "d" / "run" / "r").mkdir(parents=True)
    return run_cli(tmp, data_config(tmp, tmp / "data"))


@case("data", expect="ok", note="two processes generate the same generated:// data at once")
def generated_data_concurrent(tmp):
    cfgs = []
    for name in ("r1", "r2"):
        cfg = data_config(
            tmp, "generated://motor_fault", generator_config={"files_per_class": 12, "length": 2048}
        )
        cfg["common"]["run_name"] = name
        cfgs.append([cli(), str(write_yaml(tmp / f"{name}.yaml", cfg))])

    def check() -> str | None:
        for name in ("r1", "r2"):
            if not (tmp / "projects" / "d" / "run" / name / "dataset" / "dataset_info.yaml").is_file():
                return f"run {name} has no prepared dataset"
        gens = list((tmp / "projects" / "d").glob("generated*"))
        if len(gens) != 1 or len(list(gens[0].rglob("*.csv"))) != 48:
            return f"generated folders {gens}"
        return None

    return Try(cfgs, check=check)


# -- archives --------------------------------------------------------------------------------------
def _zip_of_folder(zip_path: Path, folder: Path, extra=()) -> Path:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(folder.parent).as_posix())
        for name, data in extra:
            zf.writestr(name, data)
    return zip_path


@case("archive", match=r"bomb\.zip.*(ratio|uncompressed).*dataset\.")
def zip_bomb(tmp):
    class_folder(tmp / "data")
    zpath = tmp / "bomb.zip"
    _zip_of_folder(zpath, tmp / "data")
    with (
        zipfile.ZipFile(zpath, "a", zipfile.ZIP_DEFLATED) as zf,
        zf.open("data/classes/a/huge.csv", "w", force_zip64=True) as f,
    ):
        block = b"0" * (1 << 20)
        for _ in range(1024):  # 1 GiB of '0'
            f.write(block)
    return run_cli(tmp, data_config(tmp, zpath))


@case("archive", match=r"liar\.zip.*(size|header|corrupt|CRC)")
def zip_lying_header(tmp):
    """A member whose directory entry claims 1 KiB but whose stream holds 8 MiB."""
    class_folder(tmp / "data")
    zpath = tmp / "liar.zip"
    _zip_of_folder(zpath, tmp / "data", extra=[("data/classes/a/big.csv", b"1,2,3\n" * ((8 << 20) // 6))])
    raw = bytearray(zpath.read_bytes())
    name = b"data/classes/a/big.csv"
    true_size = len(b"1,2,3\n" * ((8 << 20) // 6)).to_bytes(4, "little")
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # local header, central directory
        start = 0
        while (i := raw.find(sig, start)) >= 0:
            start = i + 4
            name_off = i + (30 if sig == b"PK\x03\x04" else 46)
            if raw[name_off : name_off + len(name)] == name and raw[i + off : i + off + 4] == true_size:
                raw[i + off : i + off + 4] = (1024).to_bytes(4, "little")
    zpath.write_bytes(bytes(raw))
    return run_cli(tmp, data_config(tmp, zpath))


@case("archive", match=r"trav\.zip.*outside")
def zip_path_traversal(tmp):
    class_folder(tmp / "data")
    zpath = _zip_of_folder(tmp / "trav.zip", tmp / "data", extra=[("../../evil.csv", "1,2\n")])
    return run_cli(tmp, data_config(tmp, zpath))


@case("archive", match=r"link\.zip.*symbolic link")
def zip_symlink_member(tmp):
    class_folder(tmp / "data")
    zpath = _zip_of_folder(tmp / "link.zip", tmp / "data")
    with zipfile.ZipFile(zpath, "a") as zf:
        info = zipfile.ZipInfo("data/classes/a/passwd.csv")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    return run_cli(tmp, data_config(tmp, zpath))


@case("archive", match=r"junk\.zip.*not a readable zip")
def zip_random_bytes(tmp):
    (tmp / "junk.zip").write_bytes(np.random.default_rng(1).bytes(5000))
    return run_cli(tmp, data_config(tmp, tmp / "junk.zip"))


@case("archive", match=r"cut\.zip")
def zip_truncated(tmp):
    class_folder(tmp / "data")
    zpath = _zip_of_folder(tmp / "cut.zip", tmp / "data")
    zpath.write_bytes(zpath.read_bytes()[: zpath.stat().st_size // 2])
    return run_cli(tmp, data_config(tmp, zpath))


# -- models and compilation ------------------------------------------------------------------------
@case("model", match=r"(25|26)\.\d* ?MB|does not fit.*flash", note="25 MB of weights on CORTEX_M4F")
def compile_weights_too_large(tmp):
    return run_cli(tmp, compile_config(tmp, onnx_model(tmp / "big.onnx", [1, 1, 64, 1], weights=100_000)))


@case("model", match=r"does not fit.*RAM|input.*(MB|GB)")
def compile_input_too_large(tmp):
    return run_cli(tmp, compile_config(tmp, onnx_model(tmp / "wide.onnx", [1, 3, 100000, 1000], pool=True)))


@case("model", match=r"2147483648|does not fit|too large")
def compile_dim_2_pow_31(tmp):
    return run_cli(tmp, compile_config(tmp, onnx_model(tmp / "huge_dim.onnx", [1, 1, 2**31, 1], pool=True)))


@case("model", match=r"model_path.*does not exist")
def compile_missing_model(tmp):
    return run_cli(tmp, compile_config(tmp, tmp / "nope.onnx"))


@case("model", match=r"rand\.onnx.*not a readable ONNX")
def onnx_random_bytes(tmp):
    (tmp / "rand.onnx").write_bytes(np.random.default_rng(2).bytes(3000))
    return run_cli(tmp, compile_config(tmp, tmp / "rand.onnx"))


@case("model", match=r"empty\.onnx is empty \(0 bytes\)")
def onnx_zero_bytes(tmp):
    (tmp / "empty.onnx").write_bytes(b"")
    return run_cli(tmp, compile_config(tmp, tmp / "empty.onnx"))


@case("model", match=r"dangling\.onnx: node .* reads tensor 'ghost', which no node computes")
def onnx_dangling_input(tmp):
    from onnx import helper

    nodes = [helper.make_node("Add", ["x", "ghost"], ["y"])]
    return run_cli(tmp, compile_config(tmp, onnx_model(tmp / "dangling.onnx", [1, 1, 8, 1], nodes=nodes)))


@case("model", match=r"attr\.onnx: node .*\(op Conv\).*pads")
def onnx_wrong_attribute_length(tmp):
    return run_cli(tmp, compile_config(tmp, _conv_onnx(tmp / "attr.onnx", pads=[1, 0, 1])))


@case("model", match=r"rec\.onnx: the model-local function local::Loop1 calls itself")
def onnx_recursive_function(tmp):
    from onnx import helper

    fn = helper.make_function("local", "Loop1", ["a"], ["b"], [helper.make_node("Loop1", ["a"], ["b"], domain="local")],
                              [helper.make_opsetid("", 13), helper.make_opsetid("local", 1)])  # fmt: skip
    nodes = [helper.make_node("Loop1", ["x"], ["y"], domain="local")]
    return run_cli(
        tmp, compile_config(tmp, onnx_model(tmp / "rec.onnx", [1, 1, 8, 1], nodes=nodes, functions=[fn]))
    )


@case("model", match=r"zero\.onnx: input 'x' dimension 2 is 0")
def onnx_zero_dimension(tmp):
    return run_cli(tmp, compile_config(tmp, onnx_model(tmp / "zero.onnx", [1, 1, 0, 1])))


@case("model", match=r"nonodes\.onnx: the graph has no nodes")
def onnx_no_nodes(tmp):
    from onnx import helper

    nodes = [helper.make_node("Identity", ["x"], ["y"])][:0]
    path = onnx_model(tmp / "nonodes.onnx", [1, 1, 8, 1], nodes=nodes)
    import onnx

    model = onnx.load(path)
    model.graph.output[0].name = "x"
    path.write_bytes(model.SerializeToString())
    return run_cli(tmp, compile_config(tmp, path))


@case("model", match=r"i64\.onnx: input 'x' is int64.*float32")
def onnx_int64_input(tmp):
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Relu", ["x"], ["y"])]
    path = onnx_model(
        tmp / "i64.onnx", [1, 1, 8, 1], nodes=nodes, elem=TensorProto.INT64, out_elem=TensorProto.INT64
    )
    return run_cli(tmp, compile_config(tmp, path))


@case("model", match=r"op\.onnx: node 'n' \(op Conv2\) is not supported by the compiler.*'Conv'")
def onnx_unknown_op(tmp):
    from onnx import helper

    nodes = [helper.make_node("Conv2", ["x"], ["y"], name="n")]
    return run_cli(tmp, compile_config(tmp, onnx_model(tmp / "op.onnx", [1, 1, 8, 1], nodes=nodes)))


@case("model", match=r"cycle\.onnx: the graph has a cycle: node 'a' \(op Relu\) -> node 'b' \(op Relu\)")
def onnx_cycle(tmp):
    from onnx import helper

    nodes = [helper.make_node("Relu", ["z"], ["h"], name="a"), helper.make_node("Relu", ["h"], ["z"], name="b"),
             helper.make_node("Add", ["x", "z"], ["y"], name="add")]  # fmt: skip
    return run_cli(tmp, compile_config(tmp, onnx_model(tmp / "cycle.onnx", [1, 1, 8, 1], nodes=nodes)))


@case("model", match=r"nan\.onnx: initializer 'W' holds 1 NaN or infinite value")
def onnx_nan_weight(tmp):
    w = np.ones((2, 1, 3, 1), np.float32)
    w[1, 0, 2, 0] = np.nan
    return run_cli(tmp, compile_config(tmp, _conv_onnx(tmp / "nan.onnx", w)))


@case(
    "model",
    match=r"ext\.onnx: .*tensor 'W' keeps its data in an external file '\.\./secret\.bin', outside the model's folder",
)
def onnx_external_data_outside(tmp):
    import onnx
    from onnx import TensorProto

    (tmp / "secret.bin").write_bytes(np.ones(6, np.float32).tobytes())
    (tmp / "m").mkdir()
    model = onnx.load(_conv_onnx(tmp / "m" / "ext.onnx"))
    t = model.graph.initializer[0]
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "../secret.bin"), ("offset", "0"), ("length", "24")):
        entry = t.external_data.add()
        entry.key, entry.value = key, value
    (tmp / "m" / "ext.onnx").write_bytes(model.SerializeToString())
    return run_cli(tmp, compile_config(tmp, tmp / "m" / "ext.onnx"))


@case(
    "model", match=r"pad\.onnx: node 'conv' \(op Conv\): auto_pad 'VALID' with pads \[1, 0, 1, 0\]: not valid"
)
def onnx_auto_pad_and_pads(tmp):
    return run_cli(tmp, compile_config(tmp, _conv_onnx(tmp / "pad.onnx", auto_pad="VALID")))


@case(
    "model",
    match=r"overflow\.onnx: the model gives NaN or infinite outputs.*node 'conv' \(conv\) is the first to overflow float32",
)
def onnx_float32_overflow(tmp):
    return run_cli(
        tmp, compile_config(tmp, _conv_onnx(tmp / "overflow.onnx", np.full((2, 1, 3, 1), 3e38, np.float32)))
    )


@case("model", match=r"calib\.npy.*not a numeric")
def calibration_not_npy(tmp):
    path = onnx_model(tmp / "m.onnx", [1, 1, 16, 1])
    (tmp / "calib.npy").write_text("1,2,3\n")
    cfg = compile_config(tmp, path)
    cfg["compilation"]["calibration_data"] = str(tmp / "calib.npy")
    return run_cli(tmp, cfg)


@case("model", expect="ok")
def compile_small_model(tmp):
    t = run_cli(tmp, compile_config(tmp, onnx_model(tmp / "small.onnx", [1, 1, 16, 1])))
    t.check = lambda: (
        None
        if (
            tmp / "projects" / "small" / "run" / "c" / "compilation" / "artifacts" / "tinyml_model.c"
        ).is_file()
        else "no C"
    )
    return t


def _checkpoint_case(tmp: Path, damage: Callable[[Path], None]) -> Try:
    """Prepare a run's dataset, leave a damaged checkpoint.pt, then resume it with training on."""
    class_folder(tmp / "data", files=4)
    cfg = data_config(tmp, tmp / "data")
    cfg["training"] = {"enable": False, "model_name": "CLS_1k", "training_epochs": 2, "quantization": 0}
    setup_path = write_yaml(tmp / "setup.yaml", cfg)
    cfg["training"]["enable"] = True
    path = write_yaml(tmp / "config.yaml", cfg)

    def leave_checkpoint() -> None:
        base = tmp / "projects" / "d" / "run" / "r" / "training" / "base"
        base.mkdir(parents=True, exist_ok=True)
        damage(base / "checkpoint.pt")

    return Try(
        [[cli(), str(path), "--resume", "--run-name", "r"]],
        setup=[[cli(), str(setup_path)]],
        setup_fn=leave_checkpoint,
    )


@case("model", match=r"checkpoint\.pt.*(truncated|damaged|not a checkpoint)")
def checkpoint_random_bytes(tmp):
    return _checkpoint_case(tmp, lambda p: p.write_bytes(np.random.default_rng(3).bytes(10000)))


@case("model", match=r"checkpoint\.pt.*(truncated|damaged|not a checkpoint)")
def checkpoint_truncated(tmp):
    def damage(p: Path) -> None:
        import torch

        buf = io.BytesIO()
        torch.save({"model": {"w": torch.zeros(1000)}, "epoch": 0}, buf)
        p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])

    return _checkpoint_case(tmp, damage)


# -- generated C ------------------------------------------------------------------------------------
HOSTILE_CLASS_NAMES = (
    'quote"s',
    "back\\slash",
    "tri??=graph",
    "names",
    "1st-class",
    "ünï",
    "tab\there",
    "semi;colon",
)


@case(
    "c",
    expect="ok",
    note="class folder names with a newline, quotes, backslash, ??= trigraph, non-identifiers",
)
def c_hostile_class_names(tmp):
    class_folder(tmp / "data", classes=HOSTILE_CLASS_NAMES, files=3, n=160)
    cfg = full_config(tmp, tmp / "data")

    def check() -> str | None:
        aux = tmp / "projects" / "d" / "run" / "r" / "compilation" / "artifacts" / "model_aux.h"
        if not aux.is_file():
            return "no model_aux.h"
        src = tmp / "aux_check.c"
        src.write_text(
            '#include <stdio.h>\n#include "model_aux.h"\n'
            "static const char *const names[TINYML_MODEL_NUM_CLASSES] = TINYML_MODEL_CLASS_NAMES;\n"
            'int main(void) { int i; for (i = 0; i < TINYML_MODEL_NUM_CLASSES; i++) printf("%s|", names[i]); return 0; }\n'
        )
        exe = tmp / "aux_check"
        cc = subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", str(aux.parent), str(src), "-o", str(exe)],
                            capture_output=True, text=True)  # fmt: skip
        if cc.returncode:
            return "model_aux.h does not compile: " + cc.stderr[-300:]
        out = subprocess.run([str(exe)], capture_output=True).stdout.decode("utf-8", "replace")
        want = "|".join(sorted(HOSTILE_CLASS_NAMES)) + "|"
        return None if out == want else f"class names read back as {out!r}"

    t = run_cli(tmp, cfg)
    t.check = check
    return t


@case("c", expect="ok", note="a ??= trigraph in a class folder name")
def c_trigraph_class_name(tmp):
    class_folder(tmp / "data", classes=("tri??=graph", "plain"), files=3, n=160)
    t = run_cli(tmp, full_config(tmp, tmp / "data"))
    t.check = lambda: (
        None if (tmp / "projects" / "d" / "run" / "r" / "compilation" / "artifacts").is_dir() else "no C"
    )
    return t


@case("c", match=r"line break|rename")
def class_folder_with_newline(tmp):
    class_folder(tmp / "data", classes=("new\nline", "other"))
    return run_cli(tmp, data_config(tmp, tmp / "data"))


# -- running ---------------------------------------------------------------------------------------
def _limit(mem_gb: float) -> Callable[[], None]:
    def apply() -> None:
        limit = int(mem_gb * (1 << 30))
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def _run(cmds: list[list[str]], cwd: Path, timeout: float, mem_gb: float) -> list[tuple[int | None, str]]:
    """Run ``cmds`` at once; ``(exit code or None on timeout, stdout + stderr)`` each."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg", TQDM_DISABLE="1", PYTHONUNBUFFERED="1")
    procs = []
    for cmd in cmds:
        out = tempfile.TemporaryFile()
        procs.append((subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                       preexec_fn=_limit(mem_gb), start_new_session=True), out))  # fmt: skip
    deadline = time.monotonic() + timeout
    results = []
    try:
        for proc, out in procs:
            try:
                rc = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                rc = None
            out.seek(0)
            results.append((rc, out.read().decode("utf-8", "replace")))
    finally:  # a hang, or the battery itself stopped: end every process this case started
        for proc, out in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            out.close()
    return results


def classify(c: Case, results: list[tuple[int | None, str]], check) -> tuple[str, str]:
    """The worst outcome over the case's commands, and the message shown for it."""
    order = {
        o: i
        for i, o in enumerate(("clear", "correct", "unclear", "silent-wrong", "crash", "traceback", "hang"))
    }
    worst, shown = "correct", ""
    for rc, text in results:
        errors = [line for line in text.splitlines() if line.startswith("ERROR:")]
        message = errors[-1] if errors else (text.strip().splitlines() or [""])[-1]
        if rc is None:
            outcome = "hang"
        elif "Traceback (most recent call last)" in text:
            outcome = "traceback"
            message = (text.strip().splitlines() or [""])[-1]
        elif rc == 0:
            if c.expect == "error":
                outcome = "silent-wrong"
            else:
                problem = check() if check else None
                outcome, message = ("correct", "") if problem is None else ("silent-wrong", problem)
        elif rc == 2 and errors:
            text_all = " ".join(errors)
            if c.expect == "error" and re.search(c.match, text_all, re.I | re.S):
                outcome = "clear"
            else:
                outcome = "unclear"
        elif rc < 0 or rc > 128:
            outcome = "crash"
        else:
            outcome = "unclear"
        if order[outcome] >= order[worst] or worst == "correct":
            worst, shown = outcome, message
    if c.expect == "error" and worst == "correct":
        worst = "clear"
    return worst, shown


def run_case(c: Case, timeout: float = 90.0, mem_gb: float = 6.0) -> tuple[str, str, float, str]:
    """Build and run one case in a fresh temporary folder: ``(outcome, message, seconds, all output)``."""
    tmp = Path(tempfile.mkdtemp(prefix="hostile_"))
    try:
        t = c.build(tmp)
        for cmd in t.setup:
            ((rc, text),) = _run([cmd], tmp, timeout, mem_gb)
            if rc != 0:
                raise RuntimeError(f"{c.name}: setup failed: {text[-500:]}")
        if t.setup_fn:
            t.setup_fn()
        t0 = time.perf_counter()
        results = _run(t.commands, tmp, timeout, mem_gb)
        seconds = time.perf_counter() - t0
        outcome, message = classify(c, results, t.check)
        output = "\n".join(text for _, text in results)
        harm = t.harm(output) if t.harm else None
        if harm:
            outcome, message = "silent-wrong", f"{harm}: {message}"
        return outcome, message, seconds, output
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-k", default="", help="run only cases whose name or group contains this")
    p.add_argument("--timeout", type=float, default=90.0, help="seconds per case before it counts as a hang")
    p.add_argument("--mem-gb", type=float, default=6.0, help="address-space limit of each process")
    p.add_argument(
        "--verbose", action="store_true", help="print the whole output of cases that are not clear/correct"
    )
    args = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # runs the clean-up of the case in flight
    counts: collections.Counter[str] = collections.Counter()
    selected = [c for c in CASES if args.k in c.name or args.k == c.group]
    print(f"{len(selected)} hostile inputs through {cli()} (timeout {args.timeout:g} s, {args.mem_gb:g} GiB)")
    for c in selected:
        outcome, message, seconds, output = run_case(c, args.timeout, args.mem_gb)
        counts[outcome] += 1
        note = f" [{c.note}]" if c.note and outcome not in ("clear", "correct") else ""
        print(f"{c.group:8s} {c.name:36s} {outcome:12s} {seconds:6.1f}s  {message[:220]}{note}", flush=True)
        if args.verbose and outcome not in ("clear", "correct"):
            print("    | " + "\n    | ".join(output.strip().splitlines()[-25:]))
    print("\ncounts: " + ", ".join(f"{o} {counts[o]}" for o in OUTCOMES) + f" (total {sum(counts.values())})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
