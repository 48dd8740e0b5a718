"""Rotation representations and conversions, batched, for NumPy arrays and torch tensors alike.

Conventions
-----------
* Quaternions are ``(..., 4)`` in **(w, x, y, z)** order and rotate column vectors: ``v' = q v q*``.
* Rotation matrices are ``(..., 3, 3)`` acting on column vectors: ``v' = R @ v``.
* Axis-angle vectors are ``(..., 3)``: unit axis times angle in radians.
* Continuous 6D (Zhou et al. 2019) is ``(..., 6)`` = the **first two columns** of the matrix,
  ``[R[:, 0], R[:, 1]]`` — the convention of HumanML3D's ``quaternion_to_cont6d`` (PyTorch3D uses rows).
* Euler angles follow BVH: ``order="ZXY"`` means ``R = Rz(a[..., 0]) @ Rx(a[..., 1]) @ Ry(a[..., 2])``
  (intrinsic rotations applied in the listed order). Composition accepts any axis sequence; the inverse,
  :func:`matrix_to_euler`, covers the six Tait–Bryan orders (three distinct axes), which is what BVH uses.

Every function takes NumPy arrays or torch tensors (via ``array_api_compat``) and returns the same kind,
keeps gradients for torch, and never loops over frames in Python.
"""

from __future__ import annotations

from typing import TypeVar

from array_api_compat import array_namespace

from ..errors import MotionError

Array = TypeVar("Array")  # np.ndarray | torch.Tensor

_AXES = {"X": 0, "Y": 1, "Z": 2}


def _check_last(x, size: int, what: str) -> None:
    if x.shape[-1] != size:
        raise MotionError(f"{what} must have shape (..., {size}), got {tuple(x.shape)}")


def _stack(xp, items, axis=-1):
    return xp.stack(items, axis=axis)


# ---------------------------------------------------------------------------------------- quaternions
def quat_identity(shape: tuple[int, ...], like: Array) -> Array:
    """Identity quaternions of shape ``shape + (4,)`` with the dtype/device/kind of ``like``."""
    xp = array_namespace(like)
    q = xp.zeros((*shape, 4), dtype=like.dtype, **_device_kw(like))
    return _stack(xp, [q[..., 0] + 1, q[..., 1], q[..., 2], q[..., 3]])


def _device_kw(x) -> dict:
    dev = getattr(x, "device", None)
    return {"device": dev} if dev is not None and not isinstance(dev, str) else {}


def quat_normalize(q: Array, eps: float = 1e-12) -> Array:
    xp = array_namespace(q)
    return q / xp.clip(xp.linalg.vector_norm(q, axis=-1, keepdims=True), eps, None)


def quat_conjugate(q: Array) -> Array:
    """Conjugate = inverse for unit quaternions."""
    _check_last(q, 4, "quaternion")
    xp = array_namespace(q)
    return _stack(xp, [q[..., 0], -q[..., 1], -q[..., 2], -q[..., 3]])


quat_inverse = quat_conjugate


def quat_multiply(a: Array, b: Array) -> Array:
    """Hamilton product ``a ⊗ b`` (apply ``b`` first, then ``a``). Broadcasts over leading dims."""
    _check_last(a, 4, "quaternion")
    _check_last(b, 4, "quaternion")
    xp = array_namespace(a, b)
    aw, ax, ay, az = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bw, bx, by, bz = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return _stack(
        xp,
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
    )


def quat_apply(q: Array, v: Array) -> Array:
    """Rotate vectors ``v`` (..., 3) by unit quaternions ``q`` (..., 4); broadcasts."""
    _check_last(q, 4, "quaternion")
    _check_last(v, 3, "vector")
    xp = array_namespace(q, v)
    w = q[..., 0:1]
    u = q[..., 1:]
    uv = xp.linalg.cross(xp.broadcast_to(u, xp.broadcast_shapes(u.shape, v.shape)),
                         xp.broadcast_to(v, xp.broadcast_shapes(u.shape, v.shape)))
    uuv = xp.linalg.cross(xp.broadcast_to(u, uv.shape), uv)
    return v + 2 * (w * uv + uuv)


def quat_between(v0: Array, v1: Array) -> Array:
    """The shortest-arc rotation taking direction ``v0`` to direction ``v1`` (both (..., 3)).

    Uses the half-way construction ``q = normalize([|v0||v1| + v0·v1, v0 × v1])`` (as HumanML3D's
    ``qbetween``); undefined for exactly opposite vectors.
    """
    xp = array_namespace(v0, v1)
    v = xp.linalg.cross(v0, v1)
    w = xp.sqrt(xp.sum(v0**2, axis=-1) * xp.sum(v1**2, axis=-1)) + xp.sum(v0 * v1, axis=-1)
    return quat_normalize(xp.concat([w[..., None], v], axis=-1))


