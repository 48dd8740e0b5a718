"""Forward kinematics on joint trees (and, below, HumanML3D-style inverse kinematics).

Two rotation semantics appear in this project, and they are kept apart by name:

* **joint rotations** (BVH, SMPL/SMPL-X): ``local_rot[j]`` rotates joint ``j``'s frame relative to its
  parent's; every child bone of ``j`` moves with it. :func:`forward_kinematics` uses this.
* **HumanML3D chain rotations**: one rotation per *bone*, stored at the bone's child joint, accumulated
  along each kinematic chain (branch chains restart from the root rotation). See ``hml3d``'s IK/FK.
"""

from __future__ import annotations

from collections.abc import Sequence

from array_api_compat import array_namespace

from ..errors import MotionError
from .rotations import quat_apply, quat_multiply


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
