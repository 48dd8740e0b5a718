"""SMPL-X body parameters (79 channels): the body tree, packing, forward and inverse kinematics.

UniMo's motion tokenizer reads SMPL-X *body* parameters per frame, concatenated along channels
(spec ``unimo.md`` §2.1). **Channel order of the 79-vector** (fixed, documented here once)::

    [ 0:63)  body_pose      21 joints × axis-angle (joints 1..21 of SMPLX_BODY, in joint order)
    [63:73)  betas          10 shape coefficients
    [73:76)  global_orient  axis-angle of the pelvis (joint 0) in the world frame
    [76:79)  transl         world translation (metres)

The order θ | β | φ | τ is the one the paper lists (63 + 10 + 3 + 3); it is also what
:data:`PARAM_SLICES` exposes so that no caller hard-codes offsets.

**Body model.** The official SMPL-X files are not redistributable, so the rest skeleton comes from one
of two sources, both giving a :class:`SMPLXBodyModel` (22 rest joints + their linear shape directions):

* the ``mannequin-x`` package (Apache-2.0, a declared dependency): rest joints of SMPL-X NEUTRAL and the
  joint shape-blend directions for β₁…β₁₀, read at run time through its public API (``Mannequin`` rest
  poses at β = 0 and β = eᵢ; the joints are exactly linear in β) and cached. Nothing from it is
  committed here. :func:`default_body_model`.
* a user-supplied ``SMPLX_NEUTRAL.npz`` (``v_template``, ``shapedirs``, ``J_regressor``,
  ``kintree_table``): :func:`load_smplx_npz`. Rest joints = ``J_regressor @ v_template``; shape
  directions = ``J_regressor @ shapedirs[..., :10]``.

**Kinematics convention (SMPL-X ``lbs``).** Rest joints ``J(β) = J₀ + D β``. The pelvis is placed at
``J(β)[0] + transl`` and ``global_orient`` rotates the body *about the pelvis*; each joint ``j > 0`` sits at
``p_parent + G_parent (J_j − J_parent)`` with ``G_j = G_parent R_j``. (mannequin-x itself rotates the
pelvis about the world origin instead; we follow SMPL-X, so GVHMR-style parameters give SMPL-X joints.)
Pose-corrective blend shapes only move vertices, not joints, so joint positions are exact for the
body part of SMPL-X up to the regressor (J is regressed from the shaped mesh, which is linear in β).

**Inverse kinematics** (:func:`smplx_inverse_kinematics`) turns 22 joint positions into parameters: the
global rotation of every joint with children is fitted to the directions of its child bones —
Kabsch (SVD) over all children for the pelvis and spine3 (three children each), the shortest-arc
rotation in the parent's frame for single-child joints (no twist: twist is not observable from
positions), identity for leaves (feet, head, wrists). ``transl = joints[0] − J(β)[0]``. When the input
skeleton has exactly the body model's bone lengths, ``FK(IK(joints)) == joints`` up to float error;
otherwise only bone directions are matched and the error grows along the chains. For retargeted mocap,
:func:`fit_betas` first picks the clip-constant β whose bone lengths fit best; what remains is the part
of the skeleton's proportions that SMPL-X's shape space cannot express (measured on Bandai clips by
``tests/motion/test_smplx_params.py::test_ik_on_retargeted_bandai_clips``). Data meant to pair
motion parameters with renders should therefore render FK(params), not the original joints.

All functions take NumPy arrays or torch tensors (batched over any leading dims, torch keeps gradients).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from array_api_compat import array_namespace

from ..errors import InputError, MotionError, UnimotionError
from .rotations import (
    axis_angle_to_matrix,
    axis_angle_to_quat,
    matrix_to_axis_angle,
    quat_normalize,
    quat_to_matrix,
)
from .skeleton import forward_kinematics
from .skeletons import SMPLX_BODY

NUM_BODY_JOINTS = 22  # pelvis + 21 body joints
NUM_BETAS = 10
PARAM_DIM = 79
BODY_POSE = slice(0, 63)
BETAS = slice(63, 73)
GLOBAL_ORIENT = slice(73, 76)
TRANSL = slice(76, 79)
PARAM_SLICES: dict[str, slice] = {
    "body_pose": BODY_POSE,
    "betas": BETAS,
    "global_orient": GLOBAL_ORIENT,
    "transl": TRANSL,
}
PARENTS: tuple[int, ...] = tuple(int(p) for p in SMPLX_BODY.parents)
CHILDREN: tuple[tuple[int, ...], ...] = tuple(
    tuple(c for c in range(NUM_BODY_JOINTS) if PARENTS[c] == j) for j in range(NUM_BODY_JOINTS)
)


class BodyModelUnavailableError(UnimotionError, ImportError):
    """No SMPL-X-compatible rest skeleton can be built (``mannequin-x`` missing and no npz given)."""


# ---------------------------------------------------------------------------------------- parameters
@dataclass
class SMPLXParams:
    """The four parameter groups of a (batch of) frame(s); arrays or tensors with leading dims ``...``."""

    body_pose: Any  # (..., 63) axis-angle of joints 1..21
    betas: Any  # (..., 10)
    global_orient: Any  # (..., 3)
    transl: Any  # (..., 3)

    def pack(self) -> Any:
        """(..., 79) in the documented channel order."""
        return pack_params(self.body_pose, self.betas, self.global_orient, self.transl)


def _check_finite(x: Any, what: str) -> None:
    finite = torch.isfinite(x).all() if isinstance(x, torch.Tensor) else np.isfinite(np.asarray(x)).all()
    if not bool(finite):
        raise MotionError(f"{what} contains NaN or Inf")


def pack_params(body_pose: Any, betas: Any, global_orient: Any, transl: Any) -> Any:
    """Concatenate the parameter groups into (..., 79).

    Args:
        body_pose: (..., 63) or (..., 21, 3) axis-angle.
        betas: (..., 10) shape coefficients (broadcast over the leading dims of ``body_pose``).
        global_orient: (..., 3); transl: (..., 3).
    """
    xp = array_namespace(body_pose, betas, global_orient, transl)
    if body_pose.shape[-2:] == (21, 3):
        body_pose = xp.reshape(body_pose, (*body_pose.shape[:-2], 63))
    for name, x, size in (("body_pose", body_pose, 63), ("betas", betas, NUM_BETAS),
                          ("global_orient", global_orient, 3), ("transl", transl, 3)):
        if x.shape[-1] != size:
            raise MotionError(f"{name} must have shape (..., {size}), got {tuple(x.shape)}")
    lead = body_pose.shape[:-1]
    parts = [xp.broadcast_to(x, (*lead, x.shape[-1])) for x in (body_pose, betas, global_orient, transl)]
    return xp.concat(parts, axis=-1)


def unpack_params(params: Any) -> SMPLXParams:
    """(..., 79) → :class:`SMPLXParams` (views, no copies)."""
    if params.shape[-1] != PARAM_DIM:
        raise MotionError(f"SMPL-X body parameters must have shape (..., {PARAM_DIM}), got {tuple(params.shape)}")
    return SMPLXParams(
        body_pose=params[..., BODY_POSE],
        betas=params[..., BETAS],
        global_orient=params[..., GLOBAL_ORIENT],
        transl=params[..., TRANSL],
    )


# ---------------------------------------------------------------------------------------- body model
@dataclass(frozen=True)
class SMPLXBodyModel:
    """An SMPL-X-compatible 22-joint body skeleton, linear in the first 10 betas.

    ``joint_rest`` (22, 3) are the rest joint positions at β = 0 (Y up, facing +Z, left = +X, metres);
    ``joint_dirs`` (22, 3, 10) the shape directions: ``J(β) = joint_rest + joint_dirs @ β``.
    """

    joint_rest: np.ndarray
    joint_dirs: np.ndarray
    source: str = "unknown"

    def __post_init__(self) -> None:
        rest = np.asarray(self.joint_rest, dtype=np.float64)
        dirs = np.asarray(self.joint_dirs, dtype=np.float64)
        if rest.shape != (NUM_BODY_JOINTS, 3):
            raise InputError(f"{self.source}: joint_rest must be (22, 3), got {rest.shape}")
        if dirs.shape != (NUM_BODY_JOINTS, 3, NUM_BETAS):
            raise InputError(f"{self.source}: joint_dirs must be (22, 3, 10), got {dirs.shape}")
        if not (np.isfinite(rest).all() and np.isfinite(dirs).all()):
            raise InputError(f"{self.source}: rest joints or shape directions contain NaN/Inf")
        rest.flags.writeable = False
        dirs.flags.writeable = False
        object.__setattr__(self, "joint_rest", rest)
        object.__setattr__(self, "joint_dirs", dirs)

    @property
    def parents(self) -> tuple[int, ...]:
        return PARENTS

    def _as(self, like: Any, array: np.ndarray) -> Any:
        if isinstance(like, torch.Tensor):
            return torch.tensor(array, dtype=like.dtype if like.is_floating_point() else torch.float32,
                                device=like.device)
        dtype = like.dtype if isinstance(like, np.ndarray) and np.issubdtype(like.dtype, np.floating) else np.float64
        return array.astype(dtype)

    def rest_joints(self, betas: Any = None, like: Any = None) -> Any:
        """Rest joint positions J(β): (22, 3) for ``betas=None`` else (..., 22, 3).

        ``like`` chooses NumPy/torch, dtype and device when ``betas`` is None.
        """
        if betas is None:
            return self._as(like if like is not None else np.zeros(0), self.joint_rest)
        if betas.shape[-1] != NUM_BETAS:
            raise MotionError(f"betas must have shape (..., {NUM_BETAS}), got {tuple(betas.shape)}")
        xp = array_namespace(betas)
        rest = self._as(betas, self.joint_rest)
        dirs = self._as(betas, self.joint_dirs.reshape(NUM_BODY_JOINTS * 3, NUM_BETAS))
        # (..., 10) @ (10, 66) → (..., 22, 3)
        shaped = xp.reshape(betas @ xp.matrix_transpose(dirs), (*betas.shape[:-1], NUM_BODY_JOINTS, 3))
        return rest + shaped

    def rest_offsets(self, betas: Any = None, like: Any = None) -> Any:
        """Offsets of each joint from its parent in the rest pose, (22, 3) or (..., 22, 3).

        Row 0 holds the pelvis rest position itself (relative to the body-model origin).
        """
        joints = self.rest_joints(betas, like)
        xp = array_namespace(joints)
        parent_pos = xp.concat([xp.zeros_like(joints[..., :1, :]), joints[..., list(PARENTS[1:]), :]], axis=-2)
        return joints - parent_pos


@functools.lru_cache(maxsize=1)
def default_body_model() -> SMPLXBodyModel:
    """The body model from ``mannequin-x`` (computed once per process, then cached).

    Raises:
        BodyModelUnavailableError: ``mannequin-x`` is not installed or its skeleton is not SMPL-X's.
    """
    try:
        from mannequin import Mannequin
    except ImportError as exc:  # pragma: no cover - exercised by monkeypatching in tests
        raise BodyModelUnavailableError(
            "the SMPL-X-compatible rest skeleton needs the 'mannequin-x' package (pip install mannequin-x), "
            "or pass a body model loaded from your own SMPLX_NEUTRAL.npz with load_smplx_npz(path)"
        ) from exc
    m = Mannequin("convex", lod=2)
    names = tuple(n.lower() for n in m.joint_names[:NUM_BODY_JOINTS])
    expected = tuple(n.replace("left_", "l_").replace("right_", "r_") for n in SMPLX_BODY.joint_names)
    if names != expected or tuple(m.parents[:NUM_BODY_JOINTS]) != PARENTS:
        raise BodyModelUnavailableError(
            f"mannequin-x's skeleton does not start with the SMPL-X body joints: {names} / {m.parents[:22]}"
        )

    def joints_at(shape: np.ndarray) -> np.ndarray:
        m.reshape(shape.astype(np.float32))
        return np.asarray(m.joint_transforms(m.rest_pose())[:NUM_BODY_JOINTS, :3, 3], dtype=np.float64)

    zero = np.zeros(NUM_BETAS)
    rest = joints_at(zero)
    # Rest joints are exactly linear in β (mannequin-x's calibration), so unit steps give the directions.
    dirs = np.stack([joints_at(np.eye(NUM_BETAS)[i]) - rest for i in range(NUM_BETAS)], axis=-1)
    m.reshape(zero.astype(np.float32))
    return SMPLXBodyModel(rest, dirs, source="mannequin-x")


def load_smplx_npz(path: str | os.PathLike) -> SMPLXBodyModel:
    """A body model from a user-supplied SMPL-X model file (e.g. ``SMPLX_NEUTRAL.npz``).

    Needs ``v_template`` (V, 3), ``shapedirs`` (V, 3, S ≥ 10), ``J_regressor`` (J ≥ 22, V) and
    ``kintree_table`` (2, J) whose first 22 parents must be the SMPL-X body tree.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"SMPL-X model file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in ("v_template", "shapedirs", "J_regressor", "kintree_table")
                      if k in data.files}
    except (ValueError, OSError) as exc:
        raise InputError(f"{path}: not a readable .npz without pickled objects ({exc})") from exc
    missing = sorted({"v_template", "shapedirs", "J_regressor", "kintree_table"} - set(arrays))
    if missing:
        raise InputError(f"{path}: missing array(s) {missing}")
    v, sd, jr, kt = (arrays[k].astype(np.float64) if k != "kintree_table" else arrays[k]
                     for k in ("v_template", "shapedirs", "J_regressor", "kintree_table"))
    nv = v.shape[0]
    if v.ndim != 2 or v.shape[1] != 3:
        raise InputError(f"{path}: v_template must be (V, 3), got {v.shape}")
    if sd.ndim != 3 or sd.shape[:2] != (nv, 3) or sd.shape[2] < NUM_BETAS:
        raise InputError(f"{path}: shapedirs must be ({nv}, 3, >=10), got {sd.shape}")
    if jr.ndim != 2 or jr.shape[1] != nv or jr.shape[0] < NUM_BODY_JOINTS:
        raise InputError(f"{path}: J_regressor must be (>=22, {nv}), got {jr.shape}")
    if kt.ndim != 2 or kt.shape[0] != 2 or kt.shape[1] < NUM_BODY_JOINTS:
        raise InputError(f"{path}: kintree_table must be (2, >=22), got {kt.shape}")
    parents = kt[0, :NUM_BODY_JOINTS].astype(np.int64)
    parents[0] = -1  # the root is stored as -1 or as the uint32 maximum, depending on the export
    if tuple(int(p) for p in parents) != PARENTS:
        raise InputError(f"{path}: kintree_table parents {parents.tolist()} are not the SMPL-X body tree {list(PARENTS)}")
    jr22 = jr[:NUM_BODY_JOINTS]
    rest = jr22 @ v
    dirs = np.einsum("jv,vcs->jcs", jr22, sd[:, :, :NUM_BETAS])
    return SMPLXBodyModel(rest, dirs, source=str(path))


