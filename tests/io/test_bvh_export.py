"""Export of 22-joint motions to BVH (unimotion.io.bvh_export).

Input motions are made by a small forward kinematics written here with explicit matrices (independent
of the library), on a hand-made SMPL-like skeleton whose pelvis and spine3 child bones are not
axis-aligned, so a wrong rest pose cannot fit them all.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from unimotion.errors import InputError, MotionError
from unimotion.io.bvh import read_bvh
from unimotion.io.bvh_export import (
    BVHExportConfig,
    features_to_bvh,
    joints_to_bvh,
    reproduction_error,
    rest_offsets_from_joints,
    rigidity_report,
    save_bvh,
    save_features_bvh,
)
from unimotion.motion.skeletons import KIT21, T2M22

# metres, Y up, facing +Z, left = +X (loosely SMPL-shaped, values chosen by hand)
OFFSETS = np.array([
    [0, 0, 0], [0.058, -0.093, -0.026], [-0.063, -0.104, -0.021], [-0.003, 0.110, -0.028],
    [0.055, -0.380, -0.010], [-0.045, -0.360, -0.017], [0.010, 0.130, -0.006], [-0.043, -0.400, -0.030],
    [0.015, -0.410, -0.020], [-0.010, 0.050, 0.029], [0.047, -0.058, 0.120], [-0.040, -0.058, 0.120],
    [-0.012, 0.165, -0.030], [0.046, 0.085, -0.007], [-0.047, 0.084, -0.009], [0.024, 0.160, 0.020],
    [0.120, 0.050, -0.015], [-0.100, 0.050, -0.013], [0.260, -0.010, -0.027], [-0.270, -0.020, -0.020],
    [0.270, 0.010, -0.005], [-0.270, 0.010, -0.005],
])
LEAVES = {"left_foot", "right_foot", "head", "left_wrist", "right_wrist"}


def _rotvec_to_matrix(v: np.ndarray) -> np.ndarray:
    """Rodrigues' formula, (..., 3) → (..., 3, 3)."""
    angle = np.linalg.norm(v, axis=-1, keepdims=True)
    axis = v / np.maximum(angle, 1e-12)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([np.stack([zero, -z, y], -1), np.stack([z, zero, -x], -1), np.stack([-y, x, zero], -1)], -2)
    a = angle[..., None]
    return np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * (k @ k)


def rigid_motion(num_frames: int = 60, seed: int = 0, offsets: np.ndarray = OFFSETS) -> np.ndarray:
    """(T, 22, 3) joints of a smooth random motion of the fixed skeleton ``offsets``."""
    rng = np.random.default_rng(seed)
    rotvec = rng.normal(size=(1, 22, 3)) * 0.5 + np.cumsum(rng.normal(size=(num_frames, 22, 3)) * 0.08, axis=0)
    local = _rotvec_to_matrix(rotvec)
    root = np.array([0.0, 0.9, 0.0]) + np.cumsum(rng.normal(size=(num_frames, 3)) * 0.01, axis=0)
    parents = T2M22.parents
    glob = [local[:, 0]]
    pos = [root]
    for j in range(1, 22):
        p = parents[j]
        pos.append(pos[p] + np.einsum("tij,j->ti", glob[p], offsets[j]))
        glob.append(glob[p] @ local[:, j])
    return np.stack(pos, axis=1)


def fk_metres(path_or_motion, names=T2M22.joint_names, scale: float = 100.0) -> np.ndarray:
    motion = read_bvh(path_or_motion) if isinstance(path_or_motion, (str, Path)) else path_or_motion
    return motion.joint_positions(list(names)) / scale