def quat_continuity(q: Array, axis: int = 0) -> Array:
    """Flip signs along ``axis`` (time) so consecutive quaternions have a non-negative dot product."""
    xp = array_namespace(q)
    q_t = xp.moveaxis(q, axis, 0)
    if q_t.shape[0] < 2:
        return q
    dots = xp.sum(q_t[1:] * q_t[:-1], axis=-1)
    flips = xp.astype(dots < 0, q.dtype)
    # cumulative parity of flips: sign_t = (-1)^(number of flips up to t)
    parity = xp.cumulative_sum(flips, axis=0) % 2
    sign = 1 - 2 * xp.concat([xp.zeros_like(parity[:1]), parity], axis=0)
    return xp.moveaxis(q_t * sign[..., None], 0, axis)


def quat_slerp(q0: Array, q1: Array, t: Array | float) -> Array:
    """Spherical linear interpolation along the shortest arc; ``t`` broadcasts against ``q[..., 0]``."""
    xp = array_namespace(q0, q1)
    t = xp.asarray(t, dtype=q0.dtype, **_device_kw(q0))
    dot = xp.sum(q0 * q1, axis=-1)
    q1 = xp.where((dot < 0)[..., None], -q1, q1)
    dot = xp.abs(dot)
    theta = xp.acos(xp.clip(dot, -1.0, 1.0))
    sin_theta = xp.sin(theta)
    small = sin_theta < 1e-6
    safe = xp.where(small, xp.ones_like(sin_theta), sin_theta)
    w0 = xp.where(small, 1 - t, xp.sin((1 - t) * theta) / safe)
    w1 = xp.where(small, t, xp.sin(t * theta) / safe)
    return quat_normalize(w0[..., None] * q0 + w1[..., None] * q1)


# ---------------------------------------------------------------------------------------- matrices
def quat_to_matrix(q: Array) -> Array:
    """(..., 4) → (..., 3, 3). ``q`` need not be normalised."""
    _check_last(q, 4, "quaternion")
    xp = array_namespace(q)
    q = quat_normalize(q)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    rows = [
        _stack(xp, [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)]),
        _stack(xp, [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)]),
        _stack(xp, [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]),
    ]
    return _stack(xp, rows, axis=-2)


def matrix_to_quat(m: Array) -> Array:
    """(..., 3, 3) → (..., 4) with w ≥ 0, numerically stable for every rotation (branch-free)."""
    if m.shape[-2:] != (3, 3):
        raise MotionError(f"rotation matrices must have shape (..., 3, 3), got {tuple(m.shape)}")
    xp = array_namespace(m)
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # 4|q_i|^2 for each component; the largest gives the best-conditioned formula.
    sq = _stack(
        xp,
        [1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22],
    )
    q_abs = xp.sqrt(xp.clip(sq, 0.0, None))
    cands = _stack(
        xp,
        [
            _stack(xp, [q_abs[..., 0] ** 2, m21 - m12, m02 - m20, m10 - m01]),
            _stack(xp, [m21 - m12, q_abs[..., 1] ** 2, m10 + m01, m02 + m20]),
            _stack(xp, [m02 - m20, m10 + m01, q_abs[..., 2] ** 2, m12 + m21]),
            _stack(xp, [m10 - m01, m20 + m02, m21 + m12, q_abs[..., 3] ** 2]),
        ],
        axis=-2,
    )  # (..., 4 candidates, 4)
    cands = cands / (2 * xp.clip(q_abs, 0.1, None))[..., None]
    best = xp.argmax(q_abs, axis=-1)
    out = cands[..., 0, :]
    for i in (1, 2, 3):
        out = xp.where((best == i)[..., None], cands[..., i, :], out)
    sign = xp.where(out[..., 0:1] < 0, -xp.ones_like(out[..., 0:1]), xp.ones_like(out[..., 0:1]))
    return quat_normalize(out * sign)


# ---------------------------------------------------------------------------------------- axis-angle
def axis_angle_to_quat(aa: Array) -> Array:
    _check_last(aa, 3, "axis-angle")
    xp = array_namespace(aa)
    angle = xp.linalg.vector_norm(aa, axis=-1, keepdims=True)
    half = angle / 2
    small = angle < 1e-6
    safe = xp.where(small, xp.ones_like(angle), angle)
    # sin(θ/2)/θ, with its Taylor expansion near zero
    k = xp.where(small, 0.5 - angle**2 / 48, xp.sin(half) / safe)
    return xp.concat([xp.cos(half), aa * k], axis=-1)


def quat_to_axis_angle(q: Array) -> Array:
    """(..., 4) → (..., 3) with angle in [0, π]."""
    _check_last(q, 4, "quaternion")
    xp = array_namespace(q)
    q = quat_normalize(q)
    q = xp.where(q[..., 0:1] < 0, -q, q)
    v = q[..., 1:]
    s = xp.linalg.vector_norm(v, axis=-1, keepdims=True)
    angle = 2 * xp.atan2(s, q[..., 0:1])
    small = s < 1e-6
    safe = xp.where(small, xp.ones_like(s), s)
    k = xp.where(small, 2 / xp.clip(q[..., 0:1], 1e-6, None) * (1 + s**2 / 6), angle / safe)
    return v * k


def axis_angle_to_matrix(aa: Array) -> Array:
    return quat_to_matrix(axis_angle_to_quat(aa))