@functools.lru_cache(maxsize=8)
def _cached_npz(path: str) -> SMPLXBodyModel:
    return load_smplx_npz(path)


def get_body_model(source: str | os.PathLike | SMPLXBodyModel | None = None) -> SMPLXBodyModel:
    """``None`` → mannequin-x (cached); a path → that SMPL-X npz (cached per path); a model → itself."""
    if isinstance(source, SMPLXBodyModel):
        return source
    if source is None:
        return default_body_model()
    return _cached_npz(str(Path(source).resolve()))


def smplx_rest_offsets(betas: Any = None, body_model: SMPLXBodyModel | None = None) -> Any:
    """Rest offsets of the SMPL-X body tree ((22, 3), or (..., 22, 3) with betas); see
    :meth:`SMPLXBodyModel.rest_offsets`."""
    return get_body_model(body_model).rest_offsets(betas)


# ---------------------------------------------------------------------------------------- kinematics
def smplx_forward_kinematics(
    params: Any, body_model: SMPLXBodyModel | None = None, return_rotations: bool = False
) -> Any:
    """Joint positions of SMPL-X body parameters.

    Args:
        params: (..., 79) packed parameters (channel order in the module docstring) or :class:`SMPLXParams`.
        body_model: rest skeleton; default :func:`default_body_model`.
        return_rotations: also return the global joint rotations (..., 22, 4) (w, x, y, z).

    Returns:
        (..., 22, 3) joint positions (metres), NumPy or torch like the input (differentiable in torch).
    """
    p = params if isinstance(params, SMPLXParams) else unpack_params(params)
    xp = array_namespace(p.body_pose, p.global_orient)
    bm = get_body_model(body_model)
    lead = p.body_pose.shape[:-1]
    pose = xp.reshape(p.body_pose, (*lead, 21, 3))
    local = xp.concat([axis_angle_to_quat(p.global_orient)[..., None, :], axis_angle_to_quat(pose)], axis=-2)
    offsets = bm.rest_offsets(p.betas)  # (..., 22, 3)
    root = offsets[..., 0, :] + p.transl
    pos, rot = forward_kinematics(local, root, offsets, PARENTS)
    return (pos, rot) if return_rotations else pos


