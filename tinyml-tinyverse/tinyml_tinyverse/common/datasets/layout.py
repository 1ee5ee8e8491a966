"""Find the data folder and the annotation lists of a dataset as users lay it out.

- ``<root>/classes/<label>/<recording>`` (classification, anomaly detection) or
  ``<root>/files/<recording>`` (regression, forecasting); a folder of class folders or of files
  is also accepted as the data folder itself.
- Split lists: ``<root>/<split>_list.txt``, ``<root>/annotations/<split>_list.txt`` or
  ``<root>/annotations/instances_<split>_list.txt``; ``file_list.txt`` lists all files. Each line
  is a path relative to the data folder, e.g. ``class_a/rec1.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from .readers import DATA_SUFFIXES

SPLITS = ("train", "val", "test")


@dataclass
class Layout:
    """``base``: the folder that may hold annotations; ``data_dir``: classes/ or files/ folder."""

    base: Path
    data_dir: Path
    by_class: bool


def _data_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in DATA_SUFFIXES)


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def find_layout(base: Path, task: str) -> Layout:
    """Locate the data folder under ``base`` for ``task``."""
    by_class = task in ("classification", "anomalydetection")
    for name in ("classes", "files"):
        if (base / name).is_dir():
            if by_class and name == "files":
                raise DataError(f"{base}: a {task} dataset needs classes/<label>/ folders, found files/")
            if not by_class and name == "classes":
                raise DataError(
                    f"{base}: a {task} dataset keeps its recordings in files/*.csv (target columns "
                    "inside), found classes/"
                )
            return Layout(base, base / name, by_class)
    subdirs = [d for d in _visible_dirs(base) if d.name != "annotations"]
    if by_class and subdirs:
        return Layout(base, base, True)
    if not by_class and _data_files(base):
        return Layout(base, base, False)
    want = "classes/<label>/*.csv" if by_class else "files/*.csv"
    raise DataError(f"{base}: no dataset found; expected the layout {want} (see docs/data_formats.md)")


def list_data_files(layout: Layout) -> list[str]:
    """All recordings as paths relative to the data folder, sorted."""
    if not layout.by_class:
        files = [p.name for p in _data_files(layout.data_dir)]
        if not files:
            raise DataError(f"{layout.data_dir}: no {'/'.join(DATA_SUFFIXES)} files found")
        return files
    out = []
    for d in _visible_dirs(layout.data_dir):
        if d.name == "annotations":
            continue
        files = _data_files(d)
        if not files:
            raise DataError(
                f"{d}: the class folder {d.name!r} holds no {'/'.join(DATA_SUFFIXES)} files; "
                "add recordings or remove the folder"
            )
        out += [f"{d.name}/{p.name}" for p in files]
    if not out:
        raise DataError(f"{layout.data_dir}: no class folders with recordings found")
    return out


def find_list(base: Path, split: str) -> Path | None:
    """The annotation list for ``split`` (or ``file`` for file_list.txt) shipped with the data."""
    for cand in (
        base / f"{split}_list.txt",
        base / "annotations" / f"{split}_list.txt",
        base / "annotations" / f"instances_{split}_list.txt",
    ):
        if cand.is_file():
            return cand
    return None


def read_list(path: Path, layout: Layout) -> list[str]:
    """Read an annotation list; every entry must exist under the data folder."""
    out = []
    prefix = layout.data_dir.name + "/"
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        entry = line.strip().replace("\\", "/")
        if not entry or entry.startswith("#"):
            continue
        if entry.startswith(prefix) and not (layout.data_dir / entry).exists():
            entry = entry[len(prefix) :]
        if ".." in Path(entry).parts or Path(entry).is_absolute():
            raise DataError(f"{path}:{i}: {entry!r} must be a path inside {layout.data_dir}")
        if not (layout.data_dir / entry).is_file():
            raise DataError(
                f"{path}:{i}: {entry!r} does not exist under {layout.data_dir}; fix or remove the line"
            )
        out.append(entry)
    return out
