"""``unimotion demo -o OUT_DIR``: the quick-start job that needs no data, no checkpoint and no network.

It makes a procedural motion (:mod:`unimotion.data.synthetic`), encodes it to HumanML3D's 263-dim features
and decodes them back (:mod:`unimotion.motion.hml3d`), reports the round-trip error, and writes:

``OUT_DIR/motion.gif``      the input (left) and the decoded motion (right), same camera
``OUT_DIR/motion.png``      a strip of 8 evenly spaced frames of the same
``OUT_DIR/motion.npz``      joints (T, 22, 3), features (T-1, 263), decoded (T-1, 22, 3), captions, fps, kind
``OUT_DIR/motion.bvh``      the decoded motion as a BVH (SMPL-style hierarchy, centimetres, for Blender/Unity)
``OUT_DIR/demo.json``/``.md``  the round-trip errors (``{"meta", "rows"}``, the markdown rendered from them)
``OUT_DIR/motion.mp4``      with ``--mp4`` (needs an MP4 encoder)

Round-trip error. The encoder retargets the clip to HumanML3D's uniform skeleton (bone lengths of the
target skeleton) and puts it on the floor, at the origin, facing +Z ("canonical" joints); the decoder should
give those back, up to the small start heading HumanML3D's decoder drops (``start_yaw_deg``, see
:func:`round_trip`; the codec's default, data format v1: with ``first_root="identity"``, as in the
original HumanML3D code, that yaw is 0). ``codec_mpjpe_mm`` / ``codec_max_mm`` compare decoded joints with
the canonical ones after undoing that yaw (the codec's own error, float32 features); ``codec_raw_mpjpe_mm``
without undoing it;
``input_mpjpe_mm`` compares them with the input (adds the retargeting to other bone lengths, so it is
expected to be much larger).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..utils.logging import get_logger

log = get_logger(__name__)

OUTPUT_NAMES = ("motion.gif", "motion.png", "motion.npz", "motion.bvh", "demo.json", "demo.md")


def register(subparsers) -> None:
    from . import requested

    p = subparsers.add_parser(
        "demo",
        help="quick start: procedural motion → 263 features → joints, round-trip error, GIF + PNG + NPZ",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if not requested("demo"):  # the motion kinds come from a NumPy module: only for `unimotion demo ...`
        return
    from ..data.synthetic import KINDS

    p.add_argument("-o", "--output", default="out/demo", help="output folder (default out/demo)")
    p.add_argument("--kind", default="walk", choices=KINDS, help="procedural motion kind (default walk)")
    p.add_argument("--frames", type=int, default=120, help="length in frames at 20 fps (default 120)")
    p.add_argument("--seed", type=int, default=0, help="seed of the procedural motion (default 0)")
    p.add_argument("--size", type=int, default=256, help="height of each rendered view in pixels (default 256)")
    p.add_argument("--mp4", action="store_true", help="also write motion.mp4 (needs an MP4 encoder)")
    p.add_argument("--overwrite", action="store_true", help="replace the files of an earlier demo in OUT_DIR")
    p.set_defaults(func=run)


def align_yaw(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, float]:
    """Rotate ``source`` (..., 3) about the vertical axis through the origin to best match ``target``
    (least squares, closed form). Returns the rotated points and the angle in degrees."""
    a, b = source[..., [0, 2]].reshape(-1, 2), target[..., [0, 2]].reshape(-1, 2)
    theta = float(np.arctan2((a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]).sum(), (a * b).sum()))
    c, s = np.cos(theta), np.sin(theta)
    out = source.copy()
    out[..., 0] = source[..., 0] * c - source[..., 2] * s
    out[..., 2] = source[..., 0] * s + source[..., 2] * c
    return out, float(np.degrees(theta))


def round_trip(joints: np.ndarray) -> dict:
    """Encode joints (T, 22, 3) to 263 features and decode them; errors in millimetres.

    HumanML3D's decoder starts from heading 0 where the encoder measured a (Gaussian-smoothed) heading
    ``r_rot[0]`` that is slightly off +Z whenever the first second sways, so the decoded clip is the
    canonical one turned by that small yaw; ``codec_*`` errors are measured after undoing it (its size is
    reported as ``start_yaw_deg``), ``codec_raw_mpjpe_mm`` without.
    """
    from ..motion import hml3d

    features = np.asarray(hml3d.joints_to_features(joints), dtype=np.float32)  # (T-1, 263)
    decoded = np.asarray(hml3d.features_to_joints(features), dtype=np.float64)  # (T-1, 22, 3)
    canonical = hml3d.canonical_joints(joints)[: decoded.shape[0]]  # (T-1, 22, 3)
    aligned, yaw = align_yaw(decoded, canonical)
    codec_err = np.linalg.norm(aligned - canonical, axis=-1) * 1000.0
    raw_err = np.linalg.norm(decoded - canonical, axis=-1) * 1000.0
    input_err = np.linalg.norm(decoded - joints[: decoded.shape[0]], axis=-1) * 1000.0
    return {
        "features": features,
        "decoded": decoded.astype(np.float32),
        "metrics": {
            "codec_mpjpe_mm": float(codec_err.mean()),
            "codec_max_mm": float(codec_err.max()),
            "start_yaw_deg": yaw,
            "codec_raw_mpjpe_mm": float(raw_err.mean()),
            "input_mpjpe_mm": float(input_err.mean()),
        },
    }


def run(args: argparse.Namespace) -> int:
    from ..data.synthetic import FPS, make_motion
    from ..evaluation.reports import results_meta, write_results
    from ..io import render as R
    from ..io.video import MP4_INSTALL_HINT, mp4_backend
    from ..utils.io import save_npz

    out = Path(args.output)
    names = list(OUTPUT_NAMES) + (["motion.mp4"] if args.mp4 else [])
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder")
    existing = [n for n in names if (out / n).exists()]
    if existing and not args.overwrite:
        raise InputError(f"{out} already holds {', '.join(existing)}; pass --overwrite to replace them")
    if args.mp4 and mp4_backend() is None:
        raise InputError(MP4_INSTALL_HINT)
    if not 8 <= args.size <= 2048:
        raise InputError(f"--size must be in [8, 2048], got {args.size}")

    motion = make_motion(args.kind, args.frames, seed=args.seed)
    log.info("procedural %s, %d frames: %s", motion.kind, motion.num_frames, motion.captions[0])
    rt = round_trip(motion.joints)
    metrics = rt["metrics"]

    # Input and decoded motion side by side, through one camera that frames both and follows the root
    # (both clips start at the origin, so the same camera offsets apply to both).
    joints_in = motion.joints[: rt["decoded"].shape[0]].astype(np.float64)
    both = np.concatenate([joints_in, rt["decoded"].astype(np.float64)], axis=1)  # (T-1, 44, 3)
    rel = both.copy()
    rel[..., [0, 2]] -= joints_in[:, :1, [0, 2]] - joints_in[:1, :1, [0, 2]]
    camera = R.fit_camera(rel, args.size, args.size)
    left = R.render_frames(joints_in, camera=camera, follow_root=True, titles="input")
    right = R.render_frames(rt["decoded"], camera=camera, follow_root=True, titles="decoded from 263 features")
    gap = np.full((left.shape[0], left.shape[1], 4, 3), 255, dtype=np.uint8)
    frames = np.concatenate([left, gap, right], axis=2)  # (T-1, H, 2W+4, 3)

    out.mkdir(parents=True, exist_ok=True)
    written = [R.save_gif(frames, out / "motion.gif", fps=FPS), R.save_png_strip(frames, out / "motion.png", num=8, columns=4)]
    if args.mp4:
        written.append(R.save_mp4(frames, out / "motion.mp4", fps=FPS))
    save_npz(out / "motion.npz", joints=motion.joints, features=rt["features"], decoded=rt["decoded"],
             captions=np.asarray(motion.captions), fps=np.float32(FPS), kind=np.asarray(motion.kind))
    written.append(out / "motion.npz")
    from ..io.bvh_export import save_bvh

    bvh_error = save_bvh(out / "motion.bvh", rt["decoded"], fps=FPS)
    metrics["bvh_max_mm"] = float(bvh_error.max * 1000.0)
    written.append(out / "motion.bvh")
    row = {"kind": motion.kind, "frames": motion.num_frames, "seed": args.seed, **metrics}
    meta = results_meta(command=f"unimotion demo -o {args.output} --kind {args.kind} --frames {args.frames} --seed {args.seed}",
                        captions=motion.captions, params=motion.params)
    written.extend(write_results(out / "demo", [row], meta, title="unimotion demo: 263-feature round trip",
                                 notes=__doc__.split("Round-trip error.")[1].strip()))

    print(f"motion   : {motion.kind}, {motion.num_frames} frames at {FPS:g} fps — \"{motion.captions[0]}\"")
    print(f"features : {rt['features'].shape[0]} × {rt['features'].shape[1]}")
    print(f"round trip (decoded vs canonical joints): mean {metrics['codec_mpjpe_mm']:.4f} mm, "
          f"max {metrics['codec_max_mm']:.4f} mm after undoing the decoder's start yaw of "
          f"{metrics['start_yaw_deg']:.3f}° (mean {metrics['codec_raw_mpjpe_mm']:.2f} mm before)")
    print(f"decoded vs input joints (includes retargeting to the uniform skeleton): "
          f"mean {metrics['input_mpjpe_mm']:.1f} mm")
    for path in written:
        print(f"wrote    : {path}")
    return 0