def _eye_like(x: Any) -> Any:
    """(..., 3, 3) identities with the leading shape of ``x`` (..., 3)."""
    xp = array_namespace(x)
    zero = xp.zeros_like(x[..., 0])
    one = zero + 1
    rows = [xp.stack([one, zero, zero], axis=-1), xp.stack([zero, one, zero], axis=-1),
            xp.stack([zero, zero, one], axis=-1)]
    return xp.stack(rows, axis=-2)


def _matvec(m: Any, v: Any) -> Any:
    return (m @ v[..., None])[..., 0]


def _robust_between(a: Any, b: Any, eps: float = 1e-8) -> Any:
    """Shortest-arc quaternion taking direction ``a`` to direction ``b`` (..., 3) → (..., 4).

    Unlike :func:`~unimotion.motion.rotations.quat_between` it handles exactly opposite vectors (a
    half-turn about an axis orthogonal to ``a``) and a zero-length ``b`` (identity).
    """
    xp = array_namespace(a, b)
    a = a / xp.clip(xp.linalg.vector_norm(a, axis=-1, keepdims=True), eps, None)
    b_norm = xp.linalg.vector_norm(b, axis=-1, keepdims=True)
    b = b / xp.clip(b_norm, eps, None)
    w = 1.0 + xp.sum(a * b, axis=-1, keepdims=True)
    v = xp.linalg.cross(a, b)
    q = xp.concat([w, v], axis=-1)
    # opposite directions: rotate by π about an axis orthogonal to a
    ex = xp.zeros_like(a) + xp.asarray([1.0, 0.0, 0.0], dtype=a.dtype, **_device_kw(a))
    ey = xp.zeros_like(a) + xp.asarray([0.0, 1.0, 0.0], dtype=a.dtype, **_device_kw(a))
    use_y = xp.abs(a[..., 0:1]) > 0.9
    perp = xp.linalg.cross(a, xp.where(use_y, ey, ex))
    perp = perp / xp.clip(xp.linalg.vector_norm(perp, axis=-1, keepdims=True), eps, None)
    half_turn = xp.concat([xp.zeros_like(w), perp], axis=-1)
    q = xp.where(w < 1e-6, half_turn, q)
    identity = xp.concat([xp.ones_like(w), xp.zeros_like(v)], axis=-1)
    q = xp.where(b_norm < eps, identity, q)
    return quat_normalize(q)


