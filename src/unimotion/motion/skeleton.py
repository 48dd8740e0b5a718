"""Forward kinematics on joint trees (and, below, HumanML3D-style inverse kinematics).

Two rotation semantics appear in this project, and they are kept apart by name:

* **joint rotations** (BVH, SMPL/SMPL-X): ``local_rot[j]`` rotates joint ``j``'s frame relative to its
  parent's; every child bone of ``j`` moves with it. :func:`forward_kinematics` uses this.
* **HumanML3D chain rotations**: one rotation per *bone*, stored at the bone's child joint, accumulated
  along each kinematic chain (branch chains restart from the root rotation):
  :func:`hml3d_inverse_kinematics` and :func:`hml3d_forward_kinematics` below, used by
  :mod:`unimotion.motion.hml3d`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Literal

import numpy as np
from array_api_compat import array_namespace

from ..errors import MotionError
from .rotations import quat_apply, quat_multiply
from .skeletons import SkeletonLayout


def forward_kinematics(local_rot, root_pos, offsets, parents: Sequence[int]):
    """Global joint positions and rotations from joint rotations.

    Args:
        local_rot: (..., J, 4) parent-relative joint rotations (w, x, y, z).
        root_pos: (..., 3) position of the root joint.
        offsets: (J, 3) or (..., J, 3) rest-pose offset of each joint from its parent (root row ignored).
        parents: length-J parent indices, ``parents[0] == -1`` and ``parents[j] < j``.

    Returns:
        positions (..., J, 3) and global rotations (..., J, 4). Loops over joints, never over frames.
    """
    xp = array_namespace(local_rot, root_pos, offsets)
    num_joints = len(parents)
    if local_rot.shape[-2:] != (num_joints, 4):
        raise MotionError(f"local_rot must be (..., {num_joints}, 4), got {tuple(local_rot.shape)}")
    if offsets.shape[-2:] != (num_joints, 3):
        raise MotionError(f"offsets must be (..., {num_joints}, 3), got {tuple(offsets.shape)}")
    if parents[0] != -1 or any(p >= j for j, p in enumerate(parents) if j > 0):
        raise MotionError("parents must start with -1 and list every parent before its children")
    glob_rot = [local_rot[..., 0, :]]
    pos = [xp.broadcast_to(root_pos, local_rot.shape[:-2] + (3,))]
    for j in range(1, num_joints):
        p = parents[j]
        pos.append(pos[p] + quat_apply(glob_rot[p], offsets[..., j, :]))
        glob_rot.append(quat_multiply(glob_rot[p], local_rot[..., j, :]))
    return xp.stack(pos, axis=-2), xp.stack(glob_rot, axis=-2)


# ------------------------------------------------------------------------------------------------
# HumanML3D chain kinematics
#
# HumanML3D (Guo et al. 2022, ``common/skeleton.py``) describes a pose by one rotation per *bone*,
# measured against the bone's rest direction ``layout.raw_offsets[child]`` and stored at the bone's
# child joint. Rotations accumulate along each kinematic chain of ``layout.kinematic_chain``; every
# chain -- including the arm chains that branch off the spine at joint 9 -- starts from the *root*
# rotation, not from the rotation of the joint it branches from. The root rotation is the heading: the
# yaw that turns the body's forward direction (from hips and shoulders) onto +Z.
#
# Everything below works on whole sequences at once: no loop over frames; the FK loops over the depth
# levels of the chains (5 for T2M22), not over joints.
# ------------------------------------------------------------------------------------------------
_UP = np.array([0.0, 1.0, 0.0])
_FORWARD = np.array([0.0, 0.0, 1.0])


def _ns(*arrays):
    """The array namespace: plain NumPy for NumPy inputs (cheaper), else array_api_compat's."""
    if all(isinstance(a, np.ndarray) for a in arrays):
        return np
    return array_namespace(*arrays)


def _cross(xp, a, b):
    """Cross product on the last axis by components (broadcasts; faster than np.cross on small arrays)."""
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return xp.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)


