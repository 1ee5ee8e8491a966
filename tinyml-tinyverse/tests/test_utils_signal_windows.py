"""The periodic Hann window without scipy.signal gives scipy's numbers bit for bit."""

from __future__ import annotations

import numpy as np
from scipy import signal
from tinyml_tinyverse.common.utils.signal_windows import periodic_hann


def test_periodic_hann_is_scipys_bit_for_bit():
    for n in [*range(1, 600), 1024, 2048, 4096]:
        ours, theirs = periodic_hann(n), signal.get_window("hann", n)
        assert ours.dtype == theirs.dtype == np.float64 and ours.shape == theirs.shape, n
        assert np.array_equal(ours.view(np.int64), theirs.view(np.int64)), n
