"""Modalities. Each sub-package (``timeseries``, ...) is found by name; see ``registry.py``."""
