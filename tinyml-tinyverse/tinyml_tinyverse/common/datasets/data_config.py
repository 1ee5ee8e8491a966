"""The data config: one flat dict, the project YAML's ``data_processing_feature_extraction`` section.

:data:`DATA_CONFIG_DEFAULTS` holds every key with its default, :data:`DATA_CONFIG_HELP` a one-line
description of each, and :func:`validate_data_config` merges a user dict over the defaults (with a
preset named by ``feature_extraction_name`` in between) and checks every key, type and range.
"""

from __future__ import annotations

import difflib
from typing import Any

from ..errors import ConfigError, UnknownNameError
from ..registry import unknown_name_message
from ..task_names import TASKS  # noqa: F401  (public here too)
from ..transforms import DATA_PROC_REGISTRY, FEATURE_REGISTRY, PRESET_REGISTRY

SECTION = "data_processing_feature_extraction"

DATA_CONFIG_DEFAULTS: dict[str, Any] = {
    "data_proc_transforms": ["SimpleWindow"],
    "feat_ext_transform": [],
    "feature_extraction_name": None,
    "sampling_rate": None,
    "new_sr": None,
    "frame_size": 256,
    "stride_size": 1.0,
    "feature_size_per_frame": None,
    "num_frame_concat": 1,
    "concat_stride": 1,
    "output_2d": False,
    "variables": None,
    "time_columns": [],
    "target_columns": None,
    "target_reduction": "mean",
    "forecast_variables": None,
    "horizon": 1,
    "nan_policy": "error",
    "gain_variations": None,
    "q15_full_scale": 1.0,
    "augmentation": None,
    # --- feature extraction keys with Tiny ML Tensorlab's names and meanings (issue 8) ---
    "stacking": "2D1",
    "dc_remove": False,
    "min_bin": None,
    "analysis_bandwidth": 1,
    "normalize_bin": False,
    "log_mul": 20.0,
    "log_base": 10,
    "log_threshold": 1e-100,
    "log_db_floor": None,
    "q15_scale_factor": 0,
    # --- audio front end (issue 12): MEL_FILTERBANK and DCT ---
    "n_mels": None,
    "n_mfcc": None,
    "mel_low_hz": None,
    "mel_high_hz": None,
}
# keys Tiny ML Tensorlab YAMLs spell differently -> ours
DATA_CONFIG_ALIASES = {"frame_skip": "concat_stride"}

DATA_CONFIG_HELP: dict[str, str] = {
    "data_proc_transforms": "data processing steps in order: SimpleWindow, Downsample, GainVariation",
    "feat_ext_transform": "feature extraction steps in order (e.g. WINDOWING, FFT_FE, ABS ...); "
    "empty = RAW_FE",
    "feature_extraction_name": "a preset name (e.g. Generic_256Input_FFTBIN_16Feature_8Frame) or "
    "Custom_<name> to use feat_ext_transform",
    "sampling_rate": "sampling rate of the recordings in Hz (needed by Downsample)",
    "new_sr": "sampling rate after Downsample in Hz",
    "frame_size": "samples per frame (window) cut by SimpleWindow; unset (or null): 256, or the length of the "
    "recordings when they all have one length of at most 2048 samples (one window per recording)",
    "stride_size": "hop between frames as a fraction of frame_size (1.0 = no overlap)",
    "feature_size_per_frame": "features per frame (BINNING / BIN_Q15 bins); default: all values",
    "num_frame_concat": "consecutive frames stacked into one example by CONCAT",
    "concat_stride": "frames between the starts of two CONCAT examples",
    "output_2d": "with CONCAT: True gives (N, C, frames, features), False (N, C, frames*features, 1)",
    "variables": "input columns: an int (the first N), a list of indices or of column names; "
    "default: all data columns",
    "time_columns": "extra columns (names or indices) to drop as time; 'time', 'timestamp', "
    "'time_s'... are dropped anyway",
    "target_columns": "regression: target column(s), names or indices; default: the last column",
    "target_reduction": "regression: how a window's target is taken from its samples: "
    "mean, median, last, first, min, max",
    "forecast_variables": "forecasting: columns to predict (names or indices); default: all variables",
    "horizon": "forecasting: number of future samples to predict",
    "nan_policy": "what to do with NaN/Inf values: error, drop (the rows) or interpolate",
    "gain_variations": "GainVariation range [low, high] or {class_name: [low, high]}",
    "q15_full_scale": "TO_Q15: the float value that maps to Q15 full scale (32768)",
    "augmentation": "training-time augmenters: a dict or the path of a YAML file (see misc/augmenter_config.yaml)",
    "stacking": "2D1: one model input channel per variable; 1D: the variables one after the other in "
    "one channel",
    "dc_remove": "RAW_FE: subtract each frame's mean",
    "min_bin": "FFT_POS_HALF keeps frame/2 + (min_bin or 1) bins; BINNING / BIN_Q15 start at bin min_bin",
    "analysis_bandwidth": "BINNING / BIN_Q15: bin size = frame_size // 2 // feature_size_per_frame // "
    "analysis_bandwidth (1 full, 2 half, 4 quarter bandwidth)",
    "normalize_bin": "BINNING: average the bins' values instead of summing them",
    "log_mul": "LOG_DB: log_mul * log_base(x + log_threshold)",
    "log_base": "LOG_DB: the logarithm's base, a number or 'e'",
    "log_threshold": "LOG_DB: added to the values before the logarithm (> 0)",
    "log_db_floor": "LOG_DB: lowest result (null: none)",
    "q15_scale_factor": "Q15_SCALE: shift left by this many bits (right when negative), saturated",
    "n_mels": "MEL_FILTERBANK: number of triangular mel filters",
    "n_mfcc": "DCT: coefficients kept (MFCCs); null: all",
    "mel_low_hz": "MEL_FILTERBANK: lowest frequency of the filters in Hz (null: 0)",
    "mel_high_hz": "MEL_FILTERBANK: highest frequency of the filters in Hz (null: sampling_rate / 2)",
}

