"""release_code_pages: the machine code torch's import ran once leaves the resident set, only clean
file-backed executable mappings are touched, and the code runs on with the same results."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/smaps, madvise")

CHILD = textwrap.dedent(
    """
    import json
    import torch
    from tinyml_tinyverse.common.utils import memory

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, (5, 1)), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(8 * 60, 4))
    x = torch.randn(32, 3, 64, 1)
    before = model(x).detach().clone()
    model(x).sum().backward()
    grad_before = model[0].weight.grad.clone()
    mappings = memory._clean_code_mappings()
    rss_before = memory.rss_mib()
    released = memory.release_code_pages()
    rss_after = memory.rss_mib()
    model.zero_grad()
    after = model(x)
    after.sum().backward()
    print(json.dumps({
        "released": released, "rss_before": rss_before, "rss_after": rss_after, "mappings": len(mappings),
        "same_outputs": bool(torch.equal(before, after.detach())),
        "same_grads": bool(torch.equal(grad_before, model[0].weight.grad)),
    }))
    """
)


def test_torchs_run_once_code_leaves_and_the_model_computes_the_same():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["mappings"] > 5  # torch's, python's, numpy's libraries
    assert r["released"] >= 40, r  # about 90 MiB of torch's initialisers' code after its import
    assert r["rss_before"] - r["rss_after"] >= 40, r
    assert r["same_outputs"] and r["same_grads"]


@pytest.mark.parametrize("source", ["smaps", "remembered"])
def test_only_clean_executable_file_mappings_are_chosen(source):
    """Read from /proc/self/smaps, or remembered from an earlier reading (a release reads only the maps
    then): every span chosen is a clean, executable file mapping."""
    from tinyml_tinyverse.common.utils import memory

    if source == "smaps":
        spans = {(lo, hi) for lo, hi, _ in memory._clean_code_mappings()}
    else:
        memory._clean_code_spans()  # the first reading, then one from what it remembered
        spans = set(memory._clean_code_spans())
    assert spans
    with open("/proc/self/smaps") as f:
        lines = f.read().splitlines()
    current, dirty = None, 0
    for line in lines + ["0-0 ---- 0 0 0"]:
        head = line.split()
        if not head[0].endswith(":"):
            if current in spans:
                assert dirty == 0
            lo, hi = (int(v, 16) for v in head[0].split("-"))
            current, dirty = (lo, hi), 0
            if current in spans:
                assert head[1] == "r-xp" and len(head) > 5 and head[5].startswith("/")
        elif head[0] in ("Private_Dirty:", "Shared_Dirty:"):
            dirty += int(head[1])


def test_a_release_within_its_minimum_interval_is_skipped(monkeypatch):
    from tinyml_tinyverse.common.utils import memory

    calls = []
    monkeypatch.setattr(memory, "release_code_pages", lambda: calls.append(1) or 0)
    memory.release_free_memory()
    memory.release_free_memory(min_interval_s=60.0)  # just released: skipped
    assert len(calls) == 1
    memory.release_free_memory()  # a phase end (no interval) always releases
    assert len(calls) == 2