# ------------------------------------------------------------------------------------------ exactness
@pytest.mark.parametrize("rest_pose", ["tpose", "raw", "reference"])
@pytest.mark.parametrize("order", ["ZXY", "XYZ", "ZYX"])
def test_export_then_read_reproduces_rigid_joints(tmp_path, rest_pose, order):
    joints = rigid_motion(seed=len(rest_pose) + len(order))
    err = save_bvh(tmp_path / "m.bvh", joints, rest_pose=rest_pose, rotation_order=order)
    back = fk_metres(tmp_path / "m.bvh")
    dist = np.linalg.norm(back - joints, axis=-1)
    assert dist.max() < 1e-6  # far below the 1 mm acceptance bound
    assert err.max == pytest.approx(dist.max(), abs=1e-12) and err.mean == pytest.approx(dist.mean(), abs=1e-12)
    assert len(err.per_joint_max) == 22


def test_export_hierarchy_rest_pose_and_channels():
    joints = rigid_motion(seed=3)
    motion = read_bvh(joints_to_bvh(joints).to_text())
    assert set(motion.names) == set(T2M22.joint_names)
    for j, name in enumerate(T2M22.joint_names):
        parent = T2M22.parents[j]
        idx = motion.index(name)
        assert motion.parents[idx] == (-1 if parent < 0 else motion.index(T2M22.joint_names[parent]))
        rotations = tuple(c for c in motion.channels[idx] if c.endswith("rotation"))
        assert rotations == ("Zrotation", "Xrotation", "Yrotation")
        has_pos = any(c.endswith("position") for c in motion.channels[idx])
        assert has_pos == (name == "pelvis")
    assert {motion.names[j] for j in motion.end_sites} == LEAVES
    np.testing.assert_array_equal(motion.offsets[0], [0, 0, 0])
    assert motion.frame_time == pytest.approx(1 / 20)
    # rest pose: median bone lengths (cm) along T-pose directions for single-child bones
    lengths = np.median(np.linalg.norm(joints - joints[:, np.maximum(T2M22.parents, 0)], axis=-1), axis=0) * 100
    expect_dirs = {"left_knee": [0, -1, 0], "left_ankle": [0, -1, 0], "left_foot": [0, 0, 1], "head": [0, 1, 0],
                   "spine2": [0, 1, 0], "left_shoulder": [1, 0, 0], "left_elbow": [1, 0, 0],
                   "right_wrist": [-1, 0, 0]}
    for name, direction in expect_dirs.items():
        j = T2M22.index(name)
        np.testing.assert_allclose(motion.offsets[motion.index(name)], lengths[j] * np.array(direction), atol=1e-9)
    # the children of pelvis and spine3 keep the motion's rigid geometry (Gram matrix of the bone vectors)
    for parent, kids in ((0, [1, 2, 3]), (9, [12, 13, 14])):
        rest = np.stack([motion.offsets[motion.index(T2M22.joint_names[k])] for k in kids]) / 100
        data = joints[0, kids] - joints[0, parent]
        np.testing.assert_allclose(rest @ rest.T, data @ data.T, atol=1e-12)
    # the pelvis set is upright: spine1 above, hips below
    assert motion.offsets[motion.index("spine1"), 1] > 0 > motion.offsets[motion.index("left_hip"), 1]
    # End Sites continue their bone by end_site_scale of its length
    np.testing.assert_allclose(motion.end_sites[motion.index("left_wrist")],
                               0.5 * motion.offsets[motion.index("left_wrist")], atol=1e-12)


def test_reference_rest_pose_gives_identity_rotations_at_that_frame():
    joints = rigid_motion(seed=4)
    motion = joints_to_bvh(joints, rest_pose="reference", reference_frame=7)
    np.testing.assert_allclose(motion.offsets[1:] / 100, (joints[7] - joints[7, T2M22.parents])[1:], atol=1e-12)
    rot = motion.rotations()[7]
    np.testing.assert_allclose(np.abs(rot[:, 0]), 1.0, atol=1e-9)
    assert np.abs(reproduction_error(motion, joints).max) < 1e-9
    with pytest.raises(InputError, match="reference_frame"):
        joints_to_bvh(joints, rest_pose="reference", reference_frame=60)


