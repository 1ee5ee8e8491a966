"""Deterministic torch kernels without importing torch's compiler.

``torch.use_deterministic_algorithms(True)`` sets the flag the eager kernels read and, since torch
2.1, also ``torch._inductor.config.deterministic``: that import loads torch's compiler stack
(``torch._inductor``, ``torch._dynamo``: about 2.5 s and 70 MiB on a small CPU machine) which no
eager run uses. :func:`use_deterministic_kernels` sets the eager flag alone: the same kernels run and
the results are bit-identical (``tests/test_references_determinism.py`` checks both). Where torch has
no such setter, or the compiler is loaded already, it makes the public call.

Note: torch 2.13's optimizers still import ``torch._dynamo`` (and with it the compiler) on their first
use, through the ``torch._disable_dynamo`` wrappers of ``Optimizer.add_param_group`` and of the
update functions; so a training run loads the compiler anyway, when it builds its optimizer. What
needs only seeding (evaluation, export, the tests) does not.
"""

from __future__ import annotations

import sys

import torch


def use_deterministic_kernels(warn_only: bool = True) -> None:
    """Like ``torch.use_deterministic_algorithms(True, warn_only=warn_only)`` for eager execution."""
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None or "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(True, warn_only=warn_only)
        return
    setter(True, warn_only=warn_only)
