"""Resident memory of this process: now, its peak so far, the peak within a block of work, and
giving freed memory back to the OS.

Linux reads ``/proc/self/status``; elsewhere the peak comes from ``resource.getrusage`` and the
current figure is unknown (None).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys
import threading
import time

MIB = 1 << 20


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_mib() -> float | None:
    """Resident set size now, MiB (None where the OS does not say)."""
    kib = _status_kib("VmRSS")
    return None if kib is None else kib / 1024


def peak_rss_mib() -> float:
    """The largest resident set size of this process so far, MiB."""
    kib = _status_kib("VmHWM")
    if kib is not None:
        return kib / 1024
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MIB if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere


class PeakRss:
    """``with PeakRss() as p: ...`` then ``p.mib``: the peak resident memory while the block ran.

    Exact when the block raised the process's peak; otherwise the largest figure of a sampler that
    reads the resident size every ``interval`` seconds (a spike shorter than that may be missed).
    """

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.mib: float | None = None
        self._sampled = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            now = rss_mib()
            if now is None:
                return
            self._sampled = max(self._sampled, now)

    def __enter__(self) -> PeakRss:
        self._before = peak_rss_mib()
        self._sampled = rss_mib() or 0.0
        self._thread = threading.Thread(target=self._sample, name="peak-rss", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        after = peak_rss_mib()
        self.mib = after if after > self._before else max(self._sampled, rss_mib() or 0.0)


_last_release = [float("-inf")]  # time.monotonic() of this process's last release_free_memory


def release_free_memory(min_interval_s: float = 0.0) -> None:
    """Give back to the OS what this process holds but does not use now: the heap memory it freed
    (glibc's ``malloc_trim``) and the pages of machine code it ran once (:func:`release_code_pages`).
    A no-op off Linux, and when the last release was less than ``min_interval_s`` seconds ago (a
    caller that runs often, such as each C compiler call of a search's measuring, frees little in
    between and would make the code that runs next fault back in each time).

    glibc keeps freed blocks of its heap resident for reuse: after the dataset stage (many parsed
    recordings of a few hundred KiB, freed) about 70 MiB of them would stay resident under the
    training stage's imports and tensors, raising the run's peak by as much. (No ``gc.collect()``:
    arrays are freed when their last reference goes, and a full collection costs 0.15 s once torch
    is loaded.)"""
    now = time.monotonic()
    if now - _last_release[0] < min_interval_s:
        return
    _last_release[0] = now
    trim = _glibc_function("malloc_trim")
    if trim is not None:
        trim(0)
    release_code_pages()


MADV_DONTNEED = 4  # madvise's advice number (Linux, all architectures)
RECHECK_S = 30.0  # the mappings found clean are checked again in /proc/self/smaps this often


def release_code_pages() -> int:
    """Unmap the resident pages of this process's shared libraries' machine code; returns MiB released.

    Importing torch runs the static initialisers of its 400 MiB ``libtorch_cpu.so`` (thousands of
    operator registrations), which leaves about 90 MiB of its code resident although it never runs
    again; the kernel's fault-around maps 64 KiB for each page touched. Only clean, file-backed,
    executable mappings are released (``Private_Dirty`` 0 in ``/proc/self/smaps``: their content is
    the file's, byte for byte), with ``madvise(MADV_DONTNEED)``; the pages stay in the page cache and
    a function that runs again is mapped back by a minor fault, with the same bytes.

    Reading ``/proc/self/smaps`` costs about 15 ms once torch is loaded (the kernel walks every
    mapping's pages), so the mappings found clean are remembered: a release reads the cheap
    ``/proc/self/maps`` (under 1 ms) and reads smaps again only for a mapping it has not seen (a new
    library), or when its last reading is ``RECHECK_S`` old."""
    madvise = _glibc_function("madvise")
    if madvise is None:
        return 0
    before = _resident_file_kib()
    for lo, hi in _clean_code_spans():
        madvise(ctypes.c_void_p(lo), ctypes.c_size_t(hi - lo), MADV_DONTNEED)
    return max(0, before - _resident_file_kib()) // 1024


def _resident_file_kib() -> int:
    """Resident file-backed (and shared) memory of this process, KiB (``/proc/self/statm``'s third field)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[2]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    except (OSError, ValueError, IndexError):
        return 0


_checked: dict[tuple, bool] = {}  # executable file mapping (its maps line's fields) -> clean when last read
_checked_at = [float("-inf")]


def _clean_code_spans() -> list[tuple[int, int]]:
    """``(start, end)`` of each private executable file mapping with no modified page (see
    :func:`release_code_pages` for when ``/proc/self/smaps`` is read again)."""
    try:
        with open("/proc/self/maps") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    mappings = [tuple(line.split()) for line in lines]
    code = [m for m in mappings if len(m) > 5 and m[1] == "r-xp" and m[5].startswith("/")]
    if time.monotonic() - _checked_at[0] > RECHECK_S or any(m[:5] not in _checked for m in code):
        clean = {(lo, hi) for lo, hi, _ in _clean_code_mappings(resident_only=False)}
        _checked.clear()
        for m in code:
            _checked[m[:5]] = tuple(int(v, 16) for v in m[0].split("-")) in clean
        _checked_at[0] = time.monotonic()
    return [tuple(int(v, 16) for v in m[0].split("-")) for m in code if _checked.get(m[:5])]


def _clean_code_mappings(resident_only: bool = True) -> list[tuple[int, int, int]]:
    """``(start, end, resident KiB)`` of each private executable file mapping with no modified page,
    read from ``/proc/self/smaps`` (with ``resident_only``, those with nothing resident left out)."""
    try:
        with open("/proc/self/smaps") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    found: list[tuple[int, int, int]] = []
    span, rss, dirty = None, 0, 0
    for line in lines + ["0-0 ---- end"]:  # the sentinel closes the last mapping
        head = line.split()
        if head and not head[0].endswith(":"):  # "start-end perms offset dev inode [path]": a new mapping
            if span is not None and (rss or not resident_only) and not dirty:
                found.append((*span, rss))
            perms, path = head[1], head[5] if len(head) > 5 else ""
            executable_file = perms == "r-xp" and path.startswith("/")
            span = tuple(int(v, 16) for v in head[0].split("-")) if executable_file else None
            rss, dirty = 0, 0
        elif span is not None and head[0] == "Rss:":
            rss = int(head[1])
        elif span is not None and head[0] in ("Private_Dirty:", "Shared_Dirty:"):
            dirty += int(head[1])
    return found


M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)


def share_one_malloc_arena() -> None:
    """Let threads started from now on allocate from glibc's main arena instead of one arena each
    (``mallopt(M_ARENA_MAX, 1)``, as ``MALLOC_ARENA_MAX=1`` would at start-up; a no-op elsewhere,
    or when the user set ``MALLOC_ARENA_MAX``).

    The dataset stage's reading threads each got an arena of their own when torch was already loaded
    (where the main thread reuses the room torch's initialisation freed); those arenas stayed
    resident under the training stage and raised the whole run's peak by 33 MiB (507 -> 474 MiB
    with one arena), with no loss of reading speed (data / baseline 1.13x -> 1.08x)."""
    mallopt = _glibc_function("mallopt")
    if mallopt is not None and "MALLOC_ARENA_MAX" not in os.environ:
        mallopt(M_ARENA_MAX, 1)


@functools.cache
def _glibc_function(name: str):
    """glibc's function ``name`` (loaded once), or None off Linux or with another C library (musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None