def test_given_rest_offsets_are_used():
    joints = rigid_motion(seed=5)
    exact = joints_to_bvh(joints, rest_offsets=OFFSETS)
    np.testing.assert_allclose(exact.offsets[1:], OFFSETS[1:] * 100, atol=1e-12)
    assert reproduction_error(exact, joints).max < 1e-9
    wrong = OFFSETS.copy()
    wrong[1] = [0.1, 0.0, 0.0]  # the left hip no longer fits the pelvis' child set
    assert reproduction_error(joints_to_bvh(joints, rest_offsets=wrong), joints).max > 0.01
    with pytest.raises(InputError, match="rest_offsets"):
        joints_to_bvh(joints, rest_offsets=np.zeros((21, 3)))


# ------------------------------------------------------------------------------------------ Blender-style reading
def blender_style_positions(path: Path) -> tuple[list[str], np.ndarray]:
    """World joint positions (T, J, 3) of a BVH file read the way Blender's importer does, written here
    independently of the library: OFFSETs from the hierarchy, per-frame rotations composed in channel
    order (R = R_c1 · R_c2 · R_c3, degrees), position channels *replacing* the OFFSET (Blender's
    ``rest_head_local``-relative locations), root first."""
    from scipy.spatial.transform import Rotation

    tokens = path.read_text().split()
    names, parents, offsets, channels, stack, i = [], [], [], [], [], 0
    while tokens[i] != "MOTION":
        tok = tokens[i]
        if tok in ("ROOT", "JOINT"):
            names.append(tokens[i + 1])
            parents.append(stack[-1] if stack else -1)
            i += 2
        elif tok == "End":  # End Site { OFFSET x y z }
            i = tokens.index("}", i) + 1
        elif tok == "{":
            stack.append(len(names) - 1)
            i += 1
        elif tok == "}":
            stack.pop()
            i += 1
        elif tok == "OFFSET":
            offsets.append([float(v) for v in tokens[i + 1 : i + 4]])
            i += 4
        elif tok == "CHANNELS":
            n = int(tokens[i + 1])
            channels.append(tokens[i + 2 : i + 2 + n])
            i += 2 + n
        else:
            i += 1
    num_frames = int(tokens[tokens.index("Frames:") + 1])
    start = tokens.index("Time:") + 2
    values = np.array(tokens[start:], dtype=np.float64).reshape(num_frames, -1)
    out = np.zeros((num_frames, len(names), 3))
    world_rot = [None] * len(names)
    col = 0
    for j, chans in enumerate(channels):
        v = values[:, col : col + len(chans)]
        col += len(chans)
        local = np.broadcast_to(np.asarray(offsets[j]), (num_frames, 3)).copy()
        rot = Rotation.identity(num_frames)
        for k, c in enumerate(chans):
            if c.endswith("position"):
                local[:, "XYZ".index(c[0])] = v[:, k]
            else:
                rot = rot * Rotation.from_euler(c[0].lower(), v[:, k : k + 1], degrees=True)
        p = parents[j]
        if p < 0:
            out[:, j], world_rot[j] = local, rot
        else:
            out[:, j] = out[:, p] + world_rot[p].apply(local)
            world_rot[j] = world_rot[p] * rot
    return names, out


def _blender_dist(path: Path, joints: np.ndarray) -> np.ndarray:
    names, world = blender_style_positions(path)
    order = [names.index(n) for n in T2M22.joint_names]
    return np.linalg.norm(world[:, order] / 100 - joints, axis=-1)


@pytest.mark.parametrize("order", ["ZXY", "XYZ"])
def test_blender_style_reading_reproduces_rigid_joints(tmp_path, order):
    joints = rigid_motion(seed=21)
    err = save_bvh(tmp_path / "m.bvh", joints, rotation_order=order)
    assert err.warning is None
    assert _blender_dist(tmp_path / "m.bvh", joints).max() < 1e-6
    np.testing.assert_allclose(_blender_dist(tmp_path / "m.bvh", joints).max(), err.max, atol=1e-9)


