"""The HumanML3D motion representation (263-dim for 22 joints, 251-dim for KIT's 21) and UniMotion's 269.

Encoding (:func:`joints_to_features`) reproduces HumanML3D's ``motion_representation.ipynb``
(``uniform_skeleton`` + ``process_file``; the same code is ``utils/motion_process.py`` in momask-codes and
MDM) step by step, vectorised over frames (no Python loop over frames or joints; ~1 ms for a 196-frame
clip, see ``docs/results/codec.md``). It computes in float64 and returns float32. For a (T, J, 3) clip
(metres, Y up):

1. **Uniform skeleton.** Scale = leg length of the target skeleton / leg length of the clip's first frame
   (``|offset[knee]|_max + |offset[ankle]|_max`` of ``layout.leg``); chain IK
   (:func:`~unimotion.motion.skeleton.hml3d_inverse_kinematics`, unsmoothed) then chain FK with the target
   offsets from the scaled root trajectory. FK∘IK collapses to "each bone keeps its direction and takes
   the target's length", which is how it is computed.
2. **Floor.** Subtract the lowest Y over all joints and frames.
3. **Origin.** Subtract the first frame's root X and Z from every frame.
4. **Face +Z.** Rotate about Y so that the first frame's forward direction (``Y × normalize((r_hip − l_hip)
   + (r_shoulder − l_shoulder))``) becomes +Z. The result is the *canonical* clip (:func:`canonical_joints`).
5. **Foot contacts.** ``|p[t+1] − p[t]|² < feet_threshold`` for (ankle, foot) of each side.
6. **IK with smoothed heading.** Chain IK with ``smooth_sigma=20`` frames: the root
   rotation ``r_rot[t]`` is the yaw turning the Gaussian-smoothed forward direction onto +Z. The first
   frame's, ``r_rot[0]``, depends on ``first_root`` (see *First root rotation* below): its own smoothed
   heading like every other frame (``"smoothed"``, the default, data format v1) or the identity
   (``"identity"``, the original ``inverse_kinematics_np``, which sets ``root_quat[0] = [1, 0, 0, 0]``).
7. **Features**, per frame t < T−1 (the last frame is dropped):

   ========== ======== =========================================================================
   slice      dim      content
   ========== ======== =========================================================================
   [0]        1        ``arcsin(y)`` of ``r_rot[t+1] ⊗ r_rot[t]⁻¹`` (half the yaw change)
   [1:3]      2        ``r_rot[t+1] · (root[t+1] − root[t])``, X and Z
   [3]        1        root height
   ric        3(J−1)   joints minus root X/Z, rotated by ``r_rot[t]`` (rotation-invariant coordinates)
   rot        6(J−1)   chain rotations of the IK as continuous 6D (first two matrix columns)
   local_vel  3J       ``r_rot[t] · (p[t+1] − p[t])`` for every joint
   contacts   4        left (ankle, foot), right (ankle, foot)
   ========== ======== =========================================================================

Reference quirks kept on purpose (they are in every published HumanML3D file):

* The IK's facing direction uses ``left_hip − right_hip + right_shoulder − left_shoulder`` (the reference
  unpacks ``[r_hip, l_hip, ...]`` as ``l_hip, r_hip``); the initial facing (step 4) uses the consistent
  ``right − left`` for both (see :func:`~unimotion.motion.skeleton.face_direction`).
* Branch chains (the arms, starting at spine3) accumulate from the root rotation, not from spine3's.
* Channel 0 stores ``arcsin`` of the relative quaternion's y component, whose sign follows the stored
  quaternions (``w ≥ 0``); when the smoothed heading crosses −Z the recorded angle has the wrong sign for
  that frame, so from there on the decoded heading is off by twice that frame's turn.
* :func:`features_to_joints` (``recover_from_ric``) starts the decoded heading at zero, so decoded joints
  are the canonical clip turned by the encoder's ``r_rot[0]``: with the default ``first_root="smoothed"``
  that is the smoothed heading of frame 0 (a small yaw, zero when the body faces +Z throughout the first
  second; over the 2,634 BandaiML windows median 6.4°, 90th percentile 19.8°, max 53.1°), with ``first_root="identity"`` the identity (decoding gives the canonical clip itself, up to the
  channel-0 quirk above).

**First root rotation (``first_root``): the project's data format v1 versus the original code.** The
original ``inverse_kinematics_np`` uses the identity as the root rotation of the first frame. This module
used that frame's smoothed heading instead (like every other frame's) when the project's data were built,
and every BandaiML build and every model the project ships (the retrieval evaluator, the CMA-VAE,
UniMotion, UniMo, the keypoint network, the video tokenizer) was trained on those features. So the default
stays that behaviour, ``first_root="smoothed"`` (**data format v1**, byte-identical to the features of the
existing builds); ``first_root="identity"`` gives the original code's features (the published HumanML3D
files). The two modes differ only here:

* the 263 channels of frame 0: channel 0 (``arcsin`` of the y of ``r_rot[1] ⊗ r_rot[0]⁻¹``; with the
  identity that is the whole smoothed heading of frame 1), and ``ric``, ``local_vel`` and the 6D of the
  first bone of every chain, which are taken in frame 0's heading frame (v1) or in the canonical frame
  (original). Frames ≥ 1 are the same numbers in both modes;
* the 269 orientation channels with ``orientation_frame="global"``, in every frame: they follow the decoded
  joints, which are the canonical clip turned by ``r_rot[0]`` (see above); with ``"heading"`` only frame 0.

Switching a dataset to ``"identity"`` means rebuilding it and retraining every model trained on it, the
evaluator included (``unimotion data build bandai --hml3d-first-root identity`` records the mode in the
build's ``manifest.json`` as ``hml3d_first_root``).

Agreement with the original code: ``benchmarks/hml3d_original.py`` transcribes HumanML3D's
``common/quaternion.py``, ``common/skeleton.py`` and the notebook's ``uniform_skeleton``/``process_file``/
``recover_from_ric`` with their float32 torch arithmetic. With ``first_root="identity"``, on real BandaiML
clips and sharp synthetic clips the features differ by ≤ 1e-4 (float32 rounding of the original; ≤ 1e-6
when its helpers run in float64) and ``uniform_skeleton`` by ≤ 1e-5 m
(``tests/motion/test_hml3d_original.py``); with the default, the same holds for every frame but the first.
Against ``benchmarks/hml3d_reference.py`` (our own float64 per-frame reading, either mode) by ≤ 1e-7.

Degenerate inputs where the reference produces NaN (a zero-length bone, a bone exactly opposite its rest
direction) get defined values here instead (identity / half turn, see
:func:`~unimotion.motion.skeleton.quat_between_np`); a heading exactly −Z (up to rounding) is the half turn
about Y; an undefined initial facing is rejected.

**KIT-ML** (``layout=KIT21``, 251 dims): same steps with KIT's chains; the reference foot-contact threshold
is ``0.05`` (``process_file(source_data, 0.05)`` in the KIT branch of the script), not 0.002 — see
:data:`FEET_THRESHOLDS`. There is no default target skeleton for KIT (HumanML3D took the first frame of
KIT clip ``03950_gt``): pass ``target_offsets``.

**Target skeleton.** HumanML3D retargets to the first frame of AMASS clip ``000021``; we cannot ship that
clip, so :func:`default_target_offsets` uses the SMPL-X neutral rest skeleton (betas = 0) computed at run
time from the ``mannequin-x`` package's calibration (its ``Mannequin.joint_transforms`` of the rest pose).
Features therefore match HumanML3D's *algorithm* exactly; to match the published dataset's numbers, pass
offsets measured on clip 000021 (:func:`target_offsets_from_joints`).

**The 269-dim UniMotion variant** (``dim=269``; 257 for KIT). The paper gives only "263 + global
orientation" (spec ``unimotion.md`` §2.1, inferred). Our choice: channels ``[0:263]`` are exactly the 263
codec; channels ``[263:269]`` are the continuous 6D (first two columns) of the **pelvis orientation** of
each frame, a full 3-D rotation (yaw, pitch and roll). It is taken from ``root_orientation`` when given
(e.g. SMPL-X ``global_orient``, in the input's frame; it gets the same face-+Z rotation as the joints),
otherwise measured on the canonical joints (:func:`pelvis_orientation`: X from the right to the left hip,
Y along the spine, identity for the layout's rest pose). ``orientation_frame`` selects the frame:

* ``"global"`` (default): the frame in which :func:`features_to_joints` returns joints (the canonical
  frame turned by ``r_rot[0]``, which is the identity with ``first_root="identity"``), so decoded joints
  and decoded orientation agree and the absolute heading is kept (no drift from integrating channel 0).
* ``"heading"``: relative to each frame's heading ``r_rot[t]`` (rotation-invariant like ``ric``); decoding
  composes it with the integrated heading, so it agrees with the decoded joints even through the
  channel-0 quirk above.

**Normalisation** (:func:`hml3d_norm_stats`): HumanML3D's ``cal_mean_variance`` — per-channel mean, and
the std averaged within each group (root rotation velocity, root linear velocity, root height, ric, rot,
local velocity, contacts; the 269 orientation is its own group), then the root groups and the contacts
divided by ``feat_bias``: 1 for the dataset's ``Mean.npy``/``Std.npy``, 5 for the T2M evaluator's
``meta/std.npy`` (text-to-motion ``opt.feat_bias`` default; :func:`apply_feat_bias`).
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import numpy as np
from array_api_compat import array_namespace, is_torch_array

from ..errors import MotionError
from .rotations import (
    matrix_to_6d,
    quat_to_matrix,
    sixd_to_matrix,
    sixd_to_quat,
)
from .skeleton import (
    DEFAULT_FIRST_ROOT,
    FIRST_ROOT_MODES,
    FirstRoot,
    _ns,
    chain_predecessors,
    check_first_root,
    hml3d_forward_kinematics,
    offsets_from_joints,
    qconj,
    qrot,
    quat_between_np,
    yaw_rotate,
)
from .skeletons import KIT21, T2M22, SkeletonLayout
from .stats import NormStats

__all__ = [
    "FEET_THRESHOLDS",
    "DEFAULT_FIRST_ROOT",
    "FIRST_ROOT_MODES",
    "FirstRoot",
    "SMOOTH_SIGMA",
    "ORIENTATION_DIMS",
    "feature_dim",
    "feature_slices",
    "layout_for_dim",
    "default_target_offsets",
    "target_offsets_from_joints",
    "uniform_skeleton",
    "canonical_joints",
    "pelvis_orientation",
    "joints_to_features",
    "features_to_root",
    "features_to_joints",
    "features_with_joints",
    "features_to_root_orientation",
    "hml3d_chain_joints",
    "std_groups",
    "hml3d_norm_stats",
    "feature_stats",
    "humanml3d_stats",
    "apply_feat_bias",
]

#: Foot-contact thresholds (squared displacement per frame) used by the reference for each layout.
FEET_THRESHOLDS: dict[str, float] = {"t2m22": 0.002, "smplx_body": 0.002, "kit21": 0.05}
#: Sigma (frames) of the Gaussian smoothing of the forward direction before the feature IK (reference: 20).
SMOOTH_SIGMA: float = 20.0
#: Extra channels of the UniMotion variant (6D pelvis orientation).
ORIENTATION_DIMS: int = 6
#: Default foot-contact threshold for layouts not listed above.
_DEFAULT_FEET_THRESHOLD = 0.002

OrientationFrame = Literal["global", "heading"]
_ORIENTATION_FRAMES = ("global", "heading")


# ---------------------------------------------------------------------------------------- layout
def feature_dim(num_joints: int, with_orientation: bool = False) -> int:
    """263 for 22 joints, 251 for 21; +6 with the pelvis orientation (269 / 257)."""
    return 12 * num_joints - 1 + (ORIENTATION_DIMS if with_orientation else 0)


def _decode_dim(dim: int) -> tuple[int, bool]:
    """(num_joints, with_orientation) of a feature dimension, or MotionError."""
    if dim % 12 == 11 and dim >= 23:
        return (dim + 1) // 12, False
    if dim % 12 == 5 and dim >= 29:
        return (dim - 5) // 12, True
    raise MotionError(
        f"feature dimension {dim} is not a HumanML3D layout (expected 12*J-1, e.g. 263/251, or 12*J+5 "
        f"with the 6D orientation, e.g. 269/257)"
    )


def layout_for_dim(dim: int) -> SkeletonLayout:
    """T2M22 for 263/269, KIT21 for 251/257."""
    num_joints, _ = _decode_dim(dim)
    by_joints = {22: T2M22, 21: KIT21}
    if num_joints not in by_joints:
        raise MotionError(f"no skeleton layout for {dim}-dim features ({num_joints} joints); pass layout=")
    return by_joints[num_joints]


def feature_slices(dim: int = 263) -> dict[str, slice]:
    """Named channel ranges of a ``dim``-dim feature vector.

    Keys: ``root_rot_vel``, ``root_lin_vel``, ``root_y``, ``ric``, ``rot``, ``local_vel``,
    ``foot_contact`` and, for 269/257, ``root_orient``.
    """
    num_joints, with_orient = _decode_dim(dim)
    j = num_joints
    s = {
        "root_rot_vel": slice(0, 1),
        "root_lin_vel": slice(1, 3),
        "root_y": slice(3, 4),
        "ric": slice(4, 4 + 3 * (j - 1)),
        "rot": slice(4 + 3 * (j - 1), 4 + 9 * (j - 1)),
        "local_vel": slice(4 + 9 * (j - 1), 4 + 9 * (j - 1) + 3 * j),
        "foot_contact": slice(4 + 9 * (j - 1) + 3 * j, 8 + 9 * (j - 1) + 3 * j),
    }
    if with_orient:
        start = 8 + 9 * (j - 1) + 3 * j
        s["root_orient"] = slice(start, start + ORIENTATION_DIMS)
    return s


# ---------------------------------------------------------------------------------------- validation
def _as_joints(joints, layout: SkeletonLayout, name: str = "joints") -> np.ndarray:
    """Validate a (T, J, 3) float clip and return it as float64 NumPy."""
    if is_torch_array(joints):
        joints = joints.detach().cpu().numpy()
    if not isinstance(joints, np.ndarray):
        joints = np.asarray(joints)
    if not np.issubdtype(joints.dtype, np.floating):
        raise MotionError(f"{name} must be a floating-point array, got dtype {joints.dtype}")
    if joints.ndim != 3:
        raise MotionError(
            f"{name} must have shape (T, {layout.num_joints}, 3) (rank 3), got rank {joints.ndim} "
            f"shape {tuple(joints.shape)}"
        )
    if joints.shape[1] != layout.num_joints:
        raise MotionError(
            f"{name} has {joints.shape[1]} joints but layout {layout.name!r} has {layout.num_joints}"
        )
    if joints.shape[2] != 3:
        raise MotionError(f"{name} must have 3 coordinates per joint, got {joints.shape[2]}")
    if joints.shape[0] < 2:
        raise MotionError(f"{name} needs at least 2 frames (T >= 2), got T={joints.shape[0]}")
    finite = np.isfinite(joints)
    if not finite.all():
        frame, joint = np.argwhere(~finite.all(axis=-1))[0]
        raise MotionError(f"{name} contain NaN or Inf (first at frame {frame}, joint {joint})")
    return joints.astype(np.float64, copy=False)


def _as_offsets(offsets, layout: SkeletonLayout) -> np.ndarray:
    if is_torch_array(offsets):
        offsets = offsets.detach().cpu().numpy()
    offsets = np.asarray(offsets)
    if not np.issubdtype(offsets.dtype, np.floating):
        raise MotionError(f"target_offsets must be a floating-point array, got dtype {offsets.dtype}")
    if offsets.shape != (layout.num_joints, 3):
        raise MotionError(
            f"target_offsets must have shape ({layout.num_joints}, 3) for layout {layout.name!r}, "
            f"got {tuple(offsets.shape)}"
        )
    if not np.isfinite(offsets).all():
        raise MotionError("target_offsets contain NaN or Inf")
    offsets = offsets.astype(np.float64)
    if _leg_length(offsets, layout) <= 0:
        raise MotionError(f"target_offsets have a zero-length leg (joints {layout.leg})")
    return offsets


def _check_features(features, layout: SkeletonLayout | None, check_finite: bool = True):
    """Validate (..., T, D) features; returns (layout, num_joints, with_orientation)."""
    if not (isinstance(features, np.ndarray) or is_torch_array(features)):
        raise MotionError(f"features must be a NumPy array or a torch tensor, got {type(features).__name__}")
    if is_torch_array(features):
        if not features.is_floating_point():
            raise MotionError(f"features must be floating point, got dtype {features.dtype}")
    elif not np.issubdtype(features.dtype, np.floating):
        raise MotionError(f"features must be floating point, got dtype {features.dtype}")
    if features.ndim < 2:
        raise MotionError(f"features must have shape (..., T, D) (rank >= 2), got shape {tuple(features.shape)}")
    if features.shape[-2] < 1:
        raise MotionError("features have no frames (T = 0)")
    dim = int(features.shape[-1])
    num_joints, with_orient = _decode_dim(dim)
    if layout is None:
        layout = layout_for_dim(dim)
    elif layout.num_joints != num_joints:
        raise MotionError(
            f"{dim}-dim features describe {num_joints} joints but layout {layout.name!r} has "
            f"{layout.num_joints} (expected dim {feature_dim(layout.num_joints)} or "
            f"{feature_dim(layout.num_joints, True)})"
        )
    if check_finite:
        ok = bool(features.isfinite().all()) if is_torch_array(features) else bool(np.isfinite(features).all())
        if not ok:
            raise MotionError("features contain NaN or Inf")
    return layout, num_joints, with_orient


# ---------------------------------------------------------------------------------------- skeleton
def _leg_length(offsets: np.ndarray, layout: SkeletonLayout) -> float:
    """``|offset[knee]|_max + |offset[ankle]|_max`` as HumanML3D measures the leg (``l_idx1, l_idx2``)."""
    k1, k2 = layout.leg
    return float(np.abs(offsets[k1]).max() + np.abs(offsets[k2]).max())


def target_offsets_from_joints(reference_joints, layout: SkeletonLayout = T2M22) -> np.ndarray:
    """Target offsets (J, 3) measured on one pose, as HumanML3D does on clip 000021's first frame.

    ``offset[j] = |p[j] − p[parent(j)]| · raw_offsets[j]`` (``Skeleton.get_offsets_joints``).
    """
    if is_torch_array(reference_joints):
        reference_joints = reference_joints.detach().cpu().numpy()
    reference_joints = np.asarray(reference_joints)
    if reference_joints.shape != (layout.num_joints, 3):
        raise MotionError(
            f"reference_joints must have shape ({layout.num_joints}, 3) for layout {layout.name!r}, "
            f"got {tuple(reference_joints.shape)}"
        )
    if not np.issubdtype(reference_joints.dtype, np.floating):
        raise MotionError(f"reference_joints must be floating point, got dtype {reference_joints.dtype}")
    if not np.isfinite(reference_joints).all():
        raise MotionError("reference_joints contain NaN or Inf")
    return offsets_from_joints(reference_joints, layout)


@functools.lru_cache(maxsize=1)
def _smplx_neutral_rest_joints() -> np.ndarray:
    from mannequin import Mannequin

    model = Mannequin("convex", lod=2)
    transforms = model.joint_transforms(model.rest_pose(dtype=np.float64))  # (J_all, 4, 4)
    names = model.joint_names
    expected = ("Pelvis", "L_Hip", "R_Hip", "Spine1")
    if tuple(names[:4]) != expected:  # pragma: no cover - guards against a changed package layout
        raise RuntimeError(f"unexpected mannequin-x joint order {names[:4]}; expected {expected}")
    return np.asarray(transforms[:22, :3, 3], dtype=np.float64)


def default_target_offsets(layout: SkeletonLayout = T2M22) -> np.ndarray:
    """Default target skeleton (J, 3): the SMPL-X neutral rest joints (betas = 0) of ``mannequin-x``.

    Read at run time from the installed package (``Mannequin(...).joint_transforms(rest_pose())``, the
    first 22 joints, whose order equals T2M22's); offsets in HumanML3D's convention. KIT has no default.
    """
    if layout.num_joints != 22:
        raise MotionError(
            f"no default target skeleton for layout {layout.name!r}; pass target_offsets (HumanML3D used the "
            "first frame of KIT clip 03950_gt, see target_offsets_from_joints)"
        )
    return offsets_from_joints(_smplx_neutral_rest_joints(), layout)


def uniform_skeleton(joints, target_offsets, layout: SkeletonLayout = T2M22) -> np.ndarray:
    """Retarget a clip to the target bone lengths (HumanML3D ``uniform_skeleton``).

    Args:
        joints: (T, J, 3) positions. target_offsets: (J, 3) in HumanML3D's convention.
    Returns:
        (T, J, 3) float64: chain IK of ``joints`` → chain FK with ``target_offsets`` from the root
        trajectory scaled by ``leg(target) / leg(joints[0])``.
    """
    joints = _as_joints(joints, layout)
    target_offsets = _as_offsets(target_offsets, layout)
    return _uniform_skeleton(joints, target_offsets, layout)


def _uniform_skeleton(joints: np.ndarray, target_offsets: np.ndarray, layout: SkeletonLayout) -> np.ndarray:
    P = np.ascontiguousarray(joints.transpose(2, 0, 1))  # (3, T, J)
    return _uniform_cm(P, target_offsets, layout, _plan(layout)).transpose(1, 2, 0)


# ---------------------------------------------------------------------------------------- fast kernels
# The encoder works on component-major arrays: positions P (3, T, J), quaternions Q (4, T, K), so that
# every component is a contiguous (T, J) block and bone vectors / chain sums are single matrix products.
# The public kinematics in ``skeleton.py`` compute the same quantities joint-major; the tests check both.
class _Plan:
    """Per-layout constants of the fast encoder."""

    def __init__(self, layout: SkeletonLayout):
        num_joints = layout.num_joints
        num_bones = num_joints - 1
        parents = layout.parents
        self.bone_matrix = np.zeros((num_joints, num_bones))  # bones = P @ M
        for k in range(num_bones):
            self.bone_matrix[k + 1, k] = 1.0
            self.bone_matrix[parents[k + 1], k] = -1.0
        self.bone_matrix_t = np.ascontiguousarray(self.bone_matrix.T)  # bone-major: bones = M^T @ P^T
        ancestors = np.zeros((num_joints, num_bones))
        for j in range(1, num_joints):
            a = j
            while a > 0:
                ancestors[j, a - 1] = 1.0
                a = int(parents[a])
        self.ancestors_t = np.ascontiguousarray(ancestors.T)  # positions = bones @ A^T
        self.prev = chain_predecessors(layout)[1:]  # index into [root, rot_1, ..., rot_{J-1}]
        self.raw = np.ascontiguousarray(layout.raw_offsets[1:].T)  # (3, J-1)
        self.raw_joint_major = layout.raw_offsets[1:]
        raw = layout.raw_offsets[1:]
        nonzero = raw != 0
        # every rest direction a coordinate axis: |offset| = |bone| (the leg length needs no second pass)
        self.axis_aligned = bool(np.all(nonzero.sum(-1) == 1) and np.all(np.abs(raw[nonzero]) == 1))
        self.face = tuple(int(j) for j in layout.face_joints)
        self._targets: dict[bytes, tuple] = {}

    def target(self, target_offsets: np.ndarray) -> tuple[bool, np.ndarray, np.ndarray]:
        """(offsets along the raw directions?, bone lengths (K,), offsets (K, 3)), cached per target."""
        key = target_offsets.tobytes()
        hit = self._targets.get(key)
        if hit is None:
            tgt = target_offsets[1:]
            raw = self.raw_joint_major
            aligned = bool(np.abs(np.cross(tgt, raw)).max() <= 1e-12 and np.all(np.sum(tgt * raw, -1) >= 0))
            hit = (aligned, np.linalg.norm(tgt, axis=-1), tgt)
            if len(self._targets) >= 8:
                self._targets.clear()
            self._targets[key] = hit
        return hit


_PLANS: dict[tuple, _Plan] = {}


def _plan(layout: SkeletonLayout) -> _Plan:
    key = (layout.name, layout.kinematic_chain, layout.raw_offsets.tobytes())
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = _Plan(layout)
    return plan


def _unit_cm(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = np.sqrt(b[0] * b[0] + b[1] * b[1] + b[2] * b[2])
    return b / np.maximum(n, 1e-12), n


def _between_cm(raw: np.ndarray, d: np.ndarray, raw_joint_major: np.ndarray, bone_major: bool = False) -> np.ndarray:
    """``quat_between_np(raw_k, d_k)`` for unit bone directions ``d`` (3, T, K), or (3, K, T) with
    ``bone_major``: (4, T, K) / (4, K, T) quaternions (same formula and degenerate cases)."""
    if bone_major:
        raw = raw[:, :, None]
    ux, uy, uz = raw[0], raw[1], raw[2]
    vx, vy, vz = d[0], d[1], d[2]
    cx, cy, cz = uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx
    norms = np.sqrt((ux * ux + uy * uy + uz * uz) * (vx * vx + vy * vy + vz * vz))
    w = norms + (ux * vx + uy * vy + uz * vz)
    qn = np.sqrt(w * w + cx * cx + cy * cy + cz * cz)
    degenerate = qn <= 1e-9 * norms
    if degenerate.any():
        qn = np.where(qn > 0, qn, 1.0)
    q = np.stack([w, cx, cy, cz])
    q /= qn
    if degenerate.any():
        i, j = np.nonzero(degenerate)
        q[:, i, j] = quat_between_np(raw_joint_major[i if bone_major else j], d[:, i, j].T).T
    return q


def _uniform_cm(P: np.ndarray, target_offsets: np.ndarray, layout: SkeletonLayout, plan: _Plan) -> np.ndarray:
    """Step 1 on (3, T, J): bone directions of the clip, lengths of the target, root scaled by the legs.

    Returns the positions (3, T, J).
    """
    d, n = _unit_cm(P @ plan.bone_matrix)  # (3, T, K)
    if plan.axis_aligned:  # |offset| = |bone| · 1 along a coordinate axis: the same numbers, no second pass
        src_leg = n[0, layout.leg[0] - 1] + n[0, layout.leg[1] - 1]
    else:
        src_leg = _leg_length(offsets_from_joints(P[:, 0].T, layout), layout)
    if src_leg <= 0:
        raise MotionError(f"the first frame has a zero-length leg (joints {layout.leg}); cannot scale")
    scale = _leg_length(target_offsets, layout) / src_leg
    # IK → FK with the target offsets. Along every chain the FK re-accumulates exactly the rotations the
    # IK accumulated (R ⊗ (R⁻¹ ⊗ rot) = rot), so the product collapses to each bone's IK rotation
    # rot = qbetween(raw, bone) applied to its target offset; the root rotation cancels. For offsets along
    # the raw directions (HumanML3D's convention, all offsets this module makes) rot · offset is simply
    # |offset| · unit(bone). ``hml3d_forward_kinematics(hml3d_inverse_kinematics(joints), ...)`` gives the
    # same positions to ~1e-15 (tested).
    aligned, lengths, tgt = plan.target(target_offsets)
    if aligned:
        vec = d * lengths
        if not n.all():  # zero-length bones: the IK gives the identity, which keeps the offset as is
            vec = np.where(n > 0, vec, tgt.T[:, None, :])
    else:
        q = _between_cm(plan.raw, d, plan.raw_joint_major)
        vec = np.moveaxis(qrot(np.moveaxis(q, 0, -1), tgt), -1, 0)
    return vec @ plan.ancestors_t + P[:, :, :1] * scale


def _yaw_to_z(fx: float, fz: float) -> tuple[float, float]:
    """(w, y) of ``heading_quat((fx, 0, fz))`` for one unit horizontal direction (same arithmetic)."""
    norms = math.sqrt(fx * fx + fz * fz)
    w = norms + fz
    qn = math.sqrt(w * w + fx * fx)
    if qn <= 1e-9 * norms:  # facing -Z: the half turn about Y
        return 0.0, -1.0
    return w / qn, -fx / qn


def _canonical_cm(joints: np.ndarray, target_offsets: np.ndarray, layout: SkeletonLayout, plan: _Plan):
    """Steps 1-4 on (3, T, J); returns the canonical clip and the face-+Z yaw quaternion (4,)."""
    P = _uniform_cm(np.ascontiguousarray(joints.transpose(2, 0, 1)), target_offsets, layout, plan)
    P[1] -= P[1].min()
    P[0] -= P[0, 0, 0]
    P[2] -= P[2, 0, 0]
    # initial facing (face_direction without the quirk, one frame, in scalars)
    r_hip, l_hip, r_sh, l_sh = plan.face
    a = [float((P[i, 0, r_hip] - P[i, 0, l_hip]) + (P[i, 0, r_sh] - P[i, 0, l_sh])) for i in range(3)]
    n = max(math.sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]), 1e-12)
    fx, fz = a[2] / n, -(a[0] / n)  # Y × across
    norm = math.sqrt(fx * fx + fz * fz)
    if not norm > 1e-9:
        raise MotionError(
            "the first frame has no horizontal facing direction (hips and shoulders are vertical or "
            "coincide); cannot rotate the clip to face +Z"
        )
    qw, qy = _yaw_to_z(fx / norm, fz / norm)
    q_face = np.array([qw, 0.0, qy, 0.0])
    cos, sin = q_face[0] ** 2 - q_face[2] ** 2, 2 * q_face[0] * q_face[2]
    x, z = P[0].copy(), P[2]
    P[0] = cos * x + sin * z
    P[2] = cos * z - sin * x
    return P, q_face


_GAUSS: dict[float, np.ndarray] = {}


def _smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter1d(x, sigma, axis=-1, mode="nearest")`` with a cached kernel."""
    from scipy.ndimage import correlate1d

    weights = _GAUSS.get(sigma)
    if weights is None:
        radius = int(4.0 * float(sigma) + 0.5)
        grid = np.arange(-radius, radius + 1)
        phi = np.exp(-0.5 / (sigma * sigma) * grid**2)
        weights = _GAUSS[sigma] = (phi / phi.sum())[::-1]
    return correlate1d(x, weights, -1, None, "nearest", 0.0, 0)


def _heading_cm(P: np.ndarray, layout: SkeletonLayout, smooth_sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """(w, y) (T,) of the feature IK's headings: ``face_direction(quirk, smoothed)`` then ``heading_quat``.

    The first frame's heading is returned like the others (:func:`joints_to_features` replaces it).
    """
    r_hip, l_hip, r_sh, l_sh = layout.face_joints
    across = (P[:, :, l_hip] - P[:, :, r_hip]) + (P[:, :, r_sh] - P[:, :, l_sh])  # (3, T)
    across, _ = _unit_cm(across)
    forward = np.stack([across[2], -across[0]])  # Y × across = (a_z, 0, -a_x)
    if smooth_sigma > 0:
        forward = _smooth(forward, smooth_sigma)
    norm = np.sqrt(forward[0] * forward[0] + forward[1] * forward[1])
    forward = np.where(norm > 1e-9, forward / np.maximum(norm, 1e-9), 0.0)
    fx, fz = forward[0], forward[1]
    # heading_quat((fx, 0, fz)) = normalise(|f| + fz, 0, -fx, 0), written out
    norms = np.sqrt(fx * fx + fz * fz)
    w = norms + fz
    qn = np.sqrt(w * w + fx * fx)
    ok = qn > 1e-9 * norms
    if ok.all():
        return w / qn, -fx / qn
    safe = np.where(ok, qn, 1.0)
    rw = np.where(ok, w / safe, np.where(norms > 0, 0.0, 1.0))  # -Z: half turn about Y; undefined: identity
    ry = np.where(ok, -fx / safe, np.where(norms > 0, -1.0, 0.0))
    return rw, ry


def canonical_joints(joints, target_offsets=None, layout: SkeletonLayout = T2M22) -> np.ndarray:
    """The retargeted, floor-, origin- and facing-normalised clip (steps 1-4), (T, J, 3) float64.

    These are the "global positions" from which every feature is computed.
    """
    joints = _as_joints(joints, layout)
    tgt = default_target_offsets(layout) if target_offsets is None else _as_offsets(target_offsets, layout)
    return _canonical_cm(joints, tgt, layout, _plan(layout))[0].transpose(1, 2, 0)


def _lateral_pair(layout: SkeletonLayout) -> tuple[int, int]:
    """(hip whose rest direction is +X, the other hip)."""
    r_hip, l_hip = layout.face_joints[0], layout.face_joints[1]
    return (l_hip, r_hip) if layout.raw_offsets[l_hip][0] > 0 else (r_hip, l_hip)


def _spine_joint(layout: SkeletonLayout) -> int:
    """The child of the root whose rest direction is +Y."""
    for j, p in enumerate(layout.parents):
        if p == 0 and layout.raw_offsets[j][1] > 0:
            return j
    raise MotionError(f"layout {layout.name!r} has no spine joint above the root")  # pragma: no cover


def pelvis_orientation(joints, layout: SkeletonLayout = T2M22):
    """Pelvis rotation matrices (..., 3, 3) measured on joint positions (..., J, 3), NumPy or torch.

    Columns: X = unit(hip_a − hip_b) (``hip_a`` is the hip whose rest direction is +X; the left hip on
    T2M22), Z = unit(X × (spine − pelvis)), Y = Z × X. The rest pose of the layout gives the identity.
    """
    xp = array_namespace(joints)
    a, b = _lateral_pair(layout)
    spine = _spine_joint(layout)
    x = joints[..., a, :] - joints[..., b, :]
    x = x / xp.clip(xp.linalg.vector_norm(x, axis=-1, keepdims=True), 1e-12, None)
    up = joints[..., spine, :] - joints[..., 0, :]
    z = xp.linalg.cross(x, up)
    z = z / xp.clip(xp.linalg.vector_norm(z, axis=-1, keepdims=True), 1e-12, None)
    y = xp.linalg.cross(z, x)
    return xp.stack([x, y, z], axis=-1)


def _as_root_orientation(root_orientation, num_frames: int) -> np.ndarray:
    """(T, 3, 3) rotation matrices or (T, 4) quaternions → (T, 3, 3) float64."""
    if is_torch_array(root_orientation):
        root_orientation = root_orientation.detach().cpu().numpy()
    r = np.asarray(root_orientation)
    if not np.issubdtype(r.dtype, np.floating):
        raise MotionError(f"root_orientation must be floating point, got dtype {r.dtype}")
    if r.shape == (num_frames, 4):
        if not np.isfinite(r).all():
            raise MotionError("root_orientation contains NaN or Inf")
        norms = np.linalg.norm(r, axis=-1)
        if (norms < 1e-8).any():
            raise MotionError("root_orientation contains zero quaternions")
        return quat_to_matrix(r.astype(np.float64))
    if r.shape == (num_frames, 3, 3):
        if not np.isfinite(r).all():
            raise MotionError("root_orientation contains NaN or Inf")
        r = r.astype(np.float64)
        err = np.abs(r @ np.swapaxes(r, -1, -2) - np.eye(3)).max()
        if err > 1e-3 or (np.linalg.det(r) <= 0).any():
            raise MotionError(f"root_orientation matrices are not rotations (|R Rᵀ − I| = {err:.2g})")
        return r
    raise MotionError(
        f"root_orientation must have shape ({num_frames}, 4) (quaternions w,x,y,z) or ({num_frames}, 3, 3), "
        f"got {tuple(r.shape)}"
    )


# ---------------------------------------------------------------------------------------- encoder
def joints_to_features(
    joints,
    target_offsets=None,
    layout: SkeletonLayout = T2M22,
    feet_threshold: float | None = None,
    *,
    dim: int | None = None,
    root_orientation=None,
    orientation_frame: OrientationFrame = "global",
    smooth_sigma: float = SMOOTH_SIGMA,
    first_root: FirstRoot = DEFAULT_FIRST_ROOT,
) -> np.ndarray:
    """HumanML3D features of a joint-position clip (``process_file``), vectorised over frames.

    Args:
        joints: (T, J, 3) positions in metres, Y up, T >= 2, J = ``layout.num_joints``.
        target_offsets: (J, 3) target skeleton in HumanML3D's convention (raw direction × bone length);
            ``None`` → :func:`default_target_offsets` (SMPL-X neutral).
        layout: ``T2M22`` (263 dims) or ``KIT21`` (251 dims) or another 22/21-joint layout.
        feet_threshold: squared per-frame displacement below which a foot joint is in contact;
            ``None`` → the reference's value for the layout (:data:`FEET_THRESHOLDS`: 0.002, KIT 0.05).
        dim: ``None`` or the base dim (263/251), or base + 6 (269/257) for the UniMotion variant.
        root_orientation: 269 only: (T, 3, 3) or (T, 4) pelvis orientation in the frame of ``joints``;
            ``None`` → measured on the joints (:func:`pelvis_orientation`).
        orientation_frame: 269 only: ``"global"`` or ``"heading"`` (see the module docstring).
        smooth_sigma: Gaussian sigma (frames) of the heading smoothing; 20 in the reference.
        first_root: the first frame's root rotation: ``"smoothed"`` (default; the project's data format
            v1, on which every shipped model was trained) or ``"identity"`` (the original HumanML3D
            code). See *First root rotation* in the module docstring.
    Returns:
        (T−1, D) float32 features.
    """
    joints = _as_joints(joints, layout)
    base = feature_dim(layout.num_joints)
    if dim is None:
        dim = base
    if dim not in (base, base + ORIENTATION_DIMS):
        raise MotionError(
            f"dim must be {base} or {base + ORIENTATION_DIMS} for layout {layout.name!r}, got {dim}"
        )
    with_orient = dim != base
    if orientation_frame not in _ORIENTATION_FRAMES:
        raise MotionError(f"orientation_frame must be one of {_ORIENTATION_FRAMES}, got {orientation_frame!r}")
    if root_orientation is not None and not with_orient:
        raise MotionError(f"root_orientation is only used with dim={base + ORIENTATION_DIMS}")
    if feet_threshold is None:
        feet_threshold = FEET_THRESHOLDS.get(layout.name, _DEFAULT_FEET_THRESHOLD)
    if not (np.isfinite(feet_threshold) and feet_threshold > 0):
        raise MotionError(f"feet_threshold must be a positive number, got {feet_threshold}")
    if not (np.isfinite(smooth_sigma) and smooth_sigma >= 0):
        raise MotionError(f"smooth_sigma must be >= 0, got {smooth_sigma}")
    check_first_root(first_root)
    tgt = default_target_offsets(layout) if target_offsets is None else _as_offsets(target_offsets, layout)
    orient_in = None if root_orientation is None else _as_root_orientation(root_orientation, len(joints))

    plan = _plan(layout)
    P, q_face = _canonical_cm(joints, tgt, layout, plan)  # (3, T, J) global positions, (4,)
    num_frames, num_joints = P.shape[1], P.shape[2]
    n = num_frames - 1
    sl = feature_slices(dim)
    out = np.empty((n, dim), dtype=np.float64)

    # heading of every frame (smoothed forward direction), pure yaw (w, 0, y, 0)
    rw, ry = _heading_cm(P, layout, smooth_sigma)  # (T,), (T,)
    if first_root == "identity":  # the original IK sets the first frame's root rotation to the identity
        rw[0], ry[0] = 1.0, 0.0
    cos, sin = (rw * rw - ry * ry)[:, None], (2 * rw * ry)[:, None]  # (T, 1) yaw of each frame

    # chain IK on bone-major (K, T-1) blocks: the rotation accumulated after each bone, next to the root's,
    # then each joint's local rotation conj(chain predecessor's) ⊗ own
    d, _ = _unit_cm(plan.bone_matrix_t @ P[:, :-1].transpose(0, 2, 1))  # (3, K, T-1) unit bone directions
    acc = np.empty((4, num_joints, n))
    acc[0, 0], acc[1, 0], acc[2, 0], acc[3, 0] = rw[:-1], 0.0, ry[:-1], 0.0
    acc[:, 1:] = _between_cm(plan.raw, d, plan.raw_joint_major, bone_major=True)
    qw, qx, qy, qz = acc[:, 1:]
    pw, px, py, pz = acc[:, plan.prev]  # (K, T-1) each
    lw = pw * qw + px * qx + py * qy + pz * qz
    lx = pw * qx - px * qw - py * qz + pz * qy
    ly = pw * qy + px * qz - py * qw - pz * qx
    lz = pw * qz - px * qy + py * qx - pz * qw
    # continuous 6D: the first two columns of the local rotation's matrix
    ww, xx, yy, zz = lw * lw, lx * lx, ly * ly, lz * lz
    scale6 = 2.0 / (ww + xx + yy + zz)
    xy, wz = lx * ly, lw * lz
    six = np.empty((6, num_joints - 1, n))
    np.multiply(scale6, yy + zz, out=six[0])
    np.subtract(1, six[0], out=six[0])
    np.multiply(scale6, xy + wz, out=six[1])
    np.multiply(scale6, lx * lz - lw * ly, out=six[2])
    np.multiply(scale6, xy - wz, out=six[3])
    np.multiply(scale6, xx + zz, out=six[4])
    np.subtract(1, six[4], out=six[4])
    np.multiply(scale6, ly * lz + lw * lx, out=six[5])
    out[:, sl["rot"]].reshape(n, num_joints - 1, 6)[...] = six.transpose(2, 1, 0)

    # root: half the yaw change (arcsin of y of r_rot[t+1] ⊗ r_rot[t]⁻¹), planar velocity, height
    out[:, 0] = np.arcsin(np.clip(ry[1:] * rw[:-1] - rw[1:] * ry[:-1], -1.0, 1.0))
    step = P[:, 1:] - P[:, :-1]  # (3, T-1, J)
    sx, sz = step[0, :, 0], step[2, :, 0]
    out[:, 1] = cos[1:, 0] * sx + sin[1:, 0] * sz
    out[:, 2] = cos[1:, 0] * sz - sin[1:, 0] * sx
    out[:, 3] = P[1, :-1, 0]

    # rotation-invariant coordinates: joints minus root X/Z, turned by the frame's heading
    rx = P[0, :-1, 1:] - P[0, :-1, :1]
    rz = P[2, :-1, 1:] - P[2, :-1, :1]
    ric = out[:, sl["ric"]].reshape(num_frames - 1, num_joints - 1, 3)
    ric[..., 0] = cos[:-1] * rx + sin[:-1] * rz
    ric[..., 1] = P[1, :-1, 1:]
    ric[..., 2] = cos[:-1] * rz - sin[:-1] * rx

    # local velocities: frame-to-frame displacement turned by the heading of the first frame
    vel = out[:, sl["local_vel"]].reshape(num_frames - 1, num_joints, 3)
    vel[..., 0] = cos[:-1] * step[0] + sin[:-1] * step[2]
    vel[..., 1] = step[1]
    vel[..., 2] = cos[:-1] * step[2] - sin[:-1] * step[0]

    # foot contacts: squared displacement of (ankle, foot) of each side below the threshold
    feet = step[:, :, list(layout.foot_left) + list(layout.foot_right)]  # (3, T-1, 4)
    feet *= feet
    out[:, sl["foot_contact"]] = feet[0] + feet[1] + feet[2] < feet_threshold

    if with_orient:
        if orient_in is None:
            orient = pelvis_orientation(P.transpose(1, 2, 0), layout)  # (T, 3, 3) canonical frame
        else:
            orient = quat_to_matrix(q_face) @ orient_in
        if orientation_frame == "heading":
            r_rot = np.zeros((num_frames, 4))
            r_rot[:, 0], r_rot[:, 2] = rw, ry
            orient = quat_to_matrix(r_rot) @ orient
        elif first_root == "smoothed":
            # the frame of features_to_joints: the canonical clip turned by the heading of frame 0
            orient = quat_to_matrix(np.array([rw[0], 0.0, ry[0], 0.0])) @ orient
        # "global" with first_root="identity": the canonical frame, in which features_to_joints returns joints
        out[:, sl["root_orient"]] = matrix_to_6d(orient[:-1])
    return out.astype(np.float32)


# ---------------------------------------------------------------------------------------- decoder
def _floating_like(features):
    """NumPy features are decoded in float64; torch tensors in their own dtype."""
    if is_torch_array(features):
        return features
    return np.asarray(features, dtype=np.float64)


def features_to_root(features, check_finite: bool = True):
    """Root yaw quaternions and positions from features (``recover_root_rot_pos``), NumPy or torch.

    Args:
        features: (..., T, D) with D >= 4.
    Returns:
        ``(root_quat (..., T, 4), root_pos (..., T, 3))``: ``root_quat = [cos a, 0, sin a, 0]`` with
        ``a`` the running sum of channel 0 (starting at 0); ``root_pos`` XZ integrates channels 1:3 rotated
        by ``root_quat⁻¹``; Y is channel 3.
    """
    _check_features(features, None, check_finite)
    return _root(_floating_like(features))


def _cumsum(xp, x, axis: int):
    return np.cumsum(x, axis=axis) if xp is np else xp.cumulative_sum(x, axis=axis)


def _root(features):
    xp = _ns(features)
    rot_vel = features[..., 0]
    ang = xp.concat([xp.zeros_like(rot_vel[..., :1]), rot_vel[..., :-1]], axis=-1)
    ang = _cumsum(xp, ang, -1)  # (..., T)
    zero = xp.zeros_like(ang)
    root_quat = xp.stack([xp.cos(ang), zero, xp.sin(ang), zero], axis=-1)
    lin = xp.concat([xp.zeros_like(features[..., :1, 1:3]), features[..., :-1, 1:3]], axis=-2)  # (..., T, 2)
    vel = xp.stack([lin[..., 0], xp.zeros_like(lin[..., 0]), lin[..., 1]], axis=-1)
    r_pos = _cumsum(xp, yaw_rotate(qconj(root_quat), vel), -2)
    root_pos = xp.stack([r_pos[..., 0], features[..., 3], r_pos[..., 2]], axis=-1)
    return root_quat, root_pos


def features_to_joints(features, layout: SkeletonLayout | None = None, check_finite: bool = True):
    """Joint positions from features exactly like HumanML3D's ``recover_from_ric``.

    Works on NumPy arrays ((T, D) or (..., T, D); decoded in float64, returned in the input's float dtype)
    and torch tensors (any batch shape, device and float dtype; differentiable). Channels beyond the base
    dim (the 269 orientation) are ignored.

    Args:
        features: (..., T, D), D in {263, 251, 269, 257} (or 12J−1 / 12J+5 with ``layout``).
        layout: skeleton layout; ``None`` → inferred from D.
        check_finite: reject NaN/Inf (a device sync on GPU tensors; pass False inside training loops).
    Returns:
        (..., T, J, 3) positions.
    """
    layout, num_joints, _ = _check_features(features, layout, check_finite)
    if isinstance(features, np.ndarray):
        return _decode_numpy(np.asarray(features, dtype=np.float64), num_joints).astype(features.dtype, copy=False)
    x = features
    xp = _ns(x)
    root_quat, root_pos = _root(x)
    ric = x[..., 4 : 4 + 3 * (num_joints - 1)]
    ric = xp.reshape(ric, tuple(ric.shape[:-1]) + (num_joints - 1, 3))
    ric = yaw_rotate(qconj(root_quat)[..., None, :], ric)
    offset = xp.stack([root_pos[..., 0], xp.zeros_like(root_pos[..., 0]), root_pos[..., 2]], axis=-1)
    return xp.concat([root_pos[..., None, :], ric + offset[..., None, :]], axis=-2)


def _decode_numpy(x: np.ndarray, num_joints: int) -> np.ndarray:
    """``recover_from_ric`` for float64 NumPy (..., T, D), written out for speed (same math as the torch
    path: the inverse heading ``(cos a, 0, −sin a, 0)`` is a rotation about Y by −2a)."""
    num_frames = x.shape[-2]
    ang = np.zeros(x.shape[:-1])
    if num_frames > 1:
        np.cumsum(x[..., :-1, 0], axis=-1, out=ang[..., 1:])
    c, s = np.cos(ang), np.sin(ang)
    cos, sin = c * c - s * s, -2.0 * c * s  # (..., T)
    root_x = np.zeros(x.shape[:-1])
    root_z = np.zeros(x.shape[:-1])
    if num_frames > 1:
        lx, lz = x[..., :-1, 1], x[..., :-1, 2]
        np.cumsum(cos[..., 1:] * lx + sin[..., 1:] * lz, axis=-1, out=root_x[..., 1:])
        np.cumsum(cos[..., 1:] * lz - sin[..., 1:] * lx, axis=-1, out=root_z[..., 1:])
    out = np.empty(x.shape[:-1] + (num_joints, 3))
    out[..., 0, 0] = root_x
    out[..., 0, 1] = x[..., 3]
    out[..., 0, 2] = root_z
    ric = x[..., 4 : 4 + 3 * (num_joints - 1)].reshape(x.shape[:-1] + (num_joints - 1, 3))
    cos, sin = cos[..., None], sin[..., None]
    out[..., 1:, 0] = cos * ric[..., 0] + sin * ric[..., 2] + root_x[..., None]
    out[..., 1:, 1] = ric[..., 1]
    out[..., 1:, 2] = cos * ric[..., 2] - sin * ric[..., 0] + root_z[..., None]
    return out


def features_with_joints(features, joints) -> np.ndarray:
    """``features`` (T, D) with the position channels rewritten so that they decode to ``joints`` (T, J, 3).

    Root height, root planar velocity and the rotation-invariant coordinates (``ric``) are recomputed from
    ``joints`` in the heading frames of ``features`` (channel 0 is kept), so
    ``features_to_joints(features_with_joints(f, j)) == j`` up to float error, after ``joints`` is moved
    so that its first root position is on the Y axis (where decoding starts). Rotations, local
    velocities, contacts and the 269 orientation are left as they are: use it after a change of positions
    that keeps the pose's rotations (rigidifying, foot-skate clean-up). NumPy, float32 out.
    """
    layout, num_joints, _ = _check_features(features, None, True)
    x = np.array(features, dtype=np.float64)
    pos = np.asarray(joints, dtype=np.float64)
    if pos.shape != (x.shape[0], num_joints, 3):
        raise MotionError(f"joints must have shape ({x.shape[0]}, {num_joints}, 3) to match the features, "
                          f"got {pos.shape}")
    if not np.isfinite(pos).all():
        raise MotionError("joints contain NaN/Inf")
    pos = pos - np.array([pos[0, 0, 0], 0.0, pos[0, 0, 2]])
    ang = np.zeros(x.shape[0])
    np.cumsum(x[:-1, 0], out=ang[1:])
    cos, sin = np.cos(2 * ang), -np.sin(2 * ang)  # as in _decode_numpy: a turn about Y by -2a
    step = pos[1:, 0] - pos[:-1, 0]  # (T-1, 3) root displacement of frame t -> t+1
    c, s = cos[1:], sin[1:]
    x[:-1, 1] = c * step[:, 0] - s * step[:, 2]
    x[:-1, 2] = s * step[:, 0] + c * step[:, 2]
    x[:, 3] = pos[:, 0, 1]
    rel = pos[:, 1:] - pos[:, :1]  # (T, J-1, 3)
    ric = x[:, 4 : 4 + 3 * (num_joints - 1)].reshape(x.shape[0], num_joints - 1, 3)
    ric[..., 0] = cos[:, None] * rel[..., 0] - sin[:, None] * rel[..., 2]
    ric[..., 1] = pos[:, 1:, 1]
    ric[..., 2] = sin[:, None] * rel[..., 0] + cos[:, None] * rel[..., 2]
    return x.astype(np.float32)


def features_to_root_orientation(
    features, orientation_frame: OrientationFrame = "global", check_finite: bool = True
):
    """Pelvis rotation matrices (..., T, 3, 3) from 269/257-dim features, NumPy or torch.

    Returned in the frame of :func:`features_to_joints` for both ``orientation_frame`` choices (which must
    match the encoder's): ``"global"`` reads channels 263:269 directly, ``"heading"`` composes them with the
    integrated heading ``root_quat⁻¹`` of :func:`features_to_root`.
    """
    _, num_joints, with_orient = _check_features(features, None, check_finite)
    if not with_orient:
        raise MotionError(
            f"{features.shape[-1]}-dim features carry no root orientation (expected "
            f"{feature_dim(num_joints, True)} dims)"
        )
    if orientation_frame not in _ORIENTATION_FRAMES:
        raise MotionError(f"orientation_frame must be one of {_ORIENTATION_FRAMES}, got {orientation_frame!r}")
    x = _floating_like(features)
    base = feature_dim(num_joints)
    rot = sixd_to_matrix(x[..., base : base + ORIENTATION_DIMS])
    if orientation_frame == "heading":
        root_quat, _ = _root(x)
        rot = quat_to_matrix(qconj(root_quat)) @ rot
    if isinstance(features, np.ndarray):
        return rot.astype(features.dtype, copy=False)
    return rot


def hml3d_chain_joints(features, target_offsets, root_quats=None, layout: SkeletonLayout | None = None):
    """Positions from the 6D chain rotations (channels ``rot``) by chain FK, relative to the root.

    HumanML3D's ``recover_from_rot`` uses the integrated heading (:func:`features_to_root`, which starts
    at zero) as the root rotation; here the caller chooses it. With the encoder's headings ``r_rot[t]``
    (``hml3d_inverse_kinematics(canonical, T2M22, smooth_sigma=20, first_root=<the encoder's>)[:, 0]``)
    it gives the canonical clip minus its root position, which is how the tests check the ``rot``
    channels.

    Args:
        features: (..., T, D). target_offsets: (J, 3). root_quats: (..., T, 4) or ``None`` (identity).
    Returns:
        (..., T, J, 3) positions with the root at the origin.
    """
    layout, num_joints, _ = _check_features(features, layout)
    x = _floating_like(features)
    xp = array_namespace(x)
    sl = feature_slices(feature_dim(num_joints))["rot"]
    six = xp.reshape(x[..., sl], tuple(x.shape[:-1]) + (num_joints - 1, 6))
    local = sixd_to_quat(six)
    if root_quats is None:
        root_quats = xp.zeros(tuple(x.shape[:-1]) + (4,), dtype=x.dtype)
        root_quats = xp.concat([root_quats[..., :1] + 1, root_quats[..., 1:]], axis=-1)
    quats = xp.concat([xp.asarray(root_quats, dtype=x.dtype)[..., None, :], local], axis=-2)
    offsets = xp.asarray(target_offsets, dtype=x.dtype)
    root_pos = xp.zeros(tuple(x.shape[:-1]) + (3,), dtype=x.dtype)
    return hml3d_forward_kinematics(quats, root_pos, offsets, layout)


# ---------------------------------------------------------------------------------------- statistics
def std_groups(dim: int = 263) -> list[tuple[str, slice]]:
    """The channel groups whose std ``cal_mean_variance`` averages (plus ``root_orient`` for 269/257)."""
    return list(feature_slices(dim).items())


_FEAT_BIAS_GROUPS = ("root_rot_vel", "root_lin_vel", "root_y", "foot_contact")


def apply_feat_bias(stats: NormStats, feat_bias: float = 5.0) -> NormStats:
    """Divide the std of the root groups (channels 0:4) and the foot contacts by ``feat_bias``.

    This turns dataset stats into the T2M evaluator's ``meta/std.npy`` (text-to-motion trains the
    evaluator's movement encoder with ``opt.feat_bias = 5``). Other groups (including the 269
    orientation) are unchanged. Returns a new :class:`NormStats`.
    """
    if not (np.isfinite(feat_bias) and feat_bias > 0):
        raise MotionError(f"feat_bias must be a positive number, got {feat_bias}")
    slices = feature_slices(stats.dim)
    std = stats.std.astype(np.float64).copy()
    for name in _FEAT_BIAS_GROUPS:
        std[slices[name]] /= feat_bias
    return NormStats(stats.mean.copy(), std)


def hml3d_norm_stats(
    data,
    feat_bias: float = 1.0,
    min_std: float = 1e-6,
    skip_nonfinite: bool = False,
    dim: int | None = None,
) -> NormStats:
    """HumanML3D normalisation statistics (``cal_mean_variance``) over a set of feature clips.

    Mean per channel; std per channel (population, ``ddof=0``) then replaced by its mean within each
    group of :func:`std_groups`; then :func:`apply_feat_bias` when ``feat_bias != 1``. Computed in float64
    (two passes), stored as float32. ``min_std`` keeps constant groups (e.g. never-moving contacts in a
    tiny set) strictly positive.

    Args:
        data: (N, D) array or a sequence of (T_i, D) arrays (D in 263/251/269/257).
        feat_bias: 1 for the dataset's Mean/Std, 5 for the T2M evaluator's meta stats.
        skip_nonfinite: drop clips containing NaN/Inf (as the reference does) instead of raising.
        dim: expected D (checked) or ``None``.
    """
    clips = [data] if isinstance(data, np.ndarray) else list(data)
    if not clips:
        raise MotionError("no feature clips given")
    arrays = []
    for i, clip in enumerate(clips):
        arr = clip.detach().cpu().numpy() if is_torch_array(clip) else np.asarray(clip)
        if arr.ndim != 2:
            raise MotionError(f"feature clip {i} must have shape (T, D), got {tuple(arr.shape)}")
        if not np.issubdtype(arr.dtype, np.floating):
            raise MotionError(f"feature clip {i} must be floating point, got dtype {arr.dtype}")
        if not np.isfinite(arr).all():
            if skip_nonfinite:
                continue
            raise MotionError(f"feature clip {i} contains NaN or Inf")
        arrays.append(arr)
    if not arrays:
        raise MotionError("every feature clip contains NaN or Inf")
    dims = {a.shape[1] for a in arrays}
    if len(dims) != 1:
        raise MotionError(f"feature clips have different dims {sorted(dims)}")
    found = dims.pop()
    if dim is not None and found != dim:
        raise MotionError(f"expected {dim}-dim features, got {found}")
    _decode_dim(found)
    count = sum(a.shape[0] for a in arrays)
    if count == 0:
        raise MotionError("feature clips have no frames")
    mean = sum(a.sum(axis=0, dtype=np.float64) for a in arrays) / count
    var = sum(((a.astype(np.float64) - mean) ** 2).sum(axis=0) for a in arrays) / count
    std = np.sqrt(var)
    for _, sl in std_groups(found):
        std[sl] = std[sl].mean()
    stats = NormStats(mean, np.maximum(std, min_std))
    return stats if feat_bias == 1.0 else apply_feat_bias(stats, feat_bias)


#: Aliases of :func:`hml3d_norm_stats` (names used by the dataset builders).
feature_stats = hml3d_norm_stats
humanml3d_stats = hml3d_norm_stats