def qmul(a, b):
    """Hamilton product ``a ⊗ b`` of (..., 4) quaternions (w, x, y, z), NumPy or torch, broadcasting.

    Same as :func:`~unimotion.motion.rotations.quat_multiply` without its shape checks (hot loops).
    """
    xp = _ns(a, b)
    aw, ax, ay, az = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bw, bx, by, bz = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return xp.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def qrot(q, v):
    """Rotate (..., 3) vectors by unit (..., 4) quaternions, NumPy or torch, broadcasting.

    ``v + 2 (w (u × v) + u × (u × v))`` as HumanML3D's ``qrot``; same as
    :func:`~unimotion.motion.rotations.quat_apply` without its checks.
    """
    xp = _ns(q, v)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    vx, vy, vz = v[..., 0], v[..., 1], v[..., 2]
    uvx, uvy, uvz = y * vz - z * vy, z * vx - x * vz, x * vy - y * vx
    return xp.stack(
        [
            vx + 2 * (w * uvx + y * uvz - z * uvy),
            vy + 2 * (w * uvy + z * uvx - x * uvz),
            vz + 2 * (w * uvz + x * uvy - y * uvx),
        ],
        axis=-1,
    )


def yaw_rotate(q, v):
    """``qrot(q, v)`` for pure-yaw quaternions ``q = (w, 0, y, 0)`` (..., 4), NumPy or torch, broadcasting.

    A rotation about +Y by ``θ`` with ``cos θ = w² − y²`` and ``sin θ = 2wy``: six multiplications instead
    of the general formula's thirty (the headings of HumanML3D are pure yaw by construction).
    """
    xp = _ns(q, v)
    w, y = q[..., 0], q[..., 2]
    cos, sin = w * w - y * y, 2 * w * y
    vx, vz = v[..., 0], v[..., 2]
    x_new = cos * vx + sin * vz
    y_new = xp.broadcast_to(v[..., 1], x_new.shape)
    return xp.stack([x_new, y_new, cos * vz - sin * vx], axis=-1)


def qconj(q):
    """Conjugate (= inverse of a unit quaternion), NumPy or torch."""
    xp = _ns(q)
    return xp.concat([q[..., :1], -q[..., 1:]], axis=-1)


