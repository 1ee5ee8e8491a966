"""Data for a training run: the data config, the splits, the batch size, the loader, augmentation."""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Any

import numpy as np
import torch

from tinyml_tinyverse.common.errors import DataError

from . import distributed as dist_utils
from .distributed import log
from .splits import data_modality, read_data_config, with_target_names  # noqa: F401  (public here too)


def auto_batch_size(n_train: int) -> int:
    """A power of two giving about 32 steps per epoch, between 8 and 256."""
    size = 8
    while size * 2 <= min(256, n_train / 32):
        size *= 2
    return size


def auto_workers(n_train: int, requested: int = -1) -> int:
    """``requested`` if >= 0; else 0 for small in-memory data, ``min(4, cpus - 1)`` for large."""
    if requested >= 0:
        return requested
    if n_train < 20000:
        return 0  # worker start-up would cost more than indexing in-memory arrays
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def load_splits(args: argparse.Namespace, task: str, data_config: dict) -> dict[str, Any]:
    """``{"train", "val", "test"}`` SplitData; an empty val split falls back to train, with a warning."""
    from tinyml_tinyverse.common.datasets import read_dataset_info

    load_split = data_modality(args).load_split
    info = read_dataset_info(args.dataset_dir)
    listed = info.splits
    if not listed.get("train"):
        raise DataError(
            f"the training split of {args.dataset_dir} is empty; check annotations/train_list.txt"
        )
    splits = {}
    for name in ("train", "val") if getattr(args, "skip_test", False) else ("train", "val", "test"):
        if listed.get(name):
            split = load_split(
                args.dataset_dir, name, task, data_config, cache_dir=args.cache_dir, seed=args.seed
            )
            splits[name] = with_target_names(split, info.target_columns)
    train = splits["train"]
    if "val" not in splits:
        log("warning: the validation split is empty; the best epoch is chosen on the training split")
        splits["val"] = train
    if "test" not in splits:
        splits["test"] = dataclasses.replace(
            train, X=train.X[:0], y=train.y[:0], file_ids=train.file_ids[:0], files=[]
        )
    return splits


class BatchIndexed(torch.utils.data.Dataset):
    """Tensors indexed by a whole batch of indices at once (no per-sample Python overhead)."""

    def __init__(self, *tensors: torch.Tensor):
        self.tensors = tensors

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, idx) -> tuple[torch.Tensor, ...]:
        idx = torch.as_tensor(idx)
        return tuple(t[idx] for t in self.tensors)


def make_train_loader(
    x: np.ndarray, y: np.ndarray | None, batch_size: int, seed: int, workers: int, device: torch.device
):
    """A loader of shuffled batches (``DistributedSampler``: one shard per rank, reshuffled by ``set_epoch``)."""
    tensors = [torch.from_numpy(np.ascontiguousarray(x))] + (
        [] if y is None else [torch.from_numpy(np.ascontiguousarray(y))]
    )
    dataset = BatchIndexed(*tensors)
    sampler = torch.utils.data.DistributedSampler(
        dataset, num_replicas=dist_utils.get_world_size(), rank=dist_utils.get_rank(), shuffle=True, seed=seed
    )
    per_rank = len(sampler)
    drop_last = per_rank >= 2 * batch_size  # never a lone last sample (batch norm needs two)
    batches = torch.utils.data.BatchSampler(sampler, batch_size, drop_last=drop_last)
    loader = torch.utils.data.DataLoader(
        dataset, sampler=batches, batch_size=None, num_workers=workers,
        persistent_workers=workers > 0, pin_memory=device.type == "cuda",
    )  # fmt: skip
    return loader, sampler


def model_input_kwargs(args: argparse.Namespace, data_config: dict) -> dict:
    """``dict(input_features=..., variables=...)`` of the data, from its modality (issue 12)."""
    return data_modality(args).model_input_kwargs(data_config, args.dataset_dir)


def epoch_augmenter(
    data_config: dict, seed: int, args: argparse.Namespace | None = None, stats: dict | None = None
):
    """This epoch's training augmenter (``None`` when the data config asks for none); with ``args``
    the one of the modality of ``--dataset-dir``, which may use the train split's ``stats``."""
    if args is not None:
        return data_modality(args).build_augmenter(data_config, seed, stats or {})
    aug = data_config.get("augmentation")
    if not aug:
        return None
    from tinyml_tinyverse.common.augmenters import build_augmenter

    return build_augmenter(aug, seed)
