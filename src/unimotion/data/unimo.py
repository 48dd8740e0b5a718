"""UniMo data over BandaiML: SMPL-X motion clips, rendered video clips, and the two aligned.

BandaiML (see :mod:`unimotion.data.bandai`) stores per motion window ``<id>``::

    smplx/<id>.npz           params (T, 79) = body_pose|betas|global_orient|transl, joints (T, 22, 3) = FK(params)
    renders/videos/<id>.npz  frames (17, S, S, 3) uint8 starting at frame ``start`` of the window, one camera
                             (K, R, t) in the window's frame, joints_2d (17, 22, 2) = projection of
                             joints[start:start + 17]

The video shows FK of the SMPL-X parameters, so the 17 frames ``params[start:start + 17]`` are exactly the
motion of the clip: that pair is one UniMo example (:func:`load_clip`).

**Coordinate frame (our choice; the paper used GVHMR's camera-frame pseudo-labels).** Every UniMo clip is
expressed in its *own canonical frame* (:func:`unimotion.motion.smplx_params.canonicalize_params`): at the
clip's first frame the pelvis is above the origin and the body faces +Z (Y up, heights kept). Motion
tokens then describe the motion relative to its first frame, independent of where the window began and of
the camera; the camera is moved with the clip (K unchanged, R/t re-expressed), so projecting the canonical
joints with the canonical camera gives the stored ``joints_2d`` exactly. "World-frame" errors of UniMo
are errors in this frame (no root alignment).

Datasets (samples are dicts of tensors; the default collate stacks them since every clip has the same
length):

* :class:`MotionClipDataset` — motion-tokenizer training/evaluation: canonical clips of ``clip_frames``
  frames cropped from every window (random crops, or deterministic tiles for evaluation).
* :class:`VideoClipDataset` — video-tokenizer training/evaluation: the rendered clips, optionally a random
  sub-clip of 1 + c_t·n frames and a random horizontal flip.
* :class:`PairedClipDataset` — the aligned (video, canonical motion, camera) clips of a split.
* :func:`render_extra_clips` — more (video, motion) pairs for AR training: new random 17-frame windows of
  the same motions, rendered with the builder's renderer, camera and appearance distributions
  (:mod:`unimotion.data.views`), with new seeds. This is data augmentation (same motions, new views); the
  evaluation clips are always the stored renders of val/test/test_novel.

Error measures shared by the UniMo recipes and benchmarks (:func:`joint_errors`, :func:`motion_errors`),
per clip, in metres / degrees:

* ``mpjpe`` — root-aligned (pelvis at the origin in both poses), mean over joints and frames;
* ``pa_mpjpe`` — after a per-frame Procrustes (similarity) alignment;
* ``w_mpjpe`` — no alignment at all, in the clip's canonical frame ("world-frame" MPJPE);
* ``root_err`` — pelvis position error (= translation error for equal β);
* ``orient_err_deg`` — geodesic angle between the global orientations (parameters only).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DatasetError, InputError
from ..motion import smplx_params as sp
from ..motion.skeletons import mirror_joints_2d
from ..motion.stats import NormStats
from .humanml3d import read_split

CLIP_FRAMES = 17  # frames of a stored BandaiML video clip (1 + 4·4: causal tokenizer with c_t ∈ {2, 4, 8, 16})


# ------------------------------------------------------------------------------------------ files
def _npz(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise DatasetError(f"{path} not found; is this a BandaiML folder built with SMPL-X fits and renders?")
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def read_ids(root: str | os.PathLike, split: str) -> list[str]:
    """Motion ids of ``split`` (``train``, ``val``, ``test``, ``test_novel``, ``all``)."""
    return read_split(root, split)


def load_params(root: str | os.PathLike, motion_id: str) -> np.ndarray:
    """SMPL-X parameters (T, 79) float64 of one motion window, in the window's frame."""
    params = _npz(Path(root) / "smplx" / f"{motion_id}.npz")["params"].astype(np.float64)
    if params.ndim != 2 or params.shape[1] != sp.PARAM_DIM:
        raise DatasetError(f"smplx/{motion_id}.npz: params must be (T, {sp.PARAM_DIM}), got {params.shape}")
    return params


def load_video(root: str | os.PathLike, motion_id: str) -> dict[str, np.ndarray]:
    """The stored clip of one motion: frames (F, S, S, 3) uint8, start, K, R, t, joints_2d (F, 22, 2)."""
    return _npz(Path(root) / "renders" / "videos" / f"{motion_id}.npz")


