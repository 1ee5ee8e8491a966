"""The training loop shared by every task's ``train.py`` (torchvision-references style).

``get_args_parser(task)`` holds the common arguments, ``train_one_epoch`` and ``evaluate`` run one
pass, and ``fit(args, task)`` runs the whole thing: data, model, optimizer, the epoch loop with the
best epoch chosen on the validation metric, early stopping, an atomic checkpoint every epoch and
exact resume, then (rank 0 only) the test split of the best epoch, plots, the ONNX export and the
summary, and quantization when asked (``report.py``, ``quantize.py``). The set-up lives in
``data_setup.py`` and ``model_setup.py``; what differs between tasks lives in ``tasks.py``.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from tinyml_tinyverse.common.errors import ConfigError, DataError, ModelError, TinyMLError
from tinyml_tinyverse.common.utils.progress import set_progress

from . import checkpoint as ckpt
from . import distributed as dist_utils
from . import onnx_export
from .artifacts import write_csv
from .data_setup import (  # noqa: F401  (auto_batch_size, auto_workers, read_data_config: public here too)
    auto_batch_size,
    auto_workers,
    epoch_augmenter,
    load_splits,
    make_train_loader,
    read_data_config,
    with_target_names,
)
from .determinism import use_deterministic_kernels
from .distributed import log
from .evaluation import evaluate, predict  # noqa: F401  (predict: public here too)
from .model_setup import build_model, check_model_task, check_output_shape, exportable
from .optim import build_optimizer, build_scheduler
from .output_scaling import ScaledOutput, fold_output_scale
from .quantization_budget import bitwidth_arg
from .report import finish_run
from .tasks import Task, get_task

# -- arguments --------------------------------------------------------------------------------------


def get_args_parser(task: str, description: str = "", add_help: bool = True) -> argparse.ArgumentParser:
    """The arguments every task's ``train.py`` accepts (a task script may add its own)."""
    p = argparse.ArgumentParser(
        description=description or f"Train a time-series {task} model", add_help=add_help
    )
    d = p.add_argument_group("data and model")
    d.add_argument("--dataset-dir", required=True, help="folder written by prepare_dataset")
    d.add_argument("--data-config", default=None, help="YAML file with the data_config dict")
    d.add_argument("--output-dir", required=True, help="where artifacts go (the run's training/base)")
    d.add_argument(
        "--test-output-dir", default=None, help="where the test-split analysis goes (default: --output-dir)"
    )
    d.add_argument("--model", required=True, help="model name in MODEL_REGISTRY")
    d.add_argument("--model-config", default=None, help="YAML overriding the model's __init__ arguments")
    d.add_argument("--cache-dir", default=None, help="cache of processed arrays")
    d.add_argument("--horizon", type=int, default=None, help="forecast horizon if the data config has none")
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, default=50, help="maximum number of epochs")
    t.add_argument("--batch-size", type=int, default=0, help="0: fitted to the training set size")
    t.add_argument("--lr", type=float, default=2e-3, help="peak learning rate")
    t.add_argument("--optimizer", default="adamw", help="adamw, adam or sgd")
    t.add_argument("--weight-decay", type=float, default=1e-2)
    t.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    t.add_argument("--lr-scheduler", default="cosine", help="cosine, step or none")
    t.add_argument("--warmup-epochs", type=float, default=1.0)
    t.add_argument(
        "--early-stopping-patience", type=int, default=10, help="epochs without a better val metric (0: off)"
    )
    t.add_argument("--seed", type=int, default=42)
    t.add_argument("--resume", default=None, help="a checkpoint.pt, or 'auto' for the output dir's last one")
    t.add_argument(
        "--stop-after-epoch", type=int, default=0, help=argparse.SUPPRESS
    )  # simulates a killed run in tests
    r = p.add_argument_group("runtime")
    r.add_argument(
        "--num-gpus", type=int, default=None, help="0: CPU; N: N GPUs (launch N processes with torchrun)"
    )
    r.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    r.add_argument("--workers", type=int, default=-1, help="data loader workers (-1: fitted to the machine)")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.add_argument("--opset", type=int, default=onnx_export.DEFAULT_OPSET, help="ONNX opset of the export")
    q = p.add_argument_group("quantization")
    q.add_argument(
        "--quantization", type=int, default=0, choices=[0, 1, 2], help="0 float, 1 int8, 2 NPU-style"
    )
    q.add_argument("--quantization-method", default="QAT", type=str.upper, choices=["QAT", "PTQ"])
    q.add_argument("--quantization-weight-bitwidth", type=bitwidth_arg, default=8, choices=[8, 4, 2, "auto"],
                   help="weight bits; auto: 8 or 4 per layer by sensitivity (quantization 2)")  # fmt: skip
    q.add_argument("--quantization-accuracy-budget", type=float, default=None,
                   help="most the int8 val metric may lose against float (absolute); over it the remedies run")  # fmt: skip
    q.add_argument("--qat-epochs", type=int, default=0, help="0: qat_default_epochs(epochs)")
    q.add_argument("--calibration-observer", default="minmax", choices=["minmax", "percentile", "mse"])
    q.add_argument("--quantization-output-dir", default=None, help="default: OUTPUT_DIR/../quantization")
    return p


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch, and ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    use_deterministic_kernels(warn_only=True)  # no import of torch's compiler (determinism.py)
    torch.backends.cudnn.benchmark = False


