"""tinyml_modelmaker: run a TinyML project (dataset -> training -> testing -> compilation) from one YAML.

From Python: ``tinyml_modelmaker.run_project("config.yaml", ["training.training_epochs=5"])``.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["run_project"]


def __getattr__(name: str) -> Any:
    if name == "run_project":  # imported on use, so ``import tinyml_modelmaker`` stays light
        from .run_tinyml_modelmaker import run_project

        return run_project
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
