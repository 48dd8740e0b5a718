"""Rigid skeletons: fit per-joint world rotations to joint positions and place a fixed skeleton with them.

A rotation-only skeleton (a BVH with position channels on the root only, SMPL-style forward kinematics)
can reproduce joint positions exactly only when the motion is *rigid*: constant bone lengths, and a fixed
shape of the child bones of every multi-child joint (the pelvis → hips + spine, spine3 → neck + collars).
Every HumanML3D-processed clip is (one target skeleton for the whole dataset; on BandaiML the bone lengths
agree across clips to 2e-4 mm and the multi-child shapes to 4e-5 mm). Generated joint positions are not:
:func:`rigidify` puts them on a given skeleton — per frame, the world rotations that best place the
skeleton's bones along the generated ones (:func:`fit_world_rotations`), then forward kinematics from the
generated root position (:func:`world_fk`). For rigid input with the same skeleton it is the identity up to
float error; otherwise it keeps every bone direction of single-child joints and the least-squares
orientation of multi-child joints, with the skeleton's lengths. With ``limb_ik`` (the default for the
22-joint layout) the four limbs are then re-solved by analytic two-bone IK so that the ankles and wrists
stay where the input had them (when the limb can reach): the knee/elbow bends in the plane of the input's
knee/elbow, and the foot points where the input's did. Placing the limbs by direction alone would move
the feet (a generated leg a few cm too short becomes a leg whose foot is a few cm lower and elsewhere),
which shows as foot skating; IK keeps the contacts of the input.

:func:`skeleton_offsets` reads the skeleton (J, 3) of a reference frame (the bones parent → child), e.g.
the first frame of a training clip. Rotations are quaternions (w, x, y, z) as in :mod:`.rotations`.
"""

from __future__ import annotations

import numpy as np

from ..errors import MotionError
from .rotations import matrix_to_quat, quat_apply, quat_conjugate, quat_multiply, quat_normalize
from .skeletons import T2M22, SkeletonLayout

__all__ = ["children", "kabsch", "swing_quat", "fit_world_rotations", "world_fk", "skeleton_offsets", "two_bone_ik",
           "rigidify", "T2M22_LIMBS"]

#: (root, middle, end[, tip]) joints of the limbs of the 22-joint layout: hip-knee-ankle-foot (left,
#: right), shoulder-elbow-wrist (left, right).
T2M22_LIMBS = ((1, 4, 7, 10), (2, 5, 8, 11), (16, 18, 20), (17, 19, 21))


def children(parents: np.ndarray) -> list[list[int]]:
    kids: list[list[int]] = [[] for _ in parents]
    for j, p in enumerate(parents.tolist()):
        if p >= 0:
            kids[p].append(j)
    return kids


def kabsch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Rotations R (..., 3, 3) minimising Σ_i |R src_i − dst_i|²; src, dst (..., K, 3)."""
    h = np.einsum("...ki,...kj->...ij", src, dst)  # Σ src dstᵀ
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.swapaxes(vt, -1, -2) @ np.swapaxes(u, -1, -2)))
    d = np.where(d == 0, 1.0, d)
    fix = np.ones(h.shape[:-2] + (3,))
    fix[..., 2] = d
    return np.swapaxes(vt, -1, -2) @ (fix[..., :, None] * np.swapaxes(u, -1, -2))


def swing_quat(a: np.ndarray, b: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Shortest-arc quaternions (..., 4) turning direction ``a`` onto ``b`` (both (..., 3)).

    Identity where either vector is (near) zero; a half turn about an axis perpendicular to ``a`` where
    they are opposite.
    """
    a, b = np.broadcast_arrays(a, b)
    na = np.linalg.norm(a, axis=-1, keepdims=True)
    nb = np.linalg.norm(b, axis=-1, keepdims=True)
    an = a / np.maximum(na, eps)
    bn = b / np.maximum(nb, eps)
    w = 1.0 + np.sum(an * bn, axis=-1, keepdims=True)
    q = np.concatenate([w, np.cross(an, bn)], axis=-1)
    opposite = (w[..., 0] < 1e-9)
    if np.any(opposite):
        axis = np.eye(3)[np.argmin(np.abs(an), axis=-1)]
        perp = np.cross(an, axis)
        perp /= np.maximum(np.linalg.norm(perp, axis=-1, keepdims=True), eps)
        q = np.where(opposite[..., None], np.concatenate([np.zeros_like(w), perp], axis=-1), q)
    degenerate = (na[..., 0] < eps) | (nb[..., 0] < eps)
    q = np.where(degenerate[..., None], np.array([1.0, 0.0, 0.0, 0.0]), q)
    return quat_normalize(q)


