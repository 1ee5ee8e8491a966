"""Moved to :mod:`tinyml_tinyverse.common.ir.rounding` (THE rounding rule); kept for old imports."""

from ..ir.rounding import (  # noqa: F401
    MAX_SHIFT,
    MIN_SHIFT,
    common_shift_multipliers,
    quantize_multiplier,
    quantize_multipliers,
    requant,
    round_div,
    round_half_away,
    saturate,
)
