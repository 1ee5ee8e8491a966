"""Check and look at a dataset before training::

    python -m tinyml_tinyverse.common.datasets IN_PATH OUT_DIR --task classification [--data-config cfg.yaml]
        [--split-type amongst_files] [--split-factor 0.6 0.2 0.2] [--seed 42] [--no-plots]

Runs :func:`prepare_dataset` (every file checked, splits, summary, plots) and prints the summary
and the model input shape. Errors in the data or config are printed without a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import run_files
from ..errors import ConfigError, TinyMLError
from ..safe_yaml import load_yaml_file
from .data_config import SECTION, TASKS
from .timeseries_dataset import model_input_kwargs, prepare_dataset


def read_config_file(path: str | None) -> dict:
    """A data config YAML: the section itself or a project YAML holding it."""
    if not path:
        return {}
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--data-config {p} does not exist")
    cfg = load_yaml_file(p, what="--data-config") or {}
    if not isinstance(cfg, dict):
        raise ConfigError(f"--data-config {p} must hold a mapping of {SECTION} keys")
    return cfg.get(SECTION, cfg) or {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", help="data folder, .zip or file")
    parser.add_argument("out_dir", help="folder for the split lists, summary and plots")
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument("--data-config", help=f"YAML with the {SECTION} keys (or a project YAML)")
    parser.add_argument("--split-type", default="amongst_files")
    parser.add_argument("--split-factor", type=float, nargs=3, default=(0.6, 0.2, 0.2))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    try:
        cfg = read_config_file(args.data_config)
        prepare_dataset(
            args.input,
            args.out_dir,
            args.task,
            split_type=args.split_type,
            split_factor=args.split_factor,
            seed=args.seed,
            data_config=cfg,
            plots=not args.no_plots,
        )
        shape = model_input_kwargs(cfg, args.out_dir)
    except TinyMLError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print((Path(args.out_dir) / run_files.DATASET_SUMMARY).read_text(encoding="utf-8"))
    print(f"model input: input_features={shape['input_features']}, variables={shape['variables']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
