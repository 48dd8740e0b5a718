"""Shared by the evaluator and keypoint recipes: save a shippable checkpoint with its training summary."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def export_checkpoint(model, export_dir: str | os.PathLike, run_dir: str | os.PathLike) -> Path:
    """``model.save_pretrained(export_dir)`` (config, weights, Mean/Std, NOTICE) + a copy of the run's
    ``train_summary.json`` (steps, batch, wall time, config: the training budget travels with the weights)."""
    path = model.save_pretrained(export_dir)
    summary = Path(run_dir) / "train_summary.json"
    if summary.is_file():
        shutil.copyfile(summary, path / "train_summary.json")
    return path
