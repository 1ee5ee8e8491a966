"""Model search under the target's budget (``training.model_name: auto``): Optuna over zoo models,
feature-extraction presets and weight bit widths; one machine by default, many through a shared
storage. See ``docs/search.md``.

``space`` (candidates, budget), ``fit`` (each candidate's flash / RAM / latency from the compiler),
``study`` (storage, settings, queue), ``trial`` (one candidate trained with pruning), ``worker``
(the trial loop and ``tinyml-modelmaker search-worker``), ``results`` (trials.csv, Pareto plot,
winner), ``stage`` (the run's search stage).
"""

from .space import AUTO, Budget, Candidate, search_active

__all__ = ["AUTO", "Budget", "Candidate", "search_active"]
