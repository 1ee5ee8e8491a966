"""Train a time-series anomalydetection model.

    python -m tinyml_tinyverse.references.timeseries_anomalydetection.train --dataset-dir DATA --data-config data.yaml \
        --model MODEL --output-dir OUT

Multi-process (GPUs, or CPU with gloo): ``torchrun --nproc_per_node 2 -m tinyml_tinyverse.references.timeseries_anomalydetection.train ...``.
See docs/training.md for every argument and output.
"""

from __future__ import annotations

import argparse

from tinyml_tinyverse.references.common import train_base

TASK = "anomalydetection"


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    parser = train_base.get_args_parser(TASK, add_help=add_help)
    return parser


def main(args: argparse.Namespace) -> dict:
    """Train, test and export; returns the summary (also written to OUTPUT_DIR/summary.yaml)."""
    return train_base.fit(args, TASK)


if __name__ == "__main__":
    train_base.run_cli(get_args_parser, main)
