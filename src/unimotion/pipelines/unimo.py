"""UniMoPipeline: motion capture from video (V2M) and image animation (I2VM) with a trained UniMo.

A pipeline directory holds the three checkpoints of the two-stage system plus a small manifest::

    PATH/video_tokenizer/     VideoTokenizer (causal FSQ)          save_pretrained directory
    PATH/motion_tokenizer/    MotionTokenizer (SMPL-X VQ-VAE)      save_pretrained directory
    PATH/unimo/               UniMoModel (the AR transformer)      save_pretrained directory
    PATH/pipeline.json        {"pipeline": "unimo", "fps", "image_size", "clip_frames"}
    PATH/NOTICE               attribution of the training data (copied from the AR model)

    pipe = UniMoPipeline.from_pretrained("checkpoints/unimo_bandaiml")
    cap = pipe.capture(frames)          # (T, H, W, 3) uint8 → cap.params (T, 79), cap.joints (T, 22, 3)
    gen = pipe.animate(image, seed=0)   # (H, W, 3) uint8 → gen.frames (17, 64, 64, 3), gen.params, gen.joints

**Frames.** Inputs of any size are centre-cropped to the model's aspect ratio and resized (bilinear) to
its frame size (64×64 for the BandaiML model); outputs are at that size. The model was trained on
stick-figure renders (BandaiML), so real camera footage is far outside its training distribution.

**Capture of long clips.** UniMo works on clips of ``clip_frames`` = 1 + c_t·(K − 1) frames (17). A longer
video is cut into clips that share one frame (0–16, 16–32, …; the last one padded by repeating its last
frame); each clip's motion comes out in its own canonical frame (pelvis above the origin, facing +Z at the
clip's first frame), so clip c is moved rigidly (turn about the vertical + ground translation) to continue
the motion at the shared frame (same heading and pelvis ground position), then the shared frame is dropped.
The result is in the canonical frame of the video's first frame, at the model's frame rate (``fps``): the
decoded motion of the first clip (which the model puts close to, not exactly at, its canonical pose) is
re-canonicalized so that frame 0 is exactly above the origin facing +Z; the same holds for ``animate``.

**V2M decoding.** A masked-V2M model (``v2m_motion_inputs="masked"``, the shipped one) gives every motion
token a distribution over the codebook from the video alone; ``capture`` then decodes, by default, each
token's probability-weighted mean code vector (softmax at ``V2M_TEMPERATURE``) instead of its argmax code —
an average over what the video leaves uncertain, which lowered the pose error on the val clips
(docs/unimo.md). ``decoding="greedy"`` takes the argmax codes (the only choice for an autoregressive model).
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CheckpointError, InputError
from ..motion import smplx_params as sp
from ..utils.io import atomic_dir, write_text

SUBDIRS = ("video_tokenizer", "motion_tokenizer", "unimo")
#: softmax temperature of expected-code V2M decoding (chosen on the 64 val clips, docs/unimo.md)
V2M_TEMPERATURE = 0.25
MANIFEST = "pipeline.json"
#: smallest frame side accepted by capture / animate (a 1×1 "image" shows no figure)
MIN_FRAME_SIDE = 8


def resolve_v2m_decoding(config: Any, decoding: str = "auto") -> str:
    """"greedy" or "expected" for a UniMo model of ``config``: "auto" → "expected" for a masked-V2M model
    (``v2m_motion_inputs="masked"``), else "greedy"; "expected" on an autoregressive model raises."""
    if decoding not in ("auto", "greedy", "expected"):
        raise InputError(f"decoding must be 'auto', 'greedy' or 'expected', got {decoding!r}")
    masked = config.v2m_motion_inputs == "masked"
    if decoding == "expected" and not masked:
        raise InputError("expected-code decoding needs a masked-V2M model (v2m_motion_inputs='masked'); "
                         "this one decodes V2M autoregressively: use decoding='greedy'")
    return ("expected" if masked else "greedy") if decoding == "auto" else decoding


@dataclass
class CaptureOutput:
    """Motion captured from a video."""

    params: np.ndarray  # (T, 79) SMPL-X body parameters (canonical frame of the first frame)
    joints: np.ndarray  # (T, 22, 3) FK of ``params`` (metres, Y up)
    fps: float  # frame rate of the motion (the model's)
    frames: np.ndarray  # (T, h, w, 3) uint8: the frames as the model saw them (resized)


@dataclass
class AnimateOutput:
    """A video and its motion generated from one image."""

    frames: np.ndarray  # (T, h, w, 3) uint8 generated video (frame 0 = the decoded input image)
    params: np.ndarray  # (T, 79) SMPL-X parameters (canonical frame of frame 0)
    joints: np.ndarray  # (T, 22, 3)
    fps: float
    video_codes: np.ndarray  # (K, h', w') generated video token ids
    motion_codes: np.ndarray  # (N,) generated motion token ids


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Centre-crop (T, H, W, 3) uint8 frames to the aspect ratio of ``size`` = (h, w), then resize (bilinear)."""
    from PIL import Image

    h, w = size
    t, fh, fw, _ = frames.shape
    if (fh, fw) == (h, w):
        return frames
    if fh * w > fw * h:  # too tall: crop rows
        ch, cw = int(round(fw * h / w)), fw
    else:
        ch, cw = fh, int(round(fh * w / h))
    top, left = (fh - ch) // 2, (fw - cw) // 2
    crop = frames[:, top : top + ch, left : left + cw]
    return np.stack([np.asarray(Image.fromarray(f).resize((w, h), Image.BILINEAR)) for f in crop])


