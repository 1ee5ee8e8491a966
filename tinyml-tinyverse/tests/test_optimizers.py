"""The training's optimizers and schedule (references/common/optimizers.py) against torch.optim:
the same parameters bit for bit after many steps, checkpoints that load either way, and no
torch._dynamo import."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from tinyml_tinyverse.references.common.optim import build_optimizer, build_scheduler, param_groups
from tinyml_tinyverse.references.common.optimizers import SGD, Adam, AdamW, LambdaSchedule


def small_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv1d(3, 8, 5, padding=2),
        torch.nn.BatchNorm1d(8),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(8 * 32, 4),
    )


def batches(n: int, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(16, 3, 32, generator=g), torch.randint(0, 4, (16,), generator=g)) for _ in range(n)]


def train(model, opt, sched, data) -> None:
    loss_fn = torch.nn.CrossEntropyLoss()
    for x, y in data:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()
        if sched is not None:
            sched.step()


def torch_schedule(opt, factor):
    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def cosine(step: int) -> float:
    return min(1.0, (step + 1) / 5) * (0.5 + 0.5 * torch.cos(torch.tensor(step / 40 * 3.14159)).item())


CASES = {
    "adamw": (
        lambda ps: AdamW(ps, lr=3e-3, weight_decay=0.05),
        lambda ps: torch.optim.AdamW(ps, lr=3e-3, weight_decay=0.05, foreach=False),
    ),
    "adam": (
        lambda ps: Adam(ps, lr=2e-3, weight_decay=1e-3),
        lambda ps: torch.optim.Adam(ps, lr=2e-3, weight_decay=1e-3, foreach=False),
    ),
    "sgd_nesterov": (
        lambda ps: SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4),
        lambda ps: torch.optim.SGD(
            ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4, foreach=False
        ),
    ),
    "sgd_plain": (lambda ps: SGD(ps, lr=0.1), lambda ps: torch.optim.SGD(ps, lr=0.1, foreach=False)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_parameters_as_torch_bit_for_bit(name):
    ours_fn, torch_fn = CASES[name]
    data = batches(40)
    a, b = small_model(), small_model()
    opt_a, opt_b = ours_fn(param_groups(a, 0.05)), torch_fn(param_groups(b, 0.05))
    train(a, opt_a, LambdaSchedule(opt_a, cosine), data)
    train(b, opt_b, torch_schedule(opt_b, cosine), data)
    for (na, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), f"{name}: {na} differs (max {float((pa - pb).abs().max()):.3g})"
    assert opt_a.param_groups[0]["lr"] == opt_b.param_groups[0]["lr"]


@pytest.mark.parametrize("name", ["adamw", "sgd_nesterov"])
def test_checkpoints_load_both_ways(name):
    """Resume: a torch.optim checkpoint (runs made before this module) continues in ours and ours in
    torch's, to the same parameters as an uninterrupted run."""
    ours_fn, torch_fn = CASES[name]
    data = batches(30)
    whole = small_model()
    opt = torch_fn(param_groups(whole, 0.05))
    train(whole, opt, torch_schedule(opt, cosine), data)

    for first, second in ((torch_fn, ours_fn), (ours_fn, torch_fn)):
        model = small_model()
        opt1 = first(param_groups(model, 0.05))
        sched1 = (LambdaSchedule if first is ours_fn else torch_schedule)(opt1, cosine)
        train(model, opt1, sched1, data[:12])
        saved = {"model": model.state_dict(), "opt": opt1.state_dict(), "sched": sched1.state_dict()}

        resumed = small_model(seed=5)
        resumed.load_state_dict(saved["model"])
        opt2 = second(param_groups(resumed, 0.05))
        sched2 = (LambdaSchedule if second is ours_fn else torch_schedule)(opt2, cosine)
        opt2.load_state_dict(saved["opt"])
        sched2.load_state_dict(saved["sched"])
        train(resumed, opt2, sched2, data[12:])
        for pa, pb in zip(resumed.state_dict().values(), whole.state_dict().values()):
            assert torch.equal(pa, pb)


def test_builders_use_them_and_wrong_state_is_refused():
    model = small_model()
    opt = build_optimizer("AdamW", model, lr=1e-3, weight_decay=0.1)
    assert isinstance(opt, AdamW)
    assert isinstance(build_scheduler(opt, "cosine", epochs=2, steps_per_epoch=3), LambdaSchedule)
    other = build_optimizer("adamw", torch.nn.Linear(2, 2), lr=1e-3, weight_decay=0.1)
    with pytest.raises(ValueError, match="other parameter groups"):
        opt.load_state_dict(other.state_dict() | {"param_groups": other.state_dict()["param_groups"][:1]})


def test_training_setup_does_not_import_the_compiler():
    """Optimizer, schedule and steps leave torch._dynamo unimported (torch.optim's would import it)."""
    code = (
        "import sys, torch\n"
        "from tinyml_tinyverse.references.common.optim import build_optimizer, build_scheduler\n"
        "m = torch.nn.Linear(4, 2)\n"
        "o = build_optimizer('adamw', m, 1e-3, 0.01); s = build_scheduler(o, 'cosine', epochs=2, steps_per_epoch=2)\n"
        "m(torch.randn(3, 4)).sum().backward(); o.step(); s.step(); o.load_state_dict(o.state_dict())\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
