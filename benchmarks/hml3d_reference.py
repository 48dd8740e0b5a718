"""Baseline (per-frame reference): HumanML3D's motion representation, written frame by frame.

A deliberately plain implementation of the same algorithm as :mod:`unimotion.motion.hml3d` (HumanML3D's
``uniform_skeleton`` + ``process_file`` + ``recover_from_ric``): Python floats and tuples, one frame at a
time, one joint at a time, a hand-written Gaussian filter. It shares no code with the library (only the
skeleton layout tables), so the tests use it as an independent check of the vectorised codec, and
``benchmarks/codec.py`` uses it as the speed baseline.
"""

from __future__ import annotations

import math

import numpy as np

Vec = tuple[float, float, float]
Quat = tuple[float, float, float, float]


# ---------------------------------------------------------------------------------------- small math
def _sub(a: Vec, b: Vec) -> Vec:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


def _add(a: Vec, b: Vec) -> Vec:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


def _scale(a: Vec, s: float) -> Vec:
    return (a[0] * s, a[1] * s, a[2] * s)


def _dot(a: Vec, b: Vec) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _cross(a: Vec, b: Vec) -> Vec:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _norm(a: Vec) -> float:
    return math.sqrt(_dot(a, a))


def _unit(a: Vec) -> Vec:
    n = _norm(a)
    return (a[0] / n, a[1] / n, a[2] / n)


def _qmul(a: Quat, b: Quat) -> Quat:
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return (
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    )


def _qinv(q: Quat) -> Quat:
    return (q[0], -q[1], -q[2], -q[3])


def _qrot(q: Quat, v: Vec) -> Vec:
    # q v q*, expanded
    p = _qmul(_qmul(q, (0.0, v[0], v[1], v[2])), _qinv(q))
    return (p[1], p[2], p[3])


def _qbetween(u: Vec, v: Vec) -> Quat:
    c = _cross(u, v)
    w = math.sqrt(_dot(u, u) * _dot(v, v)) + _dot(u, v)
    n = math.sqrt(w * w + _dot(c, c))
    return (w / n, c[0] / n, c[1] / n, c[2] / n)


def _q_to_6d(q: Quat) -> list[float]:
    n = math.sqrt(sum(x * x for x in q))
    w, x, y, z = (c / n for c in q)
    col0 = (1 - 2 * (y * y + z * z), 2 * (x * y + w * z), 2 * (x * z - w * y))
    col1 = (2 * (x * y - w * z), 1 - 2 * (x * x + z * z), 2 * (y * z + w * x))
    return [*col0, *col1]


def _mat_cols_to_6d(cols: tuple[Vec, Vec, Vec]) -> list[float]:
    return [*cols[0], *cols[1]]


def _rotate_cols(q: Quat, cols: tuple[Vec, Vec, Vec]) -> tuple[Vec, Vec, Vec]:
    return (_qrot(q, cols[0]), _qrot(q, cols[1]), _qrot(q, cols[2]))


# ---------------------------------------------------------------------------------------- per-frame steps
def _forward(frame: list[Vec], face, quirk: bool) -> Vec:
    """Un-normalised forward vector Y × unit(across) of one pose."""
    r_hip, l_hip, r_sh, l_sh = face
    a, b = (l_hip, r_hip) if quirk else (r_hip, l_hip)
    across = _unit(_add(_sub(frame[a], frame[b]), _sub(frame[r_sh], frame[l_sh])))
    return _cross((0.0, 1.0, 0.0), across)


def _heading(forward: Vec) -> Quat:
    return _qbetween(_unit(forward), (0.0, 0.0, 1.0))