# ------------------------------------------------------------------------------------------ non-rigid
def non_rigid_motion(num_frames: int = 60, seed: int = 6) -> np.ndarray:
    """Joints whose shin lengths breathe by ±4 cm and whose left collar swings against the neck: like
    generated motion, not the motion of one rigid skeleton."""
    offsets = np.repeat(OFFSETS[None], num_frames, axis=0)
    t = np.arange(num_frames) / 20.0
    offsets[:, 7] *= (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))[:, None]  # left_ankle: shin length
    offsets[:, 8] *= (1 - 0.1 * np.sin(2 * np.pi * 0.5 * t))[:, None]  # right_ankle
    offsets[:, 13, 1] += 0.05 * np.sin(2 * np.pi * 0.9 * t)  # left_collar: the spine3 children's angle
    rng = np.random.default_rng(seed)
    rotvec = rng.normal(size=(1, 22, 3)) * 0.5 + np.cumsum(rng.normal(size=(num_frames, 22, 3)) * 0.08, axis=0)
    local = _rotvec_to_matrix(rotvec)
    parents = T2M22.parents
    glob, pos = [local[:, 0]], [np.array([0.0, 0.9, 0.0]) + np.zeros((num_frames, 3))]
    for j in range(1, 22):
        p = parents[j]
        pos.append(pos[p] + np.einsum("tij,tj->ti", glob[p], offsets[:, j]))
        glob.append(glob[p] @ local[:, j])
    return np.stack(pos, axis=1)


def test_rigidity_report_names_the_varying_bones_and_joints():
    report = rigidity_report(rigid_motion(seed=2))
    assert report.rigid and report.describe() == ""
    report = rigidity_report(non_rigid_motion())
    assert not report.rigid
    # the collar's offset change also changes its length
    assert set(report.varying_bones) == {"left_knee→left_ankle", "right_knee→right_ankle", "spine3→left_collar"}
    assert report.varying_joints == ["spine3"]
    lo, hi = report.bone_lengths["left_knee→left_ankle"]
    assert hi - lo == pytest.approx(0.2 * np.linalg.norm(OFFSETS[7]), rel=0.05)
    text = report.describe()
    assert "3 bone lengths vary" in text and "at spine3 by" in text


def test_non_rigid_input_warns_with_the_cause_and_exact_mode(tmp_path, caplog):
    joints = non_rigid_motion()
    with caplog.at_level("WARNING", logger="unimotion"):
        err = save_bvh(tmp_path / "ls.bvh", joints)
    measured = np.linalg.norm(fk_metres(tmp_path / "ls.bvh") - joints, axis=-1)
    assert err.max == pytest.approx(measured.max(), abs=1e-12)
    assert 0.005 < err.max < 0.2  # least squares: not exact, but close to the input
    np.testing.assert_allclose(_blender_dist(tmp_path / "ls.bvh", joints).max(), err.max, atol=1e-9)
    assert err.warning is not None
    for fragment in (f"{err.max:.4g}", "not the motion of one rigid skeleton", "left_knee→left_ankle", "spine3",
                     "positions='all'"):
        assert fragment in err.warning
    assert any(r.levelname == "WARNING" and r.getMessage() == err.warning for r in caplog.records)
    # positions="all" is exact for any input, in our reader and a Blender-style one, and has a drawable rest
    # skeleton by default (rest OFFSETs, not 22 joints stacked at the origin)
    for offsets_mode in ("rest", "zero"):
        err = save_bvh(tmp_path / f"all_{offsets_mode}.bvh", joints, positions="all", all_positions_offsets=offsets_mode)
        assert err.max < 1e-9 and err.warning is None
        assert _blender_dist(tmp_path / f"all_{offsets_mode}.bvh", joints).max() < 1e-6
        motion = read_bvh(tmp_path / f"all_{offsets_mode}.bvh")
        assert all(c[:3] == ("Xposition", "Yposition", "Zposition") for c in motion.channels)
        assert (np.abs(motion.offsets).max() == 0) == (offsets_mode == "zero")
    default = read_bvh(joints_to_bvh(joints, positions="all").to_text())
    rest = rest_offsets_from_joints(joints) * 100
    rest[0] = 0
    np.testing.assert_allclose(default.offsets[[default.index(n) for n in T2M22.joint_names]], rest, atol=1e-9)
    assert np.linalg.norm(default.offsets, axis=-1)[1:].min() > 1.0  # every bone drawn, > 1 cm


