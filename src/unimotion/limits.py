"""Resource limits on everything unimotion reads from files or users.

Every reader checks what a file *declares* (sizes in a header, a frame count, a frame time, an image's
pixel count, a ``.npy`` shape) against one of the named limits below **before** it allocates or loops over
it, so a hostile or broken file costs at most about a second and a bounded amount of memory, and the user
gets a :class:`~unimotion.errors.LimitError` (or a subclass such as a ``BVHError``) naming the limit and how
to raise it.

The defaults are far above what real motion data needs (a 20-minute 120 fps BVH, a 1,000-joint rig, a
6-minute 64×64 clip, a 4096×4096 image) while keeping every reader under ~2 GB of memory. To raise one:

* for a process: the environment variable ``UNIMOTION_LIMIT_<NAME>`` (e.g.
  ``UNIMOTION_LIMIT_BVH_MAX_JOINTS=4096 unimotion caption big_rig.bvh``);
* in Python: ``with unimotion.limits.override(BVH_MAX_JOINTS=4096): ...`` (or :func:`set_limit`).

========================== ======================= ======================================================
name                       default                 what it bounds
========================== ======================= ======================================================
BVH_MAX_BYTES              256 MiB                 size of a BVH file
BVH_MAX_JOINTS             1,024                   joints (ROOT + JOINT blocks) of a BVH hierarchy
BVH_MAX_DEPTH              256                     nesting depth of the hierarchy
BVH_MAX_FRAMES             500,000                 ``Frames:`` of a BVH file
BVH_MAX_FRAME_JOINTS       4,000,000               frames × joints, in the file and after resampling
BVH_MIN_FRAME_TIME         1e-4 s                  ``Frame Time`` (at most 10,000 fps)
BVH_MAX_FRAME_TIME         10 s                    ``Frame Time`` (at least 0.1 fps)
BVH_MAX_SECONDS            7,200 s                 duration (frames × frame time; also after resampling)
BVH_MAX_COORDINATE         1e6 (file units)        \\|OFFSET\\|, \\|position channel\\| (1 km in millimetres)
BVH_MAX_ANGLE              1e6 degrees             \\|rotation channel\\|
MOTION_MAX_ABS             1,000 (metres)          \\|joint coordinate\\| / \\|feature\\| of motion arrays
IMAGE_MAX_PIXELS           16,777,216 (4096²)      width × height of one image or video frame
VIDEO_MAX_FRAMES           20,000                  frames of a video after GIF delays are expanded
VIDEO_MAX_PIXELS           32,000,000              frames × height × width of a decoded video
GIF_MAX_PIXELS             16,000,000              frames × canvas of a GIF as stored (bounds decoding time)
GIF_MAX_BYTES              16 MiB                  size of a GIF file
NPY_MAX_BYTES              512 MiB                 data of a ``.npy`` array or one ``.npz`` member
NPY_MAX_DIMS               8                       dimensions of a ``.npy`` array
PROMPT_MAX_CHARS           1,000                   characters of a text prompt
PROMPT_MAX_TOKENS          256                     tokens of a text prompt
CHECKPOINT_MAX_JSON_BYTES  4 MiB                   ``config.json``, ``pipeline.json``, ``backbone.json``
CHECKPOINT_MAX_CONFIG_INT  16,777,216 (2²⁴)        any integer in ``config.json`` / ``backbone.json`` (sizes)
CHECKPOINT_MAX_NOTICE_BYTES 1 MiB                  ``NOTICE``
CHECKPOINT_MAX_TOKENIZER_BYTES 64 MiB              each file of a tokenizer folder
SAFETENSORS_MAX_HEADER_BYTES 32 MiB                the JSON header of a ``.safetensors`` file
TEXT_MAX_BYTES             64 MiB                  JSON / text inputs (caption and edit lists, split files)
========================== ======================= ======================================================
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

from .errors import LimitError

__all__ = ["LIMITS", "Limit", "get", "check", "exceeded", "override", "set_limit", "env_name"]


@dataclass(frozen=True)
class Limit:
    name: str
    default: float
    unit: str
    what: str


_MiB = 1 << 20
LIMITS: dict[str, Limit] = {lim.name: lim for lim in (
    Limit("BVH_MAX_BYTES", 256 * _MiB, "bytes", "size of a BVH file"),
    Limit("BVH_MAX_JOINTS", 1024, "joints", "joints of a BVH hierarchy"),
    Limit("BVH_MAX_DEPTH", 256, "levels", "nesting depth of a BVH hierarchy"),
    Limit("BVH_MAX_FRAMES", 500_000, "frames", "frames of a BVH file"),
    Limit("BVH_MAX_FRAME_JOINTS", 4_000_000, "frame-joints", "frames × joints of a motion"),
    Limit("BVH_MIN_FRAME_TIME", 1e-4, "s", "shortest BVH frame time"),
    Limit("BVH_MAX_FRAME_TIME", 10.0, "s", "longest BVH frame time"),
    Limit("BVH_MAX_SECONDS", 7200.0, "s", "duration of a motion"),
    Limit("BVH_MAX_COORDINATE", 1e6, "file units", "magnitude of a BVH offset or position"),
    Limit("BVH_MAX_ANGLE", 1e6, "degrees", "magnitude of a BVH rotation channel"),
    Limit("MOTION_MAX_ABS", 1000.0, "m", "magnitude of a joint coordinate or motion feature"),
    Limit("IMAGE_MAX_PIXELS", 16_777_216, "pixels", "pixels of one image"),
    Limit("VIDEO_MAX_FRAMES", 20_000, "frames", "frames of a video"),
    Limit("VIDEO_MAX_PIXELS", 32_000_000, "pixels", "frames × height × width of a video"),
    Limit("GIF_MAX_PIXELS", 16_000_000, "pixels", "frames × canvas pixels of a GIF (its decoding time)"),
    Limit("GIF_MAX_BYTES", 16 * _MiB, "bytes", "size of a GIF file"),
    Limit("NPY_MAX_BYTES", 512 * _MiB, "bytes", "data of a .npy array"),
    Limit("NPY_MAX_DIMS", 8, "dimensions", "dimensions of a .npy array"),
    Limit("PROMPT_MAX_CHARS", 1000, "characters", "length of a text prompt"),
    Limit("PROMPT_MAX_TOKENS", 256, "tokens", "length of a text prompt"),
    Limit("CHECKPOINT_MAX_JSON_BYTES", 4 * _MiB, "bytes", "size of a checkpoint's JSON file"),
    Limit("CHECKPOINT_MAX_CONFIG_INT", 2**24, "", "magnitude of an integer in a checkpoint's config"),
    Limit("CHECKPOINT_MAX_NOTICE_BYTES", 1 * _MiB, "bytes", "size of a checkpoint's NOTICE"),
    Limit("CHECKPOINT_MAX_TOKENIZER_BYTES", 64 * _MiB, "bytes", "size of a tokenizer file"),
    Limit("SAFETENSORS_MAX_HEADER_BYTES", 32 * _MiB, "bytes", "header of a .safetensors file"),
    Limit("TEXT_MAX_BYTES", 64 * _MiB, "bytes", "size of a JSON or text input file"),
)}

_OVERRIDES: dict[str, float] = {}


def env_name(name: str) -> str:
    """The environment variable that overrides limit ``name``."""
    return f"UNIMOTION_LIMIT_{name}"


def _known(name: str) -> Limit:
    try:
        return LIMITS[name]
    except KeyError:
        raise LimitError(f"unknown limit {name!r}; known: {', '.join(LIMITS)}") from None


def get(name: str) -> float:
    """The limit in force: :func:`override` / :func:`set_limit`, else ``UNIMOTION_LIMIT_<NAME>``, else the default."""
    lim = _known(name)
    if name in _OVERRIDES:
        return _OVERRIDES[name]
    raw = os.environ.get(env_name(name))
    if raw is None or not raw.strip():
        return lim.default
    try:
        value = float(raw)
    except ValueError:
        raise LimitError(f"{env_name(name)}={raw!r} is not a number") from None
    if not value > 0 or value != value:
        raise LimitError(f"{env_name(name)}={raw!r} must be a positive number")
    return value


def set_limit(name: str, value: float | None) -> None:
    """Set limit ``name`` for this process (``None``: back to the environment / default)."""
    _known(name)
    if value is None:
        _OVERRIDES.pop(name, None)
        return
    value = float(value)
    if not value > 0:
        raise LimitError(f"limit {name} must be a positive number, got {value}")
    _OVERRIDES[name] = value


@contextlib.contextmanager
def override(**limits: float) -> Iterator[None]:
    """``with override(BVH_MAX_JOINTS=4096): ...`` — raise (or lower) limits inside the block."""
    saved = {name: _OVERRIDES.get(name) for name in limits}
    try:
        for name, value in limits.items():
            set_limit(name, value)
        yield
    finally:
        for name, value in saved.items():
            set_limit(name, value)


def _fmt(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def exceeded(name: str, what: str, value: float | None = None, error: type[Exception] = LimitError,
             below: bool = False, **error_kwargs) -> Exception:
    """The error for ``what`` (e.g. "x.bvh declares 5,000,000 frames") breaking limit ``name``."""
    lim = _known(name)
    bound = get(name)
    relation = "below the minimum" if below else "above the limit"
    unit = f" {lim.unit}" if lim.unit else ""
    shown = f" ({_fmt(value)}{unit})" if value is not None else ""
    message = (f"{what}{shown}: {relation} {name} = {_fmt(bound)}{unit}; raise it with the environment "
               f"variable {env_name(name)} or unimotion.limits.override({name}=...)")
    exc = error(message, **error_kwargs)
    try:
        exc.limit = name  # type: ignore[attr-defined]
    except AttributeError:
        pass
    return exc


def check(name: str, value: float, what: str, error: type[Exception] = LimitError, **error_kwargs) -> None:
    """Raise :func:`exceeded` when ``value`` is above limit ``name`` (or below it, for a ``*_MIN_*`` limit)."""
    below = "_MIN_" in name
    bound = get(name)
    if (value < bound) if below else (value > bound):
        raise exceeded(name, what, value, error=error, below=below, **error_kwargs)


def check_motion_values(array, what: str = "motion", limit: str = "MOTION_MAX_ABS") -> None:
    """Reject a numeric motion array (joints in metres, features) holding NaN/Inf or values beyond ``limit``.

    Raises :class:`~unimotion.errors.MotionError` (NaN/Inf) or :class:`~unimotion.errors.MotionLimitError`.
    """
    import numpy as np

    from .errors import MotionError, MotionLimitError

    arr = np.asarray(array)
    if arr.dtype.kind not in "biuf":
        raise MotionError(f"{what} must be numeric, got dtype {arr.dtype}")
    if arr.size == 0:
        return
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        if not finite.all():
            first = np.argwhere(~finite)[0].tolist()
            raise MotionError(f"{what} contains NaN or Inf (first at index {tuple(first)})")
    peak = float(np.abs(arr).max())
    if peak > get(limit):
        first = np.argwhere(np.abs(arr) > get(limit))[0].tolist()
        raise exceeded(limit, f"{what} holds the value {peak:g} (first beyond the limit at index {tuple(first)}); no body "
                       "is that large", error=MotionLimitError)