# ------------------------------------------------------------------------------------------ clips
@dataclass
class UniMoClip:
    """One aligned example, in the clip's canonical frame (module docstring)."""

    id: str
    start: int  # first frame inside the window
    frames: np.ndarray  # (T, S, S, 3) uint8
    params: np.ndarray  # (T, 79) float64 canonical SMPL-X parameters
    joints: np.ndarray  # (T, 22, 3) float64 FK(params) (the ground truth of motion capture)
    K: np.ndarray  # (3, 3) intrinsics
    R: np.ndarray  # (3, 3) world → camera rotation (canonical frame)
    t: np.ndarray  # (3,) world → camera translation (canonical frame)
    joints_2d: np.ndarray  # (T, 22, 2) stored projection (equals projecting ``joints`` with K, R, t)


def canonical_window(params: np.ndarray, start: int, length: int,
                     body_model: sp.SMPLXBodyModel | None = None) -> tuple[np.ndarray, float, np.ndarray]:
    """``params[start:start+length]`` in its canonical frame → (params (length, 79), yaw, offset)."""
    if start < 0 or start + length > len(params):
        raise InputError(f"window [{start}, {start + length}) lies outside a motion of {len(params)} frames")
    return sp.canonicalize_params(params[start : start + length], 0, body_model)


def load_clip(root: str | os.PathLike, motion_id: str, body_model: sp.SMPLXBodyModel | None = None) -> UniMoClip:
    """The stored video clip of ``motion_id`` with its canonical motion and camera."""
    video = load_video(root, motion_id)
    params = load_params(root, motion_id)
    frames = video["frames"]
    start = int(video["start"])
    canon, yaw, offset = canonical_window(params, start, len(frames), body_model)
    R, t = sp.rigid_transform_camera(video["R"], video["t"], yaw, offset)
    return UniMoClip(
        id=motion_id, start=start, frames=frames, params=canon,
        joints=sp.smplx_forward_kinematics(canon, body_model), K=video["K"].astype(np.float64), R=R, t=t,
        joints_2d=video["joints_2d"].astype(np.float64),
    )


