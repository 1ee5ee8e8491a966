"""Training and testing reference scripts, one folder per task (torchvision-references style).

Run one with ``python -m tinyml_tinyverse.references.timeseries_classification.train --help``.
"""
