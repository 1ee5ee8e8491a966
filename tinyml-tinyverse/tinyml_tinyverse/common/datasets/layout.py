"""Find the data folder and the annotation lists of a dataset as users lay it out.

- ``<root>/classes/<label>/<recording>`` (classification, anomaly detection) or
  ``<root>/files/<recording>`` (regression, forecasting); a folder of class folders or of files
  is also accepted as the data folder itself.
- Split lists: ``<root>/<split>_list.txt``, ``<root>/annotations/<split>_list.txt`` or
  ``<root>/annotations/instances_<split>_list.txt``; ``file_list.txt`` lists all files. Each line
  is a path relative to the data folder, e.g. ``class_a/rec1.csv``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from .. import run_files
from ..errors import DataError
from ..input_limits import CONFIG_KEYS, InputLimits
from ..task_names import get_task_record
from .readers import DATA_SUFFIXES
from .safe_zip import safe_extract

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
_NUMBERS = {1: "one", 2: "two", 3: "three"}


@dataclass
class Layout:
    """``base``: the folder that may hold annotations; ``data_dir``: classes/ or files/ folder."""

    base: Path
    data_dir: Path
    by_class: bool


def _is_doc_or_list(p: Path) -> bool:
    """A README / LICENSE or a split list (``train_list.txt``) beside the recordings: not a recording."""
    name = p.name.lower()
    return name.startswith(("readme", "license")) or name.endswith("_list.txt")


def _is_data_file(p: Path, suffixes: tuple[str, ...] = DATA_SUFFIXES) -> bool:
    """A recording: a supported suffix, not hidden (macOS zips add ``._name.csv`` files), not a README
    or split list."""
    return (
        p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith(".") and not _is_doc_or_list(p)
    )


def _data_files(
    folder: Path, recursive: bool = False, suffixes: tuple[str, ...] = DATA_SUFFIXES
) -> list[Path]:
    if not recursive:
        return sorted(p for p in folder.iterdir() if _is_data_file(p, suffixes))

    def in_hidden_folder(p: Path) -> bool:
        return any(part.startswith((".", "_")) for part in p.relative_to(folder).parts[:-1])

    return sorted(p for p in folder.rglob("*") if _is_data_file(p, suffixes) and not in_hidden_folder(p))


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def find_layout(base: Path, task: str) -> Layout:
    """Locate the data folder under ``base`` for ``task``."""
    by_class = get_task_record(task).by_class
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
    seen = sorted(p.name + ("/" if p.is_dir() else "") for p in base.iterdir() if not p.name.startswith("."))
    found = f"it holds {seen[:8]}{' ...' if len(seen) > 8 else ''}" if seen else "it is empty"
    raise DataError(
        f"{base}: no dataset found ({found}); expected the layout {want} (see docs/data_formats.md)"
    )


_NOT_DATA = {".md", ".json", ".yaml", ".yml", ".png", ".jpg", ".pdf", ".db", ".ini", ".log", ".zip"}


def _warn_skipped(folder: Path, recursive: bool, suffixes: tuple[str, ...] = DATA_SUFFIXES) -> None:
    """Log the files of another type that are left out (an .xlsx or .mat among the .csv files)."""
    files = folder.rglob("*") if recursive else folder.iterdir()
    skipped = sorted(
        p.relative_to(folder).as_posix()
        for p in files
        if p.is_file()
        and not any(part.startswith((".", "_")) for part in p.relative_to(folder).parts)
        and p.suffix.lower() not in suffixes
        and p.suffix.lower() not in _NOT_DATA
        and not _is_doc_or_list(p)
    )
    if skipped:
        log.warning(
            "%s: %d file(s) of an unsupported type are left out (%s%s); recordings must be %s",
            folder,
            len(skipped),
            ", ".join(skipped[:3]),
            " ..." if len(skipped) > 3 else "",
            "/".join(suffixes),
        )


def list_data_files(layout: Layout, suffixes: tuple[str, ...] = DATA_SUFFIXES) -> list[str]:
    """All recordings (files with one of ``suffixes``) as paths relative to the data folder, sorted."""
    if not layout.by_class:
        files = [p.name for p in _data_files(layout.data_dir, suffixes=suffixes)]
        if not files:
            raise DataError(f"{layout.data_dir}: no {'/'.join(suffixes)} files found")
        _warn_skipped(layout.data_dir, recursive=False, suffixes=suffixes)
        _refuse_line_breaks(layout.data_dir, files)
        return files
    out = []
    for d in _visible_dirs(layout.data_dir):
        if d.name == "annotations":
            continue
        files = _data_files(d, recursive=True, suffixes=suffixes)  # classes/<label>/<sub folders>/<file>
        if not files:
            raise DataError(
                f"{d}: the class folder {d.name!r} holds no {'/'.join(suffixes)} files; "
                "add recordings or remove the folder"
            )
        _warn_skipped(d, recursive=True, suffixes=suffixes)
        out += [p.relative_to(layout.data_dir).as_posix() for p in files]
    if not out:
        raise DataError(f"{layout.data_dir}: no class folders with recordings found")
    _refuse_line_breaks(layout.data_dir, out)
    return out


def _refuse_line_breaks(data_dir: Path, files: list[str]) -> None:
    """A name with a line break cannot be written to the split lists (one path per line)."""
    for rel in files:
        if rel.splitlines() != [rel]:
            raise DataError(
                f"{data_dir}: the path {rel!r} holds a line break, which the split lists (one path per line) "
                "cannot hold; rename the file or folder"
            )


def refuse_outside_links(layout: Layout, files: list[str], allow: bool = False) -> None:
    """Refuse a listed file that a symbolic link leads out of the data folder (unless ``allow``).

    Checked before any file is read, so the content of a file outside is never read or shown.
    """
    if allow:
        return
    root = layout.data_dir.resolve()
    for rel in files:
        path = layout.data_dir / rel
        real = path.resolve()
        if real != root and root not in real.parents:
            raise DataError(
                f"{path}: a symbolic link that leads out of the data folder {layout.data_dir}; links out of it are "
                "refused like zip members pointing outside the archive. Copy the file into the folder, or set "
                f"{CONFIG_KEYS['allow_outside_links']}: true if you trust the link"
            )


def find_list(base: Path, split: str) -> Path | None:
    """The annotation list for ``split`` (or ``file`` for file_list.txt) shipped with the data."""
    for cand in (
        base / run_files.split_list(split),
        base / run_files.ANNOTATIONS_DIR / run_files.split_list(split),
        base / run_files.ANNOTATIONS_DIR / f"instances_{split}_list.txt",
    ):
        if cand.is_file():
            return cand
    return None


def read_list(path: Path, layout: Layout) -> list[str]:
    """Read an annotation list; every entry must exist under the data folder."""
    out = []
    prefix = layout.data_dir.name + "/"
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        if "\\" in entry and not (layout.data_dir / entry).is_file():  # a list written on Windows
            entry = entry.replace("\\", "/")
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


def locate_input(
    input_path: Path, output_dir: Path, task: str, limits: InputLimits | None = None
) -> tuple[Layout, list[str] | None]:
    """The layout of the user's input (a zip is extracted into ``output_dir/extracted`` within
    ``limits``) and, for a single file, the one file."""
    limits = limits or InputLimits()
    if not input_path.exists():
        raise DataError(
            f"dataset.input_data_path {str(input_path)!r} does not exist; give a folder, .zip or file"
        )
    if not input_path.is_dir() and not input_path.is_file():
        raise DataError(
            f"dataset.input_data_path {str(input_path)!r} is a device, pipe or socket, not a folder, .zip or "
            "regular file; give the folder holding your recordings"
        )
    if input_path.is_file() and input_path.suffix.lower() == ".zip":
        output_dir.mkdir(parents=True, exist_ok=True)
        base = safe_extract(
            input_path,
            output_dir / "extracted",
            max_extract_mb=limits.max_extract_mb,
            max_compression_ratio=limits.max_compression_ratio,
        )
        inner = [d for d in base.iterdir() if not d.name.startswith((".", "_"))]
        dirs = [d for d in inner if d.is_dir()]
        # one top folder (mydata/classes/...), also beside a README.txt or other loose files
        top_data = [d for d in inner if _is_data_file(d)]
        if len(dirs) == 1 and dirs[0].name not in ("classes", "files", "annotations"):
            holds_layout = (dirs[0] / "classes").is_dir() or (dirs[0] / "files").is_dir()
            if holds_layout or not top_data:
                base = dirs[0]
        return find_layout(base, task), None
    if input_path.is_file():
        if input_path.suffix.lower() not in DATA_SUFFIXES:
            raise DataError(
                f"{input_path}: unsupported file type; give a folder, a .zip or one of {DATA_SUFFIXES}"
            )
        if get_task_record(task).by_class:
            raise DataError(
                f"{input_path}: a {task} dataset needs class folders, not a single file: one file per "
                "recording under classes/<label>/ (a file with a label column: write each recording's rows "
                "to classes/<its label>/<recording>.csv), and point dataset.input_data_path at the folder"
            )
        return Layout(input_path.parent, input_path.parent, False), [input_path.name]
    return find_layout(input_path, task), None


def label_of(path: str) -> str:
    """The class of a listed path: its first folder (``class_a/rec1.csv`` -> ``class_a``)."""
    return path.split("/", 1)[0]


def class_names_of(files: list[str], task: str, where: Path) -> list[str]:
    """Sorted class folder names; checks the task's ``min_classes`` and ``normal_class`` (anomaly)."""
    record = get_task_record(task)
    if not record.by_class:
        return []
    names = sorted({label_of(f) for f in files})
    by_case: dict[str, list[str]] = {}
    for name in names:
        by_case.setdefault(name.casefold(), []).append(name)
    same = next((group for group in by_case.values() if len(group) > 1), None)
    if same:
        raise DataError(
            f"{where}: the class folders {' and '.join(repr(n) for n in same)} differ only in case: they would be "
            "two classes here but are one folder on Windows and macOS; merge them into one folder (or rename one)"
        )
    if len(names) < record.min_classes:
        raise DataError(
            f"{where}: {task} needs at least {_NUMBERS.get(record.min_classes, record.min_classes)} class "
            f"folders, found {names}; "
            "add a folder per class under classes/"
        )
    normal = record.normal_class
    if normal and normal not in names:
        near = [n for n in names if n.strip().lower() == normal.lower()]
        hint = f"; rename {near[0]!r} to {normal!r} (the name is case-sensitive)" if near else ""
        raise DataError(
            f"{where}: anomaly detection needs a classes/{normal}/ folder of normal recordings; found {names}"
            + hint
        )
    return names
