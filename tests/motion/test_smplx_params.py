"""SMPL-X body parameters: packing, body models (mannequin-x, user npz), FK and IK.

Expectations are computed independently: FK against a 4×4-transform chain written here with SciPy
rotations and mannequin-x's calibration table read directly (not through the code under test).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from unimotion.errors import InputError, MotionError
from unimotion.motion import smplx_params as sp
from unimotion.motion.skeletons import SMPLX_BODY


def _calibration():
    from mannequin import _io

    cal = _io.load_calibration()
    return cal.joint_rest[:22], cal.joint_dirs[:22]


def _random_params(n: int, seed: int = 0, pose_scale: float = 0.5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [rng.normal(0, pose_scale, (n, 63)), rng.normal(0, 1.0, (n, 10)), rng.normal(0, 1.0, (n, 3)),
         rng.normal(0, 0.5, (n, 3))], axis=-1)


def _reference_fk(params: np.ndarray) -> np.ndarray:
    """SMPL-X lbs-style joint positions: T_0 = [R_root | J_0], T_j = T_p [R_j | J_j − J_p], + transl."""
    rest, dirs = _calibration()
    parents = SMPLX_BODY.parents
    out = np.zeros((params.shape[0], 22, 3))
    for n, p in enumerate(params):
        joints = rest + dirs @ p[63:73]
        aa = np.concatenate([p[73:76][None], p[:63].reshape(21, 3)])
        mats = Rotation.from_rotvec(aa).as_matrix()
        transforms = []
        for j in range(22):
            local = np.eye(4)
            local[:3, :3] = mats[j]
            local[:3, 3] = joints[j] - (joints[parents[j]] if j else 0)
            transforms.append(local if j == 0 else transforms[parents[j]] @ local)
        out[n] = np.stack([t[:3, 3] for t in transforms]) + p[76:79]
    return out


def test_channel_order_and_round_trip():
    body_pose = np.arange(63.0)
    betas = 100 + np.arange(10.0)
    orient = np.array([200.0, 201, 202])
    transl = np.array([300.0, 301, 302])
    packed = sp.pack_params(body_pose.reshape(21, 3), betas, orient, transl)
    assert packed.shape == (79,)
    np.testing.assert_array_equal(packed[:63], body_pose)
    np.testing.assert_array_equal(packed[63:73], betas)
    np.testing.assert_array_equal(packed[73:76], orient)
    np.testing.assert_array_equal(packed[76:79], transl)
    parts = sp.unpack_params(packed)
    np.testing.assert_array_equal(parts.pack(), packed)
    assert [s.stop - s.start for s in sp.PARAM_SLICES.values()] == [63, 10, 3, 3]
    # betas broadcast over frames
    frames = sp.pack_params(np.zeros((4, 63)), betas, np.zeros((4, 3)), np.zeros((4, 3)))
    assert frames.shape == (4, 79) and (frames[:, 63:73] == betas).all()


def test_pack_unpack_reject_bad_shapes():
    with pytest.raises(MotionError, match="betas"):
        sp.pack_params(np.zeros(63), np.zeros(9), np.zeros(3), np.zeros(3))
    with pytest.raises(MotionError, match="79"):
        sp.unpack_params(np.zeros((2, 78)))


def test_default_body_model_matches_mannequin_calibration():
    bm = sp.default_body_model()
    rest, dirs = _calibration()
    np.testing.assert_allclose(bm.joint_rest, rest, atol=1e-6)
    np.testing.assert_allclose(bm.joint_dirs, dirs, atol=1e-6)
    assert bm.parents == tuple(SMPLX_BODY.parents.tolist())
    assert sp.default_body_model() is bm  # cached
    offsets = sp.smplx_rest_offsets()
    assert offsets.shape == (22, 3)
    np.testing.assert_allclose(offsets[1], rest[1] - rest[0], atol=1e-6)
    np.testing.assert_allclose(offsets[0], rest[0], atol=1e-6)
    # rest directions agree with the layout's documented axes (left = +X, up = +Y)
    assert offsets[1, 0] > 0 and offsets[2, 0] < 0 and offsets[3, 1] > 0 and offsets[4, 1] < 0


def test_missing_mannequin_gives_clear_error(monkeypatch):
    sp.default_body_model.cache_clear()
    monkeypatch.setitem(sys.modules, "mannequin", None)
    try:
        with pytest.raises(sp.BodyModelUnavailableError, match="mannequin-x"):
            sp.default_body_model()
    finally:
        sp.default_body_model.cache_clear()


def test_fk_matches_reference_numpy_and_torch():
    params = _random_params(6)
    expected = _reference_fk(params)
    # mannequin-x stores its table in float32; the body model is read through its public API: 1e-6
    np.testing.assert_allclose(sp.smplx_forward_kinematics(params), expected, atol=1e-6)
    t = torch.tensor(params, dtype=torch.float64, requires_grad=True)
    joints = sp.smplx_forward_kinematics(t)
    np.testing.assert_allclose(joints.detach().numpy(), sp.smplx_forward_kinematics(params), atol=1e-12)
    joints.sum().backward()
    assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad[:, :63].abs().sum() > 0
    # batched over extra leading dims, float32
    j32 = sp.smplx_forward_kinematics(torch.tensor(params.reshape(2, 3, 79), dtype=torch.float32))
    assert j32.shape == (2, 3, 22, 3) and j32.dtype == torch.float32
    np.testing.assert_allclose(j32.numpy().reshape(6, 22, 3), expected, atol=1e-5)


def test_fk_rest_pose_translation_and_orientation():
    rest, dirs = _calibration()
    zero = np.zeros(79)
    np.testing.assert_allclose(sp.smplx_forward_kinematics(zero), rest, atol=1e-6)
    betas = np.linspace(-1, 1, 10)
    shaped = sp.pack_params(np.zeros(63), betas, np.zeros(3), np.array([0.1, 0.2, 0.3]))
    np.testing.assert_allclose(sp.smplx_forward_kinematics(shaped), rest + dirs @ betas + [0.1, 0.2, 0.3], atol=1e-6)
    # global orientation rotates the body about the pelvis (SMPL-X convention), not about the origin
    turn = np.array([0.0, np.pi / 2, 0.0])
    rotated = sp.smplx_forward_kinematics(sp.pack_params(np.zeros(63), np.zeros(10), turn, np.zeros(3)))
    r = Rotation.from_rotvec(turn).as_matrix()
    np.testing.assert_allclose(rotated, (rest - rest[0]) @ r.T + rest[0], atol=1e-6)


def test_ik_inverts_fk_for_model_skeletons():
    params = _random_params(32, seed=1, pose_scale=0.6)
    joints = sp.smplx_forward_kinematics(params)
    fitted = sp.smplx_inverse_kinematics(joints, betas=params[:, 63:73])
    assert fitted.shape == (32, 79)
    np.testing.assert_allclose(fitted[:, 63:73], params[:, 63:73])
    err = np.abs(sp.smplx_forward_kinematics(fitted) - joints).max()
    assert err < 1e-9, err
    # the global orientation and the rotations of multi-child joints are fully determined
    np.testing.assert_allclose(
        Rotation.from_rotvec(fitted[:, 73:76]).as_matrix(), Rotation.from_rotvec(params[:, 73:76]).as_matrix(),
        atol=1e-8)
    # torch path agrees
    fitted_t = sp.smplx_inverse_kinematics(torch.tensor(joints), betas=torch.tensor(params[:, 63:73]))
    np.testing.assert_allclose(fitted_t.numpy(), fitted, atol=1e-8)


def test_ik_of_rest_is_zero_and_leaves_are_zero():
    bm = sp.default_body_model()
    fitted = sp.smplx_inverse_kinematics(bm.joint_rest + np.array([0.5, 0.0, -1.0]))
    np.testing.assert_allclose(fitted[:76], 0, atol=1e-9)
    np.testing.assert_allclose(fitted[76:], [0.5, 0.0, -1.0], atol=1e-9)
    params = _random_params(4, seed=2)
    fitted = sp.smplx_inverse_kinematics(sp.smplx_forward_kinematics(params), betas=params[:, 63:73])
    pose = fitted[:, :63].reshape(4, 21, 3)
    for leaf in (10, 11, 15, 20, 21):  # feet, head, wrists: no child bone, no observable rotation
        np.testing.assert_array_equal(pose[:, leaf - 1], 0)


def test_ik_error_with_mismatched_bone_lengths_is_bounded():
    """Retargeted mocap has other bone lengths: IK matches directions, the error stays small and finite."""
    params = _random_params(16, seed=3, pose_scale=0.4)
    params[:, 63:73] = 0
    joints = sp.smplx_forward_kinematics(params)
    rng = np.random.default_rng(0)
    parents = SMPLX_BODY.parents
    scaled = joints.copy()
    scale = 1 + rng.uniform(-0.05, 0.05, 22)  # ±5 % per bone
    for j in range(1, 22):  # rebuild with scaled bones, parents first
        scaled[:, j] = scaled[:, parents[j]] + scale[j] * (joints[:, j] - joints[:, parents[j]])
    fitted = sp.smplx_inverse_kinematics(scaled)
    err = np.linalg.norm(sp.smplx_forward_kinematics(fitted) - scaled, axis=-1)
    assert np.isfinite(err).all()
    assert err.mean() < 0.03 and err.max() < 0.1, (err.mean(), err.max())


def test_fit_betas_recovers_bone_lengths():
    params = _random_params(8, seed=5, pose_scale=0.4)
    true_betas = np.linspace(-1.5, 1.5, 10)
    params[:, 63:73] = true_betas
    joints = sp.smplx_forward_kinematics(params)
    betas, residual = sp.fit_betas(joints, prior_weight=1e-8)
    assert betas.shape == (10,) and residual.shape == (21,)
    assert residual.max() < 1e-4  # 0.1 mm
    # with the fitted shape IK reproduces the joints (the lengths match again)
    fitted = sp.smplx_inverse_kinematics(joints, betas=betas)
    assert np.abs(sp.smplx_forward_kinematics(fitted) - joints).max() < 1e-3
    # the prior pulls an unconstrained shape towards zero
    betas0, _ = sp.fit_betas(sp.smplx_forward_kinematics(np.zeros((2, 79))), prior_weight=1e-3)
    np.testing.assert_allclose(betas0, 0, atol=1e-6)
    with pytest.raises(MotionError):
        sp.fit_betas(np.zeros((3, 21, 3)))


def test_ik_handles_fully_folded_and_collapsed_bones():
    bm = sp.default_body_model()
    joints = bm.joint_rest.copy()
    knee, ankle = 4, 7
    joints[ankle] = joints[knee] - (bm.joint_rest[ankle] - bm.joint_rest[knee])  # shin folded back up: 180°
    joints[12] = joints[9]  # zero-length neck bone
    fitted = sp.smplx_inverse_kinematics(joints)
    assert np.isfinite(fitted).all()
    out = sp.smplx_forward_kinematics(fitted)
    np.testing.assert_allclose(out[ankle], joints[ankle], atol=1e-6)


def test_ik_validates_input():
    with pytest.raises(MotionError, match="22, 3"):
        sp.smplx_inverse_kinematics(np.zeros((5, 21, 3)))
    bad = np.zeros((2, 22, 3))
    bad[1, 3, 0] = np.nan
    with pytest.raises(MotionError, match="NaN"):
        sp.smplx_inverse_kinematics(bad)


def _fake_smplx(path, parents=None, num_vertices=40, num_joints=55, seed=0):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(num_vertices, 3))
    shapedirs = rng.normal(scale=0.01, size=(num_vertices, 3, 20))
    regressor = rng.uniform(size=(num_joints, num_vertices))
    regressor /= regressor.sum(1, keepdims=True)
    kin = np.zeros((2, num_joints), dtype=np.int64)
    kin[0, :22] = SMPLX_BODY.parents if parents is None else parents
    kin[0, 0] = 4294967295  # how official SMPL-X files store the root
    kin[0, 22:] = 15
    kin[1] = np.arange(num_joints)
    np.savez(path, v_template=v, shapedirs=shapedirs, J_regressor=regressor, kintree_table=kin,
             f=np.zeros((3, 3), dtype=np.int64))
    return v, shapedirs, regressor


def test_load_user_smplx_npz(tmp_path):
    path = tmp_path / "SMPLX_NEUTRAL.npz"
    v, shapedirs, regressor = _fake_smplx(path)
    bm = sp.load_smplx_npz(path)
    expected_rest = np.stack([(regressor[j][:, None] * v).sum(0) for j in range(22)])
    np.testing.assert_allclose(bm.joint_rest, expected_rest, atol=1e-12)
    betas = np.arange(10) / 10
    shaped_v = v + shapedirs[:, :, :10] @ betas
    np.testing.assert_allclose(bm.rest_joints(betas), regressor[:22] @ shaped_v, atol=1e-12)
    # FK uses it; cached by path
    assert sp.get_body_model(path) is sp.get_body_model(str(path))
    np.testing.assert_allclose(sp.smplx_forward_kinematics(np.zeros(79), body_model=bm), expected_rest, atol=1e-12)


def test_load_user_smplx_npz_rejects_bad_files(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        sp.load_smplx_npz(tmp_path / "nope.npz")
    wrong_tree = list(SMPLX_BODY.parents)
    wrong_tree[5] = 1
    _fake_smplx(tmp_path / "tree.npz", parents=wrong_tree)
    with pytest.raises(InputError, match="kintree_table"):
        sp.load_smplx_npz(tmp_path / "tree.npz")
    np.savez(tmp_path / "partial.npz", v_template=np.zeros((4, 3)))
    with pytest.raises(InputError, match="missing"):
        sp.load_smplx_npz(tmp_path / "partial.npz")
    np.savez(tmp_path / "shape.npz", v_template=np.zeros((4, 3)), shapedirs=np.zeros((4, 3, 5)),
             J_regressor=np.zeros((55, 4)), kintree_table=np.zeros((2, 55), dtype=np.int64))
    with pytest.raises(InputError, match="shapedirs"):
        sp.load_smplx_npz(tmp_path / "shape.npz")


@pytest.mark.bandai
def test_ik_on_retargeted_bandai_clips(bandai_dir):
    """FK(IK(joints)) on real mocap (Bandai dataset-1, every 6th clip, retargeted to 22 joints at 30 fps).

    The error measures what the 79-channel SMPL-X parameterisation loses on these skeletons (their bone
    proportions differ from SMPL-X's); the IK itself is exact for SMPL-X-proportioned skeletons (above).
    Run with ``-s`` to print the numbers.
    """
    import tarfile

    bvh = pytest.importorskip("unimotion.io.bvh")
    retarget = pytest.importorskip("unimotion.io.retarget")
    with tarfile.open(bandai_dir / "Bandai-Namco-Research-Motiondataset-1.tar.gz") as tar:
        members = sorted((m for m in tar.getmembers() if m.name.endswith(".bvh")), key=lambda m: m.name)[::6][:30]
        texts = [(m.name, tar.extractfile(m).read().decode("utf-8")) for m in members]
    errors: dict[str, list[np.ndarray]] = {"betas=0": [], "fitted betas": []}
    for name, text in texts:
        joints = retarget.retarget_to_t2m(bvh.parse_bvh(text, name), mapping="bandai", target_fps=30.0)
        betas, _ = sp.fit_betas(joints)
        for key, b in (("betas=0", None), ("fitted betas", betas)):
            params = sp.smplx_inverse_kinematics(joints, betas=b)
            errors[key].append(np.linalg.norm(sp.smplx_forward_kinematics(params) - joints, axis=-1))
    summary = {}
    for key, errs in errors.items():
        e = np.concatenate(errs) * 1000  # mm
        summary[key] = (e.mean(), np.percentile(e, 95), e.max())
        print(f"\nBandai FK(IK) joint error, {key}: {len(texts)} clips, {e.shape[0]} frames: mean {e.mean():.1f} mm, "
              f"p95 {np.percentile(e, 95):.1f} mm, max {e.max():.1f} mm; per joint {np.round(e.mean(0)).tolist()}")
    assert summary["fitted betas"][0] < summary["betas=0"][0] < 100