NAN_POLICIES = ("error", "drop", "interpolate")
TARGET_REDUCTIONS = ("mean", "median", "last", "first", "min", "max")

_NUMBER = (int, float)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, _NUMBER) and not isinstance(v, bool)


def _err(key: str, msg: str) -> ConfigError:
    return ConfigError(f"{SECTION}.{key}: {msg}")


def _check_columns(key: str, v: Any, allow_int: bool) -> None:
    if v is None:
        return
    if allow_int and _is_int(v):
        if v < 1:
            raise _err(key, f"must be at least 1, got {v}")
        return
    if isinstance(v, (str, int)) and not isinstance(v, bool):
        return
    if not isinstance(v, (list, tuple)) or not v or not all(isinstance(c, (str, int)) for c in v):
        want = "an int, " if allow_int else ""
        raise _err(key, f"must be {want}a non-empty list of column indices or names, got {v!r}")


def _check_names(key: str, names: Any, registry) -> list[str]:
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise _err(key, f"must be a list of transform names, got {names!r}")
    for n in names:
        if n not in registry:
            raise ConfigError(
                unknown_name_message(registry.kind, n, registry.keys(), where=f"{SECTION}.{key}")
            )
    return list(names)


def _aliases(cfg: dict[str, Any]) -> dict[str, Any]:
    """Tiny ML Tensorlab key names -> ours (both given with different values: an error)."""
    out = dict(cfg)
    for alias, key in DATA_CONFIG_ALIASES.items():
        if alias in out:
            value = out.pop(alias)
            if key in out and out[key] != value:
                raise _err(
                    alias, f"is another name of {key}; they disagree ({value!r} vs {out[key]!r}), keep one"
                )
            out[key] = value
    return out


