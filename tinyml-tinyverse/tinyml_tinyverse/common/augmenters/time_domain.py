"""Training-time augmenters for batches ``(N, C, H, W)``, time on H; all vectorised over N."""

from __future__ import annotations

import numpy as np

from ._base import AUGMENTER_REGISTRY, Augmenter, interpolate_time, per_example_std


@AUGMENTER_REGISTRY.register("AddNoise", aliases=("add_noise",))
class AddNoise(Augmenter):
    """Add Gaussian noise with std ``scale`` x each example's own std (per channel)."""

    def __init__(self, scale: float = 0.05, p: float = 1.0):
        super().__init__(p)
        self.scale = float(scale)

    def apply(self, x, rng):
        return x + rng.standard_normal(x.shape).astype(x.dtype) * self.scale * per_example_std(x)


@AUGMENTER_REGISTRY.register("TimeWarp", aliases=("time_warp",))
class TimeWarp(Augmenter):
    """Change speed piecewise: ``n_speed_change`` segments, speeds up to ``max_speed_ratio`` apart."""

    def __init__(self, n_speed_change: int = 3, max_speed_ratio: float = 1.5, p: float = 1.0):
        super().__init__(p)
        self.n_speed_change, self.max_speed_ratio = int(n_speed_change), float(max_speed_ratio)

    def apply(self, x, rng):
        n, h = x.shape[0], x.shape[2]
        speeds = rng.uniform(1.0, self.max_speed_ratio, (n, self.n_speed_change))
        seg = np.minimum((np.arange(h) * self.n_speed_change) // h, self.n_speed_change - 1)
        step = speeds[:, seg]  # (n, h)
        pos = np.cumsum(step, axis=1) - step[:, :1]
        pos = pos / pos[:, -1:] * (h - 1)  # map back onto the example's span
        return interpolate_time(x, pos)


@AUGMENTER_REGISTRY.register("Drift", aliases=("drift",))
class Drift(Augmenter):
    """Add a smooth random drift through ``n_drift_points`` points, up to ``max_drift`` x std."""

    def __init__(self, max_drift: float = 0.5, n_drift_points: int = 3, p: float = 1.0):
        super().__init__(p)
        self.max_drift, self.n_drift_points = float(max_drift), int(n_drift_points)

    def apply(self, x, rng):
        n, c, h, w = x.shape
        knots = rng.uniform(-1, 1, (n, c, self.n_drift_points + 1, w)) * self.max_drift
        grid = np.linspace(0, self.n_drift_points, h)
        lo = np.minimum(np.floor(grid).astype(int), self.n_drift_points - 1)
        frac = (grid - lo)[None, None, :, None]
        drift = knots[:, :, lo] * (1 - frac) + knots[:, :, lo + 1] * frac
        return x + drift.astype(x.dtype) * per_example_std(x)


@AUGMENTER_REGISTRY.register("Crop", aliases=("crop",))
class Crop(Augmenter):
    """Take a random crop of ``size`` (fraction of H) and stretch it back to H samples."""

    def __init__(self, size: float = 0.8, p: float = 1.0):
        super().__init__(p)
        if not 0 < size <= 1:
            raise ValueError(f"size is a fraction of the example in (0, 1], got {size}")
        self.size = float(size)

    def apply(self, x, rng):
        n, h = x.shape[0], x.shape[2]
        span = self.size * (h - 1)
        start = rng.uniform(0, (h - 1) - span, n)
        pos = start[:, None] + np.linspace(0, span, h)[None, :]
        return interpolate_time(x, pos)


@AUGMENTER_REGISTRY.register("Reverse", aliases=("reverse",))
class Reverse(Augmenter):
    """Reverse time."""

    def apply(self, x, rng):
        return x[:, :, ::-1, :]


@AUGMENTER_REGISTRY.register("Quantize", aliases=("quantize",))
class Quantize(Augmenter):
    """Round each example to ``n_levels`` levels between its min and max (per channel)."""

    def __init__(self, n_levels: int = 16, p: float = 1.0):
        super().__init__(p)
        if n_levels < 2:
            raise ValueError(f"n_levels must be >= 2, got {n_levels}")
        self.n_levels = int(n_levels)

    def apply(self, x, rng):
        lo = x.min(axis=2, keepdims=True)
        step = (x.max(axis=2, keepdims=True) - lo) / (self.n_levels - 1) + 1e-12
        return lo + np.round((x - lo) / step) * step


@AUGMENTER_REGISTRY.register("Dropout", aliases=("dropout",))
class Dropout(Augmenter):
    """Set a fraction ``rate`` of time steps (all channels) to ``fill``."""

    def __init__(self, rate: float = 0.05, fill: float = 0.0, p: float = 1.0):
        super().__init__(p)
        self.rate, self.fill = float(rate), float(fill)

    def apply(self, x, rng):
        drop = rng.random((x.shape[0], 1, x.shape[2], 1)) < self.rate
        return np.where(drop, np.asarray(self.fill, x.dtype), x)


@AUGMENTER_REGISTRY.register("Pool", aliases=("pool",))
class Pool(Augmenter):
    """Lower the time resolution: average blocks of ``size`` samples and hold each value."""

    def __init__(self, size: int = 2, p: float = 1.0):
        super().__init__(p)
        self.size = int(size)

    def apply(self, x, rng):
        h = x.shape[2]
        blocks = -(-h // self.size)
        padded = np.pad(x, ((0, 0), (0, 0), (0, blocks * self.size - h), (0, 0)), mode="edge")
        means = padded.reshape(x.shape[0], x.shape[1], blocks, self.size, x.shape[3]).mean(axis=3)
        return np.repeat(means, self.size, axis=2)[:, :, :h]


@AUGMENTER_REGISTRY.register("Resize", aliases=("resize",))
class Resize(Augmenter):
    """Stretch or squeeze time by a random factor in ``[min_ratio, max_ratio]`` about the start
    (the last value is held when squeezing)."""

    def __init__(self, min_ratio: float = 0.8, max_ratio: float = 1.2, p: float = 1.0):
        super().__init__(p)
        self.min_ratio, self.max_ratio = float(min_ratio), float(max_ratio)

    def apply(self, x, rng):
        ratio = rng.uniform(self.min_ratio, self.max_ratio, x.shape[0])
        pos = np.arange(x.shape[2])[None, :] / ratio[:, None]
        return interpolate_time(x, pos)


@AUGMENTER_REGISTRY.register("Convolve", aliases=("convolve",))
class Convolve(Augmenter):
    """Smooth with a normalised ``window`` (scipy window name) of ``size`` samples."""

    def __init__(self, window: str = "hann", size: int = 7, p: float = 1.0):
        super().__init__(p)
        self.window, self.size = str(window), int(size)
        from scipy import signal  # scipy.signal only when a step needs it (~0.3 s, 70 MiB)

        kernel = signal.get_window(self.window, self.size, fftbins=False)
        self.kernel = kernel / kernel.sum()

    def apply(self, x, rng):
        from scipy import ndimage

        return ndimage.convolve1d(x, self.kernel.astype(x.dtype), axis=2, mode="nearest")


@AUGMENTER_REGISTRY.register("LinearTransform", aliases=("linear_transform",))
class LinearTransform(Augmenter):
    """Mix channels with a random matrix ``I + N(0, sigma)`` (e.g. a sensor mounted a bit askew)."""

    def __init__(self, sigma: float = 0.1, p: float = 1.0):
        super().__init__(p)
        self.sigma = float(sigma)

    def apply(self, x, rng):
        n, c = x.shape[:2]
        m = np.eye(c)[None] + rng.normal(0, self.sigma, (n, c, c))
        return np.einsum("nij,njhw->nihw", m.astype(x.dtype), x)


@AUGMENTER_REGISTRY.register("Shift", aliases=("shift", "Roll"))
class Shift(Augmenter):
    """Shift time by a random whole number of samples, up to ``max_shift`` (fraction of H) either
    way; ``mode`` ``wrap`` rolls the example round (a contour, a period), ``edge`` holds its first or
    last value over the samples shifted in."""

    def __init__(self, max_shift: float = 0.1, mode: str = "wrap", p: float = 1.0):
        super().__init__(p)
        if not 0 < max_shift <= 1:
            raise ValueError(f"max_shift is a fraction of the example in (0, 1], got {max_shift}")
        if mode not in ("wrap", "edge"):
            raise ValueError(f"mode is 'wrap' or 'edge', got {mode!r}")
        self.max_shift, self.mode = float(max_shift), mode

    def apply(self, x, rng):
        n, h = x.shape[0], x.shape[2]
        most = max(1, int(round(self.max_shift * h)))
        pos = np.arange(h)[None, :] - rng.integers(-most, most + 1, n)[:, None]
        pos = pos % h if self.mode == "wrap" else np.clip(pos, 0, h - 1)
        idx = np.broadcast_to(pos[:, None, :, None], (n, x.shape[1], h, x.shape[3]))
        return np.take_along_axis(x, idx, axis=2)
