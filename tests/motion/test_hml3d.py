"""The HumanML3D codec (unimotion.motion.hml3d): agreement with the per-frame reference, round trips,
invariances, the 269 variant, normalisation statistics and input validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from motion_synth import make_clip, rest_offsets
from scipy.spatial.transform import Rotation

from unimotion.errors import MotionError
from unimotion.motion import hml3d
from unimotion.motion.rotations import axis_angle_to_quat, axis_rotation_quat, quat_multiply, quat_to_matrix
from unimotion.motion.skeleton import (
    face_direction,
    heading_quat,
    hml3d_forward_kinematics,
    hml3d_inverse_kinematics,
    offsets_from_joints,
    quat_to_cont6d,
)
from unimotion.motion.skeletons import KIT21, SMPLX_BODY, T2M22
from unimotion.motion.stats import NormStats

TOL = 1e-4


def _kit_target() -> np.ndarray:
    return hml3d.target_offsets_from_joints(make_clip(1, seed=99, layout=KIT21, scale=1.1)[0], KIT21)


def _ref_features(reference, joints, layout=T2M22, target=None, **kw):
    target = hml3d.default_target_offsets(layout) if target is None else target
    return reference.encode_per_frame(joints, target, layout, hml3d.FEET_THRESHOLDS[layout.name], **kw)


def _still(num_frames=30, seed=21):
    return np.repeat(make_clip(1, seed=seed), num_frames, axis=0)


CASES = {
    "walk": lambda: make_clip(80, seed=1),
    "walk_and_turn": lambda: make_clip(120, seed=2, turn_rate=0.8),
    "two_frames": lambda: make_clip(2, seed=3),
    "standing_still": _still,
    "walking_backwards": lambda: make_clip(60, seed=4, velocity=(0.0, 0.0, -1.0)),
    "sidestep": lambda: make_clip(60, seed=5, velocity=(0.8, 0.0, 0.0)),
    "below_the_floor": lambda: make_clip(50, seed=6, height=-1.5),
    "other_proportions": lambda: make_clip(50, seed=7, scale=0.55, limb_scale=1.4),
    "turning_through_minus_z": lambda: make_clip(100, seed=8, turn_rate=2.5, start_yaw=2.4),
    "slow_feet": lambda: make_clip(60, seed=9, velocity=(0.0, 0.0, 0.2), pose_amplitude=0.05),
}


# ---------------------------------------------------------------------------------------- agreement
@pytest.mark.parametrize("case", list(CASES))
def test_agrees_with_per_frame_reference(case, reference):
    joints = CASES[case]()
    feats = hml3d.joints_to_features(joints)
    expected = _ref_features(reference, joints)
    assert feats.shape == (len(joints) - 1, 263) and feats.dtype == np.float32
    assert np.abs(feats - expected).max() <= TOL
    decoded = hml3d.features_to_joints(feats)
    assert decoded.shape == (len(joints) - 1, 22, 3)
    assert np.abs(decoded - reference.decode_per_frame(feats, 22)).max() <= TOL


@pytest.mark.parametrize("case", ["walk_and_turn", "turning_through_minus_z", "two_frames", "standing_still"])
def test_identity_first_root_agrees_with_per_frame_reference(case, reference):
    joints = CASES[case]()
    feats = hml3d.joints_to_features(joints, first_root="identity")
    assert np.abs(feats - _ref_features(reference, joints, first_root="identity")).max() <= TOL


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    num_frames=st.integers(2, 45),
    turn=st.floats(-3.0, 3.0),
    speed=st.floats(-1.5, 1.5),
    scale=st.floats(0.5, 1.5),
    height=st.floats(-2.0, 2.0),
)
def test_agrees_with_reference_on_random_clips(reference, seed, num_frames, turn, speed, scale, height):
    joints = make_clip(num_frames, seed=seed, turn_rate=turn, velocity=(0.3 * speed, 0.0, speed),
                       scale=scale, height=height, start_yaw=seed % 7)
    feats = hml3d.joints_to_features(joints)
    assert np.abs(feats - _ref_features(reference, joints)).max() <= TOL
    assert np.abs(hml3d.features_to_joints(feats) - reference.decode_per_frame(feats, 22)).max() <= TOL


def test_kit_agrees_with_reference(reference):
    joints = make_clip(60, seed=10, layout=KIT21, turn_rate=0.5)
    tgt = _kit_target()
    feats = hml3d.joints_to_features(joints, tgt, layout=KIT21)
    assert feats.shape == (59, 251)
    assert np.abs(feats - _ref_features(reference, joints, KIT21, tgt)).max() <= TOL
    assert np.abs(hml3d.features_to_joints(feats) - reference.decode_per_frame(feats, 21)).max() <= TOL


@pytest.mark.parametrize("first_root", ["smoothed", "identity"])
@pytest.mark.parametrize("frame", ["global", "heading"])
def test_269_agrees_with_reference(reference, frame, first_root):
    joints = make_clip(70, seed=11, turn_rate=1.2)
    feats = hml3d.joints_to_features(joints, dim=269, orientation_frame=frame, first_root=first_root)
    expected = _ref_features(reference, joints, with_orientation=True, orientation_frame=frame,
                             first_root=first_root)
    assert feats.shape == (69, 269)
    assert np.abs(feats - expected).max() <= TOL


# ---------------------------------------------------------------------------------------- round trip and invariances
ROUND_TRIP = {
    "walk": CASES["walk"],
    "turn_less_than_half_a_circle": lambda: make_clip(80, seed=2, turn_rate=0.6),
    "walking_backwards": CASES["walking_backwards"],
    "below_the_floor": CASES["below_the_floor"],
    "other_proportions": CASES["other_proportions"],
    "two_frames": CASES["two_frames"],
}


@pytest.mark.parametrize("case", list(ROUND_TRIP))
def test_round_trip_reproduces_the_normalised_retargeted_clip(case):
    joints = ROUND_TRIP[case]()
    canonical = hml3d.canonical_joints(joints)
    decoded = hml3d.features_to_joints(hml3d.joints_to_features(joints))
    # default (v1): recover_from_ric starts the decoded heading at 0 where the encoder used the smoothed
    # heading of frame 0: the canonical clip turned by that (small) yaw
    r0 = hml3d_inverse_kinematics(canonical, T2M22, smooth_sigma=20)[0, 0]
    expected = canonical[:-1] @ quat_to_matrix(r0).T
    assert np.abs(decoded - expected).max() <= TOL
    # the original's identity first root rotation: decoding gives the canonical clip itself
    decoded = hml3d.features_to_joints(hml3d.joints_to_features(joints, first_root="identity"))
    assert np.abs(decoded - canonical[:-1]).max() <= TOL


@pytest.mark.parametrize("first_root", ["smoothed", "identity"])
def test_heading_crossing_minus_z_reproduces_the_reference_quirk(reference, first_root):
    """Channel 0 is arcsin of a quaternion whose sign flips when the heading passes −Z: the reference
    (and therefore this codec) records that frame's turn with the wrong sign, so decoding drifts by twice
    that step. The heading-frame 269 orientation stays consistent with the decoded joints."""
    joints = make_clip(60, seed=31, turn_rate=2.0, start_yaw=0.0)  # turns 6 rad: passes −Z once
    canonical = hml3d.canonical_joints(joints)
    heading = hml3d_inverse_kinematics(canonical, T2M22, smooth_sigma=20, first_root=first_root)[:, 0]
    assert np.array_equal(heading[0], [1, 0, 0, 0]) == (first_root == "identity")
    flip = 1 + int(np.flatnonzero(np.sign(heading[2:, 2]) != np.sign(heading[1:-1, 2]))[0])
    feats = hml3d.joints_to_features(joints, dim=269, orientation_frame="heading", first_root=first_root)
    feats = feats.astype(np.float64)
    true_step = np.arctan2(heading[flip + 1, 2], heading[flip + 1, 0]) - np.arctan2(heading[flip, 2], heading[flip, 0])
    true_step = (true_step + np.pi / 2) % np.pi - np.pi / 2  # half-angle change, wrapped
    assert feats[flip, 0] == pytest.approx(-true_step, abs=1e-6)
    assert np.abs(feats[:, :263] - _ref_features(reference, joints, first_root=first_root)).max() <= TOL
    decoded = hml3d.features_to_joints(feats)
    expected = canonical[:-1] @ quat_to_matrix(heading[0]).T  # the canonical clip turned by r_rot[0]
    assert np.abs(decoded[: flip + 1] - expected[: flip + 1]).max() <= TOL
    assert np.abs(decoded[flip + 2 :] - expected[flip + 2 :]).max() > 1e-2
    orient = hml3d.features_to_root_orientation(feats, orientation_frame="heading")
    assert np.abs(orient - hml3d.pelvis_orientation(decoded)).max() <= 1e-4


def test_canonical_clip_is_retargeted_on_the_floor_at_the_origin_facing_z():
    joints = make_clip(40, seed=12, start_yaw=2.0, height=3.0, scale=0.7)
    canonical = hml3d.canonical_joints(joints)
    assert canonical[..., 1].min() == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(canonical[0, 0, [0, 2]], 0.0, atol=1e-12)
    r_hip, l_hip, r_sh, l_sh = T2M22.face_joints
    across = canonical[0, r_hip] - canonical[0, l_hip] + canonical[0, r_sh] - canonical[0, l_sh]
    forward = np.cross([0, 1, 0], across)
    np.testing.assert_allclose(forward / np.linalg.norm(forward), [0, 0, 1], atol=1e-9)
    # bone lengths are the target's
    tgt = hml3d.default_target_offsets()
    parents = T2M22.parents
    lengths = np.linalg.norm(canonical[:, 1:] - canonical[:, parents[1:]], axis=-1)
    np.testing.assert_allclose(lengths, np.broadcast_to(np.abs(tgt[1:]).max(-1), lengths.shape), atol=1e-9)


@pytest.mark.parametrize("yaw", [np.pi, np.pi + 1e-11, -np.pi])
def test_a_clip_facing_exactly_backwards_is_turned_about_y(yaw):
    """Facing −Z (up to rounding) makes qbetween(forward, +Z) degenerate; the half turn must be about Y
    (a half turn about a horizontal axis used to flatten the clip)."""
    tgt = hml3d.default_target_offsets()
    rest = np.zeros((22, 3))
    for j in range(1, 22):
        rest[j] = rest[T2M22.parents[j]] + tgt[j]
    clip = rest + np.linspace(0.0, 0.5, 10)[:, None, None] * np.array([0.0, 0.0, 1.0])
    turned = clip @ Rotation.from_euler("y", yaw).as_matrix().T
    canonical = hml3d.canonical_joints(turned)
    expected = clip - np.array([0.0, rest[:, 1].min(), 0.0])
    np.testing.assert_allclose(canonical, expected, atol=1e-9)
    assert np.isfinite(hml3d.joints_to_features(turned)).all()
    assert np.isfinite(hml3d.joints_to_features(turned, first_root="identity")).all()


# ---------------------------------------------------------------------------------------- first_root modes
def _yaw_matrix(q: np.ndarray) -> np.ndarray:
    return quat_to_matrix(np.asarray(q, dtype=np.float64))


@pytest.mark.parametrize("case", ["walk_and_turn", "turning_through_minus_z", "walking_backwards"])
def test_default_first_root_is_data_format_v1(case):
    """The default keeps the smoothed heading of frame 0 (data format v1, what every shipped model was
    trained on), computed here independently from the public IK and the canonical clip."""
    joints = CASES[case]()
    canonical = hml3d.canonical_joints(joints)
    r0 = hml3d_inverse_kinematics(canonical, T2M22, smooth_sigma=20)[0, 0]
    assert not np.allclose(r0, [1, 0, 0, 0], atol=1e-3)  # these clips sway or turn: a real test
    feats = hml3d.joints_to_features(joints, dim=269).astype(np.float64)
    assert np.array_equal(feats, hml3d.joints_to_features(joints, dim=269, first_root="smoothed"))
    sl = hml3d.feature_slices(269)
    # frame 0's ric: joints minus root X/Z, turned by r_rot[0]
    rel = canonical[0, 1:] - canonical[0, 0] * np.array([1.0, 0.0, 1.0])
    np.testing.assert_allclose(feats[0, sl["ric"]].reshape(21, 3), rel @ _yaw_matrix(r0).T, atol=1e-6)
    # frame 0's channel 0: half the yaw change from r_rot[0] to r_rot[1]
    r1 = hml3d_inverse_kinematics(canonical, T2M22, smooth_sigma=20)[1, 0]
    assert feats[0, 0] == pytest.approx(np.arcsin(r1[2] * r0[0] - r1[0] * r0[2]), abs=1e-6)
    # the global 269 orientation is in the frame of the decoded joints: the canonical one turned by r_rot[0]
    orient = hml3d.pelvis_orientation(canonical[:-1])
    np.testing.assert_allclose(hml3d.features_to_root_orientation(feats), _yaw_matrix(r0) @ orient, atol=1e-5)


@pytest.mark.parametrize("case", ["walk_and_turn", "turning_through_minus_z", "sidestep", "two_frames"])
def test_first_root_modes_differ_only_in_frame_0_and_the_global_orientation(case):
    joints = CASES[case]()
    v1 = hml3d.joints_to_features(joints, dim=269)
    orig = hml3d.joints_to_features(joints, dim=269, first_root="identity")
    sl = hml3d.feature_slices(269)
    # every frame but the first: the same 263 numbers
    assert np.array_equal(v1[1:, :263], orig[1:, :263])
    # frame 0: the channels computed with the root rotation differ, the others are equal
    rot0 = np.abs(v1[0, sl["rot"]] - orig[0, sl["rot"]]).reshape(21, 6).max(-1)
    first_bones = sorted({c[1] for c in T2M22.kinematic_chain})  # their rotation starts from the root's
    assert np.all(rot0[np.array(first_bones) - 1] > 1e-6)
    assert np.all(rot0[np.setdiff1d(np.arange(21), np.array(first_bones) - 1)] == 0)
    for name in ("root_rot_vel", "ric", "local_vel"):
        assert np.abs(v1[0, sl[name]] - orig[0, sl[name]]).max() > 1e-6, name
    for name in ("root_lin_vel", "root_y", "foot_contact"):
        assert np.array_equal(v1[0, sl[name]], orig[0, sl[name]]), name
    # the global orientation: every frame, turned by r_rot[0]
    canonical = hml3d.canonical_joints(joints)
    r0 = _yaw_matrix(hml3d_inverse_kinematics(canonical, T2M22, smooth_sigma=20)[0, 0])
    o1 = hml3d.features_to_root_orientation(v1)
    o2 = hml3d.features_to_root_orientation(orig)
    np.testing.assert_allclose(o1, r0 @ o2, atol=1e-5)
    assert np.abs(o1 - o2).max(axis=(1, 2)).min() > 1e-4
    # the heading-frame orientation: only frame 0
    h1 = hml3d.joints_to_features(joints, dim=269, orientation_frame="heading")
    h2 = hml3d.joints_to_features(joints, dim=269, orientation_frame="heading", first_root="identity")
    assert np.array_equal(h1[1:], h2[1:]) and not np.array_equal(h1[0], h2[0])


def test_ik_first_root_modes():
    x = make_clip(40, seed=35, turn_rate=1.5, start_yaw=1.0)
    v1 = hml3d_inverse_kinematics(x, T2M22, smooth_sigma=20)
    orig = hml3d_inverse_kinematics(x, T2M22, smooth_sigma=20, first_root="identity")
    np.testing.assert_array_equal(orig[0, 0], [1.0, 0.0, 0.0, 0.0])
    assert np.array_equal(v1[1:], orig[1:])
    # v1: frame 0's root rotation is its smoothed heading, like any other frame's
    heading = heading_quat(face_direction(x, T2M22, reference_quirk=True, smooth_sigma=20))
    assert not np.allclose(heading[0], [1, 0, 0, 0], atol=1e-2)
    np.testing.assert_array_equal(v1[:, 0], heading)
    assert np.array_equal(hml3d_inverse_kinematics(x[0], T2M22, first_root="identity"),
                          hml3d_inverse_kinematics(x[0], T2M22))  # a single pose keeps its heading


@pytest.mark.parametrize("bad", ["original", "Identity", "", None, 1])
def test_unknown_first_root_is_an_error(bad):
    joints = make_clip(10, seed=36)
    with pytest.raises(MotionError, match="first_root must be one of"):
        hml3d.joints_to_features(joints, first_root=bad)
    with pytest.raises(MotionError, match="first_root must be one of"):
        hml3d_inverse_kinematics(joints, T2M22, first_root=bad)


def test_features_are_invariant_to_global_yaw_translation_and_scale():
    joints = make_clip(50, seed=13, turn_rate=0.7)
    base = hml3d.joints_to_features(joints)
    moved = (joints * 1.7) @ Rotation.from_euler("y", 2.2).as_matrix().T + np.array([4.0, -2.0, 7.5])
    assert np.abs(hml3d.joints_to_features(moved) - base).max() <= TOL


def test_channel_contents_against_canonical_clip():
    joints = make_clip(40, seed=14, turn_rate=0.5)
    canonical = hml3d.canonical_joints(joints)
    feats = hml3d.joints_to_features(joints).astype(np.float64)
    sl = hml3d.feature_slices(263)
    np.testing.assert_allclose(feats[:, sl["root_y"]][:, 0], canonical[:-1, 0, 1], atol=1e-6)
    ric = feats[:, sl["ric"]].reshape(-1, 21, 3)
    np.testing.assert_allclose(ric[..., 1], canonical[:-1, 1:, 1], atol=1e-6)  # heights unchanged
    horiz = canonical[:-1, 1:, [0, 2]] - canonical[:-1, :1, [0, 2]]
    np.testing.assert_allclose(np.linalg.norm(ric[..., [0, 2]], axis=-1), np.linalg.norm(horiz, axis=-1), atol=1e-6)
    vel = feats[:, sl["local_vel"]].reshape(-1, 22, 3)
    step = canonical[1:] - canonical[:-1]
    np.testing.assert_allclose(np.linalg.norm(vel, axis=-1), np.linalg.norm(step, axis=-1), atol=1e-6)
    six = feats[:, sl["rot"]].reshape(-1, 21, 6)
    np.testing.assert_allclose(np.linalg.norm(six[..., :3], axis=-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.sum(six[..., :3] * six[..., 3:], -1), 0.0, atol=1e-6)


def test_rot_channels_reproduce_the_pose_by_chain_fk():
    joints = make_clip(30, seed=15, turn_rate=1.0)
    canonical = hml3d.canonical_joints(joints)
    tgt = hml3d.default_target_offsets()
    feats = hml3d.joints_to_features(joints, tgt).astype(np.float64)
    heading = hml3d_inverse_kinematics(canonical, T2M22, smooth_sigma=20)[:-1, 0]
    rebuilt = hml3d.hml3d_chain_joints(feats, tgt, root_quats=heading)
    assert np.abs(rebuilt - (canonical[:-1] - canonical[:-1, :1])).max() <= TOL


@pytest.mark.parametrize("aligned", [True, False])
def test_uniform_skeleton_equals_chain_ik_then_fk(aligned):
    joints = make_clip(25, seed=32, turn_rate=0.9)
    tgt = hml3d.default_target_offsets()
    if not aligned:  # offsets that are not along the raw directions take the quaternion path
        tgt = tgt + np.random.default_rng(0).normal(0, 0.03, tgt.shape) * (np.arange(22) > 0)[:, None]
    src = offsets_from_joints(joints[0], T2M22)
    scale = (np.abs(tgt[5]).max() + np.abs(tgt[8]).max()) / (np.abs(src[5]).max() + np.abs(src[8]).max())
    expected = hml3d_forward_kinematics(hml3d_inverse_kinematics(joints, T2M22), joints[:, 0] * scale, tgt, T2M22)
    np.testing.assert_allclose(hml3d.uniform_skeleton(joints, tgt), expected, atol=1e-12)


def test_rot_channels_equal_the_public_chain_ik():
    joints = make_clip(30, seed=33, turn_rate=-1.1)
    canonical = hml3d.canonical_joints(joints)
    quats = hml3d_inverse_kinematics(canonical, T2M22, smooth_sigma=hml3d.SMOOTH_SIGMA)
    feats = hml3d.joints_to_features(joints)
    six = feats[:, hml3d.feature_slices(263)["rot"]].reshape(29, 21, 6)
    np.testing.assert_allclose(six, quat_to_cont6d(quats[:-1, 1:]), atol=1e-6)


def test_zero_length_bone_is_handled_like_the_public_kinematics():
    joints = make_clip(12, seed=34)
    joints[:, 15] = joints[:, 12]  # head on the neck: a zero-length bone in every frame
    tgt = hml3d.default_target_offsets()
    src = offsets_from_joints(joints[0], T2M22)
    scale = (np.abs(tgt[5]).max() + np.abs(tgt[8]).max()) / (np.abs(src[5]).max() + np.abs(src[8]).max())
    expected = hml3d_forward_kinematics(hml3d_inverse_kinematics(joints, T2M22), joints[:, 0] * scale, tgt, T2M22)
    np.testing.assert_allclose(hml3d.uniform_skeleton(joints, tgt), expected, atol=1e-12)
    assert np.isfinite(hml3d.joints_to_features(joints)).all()


def test_foot_contacts():
    still = hml3d.joints_to_features(_still(20))
    assert np.all(still[:, -4:] == 1)
    fast = hml3d.joints_to_features(make_clip(30, seed=16, velocity=(0, 0, 3.0)))
    assert np.all(fast[:, -4:] == 0)
    # threshold on the squared displacement of (ankle, foot) per side, computed independently
    joints = make_clip(60, seed=17, velocity=(0, 0, 0.6), pose_amplitude=0.5)
    canonical = hml3d.canonical_joints(joints)
    d2 = np.sum(np.diff(canonical, axis=0) ** 2, -1)
    for thr in (0.0005, 0.002, 0.01):
        expected = (d2[:, [7, 10, 8, 11]] < thr).astype(np.float32)
        np.testing.assert_array_equal(hml3d.joints_to_features(joints, feet_threshold=thr)[:, -4:], expected)


def test_reference_feet_thresholds():
    assert hml3d.FEET_THRESHOLDS == {"t2m22": 0.002, "smplx_body": 0.002, "kit21": 0.05}
    joints = make_clip(30, seed=18, layout=KIT21, velocity=(0, 0, 0.8))
    tgt = _kit_target()
    np.testing.assert_array_equal(
        hml3d.joints_to_features(joints, tgt, KIT21), hml3d.joints_to_features(joints, tgt, KIT21, feet_threshold=0.05)
    )


def test_smplx_body_layout_equals_t2m22():
    joints = make_clip(20, seed=19)
    np.testing.assert_array_equal(hml3d.joints_to_features(joints, layout=SMPLX_BODY), hml3d.joints_to_features(joints))


# ---------------------------------------------------------------------------------------- decoding (torch)
def test_torch_batched_decoding_matches_numpy_and_keeps_gradients():
    clips = [hml3d.joints_to_features(make_clip(33, seed=s, turn_rate=0.5 * s)) for s in range(3)]
    batch = torch.tensor(np.stack(clips), requires_grad=True)
    out = hml3d.features_to_joints(batch)
    assert out.shape == (3, 32, 22, 3) and out.dtype == torch.float32
    for i, clip in enumerate(clips):
        assert np.abs(out[i].detach().numpy() - hml3d.features_to_joints(clip)).max() <= 1e-5
    out.square().mean().backward()
    assert batch.grad is not None and torch.isfinite(batch.grad).all()
    assert batch.grad[..., :4].abs().sum() > 0 and batch.grad[..., 4:67].abs().sum() > 0
    assert batch.grad[..., 67:].abs().sum() == 0  # rot, velocities and contacts are not used


def test_torch_decoding_gradcheck():
    feats = torch.tensor(hml3d.joints_to_features(make_clip(5, seed=20)), dtype=torch.float64)
    used = feats[:, :67].clone().requires_grad_(True)  # root + ric: the channels the decoder reads
    rest = feats[:, 67:]

    def decode(x):
        return hml3d.features_to_joints(torch.cat([x, rest], dim=-1), check_finite=False)

    assert torch.autograd.gradcheck(decode, (used,))


def test_numpy_decoding_keeps_dtype_and_leading_dims():
    f = hml3d.joints_to_features(make_clip(10, seed=21))
    assert hml3d.features_to_joints(f).dtype == np.float32
    assert hml3d.features_to_joints(f.astype(np.float64)).dtype == np.float64
    stacked = np.stack([f, f])[None]
    out = hml3d.features_to_joints(stacked)
    assert out.shape == (1, 2, 9, 22, 3)
    np.testing.assert_allclose(out[0, 1], hml3d.features_to_joints(f), atol=1e-6)


def test_features_to_root():
    f = hml3d.joints_to_features(make_clip(20, seed=22, turn_rate=1.0)).astype(np.float64)
    quat, pos = hml3d.features_to_root(f)
    ang = np.concatenate([[0.0], np.cumsum(f[:-1, 0])])
    np.testing.assert_allclose(quat, np.stack([np.cos(ang), 0 * ang, np.sin(ang), 0 * ang], -1), atol=1e-12)
    np.testing.assert_allclose(pos[:, 1], f[:, 3])
    np.testing.assert_allclose(pos, hml3d.features_to_joints(f)[:, 0], atol=1e-12)


# ---------------------------------------------------------------------------------------- the 269 variant
def _root_world_rotations(num_frames, seed):
    """The root joint rotation that ``make_clip`` uses (rebuilt with the same random draws)."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_frames) / 20.0
    freqs = rng.uniform(0.2, 1.5, (3, 22, 3))
    phases = rng.uniform(0, 2 * np.pi, (3, 22, 3))
    amps = rng.uniform(0.3, 1.0, (3, 22, 3)) * 0.35 / 2
    aa = np.sum(amps[:, None] * np.sin(2 * np.pi * freqs[:, None] * t[None, :, None, None] + phases[:, None]), 0)
    aa[:, 0] *= 0.3
    yaw = 0.8 * t
    return quat_multiply(axis_rotation_quat(1, yaw), axis_angle_to_quat(aa[:, 0]))


