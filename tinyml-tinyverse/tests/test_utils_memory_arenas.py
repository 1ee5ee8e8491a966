"""share_one_malloc_arena: threads started after it allocate from glibc's one main arena (counted with
glibc's malloc_info in a fresh process); without it each thread gets an arena of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc arenas")

CHILD = textwrap.dedent(
    """
    import ctypes, ctypes.util, sys, tempfile, threading
    from tinyml_tinyverse.common.utils.memory import share_one_malloc_arena

    if sys.argv[1] == "share":
        share_one_malloc_arena()
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    barrier, keep = threading.Barrier(5), []

    def work():
        keep.append([bytearray(200) for _ in range(2000)])  # small blocks: from the thread's arena
        barrier.wait()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    barrier.wait()
    path = tempfile.mktemp()
    libc.fopen.restype = ctypes.c_void_p
    fp = libc.fopen(path.encode(), b"w")
    libc.malloc_info(0, ctypes.c_void_p(fp))
    libc.fclose(ctypes.c_void_p(fp))
    print(open(path).read().count("<heap nr="))
    """
)


def heaps(mode: str, **env: str) -> int:
    environ = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True,
                         env={**environ, **env})  # fmt: skip
    return int(out.stdout)


def test_threads_share_the_main_arena():
    assert heaps("none") >= 4  # glibc's default: an arena per thread
    assert heaps("share") == 1


def test_a_user_setting_is_left_alone():
    assert heaps("share", MALLOC_ARENA_MAX="3") == 3
