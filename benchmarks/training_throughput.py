"""Training throughput of the reference loop against a bare PyTorch loop.

Trains ``CLS_4k_NPU`` on random ``3 x 512`` windows (4 classes) with both loops on the same model
weights, tensors, optimizer and batch size, and prints samples per second of each and the overhead
of ours (``train_base.train_one_epoch``: batch sampler + loader, per-step LR schedule, running loss
and accuracy, progress bar). The two loops alternate over several rounds and the median is kept, so
a busy machine slows both alike.

    python benchmarks/training_throughput.py [--samples 2048] [--batch-size 64] [--rounds 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import numpy as np
import torch
from tinyml_tinyverse.common.models import get_model
from tinyml_tinyverse.references.common.optim import build_optimizer, build_scheduler
from tinyml_tinyverse.references.common.tasks import get_task
from tinyml_tinyverse.references.common.train_base import make_train_loader, train_one_epoch


def bare_epoch(model, x, y, loss_fn, optimizer, batch_size, generator) -> None:
    """The plainest loop: shuffle, slice, forward, backward, step."""
    model.train()
    order = torch.randperm(len(x), generator=generator)
    for i in range(0, len(x) - batch_size + 1, batch_size):
        idx = order[i : i + batch_size]
        loss = loss_fn(model(x[idx]), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=2048)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--progress", action="store_true", help="show our progress bar while measuring")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x_np = rng.normal(size=(args.samples, 3, 512, 1)).astype(np.float32)
    y_np = rng.integers(0, 4, args.samples).astype(np.int64)
    x, y = torch.from_numpy(x_np).to(device), torch.from_numpy(y_np).to(device)

    base = get_model("CLS_4k_NPU", input_features=512, variables=3, num_classes=4)
    ours_model, bare_model = copy.deepcopy(base).to(device), copy.deepcopy(base).to(device)
    task = get_task("classification")
    loss_fn = torch.nn.CrossEntropyLoss()
    loader, sampler = make_train_loader(x_np, y_np, args.batch_size, seed=0, workers=0, device=device)
    ours_opt = build_optimizer("adamw", ours_model, 1e-3, 1e-2)
    bare_opt = build_optimizer("adamw", bare_model, 1e-3, 1e-2)
    sched = build_scheduler(
        ours_opt, "cosine", epochs=args.rounds + 1, steps_per_epoch=len(loader), warmup_epochs=1
    )
    gen = torch.Generator().manual_seed(0)
    n_ours = len(loader) * args.batch_size  # both loops see only full batches
    n_bare = (args.samples // args.batch_size) * args.batch_size

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    ours, bare = [], []
    for r in range(args.rounds + 1):  # round 0 warms up both
        sampler.set_epoch(r)
        sync()
        t0 = time.perf_counter()
        train_one_epoch(ours_model, loader, loss_fn, ours_opt, sched, device, task, r, None, args.progress)
        sync()
        t1 = time.perf_counter()
        bare_epoch(bare_model, x, y, loss_fn, bare_opt, args.batch_size, gen)
        sync()
        t2 = time.perf_counter()
        if r:
            ours.append(n_ours / (t1 - t0))
            bare.append(n_bare / (t2 - t1))
    o, b = statistics.median(ours), statistics.median(bare)
    print(
        f"CLS_4k_NPU, {args.samples} windows of 3 x 512, batch {args.batch_size}, {device}, {torch.get_num_threads()} threads, median of {args.rounds} epochs"
    )
    print(f"  bare PyTorch loop : {b:9.1f} samples/s")
    print(f"  reference loop    : {o:9.1f} samples/s")
    print(f"  overhead          : {100 * (b - o) / b:+8.1f} %")


if __name__ == "__main__":
    main()
