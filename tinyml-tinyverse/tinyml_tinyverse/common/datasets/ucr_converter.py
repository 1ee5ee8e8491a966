"""Convert UCR / UEA archive files (``.ts`` and ``.arff``, univariate and multivariate) into the
classification layout ``OUT/classes/<label>/<name>_<split>_<i>.csv`` with the archive's TRAIN /
TEST split kept as ``OUT/annotations/instances_{train,test}_list.txt``. Regression (TSER) ``.ts``
files (``@targetLabel true``) go to the regression layout ``OUT/files/<name>_<split>_<i>.csv``, the
series' target repeated in a last column ``target`` (a window's target is then the series' target).

Command line::

    python -m tinyml_tinyverse.common.datasets.ucr_converter IN_FILE_OR_DIR OUT_DIR

``IN_FILE_OR_DIR`` is one file (its ``_TRAIN`` / ``_TEST`` sibling is picked up too) or a folder
holding ``<Name>_TRAIN.ts`` and ``<Name>_TEST.ts`` (or ``.arff``). Missing values (``?``) become
``nan`` (set ``nan_policy`` to drop or interpolate them).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import numpy as np

from ..errors import DataError, TinyMLError

Case = tuple[np.ndarray, str]  # (T, D) values, class label


def _values(text: str, where: str) -> np.ndarray:
    parts = [p.strip() for p in text.split(",") if p.strip() != ""]
    try:
        return np.array([np.nan if p in ("?", "NaN", "nan") else float(p) for p in parts], np.float64)
    except ValueError as e:
        raise DataError(f"{where}: {e}") from None


def _stack_dims(dims: list[np.ndarray], where: str) -> np.ndarray:
    lengths = {len(d) for d in dims}
    if len(lengths) != 1:
        raise DataError(f"{where}: the dimensions of one series have different lengths {sorted(lengths)}")
    return np.stack(dims, axis=1)


def ts_label_kind(path: str | Path) -> str | None:
    """``"class"`` (``@classLabel true``), ``"target"`` (``@targetLabel true``, regression) or None."""
    for raw in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        low = raw.strip().lower()
        if low.startswith("@data"):
            break
        if low.startswith(("@classlabel", "@targetlabel")) and low.split()[1:2] == ["true"]:
            return "class" if low.startswith("@classlabel") else "target"
    return None


def read_ts(path: str | Path) -> list[Case]:
    """Read a sktime / UEA ``.ts`` file: ``dim1 values : dim2 values : ... : label`` per line (the label
    is a class, or the target value of a regression file)."""
    path = Path(path)
    cases: list[Case] = []
    in_data = False
    has_labels = ts_label_kind(path) is not None
    for lineno, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", "%")):
            continue
        where = f"{path}:{lineno}"
        if not in_data:
            low = line.lower()
            if low.startswith("@timestamps") and low.split()[-1] == "true":
                raise DataError(f"{where}: .ts files with time stamps are not supported; export without them")
            if low.startswith("@data"):
                in_data = True
            continue
        fields = line.split(":")
        if not has_labels:
            raise DataError(
                f"{where}: the file declares no class labels (@classLabel false) and no targets; nothing to learn"
            )
        *dims, label = fields
        cases.append((_stack_dims([_values(d, where) for d in dims], where), label.strip()))
    if not in_data:
        raise DataError(f"{path}: no @data section; is this a .ts file?")
    return cases


def _split_arff_row(line: str) -> tuple[str, str]:
    """``'relational part',label`` or ``v1,v2,...,label`` -> (values text, label)."""
    if line[0] in "'\"":
        quote = line[0]
        end = line.rindex(quote)
        return line[1:end], line[end + 1 :].lstrip(",").strip()
    values, _, label = line.rpartition(",")
    return values, label.strip()


def read_arff(path: str | Path) -> list[Case]:
    """Read a UCR (one row of values + class) or UEA (relational, dims joined by ``\\n``) ``.arff``."""
    path = Path(path)
    cases: list[Case] = []
    in_data = False
    for lineno, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("%"):
            continue
        where = f"{path}:{lineno}"
        if not in_data:
            in_data = line.lower().startswith("@data")
            continue
        values, label = _split_arff_row(line)
        dims = [_values(d, where) for d in re.split(r"\\n|\n", values)]
        cases.append((_stack_dims(dims, where), label.strip("'\"")))
    if not in_data:
        raise DataError(f"{path}: no @data section; is this an .arff file?")
    return cases


READERS = {".ts": read_ts, ".arff": read_arff}


def _pairs(in_path: Path) -> dict[str, Path]:
    """``{"train": file, "test": file}`` (or ``{"all": file}``) for a file or a folder."""
    if in_path.is_dir():
        problems: dict[str, dict[str, Path]] = {}
        for suffix in (".arff", ".ts"):  # .ts wins where a problem comes in both formats
            for path in sorted(in_path.glob(f"*{suffix}")):
                m = re.match(r"(.*)_(TRAIN|TEST)$", path.stem)
                if m:
                    problems.setdefault(m.group(1), {})[m.group(2).lower()] = path
        if not problems:
            raise DataError(f"{in_path}: no *_TRAIN.ts / *_TEST.ts (or .arff) files found")
        if len(problems) > 1:
            raise DataError(
                f"{in_path} holds {len(problems)} problems ({', '.join(sorted(problems))}); a folder must hold one. "
                f"Give one file instead, e.g. {in_path / (sorted(problems)[0] + '_TRAIN.ts')} (its _TEST twin is found)"
            )
        return next(iter(problems.values()))
    if not in_path.is_file():
        raise DataError(f"{in_path}: no such file or folder")
    if in_path.suffix.lower() not in READERS:
        raise DataError(f"{in_path}: unsupported file type; the converter reads .ts and .arff")
    m = re.match(r"(.*)_(TRAIN|TEST)$", in_path.stem, re.IGNORECASE)
    if not m:
        return {"all": in_path}
    out = {m.group(2).lower(): in_path}
    other = "TEST" if m.group(2).upper() == "TRAIN" else "TRAIN"
    sibling = in_path.with_name(f"{m.group(1)}_{other}{in_path.suffix}")
    if sibling.is_file():
        out[other.lower()] = sibling
    return out


def _safe_label(label: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9_.\-+]", "_", label).strip(".")
    return clean or "label"


def _write_csv(path: Path, values: np.ndarray, target: float | None = None) -> None:
    header = ",".join(f"dim_{d}" for d in range(values.shape[1]))
    if target is not None:
        values = np.column_stack([values, np.full(len(values), target)])
        header += ",target"
    tmp = path.with_name(path.name + ".tmp")
    np.savetxt(tmp, values, delimiter=",", header=header, comments="", fmt="%.9g")
    os.replace(tmp, path)


def convert_ucr(in_path: str | Path, out_dir: str | Path) -> Path:
    """Convert a UCR/UEA file or folder into ``out_dir`` (classification layout + split lists)."""
    in_path, out_dir = Path(in_path), Path(out_dir)
    for sub in ("classes", "files"):
        if (out_dir / sub).exists() and any((out_dir / sub).iterdir()):
            raise DataError(
                f"{out_dir}/{sub} already holds data; choose an empty OUT_DIR (nothing is overwritten)"
            )
    lists: dict[str, list[str]] = {}
    for split, path in _pairs(in_path).items():
        cases = READERS[path.suffix.lower()](path)
        if not cases:
            raise DataError(f"{path}: no series found after @data")
        name = re.sub(r"_(TRAIN|TEST)$", "", path.stem, flags=re.IGNORECASE)
        regression = path.suffix.lower() == ".ts" and ts_label_kind(path) == "target"
        entries = []
        for i, (values, label) in enumerate(cases):
            if regression:
                (out_dir / "files").mkdir(parents=True, exist_ok=True)
                rel = f"{name}_{split}_{i:05d}.csv"
                _write_csv(out_dir / "files" / rel, values, target=float(label))
            else:
                folder = out_dir / "classes" / _safe_label(label)
                folder.mkdir(parents=True, exist_ok=True)
                rel = f"{folder.name}/{name}_{split}_{i:05d}.csv"
                _write_csv(out_dir / "classes" / rel, values)
            entries.append(rel)
        lists[split] = entries
    ann = out_dir / "annotations"
    ann.mkdir(parents=True, exist_ok=True)
    for split, entries in lists.items():
        fname = "file_list.txt" if split == "all" else f"instances_{split}_list.txt"
        (ann / fname).write_text("".join(f"{e}\n" for e in entries), encoding="utf-8")
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Convert UCR/UEA .ts or .arff files to the classes/ layout (files/ for regression .ts)."
    )
    parser.add_argument("input", help="a .ts / .arff file or a folder with <Name>_TRAIN / <Name>_TEST files")
    parser.add_argument("out_dir", help="output folder (gets classes/ and annotations/)")
    args = parser.parse_args(argv)
    try:
        out = convert_ucr(args.input, args.out_dir)
    except TinyMLError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    data = "files" if (out / "files").is_dir() else "classes"
    print(f"wrote {out}/{data} and {out}/annotations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