def _ik_frame(frame: list[Vec], root: Quat, chains, raw) -> list[Quat]:
    """Chain IK of one pose with a given root rotation (``inverse_kinematics_np`` for one frame)."""
    quats: list[Quat] = [root] + [(1.0, 0.0, 0.0, 0.0)] * (len(frame) - 1)
    for chain in chains:
        acc = root
        for i in range(len(chain) - 1):
            parent, child = chain[i], chain[i + 1]
            bone = _unit(_sub(frame[child], frame[parent]))
            rot = _qbetween(raw[child], bone)
            local = _qmul(_qinv(acc), rot)
            quats[child] = local
            acc = _qmul(acc, local)
    return quats


def _fk_frame(quats: list[Quat], root_pos: Vec, offsets: list[Vec], chains) -> list[Vec]:
    pos: list[Vec] = [root_pos] * len(quats)
    for chain in chains:
        acc = quats[0]
        for i in range(1, len(chain)):
            acc = _qmul(acc, quats[chain[i]])
            pos[chain[i]] = _add(pos[chain[i - 1]], _qrot(acc, offsets[chain[i]]))
    return pos


def _gaussian_weights(sigma: float, truncate: float = 4.0) -> tuple[int, list[float]]:
    radius = int(truncate * sigma + 0.5)
    w = [math.exp(-0.5 * (k * k) / (sigma * sigma)) for k in range(-radius, radius + 1)]
    total = sum(w)
    return radius, [x / total for x in w]


def _pelvis_cols(frame: list[Vec], lateral: tuple[int, int], spine: int) -> tuple[Vec, Vec, Vec]:
    x = _unit(_sub(frame[lateral[0]], frame[lateral[1]]))
    z = _unit(_cross(x, _sub(frame[spine], frame[0])))
    return (x, _cross(z, x), z)


