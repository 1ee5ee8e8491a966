"""An audio run: the stages of ``timeseries.runner`` (dataset, training, testing, compilation), which
read the clips through tinyverse's ``audio`` data modality (``constants.DATA_MODALITY``)."""

from __future__ import annotations

from ..timeseries.runner import results_table, run

__all__ = ["results_table", "run"]
