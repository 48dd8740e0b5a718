"""Where the default checkpoints are: a source checkout's ``checkpoints/`` or ``$UNIMOTION_CHECKPOINTS``.

The demo checkpoints ship with the repository, not with the installed package (a wheel holds only the
code). So a default checkpoint is found, in this order, in the folder named by the environment variable
``UNIMOTION_CHECKPOINTS``, or in ``<repository>/checkpoints`` when the package runs from a source checkout
(``src/unimotion`` inside a folder with ``pyproject.toml``); otherwise there is no default and the error
says how to give one.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import CheckpointError

__all__ = ["CHECKPOINTS_ENV", "repository_root", "checkpoints_dir", "default_checkpoint"]

#: Environment variable naming the folder that holds the default checkpoints (``unimotion_bandaiml/``, ...).
CHECKPOINTS_ENV = "UNIMOTION_CHECKPOINTS"


def repository_root() -> Path | None:
    """The source checkout this package runs from, or ``None`` (an installed wheel / sdist)."""
    package = Path(__file__).resolve().parents[1]  # .../unimotion
    root = package.parents[1]
    if package.parent.name == "src" and (root / "pyproject.toml").is_file():
        return root
    return None


def checkpoints_dir() -> Path | None:
    """``$UNIMOTION_CHECKPOINTS``, else ``<repository>/checkpoints`` of a source checkout, else ``None``."""
    env = os.environ.get(CHECKPOINTS_ENV)
    if env:
        return Path(env).expanduser()
    root = repository_root()
    return None if root is None else root / "checkpoints"


def default_checkpoint(name: str, how: str = "pass the checkpoint folder explicitly") -> Path:
    """``<checkpoints_dir>/<name>``; :class:`CheckpointError` (saying what to do) when there is none.

    Existence of the folder itself is left to the loader, whose error names the missing file.
    """
    base = checkpoints_dir()
    if base is None:
        raise CheckpointError(
            f"no default checkpoint '{name}': unimotion is installed outside its repository, and the demo "
            f"checkpoints ship with the repository, not with the package; {how}, or set {CHECKPOINTS_ENV} to "
            f"the folder that holds {name}/"
        )
    return base / name