@pytest.mark.parametrize("frame", ["global", "heading"])
def test_269_first_channels_and_decoded_orientation(frame):
    joints = make_clip(50, seed=23, turn_rate=0.8)
    f263 = hml3d.joints_to_features(joints)
    f269 = hml3d.joints_to_features(joints, dim=269, orientation_frame=frame)
    np.testing.assert_array_equal(f269[:, :263], f263)
    np.testing.assert_array_equal(hml3d.features_to_joints(f269), hml3d.features_to_joints(f263))
    orient = hml3d.features_to_root_orientation(f269, orientation_frame=frame)
    measured = hml3d.pelvis_orientation(hml3d.features_to_joints(f269).astype(np.float64))
    assert orient.shape == (49, 3, 3)
    assert np.abs(orient - measured).max() <= 1e-4
    # the two frames differ (unless the clip never turns)
    other = hml3d.joints_to_features(joints, dim=269, orientation_frame="global" if frame == "heading" else "heading")
    assert np.abs(other[:, 263:] - f269[:, 263:]).max() > 1e-2


@pytest.mark.parametrize("as_quat", [True, False])
def test_269_with_given_root_orientation(as_quat):
    num_frames, seed = 40, 24
    joints = make_clip(num_frames, seed=seed, turn_rate=0.8)
    root_q = _root_world_rotations(num_frames, seed)
    given_orient = root_q if as_quat else quat_to_matrix(root_q)
    f = hml3d.joints_to_features(joints, dim=269, root_orientation=given_orient)
    orient = hml3d.features_to_root_orientation(f).astype(np.float64)
    decoded = hml3d.features_to_joints(f).astype(np.float64)
    # children of the root keep their rest direction rotated by the root orientation (bone lengths change
    # with the retargeting, directions do not)
    off = rest_offsets(T2M22)
    for child in (1, 2, 3):
        bone = decoded[:, child] - decoded[:, 0]
        bone /= np.linalg.norm(bone, axis=-1, keepdims=True)
        expected = orient @ (off[child] / np.linalg.norm(off[child]))
        assert np.abs(bone - expected).max() <= 1e-4


