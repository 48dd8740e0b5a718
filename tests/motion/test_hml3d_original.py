"""The codec against a faithful transcription of the original HumanML3D code (``benchmarks/hml3d_original.py``:
``common/quaternion.py``, ``common/skeleton.py`` and the notebook's ``uniform_skeleton`` / ``process_file`` /
``recover_from_ric``, float32 torch helpers as published).

The original computes in float32, so agreement is to float32 rounding (≤ 1e-4, every frame and channel);
with its helpers switched to float64 the agreement is ≤ 1e-6, which rules out any algorithmic difference.
The original's first root rotation is the identity: these tests encode with ``first_root="identity"``
(the project's default, ``"smoothed"``, data format v1, differs in frame 0; tested at the end).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from motion_synth import make_clip

from unimotion.motion import hml3d
from unimotion.motion.skeletons import T2M22

F32_TOL = 1e-4  # float32 rounding of the original
F64_TOL = 1e-6
ORIGINAL = "identity"  # first_root of the original code

CLIPS = {
    "walk": lambda: make_clip(120, seed=1),
    "walk_and_turn": lambda: make_clip(196, seed=2, turn_rate=0.8),
    "turning_through_minus_z": lambda: make_clip(100, seed=8, turn_rate=2.5, start_yaw=2.4),
    "other_proportions": lambda: make_clip(60, seed=7, scale=0.55, limb_scale=1.4),
    "below_the_floor": lambda: make_clip(50, seed=6, height=-1.5),
    "two_frames": lambda: make_clip(2, seed=3),
    # sharp: large, fast joint rotations and a fast turn
    "sharp": lambda: make_clip(150, seed=11, pose_amplitude=3.0, turn_rate=3.0),
    "sharp_backwards": lambda: make_clip(150, seed=12, pose_amplitude=2.0, velocity=(0.3, 0.0, -1.5), start_yaw=3.0),
}


def _original(original, dtype=torch.float32, target=None):
    target = hml3d.default_target_offsets() if target is None else target
    return original.Original(T2M22, target, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("case", list(CLIPS))
def test_features_agree_with_the_original_process_file(case, dtype, original):
    joints = CLIPS[case]().astype(np.float32)
    ref = _original(original, dtype)
    expected, global_positions, _, _ = ref.process_file(joints.copy(), 0.002)
    feats = hml3d.joints_to_features(joints, first_root=ORIGINAL)
    # near-singular configurations of the sharp clips (a bone almost opposite its rest direction, a heading
    # almost -Z) amplify the original's float32 rounding in a few values
    tol = (3 * F32_TOL if case.startswith("sharp") else F32_TOL) if dtype == torch.float32 else F64_TOL
    assert feats.shape == expected.shape
    # every frame, the first one included (the original's IK uses the identity as frame 0's root rotation)
    assert np.abs(feats - expected).max() <= tol
    assert np.abs(hml3d.canonical_joints(joints) - global_positions).max() <= tol


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("case", ["walk_and_turn", "sharp", "sharp_backwards", "other_proportions"])
def test_uniform_skeleton_agrees_with_the_original(case, dtype, original):
    joints = CLIPS[case]().astype(np.float32)
    target = hml3d.default_target_offsets()
    expected = _original(original, dtype, target).uniform_skeleton(joints.copy())
    tol = 1e-5 if dtype == torch.float32 else 1e-6  # float32 input: its first-frame bone lengths are float32
    assert np.abs(hml3d.uniform_skeleton(joints, target) - expected).max() <= tol


@pytest.mark.parametrize("case", ["walk_and_turn", "turning_through_minus_z", "sharp"])
def test_decoding_agrees_with_the_original_recover_from_ric(case, original):
    feats = hml3d.joints_to_features(CLIPS[case](), first_root=ORIGINAL)
    ref = _original(original)
    expected = ref.recover_from_ric(torch.from_numpy(feats).float()[None], 22)[0].numpy()
    assert np.abs(hml3d.features_to_joints(feats) - expected).max() <= F32_TOL
    # and, as in the original, decoding reproduces the canonical ("global") positions
    _, global_positions, _, _ = ref.process_file(CLIPS[case]().astype(np.float32), 0.002)
    assert np.abs(hml3d.features_to_joints(feats)[:30] - global_positions[:30]).max() <= 1e-4


def test_a_target_measured_on_a_frame_like_humanml3d(original):
    """``tgt_offsets = Skeleton.get_offsets_joints(example_data[0])`` (float32 torch) as the target."""
    frame = make_clip(1, seed=40, scale=1.1)[0].astype(np.float32)
    target = original.offsets_of_frame(T2M22, frame)
    np.testing.assert_allclose(target, hml3d.target_offsets_from_joints(frame), atol=1e-6)
    joints = CLIPS["walk_and_turn"]().astype(np.float32)
    expected = _original(original, target=target).process_file(joints.copy(), 0.002)[0]
    assert np.abs(hml3d.joints_to_features(joints, target, first_root=ORIGINAL) - expected).max() <= F32_TOL


@pytest.mark.bandai
def test_agrees_with_the_original_on_real_bandai_clips(bandai_dir, original):
    """Real motion capture: the first clips of Bandai dataset 1, retargeted like the BandaiML build, cut
    into windows of at most 196 frames (40 windows)."""
    from unimotion.data.bandai import iter_archive_clips, window_bounds
    from unimotion.io.bvh import parse_bvh
    from unimotion.io.retarget import retarget_to_t2m

    archive = bandai_dir / "Bandai-Namco-Research-Motiondataset-1.tar.gz"
    windows = []
    for clip, text in iter_archive_clips(archive):
        if len(windows) >= 40:
            break
        joints = retarget_to_t2m(parse_bvh(text, source=clip.stem), mapping="bandai", target_fps=20.0)
        windows += [joints[a:b] for a, b in window_bounds(len(joints), 196, 40)]
    assert len(windows) >= 40
    # HumanML3D's target: offsets measured on one frame of a real clip
    target = original.offsets_of_frame(T2M22, windows[0][0].astype(np.float32))
    ref32, ref64 = _original(original, torch.float32, target), _original(original, torch.float64, target)
    worst32 = worst64 = worst_uniform = worst_v1_later = 0.0
    v1_first = []
    for joints in windows:
        j32 = joints.astype(np.float32)
        ours = hml3d.joints_to_features(j32, target, first_root=ORIGINAL)
        expected64 = ref64.process_file(j32.copy(), 0.002)[0]
        worst32 = max(worst32, float(np.abs(ours - ref32.process_file(j32.copy(), 0.002)[0]).max()))
        worst64 = max(worst64, float(np.abs(ours - expected64).max()))
        worst_uniform = max(worst_uniform, float(np.abs(
            hml3d.uniform_skeleton(j32, target) - ref32.uniform_skeleton(j32.copy())).max()))
        # the default (data format v1): the same numbers from frame 1 on, its own frame 0
        v1 = hml3d.joints_to_features(j32, target)
        worst_v1_later = max(worst_v1_later, float(np.abs(v1[1:] - expected64[1:]).max()))
        v1_first.append(float(np.abs(v1[0] - expected64[0]).max()))
    assert worst32 <= F32_TOL
    assert worst64 <= F64_TOL
    assert worst_uniform <= 1e-5
    assert worst_v1_later <= F64_TOL
    assert np.median(v1_first) > 1e-3  # real clips: the first smoothed heading is rarely exactly +Z


@pytest.mark.parametrize("case", ["walk_and_turn", "turning_through_minus_z", "sharp"])
def test_the_default_v1_differs_from_the_original_only_in_frame_0(case, original):
    """The default (``first_root="smoothed"``, data format v1) keeps frame 0's smoothed heading: frames ≥ 1
    agree with the original like the identity mode, frame 0 does not (a turning clip: r_rot[0] ≠ identity)."""
    joints = CLIPS[case]().astype(np.float32)
    expected = _original(original, torch.float64).process_file(joints.copy(), 0.002)[0]
    feats = hml3d.joints_to_features(joints)
    assert np.abs(feats[1:] - expected[1:]).max() <= F64_TOL
    assert np.abs(feats[0] - expected[0]).max() > 1e-3
