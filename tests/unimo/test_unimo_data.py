"""UniMo data: canonical clip frames (SMPL-X rigid moves), aligned video/motion clips on real BandaiML, the
datasets, extra renders, statistics, tokenization helpers and the clip error measures.

Expectations are computed independently: rotations with SciPy, projections with the pinhole formula written
here, statistics with plain NumPy over crops enumerated here.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from unimotion.data import unimo as U
from unimotion.errors import DatasetError, InputError, MotionError
from unimotion.motion import smplx_params as sp


def random_params(t: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    params = np.concatenate([rng.normal(0, 0.3, (t, 63)), np.tile(rng.normal(0, 1, (1, 10)), (t, 1)),
                             rng.normal(0, 0.8, (t, 3)), rng.normal(0, 0.5, (t, 3))], axis=-1)
    return params


def pinhole(points: np.ndarray, K: np.ndarray, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    cam = np.einsum("ij,...j->...i", R, points) + t
    return np.einsum("ij,...j->...i", K, cam / cam[..., 2:3])[..., :2]


# ------------------------------------------------------------------------------------------ rigid moves
def test_rigid_transform_moves_the_joints_rigidly():
    params = random_params()
    yaw, offset = 0.7, np.array([0.3, -0.1, 2.0])
    moved = sp.rigid_transform_params(params, yaw, offset)
    rot = Rotation.from_euler("y", yaw).as_matrix()
    expected = sp.smplx_forward_kinematics(params) @ rot.T + offset
    np.testing.assert_allclose(sp.smplx_forward_kinematics(moved), expected, atol=1e-9)
    np.testing.assert_allclose(moved[:, sp.BODY_POSE], params[:, sp.BODY_POSE])
    np.testing.assert_allclose(moved[:, sp.BETAS], params[:, sp.BETAS])


def test_canonical_frame_puts_frame_zero_at_the_origin_facing_z():
    params = random_params(seed=3)
    canon, yaw, offset = sp.canonicalize_params(params)
    joints = sp.smplx_forward_kinematics(canon)
    # pelvis of frame 0 above the origin, height kept
    np.testing.assert_allclose(joints[0, 0, [0, 2]], 0.0, atol=1e-9)
    np.testing.assert_allclose(joints[0, 0, 1], sp.smplx_forward_kinematics(params)[0, 0, 1], atol=1e-9)
    # the pelvis' forward axis (rotation applied to +Z, SciPy) points along +Z on the ground plane
    forward = Rotation.from_rotvec(canon[0, sp.GLOBAL_ORIENT]).apply([0.0, 0.0, 1.0])
    assert abs(forward[0]) < 1e-9 and forward[2] > 0
    np.testing.assert_allclose(sp.rigid_transform_params(params, yaw, offset), canon, atol=1e-12)
    with pytest.raises(MotionError, match="clip"):
        sp.canonicalize_params(params[0])
    with pytest.raises(MotionError, match="outside"):
        sp.canonicalize_params(params, frame=40)


def test_heading_angle_matches_scipy():
    rng = np.random.default_rng(1)
    go = rng.normal(0, 1, (20, 3))
    forward = Rotation.from_rotvec(go).apply([0.0, 0.0, 1.0])
    np.testing.assert_allclose(sp.heading_angle(go), np.arctan2(forward[:, 0], forward[:, 2]), atol=1e-12)


def test_camera_follows_the_world_transform():
    rng = np.random.default_rng(2)
    points = rng.normal(0, 1, (30, 3)) + np.array([0, 0, 6.0])
    K = np.array([[70.0, 0, 32], [0, 70.0, 32], [0, 0, 1]])
    R, t = Rotation.from_euler("xyz", [0.2, -0.4, 0.1]).as_matrix(), np.array([0.1, 0.3, 0.5])
    yaw, offset = -1.1, np.array([2.0, 0.5, -1.0])
    R2, t2 = sp.rigid_transform_camera(R, t, yaw, offset)
    moved = sp.rigid_transform_points(points, yaw, offset)
    np.testing.assert_allclose(pinhole(moved, K, R2, t2), pinhole(points, K, R, t), atol=1e-9)
    np.testing.assert_allclose(U.project(moved, K, R2, t2), pinhole(points, K, R, t), atol=1e-9)


# ------------------------------------------------------------------------------------------ errors
def test_joint_errors_by_hand():
    rng = np.random.default_rng(0)
    gt = rng.normal(0, 1, (2, 5, 22, 3))
    shifted = gt + np.array([0.3, 0.0, 0.4])  # rigid translation: 0 after root / Procrustes alignment
    e = U.joint_errors(shifted, gt)
    np.testing.assert_allclose(e["mpjpe"], 0, atol=1e-12)
    np.testing.assert_allclose(e["pa_mpjpe"], 0, atol=1e-9)
    np.testing.assert_allclose(e["w_mpjpe"], 0.5)
    np.testing.assert_allclose(e["root_err"], 0.5)
    rot = Rotation.from_euler("y", 40, degrees=True).as_matrix()
    e = U.joint_errors(gt @ rot.T, gt)
    np.testing.assert_allclose(e["pa_mpjpe"], 0, atol=1e-9)
    assert (e["mpjpe"] > 0.1).all()
    with pytest.raises(InputError):
        U.joint_errors(gt[0], gt[0])


def test_motion_errors_orientation():
    params = random_params(t=6, seed=4)[None]
    turned = params.copy()
    turned[0, :, sp.GLOBAL_ORIENT] = (Rotation.from_rotvec(params[0, :, sp.GLOBAL_ORIENT])
                                      * Rotation.from_euler("x", 30, degrees=True)).as_rotvec()
    e = U.motion_errors(turned, params)
    np.testing.assert_allclose(e["orient_err_deg"], 30.0, atol=1e-6)
    np.testing.assert_allclose(U.motion_errors(params, params)["w_mpjpe"], 0, atol=1e-12)


def test_pad_frames_and_token_dataset():
    x = np.arange(2 * 5 * 3, dtype=np.float32).reshape(2, 5, 3)
    padded = U.pad_frames(x, 4)
    assert padded.shape == (2, 8, 3)
    np.testing.assert_array_equal(padded[:, 5:], np.repeat(x[:, -1:], 3, axis=1))
    assert U.pad_frames(x, 5) is x
    ds = U.TokenClipDataset(np.zeros((3, 2, 2, 2), np.int16), np.ones((3, 6), np.int16))
    item = ds[1]
    assert item["video_codes"].dtype == torch.long and item["motion_codes"].shape == (6,)
    with pytest.raises(DatasetError):
        U.TokenClipDataset(np.zeros((3, 2, 2, 2)), np.zeros((2, 6)))


# ------------------------------------------------------------------------------------------ real data
@pytest.mark.bandai
def test_clips_are_aligned_with_their_renders(bandaiml_small):
    ids = U.read_ids(bandaiml_small, "all")
    for mid in ids[:6]:
        clip = U.load_clip(bandaiml_small, mid)
        video = np.load(bandaiml_small / "renders" / "videos" / f"{mid}.npz")
        smplx = np.load(bandaiml_small / "smplx" / f"{mid}.npz")
        start = int(video["start"])
        assert clip.frames.shape == (17, 64, 64, 3) and clip.params.shape == (17, 79) and clip.start == start
        # the canonical joints seen by the canonical camera are exactly the stored 2D joints
        np.testing.assert_allclose(pinhole(clip.joints, clip.K, clip.R, clip.t), video["joints_2d"], atol=1e-3)
        # and they are a rigid move of the stored SMPL-X joints of the same frames
        stored = smplx["joints"][start : start + 17].astype(np.float64)
        d_canon = np.linalg.norm(clip.joints[:, :, None] - clip.joints[:, None], axis=-1)
        d_stored = np.linalg.norm(stored[:, :, None] - stored[:, None], axis=-1)
        np.testing.assert_allclose(d_canon, d_stored, atol=1e-4)
        np.testing.assert_allclose(clip.joints[0, 0, [0, 2]], 0.0, atol=1e-9)


@pytest.mark.bandai
def test_motion_clip_dataset_tiles_and_random_crops(bandaiml_small):
    tiles = U.MotionClipDataset(bandaiml_small, "train", 17, random_crop=False)
    lengths = [len(np.load(bandaiml_small / "smplx" / f"{m}.npz")["params"]) for m in U.read_ids(bandaiml_small, "train")]
    assert len(tiles) == sum(n // 17 for n in lengths)
    item = tiles[1]
    assert item["motion"].shape == (17, 79) and item["motion"].dtype == torch.float32 and item["mask"].all()
    first = np.load(bandaiml_small / "smplx" / f"{U.read_ids(bandaiml_small, 'train')[0]}.npz")["params"]
    expected = sp.canonicalize_params(first[17:34].astype(np.float64))[0]
    np.testing.assert_allclose(item["motion"].numpy(), expected, atol=1e-5)
    capped = U.MotionClipDataset(bandaiml_small, "train", 17, random_crop=False, max_tiles=1, limit=3)
    assert len(capped) == 3
    rand = U.MotionClipDataset(bandaiml_small, "train", 17, random_crop=True, seed=5)
    a, b = rand[0]["motion"], rand[0]["motion"]
    assert a.shape == (17, 79) and not torch.equal(a, b)  # a new window per call
    same = U.MotionClipDataset(bandaiml_small, "train", 17, random_crop=True, seed=5)
    assert torch.equal(same[0]["motion"], a) and torch.equal(same[0]["motion"], b)  # the same seed, the same crops
    np.testing.assert_allclose(sp.smplx_forward_kinematics(a.double().numpy())[0, 0, [0, 2]], 0.0, atol=1e-5)
    with pytest.raises(DatasetError):
        U.MotionClipDataset(bandaiml_small, "train", 100_000)


@pytest.mark.bandai
def test_video_clip_dataset(bandaiml_small):
    ds = U.VideoClipDataset(bandaiml_small, "val", num_frames=9, random_crop=False)
    stored = np.load(bandaiml_small / "renders" / "videos" / f"{ds.ids[0]}.npz")["frames"]
    item = ds[0]["video"]
    assert item.dtype == torch.uint8 and item.shape == (9, 3, 64, 64)
    np.testing.assert_array_equal(item.numpy(), stored[:9].transpose(0, 3, 1, 2))
    flips = U.VideoClipDataset(bandaiml_small, "val", num_frames=17, random_crop=False, flip=True, seed=0)
    seen = {bool(np.array_equal(flips[0]["video"].numpy(), stored.transpose(0, 3, 1, 2))) for _ in range(12)}
    assert seen == {True, False}
    mirrored = stored[:, :, ::-1].transpose(0, 3, 1, 2)
    for _ in range(6):
        v = flips[0]["video"].numpy()
        assert np.array_equal(v, stored.transpose(0, 3, 1, 2)) or np.array_equal(v, mirrored)
    # with_joints: the rendered 2D joints of the same frames, mirrored (u → S − u, left/right swapped) with a flip
    from unimotion.motion.skeletons import T2M22_MIRROR

    j2d = np.load(bandaiml_small / "renders" / "videos" / f"{ds.ids[0]}.npz")["joints_2d"].astype(np.float32)
    paired = U.VideoClipDataset(bandaiml_small, "val", num_frames=17, random_crop=False, flip=True, seed=0,
                                with_joints=True)
    kinds = set()
    for _ in range(12):
        it = paired[0]
        assert it["joints_2d"].shape == (17, 22, 2)
        if np.array_equal(it["video"].numpy(), stored.transpose(0, 3, 1, 2)):
            np.testing.assert_allclose(it["joints_2d"].numpy(), j2d)
            kinds.add("plain")
        else:
            want = j2d[:, list(T2M22_MIRROR)].copy()
            want[..., 0] = 64 - want[..., 0]
            np.testing.assert_allclose(it["joints_2d"].numpy(), want)
            kinds.add("flipped")
    assert kinds == {"plain", "flipped"}


@pytest.mark.bandai
def test_extra_renders_and_paired_dataset(bandaiml_small):
    clips = list(U.render_extra_clips(bandaiml_small, "val", per_motion=2, seed=3))
    assert len(clips) == 2 * len(U.read_ids(bandaiml_small, "val"))
    again = list(U.render_extra_clips(bandaiml_small, "val", per_motion=2, seed=3))
    assert all(np.array_equal(a.frames, b.frames) for a, b in zip(clips, again, strict=True))
    other = next(U.render_extra_clips(bandaiml_small, "val", per_motion=1, seed=4))
    assert not np.array_equal(other.frames, clips[0].frames)
    for c in clips[:3]:
        assert c.frames.shape == (17, 64, 64, 3) and c.id.endswith(("#r0", "#r1"))
        np.testing.assert_allclose(pinhole(c.joints, c.K, c.R, c.t), c.joints_2d, atol=1e-6)
        assert c.frames.reshape(17, -1, 3).std(axis=1).max() > 5  # something was drawn
    paired = U.PairedClipDataset(bandaiml_small, "val", limit=2)
    item = paired[0]
    assert len(paired) == 2 and item["video"].shape == (17, 3, 64, 64) and item["motion"].shape == (17, 79)
    assert item["joints"].shape == (17, 22, 3) and item["id"] == paired.ids[0]


@pytest.mark.bandai
def test_motion_stats_match_numpy(bandaiml_small):
    stats = U.motion_stats(bandaiml_small, "val", clip_frames=17, stride=8)
    crops = []
    for mid in U.read_ids(bandaiml_small, "val"):
        params = np.load(bandaiml_small / "smplx" / f"{mid}.npz")["params"].astype(np.float64)
        for s in range(0, len(params) - 16, 8):
            crops.append(sp.canonicalize_params(params[s : s + 17])[0])
    data = np.concatenate(crops)
    keep = np.r_[0:63, 73:79]
    np.testing.assert_allclose(stats.mean[keep], data.mean(0)[keep], atol=1e-5)
    np.testing.assert_allclose(stats.std[keep], np.maximum(data.std(0), 1e-4)[keep], rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(stats.mean[sp.BETAS], 0.0)
    np.testing.assert_array_equal(stats.std[sp.BETAS], 1.0)


@pytest.mark.bandai
def test_tokenize_helpers(bandaiml_small):
    from unimotion.models.unimo import (
        MotionTokenizer,
        MotionTokenizerConfig,
        VideoTokenizer,
        VideoTokenizerConfig,
    )

    mt = MotionTokenizer(MotionTokenizerConfig(width=16, depth=1, expansion=2, codebook_size=8, code_dim=4,
                                               trunk_depth=0, expert_depth=0, down_t=1)).eval()
    clip = U.load_clip(bandaiml_small, U.read_ids(bandaiml_small, "val")[0])
    codes = U.tokenize_motion(mt, clip.params[None])
    assert codes.shape == (1, 9 * 2) and codes.dtype == np.int64  # 17 frames padded to 18, r = 2
    expected = mt.encode(torch.from_numpy(U.pad_frames(clip.params[None].astype(np.float32), 2)))
    np.testing.assert_array_equal(codes, expected.numpy())
    vt = VideoTokenizer(VideoTokenizerConfig(base_channels=8, channel_mult=[1], patch_size=4, temporal_patch=2,
                                             fsq_levels=[3, 3], norm_groups=4)).eval()
    vcodes = U.tokenize_videos(vt, clip.frames[None], batch_size=1)
    assert vcodes.shape == (1, 5, 8, 8)
    np.testing.assert_array_equal(vcodes, vt.encode(torch.from_numpy(clip.frames[None].transpose(0, 1, 4, 2, 3).copy())).numpy())


def test_token_clip_dataset_with_pose():
    from unimotion.data.unimo import TokenClipDataset, relative_pose

    rng = np.random.default_rng(0)
    params = (rng.normal(size=(3, 5, sp.PARAM_DIM)) * 0.1).astype(np.float32)
    pose = relative_pose(params)
    assert pose.shape == (3, 5, 66) and np.allclose(pose[..., :3], 0)  # pelvis-relative: the pelvis is 0
    joints = sp.smplx_forward_kinematics(params.astype(np.float64))
    np.testing.assert_allclose(pose.reshape(3, 5, 22, 3), joints - joints[..., :1, :], atol=1e-5)
    ds = TokenClipDataset(np.zeros((3, 2, 2, 2)), np.zeros((3, 4)), pose)
    assert set(ds[1]) == {"video_codes", "motion_codes", "pose"} and ds[1]["pose"].shape == (5, 66)
    assert "pose" not in TokenClipDataset(np.zeros((3, 2, 2, 2)), np.zeros((3, 4)))[0]
    with pytest.raises(DatasetError, match="pose"):
        TokenClipDataset(np.zeros((3, 2, 2, 2)), np.zeros((3, 4)), pose[:2])