def test_269_heading_frame_is_rotation_invariant():
    joints = make_clip(30, seed=25, turn_rate=0.6)
    turned = joints @ Rotation.from_euler("y", 1.3).as_matrix().T
    for frame in ("global", "heading"):
        a = hml3d.joints_to_features(joints, dim=269, orientation_frame=frame)
        b = hml3d.joints_to_features(turned, dim=269, orientation_frame=frame)
        assert np.abs(a - b).max() <= TOL


def test_257_kit_variant_and_torch_orientation():
    f = hml3d.joints_to_features(make_clip(20, seed=26, layout=KIT21), _kit_target(), KIT21, dim=257)
    assert f.shape == (19, 257)
    rot = hml3d.features_to_root_orientation(torch.tensor(f, dtype=torch.float64), "heading")
    np.testing.assert_allclose(rot.numpy(), hml3d.features_to_root_orientation(f.astype(np.float64), "heading"))
    np.testing.assert_allclose(rot.numpy() @ np.swapaxes(rot.numpy(), -1, -2), np.broadcast_to(np.eye(3), rot.shape), atol=1e-5)


# ---------------------------------------------------------------------------------------- layout helpers and offsets
def test_dims_and_slices():
    assert hml3d.feature_dim(22) == 263 and hml3d.feature_dim(21) == 251
    assert hml3d.feature_dim(22, True) == 269 and hml3d.feature_dim(21, True) == 257
    for dim in (263, 251, 269, 257):
        slices = hml3d.feature_slices(dim)
        covered = np.zeros(dim, int)
        for sl in slices.values():
            covered[sl] += 1
        assert np.all(covered == 1)
    s = hml3d.feature_slices(263)
    assert (s["ric"], s["rot"], s["local_vel"], s["foot_contact"]) == (
        slice(4, 67), slice(67, 193), slice(193, 259), slice(259, 263))
    assert hml3d.feature_slices(269)["root_orient"] == slice(263, 269)
    assert hml3d.layout_for_dim(251) is KIT21 and hml3d.layout_for_dim(269) is T2M22