def project(joints: np.ndarray, K: np.ndarray, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Pinhole projection (as :meth:`unimotion.motion.camera.Camera.project`): (..., 3) → (..., 2) pixels."""
    cam = np.asarray(joints, dtype=np.float64) @ np.asarray(R).T + np.asarray(t)
    uv = cam / np.maximum(cam[..., 2:3], 1e-6) @ np.asarray(K, dtype=np.float64).T
    return uv[..., :2]


def joint_errors(pred: np.ndarray, gt: np.ndarray) -> dict[str, np.ndarray]:
    """Per-clip errors of joint positions (N, T, 22, 3) (module docstring), each an (N,) array in metres."""
    from ..evaluation.metrics import mpjpe, pa_mpjpe

    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim != 4 or pred.shape[-1] != 3:
        raise InputError(f"pred and gt must both be (N, T, J, 3), got {pred.shape} and {gt.shape}")
    return {
        "mpjpe": mpjpe(pred, gt, root_index=0, reduce="none").mean(-1),
        "pa_mpjpe": pa_mpjpe(pred, gt, reduce="none").mean(-1),
        "w_mpjpe": mpjpe(pred, gt, root_index=None, reduce="none").mean(-1),
        "root_err": np.linalg.norm(pred[..., 0, :] - gt[..., 0, :], axis=-1).mean(-1),
    }


def motion_errors(pred: np.ndarray, gt: np.ndarray, body_model: sp.SMPLXBodyModel | None = None
                  ) -> dict[str, np.ndarray]:
    """:func:`joint_errors` of FK(pred) vs FK(gt) plus ``orient_err_deg``; params (N, T, 79) → (N,) arrays."""
    from ..motion.rotations import axis_angle_to_matrix

    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != sp.PARAM_DIM:
        raise InputError(f"pred and gt must both be (N, T, {sp.PARAM_DIM}), got {pred.shape} and {gt.shape}")
    out = joint_errors(sp.smplx_forward_kinematics(pred, body_model), sp.smplx_forward_kinematics(gt, body_model))
    rel = np.swapaxes(axis_angle_to_matrix(pred[..., sp.GLOBAL_ORIENT]), -1, -2) @ axis_angle_to_matrix(gt[..., sp.GLOBAL_ORIENT])
    cos = np.clip((np.trace(rel, axis1=-2, axis2=-1) - 1) / 2, -1.0, 1.0)
    out["orient_err_deg"] = np.degrees(np.arccos(cos)).mean(-1)
    return out


def motion_stats(root: str | os.PathLike, split: str = "train", clip_frames: int = CLIP_FRAMES, stride: int = 8,
                 body_model: sp.SMPLXBodyModel | None = None) -> NormStats:
    """Per-channel statistics of canonical ``clip_frames``-frame clips (every ``stride`` frames of every
    window of ``split``). β gets mean 0 and std 1 (SMPL-X shape coefficients are unit-variance by
    construction; BandaiML fits all have β = 0, whose empirical std would be 0)."""
    chunks = []
    for mid in read_ids(root, split):
        params = load_params(root, mid)
        for s in range(0, max(1, len(params) - clip_frames + 1), stride):
            if s + clip_frames <= len(params):
                chunks.append(canonical_window(params, s, clip_frames, body_model)[0])
    if not chunks:
        raise DatasetError(f"no motion of split {split!r} in {root} has {clip_frames} frames")
    stats = NormStats.from_data(chunks, min_std=1e-4)
    stats.mean[sp.BETAS] = 0.0
    stats.std[sp.BETAS] = 1.0
    return NormStats(stats.mean, stats.std)


# ------------------------------------------------------------------------------------------ datasets
class _Seeded:
    """Reproducible per-item randomness: :func:`unimotion.utils.seed.item_rng` for random items (under the
    trainer: seeded by the sample's place in the data stream; elsewhere by the call count and loader
    worker), (seed, index) otherwise — the same seed gives the same sequence of crops in every run."""

    def __init__(self, seed: int, random: bool):
        self.seed, self.random, self._calls = seed, random, 0

    def rng(self, index: int) -> np.random.Generator:
        from ..utils.seed import item_rng

        if not self.random:
            return np.random.default_rng([self.seed, index])
        self._calls += 1
        return item_rng(self.seed, index, self._calls)


class MotionClipDataset(Dataset):
    """Canonical SMPL-X clips of ``clip_frames`` frames (motion-tokenizer data).

    Args:
        root: BandaiML folder. split: split name.
        clip_frames: frames per clip (a multiple of the tokenizer's r = 2**down_t).
        random_crop: True: one random window per motion per epoch (training); False: deterministic tiles
            ``[k·clip_frames, (k+1)·clip_frames)`` of every motion, each an item (evaluation).
        max_tiles: with ``random_crop=False``, at most this many tiles per motion (0 = all).
        seed: base seed.
        limit: only the first ``limit`` motions of the split (0 = all).

    Items: ``{"motion": (clip_frames, 79) float32 raw parameters, "mask": (clip_frames,) bool}``.
    """

    def __init__(self, root: str | os.PathLike, split: str, clip_frames: int = CLIP_FRAMES, random_crop: bool = True,
                 max_tiles: int = 0, seed: int = 0, limit: int = 0, body_model: sp.SMPLXBodyModel | None = None):
        if clip_frames < 1:
            raise InputError(f"clip_frames must be >= 1, got {clip_frames}")
        self.clip_frames, self.random_crop, self.body_model = clip_frames, random_crop, body_model
        ids = read_ids(root, split)
        self.motions = [(mid, load_params(root, mid)) for mid in (ids[:limit] if limit > 0 else ids)]
        self.motions = [(mid, p) for mid, p in self.motions if len(p) >= clip_frames]
        if not self.motions:
            raise DatasetError(f"no motion of split {split!r} in {root} has {clip_frames} frames")
        self.items: list[tuple[int, int]] = []  # (motion index, start) for tiles
        if not random_crop:
            for i, (_, p) in enumerate(self.motions):
                starts = list(range(0, len(p) - clip_frames + 1, clip_frames))
                self.items += [(i, s) for s in (starts[:max_tiles] if max_tiles > 0 else starts)]
        self._seeded = _Seeded(seed, random_crop)

    def __len__(self) -> int:
        return len(self.motions) if self.random_crop else len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if self.random_crop:
            params = self.motions[index][1]
            start = int(self._seeded.rng(index).integers(0, len(params) - self.clip_frames + 1))
        else:
            i, start = self.items[index]
            params = self.motions[i][1]
        clip = canonical_window(params, start, self.clip_frames, self.body_model)[0]
        return {"motion": torch.from_numpy(clip.astype(np.float32)),
                "mask": torch.ones(self.clip_frames, dtype=torch.bool)}


class VideoClipDataset(Dataset):
    """The stored rendered clips of a split (video-tokenizer data).

    Args:
        num_frames: frames per item: the whole clip (17) or a random sub-clip of that many frames
            (1 + c_t·n; deterministic start 0 when ``random_crop`` is False).
        flip: random horizontal flips (training augmentation; the figure's left/right colours are random
            per clip, so a mirrored clip is as plausible as the original).
        with_joints: also return the rendered 2D joints of the same frames (flipped with the frames:
            u → S − u and left/right joints swapped, as the keypoint network's augmentation does).

    Items: ``{"video": (num_frames, 3, S, S) uint8}`` (+ ``"joints_2d": (num_frames, 22, 2) float32`` pixels).
    """

    def __init__(self, root: str | os.PathLike, split: str, num_frames: int = CLIP_FRAMES, random_crop: bool = True,
                 flip: bool = False, seed: int = 0, preload: bool = False, limit: int = 0,
                 with_joints: bool = False):
        self.root, self.num_frames, self.random_crop, self.flip = Path(root), num_frames, random_crop, flip
        self.with_joints = with_joints
        self.ids = read_ids(root, split)
        if limit > 0:
            self.ids = self.ids[:limit]
        if not self.ids:
            raise DatasetError(f"split {split!r} of {root} is empty")
        self._cache: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}
        if preload:
            self._cache = {i: self._load(i) for i in range(len(self.ids))}
        self._seeded = _Seeded(seed, random_crop or flip)

    def _load(self, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        video = load_video(self.root, self.ids[index])
        frames = video["frames"]
        if len(frames) < self.num_frames:
            raise DatasetError(f"renders/videos/{self.ids[index]}.npz has {len(frames)} frames < {self.num_frames}")
        return frames, (video["joints_2d"].astype(np.float32) if self.with_joints else None)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        loaded = self._cache.get(index)
        frames, joints = loaded if loaded is not None else self._load(index)
        rng = self._seeded.rng(index)
        start = int(rng.integers(0, len(frames) - self.num_frames + 1)) if self.random_crop else 0
        clip = frames[start : start + self.num_frames]
        j2d = None if joints is None else joints[start : start + self.num_frames]
        if self.flip and rng.random() < 0.5:
            clip = clip[:, :, ::-1]
            if j2d is not None:
                j2d = mirror_joints_2d(j2d, clip.shape[2])
        item = {"video": torch.from_numpy(np.ascontiguousarray(clip.transpose(0, 3, 1, 2)))}
        if j2d is not None:
            item["joints_2d"] = torch.from_numpy(np.ascontiguousarray(j2d))
        return item


class PairedClipDataset(Dataset):
    """Aligned (video, canonical motion) clips of a split (:func:`load_clip`), for pre-tokenization and
    evaluation. Items: ``video`` (T, 3, S, S) uint8, ``motion`` (T, 79) float32, ``joints`` (T, 22, 3),
    ``K``/``R``/``t``, ``joints_2d`` (T, 22, 2) float32, ``id`` str."""

    def __init__(self, root: str | os.PathLike, split: str, limit: int = 0,
                 body_model: sp.SMPLXBodyModel | None = None):
        self.root, self.body_model = Path(root), body_model
        self.ids = read_ids(root, split)
        if limit > 0:
            self.ids = self.ids[:limit]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return clip_to_item(load_clip(self.root, self.ids[index], self.body_model))


def clip_to_item(clip: UniMoClip) -> dict[str, Any]:
    """A :class:`UniMoClip` as a dict of tensors (see :class:`PairedClipDataset`)."""
    f32 = lambda a: torch.from_numpy(np.asarray(a, dtype=np.float32))  # noqa: E731
    return {
        "id": clip.id,
        "video": torch.from_numpy(np.ascontiguousarray(clip.frames.transpose(0, 3, 1, 2))),
        "motion": f32(clip.params), "joints": f32(clip.joints), "K": f32(clip.K), "R": f32(clip.R),
        "t": f32(clip.t), "joints_2d": f32(clip.joints_2d),
    }


def render_extra_clips(root: str | os.PathLike, split: str, per_motion: int, seed: int = 1,
                       clip_frames: int = CLIP_FRAMES, size: int = 64,
                       body_model: sp.SMPLXBodyModel | None = None) -> Iterator[UniMoClip]:
    """``per_motion`` new (video, motion) clips of every motion of ``split``: a random window of
    ``clip_frames`` frames, rendered from FK of its SMPL-X parameters with a camera and an appearance drawn
    like the builder's (:func:`unimotion.data.views.sample_camera` / ``sample_appearance``), all seeded by
    (``seed``, motion id, k). Yields :class:`UniMoClip` (ids ``<id>#r<k>``) in canonical frames."""
    from ..io.render import RenderStyle, render_frames
    from .views import rng_for, sample_appearance, sample_camera

    for mid in read_ids(root, split):
        params = load_params(root, mid)
        if len(params) < clip_frames:
            continue
        for k in range(per_motion):
            rng = rng_for(f"{mid}#r{k}", seed, "extra-clip")
            start = int(rng.integers(0, len(params) - clip_frames + 1))
            window = params[start : start + clip_frames]
            joints = sp.smplx_forward_kinematics(window, body_model)
            root_xz = joints[:, 0, [0, 2]]
            extent = float(np.linalg.norm(root_xz.max(0) - root_xz.min(0)))
            cam = sample_camera(rng, root_xz.mean(0), size, extent_m=extent)
            style = RenderStyle.from_appearance(sample_appearance(rng, size), floor="none")
            frames = render_frames(joints, camera=cam, style=style)
            canon, yaw, offset = sp.canonicalize_params(window, 0, body_model)
            R, t = sp.rigid_transform_camera(cam.R, cam.t, yaw, offset)
            yield UniMoClip(id=f"{mid}#r{k}", start=start, frames=frames, params=canon,
                            joints=sp.smplx_forward_kinematics(canon, body_model), K=cam.K, R=R, t=t,
                            joints_2d=cam.project(joints))


# ------------------------------------------------------------------------------------------ tokens
def pad_frames(params: np.ndarray, multiple: int) -> np.ndarray:
    """Repeat the last frame of (N, T, D) until T is a multiple of ``multiple``."""
    extra = (-params.shape[1]) % multiple
    if extra == 0:
        return params
    return np.concatenate([params, np.repeat(params[:, -1:], extra, axis=1)], axis=1)


def relative_pose(params: np.ndarray, body_model: sp.SMPLXBodyModel | None = None) -> np.ndarray:
    """Canonical clips (N, T, 79) → pelvis-relative joints (N, T, 22·3) float32, metres."""
    joints = sp.smplx_forward_kinematics(np.asarray(params, dtype=np.float64), body_model)
    return (joints - joints[..., :1, :]).reshape(*joints.shape[:2], -1).astype(np.float32)


def tokenize_motion(motion_tokenizer: Any, params: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Motion code ids (N, ⌈T/r⌉·s) int64 of canonical clips ``params`` (N, T, 79) (any object with
    ``encode`` and ``config.frames_per_step``, i.e. a UniMo ``MotionTokenizer``; clips are padded to a
    multiple of r by repeating their last frame)."""
    params = pad_frames(np.asarray(params, dtype=np.float32), motion_tokenizer.config.frames_per_step)
    out = []
    with torch.no_grad():
        for i in range(0, len(params), batch_size):
            out.append(motion_tokenizer.encode(torch.from_numpy(params[i : i + batch_size])).cpu().numpy())
    return np.concatenate(out).astype(np.int64) if out else np.zeros((0, 0), np.int64)


def tokenize_videos(video_tokenizer: Any, frames: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Video code ids (N, t, h, w) int64 of uint8 clips (N, T, S, S, 3) (any ``VideoTokenizerInterface``)."""
    out = []
    with torch.no_grad():
        for i in range(0, len(frames), batch_size):
            video = torch.from_numpy(np.ascontiguousarray(frames[i : i + batch_size].transpose(0, 1, 4, 2, 3)))
            out.append(video_tokenizer.encode(video).cpu().numpy())
    return np.concatenate(out).astype(np.int64)


class TokenClipDataset(Dataset):
    """Pre-tokenized clips for the AR model: items ``{"video_codes": (K, h, w) long, "motion_codes": (N,) long}``,
    plus ``"pose"`` (T, J·3) float — pelvis-relative joints per frame, metres — when ``pose`` is given (the
    target of the AR model's auxiliary pose loss, ``UniMoConfig.pose_aux_weight``)."""

    def __init__(self, video_codes: np.ndarray, motion_codes: np.ndarray, pose: np.ndarray | None = None):
        if len(video_codes) != len(motion_codes) or not len(video_codes):
            raise DatasetError(f"need as many (> 0) video as motion clips, got {len(video_codes)} and {len(motion_codes)}")
        if pose is not None and (len(pose) != len(video_codes) or np.asarray(pose).ndim != 3):
            raise DatasetError(f"pose must be (N, T, J·3) for the {len(video_codes)} clips, got {np.shape(pose)}")
        self.video_codes = torch.from_numpy(np.asarray(video_codes, dtype=np.int64))
        self.motion_codes = torch.from_numpy(np.asarray(motion_codes, dtype=np.int64))
        self.pose = None if pose is None else torch.from_numpy(np.asarray(pose, dtype=np.float32))

    def __len__(self) -> int:
        return len(self.video_codes)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = {"video_codes": self.video_codes[index], "motion_codes": self.motion_codes[index]}
        if self.pose is not None:
            item["pose"] = self.pose[index]
        return item
