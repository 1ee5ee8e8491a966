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


def test_liveness_bound_counts_word_aligned_buffers():
    from tinyml_tinyverse.common.compilation.arena import liveness_bound

    lives = [TensorLife("a", 10, 0, 1), TensorLife("b", 3, 1, 2), TensorLife("c", 8, 2, 3)]
    assert liveness_bound(lives, align=4) == max(12 + 4, 4 + 8)
    offsets, total = plan_arena(lives, align=4)
    assert total == liveness_bound(lives, align=4)


def test_in_place_pool_and_fused_conv_pool_meet_the_liveness_bound(tmp_path):
    """conv+maxpool fused, a max pool after an add runs in place, the arena equals the liveness bound."""
    import numpy as np
    import torch
    import torch.nn as nn
    from tinyml_tinyverse.common.compilation import compile_model
    from tinyml_tinyverse.common.quantization import quantize_onnx

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(1, 8, (5, 1), padding=(2, 0))
            self.b = nn.Conv2d(8, 8, (3, 1), padding=(1, 0))
            self.fc = nn.Linear(8 * 8, 3)

        def forward(self, x):
            h = nn.functional.max_pool2d(torch.relu(self.a(x)), (2, 1))  # fused into the conv
            h = nn.functional.max_pool2d(torch.relu(self.b(h)) + h, (2, 1))  # after an add: in place
            return self.fc(h.flatten(1))

    torch.manual_seed(0)
    path = tmp_path / "net.onnx"
    torch.onnx.export(Net().eval(), (torch.randn(1, 1, 32, 1),), str(path), dynamo=False)
    x = np.random.default_rng(0).standard_normal((32, 1, 32, 1)).astype(np.float32)
    report = compile_model(
        quantize_onnx(path, x), tmp_path / "out", target_device="CORTEX_M4F", test_vectors=dict(x=x)
    )
    source = (tmp_path / "out" / "artifacts" / "tinyml_model.c").read_text()
    assert report.passed and report.max_abs_diff == 0
    assert "conv /a/Conv [nhwc] + maxpool" in source  # one kernel for conv and pool
    assert "in place, channel-last */" in source  # the second pool overwrites the sum
    assert "relayout" not in source  # channel-last all along; the flatten is read by the dense as it is
    assert "tm_binary(&L3, (tm_arena + 128), tm_arena, (tm_arena + 128))" in source  # the add too
    ram = report.memory["ram"]
    assert ram["arena_bytes"] == ram["arena_lower_bound_bytes"] == 2 * 8 * 16 and ram["scratch_bytes"] == 0


def test_a_graph_output_read_by_later_layers_stays_nchw(tmp_path):
    """Two outputs: the first conv's (also read by the next conv) and a relu after a conv; both NCHW."""
    import numpy as np
    import torch
    import torch.nn as nn
    from tinyml_tinyverse.common.compilation import compile_model
    from tinyml_tinyverse.common.quantization import quantize_onnx

    class TwoOutputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(2, 4, (3, 1), padding=(1, 0))
            self.b = nn.Conv2d(4, 4, (3, 1), padding=(1, 0))

        def forward(self, x):
            h = self.a(x)
            return h, torch.relu(self.b(h))

    torch.manual_seed(0)
    path = tmp_path / "two.onnx"
    torch.onnx.export(TwoOutputs().eval(), (torch.randn(1, 2, 16, 1),), str(path), dynamo=False)
    x = np.random.default_rng(0).standard_normal((16, 2, 16, 1)).astype(np.float32)
    q = quantize_onnx(path, x)
    report = compile_model(q, tmp_path / "out", target_device="CORTEX_M4F", test_vectors=dict(x=x))
    assert report.passed and report.max_abs_diff == 0 and len(q.output_names) == 2
    ram = report.memory["ram"]
    assert ram["arena_bytes"] == ram["arena_lower_bound_bytes"]