def matrix_to_axis_angle(m: Array) -> Array:
    return quat_to_axis_angle(matrix_to_quat(m))


# ---------------------------------------------------------------------------------------- 6D
def matrix_to_6d(m: Array) -> Array:
    """(..., 3, 3) → (..., 6): first column then second column (HumanML3D convention)."""
    xp = array_namespace(m)
    return xp.concat([m[..., :, 0], m[..., :, 1]], axis=-1)


def sixd_to_matrix(d6: Array) -> Array:
    """(..., 6) → (..., 3, 3) by Gram–Schmidt; columns x = normalize(a), z = normalize(x × b), y = z × x."""
    _check_last(d6, 6, "6D rotation")
    xp = array_namespace(d6)
    a, b = d6[..., 0:3], d6[..., 3:6]
    x = a / xp.clip(xp.linalg.vector_norm(a, axis=-1, keepdims=True), 1e-12, None)
    z = xp.linalg.cross(x, b)
    z = z / xp.clip(xp.linalg.vector_norm(z, axis=-1, keepdims=True), 1e-12, None)
    y = xp.linalg.cross(z, x)
    return _stack(xp, [x, y, z], axis=-1)


def quat_to_6d(q: Array) -> Array:
    return matrix_to_6d(quat_to_matrix(q))


def sixd_to_quat(d6: Array) -> Array:
    return matrix_to_quat(sixd_to_matrix(d6))


# ---------------------------------------------------------------------------------------- Euler
def _parse_order(order: str) -> list[int]:
    order = order.upper()
    if not order or any(c not in _AXES for c in order):
        raise MotionError(f"Euler order must be made of X, Y, Z, got {order!r}")
    return [_AXES[c] for c in order]


def axis_rotation_quat(axis: int, angle: Array) -> Array:
    """Quaternion of a rotation by ``angle`` (radians, any shape) about coordinate axis 0/1/2."""
    xp = array_namespace(angle)
    half = angle / 2
    zero = xp.zeros_like(angle)
    parts = [xp.cos(half), zero, zero, zero]
    parts[1 + axis] = xp.sin(half)
    return _stack(xp, parts)


def euler_to_quat(angles: Array, order: str, degrees: bool = False) -> Array:
    """``angles[..., i]`` is the angle about axis ``order[i]``; result = q_{order[0]} ⊗ q_{order[1]} ⊗ ...

    Works for any sequence of axes (including fewer or more than three channels, as some BVH files have).
    """
    axes = _parse_order(order)
    _check_last(angles, len(axes), f"Euler angles for order {order!r}")
    xp = array_namespace(angles)
    if degrees:
        angles = angles * (xp.pi / 180.0)
    q = axis_rotation_quat(axes[0], angles[..., 0])
    for i, axis in enumerate(axes[1:], start=1):
        q = quat_multiply(q, axis_rotation_quat(axis, angles[..., i]))
    return q


def euler_to_matrix(angles: Array, order: str, degrees: bool = False) -> Array:
    return quat_to_matrix(euler_to_quat(angles, order, degrees))


def matrix_to_euler(m: Array, order: str, degrees: bool = False) -> Array:
    """Inverse of :func:`euler_to_matrix` for Tait–Bryan orders (three distinct axes, e.g. "ZXY").

    The middle angle is in [-90°, 90°]; at gimbal lock the last angle is set to zero.
    """
    axes = _parse_order(order)
    if len(axes) != 3 or len(set(axes)) != 3:
        raise MotionError(f"matrix_to_euler needs three distinct axes, got {order!r}")
    xp = array_namespace(m)
    i, j, k = axes
    s = 1.0 if (i, j, k) in ((0, 1, 2), (1, 2, 0), (2, 0, 1)) else -1.0
    sin_b = xp.clip(s * m[..., i, k], -1.0, 1.0)
    b = xp.asin(sin_b)
    a = xp.atan2(-s * m[..., j, k], m[..., k, k])
    c = xp.atan2(-s * m[..., i, j], m[..., i, i])
    # Gimbal lock: c := 0, then R = R_i(a) R_j(b); read a from M = R R_j(b)^T = R_i(a).
    # (1e-12: cos(b) < 1.4e-6 rad; the general formulas stay accurate up to there, a looser threshold
    # would drop up to sqrt(2·threshold) rad of the third angle)
    locked = xp.abs(sin_b) > 1 - 1e-12
    rj = quat_to_matrix(axis_rotation_quat(j, b))
    mm = m @ xp.matrix_transpose(rj)
    p, q = (i + 1) % 3, (i + 2) % 3
    a_locked = xp.atan2(mm[..., q, p], mm[..., p, p])
    a = xp.where(locked, a_locked, a)
    c = xp.where(locked, xp.zeros_like(c), c)
    out = _stack(xp, [a, b, c])
    if degrees:
        out = out * (180.0 / xp.pi)
    return out


def quat_to_euler(q: Array, order: str, degrees: bool = False) -> Array:
    return matrix_to_euler(quat_to_matrix(q), order, degrees)