def _device_kw(x: Any) -> dict:
    return {"device": x.device} if isinstance(x, torch.Tensor) else {}


def _kabsch(src: Any, dst: Any) -> Any:
    """Rotation R (..., 3, 3) minimising Σᵢ ||R srcᵢ − dstᵢ||² for unit vectors src, dst (..., N, 3)."""
    xp = array_namespace(src, dst)
    h = xp.matrix_transpose(src) @ dst  # (..., 3, 3) = Σ srcᵢ dstᵢᵀ
    u, _, vt = xp.linalg.svd(h)
    v = xp.matrix_transpose(vt)
    d = xp.sign(xp.linalg.det(v @ xp.matrix_transpose(u)))
    d = xp.where(d == 0, xp.ones_like(d), d)
    one = xp.ones_like(d)
    diag = xp.stack([one, one, d], axis=-1)  # (..., 3)
    return (v * diag[..., None, :]) @ xp.matrix_transpose(u)


def fit_betas(
    joints: np.ndarray,
    body_model: SMPLXBodyModel | None = None,
    prior_weight: float = 1e-3,
    iterations: int = 20,
) -> tuple[np.ndarray, np.ndarray]:
    """Clip-constant shape β whose rest bone lengths best match the bone lengths of ``joints``.

    Minimises Σ_bones (|J_c(β) − J_p(β)| − L_b)² + ``prior_weight``·|β|² by Gauss–Newton, where L_b is the
    median length of bone b over the frames. Use it before :func:`smplx_inverse_kinematics` on retargeted
    mocap: IK only matches bone directions, so bone lengths that SMPL-X reproduces directly lower the
    FK(IK(joints)) error.

    Args:
        joints: (T, 22, 3) or (22, 3) joint positions (NumPy), metres.

    Returns:
        (betas (10,), per-bone absolute length residual (21,) in metres).
    """
    joints = np.asarray(joints, dtype=np.float64)
    if joints.shape[-2:] != (NUM_BODY_JOINTS, 3):
        raise MotionError(f"joints must have shape (..., 22, 3), got {joints.shape}")
    _check_finite(joints, "joints")
    bm = get_body_model(body_model)
    child = np.arange(1, NUM_BODY_JOINTS)
    parent = np.asarray(PARENTS[1:])
    flat = joints.reshape(-1, NUM_BODY_JOINTS, 3)
    target = np.median(np.linalg.norm(flat[:, child] - flat[:, parent], axis=-1), axis=0)  # (21,)
    rest = bm.joint_rest[child] - bm.joint_rest[parent]  # (21, 3)
    dirs = bm.joint_dirs[child] - bm.joint_dirs[parent]  # (21, 3, 10)
    betas = np.zeros(NUM_BETAS)
    eye = np.eye(NUM_BETAS)
    for _ in range(iterations):
        bone = rest + dirs @ betas
        length = np.maximum(np.linalg.norm(bone, axis=-1), 1e-9)
        jac = np.einsum("bc,bck->bk", bone / length[:, None], dirs)  # d length / d β
        step = np.linalg.solve(jac.T @ jac + prior_weight * eye, jac.T @ (length - target) + prior_weight * betas)
        betas = betas - step
        if np.abs(step).max() < 1e-10:
            break
    residual = np.abs(np.linalg.norm(rest + dirs @ betas, axis=-1) - target)
    return betas, residual