def test_jitter_without_a_rigid_cause_still_warns(tmp_path):
    rng = np.random.default_rng(6)
    joints = rigid_motion(seed=6) + rng.normal(size=(60, 22, 3)) * 0.01  # 1 cm jitter: not rigid
    err = save_bvh(tmp_path / "ls.bvh", joints)
    assert err.warning is not None and "positions='all'" in err.warning
    assert save_bvh(tmp_path / "big_tolerance.bvh", joints, warn_above=1.0).warning is None


@pytest.mark.bandai
def test_real_clip_features_export_within_1mm_blender_style(tmp_path, bandai_dir):
    """Real mocap as the BandaiML build stores it (retargeted, encoded to 263 features, decoded): rigid,
    so the rotation-only BVH reproduces it within 1 mm read the Blender way, and nothing is warned."""
    import tarfile

    from unimotion.io.bvh import parse_bvh
    from unimotion.io.retarget import retarget_to_t2m
    from unimotion.motion.hml3d import features_to_joints, joints_to_features

    with tarfile.open(bandai_dir / "Bandai-Namco-Research-Motiondataset-1.tar.gz", "r:gz") as tar:
        member = next(m for m in tar if m.name.endswith("dataset-1_dance-short_normal_001.bvh"))
        text = tar.extractfile(member).read().decode("utf-8")
    joints = retarget_to_t2m(parse_bvh(text), "bandai", target_fps=20)[:197]
    decoded = features_to_joints(joints_to_features(joints)).astype(np.float64)
    assert rigidity_report(decoded).rigid
    err = save_features_bvh(tmp_path / "dance.bvh", joints_to_features(joints))
    assert err.warning is None and err.max < 1e-3
    assert _blender_dist(tmp_path / "dance.bvh", decoded).max() < 1e-3


def test_precision_option_and_scale_and_fps(tmp_path):
    joints = rigid_motion(seed=7)
    err = save_bvh(tmp_path / "p.bvh", joints, precision=6)
    assert err.max < 1e-4  # 6 significant digits in cm
    motion = joints_to_bvh(joints, 30, T2M22, 1.0)  # positional fps, layout, scale
    assert motion.frame_time == pytest.approx(1 / 30)
    np.testing.assert_allclose(motion.joint_positions(list(T2M22.joint_names)), joints, atol=1e-9)
    named = joints_to_bvh(joints, joint_names=tuple(f"J{j}" for j in range(22)))
    assert named.names[0] == "J0"
    assert reproduction_error(named, joints, joint_names=named.names).max < 1e-9


def test_torch_input_and_float32():
    joints = rigid_motion(seed=8)
    a = joints_to_bvh(torch.tensor(joints, dtype=torch.float32))
    assert reproduction_error(a, joints.astype(np.float32)).max < 1e-5


def test_kit_layout_uses_raw_directions():
    rng = np.random.default_rng(9)
    offsets = KIT21.raw_offsets * rng.uniform(0.05, 0.3, size=(21, 1))
    offsets[[5, 8, 11, 16]] += rng.normal(size=(4, 3)) * 0.02  # non-orthogonal branch sets
    parents = KIT21.parents
    rotvec = rng.normal(size=(20, 21, 3)) * 0.4
    local = _rotvec_to_matrix(rotvec)
    glob, pos = [local[:, 0]], [np.zeros((20, 3))]
    for j in range(1, 21):
        pos.append(pos[parents[j]] + np.einsum("tij,j->ti", glob[parents[j]], offsets[j]))
        glob.append(glob[parents[j]] @ local[:, j])
    joints = np.stack(pos, axis=1)
    motion = joints_to_bvh(joints, layout=KIT21)
    assert reproduction_error(motion, joints, KIT21).max < 1e-9
    rest = rest_offsets_from_joints(joints, KIT21)
    np.testing.assert_allclose(rest[6] / np.linalg.norm(rest[6]), [0, -1, 0], atol=1e-12)


