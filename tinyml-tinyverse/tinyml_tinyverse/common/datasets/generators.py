"""Generate small, realistic datasets on disk so every example runs offline.

- ``motor_fault``: 3-axis vibration of a motor at 4 kHz in ``classes/<label>/*.csv`` with labels
  ``normal``, ``imbalance``, ``misalignment``, ``bearing_defect``: shaft-speed harmonics, bearing
  impulse trains ringing a structural resonance, noise, speed and sensor-gain variation.
- ``regression``: ``files/*.csv`` of 3-phase motor currents (1 kHz) with the load torque (N*m) to
  estimate in the last column.
- ``forecasting``: ``files/*.csv`` of a motor winding temperature driven by load and ambient
  temperature (one sample per minute); forecast ``temperature``.
- ``anomaly``: ``classes/Normal`` and ``classes/Anomaly`` vibration recordings.
- ``digits``, ``shapes`` (images, ``image_generators``), ``tones``, ``spoken_words`` (sound,
  ``audio_generators``).

Command line::

    python -m tinyml_tinyverse.common.datasets.generators motor_fault OUT_DIR [--seed S]
        [--files-per-class K] [--length L]
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..task_names import get_task_record
from .audio_generators import generate_spoken_words, generate_tones
from .image_generators import generate_digits, generate_shapes

MOTOR_FS = 4000.0
MOTOR_CLASSES = ("normal", "imbalance", "misalignment", "bearing_defect")


def _write_csv(path: Path, header: list[str], columns: list[np.ndarray], fmt: str = "%.5f") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    np.savetxt(tmp, np.stack(columns, axis=1), delimiter=",", header=",".join(header), comments="", fmt=fmt)
    os.replace(tmp, path)


def _shaft_phase(rng: np.random.Generator, n: int, fs: float, f0: float) -> np.ndarray:
    """Phase (rad) of a shaft turning at about ``f0`` Hz with a slow +-1 % speed wobble."""
    t = np.arange(n) / fs
    wobble = 1 + 0.01 * np.sin(2 * np.pi * rng.uniform(0.2, 0.8) * t + rng.uniform(0, 2 * np.pi))
    return 2 * np.pi * np.cumsum(f0 * wobble) / fs


def _bearing_impulses(rng: np.random.Generator, n: int, fs: float, rate: float, amp: float) -> np.ndarray:
    """Impulses at ``rate`` Hz (with slip jitter) ringing a resonance of 0.9 - 1.4 kHz."""
    out = np.zeros(n)
    period = fs / rate
    pos = rng.uniform(0, period)
    while pos < n:
        out[int(pos)] += amp * rng.uniform(0.6, 1.4)
        pos += period * (1 + rng.normal(0, 0.015))
    f_res = rng.uniform(900, 1400)
    decay = rng.uniform(250, 450)
    t = np.arange(int(0.02 * fs)) / fs
    ring = np.exp(-decay * t) * np.sin(2 * np.pi * f_res * t)
    return np.convolve(out, ring)[:n]


def motor_vibration(rng: np.random.Generator, label: str, n: int, fs: float = MOTOR_FS) -> np.ndarray:
    """One ``(n, 3)`` x/y/z acceleration recording (g) of a motor in state ``label``."""
    f0 = rng.uniform(20, 30)  # shaft speed, Hz (1200 - 1800 rpm)
    ph = _shaft_phase(rng, n, fs, f0)
    a1, a2 = rng.uniform(0.1, 0.3), rng.uniform(0.03, 0.1)
    x = a1 * np.sin(ph) + a2 * np.sin(2 * ph + 0.3)
    y = a1 * np.cos(ph) + a2 * np.cos(2 * ph + 0.3)
    z = 0.3 * a1 * np.sin(ph + 1.0) + 0.5 * a2 * np.sin(2 * ph)
    if label == "imbalance":
        m = rng.uniform(0.25, 0.8)
        x, y = x + m * np.sin(ph + 0.2), y + m * np.cos(ph + 0.2)
    elif label == "misalignment":
        m = rng.uniform(0.2, 0.5)
        x = x + m * np.sin(2 * ph) + 0.3 * m * np.sin(3 * ph)
        y = y + 0.7 * m * np.cos(2 * ph)
        z = z + 1.2 * m * np.sin(2 * ph + 0.5) + 0.6 * m * np.sin(ph)
    elif label == "bearing_defect":
        imp = _bearing_impulses(rng, n, fs, f0 * rng.uniform(3.4, 3.7), rng.uniform(0.4, 1.0))
        x, y, z = x + imp, y + 0.7 * imp, z + 0.3 * imp
    elif label != "normal":
        raise ValueError(f"unknown motor state {label!r}; use one of {MOTOR_CLASSES}")
    sig = np.stack([x, y, z], axis=1)
    sig *= rng.uniform(0.8, 1.2, size=3)  # sensor sensitivity
    sig += rng.normal(0, rng.uniform(0.1, 0.25), size=sig.shape)  # sensor + structure noise
    sig += 0.05 * np.sin(2 * np.pi * rng.uniform(45, 65) * np.arange(n) / fs)[:, None]  # mains pickup
    return sig


def generate_motor_fault(
    out_dir: str | Path,
    *,
    seed: int = 0,
    files_per_class: int = 10,
    length: int = 8192,
    classes: tuple[str, ...] = MOTOR_CLASSES,
) -> Path:
    """Write ``out_dir/classes/<label>/<label>_<i>.csv`` (time, accel_x, accel_y, accel_z)."""
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    t = np.arange(length) / MOTOR_FS
    for label in classes:
        for i in range(files_per_class):
            sig = motor_vibration(rng, label, length)
            _write_csv(
                out / "classes" / label / f"{label}_{i:03d}.csv",
                ["time", "accel_x", "accel_y", "accel_z"],
                [t, sig[:, 0], sig[:, 1], sig[:, 2]],
            )
    return out


def generate_anomaly(
    out_dir: str | Path, *, seed: int = 0, files_per_class: int = 10, length: int = 8192
) -> Path:
    """``classes/Normal`` (healthy motors) and ``classes/Anomaly`` (bearing defects, imbalance)."""
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    t = np.arange(length) / MOTOR_FS
    normal, anomaly = get_task_record("anomalydetection").label_names
    for label in (normal, anomaly):
        for i in range(files_per_class):
            state = "normal" if label == normal else ("bearing_defect", "imbalance")[i % 2]
            sig = motor_vibration(rng, state, length)
            _write_csv(
                out / "classes" / label / f"{label.lower()}_{i:03d}.csv",
                ["time", "accel_x", "accel_y", "accel_z"],
                [t, sig[:, 0], sig[:, 1], sig[:, 2]],
            )
    return out


def _smooth_random(
    rng: np.random.Generator, n: int, steps: int, lo: float, hi: float, smooth: int
) -> np.ndarray:
    """A piecewise-constant random level (``steps`` levels) smoothed over ``smooth`` samples."""
    edges = np.sort(rng.integers(0, n, steps - 1))
    levels = rng.uniform(lo, hi, steps)
    raw = levels[np.searchsorted(edges, np.arange(n), side="right")]
    kernel = np.ones(smooth) / smooth
    return np.convolve(np.pad(raw, (smooth, smooth), mode="edge"), kernel, mode="same")[smooth:-smooth]


def generate_regression(
    out_dir: str | Path, *, seed: int = 0, files_per_class: int = 8, length: int = 8192
) -> Path:
    """``files/motor_<i>.csv``: time, current_a/b/c (A) and torque (N*m, the target, last)."""
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    fs = 1000.0
    t = np.arange(length) / fs
    for i in range(files_per_class):
        torque = _smooth_random(rng, length, 6, 0.5, 10.0, 200)
        speed = _smooth_random(rng, length, 4, 15.0, 45.0, 400)  # electrical frequency, Hz
        phase = 2 * np.pi * np.cumsum(speed) / fs
        amp = 0.8 + 0.45 * torque  # magnetising + torque-producing current
        cur = [amp * np.sin(phase - k * 2 * np.pi / 3) + rng.normal(0, 0.08, length) for k in range(3)]
        _write_csv(
            out / "files" / f"motor_{i:03d}.csv",
            ["time", "current_a", "current_b", "current_c", "torque"],
            [t, *cur, torque + rng.normal(0, 0.05, length)],
        )
    return out


def generate_forecasting(
    out_dir: str | Path, *, seed: int = 0, files_per_class: int = 6, length: int = 4000
) -> Path:
    """``files/thermal_<i>.csv``: time (min), load (%), ambient and temperature (deg C)."""
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    minutes = np.arange(length, dtype=np.float64)
    for i in range(files_per_class):
        load = np.clip(
            _smooth_random(rng, length, length // 150, 10, 100, 20) + rng.normal(0, 2, length), 0, 110
        )
        ambient = (
            22
            + 5 * np.sin(2 * np.pi * minutes / 1440 + rng.uniform(0, 2 * np.pi))
            + rng.normal(0, 0.1, length)
        )
        tau, gain = rng.uniform(30, 60), rng.uniform(0.006, 0.01)
        temp = np.empty(length)
        temp[0] = ambient[0]
        for k in range(1, length):  # first-order thermal model, one step per minute
            target = ambient[k] + gain * load[k] ** 2
            temp[k] = temp[k - 1] + (target - temp[k - 1]) / tau
        _write_csv(
            out / "files" / f"thermal_{i:03d}.csv",
            ["time", "load", "ambient", "temperature"],
            [minutes, load, ambient, temp + rng.normal(0, 0.05, length)],
            fmt="%.4f",
        )
    return out


GENERATORS: dict[str, Callable[..., Path]] = {
    "motor_fault": generate_motor_fault,
    "regression": generate_regression,
    "forecasting": generate_forecasting,
    "anomaly": generate_anomaly,
    "digits": generate_digits,
    "shapes": generate_shapes,
    "tones": generate_tones,
    "spoken_words": generate_spoken_words,
}
COMPLETE_MARKER = ".generated_complete"  # in a finished folder of generate_dataset


def _private_name(path: Path, what: str) -> Path:
    return path.with_name(f"{path.name}.{what}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def generate_dataset(kind: str, out_dir: str | Path, **kwargs) -> Path:
    """The dataset ``kind`` in ``out_dir``, written once; safe when several processes ask at once.

    Each process writes into a temporary folder of its own beside ``out_dir`` and renames it into
    place with :data:`COMPLETE_MARKER` inside; the first rename wins and the others drop their copy,
    so ``out_dir`` only ever appears complete. A folder without the marker (left by an interrupted
    generation of an earlier version) is set aside and replaced.
    """
    out = Path(out_dir)
    if (out / COMPLETE_MARKER).is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = _private_name(out, "tmp")
    try:
        GENERATORS[kind](tmp, **kwargs)
        (tmp / COMPLETE_MARKER).write_text("complete\n")
        for _ in range(5):
            try:
                os.rename(tmp, out)
                return out
            except OSError:
                if (out / COMPLETE_MARKER).is_file():  # another process finished first: use its copy
                    return out
                if out.is_dir():  # unfinished and unmarked: set it aside (atomically) and try again
                    stale = _private_name(out, "stale")
                    with contextlib.suppress(OSError):
                        os.rename(out, stale)
                    shutil.rmtree(stale, ignore_errors=True)
                else:
                    raise
        raise OSError(f"{out}: could not put the generated data in place; remove the folder and run again")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a small generated dataset to disk.")
    parser.add_argument("kind", choices=sorted(GENERATORS))
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--files-per-class", type=int, default=None, help="recordings per class (or files)")
    parser.add_argument("--length", type=int, default=None, help="samples per recording")
    args = parser.parse_args(argv)
    kwargs = {"seed": args.seed}
    if args.files_per_class is not None:
        kwargs["files_per_class"] = args.files_per_class
    if args.length is not None:
        if "length" not in inspect.signature(GENERATORS[args.kind]).parameters:
            parser.error(f"--length does not apply to {args.kind} (its files have a fixed size)")
        kwargs["length"] = args.length
    out = GENERATORS[args.kind](args.out_dir, **kwargs)
    print(f"wrote the {args.kind} dataset to {out}")


if __name__ == "__main__":
    main()