def smplx_inverse_kinematics(
    joints: Any, betas: Any = None, body_model: SMPLXBodyModel | None = None
) -> Any:
    """SMPL-X body parameters whose joints match ``joints`` as well as rotations alone allow.

    Args:
        joints: (..., 22, 3) joint positions in SMPLX_BODY order, metres, Y up, facing +Z at rest.
        betas: (..., 10) or (10,) shape to use (its bone lengths are what FK will reproduce); default 0.
        body_model: rest skeleton; default :func:`default_body_model`.

    Returns:
        (..., 79) packed parameters. Leaf joints get zero rotation and single-child joints no twist.
    """
    if joints.shape[-2:] != (NUM_BODY_JOINTS, 3):
        raise MotionError(f"joints must have shape (..., 22, 3), got {tuple(joints.shape)}")
    _check_finite(joints, "joints")
    xp = array_namespace(joints)
    bm = get_body_model(body_model)
    lead = joints.shape[:-2]
    if betas is None:
        betas = xp.zeros((*lead, NUM_BETAS), dtype=joints.dtype, **_device_kw(joints))
    else:
        if betas.shape[-1] != NUM_BETAS:
            raise MotionError(f"betas must have shape (..., {NUM_BETAS}), got {tuple(betas.shape)}")
        _check_finite(betas, "betas")
        betas = xp.broadcast_to(xp.asarray(betas, dtype=joints.dtype), (*lead, NUM_BETAS))
    rest = bm.rest_joints(betas)  # (..., 22, 3)

    glob: list[Any] = [None] * NUM_BODY_JOINTS
    local: list[Any] = [None] * NUM_BODY_JOINTS
    identity = _eye_like(joints[..., 0, :])
    for j in range(NUM_BODY_JOINTS):
        parent_glob = identity if j == 0 else glob[PARENTS[j]]
        children = CHILDREN[j]
        if not children:
            local[j] = identity
        elif len(children) == 1:
            c = children[0]
            rest_dir = rest[..., c, :] - rest[..., j, :]
            target = _matvec(xp.matrix_transpose(parent_glob), joints[..., c, :] - joints[..., j, :])
            local[j] = quat_to_matrix(_robust_between(rest_dir, target))
        else:
            idx = list(children)
            src = rest[..., idx, :] - rest[..., j : j + 1, :]
            dst = joints[..., idx, :] - joints[..., j : j + 1, :]
            src = src / xp.clip(xp.linalg.vector_norm(src, axis=-1, keepdims=True), 1e-8, None)
            dst = dst / xp.clip(xp.linalg.vector_norm(dst, axis=-1, keepdims=True), 1e-8, None)
            g = _kabsch(src, dst)
            local[j] = xp.matrix_transpose(parent_glob) @ g
        glob[j] = parent_glob @ local[j]

    body_pose = matrix_to_axis_angle(xp.stack(local[1:], axis=-3))  # (..., 21, 3)
    global_orient = matrix_to_axis_angle(local[0])
    transl = joints[..., 0, :] - rest[..., 0, :]
    return pack_params(body_pose, betas, global_orient, transl)


