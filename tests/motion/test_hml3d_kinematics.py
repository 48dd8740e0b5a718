"""HumanML3D chain kinematics in unimotion.motion.skeleton: IK, FK, facing, offsets, quirks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from motion_synth import make_clip, rest_offsets
from scipy.spatial.transform import Rotation

from unimotion.errors import MotionError
from unimotion.motion.rotations import quat_apply, quat_inverse, quat_multiply, quat_to_matrix
from unimotion.motion.skeleton import (
    bone_rotations,
    chain_predecessors,
    face_direction,
    heading_quat,
    hml3d_forward_kinematics,
    hml3d_inverse_kinematics,
    offsets_from_joints,
    quat_between_np,
    quat_to_cont6d,
    yaw_rotate,
)
from unimotion.motion.skeletons import KIT21, T2M22


def _rest_pose(layout=T2M22) -> np.ndarray:
    off = rest_offsets(layout)
    pos = np.zeros_like(off)
    for j, p in enumerate(layout.parents):
        if p >= 0:
            pos[j] = pos[p] + off[j]
    return pos


def _yaw_matrix(theta: float) -> np.ndarray:
    return Rotation.from_euler("y", theta).as_matrix()


@pytest.mark.parametrize("layout", [T2M22, KIT21], ids=["t2m22", "kit21"])
@pytest.mark.parametrize("smooth", [None, 20.0])
def test_fk_of_ik_reproduces_positions(layout, smooth):
    x = make_clip(40, seed=3, layout=layout, turn_rate=1.0)
    quats = hml3d_inverse_kinematics(x, layout, smooth_sigma=smooth)
    assert quats.shape == (40, layout.num_joints, 4)
    np.testing.assert_allclose(np.linalg.norm(quats, axis=-1), 1.0, atol=1e-12)
    offsets = offsets_from_joints(x[0], layout)
    # bone lengths of frame 0 → FK reproduces every frame whose bones have those lengths (rigid clip)
    np.testing.assert_allclose(hml3d_forward_kinematics(quats, x[:, 0], offsets, layout), x, atol=1e-9)


def test_fk_with_other_offsets_keeps_directions_and_sets_lengths():
    x = make_clip(10, seed=4)
    quats = hml3d_inverse_kinematics(x, T2M22)
    lengths = np.linspace(0.05, 0.5, 22)
    offsets = T2M22.raw_offsets * lengths[:, None]
    y = hml3d_forward_kinematics(quats, x[:, 0], offsets, T2M22)
    parents = T2M22.parents
    bx, by = x[:, 1:] - x[:, parents[1:]], y[:, 1:] - y[:, parents[1:]]
    np.testing.assert_allclose(np.linalg.norm(by, axis=-1), np.broadcast_to(lengths[1:], (10, 21)), atol=1e-12)
    cos = np.sum(bx * by, -1) / np.linalg.norm(bx, axis=-1) / np.linalg.norm(by, axis=-1)
    np.testing.assert_allclose(cos, 1.0, atol=1e-12)


def test_ik_root_is_pure_yaw_with_nonnegative_w():
    x = make_clip(30, seed=5, turn_rate=2.5, start_yaw=2.5)
    root = hml3d_inverse_kinematics(x, T2M22, smooth_sigma=20)[:, 0]
    assert np.all(root[:, [1, 3]] == 0)
    assert np.all(root[:, 0] >= 0)


def test_branch_chains_restart_from_the_root_rotation():
    x = make_clip(5, seed=6)
    quats = hml3d_inverse_kinematics(x, T2M22)
    root = quats[:, 0]
    # independent bone rotation of the right collar bone 9→14
    bone = x[:, 14] - x[:, 9]
    bone /= np.linalg.norm(bone, axis=-1, keepdims=True)
    rot14 = np.stack([Rotation.align_vectors(b[None], T2M22.raw_offsets[14][None])[0].as_quat() for b in bone])
    rot14 = rot14[:, [3, 0, 1, 2]]  # scipy is (x, y, z, w)
    expected = quat_multiply(quat_inverse(root), rot14)
    np.testing.assert_allclose(quat_to_matrix(quats[:, 14]), quat_to_matrix(expected), atol=1e-9)
    # and not relative to spine3's accumulated rotation
    rot9 = quat_multiply(root, quat_multiply(quats[:, 3], quat_multiply(quats[:, 6], quats[:, 9])))
    wrong = quat_multiply(quat_inverse(rot9), rot14)
    assert np.abs(quat_to_matrix(quats[:, 14]) - quat_to_matrix(wrong)).max() > 1e-3
    assert chain_predecessors(T2M22)[[14, 13, 12, 17]].tolist() == [0, 0, 9, 14]


def test_bone_rotations_map_rest_directions_onto_bones():
    x = make_clip(8, seed=7)
    rot = bone_rotations(x, T2M22)
    parents = T2M22.parents
    bone = x[:, 1:] - x[:, parents[1:]]
    bone /= np.linalg.norm(bone, axis=-1, keepdims=True)
    np.testing.assert_allclose(quat_apply(rot, np.broadcast_to(T2M22.raw_offsets[1:], bone.shape)), bone, atol=1e-12)


def test_offsets_from_joints_convention():
    rest = _rest_pose()
    off = offsets_from_joints(rest, T2M22)
    parents = T2M22.parents
    lengths = np.linalg.norm(rest[1:] - rest[parents[1:]], axis=-1)
    np.testing.assert_allclose(off[1:], T2M22.raw_offsets[1:] * lengths[:, None])
    assert np.all(off[0] == 0)
    with pytest.raises(MotionError, match="22, 3"):
        offsets_from_joints(rest[:21], T2M22)


def test_face_direction_of_rest_pose_and_yaw():
    rest = _rest_pose()
    for quirk in (True, False):
        np.testing.assert_allclose(face_direction(rest, T2M22, reference_quirk=quirk), [0, 0, 1], atol=0.05)
    theta = 0.7
    turned = rest @ _yaw_matrix(theta).T
    expected = _yaw_matrix(theta) @ face_direction(rest, T2M22, reference_quirk=False)
    np.testing.assert_allclose(face_direction(turned, T2M22, reference_quirk=False), expected, atol=1e-12)


def test_face_direction_quirk_uses_left_minus_right_hips():
    # hips 1 m apart, shoulders 0.4 m apart: the hip term wins and its sign decides the direction
    pose = _rest_pose()
    pose[1] = [0.5, 0.9, 0.0]  # left hip (+X)
    pose[2] = [-0.5, 0.9, 0.0]  # right hip
    pose[16] = [0.2, 1.4, 0.0]  # left shoulder
    pose[17] = [-0.2, 1.4, 0.0]  # right shoulder
    # consistent: across = (r_hip - l_hip) + (r_sh - l_sh) = (-1.4, 0, 0) → forward = Y × across = +Z
    np.testing.assert_allclose(face_direction(pose, T2M22, reference_quirk=False), [0, 0, 1], atol=1e-12)
    # reference IK: across = (l_hip - r_hip) + (r_sh - l_sh) = (+0.6, 0, 0) → forward = -Z
    np.testing.assert_allclose(face_direction(pose, T2M22, reference_quirk=True), [0, 0, -1], atol=1e-12)


def test_face_direction_smoothing_is_a_gaussian_over_frames():
    x = make_clip(50, seed=8, turn_rate=1.5)
    raw = face_direction(x, T2M22, reference_quirk=True)  # unit vectors; the smoothing acts before normalising
    smoothed = face_direction(x, T2M22, reference_quirk=True, smooth_sigma=3.0)
    # independent Gaussian with 'nearest' edges on the un-normalised vectors
    across = (x[:, 1] - x[:, 2]) + (x[:, 17] - x[:, 16])
    across /= np.linalg.norm(across, axis=-1, keepdims=True)
    fwd = np.cross([0, 1, 0], across)
    radius = int(4 * 3.0 + 0.5)
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / 3.0) ** 2)
    k /= k.sum()
    padded = np.concatenate([np.repeat(fwd[:1], radius, 0), fwd, np.repeat(fwd[-1:], radius, 0)])
    expected = np.stack([np.sum(k[:, None] * padded[t : t + 2 * radius + 1], 0) for t in range(50)])
    expected /= np.linalg.norm(expected, axis=-1, keepdims=True)
    np.testing.assert_allclose(smoothed, expected, atol=1e-12)
    assert np.abs(smoothed - raw).max() > 1e-3


def test_heading_turns_forward_onto_z():
    theta = np.linspace(-3.1, 3.1, 9)
    forward = np.stack([np.sin(theta), np.zeros_like(theta), np.cos(theta)], -1)
    q = heading_quat(forward)
    np.testing.assert_allclose(quat_apply(q, forward), np.tile([0, 0, 1.0], (9, 1)), atol=1e-12)


def test_quat_between_degenerate_cases():
    v = np.array([[0, 0, -1.0], [0, -1.0, 0], [1.0, 2.0, 3.0]])
    q = quat_between_np(v, -v)  # exactly opposite: a half turn, never NaN
    assert np.isfinite(q).all()
    np.testing.assert_allclose(quat_apply(q, v), -v, atol=1e-12)
    np.testing.assert_allclose(np.abs(q[0]), [0, 0, 1, 0], atol=1e-12)  # facing −Z → half turn about ±Y
    np.testing.assert_allclose(quat_between_np(np.zeros(3), [1.0, 0, 0]), [1, 0, 0, 0])


def test_quat_to_cont6d_and_yaw_rotate_match_general_formulas():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(10, 4))
    m = quat_to_matrix(q)
    np.testing.assert_allclose(quat_to_cont6d(q), np.concatenate([m[..., 0], m[..., 1]], -1), atol=1e-12)
    ang = rng.uniform(-3, 3, 10)
    yaw = np.stack([np.cos(ang), 0 * ang, np.sin(ang), 0 * ang], -1)
    v = rng.normal(size=(10, 3))
    np.testing.assert_allclose(yaw_rotate(yaw, v), quat_apply(yaw, v), atol=1e-12)


def test_forward_kinematics_torch_matches_numpy_and_differentiates():
    x = make_clip(6, seed=9)
    quats = hml3d_inverse_kinematics(x, T2M22)
    offsets = offsets_from_joints(x[0], T2M22)
    expected = hml3d_forward_kinematics(quats, x[:, 0], offsets, T2M22)
    qt = torch.tensor(quats, requires_grad=True)
    out = hml3d_forward_kinematics(qt, torch.tensor(x[:, 0]), torch.tensor(offsets), T2M22)
    np.testing.assert_allclose(out.detach().numpy(), expected, atol=1e-12)
    out.square().sum().backward()
    assert qt.grad is not None and torch.isfinite(qt.grad).all()


def test_kinematics_shape_errors():
    x = make_clip(4, seed=1)
    with pytest.raises(MotionError, match="22, 3"):
        hml3d_inverse_kinematics(x[:, :21], T2M22)
    quats = hml3d_inverse_kinematics(x, T2M22)
    with pytest.raises(MotionError, match="quats"):
        hml3d_forward_kinematics(quats[:, :21], x[:, 0], offsets_from_joints(x[0], T2M22), T2M22)
    with pytest.raises(MotionError, match="offsets"):
        hml3d_forward_kinematics(quats, x[:, 0], np.zeros((21, 3)), T2M22)
