"""Command-line plumbing shared by the reference scripts (``train``, ``test_onnx``); no torch import,
so a script that does not train starts without it."""

from __future__ import annotations

from tinyml_tinyverse.common.errors import TinyMLError

MODEL_MODULE_HELP = "a .py file, package folder or module name whose models to register (repeatable)"


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
