"""A vision run: the stages of ``timeseries.runner`` (dataset, training, testing, compilation), which
read the images through tinyverse's ``vision`` data modality (``constants.DATA_MODALITY``)."""

from __future__ import annotations

from ..timeseries.runner import results_table, run

__all__ = ["results_table", "run"]
