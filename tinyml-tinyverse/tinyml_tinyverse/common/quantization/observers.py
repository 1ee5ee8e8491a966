"""Calibration observers: from the values a tensor takes on calibration data to a clip range.

An observer sees one calibration batch at a time through ``update(x)`` and answers ``range()``
with ``(lo, hi)``, the float range that int8 quantization of that tensor should cover. Memory stays
fixed however many batches are seen: a running min / max and a histogram of fixed bin count.

- ``minmax``: the smallest and largest value seen.
- ``percentile``: the ``(100 - p)``-th and ``p``-th percentiles (default ``p = 99.99``) of the
  values, so that rare outliers are clipped instead of stretching the scale.
- ``mse``: the range minimising the mean squared int8 quantization error (rounding inside the
  range plus clipping outside) of the values seen, searched on the histogram.

Every range includes 0 (``lo <= 0 <= hi``), so that zero is exact with a zero point; it is
``(0.0, 0.0)`` for an all-zero tensor. With ``symmetric=True`` the range is ``(-a, a)``, as used
for weights. Numpy only.

The histogram covers ``[-R, R]`` with ``2 * bins`` equal bins, ``R`` the largest ``|x|`` seen so
far. When a batch exceeds ``R``, ``R`` doubles and pairs of bins merge, which is exact because the
old bin edges are also new bin edges.
"""

from __future__ import annotations

import inspect

import numpy as np

from ..errors import ConfigError, DataError
from ..registry import Registry

OBSERVER_REGISTRY = Registry("observer")


class HistogramObserver:
    """Running min / max and a fixed-size histogram of all values seen (base of all observers)."""

    name = "histogram"

    def __init__(self, bins: int = 1024, symmetric: bool = False):
        if bins < 16 or bins % 2:
            raise ConfigError(f"observer bins must be an even number >= 16, got {bins}")
        self.bins = int(bins)  # per side: the histogram holds 2 * bins counts
        self.symmetric = bool(symmetric)
        self.min = np.inf
        self.max = -np.inf
        self.count = 0
        self.radius = 0.0  # histogram covers [-radius, radius]
        self.hist = np.zeros(2 * self.bins, dtype=np.float64)

    def update(self, x: np.ndarray) -> None:
        """Add one calibration batch (any shape)."""
        x = np.asarray(x, dtype=np.float64).ravel()
        if x.size == 0:
            return
        if not np.all(np.isfinite(x)):
            raise DataError(
                f"{self.name} observer: the calibration batch holds NaN or infinite values; "
                "clean the data or the model before quantizing"
            )
        self.min = min(self.min, float(x.min()))
        self.max = max(self.max, float(x.max()))
        self.count += x.size
        peak = max(abs(self.min), abs(self.max))
        if self.radius == 0.0:
            self.radius = peak if peak > 0 else 0.0
        while self.radius < peak:
            self._double_radius()
        if self.radius > 0:
            counts, _ = np.histogram(x, bins=2 * self.bins, range=(-self.radius, self.radius))
            self.hist += counts

    def _double_radius(self) -> None:
        merged = self.hist.reshape(-1, 2).sum(axis=1)  # bins pairs -> half as many bins
        self.hist = np.zeros_like(self.hist)
        quarter = self.bins // 2
        self.hist[quarter : quarter + self.bins] = merged
        self.radius *= 2.0

    def _check_seen(self) -> None:
        if self.count == 0:
            raise DataError(
                f"{self.name} observer has seen no data: give calibration batches (update(x)) before range()"
            )

    def bin_edges(self) -> np.ndarray:
        return np.linspace(-self.radius, self.radius, 2 * self.bins + 1)

    def _finish(self, lo: float, hi: float) -> tuple[float, float]:
        """Clamp to the values seen, include 0, apply symmetry."""
        lo = min(0.0, max(lo, self.min))
        hi = max(0.0, min(hi, self.max))
        if self.symmetric:
            a = max(-lo, hi)
            return (-a, a)
        return (float(lo), float(hi))

    def range(self) -> tuple[float, float]:
        raise NotImplementedError


@OBSERVER_REGISTRY.register("minmax")
class MinMaxObserver(HistogramObserver):
    """Range = smallest and largest value seen."""

    name = "minmax"

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64)
        if x.size == 0:
            return
        if not np.all(np.isfinite(x)):
            raise DataError(
                "minmax observer: the calibration batch holds NaN or infinite values; "
                "clean the data or the model before quantizing"
            )
        self.min = min(self.min, float(x.min()))
        self.max = max(self.max, float(x.max()))
        self.count += x.size

    def range(self) -> tuple[float, float]:
        self._check_seen()
        return self._finish(self.min, self.max)


