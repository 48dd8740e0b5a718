"""Property tests of unimotion.motion.rotations: round trips, composition, slerp, NumPy vs torch.

Expectations are built independently of the code under test: rotation matrices from Rodrigues' formula
and elementary axis rotations written out here.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from unimotion.errors import MotionError
from unimotion.motion import rotations as R

prop = settings(max_examples=60, deadline=None)  # per test, so other test modules keep their profile

ORDERS = ["".join(p) for p in itertools.permutations("XYZ")]

finite = st.floats(-1.0, 1.0, allow_nan=False, allow_infinity=False)
vec3 = arrays(np.float64, (3,), elements=finite)
vec4 = arrays(np.float64, (4,), elements=finite)
batch_quats = arrays(np.float64, (5, 4), elements=finite)


def _unit_quat(q: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(q)
    if n < 1e-3:
        q = np.array([1.0, 0.2, -0.3, 0.4])
        n = np.linalg.norm(q)
    return q / n


def _unit_quats(q: np.ndarray) -> np.ndarray:
    return np.stack([_unit_quat(x) for x in q])


def _rodrigues(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation matrix about a unit axis (independent of the library)."""
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def _elementary(axis: str, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return {
        "X": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
        "Y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
        "Z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]),
    }[axis]


def _same_rotation(q1: np.ndarray, q2: np.ndarray, atol: float = 1e-9) -> bool:
    """q and −q are the same rotation."""
    return bool(min(np.abs(q1 - q2).max(), np.abs(q1 + q2).max()) < atol)


# ---------------------------------------------------------------------------------------- matrices
@prop
@given(vec4)
def test_quat_to_matrix_matches_rodrigues(q):
    q = _unit_quat(q)
    angle = 2 * np.arctan2(np.linalg.norm(q[1:]), q[0])
    axis = q[1:] / max(np.linalg.norm(q[1:]), 1e-12)
    m = R.quat_to_matrix(q)
    np.testing.assert_allclose(m, _rodrigues(axis, angle), atol=1e-9)
    np.testing.assert_allclose(m @ m.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(m) == pytest.approx(1.0, abs=1e-9)


@prop
@given(batch_quats)
def test_quat_matrix_round_trip(q):
    q = _unit_quats(q)
    back = R.matrix_to_quat(R.quat_to_matrix(q))
    assert (back[:, 0] >= 0).all()
    for a, b in zip(q, back, strict=True):
        assert _same_rotation(a, b, 1e-8)


def test_matrix_to_quat_half_turns():
    """w = 0 (half turns) is where naive formulas break."""
    for axis in np.eye(3):
        m = _rodrigues(axis, np.pi)
        np.testing.assert_allclose(R.quat_to_matrix(R.matrix_to_quat(m)), m, atol=1e-12)


@prop
@given(vec4, vec4)
def test_composition_is_matrix_product(a, b):
    a, b = _unit_quat(a), _unit_quat(b)
    np.testing.assert_allclose(
        R.quat_to_matrix(R.quat_multiply(a, b)), R.quat_to_matrix(a) @ R.quat_to_matrix(b), atol=1e-9
    )


@prop
@given(vec4, vec3)
def test_quat_apply_is_matrix_vector(q, v):
    q = _unit_quat(q)
    np.testing.assert_allclose(R.quat_apply(q, v), R.quat_to_matrix(q) @ v, atol=1e-9)
    np.testing.assert_allclose(R.quat_apply(R.quat_inverse(q), R.quat_apply(q, v)), v, atol=1e-9)


# ---------------------------------------------------------------------------------------- axis-angle
@prop
@given(vec3, st.floats(1e-3, np.pi - 1e-3))
def test_axis_angle_round_trip(axis, angle):
    if np.linalg.norm(axis) < 1e-3:
        axis = np.array([0.3, -0.5, 0.8])
    axis = axis / np.linalg.norm(axis)
    aa = axis * angle
    np.testing.assert_allclose(R.axis_angle_to_matrix(aa), _rodrigues(axis, angle), atol=1e-9)
    np.testing.assert_allclose(R.quat_to_axis_angle(R.axis_angle_to_quat(aa)), aa, atol=1e-8)
    np.testing.assert_allclose(R.matrix_to_axis_angle(R.axis_angle_to_matrix(aa)), aa, atol=1e-7)


def test_axis_angle_small_angles():
    aa = np.array([[1e-9, -2e-9, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(R.quat_to_axis_angle(R.axis_angle_to_quat(aa)), aa, atol=1e-15)


# ---------------------------------------------------------------------------------------- 6D
@prop
@given(vec4)
def test_6d_round_trip_and_convention(q):
    q = _unit_quat(q)
    m = R.quat_to_matrix(q)
    d6 = R.matrix_to_6d(m)
    np.testing.assert_allclose(d6, np.concatenate([m[:, 0], m[:, 1]]), atol=0)  # first two columns
    np.testing.assert_allclose(R.sixd_to_matrix(d6), m, atol=1e-9)
    assert _same_rotation(R.sixd_to_quat(R.quat_to_6d(q)), q, 1e-8)


@prop
@given(arrays(np.float64, (6,), elements=finite))
def test_6d_gram_schmidt_gives_rotation(d6):
    a, b = d6[:3], d6[3:]
    if np.linalg.norm(a) < 1e-2 or np.linalg.norm(np.cross(a, b)) < 1e-2:
        d6 = np.array([1.0, 0.1, 0.0, 0.2, 1.0, 0.3])
    m = R.sixd_to_matrix(d6)
    np.testing.assert_allclose(m @ m.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(m) == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(m[:, 0], d6[:3] / np.linalg.norm(d6[:3]), atol=1e-9)


# ---------------------------------------------------------------------------------------- Euler
@pytest.mark.parametrize("order", ORDERS)
@prop
@given(a=st.floats(-3.1, 3.1), b=st.floats(-1.5, 1.5), c=st.floats(-3.1, 3.1))
def test_euler_semantics_and_round_trip(order, a, b, c):
    angles = np.array([a, b, c])
    expected = _elementary(order[0], a) @ _elementary(order[1], b) @ _elementary(order[2], c)
    m = R.euler_to_matrix(angles, order)
    np.testing.assert_allclose(m, expected, atol=1e-9)
    back = R.matrix_to_euler(m, order)
    np.testing.assert_allclose(R.euler_to_matrix(back, order), m, atol=1e-8)
    np.testing.assert_allclose(back, angles, atol=1e-6)


@pytest.mark.parametrize("order", ORDERS)
def test_euler_degrees_and_gimbal_lock(order):
    deg = np.array([30.0, 90.0, -45.0])
    m = R.euler_to_matrix(deg, order, degrees=True)
    np.testing.assert_allclose(m, R.euler_to_matrix(np.radians(deg), order), atol=1e-12)
    back = R.matrix_to_euler(m, order, degrees=True)
    np.testing.assert_allclose(R.euler_to_matrix(back, order, degrees=True), m, atol=1e-6)
    assert back[2] == pytest.approx(0.0)  # convention at gimbal lock


def test_euler_bad_order():
    with pytest.raises(MotionError, match="Euler order"):
        R.euler_to_quat(np.zeros(3), "XQZ")
    with pytest.raises(MotionError, match="three distinct axes"):
        R.matrix_to_euler(np.eye(3), "XYX")


# ---------------------------------------------------------------------------------------- slerp, between, continuity
@prop
@given(vec4, vec4)
def test_slerp_endpoints_and_midpoint(a, b):
    a, b = _unit_quat(a), _unit_quat(b)
    assert _same_rotation(R.quat_slerp(a, b, 0.0), a, 1e-9)
    assert _same_rotation(R.quat_slerp(a, b, 1.0), b, 1e-9)
    mid = R.quat_slerp(a, b, 0.5)
    rel_full = R.quat_multiply(b, R.quat_inverse(a))
    rel_half = R.quat_multiply(mid, R.quat_inverse(a))
    # the midpoint is half the (shortest) relative rotation
    full_angle = 2 * np.arccos(min(1.0, abs(rel_full[0])))
    half_angle = 2 * np.arccos(min(1.0, abs(rel_half[0])))
    assert half_angle == pytest.approx(full_angle / 2, abs=1e-6)


@prop
@given(vec3, vec3)
def test_quat_between_maps_directions(v0, v1):
    if np.linalg.norm(v0) < 1e-2 or np.linalg.norm(v1) < 1e-2:
        return
    u0, u1 = v0 / np.linalg.norm(v0), v1 / np.linalg.norm(v1)
    if np.dot(u0, u1) < -0.999:
        return
    q = R.quat_between(v0, v1)
    np.testing.assert_allclose(R.quat_apply(q, u0), u1, atol=1e-7)


def test_quat_continuity_removes_sign_flips():
    q = _unit_quats(np.array([[1, 0.1, 0, 0], [1, 0.2, 0, 0], [1, 0.3, 0, 0]], dtype=float))
    flipped = q * np.array([1, -1, 1])[:, None]
    np.testing.assert_allclose(R.quat_continuity(flipped), q, atol=1e-12)


# ---------------------------------------------------------------------------------------- NumPy vs torch
@prop
@given(batch_quats, arrays(np.float64, (5, 3), elements=finite))
def test_numpy_and_torch_agree(q, v):
    q = _unit_quats(q)
    qt, vt = torch.from_numpy(q), torch.from_numpy(v)
    pairs = [
        (R.quat_to_matrix(q), R.quat_to_matrix(qt)),
        (R.matrix_to_quat(R.quat_to_matrix(q)), R.matrix_to_quat(R.quat_to_matrix(qt))),
        (R.quat_apply(q, v), R.quat_apply(qt, vt)),
        (R.quat_multiply(q, q[::-1].copy()), R.quat_multiply(qt, qt.flip(0))),
        (R.quat_to_axis_angle(q), R.quat_to_axis_angle(qt)),
        (R.axis_angle_to_quat(v), R.axis_angle_to_quat(vt)),
        (R.quat_to_6d(q), R.quat_to_6d(qt)),
        (R.sixd_to_matrix(R.quat_to_6d(q)), R.sixd_to_matrix(R.quat_to_6d(qt))),
        (R.quat_slerp(q, q[::-1].copy(), 0.3), R.quat_slerp(qt, qt.flip(0), 0.3)),
    ]
    for order in ORDERS:
        pairs.append((R.quat_to_euler(q, order), R.quat_to_euler(qt, order)))
        pairs.append((R.euler_to_quat(v, order), R.euler_to_quat(vt, order)))
    for a, b in pairs:
        assert isinstance(b, torch.Tensor)
        np.testing.assert_allclose(a, b.numpy(), atol=1e-9)


def test_torch_gradients_flow():
    aa = torch.tensor([[0.3, -0.2, 0.5]], dtype=torch.float64, requires_grad=True)
    loss = R.matrix_to_6d(R.axis_angle_to_matrix(aa)).sum() + R.quat_to_euler(R.axis_angle_to_quat(aa), "ZXY").sum()
    loss.backward()
    assert aa.grad is not None and torch.isfinite(aa.grad).all() and aa.grad.abs().sum() > 0


def test_shape_errors():
    with pytest.raises(MotionError, match="quaternion"):
        R.quat_to_matrix(np.zeros((2, 3)))
    with pytest.raises(MotionError, match=r"\(\.\.\., 3, 3\)"):
        R.matrix_to_quat(np.zeros((2, 3)))
    with pytest.raises(MotionError, match="6D"):
        R.sixd_to_matrix(np.zeros(5))