def check_frames(frames: Any, name: str = "frames") -> np.ndarray:
    """(T, H, W, 3) uint8 (or float in [0, 1]) → uint8 array; raises InputError naming the problem."""
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().cpu().numpy()
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or min(frames.shape[:3]) < 1:
        raise InputError(f"{name} must be a non-empty (T, H, W, 3) array, got shape {frames.shape}")
    if frames.dtype != np.uint8:
        if not np.issubdtype(frames.dtype, np.floating):
            raise InputError(f"{name} must be uint8 or float in [0, 1], got dtype {frames.dtype}")
        if not np.isfinite(frames).all():
            raise InputError(f"{name} contain NaN or Inf")
        frames = (np.clip(frames, 0.0, 1.0) * 255).round().astype(np.uint8)
    return frames


def chain_clips(clips: list[np.ndarray], body_model: sp.SMPLXBodyModel | None = None) -> np.ndarray:
    """Join canonical clips (each (L, 79)) that share their boundary frame (module docstring) → (T, 79)."""
    out = np.asarray(clips[0], dtype=np.float64)
    bm = sp.get_body_model(body_model)
    for clip in clips[1:]:
        clip = np.asarray(clip, dtype=np.float64)
        prev, first = sp.unpack_params(out[-1]), sp.unpack_params(clip[0])
        yaw = float(sp.heading_angle(prev.global_orient) - sp.heading_angle(first.global_orient))
        target = bm.rest_joints(prev.betas)[0] + prev.transl  # pelvis of the shared frame
        moved = sp.rigid_transform_points(bm.rest_joints(first.betas)[0] + first.transl, yaw, np.zeros(3))
        offset = np.array([target[0] - moved[0], 0.0, target[2] - moved[2]])
        out = np.concatenate([out, sp.rigid_transform_params(clip, yaw, offset, bm)[1:]], axis=0)
    return out


