"""Training and testing through ``tinyml_tinyverse.references.timeseries_<task>``."""
