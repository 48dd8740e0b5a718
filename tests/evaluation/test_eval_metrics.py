"""Metrics: expectations computed by hand or from first principles, independent of the code under test."""

from __future__ import annotations

import numpy as np
import pytest

from unimotion.errors import InputError, MotionError
from unimotion.evaluation import metrics as M


def _rotation(rng: np.random.Generator) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


# ----------------------------------------------------------------------------------------------- R-precision
def test_r_precision_identical_embeddings_is_one():
    emb = np.random.default_rng(0).normal(size=(64, 16))
    np.testing.assert_allclose(M.r_precision(emb, emb), [1.0, 1.0, 1.0])


def _pair_line(n: int) -> np.ndarray:
    """1-D embeddings in well separated pairs: 0, 1, 10, 11, 20, 21, ..."""
    i = np.arange(n)
    return (10.0 * (i // 2) + (i % 2))[:, None]


def test_r_precision_known_permutation_and_drop_last():
    n = 70  # two pools of 32 are used; the last 6 pairs are dropped
    text = _pair_line(n)
    motion = text.copy()
    for start in (0, 32):
        for k in range(8):  # swap the motions of the first 8 pairs of every pool (16 texts)
            a, b = start + 2 * k, start + 2 * k + 1
            motion[[a, b]] = motion[[b, a]]
    motion[64:] = 1e6 + np.arange(6)[:, None]  # would ruin the score if the last partial pool were used
    # swapped texts: their own motion is 2nd nearest (distance 1; distance 0 to the neighbour's); others 1st
    np.testing.assert_allclose(M.r_precision(text, motion, top_k=3), [0.5, 1.0, 1.0])
    np.testing.assert_allclose(M.r_precision(text, motion, top_k=1), [0.5])


def test_r_precision_shuffle_is_seeded_and_joint():
    emb = np.random.default_rng(1).normal(size=(40, 4))
    a = M.r_precision(emb, emb + 0.5, shuffle=True, seed=3)
    b = M.r_precision(emb, emb + 0.5, shuffle=True, seed=3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(M.r_precision(emb, emb, shuffle=True, seed=5), [1, 1, 1])  # pairs stay paired


def test_r_precision_validation():
    emb = np.zeros((40, 3))
    with pytest.raises(InputError, match="at least batch_size"):
        M.r_precision(emb[:10], emb[:10])
    with pytest.raises(InputError, match="same shape"):
        M.r_precision(emb, emb[:, :2])
    bad = emb.copy()
    bad[3, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        M.r_precision(bad, emb)
    with pytest.raises(InputError, match="top_k"):
        M.r_precision(emb, emb, top_k=0)


def test_mm_dist_by_hand():
    text = np.zeros((2, 2))
    motion = np.array([[3.0, 4.0], [0.0, 2.0]])
    assert M.mm_dist(text, motion) == pytest.approx((5.0 + 2.0) / 2)


def test_euclidean_distance_matrix_no_nan_for_identical_rows():
    x = np.full((3, 5), 1e4)
    d = M.euclidean_distance_matrix(x, x)
    assert np.isfinite(d).all() and np.allclose(d, 0)


# ----------------------------------------------------------------------------------------------- FID
def test_fit_gaussian_matches_unbiased_covariance():
    x = np.random.default_rng(2).normal(size=(50, 3))
    mu, sigma = M.fit_gaussian(x)
    c = x - x.mean(0)
    np.testing.assert_allclose(mu, x.sum(0) / 50)
    np.testing.assert_allclose(sigma, c.T @ c / 49)


def test_fid_identical_is_zero_and_shift_is_squared_norm():
    x = np.random.default_rng(3).normal(size=(200, 4))
    assert M.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)
    shift = np.array([1.0, -2.0, 0.5, 0.0])
    assert M.frechet_distance(x, x + shift) == pytest.approx(float(shift @ shift), rel=1e-6)


def test_fid_scaled_copy_equals_trace():
    x = np.random.default_rng(4).normal(size=(300, 3))
    x -= x.mean(0)
    # same mean; covariances S and 4S: Tr(S) + Tr(4S) - 2 Tr(2S) = Tr(S)
    _, s = M.fit_gaussian(x)
    assert M.frechet_distance(x, 2 * x) == pytest.approx(np.trace(s), rel=1e-6)


def test_fid_validation():
    with pytest.raises(InputError, match="at least 2"):
        M.frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(InputError, match="sizes differ"):
        M.frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))


# ----------------------------------------------------------------------------------------------- diversity / MM
def test_diversity_identical_is_zero_and_sampling_protocol():
    assert M.diversity(np.ones((400, 3)), 300, seed=0) == 0.0
    emb = np.arange(500, dtype=float)[:, None]
    rng = np.random.default_rng(7)  # two independent draws without replacement, paired position-wise
    first, second = rng.choice(500, 300, replace=False), rng.choice(500, 300, replace=False)
    assert M.diversity(emb, 300, seed=7) == pytest.approx(np.abs(first - second).mean())
    with pytest.raises(InputError, match="more than 300"):
        M.diversity(np.zeros((300, 2)), 300)


def test_multimodality_by_construction():
    n, r = 4, 30
    emb = np.zeros((n, r, 2))
    for i in range(n):
        emb[i, :, 0] = (i + 1) * np.arange(r)  # text i: repeat j at (i+1)*j
    rng = np.random.default_rng(11)
    first, second = rng.choice(r, 10, replace=False), rng.choice(r, 10, replace=False)
    expected = np.mean(np.arange(1, n + 1)) * np.abs(first - second).mean()
    assert M.multimodality(emb, 10, seed=11) == pytest.approx(expected)
    assert M.multimodality(np.ones((3, 12, 4)), 10, seed=0) == 0.0
    with pytest.raises(InputError, match="3 dimensions"):
        M.multimodality(np.zeros((5, 4)))
    with pytest.raises(InputError, match="more than 10"):
        M.multimodality(np.zeros((5, 10, 2)), 10)


# ----------------------------------------------------------------------------------------------- MPJPE family
def test_mpjpe_known_offsets():
    gt = np.random.default_rng(5).normal(size=(6, 4, 3))
    shifted = gt + np.array([0.03, 0.04, 0.0])
    assert M.mpjpe(shifted, gt, root_index=None) == pytest.approx(0.05)
    assert M.mpjpe(shifted, gt, root_index=0) == pytest.approx(0.0, abs=1e-12)  # constant offset removed
    one = gt.copy()
    one[:, 3] += [0.0, 0.0, 0.1]  # one of 4 joints off by 10 cm, root untouched
    assert M.mpjpe(one, gt) == pytest.approx(0.1 / 4)
    assert M.mpjpe(one, gt, reduce="none").shape == (6,)
    with pytest.raises(MotionError, match="same shape"):
        M.mpjpe(gt[:, :3], gt)
    with pytest.raises(MotionError, match=r"\(\.\.\., J, 3\)"):
        M.mpjpe(np.zeros((4, 2)), np.zeros((4, 2)))


def test_pa_mpjpe_similarity_copy_is_zero():
    rng = np.random.default_rng(6)
    gt = rng.normal(size=(5, 22, 3))
    pred = np.stack([2.5 * g @ _rotation(rng).T + rng.normal(size=3) for g in gt])
    assert M.pa_mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(M.procrustes_align(pred, gt), gt, atol=1e-9)


def test_pa_mpjpe_does_not_reflect_and_beats_identity():
    rng = np.random.default_rng(8)
    gt = rng.normal(size=(22, 3))
    mirrored = gt * np.array([-1.0, 1.0, 1.0])  # a reflection is not a rotation: error must stay > 0
    assert M.pa_mpjpe(mirrored, gt) > 0.05
    noisy = gt + 0.1 * rng.normal(size=gt.shape)
    assert M.pa_mpjpe(noisy, gt) <= M.mpjpe(noisy, gt, root_index=None) + 1e-12


def test_hit_rate():
    assert M.hit_rate(np.array([50.0, 100.0, 150.0])) == pytest.approx(2 / 3)
    assert M.hit_rate([10.0], threshold_mm=5.0) == 0.0
    with pytest.raises(InputError):
        M.hit_rate(np.array([-1.0]))


# ----------------------------------------------------------------------------------------------- ADE / FDE
def _ade_example():
    t = np.arange(1, 4, dtype=float)  # frame errors grow 1, 2, 3
    gt = np.zeros((2, 3, 2, 3))
    pred = gt.copy()
    pred[:, :, 0, 0] = t  # joint 0 off by t along x
    pred[:, :, 1, 1] = t  # joint 1 off by t along y
    return pred, gt


def test_ade_fde_hand_computed():
    pred, gt = _ade_example()
    assert M.ade(pred, gt, mode="pose") == pytest.approx(2 * np.sqrt(2))  # |(t,0,0,0,t,0)| = t*sqrt(2)
    assert M.fde(pred, gt, mode="pose") == pytest.approx(3 * np.sqrt(2))
    assert M.ade(pred, gt, mode="joint") == pytest.approx(2.0)
    assert M.fde(pred, gt, mode="joint") == pytest.approx(3.0)
    # second sequence only 2 valid frames: per-sequence means are averaged
    assert M.ade(pred, gt, lengths=[3, 2], mode="joint") == pytest.approx((2.0 + 1.5) / 2)
    assert M.fde(pred, gt, lengths=[3, 2], mode="joint") == pytest.approx((3.0 + 2.0) / 2)
    assert M.ade(pred[0], gt[0], mode="joint") == pytest.approx(2.0)  # (T, J, 3) accepted
    with pytest.raises(MotionError, match="length"):
        M.ade(pred, gt, lengths=[3, 4])
    with pytest.raises(InputError, match="mode"):
        M.ade(pred, gt, mode="bad")


# ----------------------------------------------------------------------------------------------- APE / AVE
def _static_t2m22(frames: int) -> np.ndarray:
    """A T2M22-shaped static stick figure (Y up), feet on y=0.05, facing +Z."""
    j = np.zeros((22, 3))
    j[0] = [0.0, 0.9, 0.0]
    j[1], j[2] = [0.1, 0.85, 0.0], [-0.1, 0.85, 0.0]
    j[7], j[8] = [0.1, 0.1, 0.0], [-0.1, 0.1, 0.0]
    j[10], j[11] = [0.1, 0.05, 0.1], [-0.1, 0.05, 0.1]
    j[16], j[17] = [0.2, 1.4, 0.0], [-0.2, 1.4, 0.0]
    for k in (3, 6, 9, 12, 15):
        j[k] = [0.0, 1.0 + 0.1 * k / 3, 0.0]
    for k in (4, 5, 13, 14, 18, 19, 20, 21):
        j[k] = [0.05 * (k % 3), 0.5 + 0.04 * k, 0.02 * k]
    return np.repeat(j[None], frames, axis=0)


def test_ape_ave_zero_for_identical_and_rigid_motion():
    gt = _static_t2m22(6)
    gt[:, :, 0] += np.linspace(0, 1, 6)[:, None]  # walk along x
    assert all(v == pytest.approx(0.0, abs=1e-12) for v in M.ape(gt, gt).values())
    assert all(v == pytest.approx(0.0, abs=1e-12) for v in M.ave(gt, gt).values())
    # translation + rotation about Y of the whole sequence are removed by the canonicalisation
    c, s = np.cos(0.7), np.sin(0.7)
    rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    moved = gt @ rot.T + np.array([3.0, 0.2, -1.0])
    assert all(v == pytest.approx(0.0, abs=1e-9) for v in M.ape(moved, gt).values())
    assert all(v == pytest.approx(0.0, abs=1e-9) for v in M.ave(moved, gt).values())


def test_ape_ave_hand_computed():
    gt = _static_t2m22(4)
    pred = gt.copy()
    pred[0::2, 15, 1] += 0.1  # head (not a heading/foot joint) up 10 cm on frames 0 and 2
    ape = M.ape(pred, gt)
    assert ape["APE_root"] == pytest.approx(0.0, abs=1e-12)
    assert ape["APE_traj"] == pytest.approx(0.0, abs=1e-12)
    assert ape["APE_mean_joints"] == pytest.approx(0.05 / 22)  # mean over frames 0.05, one of 22 joints
    assert ape["APE_mean_pose"] == pytest.approx(0.05 / 21)  # one of 21 non-root joints
    var = 4 * 0.05**2 / 3  # values (0.1, 0, 0.1, 0): unbiased variance
    ave = M.ave(pred, gt)
    assert ave["AVE_root"] == pytest.approx(0.0, abs=1e-12)
    assert ave["AVE_mean_joints"] == pytest.approx(var / 22)
    assert ave["AVE_mean_pose"] == pytest.approx(var / 21)
    assert M.ape(pred, gt, scale=2.0)["APE_mean_joints"] == pytest.approx(2 * 0.05 / 22)
    with pytest.raises(MotionError, match="length"):
        M.ave(pred[:1], gt[:1])  # one frame has no variance