@pytest.mark.parametrize("bad, error, fragment", [
    (np.zeros((10, 21, 3)), MotionError, "shape"),
    (np.zeros((0, 22, 3)), MotionError, "no frames"),
    (np.full((2, 22, 3), np.nan), MotionError, "NaN"),
    ("text", MotionError, "numeric"),
])
def test_input_validation(bad, error, fragment):
    with pytest.raises(error, match=fragment):
        joints_to_bvh(bad)


@pytest.mark.parametrize("overrides, fragment", [
    ({"fps": 0}, "fps"), ({"scale": -1}, "scale"), ({"rotation_order": "XXY"}, "rotation_order"),
    ({"positions": "some"}, "positions"), ({"all_positions_offsets": "x"}, "all_positions_offsets"),
    ({"rest_pose": "apose"}, "rest_pose"), ({"template_frames": 0}, "template_frames"),
    ({"end_site_scale": -1}, "end_site_scale"), ({"colour": "red"}, "unknown export option"),
    ({"joint_names": ("a", "b")}, "joint_names"),
])
def test_config_validation(overrides, fragment):
    with pytest.raises(InputError, match=fragment):
        joints_to_bvh(rigid_motion(num_frames=3), **overrides)


def test_config_object_is_used():
    cfg = BVHExportConfig(fps=25, rotation_order="yxz")
    assert cfg.rotation_order == "YXZ"
    motion = joints_to_bvh(rigid_motion(num_frames=5), config=cfg)
    assert motion.frame_time == pytest.approx(0.04) and motion.channels[1] == ("Yrotation", "Xrotation", "Zrotation")
    assert joints_to_bvh(rigid_motion(num_frames=5), 10, config=cfg).frame_time == pytest.approx(0.1)


# ------------------------------------------------------------------------------------------ features
@pytest.mark.parametrize("dim", [263, 269])
def test_features_to_bvh_reproduces_decoded_joints(tmp_path, dim):
    from unimotion.motion.hml3d import features_to_joints, joints_to_features

    features = joints_to_features(rigid_motion(num_frames=50, seed=10), dim=dim)
    assert features.shape == (49, dim)
    decoded = np.asarray(features_to_joints(features), dtype=np.float64)
    motion = features_to_bvh(features)
    assert np.linalg.norm(fk_metres(motion) - decoded, axis=-1).max() < 1e-3
    err = save_features_bvh(tmp_path / "f.bvh", features)
    assert err.max < 1e-3
    assert np.linalg.norm(fk_metres(tmp_path / "f.bvh") - decoded, axis=-1).max() < 1e-3


def test_features_to_bvh_rejects_batches():
    from unimotion.motion.hml3d import joints_to_features

    features = joints_to_features(rigid_motion(num_frames=30, seed=11))
    with pytest.raises(MotionError, match="one clip"):
        features_to_bvh(np.stack([features, features]))


# ------------------------------------------------------------------------------------------ three.js
THREE_VERSION = "0.187.0"
DUMP_SCRIPT = """
import { readFileSync } from 'node:fs';
import { AnimationMixer, LoopOnce, Vector3 } from 'three';
import { BVHLoader } from 'three/addons/loaders/BVHLoader.js';
const { skeleton, clip } = new BVHLoader().parse(readFileSync(process.argv[2], 'utf8'));
const root = skeleton.bones[0];
const mixer = new AnimationMixer(root);
const action = mixer.clipAction(clip);
action.setLoop(LoopOnce, 1);
action.clampWhenFinished = true;
action.play();
const bones = skeleton.bones.filter((b) => b.name !== 'ENDSITE');
const times = clip.tracks[0].times;
const v = new Vector3();
const frames = [];
for (let i = 0; i < times.length; i++) {
  mixer.setTime(times[i]);
  root.updateMatrixWorld(true);
  frames.push(bones.map((b) => { b.getWorldPosition(v); return [v.x, v.y, v.z]; }));
}
process.stdout.write(JSON.stringify({ names: bones.map((b) => b.name), frames }));
"""


