"""Checks shared by the image and audio configs: defaults, a named preset, the user's keys."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError
from .data_config import SECTION


def config_error(key: str, message: str) -> ConfigError:
    """A ConfigError naming ``data_processing_feature_extraction.<key>``."""
    return ConfigError(f"{SECTION}.{key}: {message}")


def _hint(name: str, known) -> str:
    close = difflib.get_close_matches(str(name), list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def merge_config(
    config: Mapping[str, Any] | None, defaults: Mapping[str, Any], presets: Mapping[str, Mapping], what: str
) -> dict[str, Any]:
    """``defaults``, then the preset named by ``feature_extraction_name``, then ``config``. An unknown
    key or preset is an error with the closest known one."""
    user = dict(config or {})
    for key in user:
        if key not in defaults:
            raise ConfigError(
                f"unknown key {SECTION}.{key} for {what}{_hint(key, defaults)} Known keys: {', '.join(defaults)}"
            )
    cfg = dict(defaults)
    name = user.get("feature_extraction_name")
    if name is not None:
        if name not in presets:
            raise config_error(
                "feature_extraction_name",
                f"unknown {what} preset {name!r}{_hint(name, presets)} Known: {', '.join(presets)}",
            )
        cfg.update(presets[name])
    cfg.update(user)
    return cfg


def check_number(cfg: Mapping[str, Any], key: str, low: float, high: float, integer: bool = False) -> None:
    """``cfg[key]`` is a number (a whole number with ``integer``) in ``low .. high``."""
    v = cfg[key]
    ok = isinstance(v, int) if integer else isinstance(v, (int, float))
    if not ok or isinstance(v, bool) or not low <= v <= high:
        kind = "a whole number" if integer else "a number"
        raise config_error(key, f"must be {kind} in {low:g}..{high:g}, got {v!r}")


def check_bool(cfg: Mapping[str, Any], key: str) -> None:
    if not isinstance(cfg[key], bool):
        raise config_error(key, f"must be true or false, got {cfg[key]!r}")
