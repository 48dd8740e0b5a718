"""UniMo's discrete video tokenizer: a small causal 3D-convolutional autoencoder with FSQ.

UniMo uses NVIDIA's Cosmos discrete tokenizer DV8x16x16 (spec ``unimo.md`` §2.2): causal in time (the
first frame is encoded alone, so T = 1 + c_t·n frames give 1 + n latent frames), spatial compression 16,
FSQ codes. No pretrained tokenizer is reachable here, so this module trains one of the same family on
BandaiML renders (64×64 clips):

* **Causality.** Every temporal convolution pads on the left only (replicating the first frame), the
  normalisation is per frame (GroupNorm with time folded into the batch), temporal downsampling is a
  stride-2 causal convolution and temporal upsampling repeats frames and drops the first copy. Hence
  latent frame k depends only on raw frames ≤ k·c_t, latent frame 0 only on frame 0, and
  ``encode(video[:, :1])`` gives the same first latent frame as ``encode(video)`` — an image is
  tokenized exactly like the first frame of a clip (what I2VM conditions on).
* **Compression.** ``spatial_compression`` c_s and ``temporal_compression`` c_t are powers of two. The
  frames are first folded space-to-depth by ``patch_size`` p (Cosmos patches with a Haar wavelet for the
  same reason: no convolution runs at full resolution), then one resolution level per remaining factor
  2 of c_s / p; the last log2(c_t) levels also halve time.
  Default c_s = 8, c_t = 4: a 17-frame 64×64 clip → 5 × 8 × 8 = 320 tokens (CPU-sized; Cosmos uses
  8×16×16 on 640×1024).
* **Causal temporal patching** (``temporal_patch`` p_t, Cosmos' causal patcher does the same): frame 0
  is repeated p_t − 1 times and then every p_t consecutive frames are folded into channels, so frame 0
  still forms a group of its own (1 + p_t·n frames → 1 + n groups). Together with ``patch_size`` this lets
  every convolution run at reduced resolution (the BandaiML tokenizer: p = 4, p_t = 2 and one ×2 level
  give c_s = 8, c_t = 4 with all convolutions at ≤ 16×16×9). The decoder unfolds the groups and drops the
  p_t − 1 extra copies of frame 0. ``temporal_patch`` counts towards c_t: the resolution levels halve time
  log2(c_t / p_t) times.
* **Factorized convolutions** (``factorized=True``, as in Cosmos' factorized residual blocks): the 3D
  convolutions of the residual blocks become a 1×3×3 spatial convolution followed by a causal kt×1×1
  temporal one (12 instead of 27 taps for kt = 3).
* **Quantiser.** :class:`~unimotion.models.blocks.quantizers.FSQ` with ``fsq_levels`` (default
  [8, 5, 5, 5] = 1000 codes; Cosmos uses [8, 8, 8, 5, 5, 5] = 64,000).
* **Losses.** L1 plus an optional spatial-gradient L1 (no perceptual network: none is available
  offline), and an optional *foreground* L1 (``w_foreground``): the mean L1 over the pixels whose colour
  differs from the frame's background colour (per-channel median of the border pixels) by more than
  ``foreground_threshold``. Renders of a thin figure on a plain background are ~96% background, so the
  plain L1 lets a tight code spend all its bits on the background colour and drop the figure (what we saw
  on BandaiML); the foreground term makes the figure count as much as the background whatever its area.
  :func:`psnr` reports quality.
* **Pose probe** (``w_pose``, off by default; a choice of this project, not of UniMo or Cosmos). The codes
  are what UniMo's AR model reads for V2M, and a pixel loss does not make them keep the body's pose: on
  BandaiML the keypoint network read the reconstructions of a pixel-loss-only tokenizer no better than it
  reads a frame against *another* clip's motion (5.1 vs 5.8 px; real renders 1.6 px). The probe is a small
  MLP that reads one latent frame's quantised code grid (t, h·w·D) and regresses the 2D joints (22 × 2,
  pixels scaled to [-1, 1]) of the c_t raw frames that latent frame covers (frame 0 for latent frame 0);
  its L1 loss flows into the encoder through FSQ's straight-through gradient, so the codes must carry the
  joint positions. It only needs the rendered 2D joints at training time (``training_step`` reads
  ``batch["joints_2d"]``); encode/decode do not use it. Related in spirit to semantic regularisation of
  visual tokenizers (latents aligned with a task network), with the rendered joints as the target.

Any tokenizer satisfying :class:`VideoTokenizerInterface` (encode → indices (B, t, h, w), decode ←
indices, ``num_codes``, compressions) can replace this one, e.g. a wrapper around a pretrained Cosmos
DV tokenizer; the AR model only sees code ids and the grid geometry.

Video tensors are batch-first ``(B, T, 3, H, W)`` floats in [-1, 1] (see :func:`to_model_range`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError, InputError
from ..blocks.quantizers import FSQ
from ..modeling_utils import ModelOutput, PretrainedModel


@runtime_checkable
class VideoTokenizerInterface(Protocol):
    """What the UniMo model and pipelines need from a discrete video tokenizer."""

    @property
    def num_codes(self) -> int: ...  # vocabulary size of one video token

    @property
    def temporal_compression(self) -> int: ...  # c_t

    @property
    def spatial_compression(self) -> int: ...  # c_s

    def latent_shape(self, num_frames: int, height: int, width: int) -> tuple[int, int, int]: ...

    def encode(self, video: torch.Tensor) -> torch.Tensor: ...  # (B, T, 3, H, W) → (B, t, h, w) long

    def decode(self, indices: torch.Tensor) -> torch.Tensor: ...  # (B, t, h, w) → (B, T, 3, H, W)


@dataclass
class VideoTokenizerConfig:
    in_channels: int = 3
    base_channels: int = 32
    channel_mult: list[int] = field(default_factory=lambda: [1, 2])  # one entry per ×2 level after patching
    num_res_blocks: int = 1  # residual blocks per level
    patch_size: int = 2  # space-to-depth factor applied to the frames first (power of 2, divides c_s)
    spatial_compression: int = 8  # c_s = patch_size · 2**len(channel_mult)
    temporal_compression: int = 4  # c_t (power of 2, ≤ c_s)
    temporal_kernel: int = 3  # kernel size in time of the causal convolutions
    temporal_patch: int = 1  # p_t: causal temporal patching (frame 0 alone, then groups of p_t frames)
    factorized: bool = False  # (2+1)D residual blocks: spatial 1×3×3 then causal temporal kt×1×1
    fsq_levels: list[int] = field(default_factory=lambda: [8, 5, 5, 5])  # 1000 codes
    norm_groups: int = 8
    w_l1: float = 1.0
    w_grad: float = 0.0  # L1 on spatial finite differences (sharpness), 0 disables
    w_foreground: float = 0.0  # L1 averaged over foreground pixels only (see the module docstring), 0 disables
    foreground_threshold: float = 0.15  # L1 colour distance (sum over channels, [-1, 1] units) from the background
    w_pose: float = 0.0  # L1 of the pose probe on the quantised codes (module docstring), 0 disables (no probe)
    pose_joints: int = 22  # joints the probe regresses
    pose_hidden: int = 512  # hidden width of the probe MLP
    image_size: tuple[int, int] = (64, 64)  # nominal (H, W) of training clips (documentation/pipelines)
    num_frames: int = 17  # nominal clip length (1 + c_t·n)

    def __post_init__(self) -> None:
        for name in ("spatial_compression", "temporal_compression", "patch_size", "temporal_patch"):
            v = getattr(self, name)
            if v < 1 or v & (v - 1):
                raise ConfigError(f"VideoTokenizerConfig.{name} must be a power of two, got {v}")
        if self.patch_size > self.spatial_compression:
            raise ConfigError("patch_size must not exceed spatial_compression")
        levels = int(math.log2(self.spatial_compression // self.patch_size))
        if len(self.channel_mult) != levels:
            raise ConfigError(
                f"channel_mult needs log2(spatial_compression / patch_size) = {levels} entries, "
                f"got {len(self.channel_mult)}"
            )
        if self.temporal_patch > self.temporal_compression:
            raise ConfigError("temporal_patch must not exceed temporal_compression")
        if self.temporal_compression // self.temporal_patch > 2**levels:
            raise ConfigError(f"temporal_compression {self.temporal_compression} / temporal_patch {self.temporal_patch} "
                              f"needs at least log2 of that many resolution levels; there are {levels}")
        if any(lv < 2 for lv in self.fsq_levels) or not self.fsq_levels:
            raise ConfigError(f"fsq_levels must be a non-empty list of integers >= 2, got {self.fsq_levels}")
        if self.w_pose < 0 or self.pose_joints < 1 or self.pose_hidden < 1:
            raise ConfigError("w_pose must be >= 0, pose_joints and pose_hidden >= 1")
        if self.temporal_kernel < 1 or self.base_channels < 1 or self.num_res_blocks < 0:
            raise ConfigError("temporal_kernel and base_channels must be >= 1, num_res_blocks >= 0")
        for m in [1, *self.channel_mult]:
            if (self.base_channels * m) % self.norm_groups:
                raise ConfigError(f"channels {self.base_channels * m} are not divisible by norm_groups {self.norm_groups}")


@dataclass
class VideoTokenizerOutput(ModelOutput):
    reconstruction: torch.Tensor  # (B, T, 3, H, W)
    indices: torch.Tensor  # (B, t, h, w)
    loss: torch.Tensor | None = None
    losses: dict[str, torch.Tensor] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ helpers
def to_model_range(video: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] → float [-1, 1]; floating-point input is assumed to be in [-1, 1] already."""
    if video.dtype == torch.uint8:
        return video.float() / 127.5 - 1.0
    return video.float()