@OBSERVER_REGISTRY.register("percentile")
class PercentileObserver(HistogramObserver):
    """Range = the ``100 - percentile`` and ``percentile`` percentiles of the values seen.

    With ``symmetric=True`` it is the ``percentile`` of ``|x|``.
    """

    name = "percentile"

    def __init__(self, percentile: float = 99.99, bins: int = 1024, symmetric: bool = False):
        super().__init__(bins=bins, symmetric=symmetric)
        if not 50.0 < percentile <= 100.0:
            raise ConfigError(f"percentile observer: percentile must be in (50, 100], got {percentile}")
        self.percentile = float(percentile)

    def _quantile(self, hist: np.ndarray, edges: np.ndarray, q: float) -> float:
        """Value below which a fraction ``q`` of the histogram mass lies (linear inside a bin)."""
        cum = np.concatenate([[0.0], np.cumsum(hist)])
        target = q * cum[-1]
        i = int(np.searchsorted(cum, target, side="left"))
        i = min(max(i, 1), len(hist))
        inside = hist[i - 1]
        frac = 0.0 if inside == 0 else (target - cum[i - 1]) / inside
        return float(edges[i - 1] + frac * (edges[i] - edges[i - 1]))

    def range(self) -> tuple[float, float]:
        self._check_seen()
        if self.radius == 0.0:
            return (0.0, 0.0)
        q = self.percentile / 100.0
        edges = self.bin_edges()
        if self.symmetric:
            folded = self.hist[self.bins :] + self.hist[: self.bins][::-1]
            a = self._quantile(folded, edges[self.bins :], q)
            a = min(a, max(-self.min, self.max))
            return (-a, a)
        lo = self._quantile(self.hist, edges, 1.0 - q)
        hi = self._quantile(self.hist, edges, q)
        return self._finish(lo, hi)


def _cumulative_rounding_error(u: np.ndarray) -> np.ndarray:
    """Integral from 0 to ``u`` of ``(t - round(t))**2`` dt (rounding to the integer grid)."""
    v = u + 0.5
    whole = np.floor(v)
    f = v - whole
    return whole / 12.0 + ((f - 0.5) ** 3 + 0.125) / 3.0


def quantization_mse(
    edges: np.ndarray, counts: np.ndarray, lo: np.ndarray, hi: np.ndarray, levels: int
) -> np.ndarray:
    """Mean squared quantization error of histogram values for each candidate range ``[lo, hi]``.

    Values are taken as spread evenly inside their bin. A bin whose centre lies inside a range
    contributes its exact mean rounding error to the grid of step ``(hi - lo) / (levels - 1)``
    through 0; a bin outside contributes its mean squared distance to the range (clipping).
    ``lo`` and ``hi`` are 1-d arrays of candidates; returns one error per candidate.
    """
    lo = lo[:, None]
    hi = hi[:, None]
    step = np.maximum((hi - lo) / (levels - 1), 1e-30)
    a = edges[None, :-1]
    b = edges[None, 1:]
    width = b - a
    c = 0.5 * (a + b)
    rounding = (_cumulative_rounding_error(b / step) - _cumulative_rounding_error(a / step)) * step**3 / width
    clip = np.where(c > hi, (c - hi) ** 2, 0.0) + np.where(c < lo, (lo - c) ** 2, 0.0) + width**2 / 12.0
    err = np.where((c >= lo) & (c <= hi), rounding, clip)
    return (err * counts[None, :]).sum(axis=1) / max(counts.sum(), 1.0)


@OBSERVER_REGISTRY.register("mse")
class MSEObserver(HistogramObserver):
    """Range minimising the int8 quantization MSE of the values seen (searched on the histogram).

    Candidates are ``candidates`` evenly spaced fractions of each side (of ``max|x|`` when
    symmetric); the two sides are searched in turn (coordinate descent, ``rounds`` passes).
    """

    name = "mse"

    def __init__(
        self, bits: int = 8, candidates: int = 128, rounds: int = 3, bins: int = 1024, symmetric: bool = False
    ):
        super().__init__(bins=bins, symmetric=symmetric)
        if not 2 <= bits <= 16:
            raise ConfigError(f"mse observer: bits must be in 2..16, got {bits}")
        self.levels = 2**bits - 1 if symmetric else 2**bits
        self.candidates = int(candidates)
        self.rounds = int(rounds)

    def range(self) -> tuple[float, float]:
        self._check_seen()
        if self.radius == 0.0:
            return (0.0, 0.0)
        edges = self.bin_edges()
        fractions = np.arange(1, self.candidates + 1) / self.candidates

        def mse(lo, hi):
            return quantization_mse(edges, self.hist, lo, hi, self.levels)

        if self.symmetric:
            a = fractions * max(-self.min, self.max)
            best = a[int(np.argmin(mse(-a, a)))]
            return (-float(best), float(best))
        lo_all = fractions * min(self.min, 0.0)
        hi_all = fractions * max(self.max, 0.0)
        lo, hi = lo_all[-1], hi_all[-1]
        for _ in range(self.rounds):
            hi = hi_all[int(np.argmin(mse(np.full_like(hi_all, lo), hi_all)))]
            lo = lo_all[int(np.argmin(mse(lo_all, np.full_like(lo_all, hi))))]
        return self._finish(float(lo), float(hi))


def make_observer(name: str, **kwargs) -> HistogramObserver:
    """A new observer ``name`` (``minmax``, ``percentile``, ``mse``) built with ``kwargs``.

    An unknown name lists the known ones; an unknown keyword lists the accepted ones.
    """
    cls = OBSERVER_REGISTRY[name]
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ConfigError(
            f"observer {name!r} does not take {', '.join(unknown)}; accepted settings: {', '.join(accepted)}"
        )
    return cls(**kwargs)
