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
import copy
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from tinyml_tinyverse.common import run_files
from tinyml_tinyverse.common.errors import ConfigError, DataError, ModelError
from tinyml_tinyverse.common.quantization.observers import OBSERVER_REGISTRY
from tinyml_tinyverse.common.utils.memory import release_free_memory
from tinyml_tinyverse.common.utils.progress import set_progress

from . import checkpoint as ckpt
from . import distributed as dist_utils
from . import onnx_export
from .artifacts import write_csv
from .cli import run_cli  # noqa: F401  (the train scripts call train_base.run_cli)
from .data_setup import (  # noqa: F401  (auto_batch_size, auto_workers, read_data_config: public here too)
    auto_batch_size,
    auto_workers,
    data_modality,
    epoch_augmenter,
    load_splits,
    make_train_loader,
    model_input_kwargs,
    read_data_config,
    with_target_names,
)
from .determinism import use_deterministic_kernels
from .distributed import log
from .evaluation import evaluate, predict  # noqa: F401  (predict: public here too)
from .model_setup import (
    MODEL_MODULE_HELP,
    build_model,
    check_model_task,
    check_output_shape,
    exportable,
    import_model_modules,
)
from .optim import build_optimizer, build_scheduler
from .output_scaling import ScaledOutput, fold_output_scale
from .quantization_budget import bitwidth_arg
from .report import finish_run
from .tasks import Task, get_task
from .weight_averaging import WeightAverage, make_average

# -- arguments --------------------------------------------------------------------------------------

REFIT_MAX_VAL_FILES = 100  # below this many val recordings, the val split only chooses the epoch count
DEFAULT_EPOCHS = 50
MIN_STEPS = 1000  # optimizer steps a training gets at least (small data: epochs of a few steps)
# what --choose-augmentation auto tries on small time-series data with no augmentation of its own
PROBE_AUGMENTATION = {"Shift": {"max_shift": 0.1, "mode": "wrap"}}


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
    d.add_argument(
        "--skip-test", action="store_true",
        help="leave the test split unread: no test metrics, analysis or reference outputs (a model search's "
        "trials, scored on val; the winner is tested by its own run)",
    )  # fmt: skip
    d.add_argument("--model", required=True, help="model name in MODEL_REGISTRY")
    d.add_argument("--model-config", default=None, help="YAML overriding the model's __init__ arguments")
    d.add_argument("--model-module", action="append", default=[], help=MODEL_MODULE_HELP)
    d.add_argument("--cache-dir", default=None, help="cache of processed arrays")
    d.add_argument("--horizon", type=int, default=None, help="forecast horizon if the data config has none")
    t = p.add_argument_group("training")
    t.add_argument(
        "--epochs", type=int, default=None,
        help=f"maximum number of epochs; default {DEFAULT_EPOCHS}, raised on small data to give --min-steps steps",
    )  # fmt: skip
    t.add_argument("--batch-size", type=int, default=0, help="0: fitted to the training set size")
    t.add_argument("--lr", type=float, default=2e-3, help="peak learning rate")
    t.add_argument("--optimizer", default="adamw", help="adamw, adam or sgd")
    t.add_argument("--weight-decay", type=float, default=1e-2)
    t.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    t.add_argument("--lr-scheduler", default="cosine", help="cosine, step or none")
    t.add_argument("--warmup-epochs", type=float, default=1.0)
    t.add_argument(
        "--early-stopping-patience", type=int, default=10, help="epochs without a better val figure (0: off)"
    )
    t.add_argument(
        "--best-epoch-by", default="loss", choices=["loss", "metric"],
        help="what picks the best epoch and stops early in classification: the val loss (smooth, also on tiny val "
        "splits) or the val metric; other tasks use their metric, which is their loss",
    )  # fmt: skip
    t.add_argument(
        "--min-steps", type=int, default=MIN_STEPS,
        help="without --epochs, at least this many optimizer steps: on small data, where an epoch is a few steps, "
        "the epochs are raised to reach it, and early stopping and the refit wait for it (0: off)",
    )  # fmt: skip
    t.add_argument(
        "--min-epochs", type=int, default=-1,
        help="no early stop and no shorter refit before this (-1: a quarter of the epochs; classification with "
        "--epochs unset: what --min-steps needs)",
    )  # fmt: skip
    t.add_argument(
        "--refit", default="auto", choices=["auto", "on", "off"],
        help="train again on train + val for the chosen epoch count; auto: classification with a val split of fewer "
        f"than {REFIT_MAX_VAL_FILES} recordings (never anomaly detection)",
    )  # fmt: skip
    t.add_argument(
        "--ema-decay", type=float, default=0.0,
        help="an exponential moving average of the weights with this decay per step is validated, kept and "
        "exported instead of the last step's weights (0: off)",
    )  # fmt: skip
    t.add_argument(
        "--choose-augmentation", default="auto", choices=["auto", "off"],
        help="auto: when the refit runs on time series whose data config has no augmentation, train the first "
        f"phase again with {PROBE_AUGMENTATION} and refit with it if its best val loss is lower",
    )  # fmt: skip
    t.add_argument("--seed", type=int, default=42)
    t.add_argument("--resume", default=None, help="a checkpoint.pt, or 'auto' for the output dir's last one")
    t.add_argument(
        "--stop-after-epoch", type=int, default=0, help=argparse.SUPPRESS
    )  # simulates a killed run in tests
    t.add_argument(
        "--rung-quantized-bits", type=int, nargs="+", default=None, help=argparse.SUPPRESS
    )  # with --stop-after-epoch: also the best model's PTQ val score at these weight widths (a model search's rungs)
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
    q.add_argument("--calibration-observer", default="minmax", choices=list(OBSERVER_REGISTRY))
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
    optimizer,
    scheduler,
    device: torch.device,
    task: Task,
    epoch: int,
    augment=None,
    progress: bool = True,
    average: WeightAverage | None = None,
) -> dict:
    """One pass over ``loader``; returns ``{"loss": mean loss, task.primary_metric or "metric": ...}``.
    With ``average``, the weight average follows every optimizer step."""
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
        if average is not None:
            average.update(model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model)
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
    row = {"epoch": epoch, "phase": "train", "lr": lr, "train_loss": train["loss"]}
    if "accuracy" in train:
        row["train_accuracy"] = train["accuracy"]
    row["val_loss"] = val["loss"]
    row[f"val_{task.primary_metric}"] = val[task.primary_metric]
    row["seconds"] = round(seconds, 3)
    return row