def test_default_target_offsets_come_from_mannequin_x():
    from mannequin import Mannequin

    model = Mannequin("wooden")  # another asset of the same package: same calibrated skeleton
    rest = model.joint_transforms(model.rest_pose())[:22, :3, 3].astype(np.float64)
    off = hml3d.default_target_offsets()
    np.testing.assert_allclose(off, offsets_from_joints(rest, T2M22), atol=1e-6)
    assert off.shape == (22, 3) and np.all(off[0] == 0)
    leg = np.abs(off[5]).max() + np.abs(off[8]).max()
    assert 0.7 < leg < 0.9  # SMPL-X neutral knee + shin, metres
    with pytest.raises(MotionError, match="KIT clip 03950"):
        hml3d.default_target_offsets(KIT21)


def test_target_offsets_from_joints_and_custom_target():
    rest = make_clip(1, seed=27, scale=1.2)[0]
    tgt = hml3d.target_offsets_from_joints(rest)
    np.testing.assert_allclose(tgt, offsets_from_joints(rest, T2M22))
    joints = make_clip(20, seed=28)
    canonical = hml3d.canonical_joints(joints, tgt)
    parents = T2M22.parents
    lengths = np.linalg.norm(canonical[:, 1:] - canonical[:, parents[1:]], axis=-1)
    np.testing.assert_allclose(lengths[0], np.linalg.norm(rest[1:] - rest[parents[1:]], axis=-1), atol=1e-9)
    u = hml3d.uniform_skeleton(joints, tgt)
    np.testing.assert_allclose(np.linalg.norm(u[:, 1:] - u[:, parents[1:]], axis=-1), lengths, atol=1e-9)


