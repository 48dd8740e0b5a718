"""One Bandai clip → its BandaiML windows (the worker body of :mod:`unimotion.data.bandai`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..io.bvh import parse_bvh
from ..io.render import RenderStyle, render_frames
from ..io.retarget import retarget_to_t2m
from ..motion.hml3d import features_to_joints, joints_to_features
from ..motion.smplx_params import smplx_forward_kinematics, smplx_inverse_kinematics, unpack_params
from ..utils.io import save_npy, save_npz, write_text
from .captions import make_captions
from .views import rng_for, sample_appearance, sample_camera

if TYPE_CHECKING:
    from .bandai import BuildConfig, ClipInfo


def convert_clip(clip: ClipInfo, text: str, out: Path, cfg: BuildConfig) -> list[dict[str, Any]]:
    from .bandai import window_bounds

    bvh = parse_bvh(text, source=f"{clip.stem}.bvh")
    joints = retarget_to_t2m(bvh, mapping="bandai", target_fps=cfg.fps)  # (T, 22, 3) metres, Y up
    appearance = sample_appearance(rng_for(clip.stem, cfg.seed, "appearance"), cfg.render_size)
    style = RenderStyle(
        background=appearance["background"], part_colors=appearance["part_colors"],
        line_width=appearance["thickness"], joint_radius=appearance["joint_radius"], floor="none",
    )
    summaries = []
    for k, (start, end) in enumerate(window_bounds(len(joints), cfg.max_window, cfg.min_window)):
        wid = f"{clip.stem}_w{k:02d}"
        # (T-1, 269); [:263] is the 263 codec. first_root "smoothed" (default) = data format v1
        features = joints_to_features(joints[start:end], dim=269, first_root=cfg.hml3d_first_root)
        new_joints = features_to_joints(features[:, :263]).astype(np.float32)  # (T-1, 22, 3)
        save_npy(out / "new_joint_vecs" / f"{wid}.npy", features[:, :263])
        save_npy(out / "new_joint_vecs_269" / f"{wid}.npy", features)
        save_npy(out / "new_joints" / f"{wid}.npy", new_joints)
        captions = make_captions(clip.content, clip.style, key=wid, num=cfg.captions_per_motion, seed=cfg.seed)
        write_text(out / "texts" / f"{wid}.txt", "".join(c.humanml3d_line() + "\n" for c in captions))
        summary: dict[str, Any] = {
            "id": wid, "split": clip.split, "frames": int(len(features)), "content": clip.content,
            "style": clip.style, "dataset": clip.dataset, "captions": [c.text for c in captions],
        }
        video_joints = new_joints
        if cfg.smplx:
            params = smplx_inverse_kinematics(new_joints.astype(np.float64))  # (T-1, 79), betas = 0
            fk = smplx_forward_kinematics(params)
            p = unpack_params(params)
            save_npz(
                out / "smplx" / f"{wid}.npz",
                params=params.astype(np.float32), body_pose=p.body_pose.astype(np.float32),
                betas=p.betas.astype(np.float32), global_orient=p.global_orient.astype(np.float32),
                transl=p.transl.astype(np.float32), joints=fk.astype(np.float32), fps=np.float32(cfg.fps),
            )
            err = np.linalg.norm(fk - new_joints, axis=-1)
            summary["smplx_fk_error_m"] = {"mean": float(err.mean()), "max": float(err.max())}
            video_joints = fk.astype(np.float32)  # the clips show the SMPL-X body exactly (UniMo's target)
        if cfg.renders:
            _render_views(wid, new_joints, video_joints, out, cfg, style)
        summaries.append(summary)
    return summaries


def _render_views(wid: str, joints: np.ndarray, video_joints: np.ndarray, out: Path, cfg: BuildConfig,
                  style: RenderStyle) -> None:
    """Single frames of ``joints`` (the 263/269 motion; own camera each) and one clip of ``video_joints``
    (the SMPL-X body's joints, which differ from ``joints`` by the IK fit; one camera)."""
    n = len(joints)
    rng = rng_for(wid, cfg.seed, "views")
    # single frames: evenly spread over the motion, jittered
    v = cfg.images_per_motion
    base = np.linspace(0, n - 1, v + 2)[1:-1]
    jitter = rng.uniform(-0.5, 0.5, size=v) * (n / (v + 1))
    idx = np.clip(np.round(base + jitter), 0, n - 1).astype(np.int64)
    cams = [sample_camera(rng, joints[i, 0, [0, 2]], cfg.render_size) for i in idx]
    images = render_frames(joints[idx], camera=cams, style=style)
    save_npz(
        out / "renders" / "images" / f"{wid}.npz",
        images=images, frame_index=idx,
        K=np.stack([c.K for c in cams]).astype(np.float32), R=np.stack([c.R for c in cams]).astype(np.float32),
        t=np.stack([c.t for c in cams]).astype(np.float32),
        joints_2d=np.stack([c.project(joints[i]) for c, i in zip(cams, idx, strict=True)]).astype(np.float32),
    )
    # one short clip with a fixed camera that keeps the figure in view
    f = min(cfg.video_frames, n)
    start = int(rng.integers(0, n - f + 1))
    clip = video_joints[start : start + f]
    root = clip[:, 0, [0, 2]]
    extent = float(np.linalg.norm(root.max(0) - root.min(0)))
    cam = sample_camera(rng, root.mean(0), cfg.render_size, extent_m=extent)
    frames = render_frames(clip, camera=cam, style=style)
    save_npz(
        out / "renders" / "videos" / f"{wid}.npz",
        frames=frames, start=np.int64(start), K=cam.K.astype(np.float32), R=cam.R.astype(np.float32),
        t=cam.t.astype(np.float32), joints_2d=cam.project(clip).astype(np.float32),
    )
