"""Export of our joint motions ((T, 22, 3) joints or 263/269 features) to BVH.

The exported file has a proper hierarchy (the layout's joint names and parents, an ``End Site`` on every
leaf), a rest pose and per-joint rotation channels, with position channels on the root only; any BVH
importer that does forward kinematics (Blender, three.js ``BVHLoader``, :func:`unimotion.io.bvh.read_bvh`)
reproduces the input joint positions.

Rest pose (``rest_pose``)
-------------------------
Joints store only positions, so the rest pose (the OFFSETs) is ours to choose. The one constraint: a
joint with several children — the pelvis (hips + spine1) and spine3 (neck + both collars) in the
22-joint layout — moves all its child bones with **one** rotation, so the OFFSETs of those children must
have the geometry the motion has (lengths and mutual angles), or no rotation places all of them. We
therefore build the rest pose per joint:

* the child bones of a multi-child joint: their rigid mean shape over the clip (Procrustes: align every
  frame's child-bone set to the current mean by Kabsch, average, repeat), turned as a whole by the
  rotation that best aligns it to the rest directions below;
* every other bone: its median length over the clip along its rest direction.

Rest directions: ``"tpose"`` (default, for 22-joint SMPL layouts) — legs and spine along ±Y, feet
forward (+Z), collars, arms and hands along ±X, head up: a T-pose facing +Z; ``"raw"`` — the layout's
HumanML3D ``raw_offsets`` (arms down, head forward; HumanML3D's IK reference); ``"reference"`` — the
pose of frame ``reference_frame`` itself (so that frame has identity rotations).

Rotations
---------
Per frame, each joint's world rotation is fitted to its child bones: Kabsch/Wahba (SVD) over all
children for multi-child joints, the shortest arc in the parent's frame for single-child joints (no
twist: twist is not observable from positions, so it is kept at zero relative to the parent), the
parent's rotation for leaves. For rigid input (constant bone lengths, rigid child sets — true of
HumanML3D-processed data and of forward kinematics of any skeleton) this is exact; otherwise it is the
least-squares fit and :func:`reproduction_error` says how far off it is. ``positions="all"`` adds
position channels to every joint and is exact for any input (bone lengths may vary per frame).

Rigid and non-rigid input
-------------------------
A rotation-only BVH (``positions="root"``) can reproduce exactly only the motion of one rigid skeleton:
every bone keeps its length and the child bones of a multi-child joint keep their mutual angles. Real
motion capture retargeted to the layout (and HumanML3D-processed data) is rigid and comes back within
micrometres. Other input — generated motion, noisy keypoints — is fitted in the least-squares sense:
:func:`save_bvh` then measures the error, and when it exceeds ``warn_above`` (1 mm for metres) logs a
warning naming the cause (:func:`rigidity_report`: which bones change length, which joints' child bones
change their angles) and pointing to the exact ``positions="all"`` export; the returned
:class:`ReproductionError` carries the same text in ``warning``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import InputError, MotionError
from ..motion.rigid import children as _children
from ..motion.rigid import fit_world_rotations as _fit_global_rotations
from ..motion.rigid import kabsch as _kabsch
from ..motion.rotations import quat_apply, quat_conjugate, quat_multiply
from ..motion.skeletons import T2M22, SkeletonLayout
from ..utils.logging import get_logger
from .bvh import BVHMotion, read_bvh, write_bvh

__all__ = [
    "BVHExportConfig",
    "ReproductionError",
    "RigidityReport",
    "rigidity_report",
    "TPOSE_DIRECTIONS_22",
    "joints_to_bvh",
    "features_to_bvh",
    "save_bvh",
    "save_features_bvh",
    "reproduction_error",
    "rest_offsets_from_joints",
]

log = get_logger(__name__)

#: Unit rest directions of every bone (child joint row, parent → child) of a T-pose facing +Z, Y up, the
#: body's left = +X, for the 22-joint SMPL/HumanML3D layout (T2M22 joint order).
TPOSE_DIRECTIONS_22 = np.array(
    [
        [0, 0, 0],  # pelvis
        [1, 0, 0], [-1, 0, 0], [0, 1, 0],  # left_hip, right_hip, spine1 (pelvis: rigid-set fit)
        [0, -1, 0], [0, -1, 0], [0, 1, 0],  # left_knee, right_knee, spine2
        [0, -1, 0], [0, -1, 0], [0, 1, 0],  # left_ankle, right_ankle, spine3
        [0, 0, 1], [0, 0, 1], [0, 1, 0],  # left_foot, right_foot, neck
        [1, 0, 0], [-1, 0, 0], [0, 1, 0],  # left_collar, right_collar, head
        [1, 0, 0], [-1, 0, 0], [1, 0, 0], [-1, 0, 0],  # shoulders, elbows
        [1, 0, 0], [-1, 0, 0],  # wrists
    ],
    dtype=np.float64,
)


@dataclass
class BVHExportConfig:
    """Every choice of the export (defaults in brackets).

    Attributes:
        fps: frame rate of the joints [20, HumanML3D].
        scale: factor from input units to file units [100: metres → centimetres].
        rotation_order: Euler order of every joint's rotation channels ["ZXY"; any permutation of XYZ].
        positions: "root" (position channels on the root only: portable) or "all" (on every joint: exact
            for any input, incl. varying bone lengths) ["root"].
        all_positions_offsets: with ``positions="all"``, the OFFSET written for joints: "rest" (a drawable
            rest skeleton; Blender and ours *replace* the OFFSET by the position channels, but three.js
            *adds* them and then draws every bone twice as long) or "zero" (every importer agrees, but
            the rest skeleton is 22 joints stacked at the origin) ["rest"].
        rest_pose: "tpose", "raw" or "reference" (see the module docs) ["tpose"].
        reference_frame: the frame used by ``rest_pose="reference"`` and to seed the rigid-mean fit [0].
        template_frames: at most this many evenly spaced frames estimate rest lengths and rigid child
            sets (all frames when fewer) [512].
        end_site_scale: each leaf's End Site continues its bone by this fraction of the bone's length
            (cosmetic: where importers draw the last bone's tip) [0.5].
        unwrap: remove 360° jumps between frames in each Euler channel [True].
        joint_names: joint names in the file; None = the layout's names (e.g. "pelvis", "left_hip").
        warn_above: :func:`save_bvh` warns when the written file reproduces the joints only within more
            than this (input units) [1e-3: 1 mm for metres].
    """

    fps: float = 20.0
    scale: float = 100.0
    rotation_order: str = "ZXY"
    positions: Literal["root", "all"] = "root"
    all_positions_offsets: Literal["zero", "rest"] = "rest"
    rest_pose: Literal["tpose", "raw", "reference"] = "tpose"
    reference_frame: int = 0
    template_frames: int = 512
    end_site_scale: float = 0.5
    unwrap: bool = True
    joint_names: tuple[str, ...] | None = None
    warn_above: float = 1e-3

    def __post_init__(self) -> None:
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise InputError(f"fps must be a positive number, got {self.fps}")
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise InputError(f"scale must be a positive number, got {self.scale}")
        order = str(self.rotation_order).upper()
        if len(order) != 3 or set(order) != {"X", "Y", "Z"}:
            raise InputError(f"rotation_order must be a permutation of 'XYZ', got {self.rotation_order!r}")
        self.rotation_order = order
        if self.positions not in ("root", "all"):
            raise InputError(f"positions must be 'root' or 'all', got {self.positions!r}")
        if self.all_positions_offsets not in ("zero", "rest"):
            raise InputError(f"all_positions_offsets must be 'zero' or 'rest', got {self.all_positions_offsets!r}")
        if self.rest_pose not in ("tpose", "raw", "reference"):
            raise InputError(f"rest_pose must be 'tpose', 'raw' or 'reference', got {self.rest_pose!r}")
        if self.template_frames < 1:
            raise InputError(f"template_frames must be at least 1, got {self.template_frames}")
        if not (np.isfinite(self.end_site_scale) and self.end_site_scale >= 0):
            raise InputError(f"end_site_scale must be >= 0, got {self.end_site_scale}")
        if self.joint_names is not None:
            self.joint_names = tuple(self.joint_names)
        if not (self.warn_above >= 0):
            raise InputError(f"warn_above must be >= 0, got {self.warn_above}")


@dataclass(frozen=True)
class ReproductionError:
    """How far forward kinematics of an exported BVH is from the input joints (input units)."""

    mean: float  # mean over frames and joints of |FK − joints|
    max: float  # worst joint in the worst frame
    per_joint_max: tuple[float, ...]  # (J,) worst frame per joint, in layout order
    warning: str | None = None  # set by save_bvh when ``max`` exceeds ``warn_above``: the measured cause


@dataclass(frozen=True)
class RigidityReport:
    """How far a joint motion is from the motion of one rigid skeleton (see :func:`rigidity_report`)."""

    #: per bone ("parent→child"): (shortest, longest) length over the frames, input units
    bone_lengths: dict[str, tuple[float, float]]
    #: per joint with several children: the largest change over the frames of the angle between two of
    #: its child bones, degrees
    child_angles_deg: dict[str, float]
    length_tolerance: float
    angle_tolerance_deg: float

    @property
    def varying_bones(self) -> list[str]:
        """Bones whose length changes by more than ``length_tolerance``, the most varying first."""
        spread = {k: hi - lo for k, (lo, hi) in self.bone_lengths.items()}
        return sorted((k for k, v in spread.items() if v > self.length_tolerance), key=lambda k: -spread[k])

    @property
    def varying_joints(self) -> list[str]:
        """Multi-child joints whose child bones change their mutual angles by more than the tolerance."""
        return sorted((k for k, v in self.child_angles_deg.items() if v > self.angle_tolerance_deg),
                      key=lambda k: -self.child_angles_deg[k])

    @property
    def rigid(self) -> bool:
        return not self.varying_bones and not self.varying_joints

    def describe(self, max_items: int = 4) -> str:
        """One sentence naming what is not rigid (empty when rigid)."""
        parts = []
        bones = self.varying_bones
        if bones:
            shown = ", ".join(f"{k} {self.bone_lengths[k][0]:.3f}–{self.bone_lengths[k][1]:.3f}" for k in bones[:max_items])
            more = f" and {len(bones) - max_items} more" if len(bones) > max_items else ""
            parts.append(f"{len(bones)} bone lengths vary ({shown}{more})")
        joints = self.varying_joints
        if joints:
            shown = ", ".join(f"{k} by {self.child_angles_deg[k]:.1f}°" for k in joints)
            parts.append(f"the angles between child bones change at {shown}")
        return "; ".join(parts)


# ============================================================================================ helpers
def _as_joints(joints, layout: SkeletonLayout) -> np.ndarray:
    if hasattr(joints, "detach"):  # torch
        joints = joints.detach().cpu().numpy()
    try:
        arr = np.asarray(joints, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MotionError(f"joints must be a numeric array of shape (T, {layout.num_joints}, 3): {exc}") from None
    if arr.ndim != 3 or arr.shape[1:] != (layout.num_joints, 3):
        raise MotionError(f"joints must have shape (T, {layout.num_joints}, 3) for layout {layout.name}, got {arr.shape}")
    if arr.shape[0] < 1:
        raise MotionError("joints has no frames")
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise MotionError(f"joints contain NaN/Inf (first at frame {bad[0]}, joint {bad[1]})")
    return arr


def _sample_frames(num_frames: int, count: int) -> np.ndarray:
    if num_frames <= count:
        return np.arange(num_frames)
    return np.unique(np.linspace(0, num_frames - 1, count).round().astype(np.int64))


def _rigid_mean(vectors: np.ndarray, seed: int, iterations: int = 3) -> np.ndarray:
    """Procrustes mean (K, 3) of per-frame vector sets ``vectors`` (T, K, 3), seeded with frame ``seed``."""
    template = vectors[seed]
    for _ in range(iterations):
        rot = _kabsch(vectors, np.broadcast_to(template, vectors.shape))  # (T, 3, 3): frame → template
        template = np.einsum("tij,tkj->ki", rot, vectors) / len(vectors)
    return template


def _rest_directions(layout: SkeletonLayout, rest_pose: str) -> np.ndarray:
    if rest_pose == "tpose":
        if layout.num_joints == 22:
            return TPOSE_DIRECTIONS_22
        log.info("no T-pose table for layout %s; using its raw_offsets as rest directions", layout.name)
    return np.asarray(layout.raw_offsets, dtype=np.float64)


def rigidity_report(
    joints,
    layout: SkeletonLayout = T2M22,
    length_tolerance: float = 1e-3,
    angle_tolerance_deg: float = 0.5,
) -> RigidityReport:
    """Measure whether ``joints`` (T, J, 3) move like one rigid skeleton (the condition for an exact
    rotation-only BVH): the length range of every bone and, at every joint with several children, the
    largest change of the angle between two child bones. Tolerances: input units and degrees.
    """
    joints = _as_joints(joints, layout)
    parents = layout.parents
    names = layout.joint_names
    bones = joints - joints[:, np.maximum(parents, 0)]  # (T, J, 3)
    lengths = np.linalg.norm(bones, axis=-1)
    bone_lengths = {f"{names[parents[j]]}→{names[j]}": (float(lengths[:, j].min()), float(lengths[:, j].max()))
                    for j in range(1, layout.num_joints)}
    child_angles = {}
    for j, ch in enumerate(_children(parents)):
        if len(ch) < 2:
            continue
        unit = bones[:, ch] / np.maximum(lengths[:, ch, None], 1e-12)  # (T, K, 3)
        worst = 0.0
        for a in range(len(ch)):
            for b in range(a + 1, len(ch)):
                cos = np.clip(np.sum(unit[:, a] * unit[:, b], axis=-1), -1.0, 1.0)
                angle = np.degrees(np.arccos(cos))
                worst = max(worst, float(angle.max() - angle.min()))
        child_angles[names[j]] = worst
    return RigidityReport(bone_lengths, child_angles, float(length_tolerance), float(angle_tolerance_deg))


def rest_offsets_from_joints(
    joints,
    layout: SkeletonLayout = T2M22,
    rest_pose: Literal["tpose", "raw", "reference"] = "tpose",
    reference_frame: int = 0,
    template_frames: int = 512,
) -> np.ndarray:
    """(J, 3) rest OFFSETs for ``joints`` (T, J, 3) as described in the module docs (input units)."""
    joints = _as_joints(joints, layout)
    num_frames = joints.shape[0]
    if not -num_frames <= reference_frame < num_frames:
        raise InputError(f"reference_frame {reference_frame} is outside the clip's {num_frames} frames")
    ref = reference_frame % num_frames
    parents = layout.parents
    kids = _children(parents)
    bones = joints - joints[:, np.maximum(parents, 0)]  # (T, J, 3); row 0 is zero
    if rest_pose == "reference":
        offsets = bones[ref].copy()
        offsets[0] = 0.0
        return offsets
    frames = _sample_frames(num_frames, template_frames)
    if ref not in frames:
        frames = np.sort(np.append(frames, ref))
    seed = int(np.searchsorted(frames, ref))
    sample = bones[frames]
    dirs = _rest_directions(layout, rest_pose)
    lengths = np.median(np.linalg.norm(sample, axis=-1), axis=0)  # (J,)
    offsets = dirs * lengths[:, None]
    for ch in kids:
        if len(ch) < 2:
            continue
        template = _rigid_mean(sample[:, ch], seed)  # (K, 3) child bones in the seed frame's orientation
        rot = _kabsch(template, dirs[ch] * np.linalg.norm(template, axis=-1, keepdims=True))
        offsets[ch] = template @ rot.T
    offsets[0] = 0.0
    return offsets


# ============================================================================================ export
def _config(config: BVHExportConfig | None, overrides: dict, fps: float | None = None,
            scale: float | None = None) -> BVHExportConfig:
    config = config or BVHExportConfig()
    if fps is not None:
        overrides = {**overrides, "fps": fps}
    if scale is not None:
        overrides = {**overrides, "scale": scale}
    if overrides:
        valid = {f.name for f in fields(BVHExportConfig)}
        unknown = sorted(set(overrides) - valid)
        if unknown:
            raise InputError(f"unknown export option(s) {unknown}; valid options are {sorted(valid)}")
        config = replace(config, **overrides)
    return config


def joints_to_bvh(
    joints,
    fps: float | None = None,
    layout: SkeletonLayout = T2M22,
    scale: float | None = None,
    *,
    config: BVHExportConfig | None = None,
    rest_offsets: np.ndarray | None = None,
    **overrides,
) -> BVHMotion:
    """A BVH motion whose forward kinematics reproduces ``joints``.

    Args:
        joints: (T, J, 3) joint positions (metres, Y up by convention), J = ``layout.num_joints``;
            NumPy or torch.
        fps: frame rate [config: 20].
        layout: the skeleton (joint names, parents, rest directions) [T2M22].
        scale: input units → file units [config: 100, metres → centimetres].
        config: :class:`BVHExportConfig`; ``fps``, ``scale`` and keyword ``overrides`` replace its
            fields, e.g. ``joints_to_bvh(j, 30, positions="all", rotation_order="ZYX")``.
        rest_offsets: (J, 3) OFFSETs to use instead of the computed rest pose (input units); the fit is
            then least-squares unless they match the motion's geometry.

    Returns:
        :class:`BVHMotion` in layout joint order (the writer emits it depth-first), file units
        (input × ``scale``), End Sites on the leaves.
    """
    cfg = _config(config, overrides, fps, scale)
    joints = _as_joints(joints, layout)
    parents = layout.parents
    names = tuple(cfg.joint_names or layout.joint_names)
    if len(names) != layout.num_joints:
        raise InputError(f"joint_names lists {len(names)} names for {layout.num_joints} joints")
    if rest_offsets is None:
        offsets = rest_offsets_from_joints(joints, layout, cfg.rest_pose, cfg.reference_frame, cfg.template_frames)
    else:
        offsets = np.asarray(rest_offsets, dtype=np.float64)
        if offsets.shape != (layout.num_joints, 3) or not np.all(np.isfinite(offsets)):
            raise InputError(f"rest_offsets must be a finite ({layout.num_joints}, 3) array, got {offsets.shape}")
    glob = _fit_global_rotations(joints, offsets, parents)
    parent_glob = np.concatenate([np.broadcast_to([1.0, 0.0, 0.0, 0.0], glob[:, :1].shape), glob[:, np.maximum(parents[1:], 0)]], axis=1)
    local = quat_multiply(quat_conjugate(parent_glob), glob)  # (T, J, 4)
    kids = _children(parents)
    end_sites = {}
    for j, ch in enumerate(kids):
        if not ch and j > 0:
            end_sites[j] = offsets[j] * cfg.end_site_scale * cfg.scale
    file_offsets = offsets * cfg.scale
    if cfg.positions == "all":
        bones = joints - joints[:, np.maximum(parents, 0)]
        translations = quat_apply(quat_conjugate(parent_glob), bones) * cfg.scale  # (T, J, 3) local
        translations[:, 0] = joints[:, 0] * cfg.scale
        if cfg.all_positions_offsets == "zero":
            file_offsets = np.zeros_like(file_offsets)
        position_joints: str = "all"
    else:
        translations = joints[:, 0] * cfg.scale  # (T, 3)
        position_joints = "root"
    file_offsets[0] = 0.0  # root OFFSET 0: "replace" and "add" readings of root positions agree
    motion = BVHMotion.from_local(
        names=names,
        parents=parents,
        offsets=file_offsets,
        rotations=local,
        translations=translations,
        frame_time=1.0 / cfg.fps,
        rotation_order=cfg.rotation_order,
        position_joints=position_joints,
        end_sites=end_sites,
        unwrap=cfg.unwrap,
    )
    err = reproduction_error(motion, joints, layout, cfg.scale, names)
    log.debug("BVH export: %d frames, reproduction error mean %.3g max %.3g (input units)", len(joints), err.mean, err.max)
    return motion


def reproduction_error(motion: BVHMotion, joints, layout: SkeletonLayout = T2M22, scale: float = 100.0,
                       joint_names: tuple[str, ...] | None = None) -> ReproductionError:
    """Distances between FK of ``motion`` (divided by ``scale``) and ``joints`` (T, J, 3), matched by name.

    ``joint_names``: the names used in the file when they are not the layout's.
    """
    joints = _as_joints(joints, layout)
    names = joint_names or layout.joint_names
    if motion.num_frames != joints.shape[0]:
        raise MotionError(f"the BVH has {motion.num_frames} frames, the joints {joints.shape[0]}")
    fk = motion.joint_positions(names) / scale
    dist = np.linalg.norm(fk - joints, axis=-1)  # (T, J)
    return ReproductionError(mean=float(dist.mean()), max=float(dist.max()),
                             per_joint_max=tuple(float(v) for v in dist.max(axis=0)))


def save_bvh(
    path: str | os.PathLike,
    joints,
    fps: float | None = None,
    layout: SkeletonLayout = T2M22,
    scale: float | None = None,
    *,
    config: BVHExportConfig | None = None,
    precision: int | None = None,
    rest_offsets: np.ndarray | None = None,
    **overrides,
) -> ReproductionError:
    """Export ``joints`` (T, J, 3) to a BVH file (atomic write) and return the reproduction error
    measured by reading the written file back (input units). Arguments as :func:`joints_to_bvh`;
    ``precision``: significant digits of the numbers in the file (None = lossless).
    """
    cfg = _config(config, overrides, fps, scale)
    motion = joints_to_bvh(joints, layout=layout, config=cfg, rest_offsets=rest_offsets)
    path = write_bvh(motion, Path(path), precision=precision)
    err = reproduction_error(read_bvh(path), joints, layout, cfg.scale, cfg.joint_names)
    if err.max > cfg.warn_above:
        err = replace(err, warning=_inexact_warning(path, err, joints, layout, cfg))
        log.warning("%s", err.warning)
    else:
        log.info("wrote %s (%d frames at %g fps); joints reproduced within %.3g (max), %.3g (mean)",
                 path, motion.num_frames, cfg.fps, err.max, err.mean)
    return err


def _inexact_warning(path: Path, err: ReproductionError, joints, layout: SkeletonLayout,
                     cfg: BVHExportConfig) -> str:
    """The warning of an export that does not reproduce its joints: the error, the measured cause, the fix."""
    head = (f"{path}: the BVH reproduces the joints only within {err.max:.4g} (mean {err.mean:.3g}; input "
            "units, metres by convention)")
    if cfg.positions == "all":
        return f"{head}; check the precision option"
    report = rigidity_report(joints, layout, length_tolerance=cfg.warn_above)
    cause = report.describe()
    if cause:
        why = (f": the input is not the motion of one rigid skeleton — {cause}. A BVH with rotation channels "
               "only can reproduce a rigid skeleton only")
    else:
        why = ": the least-squares fit of the joint rotations is off (the rest offsets do not match the motion)"
    return f"{head}{why}. Export with positions='all' for a file that reproduces every joint exactly."


def _features_joints(features, layout: SkeletonLayout | None):
    from ..motion.hml3d import features_to_joints  # the 263/269 codec

    joints = features_to_joints(features, layout=layout)
    if hasattr(joints, "detach"):
        joints = joints.detach().cpu().numpy()
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3:
        raise MotionError(f"features must be one clip (T, D); decoded joints have shape {joints.shape}")
    return joints


def features_to_bvh(
    features,
    fps: float | None = None,
    layout: SkeletonLayout | None = None,
    scale: float | None = None,
    *,
    config: BVHExportConfig | None = None,
    **overrides,
) -> BVHMotion:
    """A BVH motion from HumanML3D-style features (T, 263 | 269 | 251 | 257), *unnormalised*.

    The features are decoded to joints with :func:`unimotion.motion.hml3d.features_to_joints` (as
    HumanML3D's ``recover_from_ric``), then exported with :func:`joints_to_bvh`.
    """
    joints = _features_joints(features, layout)
    from ..motion.skeletons import get_layout

    layout = layout or get_layout(joints.shape[1])
    return joints_to_bvh(joints, fps, layout, scale, config=config, **overrides)


def save_features_bvh(
    path: str | os.PathLike,
    features,
    fps: float | None = None,
    layout: SkeletonLayout | None = None,
    scale: float | None = None,
    *,
    config: BVHExportConfig | None = None,
    precision: int | None = None,
    **overrides,
) -> ReproductionError:
    """:func:`save_bvh` for features (T, D); the error is measured against the decoded joints."""
    joints = _features_joints(features, layout)
    from ..motion.skeletons import get_layout

    layout = layout or get_layout(joints.shape[1])
    return save_bvh(path, joints, fps, layout, scale, config=config, precision=precision, **overrides)
