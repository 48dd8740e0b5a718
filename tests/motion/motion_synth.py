"""Synthetic but realistic joint clips for the motion tests: joint-rotation FK of smooth random poses.

Poses are built with :func:`unimotion.motion.skeleton.forward_kinematics` (BVH/SMPL joint-rotation
semantics, independent of the HumanML3D chain code under test) on a rest skeleton: the SMPL-X neutral
rest joints for T2M22, a hand-made skeleton for KIT21.
"""

from __future__ import annotations

import numpy as np

from unimotion.motion.rotations import axis_angle_to_quat, axis_rotation_quat, quat_multiply
from unimotion.motion.skeleton import forward_kinematics
from unimotion.motion.skeletons import T2M22, SkeletonLayout

# KIT21 bone lengths (metres) along the layout's raw directions, with small off-axis components.
_KIT_LENGTHS = np.array(
    [0.0, 0.1, 0.25, 0.2, 0.15, 0.18, 0.28, 0.25, 0.18, 0.28, 0.25, 0.1, 0.42, 0.4, 0.08, 0.07,
     0.1, 0.42, 0.4, 0.08, 0.07]
)


def rest_offsets(layout: SkeletonLayout = T2M22) -> np.ndarray:
    """(J, 3) actual rest offsets (child − parent), not HumanML3D's axis-aligned convention."""
    if layout.num_joints == 22:
        from unimotion.motion.hml3d import _smplx_neutral_rest_joints

        rest = _smplx_neutral_rest_joints()
        parents = layout.parents
        off = np.zeros_like(rest)
        off[1:] = rest[1:] - rest[parents[1:]]
        return off
    rng = np.random.default_rng(123)
    off = layout.raw_offsets * _KIT_LENGTHS[:, None] + rng.normal(0, 0.01, (layout.num_joints, 3))
    off[0] = 0
    return off


def make_clip(
    num_frames: int = 60,
    seed: int = 0,
    layout: SkeletonLayout = T2M22,
    velocity=(0.0, 0.0, 1.2),
    turn_rate: float = 0.0,
    start_yaw: float = 0.0,
    pose_amplitude: float = 0.35,
    scale: float = 1.0,
    limb_scale: float = 1.0,
    height: float = 0.95,
    fps: float = 20.0,
) -> np.ndarray:
    """(T, J, 3) positions: smooth random joint rotations, a yawing root moving with ``velocity`` (m/s,
    in the body frame: +Z forward), ``turn_rate`` rad/s. ``scale``/``limb_scale`` change proportions."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_frames) / fps
    num_joints = layout.num_joints
    # smooth joint rotations: sums of a few sinusoids per axis
    freqs = rng.uniform(0.2, 1.5, (3, num_joints, 3))
    phases = rng.uniform(0, 2 * np.pi, (3, num_joints, 3))
    amps = rng.uniform(0.3, 1.0, (3, num_joints, 3)) * pose_amplitude / 2
    aa = np.sum(amps[:, None] * np.sin(2 * np.pi * freqs[:, None] * t[None, :, None, None] + phases[:, None]), axis=0)
    aa[:, 0] *= 0.3  # (T, J, 3); a gentle root tilt
    local = axis_angle_to_quat(aa)
    yaw = start_yaw + turn_rate * t
    local[:, 0] = quat_multiply(axis_rotation_quat(1, yaw), local[:, 0])
    # root path: integrate the body-frame velocity along the heading
    v = np.asarray(velocity, dtype=np.float64)
    world_v = np.stack([np.cos(yaw) * v[0] + np.sin(yaw) * v[2], np.zeros_like(yaw),
                        -np.sin(yaw) * v[0] + np.cos(yaw) * v[2]], axis=-1)
    root = np.cumsum(world_v / fps, axis=0) + np.array([0.3, height * scale, -0.2])
    root[:, 1] += 0.02 * np.sin(2 * np.pi * 1.8 * t)
    offsets = rest_offsets(layout) * scale
    limbs = [j for j in range(num_joints) if layout.parents[j] not in (-1, 0)]
    offsets[limbs] *= limb_scale
    pos, _ = forward_kinematics(local, root, offsets, layout.parents.tolist())
    return pos