# -- one epoch --------------------------------------------------------------------------------------


def train_one_epoch(
    model: nn.Module,
    loader,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler,
    device: torch.device,
    task: Task,
    epoch: int,
    augment=None,
    progress: bool = True,
) -> dict:
    """One pass over ``loader``; returns ``{"loss": mean loss, task.primary_metric or "metric": ...}``."""
    model.train()
    total_loss = torch.zeros((), device=device, dtype=torch.float64)
    total_metric = torch.zeros((), device=device, dtype=torch.float64)
    seen = 0
    bar = tqdm(loader, desc=f"epoch {epoch}", leave=False, disable=not progress, dynamic_ncols=True)
    every = max(1, len(loader) // 10)
    for step, batch in enumerate(bar):
        x = batch[0]
        if augment is not None:
            x = torch.from_numpy(augment(x.numpy()).astype(np.float32, copy=False))
        x = x.to(device, non_blocking=True)
        y = x if task.reconstructs_input else batch[1].to(device, non_blocking=True)
        out = model(x)
        loss = loss_fn(out.reshape(y.shape) if out.shape != y.shape and out.numel() == y.numel() else out, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        n = x.shape[0]
        seen += n
        total_loss += loss.detach() * n
        metric = task.progress_metric(out.detach(), y)
        if metric is not None:
            total_metric += metric
        if progress and step % every == 0:
            postfix = {"loss": f"{total_loss.item() / seen:.4f}"}
            if metric is not None:
                postfix["acc"] = f"{total_metric.item() / seen:.3f}"
            bar.set_postfix(postfix)
    stats = torch.stack(
        [total_loss, total_metric, torch.tensor(float(seen), device=device, dtype=torch.float64)]
    )
    if dist_utils.is_dist_avail_and_initialized():
        torch.distributed.all_reduce(stats)
    total_loss, total_metric, seen = stats.tolist()
    result = {"loss": total_loss / max(seen, 1)}
    if task.primary_metric == "accuracy":
        result["accuracy"] = total_metric / max(seen, 1)
    return result


# -- the whole run ----------------------------------------------------------------------------------


def _log_row(epoch: int, lr: float, train: dict, val: dict, task: Task, seconds: float) -> dict:
    row = {"epoch": epoch, "lr": lr, "train_loss": train["loss"]}
    if "accuracy" in train:
        row["train_accuracy"] = train["accuracy"]
    row["val_loss"] = val["loss"]
    row[f"val_{task.primary_metric}"] = val[task.primary_metric]
    row["seconds"] = round(seconds, 3)
    return row


def restore(
    path: Path, args: argparse.Namespace, task: Task, model: nn.Module, optimizer, scheduler
) -> tuple:
    """Load ``checkpoint.pt`` into the model, optimizer, scheduler and RNGs; returns
    ``(next epoch, history, best metric, best epoch, best weights)``."""
    state = ckpt.load(path)
    if state.get("model_name") != args.model or state.get("task") != task.name:
        raise ConfigError(f"--resume {path} holds a {state.get('task')} run of {state.get('model_name')}, "
                          f"not {task.name} of {args.model}; give the checkpoint of this run or drop --resume")  # fmt: skip
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    ckpt.set_rng_state(state["rng"])
    log(f"resumed from {path} after epoch {state['epoch']} (best epoch {state['best_epoch']})")
    return (
        state["epoch"] + 1,
        list(state["history"]),
        state["best_metric"],
        state["best_epoch"],
        state["best_state"],
    )


def fit(args: argparse.Namespace, task_name: str) -> dict:
    """Train, pick the best epoch, test it, export it; returns the summary (rank 0; ``{}`` elsewhere)."""
    task = get_task(task_name)
    if args.num_gpus == 0 and args.device == "auto":
        args.device = "cpu"  # --num-gpus 0 asks for the CPU even where a GPU is present
    dist_utils.init_distributed_mode(args)
    try:
        return _fit(args, task)
    finally:
        dist_utils.cleanup()


def _fit(args: argparse.Namespace, task: Task) -> dict:
    if args.num_gpus and not str(args.device).startswith("cuda"):
        raise ConfigError(
            f"--num-gpus {args.num_gpus} but no CUDA GPU is available; use --num-gpus 0 to train on the CPU"
        )
    if args.num_gpus and args.num_gpus > args.world_size:
        log(f"warning: --num-gpus {args.num_gpus} but {args.world_size} process(es); launch with "
            f"torchrun --nproc_per_node {args.num_gpus} to use them all")  # fmt: skip
    if args.epochs < 1:
        raise ConfigError(f"--epochs {args.epochs}: train for at least 1 epoch")
    if not Path(args.dataset_dir).is_dir():
        raise DataError(
            f"--dataset-dir {args.dataset_dir} is not a folder; run the dataset stage (prepare_dataset) first"
        )
    device = torch.device(args.device)
    out_dir = Path(args.output_dir)
    main = dist_utils.is_main_process()
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
    if args.no_progress:
        set_progress(False)
    progress = main and not args.no_progress
    seed_everything(args.seed)

    check_model_task(args.model, task.name)  # before any data work
    data_config = read_data_config(args, task.name)
    if not main:
        dist_utils.barrier()  # rank 0 fills the processed-data cache first; the others then read it
    splits = load_splits(args, task.name, data_config)
    if main:
        dist_utils.barrier()
    train, val = splits["train"], splits["val"]
    from tinyml_tinyverse.common.datasets import model_input_kwargs

    model_kwargs = {
        **model_input_kwargs(data_config, args.dataset_dir),
        **task.model_kwargs(train, data_config, args),
    }
    model, rebuild_kwargs = build_model(args, model_kwargs)
    scale = task.output_scale(train)
    if scale is not None:
        model = ScaledOutput(model, *scale)
    train_targets = np.asarray(task.targets(train))
    check_output_shape(model, train.X, train_targets, args.model)
    model.to(device)

    batch_size = args.batch_size or auto_batch_size(len(train.X) // dist_utils.get_world_size())
    workers = auto_workers(len(train.X), args.workers)
    loader, sampler = make_train_loader(
        train.X, None if task.reconstructs_input else train_targets, batch_size, args.seed, workers, device
    )
    loss_fn = task.build_loss(train, args).to(device)
    optimizer = build_optimizer(args.optimizer, model, args.lr, args.weight_decay, args.momentum)
    scheduler = build_scheduler(
        optimizer,
        args.lr_scheduler,
        epochs=args.epochs,
        steps_per_epoch=len(loader),
        warmup_epochs=args.warmup_epochs,
    )

    start_epoch, history, best_metric, best_epoch, best_state = 1, [], None, 0, None
    resume_path = ckpt.resolve_resume(args.resume, out_dir)
    if resume_path is not None:
        start_epoch, history, best_metric, best_epoch, best_state = restore(
            resume_path, args, task, model, optimizer, scheduler
        )

    train_model = model
    if args.distributed:
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )

    log(f"{task.name}: {args.model}, {len(train.X)} train / {len(val.X)} val windows of shape {list(train.X.shape[1:])}, "
        f"batch {batch_size}, {args.optimizer} lr {args.lr}, {args.lr_scheduler} schedule, up to {args.epochs} epochs on {device}"
        + (f" x {args.world_size} processes" if args.distributed else ""))  # fmt: skip
    stopped_early = False
    for epoch in range(start_epoch, args.epochs + 1):
        if best_epoch and args.early_stopping_patience and epoch - best_epoch > args.early_stopping_patience:
            stopped_early = True
            break
        t0 = time.perf_counter()
        sampler.set_epoch(epoch)
        augment = epoch_augmenter(
            data_config, args.seed * 1000 + epoch * dist_utils.get_world_size() + dist_utils.get_rank()
        )
        lr = optimizer.param_groups[0]["lr"]
        train_stats = train_one_epoch(
            train_model, loader, loss_fn, optimizer, scheduler, device, task, epoch, augment, progress
        )
        if not np.isfinite(train_stats["loss"]):  # the same on every rank: the loss is all-reduced
            raise ModelError(
                f"the training loss became {train_stats['loss']} in epoch {epoch} (learning rate {lr:g}): training "
                f"diverged; lower --lr (e.g. --lr {args.lr / 10:g}) or check the data for NaN/inf values"
            )
        dist_utils.broadcast_buffers(model)
        val_stats, _ = evaluate(model, val, task, loss_fn, device)
        value = val_stats[task.primary_metric]
        improved = task.is_better(value, best_metric) or (
            value == best_metric and history and val_stats["loss"] < history[best_epoch - 1]["val_loss"]
        )
        row = _log_row(epoch, lr, train_stats, val_stats, task, time.perf_counter() - t0)
        row["steps"] = len(loader)
        history.append(row)
        if improved:
            best_metric, best_epoch = value, epoch
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        log(f"epoch {epoch}/{args.epochs}  train loss {row['train_loss']:.4f}  val loss {row['val_loss']:.4f}  "
            f"val {task.primary_metric} {value:.4f}" + ("  *best*" if improved else ""))  # fmt: skip
        if main:
            meta = {"model_name": args.model, "model_kwargs": ckpt.plain(rebuild_kwargs), "task": task.name}
            if improved:
                plain, extra = exportable(model, train.X[:8], device)
                ckpt.save_best_model(out_dir / ckpt.BEST_MODEL_NAME, plain, **meta, **extra, epoch=epoch, input_shape=list(train.X.shape[1:]),
                                     class_names=task.class_names(train), metric={task.primary_metric: value})  # fmt: skip
            ckpt.save_checkpoint(out_dir / ckpt.CHECKPOINT_NAME, model=model, optimizer=optimizer, scheduler=scheduler, epoch=epoch,
                                 history=history, best_metric=best_metric, best_epoch=best_epoch, best_state=best_state, **meta)  # fmt: skip
            write_csv(out_dir / "training_log.csv", history)
        dist_utils.barrier()
        if args.stop_after_epoch and epoch >= args.stop_after_epoch:
            log(f"stopping after epoch {epoch} as asked (--stop-after-epoch); continue with --resume auto")
            return {"interrupted_after_epoch": epoch}

    dist_utils.cleanup()  # the rest runs on rank 0 alone; the other processes end here
    if not main:
        return {}
    if best_state is None:
        raise ModelError(
            f"the validation {task.primary_metric} was never a number (NaN): training diverged; lower --lr"
        )
    model.load_state_dict(best_state)
    final = fold_output_scale(model.cpu(), torch.from_numpy(np.ascontiguousarray(train.X[:8])))
    summary = finish_run(
        args,
        task,
        final,
        splits,
        data_config,
        loss_fn.cpu(),
        history,
        best_epoch,
        stopped_early,
        batch_size,
    )
    return summary


def run_cli(get_parser, main) -> None:
    """``python -m ...train``: parse, run; a TinyMLError prints as one line, Ctrl-C says how to resume."""
    args = get_parser().parse_args()
    try:
        main(args)
    except TinyMLError as exc:
        raise SystemExit(f"error: {exc}") from None
    except KeyboardInterrupt:
        raise SystemExit(
            "interrupted; the last finished epoch is in checkpoint.pt: add --resume auto to continue"
        ) from None