def to_uint8(video: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] → uint8 [0, 255] (clamped)."""
    return ((video.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def foreground_mask(video: torch.Tensor, threshold: float) -> torch.Tensor:
    """(B, T, C, H, W) → bool (B, T, 1, H, W): pixels whose colour is more than ``threshold`` (L1 over the
    channels) away from the frame's background colour, the per-channel median of its border pixels."""
    border = torch.cat([video[..., 0, :], video[..., -1, :], video[..., :, 0], video[..., :, -1]], dim=-1)
    background = border.median(dim=-1).values[..., None, None]  # (B, T, C, 1, 1)
    return (video - background).abs().sum(2, keepdim=True) > threshold


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 2.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per batch item (B,); ``data_range`` 2 for [-1, 1] videos."""
    mse = (pred.float() - target.float()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(data_range**2 / mse.clamp(min=1e-12))


class CausalConv3d(nn.Module):
    """3D convolution, causal in time: (kt − 1) replicated first frames on the left, none on the right."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, int, int] = (3, 3, 3),
                 stride: tuple[int, int, int] = (1, 1, 1)):
        super().__init__()
        self.time_pad = kernel[0] - 1
        self.space_pad = kernel[1] // 2
        self.conv = nn.Conv3d(cin, cout, kernel, stride=stride, padding=(0, self.space_pad, self.space_pad))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T, H, W)
        if self.time_pad:
            x = torch.cat([x[:, :, :1].expand(-1, -1, self.time_pad, -1, -1), x], dim=2)
        return self.conv(x)


