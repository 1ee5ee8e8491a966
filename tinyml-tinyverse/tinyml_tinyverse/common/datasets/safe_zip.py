"""Extract a user's zip file safely: into a folder of ours, with no path traversal, no links, no bombs.

Limits (a project YAML raises them with ``dataset.max_extract_mb`` / ``dataset.max_compression_ratio``):

- the members' total uncompressed size, read from the zip directory before anything is written,
  and counted again on the bytes actually written, so a header that understates a member's size
  cannot pass;
- the compression ratio (uncompressed / compressed) of every member above 1 MiB and of the whole
  archive: a zip bomb (1 MB holding 1 GiB of zeros) is refused from its directory in milliseconds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import zipfile
import zlib
from pathlib import Path

from ..errors import DataError
from ..input_limits import CONFIG_KEYS, InputLimits

RATIO_MIN_BYTES = 1 << 20  # smaller members may compress as well as they like
MAX_SIZE_KEY = CONFIG_KEYS["max_extract_mb"]
MAX_RATIO_KEY = CONFIG_KEYS["max_compression_ratio"]
_CHUNK = 1 << 20


def _zip_fingerprint(path: Path) -> str:
    st = path.stat()
    return hashlib.sha256(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def _check_member_name(zip_path: Path, info: zipfile.ZipInfo, root: Path) -> Path:
    """The target path of ``info`` under ``root``; refuses traversal and links."""
    name = info.filename.replace("\\", "/")  # zips made by some Windows tools use backslashes
    parts = Path(name).parts
    if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
        raise DataError(f"{zip_path}: member {name!r} points outside the archive; refusing to extract it")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise DataError(f"{zip_path}: member {name!r} is a symbolic link; store real files in the zip")
    target = (root / name).resolve()
    if target != root and root not in target.parents:
        raise DataError(f"{zip_path}: member {name!r} points outside the archive; refusing to extract it")
    return target


def _check_directory(
    zip_path: Path,
    infos: list[zipfile.ZipInfo],
    *,
    max_bytes: int,
    max_ratio: float,
) -> int:
    """Refuse an archive whose directory promises too much; returns the total uncompressed bytes."""
    raise_size = f"raise {MAX_SIZE_KEY} (now {max_bytes / 1e6:g}) if the data is genuine"
    raise_ratio = f"raise {MAX_RATIO_KEY} (now {max_ratio:g}) if the data is genuine"
    total = packed = 0
    for info in infos:
        if info.is_dir():
            continue
        total += info.file_size
        packed += info.compress_size
        ratio = info.file_size / max(1, info.compress_size)
        if info.file_size > RATIO_MIN_BYTES and ratio > max_ratio:
            raise DataError(
                f"{zip_path}: member {info.filename!r} unpacks {_mb(info.compress_size)} into "
                f"{_mb(info.file_size)} (compression ratio {ratio:.0f} above the limit {max_ratio:g}): "
                f"this looks like a zip bomb; nothing was extracted. Unpack it yourself and pass the folder, or "
                f"{raise_ratio}"
            )
        if total > max_bytes:
            raise DataError(
                f"{zip_path}: its members unpack to more than {_mb(max_bytes)} (limit {MAX_SIZE_KEY}); nothing "
                f"was extracted. Unpack it yourself and pass the folder, or {raise_size}"
            )
    if total > 16 * RATIO_MIN_BYTES and total / max(1, packed) > max_ratio:
        raise DataError(
            f"{zip_path}: unpacks {_mb(packed)} into {_mb(total)} (compression ratio {total / max(1, packed):.0f} "
            f"above the limit {max_ratio:g}): this looks like a zip bomb; nothing was extracted. Unpack it yourself "
            f"and pass the folder, or {raise_ratio}"
        )
    return total


def _copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int) -> int:
    """Write one member, counting the bytes: more than its header declares, or than ``budget``, is refused."""
    written = 0
    with zf.open(info) as src, open(target, "wb") as dst:
        while chunk := src.read(_CHUNK):
            written += len(chunk)
            if written > info.file_size:
                raise DataError(
                    f"member {info.filename!r} holds more bytes than its header declares ({info.file_size}); the "
                    f"archive is damaged or crafted"
                )
            if written > budget:
                raise DataError(f"member {info.filename!r} goes past the extraction limit ({MAX_SIZE_KEY})")
            dst.write(chunk)
    return written


def safe_extract(
    zip_path: str | Path,
    dest: str | Path,
    *,
    max_extract_mb: float = InputLimits.max_extract_mb,
    max_compression_ratio: float = InputLimits.max_compression_ratio,
) -> Path:
    """Extract ``zip_path`` into ``dest`` (created; reused when it holds this very zip already).

    Refuses members with absolute paths, ``..`` parts or symbolic links, and archives above the
    limits of the module doc (``max_extract_mb`` in MB of 10^6 bytes, ``max_compression_ratio``),
    before writing anything. Backslashes in member names (some Windows tools) separate folders.
    Extraction goes to ``dest.tmp`` first and is renamed when complete; a failed one leaves nothing.
    """
    zip_path, dest = Path(zip_path), Path(dest)
    marker = dest / ".extracted_from"
    fingerprint = _zip_fingerprint(zip_path)
    if marker.exists() and marker.read_text() == fingerprint:
        return dest
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise DataError(f"{zip_path}: not a readable zip file ({e})") from None
    max_bytes = int(max_extract_mb * 1e6)
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    with zf:
        infos = zf.infolist()
        root = tmp.resolve()
        members = [(info, _check_member_name(zip_path, info, root)) for info in infos]
        total = _check_directory(zip_path, infos, max_bytes=max_bytes, max_ratio=max_compression_ratio)
        dest.parent.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(dest.parent).free
        if total > free:
            raise DataError(
                f"{zip_path}: unpacks to {_mb(total)} but {dest.parent} has {_mb(free)} free; free some space or "
                f"unpack it elsewhere and pass the folder"
            )
        tmp.mkdir(parents=True)
        budget = max_bytes
        try:
            for info, target in members:
                if target == root:
                    continue
                if info.is_dir() or info.filename.endswith("\\"):
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                budget -= _copy_member(zf, info, target, budget)
        except DataError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise DataError(f"{zip_path}: {e}; nothing was extracted") from None
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise DataError(
                f"{zip_path}: cannot extract it ({type(e).__name__}: {e}); the archive is damaged, encrypted or uses "
                f"an unsupported compression: re-create it with a standard zip tool"
            ) from None
    (tmp / ".extracted_from").write_text(fingerprint)
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)
    return dest