# ---------------------------------------------------------------------------------------- statistics
def test_norm_stats_follow_cal_mean_variance():
    rng = np.random.default_rng(0)
    clips = [rng.normal(size=(n, 263)) * rng.uniform(0.1, 3, 263) + rng.normal(size=263) for n in (5, 9, 13)]
    stats = hml3d.hml3d_norm_stats(clips)
    assert isinstance(stats, NormStats) and stats.dim == 263
    data = np.concatenate(clips)
    np.testing.assert_allclose(stats.mean, data.mean(0), rtol=1e-6)
    std = data.std(0)
    bounds = [0, 1, 3, 4, 67, 193, 259, 263]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        np.testing.assert_allclose(stats.std[a:b], std[a:b].mean(), rtol=1e-6)
    evaluator = hml3d.hml3d_norm_stats(clips, feat_bias=5.0)
    divided = np.zeros(263, bool)
    divided[:4] = divided[259:] = True
    np.testing.assert_allclose(evaluator.std[divided], stats.std[divided] / 5, rtol=1e-6)
    np.testing.assert_array_equal(evaluator.std[~divided], stats.std[~divided])
    np.testing.assert_array_equal(hml3d.apply_feat_bias(stats, 5.0).std, evaluator.std)
    assert hml3d.feature_stats is hml3d.hml3d_norm_stats and hml3d.humanml3d_stats is hml3d.hml3d_norm_stats


