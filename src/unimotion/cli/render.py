"""``unimotion render INPUT -o out.gif``: draw a motion file as a stick figure (GIF, PNG strip, MP4, 3D plot).

Inputs (:func:`load_motion`):

* ``.npy`` / ``.npz`` holding joint positions (T, 22, 3) or (T, 66) — or KIT's (T, 21, 3) — in metres, Y up;
* or HumanML3D features (T, 263), UniMotion's (T, 269), KIT's (T, 251/257): decoded with
  :func:`unimotion.motion.hml3d.features_to_joints`; normalised features need ``--stats DIR`` (the folder
  with ``Mean.npy``/``Std.npy``) to be de-normalised first;
* ``.bvh`` through :mod:`unimotion.io.bvh` + :mod:`unimotion.io.retarget` when those modules are present.

Other formats plug in by adding a reader to :data:`LOADERS` (suffix → function(path, args) → array).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError, MotionError
from ..utils.logging import get_logger

log = get_logger(__name__)

JOINT_COUNTS = (22, 21)  # T2M22, KIT21
FEATURE_DIMS = {263: 22, 269: 22, 251: 21, 257: 21}
NPZ_KEYS = ("joints", "positions", "features", "motion", "feats")  # tried in this order


@dataclass
class LoadedMotion:
    """What :func:`load_motion` read: joints (T, J, 3) in metres and how they were obtained."""

    joints: np.ndarray
    source: str  # "joints", "features", "normalised features", "bvh"
    fps: float | None = None  # stored in the file, if any
    captions: list[str] = field(default_factory=list)


def _load_npy(path: Path, key: str | None) -> tuple[np.ndarray, dict]:
    from ..utils.io import load_npy

    if key is not None:
        raise InputError(f"--key only applies to .npz files, not {path.name}")
    return load_npy(path, what="motion file"), {}  # header checked against unimotion.limits, never unpickled


def _load_npz(path: Path, key: str | None) -> tuple[np.ndarray, dict]:
    from ..utils.io import load_npz_arrays

    data = load_npz_arrays(path, what="motion file")  # every member's header checked before it is read
    names = list(data)
    if key is None:
        key = next((k for k in NPZ_KEYS if k in names), None)
        if key is None and len(names) == 1:
            key = names[0]
    if key is None or key not in names:
        raise InputError(f"{path.name} holds arrays {names}; choose one with --key")
    extra: dict = {}
    if "fps" in names and data["fps"].size == 1 and data["fps"].dtype.kind in "iuf":
        fps = float(data["fps"].reshape(()))
        if np.isfinite(fps) and fps > 0:
            extra["fps"] = fps
    for cap_key in ("captions", "caption", "text"):
        if cap_key in names and data[cap_key].dtype.kind == "U":
            extra["captions"] = [str(c)[:200] for c in data[cap_key].reshape(-1)[:1000]]
            break
    return data[key], extra


def _load_bvh(path: Path, key: str | None) -> tuple[np.ndarray, dict]:
    try:
        from ..io.bvh import read_bvh
        from ..io.retarget import retarget_to_t2m
    except ImportError as exc:  # the BVH reader/retargeter are separate modules
        raise InputError(f"reading BVH needs unimotion.io.bvh and unimotion.io.retarget ({exc})") from exc
    joints = retarget_to_t2m(read_bvh(path), target_fps=20.0)
    return np.asarray(joints), {"fps": 20.0, "source": "bvh"}


#: Readers by file suffix: ``(path, npz_key) -> (array, extra)``. Add formats here.
LOADERS: dict[str, Callable[[Path, str | None], tuple[np.ndarray, dict]]] = {
    ".npy": _load_npy, ".npz": _load_npz, ".bvh": _load_bvh,
}


def load_motion(path: str | os.PathLike, stats_dir: str | os.PathLike | None = None, key: str | None = None,
                index: int | None = None) -> LoadedMotion:
    """Read joints (T, J, 3) from a motion file (see :func:`_load_motion`); the joints must be finite and
    within ``MOTION_MAX_ABS`` metres of the origin (:mod:`unimotion.limits`)."""
    from .. import limits

    loaded = _load_motion(path, stats_dir, key, index)
    limits.check_motion_values(loaded.joints, f"{Path(path).name}: the joints")
    return loaded


def _load_motion(path: str | os.PathLike, stats_dir: str | os.PathLike | None = None, key: str | None = None,
                 index: int | None = None) -> LoadedMotion:
    """Read joints (T, J, 3) from a motion file (see the module docstring).

    Args:
        path: ``.npy``, ``.npz`` or ``.bvh``.
        stats_dir: folder with ``Mean.npy``/``Std.npy``: the features are normalised; de-normalise them.
        key: the array to use inside an ``.npz`` (default: the first of :data:`NPZ_KEYS`, or the only one).
        index: pick one motion from a batch (B, T, ...); a leading batch of 1 is dropped automatically.
    """
    from ..errors import MissingFileError
    from ..io.render import check_joints

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"input not found: {path}")
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise InputError(f"unsupported input {path.name!r}: expected one of {', '.join(sorted(LOADERS))}")
    array, extra = loader(path, key)
    if extra.get("source") == "bvh":
        return LoadedMotion(check_joints(array, 22), "bvh", extra.get("fps"))
    if array.dtype.kind not in "fiu":
        raise MotionError(f"{path.name}: expected a numeric array, got dtype {array.dtype}")
    array = np.asarray(array, dtype=np.float64)
    is_batched = (array.ndim == 4 and array.shape[-1] == 3) or (
        array.ndim == 3 and (array.shape[-1] in FEATURE_DIMS or array.shape[-1] == 66))
    if is_batched:
        if index is None and array.shape[0] != 1:
            raise MotionError(f"{path.name} holds a batch of {array.shape[0]} motions {array.shape}; pick one with --index")
        i = 0 if index is None else index
        if not -array.shape[0] <= i < array.shape[0]:
            raise InputError(f"--index {i} is out of range for a batch of {array.shape[0]}")
        array = array[i]
    elif index not in (None, 0):
        raise InputError(f"--index {index} given but {path.name} holds a single motion {array.shape}")

    fps, captions = extra.get("fps"), extra.get("captions", [])
    if array.ndim == 3 and array.shape[1:] in ((22, 3), (21, 3)):
        if stats_dir is not None:
            raise InputError("--stats applies to features, but the input holds joint positions")
        return LoadedMotion(check_joints(array), "joints", fps, captions)
    if array.ndim == 2 and array.shape[1] == 66:
        if stats_dir is not None:
            raise InputError("--stats applies to features, but the input holds joint positions (T, 66)")
        return LoadedMotion(check_joints(array.reshape(-1, 22, 3)), "joints", fps, captions)
    if array.ndim == 2 and array.shape[1] in FEATURE_DIMS:
        return LoadedMotion(_decode_features(array, stats_dir, path.name), "features" if stats_dir is None
                            else "normalised features", fps, captions)
    raise MotionError(
        f"{path.name}: cannot interpret an array of shape {array.shape}; expected joints (T, 22, 3), (T, 66) or "
        f"(T, 21, 3), or features (T, D) with D in {sorted(FEATURE_DIMS)}"
    )


def _decode_features(features: np.ndarray, stats_dir, name: str) -> np.ndarray:
    from ..motion import hml3d
    from ..motion.stats import NormStats

    if features.shape[0] < 1:
        raise MotionError(f"{name} has no frames")
    if not np.isfinite(features).all():
        raise MotionError(f"{name} contains NaN or Inf")
    if stats_dir is not None:
        stats = NormStats.load(stats_dir)
        if stats.dim != features.shape[1]:
            raise MotionError(f"--stats {stats_dir} has {stats.dim} channels but {name} has {features.shape[1]}")
        features = stats.denormalize(features)
    elif abs(float(features[:, 3].mean())) < 0.3:
        # Channel 3 is the root height (~0.9 m when standing); normalised data has mean ~0 there.
        log.warning("%s: root height channel averages %.2f — the features look normalised; pass --stats DIR",
                    name, float(features[:, 3].mean()))
    return np.asarray(hml3d.features_to_joints(features), dtype=np.float64)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "render",
        help="render a motion file (joints or 263/269 features) as a stick-figure GIF / PNG strip / MP4",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", help="motion file: .npy/.npz (joints or features) or .bvh")
    p.add_argument("-o", "--output", help="animation to write: .gif, .mp4, or .png (a strip)")
    p.add_argument("--strip", metavar="PNG", help="also write a strip of evenly spaced frames")
    p.add_argument("--strip-frames", type=int, default=8, help="frames in the strip (default 8)")
    p.add_argument("--mp4", metavar="MP4", help="also write an MP4 (needs imageio-ffmpeg, PyAV or ffmpeg)")
    p.add_argument("--plot3d", metavar="PATH", help="also write a matplotlib 3D view (.png of a few poses, or .gif)")
    p.add_argument("--fps", type=float, default=None, help="frame rate (default: stored in the file, else 20)")
    p.add_argument("--size", type=int, default=256, help="image width and height in pixels (default 256)")
    p.add_argument("--stats", metavar="DIR", help="folder with Mean.npy/Std.npy: de-normalise the features first")
    p.add_argument("--key", help="array name inside an .npz (default: joints/features/... or the only array)")
    p.add_argument("--index", type=int, default=None, help="motion to take from a batch (B, T, ...)")
    p.add_argument("--azimuth", type=float, default=35.0, help="camera azimuth in degrees (0 = in front)")
    p.add_argument("--elevation", type=float, default=15.0, help="camera elevation in degrees")
    p.add_argument("--follow", action="store_true", help="move the camera with the root (long walks)")
    p.add_argument("--no-floor", action="store_true", help="do not draw the floor grid")
    p.add_argument("--title", help="text drawn on every frame (default: the file's first caption, if any)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.set_defaults(func=run)


def _check_outputs(paths: list[str | None], overwrite: bool) -> list[Path]:
    outs = [Path(p) for p in paths if p]
    if not outs:
        raise InputError("nothing to write: give -o OUT.gif (or --strip, --mp4, --plot3d)")
    for out in outs:
        if out.exists() and not overwrite:
            raise InputError(f"{out} exists; pass --overwrite to replace it")
        if out.is_dir():
            raise InputError(f"{out} is a directory")
    if len(set(outs)) != len(outs):
        raise InputError("the same output path is given twice")
    return outs


def run(args: argparse.Namespace) -> int:
    from ..io import render as R
    from ..io.video import mp4_backend
    from ..motion.skeletons import get_layout

    _check_outputs([args.output, args.strip, args.mp4, args.plot3d], args.overwrite)
    if args.output and Path(args.output).suffix.lower() not in (".gif", ".mp4", ".png"):
        raise InputError(f"-o {args.output}: use a .gif, .mp4 or .png file")
    if args.size < 8 or args.size > 4096:
        raise InputError(f"--size must be in [8, 4096], got {args.size}")
    wants_mp4 = bool(args.mp4) or (args.output and Path(args.output).suffix.lower() == ".mp4")
    if wants_mp4 and mp4_backend() is None:  # fail before the work, not after
        from ..io.video import MP4_INSTALL_HINT

        raise InputError(MP4_INSTALL_HINT)
    motion = load_motion(args.input, args.stats, args.key, args.index)
    fps = args.fps or motion.fps or 20.0
    if fps <= 0:
        raise InputError(f"--fps must be positive, got {fps}")
    layout = get_layout(motion.joints.shape[1])
    title = args.title if args.title is not None else (motion.captions[0] if motion.captions else None)
    style = R.RenderStyle(floor="none" if args.no_floor else "grid")
    frames = R.render_frames(motion.joints, layout, size=args.size, style=style, follow_root=args.follow,
                             azimuth=args.azimuth, elevation=args.elevation, titles=title)
    written = []
    if args.output:
        written.append(R.save_video(frames, args.output, fps))
    if args.strip:
        written.append(R.save_png_strip(frames, args.strip, num=args.strip_frames))
    if args.mp4:
        written.append(R.save_mp4(frames, args.mp4, fps))
    if args.plot3d:
        written.append(R.plot_3d(motion.joints, args.plot3d, layout=layout, azimuth=args.azimuth,
                                 elevation=args.elevation, fps=fps, title=title))
    log.info("rendered %d frames (%s, %d joints) at %.3g fps", len(frames), motion.source, layout.num_joints, fps)
    for path in written:
        print(path)
    return 0
