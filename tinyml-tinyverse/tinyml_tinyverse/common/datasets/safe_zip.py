"""Extract a user's zip file safely: into a folder of ours, with no path traversal, no links."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import zipfile
from pathlib import Path

from ..errors import DataError

MAX_UNCOMPRESSED_BYTES = 16 * 1024**3


def _zip_fingerprint(path: Path) -> str:
    st = path.stat()
    return hashlib.sha256(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()


def safe_extract(zip_path: str | Path, dest: str | Path) -> Path:
    """Extract ``zip_path`` into ``dest`` (created; reused when it holds this very zip already).

    Refuses members with absolute paths, ``..`` parts, symbolic links or a total size above
    16 GiB; backslashes in member names (some Windows tools) separate folders. Extraction goes to ``dest.tmp`` first and is renamed when complete.
    """
    zip_path, dest = Path(zip_path), Path(dest)
    marker = dest / ".extracted_from"
    fingerprint = _zip_fingerprint(zip_path)
    if marker.exists() and marker.read_text() == fingerprint:
        return dest
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(f"{zip_path}: not a readable zip file ({e})") from None
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    with zf:
        total = 0
        members = []
        for info in zf.infolist():
            name = info.filename.replace("\\", "/")  # zips made by some Windows tools use backslashes
            parts = Path(name).parts
            mode = info.external_attr >> 16
            if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
                raise DataError(
                    f"{zip_path}: member {name!r} points outside the archive; refusing to extract it"
                )
            if stat.S_ISLNK(mode):
                raise DataError(
                    f"{zip_path}: member {name!r} is a symbolic link; store real files in the zip"
                )
            total += info.file_size
            if total > MAX_UNCOMPRESSED_BYTES:
                raise DataError(
                    f"{zip_path}: more than 16 GiB uncompressed; extract it yourself and pass the folder"
                )
            target = (tmp / name).resolve()
            if not str(target).startswith(str(tmp.resolve()) + os.sep) and target != tmp.resolve():
                raise DataError(
                    f"{zip_path}: member {name!r} points outside the archive; refusing to extract it"
                )
            members.append((info, target))
        tmp.mkdir(parents=True)
        for info, target in members:
            if target == tmp.resolve():
                continue
            if info.is_dir() or info.filename.endswith("\\"):
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
    (tmp / ".extracted_from").write_text(fingerprint)
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)
    return dest