def test_norm_stats_269_orientation_group_and_nonfinite():
    rng = np.random.default_rng(1)
    clip = rng.normal(size=(20, 269))
    stats = hml3d.hml3d_norm_stats([clip], feat_bias=5.0)
    np.testing.assert_allclose(stats.std[263:], clip[:, 263:].std(0).mean(), rtol=1e-6)  # own group, no bias
    np.testing.assert_allclose(stats.std[259:263], clip[:, 259:263].std(0).mean() / 5, rtol=1e-6)
    bad = clip.copy()
    bad[3, 7] = np.nan
    with pytest.raises(MotionError, match="clip 1 contains NaN"):
        hml3d.hml3d_norm_stats([clip, bad])
    kept = hml3d.hml3d_norm_stats([clip, bad], skip_nonfinite=True)
    np.testing.assert_allclose(kept.mean, clip.mean(0), rtol=1e-6)
    with pytest.raises(MotionError, match="expected 263-dim"):
        hml3d.hml3d_norm_stats([clip], dim=263)
    with pytest.raises(MotionError, match="different dims"):
        hml3d.hml3d_norm_stats([clip, clip[:, :263]])
    constant = hml3d.hml3d_norm_stats([np.zeros((4, 263))])
    assert np.all(constant.std > 0)


# ---------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "joints, match",
    [
        (np.zeros((10, 21, 3)), "21 joints but layout 't2m22' has 22"),
        (np.zeros((10, 22)), "rank 2"),
        (np.zeros((2, 10, 22, 3)), "rank 4"),
        (np.zeros((10, 22, 2)), "3 coordinates"),
        (np.zeros((1, 22, 3)), "at least 2 frames"),
        (np.zeros((10, 22, 3), dtype=np.int64), "floating-point"),
    ],
)
def test_bad_joints_are_rejected(joints, match):
    with pytest.raises(MotionError, match=match):
        hml3d.joints_to_features(joints)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nonfinite_joints_are_rejected(value):
    joints = make_clip(10, seed=29)
    joints[4, 7, 1] = value
    with pytest.raises(MotionError, match="NaN or Inf \\(first at frame 4, joint 7\\)"):
        hml3d.joints_to_features(joints)