def restore(
    path: Path,
    args: argparse.Namespace,
    task: Task,
    model: nn.Module,
    optimizer,
    scheduler,
    average: WeightAverage | None = None,
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
    if (average is None) != (state.get("weight_average") is None):
        raise ConfigError(f"--resume {path}: the checkpoint was written with --ema-decay "
                          f"{(state.get('weight_average') or {}).get('decay', 0)}, this run has {args.ema_decay}; "
                          "resume with the same --ema-decay")  # fmt: skip
    if average is not None:
        average.load_state_dict(state["weight_average"])
    ckpt.set_rng_state(state["rng"])
    log(f"resumed from {path} after epoch {state['epoch']} (best epoch {state['best_epoch']})")
    return (
        state["epoch"] + 1,
        list(state["history"]),
        state["best_metric"],
        state["best_epoch"],
        state["best_state"],
    )


def _quantized_so_far(
    args, task: Task, model: nn.Module, best_state: dict, splits: dict, loss_fn
) -> dict[int, float]:
    """The best epoch so far's PTQ val score at each of ``--rung-quantized-bits`` (see quantize.quantized_val_scores)."""
    from .quantize import quantized_val_scores

    best = copy.deepcopy(model).cpu()
    best.load_state_dict(best_state)
    train_x = np.ascontiguousarray(splits["train"].X[:8])
    folded = fold_output_scale(best.eval(), torch.from_numpy(train_x))
    return quantized_val_scores(
        args, task, folded, splits, copy.deepcopy(loss_fn).cpu(), args.rung_quantized_bits
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
    if args.epochs is not None and args.epochs < 1:
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

    import_model_modules(args.model_module)
    check_model_task(args.model, task.name)  # before any data work
    data_config = read_data_config(args, task.name)
    if not main:
        dist_utils.barrier()  # rank 0 fills the processed-data cache first; the others then read it
    splits = load_splits(args, task.name, data_config)
    if main:
        dist_utils.barrier()
    train, val = splits["train"], splits["val"]
    model_kwargs = {
        **model_input_kwargs(args, data_config),
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
    raise_epochs_for_min_steps(args, len(loader))
    optimizer = build_optimizer(args.optimizer, model, args.lr, args.weight_decay, args.momentum)
    scheduler = build_scheduler(
        optimizer,
        args.lr_scheduler,
        epochs=args.epochs,
        steps_per_epoch=len(loader),
        warmup_epochs=args.warmup_epochs,
    )

    average = make_average(model, args.ema_decay)
    judged = model if average is None else average.module  # what is validated, kept and exported
    start_epoch, history, best_metric, best_epoch, best_state = 1, [], None, 0, None
    resume_path = ckpt.resolve_resume(args.resume, out_dir)
    if resume_path is not None:
        start_epoch, history, best_metric, best_epoch, best_state = restore(
            resume_path, args, task, model, optimizer, scheduler, average
        )

    train_model = model
    if args.distributed:
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )

    min_epochs = resolved_min_epochs(args, task)
    # a task whose metric is its loss (regression RMSE, anomaly detection's error on normal windows) is
    # judged by its metric either way; classification by the cross entropy unless asked for accuracy
    by_loss = args.best_epoch_by == "loss" and not task.loss_is_metric
    criterion = "val loss" if by_loss else f"val {task.primary_metric}"
    log(f"{task.name}: {args.model}, {len(train.X)} train / {len(val.X)} val windows of shape {list(train.X.shape[1:])}, "
        f"batch {batch_size}, {args.optimizer} lr {args.lr}, {args.lr_scheduler} schedule, up to {args.epochs} epochs on {device}"
        + (f" x {args.world_size} processes" if args.distributed else "")
        + f"; best epoch by {criterion}, at least {min_epochs} epochs")  # fmt: skip
    stop_reason = f"ran all {args.epochs} epochs"
    release_free_memory()  # the imports' initialisers (torch's: about 90 MiB of code run once)
    for epoch in range(start_epoch, args.epochs + 1):
        patience = args.early_stopping_patience
        if stops_early(epoch, best_epoch, patience, min_epochs):
            stop_reason = (f"stopped early after epoch {epoch - 1}: the {criterion} did not improve for {patience} "
                           f"epochs (early_stopping_patience) after its best, {best_metric:.4g} at epoch {best_epoch}")  # fmt: skip
            break
        t0 = time.perf_counter()
        sampler.set_epoch(epoch)
        augment = epoch_augmenter(
            data_config,
            args.seed * 1000 + epoch * dist_utils.get_world_size() + dist_utils.get_rank(),
            args,
            train.stats,
        )
        lr = optimizer.param_groups[0]["lr"]
        train_stats = train_one_epoch(
            train_model,
            loader,
            loss_fn,
            optimizer,
            scheduler,
            device,
            task,
            epoch,
            augment,
            progress,
            average,
        )
        check_finite(train_stats["loss"], epoch, lr, args.lr)
        dist_utils.broadcast_buffers(model)
        if average is not None:
            dist_utils.broadcast_buffers(average.module)
        val_stats, _ = evaluate(judged, val, task, loss_fn, device)
        value = val_stats["loss"] if by_loss else val_stats[task.primary_metric]
        if by_loss:
            improved = lower_loss(value, best_metric)
        else:
            improved = task.is_better(value, best_metric) or (
                value == best_metric and history and val_stats["loss"] < history[best_epoch - 1]["val_loss"]
            )
        row = _log_row(epoch, lr, train_stats, val_stats, task, time.perf_counter() - t0)
        row["steps"] = len(loader)
        history.append(row)
        if improved:
            best_metric, best_epoch = value, epoch
            best_state = {k: v.detach().cpu().clone() for k, v in judged.state_dict().items()}
        log(f"epoch {epoch}/{args.epochs}  train loss {row['train_loss']:.4f}  val loss {row['val_loss']:.4f}  "
            f"val {task.primary_metric} {val_stats[task.primary_metric]:.4f}" + ("  *best*" if improved else ""))  # fmt: skip
        if main:
            meta = {"model_name": args.model, "model_kwargs": ckpt.plain(rebuild_kwargs), "task": task.name}
            if improved:
                plain, extra = exportable(judged, train.X[:8], device)
                ckpt.save_best_model(out_dir / ckpt.BEST_MODEL_NAME, plain, **meta, **extra, epoch=epoch, input_shape=list(train.X.shape[1:]),
                                     class_names=task.class_names(train), metric={task.primary_metric: val_stats[task.primary_metric]})  # fmt: skip
            ckpt.save_checkpoint(out_dir / ckpt.CHECKPOINT_NAME, model=model, optimizer=optimizer, scheduler=scheduler, epoch=epoch,
                                 history=history, best_metric=best_metric, best_epoch=best_epoch, best_state=best_state, **meta,
                                 weight_average=None if average is None else average.state_dict())  # fmt: skip
            write_csv(out_dir / run_files.TRAINING_LOG, history)
        dist_utils.barrier()
        if epoch == start_epoch:  # what only the start-up and the first steps ran (torch's initialisers)
            release_free_memory()
        if args.stop_after_epoch and epoch >= args.stop_after_epoch:
            log(f"stopping after epoch {epoch} as asked (--stop-after-epoch); continue with --resume auto")
            stopped: dict[str, Any] = {"interrupted_after_epoch": epoch}
            if main and args.rung_quantized_bits and args.quantization and best_state is not None:
                stopped["quantized_val"] = _quantized_so_far(args, task, model, best_state, splits, loss_fn)
            return stopped

    dist_utils.cleanup()  # the rest runs on rank 0 alone; the other processes end here
    if not main:
        return {}
    if best_state is None:
        raise ModelError(f"the {criterion} was never a number (NaN): training diverged; lower --lr")
    log(f"{stop_reason}; best epoch {best_epoch} ({criterion} {best_metric:.4g})")
    model.load_state_dict(best_state)
    selection = {"best_epoch": best_epoch, "stop_reason": stop_reason, "best_epoch_by": criterion,
                 "min_epochs": min_epochs}  # fmt: skip
    if wants_refit(args, task, splits):
        cpu = torch.device("cpu")
        selection["val"], _ = evaluate(model.cpu(), val, task, loss_fn.cpu(), cpu, shard=False)
        epochs = max(best_epoch, min_epochs)
        refit_config = data_config
        again = Retraining(args, task, splits, model_kwargs, scale, batch_size, loss_fn, device, progress)
        if wants_augmentation_probe(args, data_config, by_loss):
            refit_config, probe_epoch, rows, selection["augmentation_probe"] = probe_augmentation(
                again, data_config, min_epochs, best_metric, best_epoch
            )
            history = history + rows
            epochs = max(probe_epoch, min_epochs)
        model, rows = refit(again, refit_config, epochs)
        history = history + rows
        selection["refit"] = {"epochs": epochs, "windows": len(train.X) + len(val.X)}
        write_csv(out_dir / run_files.TRAINING_LOG, history, columns=list(history[0]))
        meta = {"model_name": args.model, "model_kwargs": ckpt.plain(rebuild_kwargs), "task": task.name}
        plain, extra = exportable(model, train.X[:8], torch.device("cpu"))
        ckpt.save_best_model(
            out_dir / ckpt.BEST_MODEL_NAME,
            plain,
            **meta,
            **extra,
            epoch=epochs,
            input_shape=list(train.X.shape[1:]),
            class_names=task.class_names(train),
            metric={"refit_epochs": epochs},
        )
    release_free_memory()  # the epochs' code and buffers, before the report, the export and QAT
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
        stop_reason.startswith("stopped early"),
        batch_size,
        selection,
    )
    return summary


# -- refit on train + val ---------------------------------------------------------------------------


def steps_epochs(args: argparse.Namespace, steps_per_epoch: int) -> int:
    """Epochs that give ``--min-steps`` optimizer steps."""
    return -(-max(0, args.min_steps) // max(1, steps_per_epoch))


def raise_epochs_for_min_steps(args: argparse.Namespace, steps_per_epoch: int) -> None:
    """``--epochs`` not given: DEFAULT_EPOCHS, raised on small data (epochs of a few steps) to give
    ``--min-steps`` optimizer steps. A given ``--epochs`` is kept as it is."""
    args.auto_epochs = args.epochs is None
    if not args.auto_epochs:
        return
    args.epochs = max(DEFAULT_EPOCHS, steps_epochs(args, steps_per_epoch))
    args.steps_per_epoch = steps_per_epoch
    if args.epochs > DEFAULT_EPOCHS:
        log(f"{DEFAULT_EPOCHS} epochs of {steps_per_epoch} steps are fewer than --min-steps {args.min_steps}: "
            f"training for up to {args.epochs} epochs")  # fmt: skip


def resolved_min_epochs(args: argparse.Namespace, task: Task) -> int:
    """``--min-epochs``; -1: a quarter of the epochs asked for (DEFAULT_EPOCHS when unset), and for a task
    whose metric is not its loss (classification) with automatic epochs, the epochs ``--min-steps`` needs:
    there the val loss of a small split turns up long before the accuracy stops rising."""
    if args.min_epochs >= 0:
        return min(args.epochs, args.min_epochs)
    auto_epochs = getattr(args, "auto_epochs", False)
    auto = max(1, (DEFAULT_EPOCHS if auto_epochs else args.epochs) // 4)
    if auto_epochs and not task.loss_is_metric:
        auto = max(auto, steps_epochs(args, args.steps_per_epoch))
    return min(args.epochs, auto)


def wants_refit(args: argparse.Namespace, task: Task, splits: dict) -> bool:
    """``--refit on``; or ``auto`` for classification with a real val split of fewer than
    REFIT_MAX_VAL_FILES recordings: there its accuracy saturates and can choose an epoch count but not
    weights. Regression and forecasting, whose val metric is their loss, keep the best epoch's weights
    (measured: refit cost the torque example 0.011 R2 and CardanoSentiment 4 % RMSE, mean of 3-4 seeds).
    Never for anomaly detection: its threshold is chosen on val."""
    val = splits["val"]
    if args.refit == "off" or val is splits["train"] or not len(val.X) or task.record.normal_class:
        return False
    return args.refit == "on" or (not task.loss_is_metric and len(val.files) < REFIT_MAX_VAL_FILES)


def wants_augmentation_probe(args: argparse.Namespace, data_config: dict, by_loss: bool) -> bool:
    """``--choose-augmentation auto``, the epoch chosen by val loss, time-series data whose config asks
    for no augmentation (the refit case only: small data, where augmentation pays or costs the most)."""
    if args.choose_augmentation != "auto" or not by_loss or data_config.get("augmentation"):
        return False
    return data_modality(args).name == "timeseries"


def stops_early(epoch: int, best_epoch: int, patience: int, min_epochs: int) -> bool:
    """Early stopping before ``epoch``: past ``min_epochs``, ``patience`` epochs (0: never) without a
    better figure than the best epoch's."""
    return bool(best_epoch and patience and epoch > min_epochs and epoch - best_epoch > patience)


def lower_loss(value: float, best: float | None) -> bool:
    """A finite loss below the best so far (or the first finite one)."""
    return bool(np.isfinite(value)) and (best is None or value < best)


def check_finite(loss: float, epoch: int, lr: float, peak_lr: float) -> None:
    if not np.isfinite(loss):  # the same on every rank: the loss is all-reduced
        raise ModelError(
            f"the training loss became {loss} in epoch {epoch} (learning rate {lr:g}): training "
            f"diverged; lower --lr (e.g. --lr {peak_lr / 10:g}) or check the data for NaN/inf values"
        )


@dataclass
class Retraining:
    """What a training from the start after the first phase (the refit, the augmentation probe)
    takes from it."""

    args: argparse.Namespace
    task: Task
    splits: dict
    model_kwargs: dict
    scale: tuple | None
    batch_size: int
    loss_fn: nn.Module
    device: torch.device
    progress: bool


def train_fresh(
    run: Retraining, data_config: dict, epochs: int, *, phase: str, on_val: bool = False, min_epochs: int = 0
) -> tuple[nn.Module, list[dict], float | None, int]:
    """A fresh model (same seed) trained for up to ``epochs`` epochs with the full schedule, in one
    process. ``on_val=False``: on train + val, all epochs (the refit). ``on_val=True``: on train, the
    val loss judged every epoch with early stopping as in the first phase (the augmentation probe).
    Returns ``(model on the CPU, log rows, best val loss, its epoch)`` (``None, 0`` without val)."""
    args, task, device, progress = run.args, run.task, run.device, run.progress
    train, val = run.splits["train"], run.splits["val"]
    seed_everything(args.seed)
    model, _ = build_model(args, run.model_kwargs)
    if run.scale is not None:
        model = ScaledOutput(model, *run.scale)
    model.to(device)
    if on_val:  # the train split as it is: no copy of its windows
        x, y = train.X, None if task.reconstructs_input else np.asarray(task.targets(train))
    else:
        x = np.concatenate([train.X, val.X])
        y = None if task.reconstructs_input else np.concatenate([task.targets(train), task.targets(val)])
    workers = auto_workers(len(x), args.workers)
    loader, sampler = make_train_loader(x, y, run.batch_size, args.seed, workers, device)
    optimizer = build_optimizer(args.optimizer, model, args.lr, args.weight_decay, args.momentum)
    scheduler = build_scheduler(optimizer, args.lr_scheduler, epochs=epochs, steps_per_epoch=len(loader),
                                warmup_epochs=args.warmup_epochs)  # fmt: skip
    average = make_average(model, args.ema_decay)
    judged = model if average is None else average.module
    loss_fn = run.loss_fn.to(device)
    rows, best_loss, best_epoch = [], None, 0
    for epoch in range(1, epochs + 1):
        if on_val and stops_early(epoch, best_epoch, args.early_stopping_patience, min_epochs):
            break
        t0 = time.perf_counter()
        sampler.set_epoch(epoch)
        augment = epoch_augmenter(data_config, args.seed * 1000 + epoch, args, train.stats)
        lr = optimizer.param_groups[0]["lr"]
        stats = train_one_epoch(
            model, loader, loss_fn, optimizer, scheduler, device, task, epoch, augment, progress, average
        )
        check_finite(stats["loss"], epoch, lr, args.lr)
        row = {"epoch": epoch, "phase": phase, "lr": lr, "train_loss": stats["loss"]}
        if "accuracy" in stats:
            row["train_accuracy"] = stats["accuracy"]
        text = f"{phase} epoch {epoch}/{epochs}  train loss {stats['loss']:.4f}"
        if on_val:
            val_stats, _ = evaluate(judged, val, task, loss_fn, device, shard=False)
            row["val_loss"] = val_stats["loss"]
            row[f"val_{task.primary_metric}"] = val_stats[task.primary_metric]
            text += f"  val loss {val_stats['loss']:.4f}"
            if lower_loss(val_stats["loss"], best_loss):
                best_loss, best_epoch = val_stats["loss"], epoch
                text += "  *best*"
        rows.append({**row, "seconds": round(time.perf_counter() - t0, 3), "steps": len(loader)})
        log(text)
    return judged.cpu(), rows, best_loss, best_epoch


def refit(run: Retraining, data_config: dict, epochs: int) -> tuple[nn.Module, list[dict]]:
    """A fresh model (same seed) trained on train + val for ``epochs`` epochs with the full schedule;
    returns it (on the CPU) and its log rows. Runs in one process."""
    train, val = run.splits["train"], run.splits["val"]
    log(f"refit: the val split has {len(val.files)} recordings, too few to choose weights but enough to choose the "
        f"epoch count: training again from the start on train + val ({len(train.X) + len(val.X)} windows) for "
        f"{epochs} epochs")  # fmt: skip
    model, rows, _, _ = train_fresh(run, data_config, epochs, phase="refit")
    return model, rows


def probe_augmentation(
    run: Retraining, data_config: dict, min_epochs: int, plain_loss: float, plain_epoch: int
) -> tuple[dict, int, list[dict], dict]:
    """Small data with no augmentation configured (``--choose-augmentation auto``): train the first
    phase again (``--epochs``, early stopping) with PROBE_AUGMENTATION and keep it for the refit if its
    best val loss is lower than ``plain_loss``, the first phase's (at ``plain_epoch``).
    Returns ``(data config for the refit, its epoch count, the probe's log rows, the record)``."""
    augmented = {**data_config, "augmentation": PROBE_AUGMENTATION}
    log(f"augmentation probe: the first phase again with {PROBE_AUGMENTATION} (the data config has none); the "
        f"refit keeps it if its best val loss beats {plain_loss:.4g}")  # fmt: skip
    _, rows, loss, epoch = train_fresh(
        run, augmented, run.args.epochs, phase="probe", on_val=True, min_epochs=min_epochs
    )
    keep = loss is not None and loss < plain_loss
    record = {"tried": PROBE_AUGMENTATION, "val_loss_without": round(float(plain_loss), 6),
              "val_loss_with": None if loss is None else round(float(loss), 6), "best_epoch": epoch,
              "kept": keep}  # fmt: skip
    with_it = "no finite val loss" if loss is None else f"best val loss {loss:.4g} at epoch {epoch}"
    log(f"augmentation probe: {with_it} with it, {plain_loss:.4g} at epoch {plain_epoch} without: the refit "
        f"trains {'with' if keep else 'without'} it")  # fmt: skip
    return (augmented, epoch, rows, record) if keep else (data_config, plain_epoch, rows, record)
