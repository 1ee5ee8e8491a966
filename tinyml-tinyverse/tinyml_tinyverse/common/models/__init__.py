"""Models built from a layer spec, the model zoo and NPU rules (registry lands next)."""
