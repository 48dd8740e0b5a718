"""Skeleton layouts: joint names, parents, kinematic chains and the indices HumanML3D processing needs.

* ``T2M22`` — the 22-joint SMPL body used by HumanML3D (also the first 22 joints of SMPL-H/SMPL-X).
* ``KIT21`` — the 21-joint KIT-ML layout (251-dim features).
* ``SMPLX_BODY`` — the SMPL-X body tree (same 22 joints and parents as T2M22; its rest offsets come from
  the ``mannequin-x`` package at run time, see :func:`unimotion.motion.smplx_params.smplx_rest_offsets`).

``raw_offsets`` are the unit directions of each bone in the rest pose (the body faces +Z, Y is up, the
body's left is +X), as in HumanML3D's ``paramUtil``; inverse kinematics measures rotations against them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class SkeletonLayout:
    name: str
    joint_names: tuple[str, ...]
    kinematic_chain: tuple[tuple[int, ...], ...]
    raw_offsets: np.ndarray = field(repr=False)  # (J, 3) unit bone directions, root row zero
    face_joints: tuple[int, int, int, int]  # r_hip, l_hip, r_shoulder, l_shoulder
    foot_left: tuple[int, int]  # ankle, foot (contact detection)
    foot_right: tuple[int, int]
    leg: tuple[int, int]  # knee, ankle of one leg: its length scales the uniform skeleton
    fps: float = 20.0

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def parents(self) -> np.ndarray:
        """(J,) parent index of every joint, -1 for the root, derived from the kinematic chains."""
        parents = np.full(self.num_joints, -1, dtype=np.int64)
        for chain in self.kinematic_chain:
            for parent, child in zip(chain[:-1], chain[1:], strict=True):
                parents[child] = parent
        return parents

    @property
    def bones(self) -> list[tuple[int, int]]:
        """(parent, child) pairs, e.g. for drawing stick figures."""
        return [(int(p), j) for j, p in enumerate(self.parents) if p >= 0]

    def index(self, name: str) -> int:
        return self.joint_names.index(name)


def _chains(*chains: list[int]) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(c) for c in chains)


T2M22 = SkeletonLayout(
    name="t2m22",
    joint_names=(
        "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
        "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
        "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
        "left_wrist", "right_wrist",
    ),
    kinematic_chain=_chains(
        [0, 2, 5, 8, 11], [0, 1, 4, 7, 10], [0, 3, 6, 9, 12, 15], [9, 14, 17, 19, 21], [9, 13, 16, 18, 20]
    ),
    raw_offsets=np.array(
        [[0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, -1, 0], [0, 1, 0], [0, -1, 0],
         [0, -1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 1, 0], [1, 0, 0], [-1, 0, 0], [0, 0, 1],
         [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0]],
        dtype=np.float64,
    ),
    face_joints=(2, 1, 17, 16),
    foot_left=(7, 10),
    foot_right=(8, 11),
    leg=(5, 8),
    fps=20.0,
)

KIT21 = SkeletonLayout(
    name="kit21",
    joint_names=(
        "root", "torso_lower", "torso_upper", "neck", "head", "right_shoulder", "right_elbow",
        "right_wrist", "left_shoulder", "left_elbow", "left_wrist", "right_hip", "right_knee",
        "right_ankle", "right_foot_mid", "right_toe", "left_hip", "left_knee", "left_ankle",
        "left_foot_mid", "left_toe",
    ),
    kinematic_chain=_chains(
        [0, 11, 12, 13, 14, 15], [0, 16, 17, 18, 19, 20], [0, 1, 2, 3, 4], [3, 5, 6, 7], [3, 8, 9, 10]
    ),
    raw_offsets=np.array(
        [[0, 0, 0], [0, 1, 0], [0, 1, 0], [0, 1, 0], [0, 1, 0], [1, 0, 0], [0, -1, 0], [0, -1, 0],
         [-1, 0, 0], [0, -1, 0], [0, -1, 0], [1, 0, 0], [0, -1, 0], [0, -1, 0], [0, 0, 1], [0, 0, 1],
         [-1, 0, 0], [0, -1, 0], [0, -1, 0], [0, 0, 1], [0, 0, 1]],
        dtype=np.float64,
    ),
    face_joints=(11, 16, 5, 8),
    foot_left=(19, 20),
    foot_right=(14, 15),
    leg=(17, 18),
    fps=12.5,
)

# SMPL-X body joints in SMPL-X order (identical to the first 22 SMPL joints), with SMPL-X naming.
SMPLX_BODY = SkeletonLayout(
    name="smplx_body",
    joint_names=(
        "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
        "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
        "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
        "left_wrist", "right_wrist",
    ),
    kinematic_chain=T2M22.kinematic_chain,
    raw_offsets=T2M22.raw_offsets,
    face_joints=T2M22.face_joints,
    foot_left=T2M22.foot_left,
    foot_right=T2M22.foot_right,
    leg=T2M22.leg,
    fps=30.0,
)

#: T2M22 joint i ↔ its mirror joint (left/right pairs swapped, the spine and head unchanged): the permutation that
#: goes with a horizontal image flip (u → W − u) or a mirrored motion.
T2M22_MIRROR: tuple[int, ...] = (0, 2, 1, 3, 5, 4, 6, 8, 7, 9, 11, 10, 12, 14, 13, 15, 17, 16, 19, 18, 21, 20)



def mirror_joints_2d(joints_2d, width: float, mirror=T2M22_MIRROR):
    """2D joints (..., J, 2) pixels of an image flipped horizontally: u → width − u, left/right joints swapped.
    Works on numpy arrays and torch tensors; returns a new array."""
    out = joints_2d[..., list(mirror), :]
    out[..., 0] = width - out[..., 0]
    return out


LAYOUTS = {layout.name: layout for layout in (T2M22, KIT21, SMPLX_BODY)}


def get_layout(name_or_joints: str | int) -> SkeletonLayout:
    """A layout by name ('t2m22', 'kit21', 'smplx_body') or by joint count (22 → t2m22, 21 → kit21)."""
    if isinstance(name_or_joints, int):
        by_count = {22: T2M22, 21: KIT21}
        if name_or_joints not in by_count:
            from ..errors import MotionError

            raise MotionError(f"no skeleton layout has {name_or_joints} joints (expected 22 or 21)")
        return by_count[name_or_joints]
    return LAYOUTS[name_or_joints]
