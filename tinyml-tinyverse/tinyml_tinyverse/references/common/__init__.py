"""Pieces shared by the reference scripts: the training loop, tasks, metrics, plots, checkpoints."""