class UniMoPipeline:
    """The two tokenizers and the AR model together (module docstring)."""

    def __init__(self, video_tokenizer: Any, motion_tokenizer: Any, model: Any):
        c = model.config
        mc = motion_tokenizer.config
        problems = []
        if c.video_vocab_size != video_tokenizer.num_codes:
            problems.append(f"video vocabulary {c.video_vocab_size} ≠ tokenizer codes {video_tokenizer.num_codes}")
        if c.temporal_compression != video_tokenizer.temporal_compression:
            problems.append(f"temporal compression {c.temporal_compression} ≠ {video_tokenizer.temporal_compression}")
        if (c.motion_vocab_size, c.motion_tokens_per_step, c.motion_frames_per_step) != (
                mc.codebook_size, mc.expansion, mc.frames_per_step):
            problems.append(f"motion tokens (K={c.motion_vocab_size}, s={c.motion_tokens_per_step}, "
                            f"r={c.motion_frames_per_step}) ≠ tokenizer (K={mc.codebook_size}, s={mc.expansion}, "
                            f"r={mc.frames_per_step})")
        if problems:
            raise CheckpointError("the UniMo model does not match its tokenizers: " + "; ".join(problems))
        self.video_tokenizer, self.motion_tokenizer, self.model = video_tokenizer, motion_tokenizer, model
        gh, gw = c.video_grid
        cs = video_tokenizer.spatial_compression
        self.image_size: tuple[int, int] = (gh * cs, gw * cs)
        self.clip_frames: int = c.geometry().num_frames
        self.fps: float = float(mc.fps)

    # ------------------------------------------------------------------ save / load
    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> UniMoPipeline:
        """Open a pipeline directory (module docstring)."""
        from ..models.unimo import MotionTokenizer, UniMoModel, VideoTokenizer

        path = Path(path)
        if not path.is_dir():
            raise CheckpointError(f"UniMo pipeline directory {path} does not exist")
        missing = [d for d in SUBDIRS if not (path / d).is_dir()]
        if missing:
            raise CheckpointError(f"{path} is not a UniMo pipeline directory: missing {', '.join(missing)}/")
        return cls(VideoTokenizer.from_pretrained(path / "video_tokenizer", device),
                   MotionTokenizer.from_pretrained(path / "motion_tokenizer", device),
                   UniMoModel.from_pretrained(path / "unimo", device))

    def save_pretrained(self, path: str | os.PathLike, dtype: torch.dtype | None = None,
                        overwrite: bool = True) -> Path:
        """Write the pipeline directory atomically. ``dtype`` (e.g. torch.float16) stores the weights of all
        three models in that type to halve the files (they are loaded back into float32). ``overwrite=False``:
        an existing ``path`` raises ``FileExistsError`` before anything is written."""
        path = Path(path)
        with atomic_dir(path, overwrite=overwrite) as tmp:
            for name, module in zip(SUBDIRS, (self.video_tokenizer, self.motion_tokenizer, self.model), strict=True):
                # a copy is cast, so the weights in memory keep their precision
                (module if dtype is None else copy.deepcopy(module).to(dtype)).save_pretrained(tmp / name)
            manifest = {"pipeline": "unimo", "fps": self.fps, "image_size": list(self.image_size),
                        "clip_frames": self.clip_frames, "components": list(SUBDIRS)}
            write_text(tmp / MANIFEST, json.dumps(manifest, indent=2) + "\n")
            if getattr(self.model, "notice", None):
                write_text(tmp / "NOTICE", self.model.notice)
        return path

    def to(self, device: str | torch.device) -> UniMoPipeline:
        for m in (self.video_tokenizer, self.motion_tokenizer, self.model):
            m.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return self.model.device

    # ------------------------------------------------------------------ helpers
    def _prepare(self, frames: Any, name: str) -> np.ndarray:
        frames = check_frames(frames, name)
        h, w = frames.shape[1:3]
        if min(h, w) < MIN_FRAME_SIDE:
            raise InputError(f"{name}: {w}×{h} pixels is too small; at least {MIN_FRAME_SIDE}×{MIN_FRAME_SIDE} are needed "
                             f"to show a figure (the model works at {self.image_size[1]}×{self.image_size[0]})")
        return resize_frames(frames, self.image_size)

    def _decode_motion(self, codes: torch.Tensor, num_frames: int) -> np.ndarray:
        """(B, N) motion codes → (B, num_frames, 79) float64 parameters."""
        params = self.motion_tokenizer.decode(codes.to(self.motion_tokenizer.device)).cpu().double().numpy()
        return params[:, :num_frames]

    # ------------------------------------------------------------------ tasks
    def v2m_decoding(self, decoding: str = "auto") -> str:
        """The V2M decoding that ``decoding`` means for this model (:func:`resolve_v2m_decoding`)."""
        return resolve_v2m_decoding(self.model.config, decoding)

    def v2m_motion(self, codes: torch.Tensor, num_frames: int, decoding: str = "auto",
                   temperature: float = V2M_TEMPERATURE) -> np.ndarray:
        """V2M of video codes (B, K, h, w) → (B, num_frames, 79) float64 parameters. ``decoding``: "greedy"
        (the argmax code of every token), "expected" (masked-V2M models: every token's probability-weighted mean
        code vector at ``temperature``, decoded by the motion tokenizer) or "auto" (:meth:`v2m_decoding`)."""
        codes = codes.to(self.device)
        if self.v2m_decoding(decoding) == "greedy":
            return self._decode_motion(self.model.generate("v2m", codes).motion_codes, num_frames)
        probs = self.model.v2m_motion_probs(codes, temperature).to(self.motion_tokenizer.device)
        return self.motion_tokenizer.decode_expected(probs).cpu().double().numpy()[:, :num_frames]

    @torch.no_grad()
    def capture(self, frames: Any, batch_size: int = 16, decoding: str = "auto",
                temperature: float = V2M_TEMPERATURE) -> CaptureOutput:
        """Motion capture (V2M) of a video: (T, H, W, 3) uint8 frames at the model's frame rate; ``decoding`` and
        ``temperature`` as in :meth:`v2m_motion`."""
        from ..models.unimo.video_tokenizer import to_model_range

        self.v2m_decoding(decoding)  # validate before the work
        video = self._prepare(frames, "frames")
        t, length = len(video), self.clip_frames
        step = length - 1
        starts = list(range(0, max(1, t - 1), step)) if t > 1 else [0]
        clips = []
        for s in starts:
            clip = video[s : s + length]
            if len(clip) < length:
                clip = np.concatenate([clip, np.repeat(clip[-1:], length - len(clip), axis=0)])
            clips.append(clip)
        motions = []
        for i in range(0, len(clips), batch_size):
            batch = torch.from_numpy(np.stack(clips[i : i + batch_size]).transpose(0, 1, 4, 2, 3).copy())
            codes = self.video_tokenizer.encode(to_model_range(batch).to(self.video_tokenizer.device))
            motions.extend(self.v2m_motion(codes, length, decoding, temperature))
        bm = self.motion_tokenizer.body_model()
        motions[0] = sp.canonicalize_params(motions[0], 0, bm)[0]  # exactly canonical (the model's is close)
        params = chain_clips(motions, bm)[:t]
        joints = sp.smplx_forward_kinematics(params, self.motion_tokenizer.body_model())
        return CaptureOutput(params=params, joints=joints, fps=self.fps, frames=video)

    @torch.no_grad()
    def animate(self, image: Any, seed: int = 0, num_latent_frames: int | None = None, temperature: float = 1.0,
                top_p: float = 0.9, motion_temperature: float | None = None, motion_top_p: float | None = None
                ) -> AnimateOutput:
        """Image → video + motion (I2VM): ``image`` (H, W, 3) uint8; ``num_latent_frames`` K (default the
        training clip's, 17 frames); sampling with temperature / top-p (motion: same unless given)."""
        from ..models.unimo import SamplingConfig
        from ..models.unimo.video_tokenizer import to_model_range, to_uint8

        if isinstance(image, torch.Tensor):
            image = image.detach().cpu().numpy()
        image = np.asarray(image)
        if image.ndim != 3:
            raise InputError(f"image must be (H, W, 3), got shape {image.shape}")
        frame = self._prepare(image[None], "image")
        if num_latent_frames is not None and num_latent_frames < 1:
            raise InputError(f"num_latent_frames must be >= 1, got {num_latent_frames}")
        video = torch.from_numpy(frame.transpose(0, 3, 1, 2).copy())[None]  # (1, 1, 3, h, w)
        first = self.video_tokenizer.encode(to_model_range(video).to(self.video_tokenizer.device))
        g = torch.Generator(device="cpu").manual_seed(int(seed))
        vs = SamplingConfig(temperature=temperature, top_p=top_p)
        ms = SamplingConfig(temperature=temperature if motion_temperature is None else motion_temperature,
                            top_p=top_p if motion_top_p is None else motion_top_p)
        gen = self.model.generate("i2vm", first.to(self.device), num_latent_frames=num_latent_frames,
                                  video_sampling=vs, motion_sampling=ms, generator=g)
        frames = to_uint8(self.video_tokenizer.decode(gen.video_codes.to(self.video_tokenizer.device)))[0]
        frames = frames.permute(0, 2, 3, 1).cpu().numpy()
        params = sp.canonicalize_params(self._decode_motion(gen.motion_codes, len(frames))[0], 0,
                                        self.motion_tokenizer.body_model())[0]
        joints = sp.smplx_forward_kinematics(params, self.motion_tokenizer.body_model())
        return AnimateOutput(frames=frames, params=params, joints=joints, fps=self.fps,
                             video_codes=gen.video_codes[0].cpu().numpy(), motion_codes=gen.motion_codes[0].cpu().numpy())
