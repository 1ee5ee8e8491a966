"""Test a time-series anomalydetection ONNX model with onnxruntime on a split of a prepared dataset.

    python -m tinyml_tinyverse.references.timeseries_anomalydetection.test_onnx --dataset-dir DATA --data-config data.yaml \
        --model-path OUT/model.onnx --output-dir TEST_OUT [--reference-model OUT/best_model.pt]

Writes ``test_metrics.yaml``, the task's plots and the post-training analysis into --output-dir.
"""

from __future__ import annotations

import argparse

from tinyml_tinyverse.references.common import cli, test_base

TASK = "anomalydetection"


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    return test_base.get_args_parser(TASK, add_help=add_help)


def main(args: argparse.Namespace) -> dict:
    """Run the ONNX model on the split; returns the results written to OUTPUT_DIR/test_metrics.yaml."""
    return test_base.run_test(args, TASK)


if __name__ == "__main__":
    cli.run_cli(get_args_parser, main)
