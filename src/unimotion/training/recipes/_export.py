"""Shared by the recipes: the ``export_dir`` rule (never replaced without ``--overwrite``) and a shippable
checkpoint with its training summary."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from ...errors import ConfigError


def overwrite_allowed(args: argparse.Namespace | None) -> bool:
    """Whether the command line allowed replacing an existing ``export_dir`` (``--overwrite``)."""
    return bool(getattr(args, "overwrite", False))


def check_export_dir(export_dir: str | os.PathLike | None, args: argparse.Namespace | None) -> None:
    """Refuse, before any training, an ``export_dir`` that exists unless ``--overwrite`` was given."""
    if not export_dir:
        return
    path = Path(export_dir)
    if path.exists() and not overwrite_allowed(args):
        kind = "folder" if path.is_dir() else "file"
        raise ConfigError(f"export_dir {path} exists (a {kind}); pass --overwrite to replace it, or choose "
                          "another export_dir (nothing was trained)")


def export_checkpoint(model, export_dir: str | os.PathLike, run_dir: str | os.PathLike,
                      overwrite: bool = False) -> Path:
    """``model.save_pretrained(export_dir)`` (config, weights, Mean/Std, NOTICE) + a copy of the run's
    ``train_summary.json`` (steps, batch, wall time, config: the training budget travels with the weights).
    An existing ``export_dir`` is replaced only with ``overwrite``."""
    try:
        path = model.save_pretrained(export_dir, overwrite=overwrite)
    except FileExistsError as exc:
        raise ConfigError(f"{exc}; pass --overwrite to replace it") from exc
    summary = Path(run_dir) / "train_summary.json"
    if summary.is_file():
        shutil.copyfile(summary, path / "train_summary.json")
    return path