# ---------------------------------------------------------------------------------------- public
def encode_per_frame(
    joints: np.ndarray,
    target_offsets: np.ndarray,
    layout,
    feet_threshold: float,
    smooth_sigma: float = 20.0,
    with_orientation: bool = False,
    orientation_frame: str = "global",
    first_root: str = "smoothed",
) -> np.ndarray:
    """(T, J, 3) joints → (T−1, D) features, one frame at a time (float64).

    ``first_root``: the first frame's root rotation of the feature IK, ``"smoothed"`` (its own smoothed
    heading: the project's default, data format v1) or ``"identity"`` (the original HumanML3D code).
    """
    if first_root not in ("smoothed", "identity"):
        raise ValueError(f"first_root must be 'smoothed' or 'identity', got {first_root!r}")
    frames: list[list[Vec]] = [[tuple(map(float, p)) for p in f] for f in np.asarray(joints, dtype=np.float64)]
    num_frames, num_joints = len(frames), len(frames[0])
    chains = [list(c) for c in layout.kinematic_chain]
    raw: list[Vec] = [tuple(map(float, r)) for r in layout.raw_offsets]
    parents = [int(p) for p in layout.parents]
    tgt: list[Vec] = [tuple(map(float, o)) for o in np.asarray(target_offsets, dtype=np.float64)]

    # 1. uniform skeleton: IK with the raw heading, FK with the target offsets, root scaled by leg ratio
    k1, k2 = layout.leg
    src_leg = sum(
        _norm(_sub(frames[0][k], frames[0][parents[k]])) * max(abs(c) for c in raw[k]) for k in (k1, k2)
    )
    tgt_leg = max(abs(c) for c in tgt[k1]) + max(abs(c) for c in tgt[k2])
    ratio = tgt_leg / src_leg
    pos = []
    for t, frame in enumerate(frames):
        # as the original's uniform_skeleton (identity first root); the root rotation cancels in FK∘IK, so
        # this does not depend on first_root
        root = (1.0, 0.0, 0.0, 0.0) if t == 0 else _heading(_forward(frame, layout.face_joints, True))
        quats = _ik_frame(frame, root, chains, raw)
        pos.append(_fk_frame(quats, _scale(frame[0], ratio), tgt, chains))

    # 2. floor, 3. first root XZ at the origin
    floor = min(p[1] for frame in pos for p in frame)
    origin = (pos[0][0][0], floor, pos[0][0][2])
    pos = [[_sub(p, origin) for p in frame] for frame in pos]

    # 4. face +Z (consistent hips, no quirk)
    q_face = _heading(_forward(pos[0], layout.face_joints, False))
    pos = [[_qrot(q_face, p) for p in frame] for frame in pos]

    # 6. heading per frame from the smoothed forward direction
    raw_forward = [_forward(frame, layout.face_joints, True) for frame in pos]
    if smooth_sigma > 0:
        radius, weights = _gaussian_weights(smooth_sigma)
        smoothed = []
        for t in range(num_frames):
            acc = (0.0, 0.0, 0.0)
            for k, w in zip(range(-radius, radius + 1), weights, strict=True):
                s = min(max(t + k, 0), num_frames - 1)
                acc = _add(acc, _scale(raw_forward[s], w))
            smoothed.append(acc)
    else:
        smoothed = raw_forward
    r_rot = [_heading(f) for f in smoothed]
    if first_root == "identity":  # the original IK's first root rotation
        r_rot[0] = (1.0, 0.0, 0.0, 0.0)

    lateral = (layout.face_joints[1], layout.face_joints[0])
    if layout.raw_offsets[lateral[0]][0] < 0:
        lateral = (lateral[1], lateral[0])
    spine = next(j for j in range(1, num_joints) if parents[j] == 0 and raw[j][1] > 0)

    rows = []
    for t in range(num_frames - 1):
        frame, nxt = pos[t], pos[t + 1]
        q, q_next = r_rot[t], r_rot[t + 1]
        rel = _qmul(q_next, _qinv(q))
        rot_vel = math.asin(max(-1.0, min(1.0, rel[2])))
        v = _qrot(q_next, _sub(nxt[0], frame[0]))
        row = [rot_vel, v[0], v[2], frame[0][1]]
        root = frame[0]
        for j in range(1, num_joints):
            row.extend(_qrot(q, (frame[j][0] - root[0], frame[j][1], frame[j][2] - root[2])))
        quats = _ik_frame(frame, q, chains, raw)
        for j in range(1, num_joints):
            row.extend(_q_to_6d(quats[j]))
        for j in range(num_joints):
            row.extend(_qrot(q, _sub(nxt[j], frame[j])))
        for foot in (layout.foot_left, layout.foot_right):
            for j in foot:
                d = _sub(nxt[j], frame[j])
                row.append(1.0 if _dot(d, d) < feet_threshold else 0.0)
        if with_orientation:
            cols = _pelvis_cols(frame, lateral, spine)
            turn = r_rot[0] if orientation_frame == "global" else q
            row.extend(_mat_cols_to_6d(_rotate_cols(turn, cols)))
        rows.append(row)
    return np.asarray(rows, dtype=np.float64)


def decode_per_frame(features: np.ndarray, num_joints: int) -> np.ndarray:
    """(T, D) features → (T, J, 3) joints like ``recover_from_ric``, one frame at a time (float64)."""
    feats = np.asarray(features, dtype=np.float64).tolist()
    out = []
    angle, x, z = 0.0, 0.0, 0.0
    for t, row in enumerate(feats):
        if t > 0:
            prev = feats[t - 1]
            angle += prev[0]
        q_inv = (math.cos(angle), 0.0, -math.sin(angle), 0.0)
        if t > 0:
            d = _qrot(q_inv, (prev[1], 0.0, prev[2]))
            x += d[0]
            z += d[2]
        joints = [(x, row[3], z)]
        for j in range(num_joints - 1):
            p = _qrot(q_inv, (row[4 + 3 * j], row[5 + 3 * j], row[6 + 3 * j]))
            joints.append((p[0] + x, p[1], p[2] + z))
        out.append(joints)
    return np.asarray(out, dtype=np.float64)
