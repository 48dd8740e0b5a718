"""The library's exception types.

User input is validated at the boundary (shapes, dtypes, NaN/Inf, lengths, file formats) and rejected
with one of these, with a message that names the problem. Shape and value errors also derive from
``ValueError`` so that ``except ValueError`` keeps working for callers who do not know our types.
"""

from __future__ import annotations


class UnimotionError(Exception):
    """Base class of every error raised on purpose by unimotion."""


class MotionError(UnimotionError, ValueError):
    """A motion array is unusable: wrong shape, dtype, too short/long, or it holds NaN/Inf."""


class BVHError(UnimotionError, ValueError):
    """A BVH file is malformed. ``line`` is 1-based (None when the problem is not tied to one line)."""

    def __init__(self, message: str, line: int | None = None, path: str | None = None):
        self.line = line
        self.path = path
        where = ""
        if path is not None:
            where += f"{path}"
        if line is not None:
            where += f"{':' if where else 'line '}{line}"
        super().__init__(f"{where}: {message}" if where else message)


class RetargetError(UnimotionError, ValueError):
    """A skeleton cannot be mapped onto the target layout (e.g. a required joint is missing)."""


class CheckpointError(UnimotionError):
    """A checkpoint directory is missing files, has an unknown model type, or does not match its config."""


class ConfigError(UnimotionError, ValueError):
    """A configuration file or override is invalid (unknown key, wrong type, bad value)."""


class DatasetError(UnimotionError):
    """A dataset folder or archive is missing, incomplete or inconsistent."""


class InputError(UnimotionError, ValueError):
    """A user-supplied argument is invalid (empty text, impossible length, unknown option...)."""


class LimitError(UnimotionError, ValueError):
    """An input exceeds a resource limit of :mod:`unimotion.limits` (the message names the limit and how to
    raise it; ``limit`` holds its name). Readers raise subclasses that are also their format's error
    (e.g. a too-large BVH raises an error that is both a ``BVHError`` and a ``LimitError``)."""

    limit: str | None = None


class FileAccessError(UnimotionError, OSError):
    """A file or folder cannot be read or written: missing, permission denied, read-only, disk full."""


class MissingFileError(FileAccessError, FileNotFoundError):
    """An input file or folder does not exist."""


class OutputExistsError(FileAccessError, FileExistsError):
    """An output path exists (or appeared while the command ran) and overwriting was not allowed."""


class MotionLimitError(MotionError, LimitError):
    """A motion array holds magnitudes no body has (beyond ``MOTION_MAX_ABS``) or exceeds a size limit."""
