"""The static arena planner: tensors alive at the same step never share bytes."""

from __future__ import annotations

import random

from tinyml_tinyverse.common.compilation.arena import TensorLife, lifetimes, plan_arena


def test_plan_never_overlaps_live_tensors():
    rng = random.Random(0)
    for _ in range(200):
        tensors = []
        for k in range(rng.randint(1, 12)):
            first = rng.randint(0, 10)
            tensors.append(TensorLife(f"t{k}", rng.randint(1, 300), first, first + rng.randint(0, 5)))
        offsets, total = plan_arena(tensors, align=4)
        assert total % 4 == 0
        for t in tensors:
            assert offsets[t.name] % 4 == 0 and offsets[t.name] + t.size <= total
        for a in tensors:
            for b in tensors:
                if a.name < b.name and not (a.last < b.first or b.last < a.first):
                    a0, b0 = offsets[a.name], offsets[b.name]
                    assert a0 + a.size <= b0 or b0 + b.size <= a0, (a, b, offsets)
        peak = max(sum(t.size for t in tensors if t.first <= s <= t.last) for s in range(17))
        assert total >= peak


def test_lifetimes_of_a_chain_reuse_memory():
    # x -> a -> b -> c -> out: a and c can share memory, the model input x is the caller's buffer
    steps = [(["x"], "a"), (["a"], "b"), (["b"], "c"), (["c"], "out")]
    lives = lifetimes(steps, ["out"], {"a": 100, "b": 100, "c": 100, "out": 10}, external={"x"})
    assert {t.name: (t.first, t.last) for t in lives} == {
        "a": (0, 1),
        "b": (1, 2),
        "c": (2, 3),
        "out": (3, 4),
    }
    offsets, total = plan_arena(lives)
    assert total == 200 and offsets["a"] == offsets["c"]