def _merge(cfg: dict[str, Any]) -> dict[str, Any]:
    """Defaults, then the preset named by ``feature_extraction_name``, then the user's keys."""
    cfg = _aliases(cfg)
    for key in cfg:
        if key not in DATA_CONFIG_DEFAULTS:
            close = difflib.get_close_matches(key, list(DATA_CONFIG_DEFAULTS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"unknown key {SECTION}.{key}{hint} Known keys: {', '.join(DATA_CONFIG_DEFAULTS)}"
            )
    out = dict(DATA_CONFIG_DEFAULTS)
    name = cfg.get("feature_extraction_name")
    user = {k: v for k, v in cfg.items() if not (k == "frame_size" and v is None)}  # null: not given
    if name is not None:
        if not isinstance(name, str):
            raise _err("feature_extraction_name", f"must be a preset name or Custom_<name>, got {name!r}")
        if not name.startswith("Custom"):
            try:
                out.update(PRESET_REGISTRY[name])
            except UnknownNameError as e:
                raise ConfigError(
                    f"{SECTION}.feature_extraction_name: {e}. Or name it Custom_<name> to use feat_ext_transform"
                ) from None
            if not user.get("feat_ext_transform"):
                user.pop("feat_ext_transform", None)  # an empty list keeps the preset's steps
    out.update(user)
    return out


def _check_transforms(out: dict[str, Any]) -> None:
    out["data_proc_transforms"] = _check_names(
        "data_proc_transforms", out["data_proc_transforms"], DATA_PROC_REGISTRY
    )
    out["feat_ext_transform"] = _check_names(
        "feat_ext_transform", out["feat_ext_transform"], FEATURE_REGISTRY
    ) or ["RAW_FE"]
    if out["data_proc_transforms"].count("SimpleWindow") > 1:
        raise _err("data_proc_transforms", "lists SimpleWindow more than once")
    if out["feat_ext_transform"].count("CONCAT") > 1:
        raise _err("feat_ext_transform", "lists CONCAT more than once")


def _check_numbers(out: dict[str, Any]) -> None:
    for key in ("frame_size", "num_frame_concat", "concat_stride", "horizon"):
        if not _is_int(out[key]) or out[key] < 1:
            raise _err(key, f"must be a whole number >= 1, got {out[key]!r}")
    fs = out["feature_size_per_frame"]
    if fs is not None and (not _is_int(fs) or fs < 1):
        raise _err("feature_size_per_frame", f"must be a whole number >= 1 or null, got {fs!r}")
    if not _is_number(out["stride_size"]) or not 0 < out["stride_size"] <= 1:
        raise _err("stride_size", f"is a fraction of frame_size in (0, 1], got {out['stride_size']!r}")
    for key in ("sampling_rate", "new_sr"):
        if out[key] is not None and (not _is_number(out[key]) or out[key] <= 0):
            raise _err(key, f"must be a positive number of Hz or null, got {out[key]!r}")
    if not _is_number(out["q15_full_scale"]) or out["q15_full_scale"] <= 0:
        raise _err("q15_full_scale", f"must be a positive number, got {out['q15_full_scale']!r}")
    _check_feature_keys(out)


def _check_feature_keys(out: dict[str, Any]) -> None:
    """The keys with Tiny ML Tensorlab's names (stacking, bins, logarithm, Q15 shift)."""
    if out["stacking"] not in ("1D", "2D1"):
        raise _err("stacking", f"must be 1D or 2D1, got {out['stacking']!r}")
    for key in ("dc_remove", "normalize_bin"):
        if not isinstance(out[key], bool):
            raise _err(key, f"must be true or false, got {out[key]!r}")
    if out["min_bin"] is not None and (not _is_int(out["min_bin"]) or out["min_bin"] < 0):
        raise _err("min_bin", f"must be a whole number >= 0 or null, got {out['min_bin']!r}")
    if not _is_int(out["analysis_bandwidth"]) or out["analysis_bandwidth"] < 1:
        raise _err("analysis_bandwidth", f"must be a whole number >= 1, got {out['analysis_bandwidth']!r}")
    if not _is_number(out["log_mul"]):
        raise _err("log_mul", f"must be a number, got {out['log_mul']!r}")
    base = out["log_base"]
    if base != "e" and (not _is_number(base) or base <= 0 or base == 1):
        raise _err("log_base", f"must be 'e' or a positive number other than 1, got {base!r}")
    if not _is_number(out["log_threshold"]) or out["log_threshold"] <= 0:
        raise _err("log_threshold", f"must be a number > 0, got {out['log_threshold']!r}")
    if out["log_db_floor"] is not None and not _is_number(out["log_db_floor"]):
        raise _err("log_db_floor", f"must be a number or null, got {out['log_db_floor']!r}")
    for key in ("n_mels", "n_mfcc"):
        if out[key] is not None and (not _is_int(out[key]) or out[key] < 1):
            raise _err(key, f"must be a whole number >= 1 or null, got {out[key]!r}")
    for key in ("mel_low_hz", "mel_high_hz"):
        if out[key] is not None and (not _is_number(out[key]) or out[key] < 0):
            raise _err(key, f"must be a frequency in Hz >= 0 or null, got {out[key]!r}")
    q = out["q15_scale_factor"]
    if isinstance(q, float) and q.is_integer():
        out["q15_scale_factor"] = q = int(q)
    if not _is_int(q) or not -15 <= q <= 15:
        raise _err(
            "q15_scale_factor",
            f"is a shift in bits (Q15_SCALE shifts left by it, as arm_shift_q15), a whole number in "
            f"-15..15, got {q!r}",
        )


def _check_choices(out: dict[str, Any]) -> None:
    if not isinstance(out["output_2d"], bool):
        raise _err("output_2d", f"must be true or false, got {out['output_2d']!r}")
    for key, choices in (("nan_policy", NAN_POLICIES), ("target_reduction", TARGET_REDUCTIONS)):
        if out[key] not in choices:
            raise _err(key, f"must be one of {', '.join(choices)}, got {out[key]!r}")
    aug = out["augmentation"]
    if aug is not None and not isinstance(aug, (dict, list, str)):
        raise _err("augmentation", f"must be a dict or the path of a YAML file, got {aug!r}")
    if aug:  # names, parameters and the file are checked now, not when training starts
        from ..augmenters import build_augmenter

        try:
            build_augmenter(aug, seed=0)
        except ConfigError as exc:
            raise _err("augmentation", str(exc).removeprefix("augmentation: ")) from None


def _normalise_columns(out: dict[str, Any]) -> None:
    """Check the column keys and give lists a single form (one name -> [name])."""
    _check_columns("variables", out["variables"], allow_int=True)
    _check_columns("target_columns", out["target_columns"], allow_int=False)
    _check_columns("forecast_variables", out["forecast_variables"], allow_int=False)
    tc = out["time_columns"]
    out["time_columns"] = [] if tc is None else list(tc) if isinstance(tc, (list, tuple)) else [tc]
    for key in ("target_columns", "forecast_variables"):
        if isinstance(out[key], (str, int)):
            out[key] = [out[key]]
    if isinstance(out["variables"], tuple):
        out["variables"] = list(out["variables"])


def _check_gain(out: dict[str, Any]) -> None:
    gv = out["gain_variations"]
    if gv is None:
        if "GainVariation" in out["data_proc_transforms"]:
            raise _err(
                "gain_variations", "GainVariation is listed but gain_variations is not set; e.g. [0.8, 1.2]"
            )
        return
    for r in gv.values() if isinstance(gv, dict) else [gv]:
        if (
            not isinstance(r, (list, tuple))
            or len(r) != 2
            or not all(_is_number(v) for v in r)
            or r[0] > r[1]
        ):
            raise _err("gain_variations", f"each range is [low, high] with low <= high, got {r!r}")
    out["gain_variations"] = {k: list(v) for k, v in gv.items()} if isinstance(gv, dict) else list(gv)


def _check_combinations(out: dict[str, Any]) -> None:
    if {"Downsample", "DownSample"} & set(out["data_proc_transforms"]):
        if not out["sampling_rate"] or not out["new_sr"]:
            raise _err("new_sr", "Downsample needs both sampling_rate and new_sr (Hz)")
        if out["new_sr"] > out["sampling_rate"]:
            raise _err("new_sr", f"{out['new_sr']} is above sampling_rate {out['sampling_rate']}")
    if out["num_frame_concat"] > 1 and "CONCAT" not in out["feat_ext_transform"]:
        raise _err(
            "num_frame_concat", f"is {out['num_frame_concat']} but feat_ext_transform has no CONCAT; add it"
        )


def validate_data_config(cfg: dict[str, Any] | None) -> dict[str, Any]:
    """Merge ``cfg`` over the defaults (and a preset) and check it; returns a new dict.

    Raises :class:`ConfigError` for an unknown key (with the closest key), a wrong type, a value
    out of range, or an unknown transform or preset name (with the closest names).
    Validating an already validated dict returns an equal dict.
    """
    out = _merge(dict(cfg or {}))
    _check_transforms(out)
    _check_numbers(out)
    _check_choices(out)
    _normalise_columns(out)
    _check_gain(out)
    _check_combinations(out)
    return out
