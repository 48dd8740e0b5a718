"""Logging set-up shared by the command line and long-running jobs."""

from __future__ import annotations

import logging
import os

_CONFIGURED = False


def get_logger(name: str) -> logging.Logger:
    """A logger under the ``unimotion`` namespace (configure once with :func:`setup_logging`)."""
    return logging.getLogger(name if name.startswith("unimotion") else f"unimotion.{name}")


def setup_logging(verbosity: int = 0) -> None:
    """Route ``unimotion`` logs through rich (INFO by default, DEBUG with -v, WARNING with -q)."""
    global _CONFIGURED
    level = logging.DEBUG if verbosity > 0 else logging.WARNING if verbosity < 0 else logging.INFO
    level = int(os.environ.get("UNIMOTION_LOG_LEVEL", level))
    root = logging.getLogger("unimotion")
    root.setLevel(level)
    if not _CONFIGURED:
        from rich.logging import RichHandler

        handler = RichHandler(show_path=False, rich_tracebacks=False, markup=False)
        handler.setFormatter(logging.Formatter("%(message)s", datefmt="[%X]"))
        root.addHandler(handler)
        root.propagate = False
        _CONFIGURED = True
