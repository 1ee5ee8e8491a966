"""Feature extraction speed: the vectorised pipeline against plain per-window numpy loops.

Preset ``Generic_1024Input_FFTBIN_64Feature_8Frame`` (1024-point FFT, positive half, DC bin dropped,
64 averaged bins in dB per frame, 8 frames per example, a new example every frame) over 3 channels
of 2 million samples each.

    OMP_NUM_THREADS=1 python benchmarks/feature_extraction.py [--samples 2000000] [--channels 3] [--repeat 3]

Prints windows (1024-sample frames of all channels) per second and input MB/s (float32) for:
- ``vectorised``: ``tinyml_tinyverse.common.transforms.extract_features`` (all frames at once);
- ``per-frame loop``: a Python loop over frames, numpy inside, each frame computed once;
- ``per-example loop``: a loop over examples as a dataset ``__getitem__`` would do it (each example
  recomputes its 8 frames), timed on a slice and scaled.
All three outputs are checked to be equal.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from tinyml_tinyverse.common.datasets import validate_data_config
from tinyml_tinyverse.common.transforms import Recording, extract_features

PRESET = "Generic_1024Input_FFTBIN_64Feature_8Frame"


def frame_features(frame: np.ndarray, bins: int, threshold: float) -> np.ndarray:
    """One frame ``(C, L)`` -> ``(C, bins)``: bins 1 .. L/2 of |FFT|, averaged, in dB."""
    spec = np.abs(np.fft.rfft(frame, axis=-1))[:, 1:]
    return 20 * np.log10(spec.reshape(frame.shape[0], bins, -1).mean(-1) + threshold)


def per_frame_loop(x: np.ndarray, cfg: dict) -> np.ndarray:
    size, k, bins = cfg["frame_size"], cfg["num_frame_concat"], cfg["feature_size_per_frame"]
    thr = cfg["log_threshold"]
    feats = [frame_features(x[s : s + size].T, bins, thr) for s in range(0, len(x) - size + 1, size)]
    return np.stack([np.concatenate(feats[e : e + k], axis=1) for e in range(len(feats) - k + 1)])


def per_example_loop(x: np.ndarray, cfg: dict, n_examples: int) -> np.ndarray:
    size, k, bins = cfg["frame_size"], cfg["num_frame_concat"], cfg["feature_size_per_frame"]
    thr = cfg["log_threshold"]
    out = []
    for e in range(n_examples):
        seg = x[e * size : e * size + k * size]
        out.append(
            np.concatenate(
                [frame_features(seg[j * size : (j + 1) * size].T, bins, thr) for j in range(k)], axis=1
            )
        )
    return np.stack(out)


def timed(fn, *args, repeat: int = 1):
    """Result and best wall time of ``repeat`` runs (the machine may be shared)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t0)
    return out, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=2_000_000)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument(
        "--example-slice", type=int, default=300, help="examples timed in the per-example loop"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per method; the best time counts")
    args = parser.parse_args()
    cfg = validate_data_config({"feature_extraction_name": PRESET})
    x = np.random.default_rng(0).normal(size=(args.samples, args.channels)).astype(np.float32)
    mb = x.nbytes / 1e6
    frames = args.samples // cfg["frame_size"]

    extract_features([Recording(x[:20000])], cfg)  # warm-up (imports, FFT plans)
    vec, t_vec = timed(lambda: extract_features([Recording(x)], cfg).X, repeat=args.repeat)
    loop, t_loop = timed(per_frame_loop, x, cfg, repeat=args.repeat)
    n_ex = min(args.example_slice, len(loop))
    ex, t_ex = timed(per_example_loop, x, cfg, n_ex, repeat=args.repeat)
    t_ex_full = t_ex * len(loop) / n_ex

    np.testing.assert_allclose(vec[..., 0], loop, rtol=1e-3, atol=2e-3)
    np.testing.assert_allclose(ex, loop[:n_ex], rtol=1e-6, atol=1e-6)
    print(
        f"{PRESET}: {args.channels} channels x {args.samples} samples ({mb:.1f} MB float32), "
        f"{frames} windows of {cfg['frame_size']}, {len(vec)} examples {tuple(vec.shape[1:])}"
    )
    print(f"{'method':<22}{'seconds':>10}{'windows/s':>14}{'MB/s':>10}")
    for name, t in (("vectorised", t_vec), ("per-frame loop", t_loop), ("per-example loop*", t_ex_full)):
        print(f"{name:<22}{t:>10.3f}{frames / t:>14.0f}{mb / t:>10.1f}")
    print(
        f"speed-up: {t_loop / t_vec:.1f}x over the per-frame loop, {t_ex_full / t_vec:.1f}x over the per-example loop"
    )
    print(f"best of {args.repeat} runs each; the pipeline's FFT is the float32 one the generated C runs")
    print(f"* per-example loop timed on {n_ex} examples ({t_ex:.3f} s) and scaled to all {len(loop)}")


if __name__ == "__main__":
    main()
