"""Command line: ``tinyml-modelmaker config.yaml [--set a.b=c ...] [--run-name NAME] [--resume]``.

Also ``tinyml-modelmaker --describe [TOPIC] [--markdown]``, ``--check`` (validate and print the
resolved config, run nothing) and ``tinyml-modelmaker search-worker CONFIG`` (join a running model
search, see ``tinyml_modelmaker.search.worker``). Runs as ``python tinyml_modelmaker/run_tinyml_modelmaker.py
config.yaml`` from ``tinyml-modelmaker/`` too. Torch is imported only when a stage needs it, so a
bad config is rejected within two seconds. User errors print as one line, exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys

import yaml
from tinyml_tinyverse.common.errors import TinyMLError
from tinyml_tinyverse.common.utils.memory import share_one_malloc_arena

from tinyml_modelmaker.config import plain, resolve_config

EXIT_USER_ERROR = 2


def get_args_parser() -> argparse.ArgumentParser:
    """The argument parser of the command."""
    parser = argparse.ArgumentParser(
        prog="tinyml-modelmaker",
        description="Run a TinyML project (dataset -> training -> testing -> compilation) from one YAML.",
    )
    parser.add_argument("config", nargs="?", help="project YAML file")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a config value (value read as YAML), e.g. --set training.training_epochs=5; repeatable",
    )
    parser.add_argument("--run-name", help="run folder name (overrides common.run_name)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in an existing run folder (the latest one matching run_name if it has {date-time})",
    )
    parser.add_argument(
        "--describe",
        nargs="?",
        const="",
        metavar="TOPIC",
        help="describe the config (all, or a TOPIC: tasks, devices, presets, models, a section or section.key)",
    )
    parser.add_argument("--markdown", action="store_true", help="with --describe: print Markdown")
    parser.add_argument(
        "--target-module", help="with --describe: the modality (default: all of them; timeseries for a topic)"
    )
    parser.add_argument(
        "--check", action="store_true", help="validate the config, print it resolved, run nothing"
    )
    return parser


def run_project(
    config: str | os.PathLike | dict,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    run_name: str | None = None,
    resume: bool = False,
) -> dict:
    """Run a project from Python: a YAML path or a config dict, ``--set`` style overrides.

    Returns the run summary (also written to ``run_summary.yaml``). User errors raise
    :class:`~tinyml_tinyverse.common.errors.TinyMLError`. Models registered in ``MODEL_REGISTRY``
    by the calling script are usable (single-process training; ``num_gpus > 1`` starts new processes).
    A ``KeyboardInterrupt`` raised once the run folder exists carries ``run_name``; continue with
    ``run_project(config, overrides, run_name=exc.run_name, resume=True)``.
    """
    from tinyml_modelmaker.ai_modules.registry import get_runner

    overrides = list(overrides)
    run_name_set = None if run_name is None else "common.run_name=" + json.dumps(run_name)
    if run_name_set:
        overrides.append(run_name_set)
    if resume:
        overrides.append("training.resume=true")
    try:
        resolved = resolve_config(config, overrides)
    except TinyMLError as exc:  # name --run-name, not the --set it became
        origin = f"(the value comes from --set {run_name_set!r})"
        if run_name_set and str(exc).endswith(origin):
            raise type(exc)(str(exc)[: -len(origin)] + "(the value comes from --run-name)") from None
        raise
    runner = get_runner(resolved["common"]["target_module"])
    source = os.fspath(config) if isinstance(config, (str, os.PathLike)) else ""
    return runner.run(resolved, resume=resume, source=source)


def continue_command(args: argparse.Namespace, run_name: str) -> str:
    """The command line that continues the run ``run_name``: the same YAML and ``--set`` overrides."""
    words = ["tinyml-modelmaker", args.config]
    for override in args.overrides:
        words += ["--set", override]
    return shlex.join([*words, "--resume", "--run-name", run_name])


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0 done, 2 user error)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    share_one_malloc_arena()  # before torch's threads exist: the whole run's peak memory (docs/performance.md)
    if argv[:1] == ["search-worker"]:
        from tinyml_modelmaker.search.worker import main as search_worker

        return search_worker(argv[1:])
    args = get_args_parser().parse_args(argv)
    try:
        if args.describe is not None:
            from tinyml_modelmaker.describe import describe

            sys.stdout.write(
                describe(args.describe or None, markdown=args.markdown, target_module=args.target_module)
            )
            return 0
        if not args.config:
            get_args_parser().print_usage(sys.stderr)
            print("tinyml-modelmaker: error: give a project YAML file (or --describe)", file=sys.stderr)
            return EXIT_USER_ERROR
        if args.check:
            overrides = list(args.overrides)
            if args.run_name is not None:
                overrides.append("common.run_name=" + json.dumps(args.run_name))
            config = resolve_config(args.config, overrides)
            sys.stdout.write(yaml.safe_dump(plain(config), sort_keys=False, default_flow_style=None))
            return 0
        run_project(args.config, args.overrides, run_name=args.run_name, resume=args.resume)
        return 0
    except TinyMLError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt as exc:
        run_name = getattr(exc, "run_name", None)
        if run_name is None:
            print("interrupted before the run folder was made; nothing to continue, run the command again",
                  file=sys.stderr)  # fmt: skip
        else:
            print(f"interrupted; continue with:\n  {continue_command(args, run_name)}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