def fit_world_rotations(joints: np.ndarray, offsets: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """(T, J, 4) world rotations (w, x, y, z) placing each joint's child bones of the rest ``offsets`` (J, 3)
    onto those of ``joints`` (T, J, 3): Kabsch/Wahba over all children for multi-child joints, the shortest
    arc in the parent's frame for single-child joints (no twist), the parent's rotation for leaves."""
    num_frames, num_joints = joints.shape[:2]
    kids = children(parents)
    glob = np.zeros((num_frames, num_joints, 4))
    identity = np.broadcast_to(np.array([1.0, 0.0, 0.0, 0.0]), (num_frames, 4))
    for j in range(num_joints):  # parents come before children in every layout
        parent_rot = identity if parents[j] < 0 else glob[:, parents[j]]
        ch = kids[j]
        if len(ch) >= 2:
            target = joints[:, ch] - joints[:, j : j + 1]  # (T, K, 3)
            rot = kabsch(np.broadcast_to(offsets[ch], target.shape), target)
            glob[:, j] = matrix_to_quat(rot)
        elif len(ch) == 1:
            target = joints[:, ch[0]] - joints[:, j]
            local_target = quat_apply(quat_conjugate(parent_rot), target)
            glob[:, j] = quat_multiply(parent_rot, swing_quat(offsets[ch[0]], local_target))
        else:
            glob[:, j] = parent_rot
    return glob


def world_fk(world_rot: np.ndarray, root_pos: np.ndarray, offsets: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """Positions (T, J, 3): root at ``root_pos`` (T, 3), child = parent + world_rot[parent] · offsets[child]."""
    num_frames, num_joints = world_rot.shape[:2]
    out = np.zeros((num_frames, num_joints, 3))
    out[:, 0] = root_pos
    for j in range(1, num_joints):  # parents come before children in every layout
        p = parents[j]
        out[:, j] = out[:, p] + quat_apply(world_rot[:, p], np.broadcast_to(offsets[j], (num_frames, 3)))
    return out


def _as_motion(joints, layout: SkeletonLayout, name: str) -> np.ndarray:
    arr = np.asarray(joints, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[1:] != (layout.num_joints, 3):
        raise MotionError(f"{name} must have shape (T, {layout.num_joints}, 3), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise MotionError(f"{name} contain NaN/Inf")
    return arr


def skeleton_offsets(reference_joints, layout: SkeletonLayout = T2M22) -> np.ndarray:
    """(J, 3) bones parent → child of one reference pose (J, 3) (row 0 = 0): the skeleton to rigidify to."""
    ref = _as_motion(np.asarray(reference_joints)[None], layout, "reference_joints")[0]
    parents = np.asarray(layout.parents)
    offsets = ref - ref[np.maximum(parents, 0)]
    offsets[0] = 0.0
    if np.any(np.linalg.norm(offsets[1:], axis=-1) < 1e-6):
        raise MotionError("reference_joints has a zero-length bone; it cannot define a skeleton")
    return offsets


def _unit(v: np.ndarray, eps: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, eps), n[..., 0]


def two_bone_ik(root: np.ndarray, target: np.ndarray, pole: np.ndarray, upper: float, lower: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """Analytic two-bone IK per frame: (middle, end) positions (T, 3) of a chain root → middle → end with
    bone lengths ``upper``/``lower``, the end as close to ``target`` (T, 3) as the lengths allow and the
    middle joint in the plane of root, target and ``pole`` (T, 3) (on the pole's side)."""
    u, dist = _unit(target - root)
    reach = np.clip(dist, abs(upper - lower) + 1e-6, upper + lower - 1e-6)
    side = pole - root
    v, vn = _unit(side - np.sum(side * u, axis=-1, keepdims=True) * u)
    if np.any(vn < 1e-6):  # pole on the line root → target: bend towards any fixed perpendicular
        fallback, _ = _unit(np.cross(u, np.array([1.0, 0.0, 0.0])) + 1e-3 * np.cross(u, np.array([0.0, 0.0, 1.0])))
        v = np.where((vn < 1e-6)[:, None], fallback, v)
    along = (upper**2 - lower**2 + reach**2) / (2 * reach)
    height = np.sqrt(np.maximum(upper**2 - along**2, 0.0))
    middle = root + along[:, None] * u + height[:, None] * v
    return middle, root + reach[:, None] * u


def rigidify(joints, offsets, layout: SkeletonLayout = T2M22, limb_ik: bool | None = None) -> np.ndarray:
    """Joint positions (T, J, 3) on the fixed skeleton ``offsets`` (J, 3), posed like ``joints`` (T, J, 3).

    The root keeps its positions; every bone gets the skeleton's length; multi-child joints turn their
    child set as one rigid piece; with ``limb_ik`` (default: on for 22-joint layouts) the limbs are solved
    to keep the input's ankle and wrist positions (module docstring). Returns float64.
    """
    arr = _as_motion(joints, layout, "joints")
    offsets = np.asarray(offsets, dtype=np.float64)
    if offsets.shape != (layout.num_joints, 3):
        raise MotionError(f"offsets must have shape ({layout.num_joints}, 3), got {offsets.shape}")
    parents = np.asarray(layout.parents)
    world = fit_world_rotations(arr, offsets, parents)
    out = world_fk(world, arr[:, 0], offsets, parents)
    if limb_ik is None:
        limb_ik = layout.num_joints == 22
    if not limb_ik:
        return out
    lengths = np.linalg.norm(offsets, axis=-1)
    for limb in T2M22_LIMBS:
        a, b, c = limb[:3]
        out[:, b], out[:, c] = two_bone_ik(out[:, a], arr[:, c], arr[:, b], lengths[b], lengths[c])
        if len(limb) == 4:
            tip = limb[3]
            direction, _ = _unit(arr[:, tip] - arr[:, c])
            out[:, tip] = out[:, c] + lengths[tip] * direction
    return out