@pytest.fixture(scope="session")
def threejs_dir() -> Path:
    """A folder with three@0.187.0 installed by npm (cached) and the dump script; skips when impossible."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node/npm not installed: cannot check the export with three.js BVHLoader")
    cache = Path(os.environ.get("UNIMOTION_CACHE", Path.home() / ".cache" / "unimotion")) / f"three-{THREE_VERSION}"
    package = cache / "node_modules" / "three" / "package.json"
    if not (package.is_file() and json.loads(package.read_text()).get("version") == THREE_VERSION):
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".three-", dir=cache.parent))
        try:
            proc = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefix", str(tmp), f"three@{THREE_VERSION}"],
                capture_output=True, text=True, timeout=240,
            )
        except subprocess.TimeoutExpired:
            shutil.rmtree(tmp, ignore_errors=True)
            pytest.skip(f"npm install three@{THREE_VERSION} timed out (no registry access?)")
        if proc.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            pytest.skip(f"npm install three@{THREE_VERSION} failed: {proc.stderr.strip()[-300:]}")
        if not package.is_file():
            shutil.rmtree(cache, ignore_errors=True)
            os.replace(tmp, cache)
        else:  # another process installed it meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
    script = cache / "dump_bvh.mjs"
    if not script.is_file() or script.read_text() != DUMP_SCRIPT:
        script.write_text(DUMP_SCRIPT)
    return cache


def threejs_positions(threejs_dir: Path, path: Path) -> tuple[list[str], np.ndarray]:
    proc = subprocess.run(["node", str(threejs_dir / "dump_bvh.mjs"), str(path)], capture_output=True, text=True,
                          timeout=120, check=True)
    out = json.loads(proc.stdout)
    return out["names"], np.array(out["frames"])


def test_threejs_bvhloader_reproduces_joints(tmp_path, threejs_dir):
    joints = rigid_motion(num_frames=40, seed=12)
    cases = {"root": {}, "all_zero": {"positions": "all", "all_positions_offsets": "zero"}}
    for name, options in cases.items():
        path = tmp_path / f"{name}.bvh"
        save_bvh(path, joints, **options)
        names, world = threejs_positions(threejs_dir, path)
        assert world.shape == (40, 22, 3)
        order = [names.index(n) for n in T2M22.joint_names]
        dist = np.linalg.norm(world[:, order] / 100 - joints, axis=-1)
        assert dist.max() < 1e-3, (name, dist.max())  # within 1 mm
    # three.js *adds* position channels to OFFSETs: with rest OFFSETs on every joint it is off (documented)
    save_bvh(tmp_path / "all_rest.bvh", joints, positions="all", all_positions_offsets="rest")
    names, world = threejs_positions(threejs_dir, tmp_path / "all_rest.bvh")
    order = [names.index(n) for n in T2M22.joint_names]
    assert np.linalg.norm(world[:, order] / 100 - joints, axis=-1).max() > 0.01


@pytest.mark.bandai
def test_bandai_clip_retargeted_exported_and_loaded_by_threejs(tmp_path, bandai_dir, threejs_dir):
    """Real mocap: Bandai clip → 22 joints at 20 fps → BVH → three.js world positions within 1 mm."""
    import tarfile

    from unimotion.io.bvh import parse_bvh
    from unimotion.io.retarget import retarget_to_t2m

    with tarfile.open(bandai_dir / "Bandai-Namco-Research-Motiondataset-1.tar.gz", "r:gz") as tar:
        member = next(m for m in tar if m.name.endswith("dataset-1_kick_normal_001.bvh"))
        text = tar.extractfile(member).read().decode("utf-8")
    joints = retarget_to_t2m(parse_bvh(text), "bandai", target_fps=20)
    err = save_bvh(tmp_path / "kick.bvh", joints)
    assert err.max < 1e-4  # retargeted Bandai joints are rigid per frame: the fit is exact
    names, world = threejs_positions(threejs_dir, tmp_path / "kick.bvh")
    order = [names.index(n) for n in T2M22.joint_names]
    assert np.linalg.norm(world[:, order] / 100 - joints, axis=-1).max() < 1e-3