def test_bad_options_are_rejected():
    joints = make_clip(10, seed=30)
    with pytest.raises(MotionError, match="dim must be 263 or 269"):
        hml3d.joints_to_features(joints, dim=251)
    with pytest.raises(MotionError, match="only used with dim=269"):
        hml3d.joints_to_features(joints, root_orientation=np.tile(np.eye(3), (10, 1, 1)))
    with pytest.raises(MotionError, match="root_orientation must have shape"):
        hml3d.joints_to_features(joints, dim=269, root_orientation=np.zeros((9, 4)))
    with pytest.raises(MotionError, match="not rotations"):
        hml3d.joints_to_features(joints, dim=269, root_orientation=np.tile(2 * np.eye(3), (10, 1, 1)))
    with pytest.raises(MotionError, match="orientation_frame"):
        hml3d.joints_to_features(joints, dim=269, orientation_frame="camera")
    with pytest.raises(MotionError, match="feet_threshold"):
        hml3d.joints_to_features(joints, feet_threshold=-1.0)
    with pytest.raises(MotionError, match=r"target_offsets must have shape \(22, 3\)"):
        hml3d.joints_to_features(joints, target_offsets=np.zeros((21, 3)))
    with pytest.raises(MotionError, match="zero-length leg"):
        hml3d.joints_to_features(joints, target_offsets=np.zeros((22, 3)))
    with pytest.raises(MotionError, match="no default target skeleton"):
        hml3d.joints_to_features(make_clip(10, layout=KIT21), layout=KIT21)
    flat = joints.copy()
    flat[0, :, [0, 2]] = 0.0  # every joint of the first frame on one vertical line: no facing direction
    flat[0, :, 1] = np.linspace(0.0, 1.5, 22)
    with pytest.raises(MotionError, match="facing direction"):
        hml3d.joints_to_features(flat)