# ---------------------------------------------------------------------------------------- rigid moves
def heading_angle(global_orient: np.ndarray) -> np.ndarray:
    """Yaw (radians, about +Y) of the body's forward direction: the pelvis rotation applied to +Z, projected
    on the ground plane; ``atan2(f_x, f_z)`` (0 = facing +Z). (..., 3) axis-angle → (...,)."""
    go = np.asarray(global_orient, dtype=np.float64)
    forward = axis_angle_to_matrix(go)[..., :, 2]  # R @ (0, 0, 1)
    return np.arctan2(forward[..., 0], forward[..., 2])


def yaw_matrix(angle: np.ndarray | float) -> np.ndarray:
    """Rotation about +Y by ``angle`` (radians): (...,) → (..., 3, 3); maps +Z to (sin a, 0, cos a)."""
    a = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    zero, one = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, zero, s], -1), np.stack([zero, one, zero], -1), np.stack([-s, zero, c], -1)], -2)


def rigid_transform_params(params: np.ndarray, yaw: float, offset: np.ndarray,
                           body_model: SMPLXBodyModel | None = None) -> np.ndarray:
    """Move a body by the world map ``x ↦ R_y(yaw) x + offset`` (a turn about the vertical axis through the
    world origin, then a translation), so that ``FK(result) = R_y(yaw) FK(params) + offset``.

    With the SMPL-X convention (pelvis at ``J₀(β) + transl``, ``global_orient`` about the pelvis):
    ``global_orient' = R_y ∘ global_orient`` and ``transl' = R_y (J₀(β) + transl) + offset − J₀(β)``; the body
    pose and shape are unchanged.

    Args:
        params: (..., 79) packed parameters (NumPy).
        yaw: angle in radians; offset: (3,) metres.
    """
    params = np.asarray(params, dtype=np.float64)
    p = unpack_params(params)
    rot = yaw_matrix(yaw)
    offset = np.asarray(offset, dtype=np.float64).reshape(3)
    j0 = get_body_model(body_model).rest_joints(p.betas)[..., 0, :]  # (..., 3)
    orient = matrix_to_axis_angle(rot @ axis_angle_to_matrix(p.global_orient))
    transl = (j0 + p.transl) @ rot.T + offset - j0
    return pack_params(p.body_pose, p.betas, orient, transl)


