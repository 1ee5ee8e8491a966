"""One switch for every progress bar of the library (file reading, calibration, epochs).

By default a bar shows only when stderr is a terminal (tqdm's ``disable=None``), so logs and CI
output stay free of carriage-return noise. ``set_progress(False)`` (``--no-progress``) turns them all
off; ``set_progress(True)`` forces them on.
"""

from __future__ import annotations

_enabled: bool | None = None


def set_progress(enabled: bool | None) -> None:
    """True: always show bars; False: never; None: only on a terminal."""
    global _enabled
    _enabled = enabled


def bar_disabled(extra_condition: bool = False) -> bool | None:
    """The ``disable=`` argument for ``tqdm``; ``extra_condition`` hides a bar not worth showing."""
    if extra_condition or _enabled is False:
        return True
    return None if _enabled is None else False
