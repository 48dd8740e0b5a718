"""Reference: a faithful transcription of the original HumanML3D motion-representation code.

Source: https://github.com/EricGuo5513/HumanML3D (MIT licence, Copyright (c) 2022 Chuan Guo), files
``common/quaternion.py`` (itself from Facebook's QuaterNet, "licensed under the license found in the
LICENSE file" of that project), ``common/skeleton.py`` and ``motion_representation.ipynb``
(``uniform_skeleton``, ``process_file``, ``recover_root_rot_pos``, ``recover_from_ric``); the same
functions are ``data_loaders/humanml/...`` in MDM and ``utils/motion_process.py`` in momask-codes.

Unlike ``hml3d_reference.py`` (our own per-frame reading of the algorithm, in float64), this module keeps
the original's structure *and its arithmetic*: every quaternion helper converts its NumPy inputs to
torch float32 (``torch.from_numpy(x).float()``) and computes with the same torch operations in the same
order (``qmul`` through ``torch.bmm`` outer products, ``qrot`` through two ``torch.cross``), positions are
accumulated in float64 NumPy arrays where the original does so, the first frame's root rotation of the
IK is set to the identity, and ``uniform_skeleton`` uses the IK's facing (with the original's swapped
hip unpacking). ``dtype=torch.float64`` runs the same code with float64 helpers, which separates
algorithmic differences from float32 rounding.

Used by ``tests/motion/test_hml3d_original.py`` and ``benchmarks/codec.py`` (speed baseline: the
original is vectorised over frames, looping only over joints). :mod:`unimotion.motion.hml3d` computes the
original's features with ``first_root="identity"``; its default (``"smoothed"``, the project's data
format v1) differs in frame 0 (see the module's *First root rotation*).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

# ---------------------------------------------------------------------------------------- quaternions
# common/quaternion.py (PyTorch-backed, and the *_np wrappers that go through float32 torch)


class Quat:
    """The quaternion helpers of ``common/quaternion.py`` with the NumPy→torch dtype as a parameter."""

    def __init__(self, dtype: torch.dtype = torch.float32):
        self.dtype = dtype

    def _t(self, x) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x)).to(self.dtype)

    # torch versions ------------------------------------------------------------------------------
    @staticmethod
    def qinv(q: torch.Tensor) -> torch.Tensor:
        mask = torch.ones_like(q)
        mask[..., 1:] = -mask[..., 1:]
        return q * mask

    @staticmethod
    def qnormalize(q: torch.Tensor) -> torch.Tensor:
        return q / torch.norm(q, dim=-1, keepdim=True)

    @staticmethod
    def qmul(q: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        shape = q.shape
        terms = torch.bmm(r.view(-1, 4, 1), q.view(-1, 1, 4))  # terms[i, j] = r_i q_j
        w = terms[:, 0, 0] - terms[:, 1, 1] - terms[:, 2, 2] - terms[:, 3, 3]
        x = terms[:, 0, 1] + terms[:, 1, 0] - terms[:, 2, 3] + terms[:, 3, 2]
        y = terms[:, 0, 2] + terms[:, 1, 3] + terms[:, 2, 0] - terms[:, 3, 1]
        z = terms[:, 0, 3] - terms[:, 1, 2] + terms[:, 2, 1] + terms[:, 3, 0]
        return torch.stack((w, x, y, z), dim=1).view(shape)

    @staticmethod
    def qrot(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        shape = list(v.shape)
        q = q.contiguous().view(-1, 4)
        v = v.contiguous().view(-1, 3)
        qvec = q[:, 1:]
        uv = torch.cross(qvec, v, dim=1)
        uuv = torch.cross(qvec, uv, dim=1)
        return (v + 2 * (q[:, :1] * uv + uuv)).view(shape)

    @classmethod
    def qbetween(cls, v0: torch.Tensor, v1: torch.Tensor) -> torch.Tensor:
        v = torch.cross(v0, v1, dim=-1)
        w = torch.sqrt((v0**2).sum(dim=-1, keepdim=True) * (v1**2).sum(dim=-1, keepdim=True)) + (v0 * v1).sum(
            dim=-1, keepdim=True
        )
        return cls.qnormalize(torch.cat([w, v], dim=-1))

    @staticmethod
    def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
        r, i, j, k = torch.unbind(q, -1)
        two_s = 2.0 / (q * q).sum(-1)
        o = torch.stack(
            (
                1 - two_s * (j * j + k * k),
                two_s * (i * j - k * r),
                two_s * (i * k + j * r),
                two_s * (i * j + k * r),
                1 - two_s * (i * i + k * k),
                two_s * (j * k - i * r),
                two_s * (i * k - j * r),
                two_s * (j * k + i * r),
                1 - two_s * (i * i + j * j),
            ),
            -1,
        )
        return o.reshape(q.shape[:-1] + (3, 3))

    # NumPy wrappers ------------------------------------------------------------------------------
    def qinv_np(self, q):
        return self.qinv(self._t(q)).numpy()

    def qmul_np(self, q, r):
        return self.qmul(self._t(q), self._t(r)).numpy()

    def qrot_np(self, q, v):
        return self.qrot(self._t(q), self._t(v)).numpy()

    def qbetween_np(self, v0, v1):
        return self.qbetween(self._t(v0), self._t(v1)).numpy()

    def quaternion_to_cont6d_np(self, q):
        mat = self.quaternion_to_matrix(self._t(q)).numpy()
        return np.concatenate([mat[..., 0], mat[..., 1]], axis=-1)


# ---------------------------------------------------------------------------------------- skeleton
class Skeleton:
    """``common/skeleton.py``: offsets, chain IK (``inverse_kinematics_np``) and FK (``forward_kinematics_np``)."""

    def __init__(self, raw_offsets: np.ndarray, kinematic_tree, quat: Quat):
        self.q = quat
        self._raw_offset_np = np.asarray(raw_offsets)
        self._raw_offset = torch.from_numpy(self._raw_offset_np).to(quat.dtype)
        self._kinematic_tree = [list(c) for c in kinematic_tree]
        self._offset: torch.Tensor | None = None
        self._parents = [0] * len(self._raw_offset)
        self._parents[0] = -1
        for chain in self._kinematic_tree:
            for j in range(1, len(chain)):
                self._parents[chain[j]] = chain[j - 1]

    def set_offset(self, offsets: torch.Tensor) -> None:
        self._offset = offsets.clone().detach().to(self.q.dtype)

    def get_offsets_joints(self, joints: torch.Tensor) -> torch.Tensor:
        offsets = self._raw_offset.clone()
        for i in range(1, self._raw_offset.shape[0]):
            offsets[i] = torch.norm(joints[i] - joints[self._parents[i]], p=2, dim=0) * offsets[i]
        self._offset = offsets.detach()
        return offsets

    def inverse_kinematics_np(self, joints: np.ndarray, face_joint_idx, smooth_forward: bool = False):
        q = self.q
        # the original unpacks [r_hip, l_hip, sdr_r, sdr_l] as (l_hip, r_hip, ...): kept as published
        l_hip, r_hip, sdr_r, sdr_l = face_joint_idx
        across = (joints[:, r_hip] - joints[:, l_hip]) + (joints[:, sdr_r] - joints[:, sdr_l])
        across = across / np.sqrt((across**2).sum(axis=-1))[:, np.newaxis]
        forward = np.cross(np.array([[0, 1, 0]]), across, axis=-1)
        if smooth_forward:
            forward = gaussian_filter1d(forward, 20, axis=0, mode="nearest")
        forward = forward / np.sqrt((forward**2).sum(axis=-1))[..., np.newaxis]
        target = np.array([[0, 0, 1]]).repeat(len(forward), axis=0)
        root_quat = q.qbetween_np(forward, target)

        quat_params = np.zeros(joints.shape[:-1] + (4,))
        root_quat[0] = np.array([[1.0, 0.0, 0.0, 0.0]])  # the first frame's root rotation is the identity
        quat_params[:, 0] = root_quat
        for chain in self._kinematic_tree:
            R = root_quat
            for j in range(len(chain) - 1):
                u = self._raw_offset_np[chain[j + 1]][np.newaxis, ...].repeat(len(joints), axis=0)
                v = joints[:, chain[j + 1]] - joints[:, chain[j]]
                v = v / np.sqrt((v**2).sum(axis=-1))[:, np.newaxis]
                rot_u_v = q.qbetween_np(u, v)
                R_loc = q.qmul_np(q.qinv_np(R), rot_u_v)
                quat_params[:, chain[j + 1], :] = R_loc
                R = q.qmul_np(R, R_loc)
        return quat_params

    def forward_kinematics_np(self, quat_params: np.ndarray, root_pos: np.ndarray) -> np.ndarray:
        q = self.q
        assert self._offset is not None
        offsets = self._offset.expand(quat_params.shape[0], -1, -1).numpy()
        joints = np.zeros(quat_params.shape[:-1] + (3,))
        joints[:, 0] = root_pos
        for chain in self._kinematic_tree:
            R = quat_params[:, 0]
            for i in range(1, len(chain)):
                R = q.qmul_np(R, quat_params[:, chain[i]])
                joints[:, chain[i]] = q.qrot_np(R, offsets[:, chain[i]]) + joints[:, chain[i - 1]]
        return joints


# ---------------------------------------------------------------------------------------- process_file
class Original:
    """``uniform_skeleton`` / ``process_file`` / ``recover_from_ric`` of ``motion_representation.ipynb``.

    Args:
        layout: a :class:`unimotion.motion.skeletons.SkeletonLayout` giving the original's constants
            (``t2m_raw_offsets``, ``t2m_kinematic_chain``, ``face_joint_indx``, ``l_idx1/2``, ``fid_l/r``).
        target_offsets: (J, 3) ``tgt_offsets`` (``Skeleton.get_offsets_joints`` of the target frame).
        dtype: the helpers' torch dtype (``torch.float32`` as published).
    """

    def __init__(self, layout, target_offsets, dtype: torch.dtype = torch.float32):
        self.q = Quat(dtype)
        self.raw = np.asarray(layout.raw_offsets).astype(np.int64)  # t2m_raw_offsets is an int array
        self.chain = [list(c) for c in layout.kinematic_chain]
        self.face = list(layout.face_joints)
        self.l_idx1, self.l_idx2 = layout.leg
        self.fid_l, self.fid_r = list(layout.foot_left), list(layout.foot_right)
        self.tgt_offsets = torch.as_tensor(np.asarray(target_offsets)).to(dtype)
        self.np_dtype = np.float32 if dtype == torch.float32 else np.float64

    def skeleton(self) -> Skeleton:
        return Skeleton(self.raw, self.chain, self.q)

    def uniform_skeleton(self, positions: np.ndarray) -> np.ndarray:
        src_skel = self.skeleton()
        src_offset = src_skel.get_offsets_joints(torch.from_numpy(positions[0])).numpy()
        tgt_offset = self.tgt_offsets.numpy()
        src_leg_len = np.abs(src_offset[self.l_idx1]).max() + np.abs(src_offset[self.l_idx2]).max()
        tgt_leg_len = np.abs(tgt_offset[self.l_idx1]).max() + np.abs(tgt_offset[self.l_idx2]).max()
        scale_rt = tgt_leg_len / src_leg_len
        tgt_root_pos = positions[:, 0] * scale_rt
        quat_params = src_skel.inverse_kinematics_np(positions, self.face)
        src_skel.set_offset(self.tgt_offsets)
        return src_skel.forward_kinematics_np(quat_params, tgt_root_pos)

    def process_file(self, positions: np.ndarray, feet_thre: float):
        """Returns ``(data, global_positions, positions, l_velocity)`` like the original."""
        q = self.q
        positions = self.uniform_skeleton(positions)

        floor_height = positions.min(axis=0).min(axis=0)[1]
        positions[:, :, 1] -= floor_height

        root_pos_init = positions[0]
        root_pose_init_xz = root_pos_init[0] * np.array([1, 0, 1])
        positions = positions - root_pose_init_xz

        r_hip, l_hip, sdr_r, sdr_l = self.face
        across = (root_pos_init[r_hip] - root_pos_init[l_hip]) + (root_pos_init[sdr_r] - root_pos_init[sdr_l])
        across = across / np.sqrt((across**2).sum(axis=-1))[..., np.newaxis]
        forward_init = np.cross(np.array([[0, 1, 0]]), across, axis=-1)
        forward_init = forward_init / np.sqrt((forward_init**2).sum(axis=-1))[..., np.newaxis]
        target = np.array([[0, 0, 1]])
        root_quat_init = q.qbetween_np(forward_init, target)
        root_quat_init = np.ones(positions.shape[:-1] + (4,)) * root_quat_init
        positions = q.qrot_np(root_quat_init, positions)
        global_positions = positions.copy()

        def foot_detect(positions, thres):
            velfactor = np.array([thres, thres])
            d = {}
            for side, fid in (("l", self.fid_l), ("r", self.fid_r)):
                fx = (positions[1:, fid, 0] - positions[:-1, fid, 0]) ** 2
                fy = (positions[1:, fid, 1] - positions[:-1, fid, 1]) ** 2
                fz = (positions[1:, fid, 2] - positions[:-1, fid, 2]) ** 2
                d[side] = ((fx + fy + fz) < velfactor).astype(self.np_dtype)
            return d["l"], d["r"]

        feet_l, feet_r = foot_detect(positions, feet_thre)

        def get_cont6d_params(positions):
            skel = self.skeleton()
            quat_params = skel.inverse_kinematics_np(positions, self.face, smooth_forward=True)
            cont_6d_params = q.quaternion_to_cont6d_np(quat_params)
            r_rot = quat_params[:, 0].copy()
            velocity = (positions[1:, 0] - positions[:-1, 0]).copy()
            velocity = q.qrot_np(r_rot[1:], velocity)
            r_velocity = q.qmul_np(r_rot[1:], q.qinv_np(r_rot[:-1]))
            return cont_6d_params, r_velocity, velocity, r_rot

        cont_6d_params, r_velocity, velocity, r_rot = get_cont6d_params(positions)

        # get_rifke (modifies ``positions`` in place, as the original does)
        positions[..., 0] -= positions[:, 0:1, 0]
        positions[..., 2] -= positions[:, 0:1, 2]
        positions = q.qrot_np(np.repeat(r_rot[:, None], positions.shape[1], axis=1), positions)

        root_y = positions[:, 0, 1:2]
        r_velocity = np.arcsin(r_velocity[:, 2:3])
        l_velocity = velocity[:, [0, 2]]
        root_data = np.concatenate([r_velocity, l_velocity, root_y[:-1]], axis=-1)
        rot_data = cont_6d_params[:, 1:].reshape(len(cont_6d_params), -1)
        ric_data = positions[:, 1:].reshape(len(positions), -1)
        local_vel = q.qrot_np(
            np.repeat(r_rot[:-1, None], global_positions.shape[1], axis=1),
            global_positions[1:] - global_positions[:-1],
        )
        local_vel = local_vel.reshape(len(local_vel), -1)
        data = np.concatenate([root_data, ric_data[:-1], rot_data[:-1], local_vel, feet_l, feet_r], axis=-1)
        return data, global_positions, positions, l_velocity

    # recover_root_rot_pos / recover_from_ric (torch, like the original; called on float32 data there)
    def recover_root_rot_pos(self, data: torch.Tensor):
        rot_vel = data[..., 0]
        r_rot_ang = torch.zeros_like(rot_vel)
        r_rot_ang[..., 1:] = rot_vel[..., :-1]
        r_rot_ang = torch.cumsum(r_rot_ang, dim=-1)
        r_rot_quat = torch.zeros(data.shape[:-1] + (4,), dtype=data.dtype)
        r_rot_quat[..., 0] = torch.cos(r_rot_ang)
        r_rot_quat[..., 2] = torch.sin(r_rot_ang)
        r_pos = torch.zeros(data.shape[:-1] + (3,), dtype=data.dtype)
        r_pos[..., 1:, [0, 2]] = data[..., :-1, 1:3]
        r_pos = self.q.qrot(self.q.qinv(r_rot_quat), r_pos)
        r_pos = torch.cumsum(r_pos, dim=-2)
        r_pos[..., 1] = data[..., 3]
        return r_rot_quat, r_pos

    def recover_from_ric(self, data: torch.Tensor, joints_num: int) -> torch.Tensor:
        r_rot_quat, r_pos = self.recover_root_rot_pos(data)
        positions = data[..., 4 : (joints_num - 1) * 3 + 4]
        positions = positions.view(positions.shape[:-1] + (-1, 3))
        positions = self.q.qrot(self.q.qinv(r_rot_quat[..., None, :]).expand(positions.shape[:-1] + (4,)), positions)
        positions[..., 0] += r_pos[..., 0:1]
        positions[..., 2] += r_pos[..., 2:3]
        return torch.cat([r_pos.unsqueeze(-2), positions], dim=-2)


def offsets_of_frame(layout, frame: np.ndarray, dtype: torch.dtype = torch.float32) -> np.ndarray:
    """``tgt_offsets = Skeleton.get_offsets_joints(example_data[0])`` for a (J, 3) frame, as NumPy."""
    skel = Skeleton(np.asarray(layout.raw_offsets).astype(np.int64), layout.kinematic_chain, Quat(dtype))
    return skel.get_offsets_joints(torch.from_numpy(np.asarray(frame))).numpy()