def canonicalize_params(params: np.ndarray, frame: int = 0, body_model: SMPLXBodyModel | None = None
                        ) -> tuple[np.ndarray, float, np.ndarray]:
    """Express a clip in its own canonical frame: at ``frame`` the pelvis is above the origin (x = z = 0;
    its height is kept) and the body faces +Z. The motion-capture outputs and UniMo's training clips use
    this frame, so world-frame errors are measured relative to the clip's first frame.

    Args:
        params: (T, 79) packed parameters (NumPy).

    Returns:
        (canonical params (T, 79), yaw, offset) such that ``canonical = rigid_transform_params(params, yaw,
        offset)``; apply the same map to joints or cameras with :func:`rigid_transform_points` /
        :func:`rigid_transform_camera`.
    """
    params = np.asarray(params, dtype=np.float64)
    if params.ndim != 2 or params.shape[-1] != PARAM_DIM or not len(params):
        raise MotionError(f"params must be a (T, {PARAM_DIM}) clip, got {params.shape}")
    if not -len(params) <= frame < len(params):
        raise MotionError(f"frame {frame} is outside a clip of {len(params)} frames")
    p = unpack_params(params[frame])
    yaw = -float(heading_angle(p.global_orient))
    pelvis = get_body_model(body_model).rest_joints(p.betas)[0] + p.transl
    turned = yaw_matrix(yaw) @ pelvis
    offset = np.array([-turned[0], 0.0, -turned[2]])
    return rigid_transform_params(params, yaw, offset, body_model), yaw, offset


def rigid_transform_points(points: np.ndarray, yaw: float, offset: np.ndarray) -> np.ndarray:
    """``R_y(yaw) x + offset`` for points (..., 3)."""
    return np.asarray(points, dtype=np.float64) @ yaw_matrix(yaw).T + np.asarray(offset, dtype=np.float64)


def rigid_transform_camera(R: np.ndarray, t: np.ndarray, yaw: float, offset: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Extrinsics (R', t') that see the moved world ``R_y(yaw) x + offset`` as (R, t) saw the original one:
    ``R' = R R_yᵀ``, ``t' = t − R' offset``."""
    R2 = np.asarray(R, dtype=np.float64) @ yaw_matrix(yaw).T
    return R2, np.asarray(t, dtype=np.float64) - R2 @ np.asarray(offset, dtype=np.float64)