def _safe_normalize(v: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """v / |v| along the last axis (size 3); zero vectors stay zero instead of becoming NaN."""
    n = np.sqrt(v[..., 0] * v[..., 0] + v[..., 1] * v[..., 1] + v[..., 2] * v[..., 2])
    return v / np.maximum(n, eps)[..., None]


def _perpendicular(v: np.ndarray) -> np.ndarray:
    """A unit vector perpendicular to each ``v`` (..., 3): ``v`` × (the coordinate axis least aligned)."""
    axis = np.argmin(np.abs(v), axis=-1)
    e = np.eye(3)[axis]
    return _safe_normalize(_cross(np, v, e))


def quat_between_np(v0, v1) -> np.ndarray:
    """Shortest-arc quaternions (w, x, y, z) taking directions ``v0`` to ``v1`` (both (..., 3), float64).

    The same half-way formula as HumanML3D's ``qbetween``: ``normalize([|v0||v1| + v0·v1, v0 × v1])``,
    which always has ``w >= 0``. Two cases where that formula divides 0 by 0 (the reference returns NaN)
    get a defined answer here: a zero-length vector gives the identity, and exactly opposite vectors
    give the half turn about an axis perpendicular to ``v0`` (for horizontal ``v0`` that axis is ±Y).
    """
    v0, v1 = np.broadcast_arrays(np.asarray(v0, dtype=np.float64), np.asarray(v1, dtype=np.float64))
    ux, uy, uz = v0[..., 0], v0[..., 1], v0[..., 2]
    vx, vy, vz = v1[..., 0], v1[..., 1], v1[..., 2]
    cx, cy, cz = uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx
    norms = np.sqrt((ux * ux + uy * uy + uz * uz) * (vx * vx + vy * vy + vz * vz))
    w = norms + (ux * vx + uy * vy + uz * vz)
    qn = np.sqrt(w * w + cx * cx + cy * cy + cz * cz)
    degenerate = qn <= 1e-9 * norms
    out = np.stack([w, cx, cy, cz], axis=-1) / np.where(qn > 0, qn, 1.0)[..., None]
    if np.any(degenerate):
        zero = norms <= 0
        half_turn = np.concatenate([np.zeros(v0.shape[:-1] + (1,)), _perpendicular(v0)], axis=-1)
        identity = np.zeros(v0.shape[:-1] + (4,))
        identity[..., 0] = 1.0
        fallback = np.where(zero[..., None], identity, half_turn)
        out = np.where(degenerate[..., None], fallback, out)
    return out


def quat_to_cont6d(q):
    """Continuous 6D (first two columns of the rotation matrix) of (..., 4) quaternions, NumPy or torch.

    Like HumanML3D's ``quaternion_to_cont6d`` (``2 / |q|²`` scaling, so ``q`` need not be unit); the same
    numbers as :func:`~unimotion.motion.rotations.quat_to_6d`, computed without the third column.
    """
    xp = _ns(q)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    s = 2.0 / (w * w + x * x + y * y + z * z)
    return xp.stack(
        [
            1 - s * (y * y + z * z),
            s * (x * y + w * z),
            s * (x * z - w * y),
            s * (x * y - w * z),
            1 - s * (x * x + z * z),
            s * (y * z + w * x),
        ],
        axis=-1,
    )


def offsets_from_joints(joints, layout: SkeletonLayout) -> np.ndarray:
    """Per-joint offsets in HumanML3D's convention (``Skeleton.get_offsets_joints``).

    ``offset[j] = |joints[j] - joints[parent(j)]| * layout.raw_offsets[j]``: the rest *direction* of the
    bone times its length measured in ``joints``; the root row is zero.

    Args:
        joints: (..., J, 3) joint positions (e.g. one frame).
    Returns:
        (..., J, 3) float64 offsets.
    """
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim < 2 or joints.shape[-2:] != (layout.num_joints, 3):
        raise MotionError(
            f"joints must have shape (..., {layout.num_joints}, 3) for layout {layout.name!r}, "
            f"got {tuple(joints.shape)}"
        )
    parents = layout.parents
    lengths = np.zeros(joints.shape[:-1], dtype=np.float64)
    lengths[..., 1:] = np.linalg.norm(joints[..., 1:, :] - joints[..., parents[1:], :], axis=-1)
    return lengths[..., None] * layout.raw_offsets


def face_direction(
    joints,
    layout: SkeletonLayout,
    reference_quirk: bool = True,
    smooth_sigma: float | None = None,
) -> np.ndarray:
    """Unit horizontal forward direction of each pose, from the hips and the shoulders.

    ``across = (hip_a - hip_b) + (right_shoulder - left_shoulder)`` is normalised, the forward direction
    is ``Y × across`` (horizontal by construction), optionally Gaussian-smoothed over time
    (``scipy.ndimage.gaussian_filter1d(sigma=smooth_sigma, mode="nearest")`` along the frame axis, on the
    un-normalised forward vectors, as HumanML3D's ``smooth_forward=True`` does with sigma 20), then
    normalised.

    ``reference_quirk=True`` reproduces HumanML3D's ``inverse_kinematics_np``, which unpacks
    ``face_joint_indx = [r_hip, l_hip, r_shoulder, l_shoulder]`` as ``l_hip, r_hip, ...`` and therefore
    uses ``left_hip - right_hip`` for the hip term (opposite to the shoulder term): the shoulders, which are
    wider than the hips, then dominate. ``reference_quirk=False`` uses ``right_hip - left_hip`` as
    HumanML3D's ``process_file`` does for the initial facing.

    Args:
        joints: (..., T, J, 3) or (J, 3) positions, Y up.
    Returns:
        (..., T, 3) (or (3,)) unit forward vectors; a pose whose direction is undefined (hips and
        shoulders vertical) gives the zero vector (and :func:`heading_quat` the identity for it; the
        reference gives NaN).
    """
    joints = np.asarray(joints, dtype=np.float64)
    r_hip, l_hip, r_sh, l_sh = layout.face_joints
    hip_a, hip_b = (l_hip, r_hip) if reference_quirk else (r_hip, l_hip)
    across = (joints[..., hip_a, :] - joints[..., hip_b, :]) + (joints[..., r_sh, :] - joints[..., l_sh, :])
    across = _safe_normalize(across)
    forward = _cross(np, np.broadcast_to(_UP, across.shape), across)
    if smooth_sigma is not None and smooth_sigma > 0 and forward.ndim >= 2:
        from scipy.ndimage import gaussian_filter1d

        forward = gaussian_filter1d(forward, smooth_sigma, axis=-2, mode="nearest")
    norm = np.sqrt(np.sum(forward * forward, axis=-1, keepdims=True))
    return np.where(norm > 1e-9, forward / np.maximum(norm, 1e-9), 0.0)


def heading_quat(forward) -> np.ndarray:
    """(..., 4) yaw quaternions turning horizontal ``forward`` (..., 3) onto +Z (``qbetween(forward, Z)``)."""
    forward = np.asarray(forward, dtype=np.float64)
    return quat_between_np(forward, np.broadcast_to(_FORWARD, forward.shape))


def chain_predecessors(layout: SkeletonLayout) -> np.ndarray:
    """(J,) for every non-root joint, the joint whose accumulated chain rotation precedes it.

    0 (the root rotation) for the first bone of every chain -- also for chains that branch off a non-root
    joint -- else the previous joint of the chain. Entry 0 is -1.
    """
    prev = np.full(layout.num_joints, -1, dtype=np.int64)
    for chain in layout.kinematic_chain:
        for i in range(1, len(chain)):
            prev[chain[i]] = 0 if i == 1 else chain[i - 1]
    return prev


class _ChainsOnly:
    """The part of a layout the FK plan depends on (hashable, unlike SkeletonLayout's array field)."""

    def __init__(self, kinematic_chain: tuple[tuple[int, ...], ...], num_joints: int):
        self.kinematic_chain = kinematic_chain
        self.num_joints = num_joints

    @property
    def parents(self) -> np.ndarray:
        parents = np.full(self.num_joints, -1, dtype=np.int64)
        for chain in self.kinematic_chain:
            for i in range(1, len(chain)):
                parents[chain[i]] = chain[i - 1]
        return parents


def _levels(predecessor: np.ndarray) -> list[list[int]]:
    """Non-root joints grouped by their depth in the predecessor tree (each level depends on earlier ones)."""
    depth = np.zeros(len(predecessor), dtype=np.int64)
    for j in range(1, len(predecessor)):  # predecessors precede their joints in every layout we use
        p = int(predecessor[j])
        depth[j] = depth[p] + 1 if p > 0 else 1
    return [np.flatnonzero(depth == d).tolist() for d in range(1, int(depth.max()) + 1)]


def _fk_plan(layout: SkeletonLayout) -> tuple[list[list[int]], list[list[int]], np.ndarray]:
    """(levels, predecessors per level, ancestor matrix A (J, J-1)) for :func:`hml3d_forward_kinematics`."""
    return _fk_plan_for_chains(layout.kinematic_chain, layout.num_joints)


@functools.lru_cache(maxsize=16)
def _fk_plan_for_chains(
    kinematic_chain: tuple[tuple[int, ...], ...], num_joints: int
) -> tuple[list[list[int]], list[list[int]], np.ndarray]:
    layout = _ChainsOnly(kinematic_chain, num_joints)
    prev = chain_predecessors(layout)  # type: ignore[arg-type]
    for j in range(1, num_joints):
        if prev[j] >= j:  # pragma: no cover - all layouts list parents before children
            raise MotionError(f"kinematic chains {kinematic_chain}: joint {j} precedes its chain predecessor")
    levels = _levels(prev)
    prev_levels = [[int(prev[j]) for j in level] for level in levels]
    parents = layout.parents
    ancestors = np.zeros((num_joints, num_joints - 1))
    for j in range(1, num_joints):
        k = j
        while k > 0:
            ancestors[j, k - 1] = 1.0
            k = int(parents[k])
    return levels, prev_levels, ancestors


def bone_rotations(joints, layout: SkeletonLayout) -> np.ndarray:
    """(..., J-1, 4) ``qbetween(raw_offsets[j], unit(p[j] − p[parent(j)]))`` for joints 1..J-1.

    These are the rotations HumanML3D's chain IK accumulates after each bone, whatever the root rotation
    (``R_prev ⊗ (R_prev⁻¹ ⊗ rot) = rot``).
    """
    joints = np.asarray(joints, dtype=np.float64)
    parents = layout.parents
    bone = _safe_normalize(joints[..., 1:, :] - joints[..., parents[1:], :])  # (..., J-1, 3)
    return quat_between_np(layout.raw_offsets[1:], bone)


#: How the first frame's root rotation of HumanML3D's IK is chosen (``first_root`` of
#: :func:`hml3d_inverse_kinematics` and :func:`unimotion.motion.hml3d.joints_to_features`):
#:
#: * ``"smoothed"`` (the project's default, **data format v1**): frame 0 gets its own (smoothed) heading
#:   like every other frame. Every BandaiML build and every model the project ships was made with it.
#: * ``"identity"``: the original HumanML3D ``inverse_kinematics_np``, which sets ``root_quat[0] = [1, 0,
#:   0, 0]`` before the chains (the published HumanML3D files were made with it).
FirstRoot = Literal["smoothed", "identity"]
FIRST_ROOT_MODES: tuple[str, ...] = ("smoothed", "identity")
#: The project's default (data format v1).
DEFAULT_FIRST_ROOT: FirstRoot = "smoothed"


def check_first_root(first_root: str) -> FirstRoot:
    """``first_root`` if it is one of :data:`FIRST_ROOT_MODES`, else MotionError."""
    if not isinstance(first_root, str) or first_root not in FIRST_ROOT_MODES:
        raise MotionError(
            f"first_root must be one of {FIRST_ROOT_MODES} (\"smoothed\": the project's data format v1, "
            f"\"identity\": the original HumanML3D code), got {first_root!r}"
        )
    return first_root  # type: ignore[return-value]


def hml3d_inverse_kinematics(
    joints,
    layout: SkeletonLayout,
    smooth_sigma: float | None = None,
    first_root: FirstRoot = DEFAULT_FIRST_ROOT,
) -> np.ndarray:
    """HumanML3D inverse kinematics: chain rotations from joint positions (``inverse_kinematics_np``).

    * ``quats[..., 0, :]``: the heading, ``qbetween(forward, +Z)`` with ``forward`` from
      :func:`face_direction` (``reference_quirk=True``; smoothed over frames when ``smooth_sigma``).
      In the first frame of a clip (``joints.ndim >= 3``) this depends on ``first_root``
      (:data:`FirstRoot`): ``"smoothed"`` (default, the project's data format v1) keeps the first frame's
      heading like any other; ``"identity"`` uses the identity like the original's ``root_quat[0] = [1, 0,
      0, 0]``. A single (J, 3) pose always keeps its heading. The choice matters for the rotations of
      frame 0 (the HumanML3D features), not for FK∘IK, which cancels the root rotation.
    * ``quats[..., j, :]`` for ``j > 0``: ``inverse(R_prev) ⊗ qbetween(raw_offsets[j], bone_dir(j))``
      where ``R_prev`` is the rotation accumulated along ``j``'s kinematic chain (the root rotation for
      the first bone of every chain, also for chains that branch off a non-root joint); the accumulated
      rotation after bone ``j`` is exactly ``qbetween(raw_offsets[j], bone_dir(j))``.

    Args:
        joints: (T, J, 3) or (..., T, J, 3) positions (float, metres, Y up). With ``smooth_sigma`` the
            frame axis is -3.
        layout: the skeleton layout of ``joints``.
        smooth_sigma: Gaussian sigma (frames) of the forward-direction smoothing; ``None``: none.
        first_root: ``"smoothed"`` or ``"identity"``, the first frame's root rotation (see above).
    Returns:
        (..., T, J, 4) float64 quaternions (w, x, y, z).
    """
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim < 2 or joints.shape[-2:] != (layout.num_joints, 3):
        raise MotionError(
            f"joints must have shape (..., {layout.num_joints}, 3) for layout {layout.name!r}, "
            f"got {tuple(joints.shape)}"
        )
    check_first_root(first_root)
    forward = face_direction(joints, layout, reference_quirk=True, smooth_sigma=smooth_sigma)
    root = heading_quat(forward)  # (..., 4)
    if first_root == "identity" and joints.ndim >= 3:
        root[..., 0, :] = (1.0, 0.0, 0.0, 0.0)
    rot = bone_rotations(joints, layout)  # (..., J-1, 4) accumulated chain rotations
    acc = np.concatenate([root[..., None, :], rot], axis=-2)  # (..., J, 4)
    prev = acc[..., chain_predecessors(layout)[1:], :]
    local = qmul(qconj(prev), rot)
    return np.concatenate([root[..., None, :], local], axis=-2)


def hml3d_forward_kinematics(quats, root_pos, offsets, layout: SkeletonLayout):
    """HumanML3D chain forward kinematics (``Skeleton.forward_kinematics``), NumPy or torch.

    For each chain ``c``: ``R = quats[root]``; for each next joint ``j`` of ``c``: ``R = R ⊗ quats[j]``,
    ``pos[j] = pos[c_prev] + R · offsets[j]``. Inverse of :func:`hml3d_inverse_kinematics` when
    ``offsets`` are the bone lengths of the input (:func:`offsets_from_joints`). Differentiable for torch.

    Args:
        quats: (..., J, 4) chain rotations (w, x, y, z); index 0 is the root rotation.
        root_pos: (..., 3) root positions.
        offsets: (J, 3) or (..., J, 3) offsets in HumanML3D's convention (raw direction × length).
    Returns:
        (..., J, 3) joint positions, same array kind (NumPy/torch) and dtype as ``quats``.
    """
    xp = _ns(quats, root_pos, offsets)
    num_joints = layout.num_joints
    if quats.shape[-2:] != (num_joints, 4):
        raise MotionError(f"quats must be (..., {num_joints}, 4), got {tuple(quats.shape)}")
    if offsets.shape[-2:] != (num_joints, 3):
        raise MotionError(f"offsets must be (..., {num_joints}, 3), got {tuple(offsets.shape)}")
    if root_pos.shape[-1] != 3:
        raise MotionError(f"root_pos must be (..., 3), got {tuple(root_pos.shape)}")
    levels, prev_levels, ancestors = _fk_plan(layout)
    glob: list = [None] * num_joints  # accumulated chain rotation after each joint
    glob[0] = quats[..., 0, :]
    for level, prevs in zip(levels, prev_levels, strict=True):
        prev = xp.stack([glob[p] for p in prevs], axis=-2)  # (..., L, 4)
        new = qmul(prev, quats[..., level, :])
        for i, j in enumerate(level):
            glob[j] = new[..., i, :]
    return chain_positions(xp.stack(glob[1:], axis=-2), root_pos, offsets, layout)


def chain_positions(chain_rot, root_pos, offsets, layout: SkeletonLayout):
    """Positions from the rotations accumulated after each bone (the inner step of the chain FK).

    ``pos[j] = root + Σ_{k on the path root→j} chain_rot[k] · offsets[k]``, one batched rotation and one
    (J, J−1) matrix product, NumPy or torch.

    Args:
        chain_rot: (..., J-1, 4) accumulated rotations of joints 1..J-1 (e.g. :func:`bone_rotations`).
        root_pos: (..., 3). offsets: (J, 3) or (..., J, 3).
    Returns:
        (..., J, 3).
    """
    xp = _ns(chain_rot, root_pos, offsets)
    _, _, ancestors = _fk_plan(layout)
    bones = qrot(chain_rot, offsets[..., 1:, :])  # (..., J-1, 3)
    anc = xp.asarray(ancestors, dtype=bones.dtype, **_device_of(bones))
    rel = anc @ bones  # (..., J, 3): sum of the bone vectors from the root to each joint
    return rel + root_pos[..., None, :]


def _device_of(x) -> dict:
    dev = getattr(x, "device", None)
    return {"device": dev} if dev is not None and not isinstance(dev, str) else {}
