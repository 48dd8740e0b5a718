"""Rigid skeletons, post-processing of generated motion, and the features ↔ joints position rewrite."""

from __future__ import annotations

import numpy as np
import pytest

from unimotion.data.synthetic import make_motion
from unimotion.errors import MotionError
from unimotion.motion import hml3d
from unimotion.motion.postprocess import blend_join, finish_motion, lift_above_floor, remove_foot_skate
from unimotion.motion.rigid import rigidify, skeleton_offsets
from unimotion.motion.skeletons import T2M22

PARENTS = np.asarray(T2M22.parents)


def _lengths(j: np.ndarray) -> np.ndarray:
    return np.linalg.norm(j[:, 1:] - j[:, PARENTS[1:]], axis=-1)


def _canonical(kind: str = "walk", frames: int = 60) -> np.ndarray:
    """HumanML3D-processed joints (one fixed skeleton), as the data has them."""
    feats = hml3d.joints_to_features(make_motion(kind, frames + 1, seed=0).joints)
    return hml3d.features_to_joints(feats.astype(np.float64))


def test_rigidify_is_identity_on_rigid_motion_and_fixes_lengths():
    joints = _canonical()
    skeleton = skeleton_offsets(joints[0])
    np.testing.assert_allclose(rigidify(joints, skeleton), joints, atol=2e-6)  # float32 data
    noisy = joints + np.random.default_rng(0).normal(0, 0.02, joints.shape)
    assert _lengths(noisy).std(0).max() > 5e-3
    fixed = rigidify(noisy, skeleton)
    np.testing.assert_allclose(_lengths(fixed), np.broadcast_to(np.linalg.norm(skeleton[1:], axis=-1),
                                                                 _lengths(fixed).shape), atol=1e-9)
    np.testing.assert_allclose(fixed[:, 0], noisy[:, 0])  # the root keeps its path
    # the child set of the pelvis turns as one piece: its shape is the skeleton's in every frame
    kids = [1, 2, 3]
    shape = fixed[:, kids] - fixed[:, :1]
    gram = np.einsum("tki,tli->tkl", shape, shape)
    np.testing.assert_allclose(gram, np.broadcast_to(skeleton[kids] @ skeleton[kids].T, gram.shape), atol=1e-9)


def test_rigidify_and_skeleton_reject_bad_input():
    joints = _canonical(frames=30)
    with pytest.raises(MotionError, match="shape"):
        rigidify(joints[:, :20], skeleton_offsets(joints[0]))
    with pytest.raises(MotionError, match="NaN"):
        bad = joints.copy()
        bad[3, 4, 1] = np.nan
        rigidify(bad, skeleton_offsets(joints[0]))
    with pytest.raises(MotionError, match="zero-length"):
        flat = joints[0].copy()
        flat[5] = flat[2]
        skeleton_offsets(flat)


def test_features_with_joints_round_trip():
    joints = _canonical(frames=50)
    feats = hml3d.joints_to_features(joints, dim=269)
    decoded = hml3d.features_to_joints(feats.astype(np.float64))
    moved = decoded + np.random.default_rng(1).normal(0, 0.01, decoded.shape)
    moved -= np.array([moved[0, 0, 0], 0.0, moved[0, 0, 2]])
    out = hml3d.features_with_joints(feats, moved)
    np.testing.assert_allclose(hml3d.features_to_joints(out.astype(np.float64)), moved, atol=1e-5)
    sl = hml3d.feature_slices(269)
    for group in ("root_rot_vel", "rot", "local_vel", "foot_contact", "root_orient"):
        np.testing.assert_array_equal(out[:, sl[group]], feats[:, sl[group]])
    with pytest.raises(MotionError, match="shape"):
        hml3d.features_with_joints(feats, moved[:-1])


def test_remove_foot_skate_plants_a_sliding_foot_and_lift_removes_penetration():
    joints = _canonical("walk", 80)
    slid = joints.copy()
    drift = np.linspace(0, 0.4, len(joints))  # the whole body slides 40 cm along X, feet included
    slid[..., 0] += drift[:, None]
    flags = np.ones((len(joints), 4))
    cleaned = remove_foot_skate(slid, flags, contact_height=10.0, smooth_sigma=0.0, ground=False)
    # with both feet always planted, the cleaned motion moves like the mean of the two feet did originally
    feet = joints[:, [10, 11]][..., [0, 2]].mean(1)
    np.testing.assert_allclose(cleaned[:, [10, 11]][..., [0, 2]].mean(1) - cleaned[0, [10, 11]][..., [0, 2]].mean(0),
                               np.zeros_like(feet), atol=1e-9)
    # the pose relative to the root is untouched
    np.testing.assert_allclose(cleaned - cleaned[:, :1], slid - slid[:, :1], atol=1e-12)
    # no contact → no change
    np.testing.assert_allclose(remove_foot_skate(slid, np.zeros((len(joints), 4))), slid)
    sunk = joints.copy()
    sunk[10:20, :, 1] -= 0.05
    lifted = lift_above_floor(sunk)
    assert lifted[..., 1].min() >= -1e-12
    np.testing.assert_allclose(lifted[:10], sunk[:10])


def test_blend_join_shrinks_the_pose_jump():
    feats = hml3d.joints_to_features(_canonical("walk", 60), dim=269)
    cont = feats.copy()
    cont[30:, 4:67] += 0.1  # a continuation whose pose is 10 cm off everywhere
    blended = blend_join(cont, 30, frames=9)
    jump = lambda f: np.abs(f[30, 4:67] - f[29, 4:67] - (feats[30, 4:67] - feats[29, 4:67])).max()  # noqa: E731
    assert jump(cont) == pytest.approx(0.1, abs=1e-5)  # the offset added at the join
    second = np.abs(feats[30, 4:67] - 2 * feats[29, 4:67] + feats[28, 4:67]).max()
    assert jump(blended) <= second + 1e-5  # the join moves like the observed motion did (no 0.1 step)
    np.testing.assert_array_equal(blended[:30], cont[:30].astype(np.float32))
    np.testing.assert_allclose(blended[39:], cont[39:], atol=1e-6)  # after the blend: the continuation's own


def test_finish_motion_keeps_real_motion():
    joints = _canonical("walk", 60)
    feats = hml3d.joints_to_features(joints, dim=269)
    decoded = hml3d.features_to_joints(feats.astype(np.float64))
    out_feats, out_joints = finish_motion(feats, skeleton_offsets(decoded[0]), clean_contacts=False)
    np.testing.assert_allclose(out_joints, decoded, atol=1e-4)
    np.testing.assert_allclose(out_feats, feats, atol=1e-4)