class FrameGroupNorm(nn.GroupNorm):
    """GroupNorm computed per frame (time folded into the batch), so it never mixes frames."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T, H, W)
        b, c, t, h, w = x.shape
        y = super().forward(x.transpose(1, 2).reshape(b * t, c, h, w))
        return y.view(b, t, c, h, w).transpose(1, 2)


class SpaceToDepth(nn.Module):
    """(B, C, T, H, W) → (B, C·p², T, H/p, W/p), frame by frame."""

    def __init__(self, p: int):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 1:
            return x
        b, c, t, h, w = x.shape
        y = F.pixel_unshuffle(x.transpose(1, 2).reshape(b * t, c, h, w), self.p)
        return y.view(b, t, -1, h // self.p, w // self.p).transpose(1, 2)


class DepthToSpace(nn.Module):
    """Inverse of :class:`SpaceToDepth`."""

    def __init__(self, p: int):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 1:
            return x
        b, c, t, h, w = x.shape
        y = F.pixel_shuffle(x.transpose(1, 2).reshape(b * t, c, h, w), self.p)
        return y.view(b, t, -1, h * self.p, w * self.p).transpose(1, 2)


class TimeToDepth(nn.Module):
    """Causal temporal patching: (B, C, 1 + p·n, H, W) → (B, C·p, 1 + n, H, W); frame 0 is repeated p − 1
    times first, so group 0 holds frame 0 alone and group g ≥ 1 holds frames p(g − 1) + 1 … p·g."""

    def __init__(self, p: int):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 1:
            return x
        b, c, t, h, w = x.shape
        x = torch.cat([x[:, :, :1].expand(-1, -1, self.p - 1, -1, -1), x], dim=2)  # (B, C, p(1 + n), H, W)
        groups = x.shape[2] // self.p
        return x.view(b, c, groups, self.p, h, w).transpose(2, 3).reshape(b, c * self.p, groups, h, w)


class DepthToTime(nn.Module):
    """Inverse of :class:`TimeToDepth` (the p − 1 leading copies of frame 0 are dropped)."""

    def __init__(self, p: int):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 1:
            return x
        b, cp, groups, h, w = x.shape
        c = cp // self.p
        y = x.view(b, c, self.p, groups, h, w).transpose(2, 3).reshape(b, c, groups * self.p, h, w)
        return y[:, :, self.p - 1 :]


class FactorizedConv3d(nn.Module):
    """A 1×3×3 spatial convolution followed by a causal kt×1×1 temporal convolution ((2+1)D)."""

    def __init__(self, cin: int, cout: int, kt: int):
        super().__init__()
        self.space = nn.Conv3d(cin, cout, (1, 3, 3), padding=(0, 1, 1))
        self.time = CausalConv3d(cout, cout, (kt, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.time(self.space(x))


class ResBlock3D(nn.Module):
    def __init__(self, cin: int, cout: int, groups: int, kt: int, factorized: bool = False):
        super().__init__()

        def conv(a: int, b: int) -> nn.Module:
            return FactorizedConv3d(a, b, kt) if factorized else CausalConv3d(a, b, (kt, 3, 3))

        self.norm1 = FrameGroupNorm(groups, cin)
        self.conv1 = conv(cin, cout)
        self.norm2 = FrameGroupNorm(groups, cout)
        self.conv2 = conv(cout, cout)
        self.skip = nn.Conv3d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Downsample(nn.Module):
    """Halve H, W (stride-2 conv) and optionally T (stride-2 causal conv: 1 + 2n frames → 1 + n)."""

    def __init__(self, ch: int, time: bool):
        super().__init__()
        self.space = nn.Conv3d(ch, ch, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        self.time = CausalConv3d(ch, ch, (3, 1, 1), stride=(2, 1, 1)) if time else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.space(x)
        return self.time(x) if self.time is not None else x


class Upsample(nn.Module):
    """Double H, W (nearest + conv) and optionally T (repeat frames, drop the first copy: 1 + n → 1 + 2n)."""

    def __init__(self, ch: int, time: bool, kt: int):
        super().__init__()
        self.time = time
        self.space = nn.Conv3d(ch, ch, (1, 3, 3), padding=(0, 1, 1))
        self.time_conv = CausalConv3d(ch, ch, (kt, 1, 1)) if time else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.time:
            x = x.repeat_interleave(2, dim=2)[:, :, 1:]
            x = self.time_conv(x)
        x = F.interpolate(x, scale_factor=(1, 2, 2), mode="nearest")
        return self.space(x)


# ------------------------------------------------------------------------------------------ model
class VideoTokenizer(PretrainedModel):
    """Causal 3D-conv FSQ tokenizer (see the module docstring); satisfies :class:`VideoTokenizerInterface`."""

    config_class = VideoTokenizerConfig
    model_type = "unimo_video_tokenizer"

    def __init__(self, config: VideoTokenizerConfig):
        super().__init__(config)
        c = config
        n_levels = len(c.channel_mult)
        n_time = int(math.log2(c.temporal_compression // c.temporal_patch))
        time_levels = set(range(n_levels - n_time, n_levels))  # the deepest levels also halve time
        g, kt = c.norm_groups, c.temporal_kernel
        chans = [c.base_channels * m for m in c.channel_mult]

        p, pt, fz = c.patch_size, c.temporal_patch, c.factorized
        ch = chans[0] if chans else c.base_channels  # no level at all: patching alone does c_s
        enc: list[nn.Module] = [SpaceToDepth(p), TimeToDepth(pt), CausalConv3d(c.in_channels * p * p * pt, ch, (kt, 3, 3))]
        for i, out in enumerate(chans):
            for _ in range(c.num_res_blocks):
                enc.append(ResBlock3D(ch, out, g, kt, fz))
                ch = out
            if ch != out:
                enc.append(nn.Conv3d(ch, out, 1))
                ch = out
            enc.append(Downsample(ch, time=i in time_levels))
        enc += [ResBlock3D(ch, ch, g, kt, fz), FrameGroupNorm(g, ch), nn.SiLU(),
                CausalConv3d(ch, len(c.fsq_levels), (1, 1, 1))]
        self.encoder = nn.Sequential(*enc)
        self.quantizer = FSQ(c.fsq_levels)

        dec: list[nn.Module] = [CausalConv3d(len(c.fsq_levels), ch, (kt, 3, 3)), ResBlock3D(ch, ch, g, kt, fz)]
        for i in reversed(range(n_levels)):
            out = chans[i]
            dec.append(Upsample(ch, time=i in time_levels, kt=kt))
            for _ in range(c.num_res_blocks):
                dec.append(ResBlock3D(ch, out, g, kt, fz))
                ch = out
            if ch != out:
                dec.append(nn.Conv3d(ch, out, 1))
                ch = out
        dec += [FrameGroupNorm(g, ch), nn.SiLU(), CausalConv3d(ch, c.in_channels * p * p * pt, (kt, 3, 3)),
                DepthToTime(pt), DepthToSpace(p)]
        self.decoder = nn.Sequential(*dec)

        # pose probe: one latent frame's code grid (h·w·D) → 2D joints of the c_t frames it covers
        self.pose_probe: nn.Module | None = None
        if c.w_pose > 0:
            h, w = c.image_size[0] // c.spatial_compression, c.image_size[1] // c.spatial_compression
            self.pose_probe = nn.Sequential(
                nn.Linear(h * w * len(c.fsq_levels), c.pose_hidden), nn.GELU(),
                nn.Linear(c.pose_hidden, c.temporal_compression * c.pose_joints * 2),
            )

    # ------------------------------------------------------------------ interface
    @property
    def num_codes(self) -> int:
        return self.quantizer.num_codes

    @property
    def temporal_compression(self) -> int:
        return self.config.temporal_compression

    @property
    def spatial_compression(self) -> int:
        return self.config.spatial_compression

    def latent_shape(self, num_frames: int, height: int, width: int) -> tuple[int, int, int]:
        """(t, h, w) of the code grid for a clip; raises InputError for incompatible sizes."""
        ct, cs = self.temporal_compression, self.spatial_compression
        if num_frames < 1 or (num_frames - 1) % ct:
            raise InputError(f"a clip needs 1 + {ct}·n frames (the first frame is encoded alone), got {num_frames}")
        if height % cs or width % cs or height < cs or width < cs:
            raise InputError(f"height and width must be positive multiples of {cs}, got {height}×{width}")
        return 1 + (num_frames - 1) // ct, height // cs, width // cs

    def _check_video(self, video: torch.Tensor) -> torch.Tensor:
        if not isinstance(video, torch.Tensor) or video.ndim != 5 or video.shape[2] != self.config.in_channels:
            shape = tuple(video.shape) if hasattr(video, "shape") else type(video).__name__
            raise InputError(f"video must be (B, T, {self.config.in_channels}, H, W), got {shape}")
        self.latent_shape(video.shape[1], video.shape[3], video.shape[4])
        video = to_model_range(video) if video.dtype == torch.uint8 else video.float()
        if not torch.isfinite(video).all():
            raise InputError("video contains NaN or Inf")
        return video

    def _latent(self, video: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) → continuous pre-quantisation latent (B, t, h, w, D)."""
        z = self.encoder(video.transpose(1, 2))  # (B, D, t, h, w)
        return z.permute(0, 2, 3, 4, 1)

    def _decode_latent(self, q: torch.Tensor) -> torch.Tensor:
        """Quantised (B, t, h, w, D) → (B, T, C, H, W)."""
        return self.decoder(q.permute(0, 4, 1, 2, 3)).transpose(1, 2)

    @torch.no_grad()
    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) in [-1, 1] (or uint8) → code ids (B, t, h, w)."""
        video = self._check_video(video)
        return self.quantizer(self._latent(video)).indices

    @torch.no_grad()
    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        """Code ids (B, t, h, w) → video (B, 1 + c_t(t − 1), 3, h·c_s, w·c_s) in (about) [-1, 1]."""
        if indices.ndim != 4 or indices.dtype.is_floating_point:
            raise InputError(f"video code ids must be an integer (B, t, h, w) tensor, got {tuple(indices.shape)}")
        if int(indices.min()) < 0 or int(indices.max()) >= self.num_codes:
            raise InputError(f"video code ids must lie in [0, {self.num_codes})")
        return self._decode_latent(self.quantizer.codes_to_vectors(indices).to(self._dtype()))

    def _dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def pose_frame_index(self, num_latent: int) -> torch.Tensor:
        """(t, c_t) raw-frame index of every joint set the probe predicts: latent frame 0 → frame 0 (c_t
        copies), latent frame k ≥ 1 → frames (k−1)·c_t + 1 … k·c_t."""
        ct = self.config.temporal_compression
        idx = torch.arange(num_latent)[:, None] * ct + torch.arange(ct)[None] - (ct - 1)
        return idx.clamp(min=0)

    def predict_pose(self, quantized: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
        """Quantised codes (B, t, h, w, D) → probe joints (B, t, c_t, J, 2) in pixels."""
        if self.pose_probe is None:
            raise ConfigError("this video tokenizer has no pose probe (w_pose = 0)")
        B, t = quantized.shape[:2]
        if quantized[0, 0].numel() != self.pose_probe[0].in_features:
            raise InputError(f"the pose probe was built for {self.config.image_size} frames, got {image_size}")
        out = self.pose_probe(quantized.reshape(B, t, -1)).reshape(B, t, self.config.temporal_compression, -1, 2)
        scale = out.new_tensor([image_size[1], image_size[0]])
        return (out + 1) / 2 * scale

    def pose_residual(self, quantized: torch.Tensor, joints_2d: torch.Tensor, image_size: tuple[int, int]
                      ) -> torch.Tensor:
        """Probe joints minus the rendered ones, (B, t·c_t, J, 2) pixels; joints_2d (B, T, J, 2) pixels."""
        pred = self.predict_pose(quantized, image_size)  # (B, t, c_t, J, 2)
        target = joints_2d.to(pred.dtype)[:, self.pose_frame_index(pred.shape[1]).flatten()]
        return pred.flatten(1, 2) - target

    def forward(self, video: torch.Tensor, joints_2d: torch.Tensor | None = None) -> VideoTokenizerOutput:
        """Reconstruct a clip (B, T, 3, H, W) with the training losses; ``joints_2d`` (B, T, J, 2) pixels
        (the rendered joints) adds the pose-probe loss when ``w_pose > 0``."""
        video = self._check_video(video)
        q = self.quantizer(self._latent(video))
        recon = self._decode_latent(q.quantized)
        c = self.config
        losses = {"l1": (recon - video).abs().mean()}
        total = c.w_l1 * losses["l1"]
        if c.w_grad > 0:
            def grads(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                return v[..., 1:, :] - v[..., :-1, :], v[..., :, 1:] - v[..., :, :-1]

            (ry, rx), (ty, tx) = grads(recon), grads(video)
            losses["grad"] = (ry - ty).abs().mean() + (rx - tx).abs().mean()
            total = total + c.w_grad * losses["grad"]
        if c.w_foreground > 0:
            fg = foreground_mask(video, c.foreground_threshold).to(recon.dtype)
            losses["foreground"] = ((recon - video).abs() * fg).sum() / (fg.sum() * video.shape[2]).clamp(min=1)
            total = total + c.w_foreground * losses["foreground"]
        if c.w_pose > 0 and joints_2d is not None:
            H, W = video.shape[-2:]
            if joints_2d.shape != (video.shape[0], video.shape[1], c.pose_joints, 2):
                raise InputError(f"joints_2d must be (B, T, {c.pose_joints}, 2) for a (B, T, ...) video, "
                                 f"got {tuple(joints_2d.shape)}")
            res = self.pose_residual(q.quantized, joints_2d, (H, W))  # (B, t·c_t, J, 2) pixels
            losses["pose"] = (res / (res.new_tensor([W, H]) / 2)).abs().mean()  # in [-1, 1] units
            losses["pose_px"] = res.norm(dim=-1).mean().detach()
            total = total + c.w_pose * losses["pose"]
        return VideoTokenizerOutput(recon, q.indices, total, losses)

    def training_step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        """``batch["video"]``: (B, T, 3, H, W) uint8 or float in [-1, 1]; ``batch["joints_2d"]`` (B, T, J, 2)
        pixels, optional (the pose probe's target)."""
        video = self._check_video(batch["video"])
        out = self(video, batch.get("joints_2d"))
        with torch.no_grad():
            p = psnr(out.reconstruction, video).mean()
        return {"loss": out.loss, **{f"loss_{k}": v.detach() for k, v in out.losses.items()}, "psnr": p}