@pytest.mark.parametrize(
    "features, match",
    [
        (np.zeros((10, 262), np.float32), "262 is not a HumanML3D layout"),
        (np.zeros(263, np.float32), "rank >= 2"),
        (np.zeros((10, 263), np.int32), "floating point"),
        (np.full((10, 263), np.nan, np.float32), "NaN or Inf"),
        (np.zeros((0, 263), np.float32), "no frames"),
        ([[0.0] * 263], "NumPy array or a torch tensor"),
        (torch.zeros(4, 263, dtype=torch.int64), "floating point"),
        (torch.full((4, 263), float("inf")), "NaN or Inf"),
    ],
)
def test_bad_features_are_rejected(features, match):
    with pytest.raises(MotionError, match=match):
        hml3d.features_to_joints(features)


def test_feature_layout_mismatch_and_missing_orientation():
    f = np.zeros((5, 263), np.float32)
    with pytest.raises(MotionError, match="describe 22 joints but layout 'kit21' has 21"):
        hml3d.features_to_joints(f, layout=KIT21)
    with pytest.raises(MotionError, match="carry no root orientation"):
        hml3d.features_to_root_orientation(f)
    assert hml3d.features_to_joints(torch.full((2, 263), float("nan")), check_finite=False).isnan().any()


def test_pelvis_orientation_rest_pose_numpy_and_torch():
    off = rest_offsets(KIT21)
    rest = np.zeros_like(off)
    for j, p in enumerate(KIT21.parents):
        if p >= 0:
            rest[j] = rest[p] + off[j]
    # KIT's hand-made rest skeleton is axis-aligned up to 1 cm noise: close to the identity
    np.testing.assert_allclose(hml3d.pelvis_orientation(rest, KIT21), np.eye(3), atol=0.15)
    joints = make_clip(5, seed=35)
    rot = hml3d.pelvis_orientation(joints)
    np.testing.assert_allclose(rot @ np.swapaxes(rot, -1, -2), np.broadcast_to(np.eye(3), rot.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-12)
    np.testing.assert_allclose(hml3d.pelvis_orientation(torch.from_numpy(joints)).numpy(), rot, atol=1e-12)
    # X axis points from the right hip to the left hip
    lateral = joints[:, 1] - joints[:, 2]
    np.testing.assert_allclose(rot[:, :, 0], lateral / np.linalg.norm(lateral, axis=-1, keepdims=True), atol=1e-12)
