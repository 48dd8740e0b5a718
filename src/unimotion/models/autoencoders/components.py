"""Building blocks shared by the transformer VAEs (CMA-VAE, MLD-VAE).

* :class:`MotionFrontEnd` — per-frame linear embedding, temporal downsampling T → T_z = ⌈T/rate⌉ with the
  mask downsampled consistently, and a positional encoding over latent steps. The CMA-VAE's motion
  encoder and vision-fused encoder share one instance (spec §3.2).
* :class:`LatentDecoder` — latent tokens (B, T_z, d) → frames (B, T, D) with a SkipTransformer; three
  ways to reach the frame rate (``decoder_arch``):

  - ``"cross_attention"``: T zero queries + frame positional encoding attend to the latent tokens
    (self-attention over frames, cross-attention to latents in every layer). Spec §3.3's inferred design;
    works for time-aligned latents and for global tokens.
  - ``"concat"``: MLD's "all_encoder" decoder: one self-attention sequence [latents; queries], the output
    read at the query positions. Works for both kinds of latent.
  - ``"upsample"``: each latent step is repeated ``rate`` times (nearest upsampling, cropped to T), frame
    positions are added and a self-attention SkipTransformer refines the frames. Needs time-aligned
    latents (CMA-VAE only).
  - ``"conv_upsample"``: the SkipTransformer runs over the latent steps themselves (self-attention at the
    latent rate, T_z tokens), then log2(rate) stages of [nearest ×2 → Conv1d(W, W, 3) → GELU] bring the
    sequence to the frame rate (cropped to T) — the mirror image of the front-end's strided convolutions.
    The attention cost is that of T_z tokens instead of T frames (about rate× cheaper, the CPU-friendly
    choice used for BandaiML); needs time-aligned latents and a power-of-two rate (CMA-VAE only).
  - ``"resnet_upsample"``: ``conv_upsample`` with a T2M-GPT residual block stack
    (:class:`~unimotion.models.blocks.conv1d.Resnet1D`: 3 dilated residual blocks, dilations 9, 3, 1)
    before every ×2 stage and after the last one — the VQ-VAE baseline's decoder body behind the
    transformer. A documented departure from the paper's all-SkipTransformer decoder: at the CPU budget
    the plain ``conv_upsample`` decoder blurs fast motion (feet) where the convolutional VQ-VAE does not.

Masking: padded frames are zeroed before every temporal convolution/pooling, so the result at valid
positions does not depend on how much padding the batch has; attention ignores padded keys.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ..blocks.conv1d import Resnet1D
from ..blocks.positional import PositionalKind, build_positional
from ..blocks.skip_transformer import SkipTransformer, SkipTransformerConfig
from .base import downsample_mask

DownsampleKind = Literal["conv", "avgpool"]
DecoderArch = Literal["cross_attention", "concat", "upsample", "conv_upsample", "resnet_upsample"]
_TIME_ALIGNED = ("upsample", "conv_upsample", "resnet_upsample")
_CONV_ARCHS = ("conv_upsample", "resnet_upsample")


class MotionFrontEnd(nn.Module):
    """(B, T, D) motion + (B, T) mask → (B, T_z, width) tokens + (B, T_z) mask, T_z = ⌈T/rate⌉.

    ``downsample="conv"``: log2(rate) stages of Conv1d(kernel 4, stride 2, padding 1) (T2M-GPT's
    down-sampling block) with GELU between stages; ``rate`` must be a power of two. The sequence is first
    right-padded with zeros to a multiple of ``rate``, so each stage halves the length exactly and
    T_z = ⌈T/rate⌉; the mask is any-pooled per stage and applied after every stage.
    ``downsample="avgpool"``: mean of the valid frames in each window of ``rate`` frames (any rate ≥ 1).
    """

    def __init__(self, input_dim: int, width: int, rate: int = 4, downsample: DownsampleKind = "conv",
                 positional: PositionalKind = "learned", max_frames: int = 196):
        super().__init__()
        if rate < 1:
            raise ConfigError(f"downsample rate must be >= 1, got {rate}")
        if downsample == "conv" and rate & (rate - 1):
            raise ConfigError(f"downsample='conv' needs a power-of-two rate, got {rate}")
        self.rate, self.kind = rate, downsample
        self.embed = nn.Linear(input_dim, width)
        n_stages = int(math.log2(rate)) if downsample == "conv" else 0
        self.convs = nn.ModuleList(nn.Conv1d(width, width, 4, stride=2, padding=1) for _ in range(n_stages))
        self.pos = build_positional(positional, math.ceil(max_frames / rate), width)

    def forward(self, motion: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """motion (B, T, D), mask (B, T) → tokens (B, T_z, width), mask_z (B, T_z).

        Before the positional encoding is added, tokens at padded latent steps are zero."""
        x = self.embed(motion) * mask[..., None].to(motion.dtype)
        pad = (-x.shape[1]) % self.rate
        if pad:
            x = F.pad(x, (0, 0, 0, pad))
            mask = F.pad(mask, (0, pad), value=False)
        if self.kind == "conv":
            h = x.transpose(1, 2)  # (B, W, T)
            for i, conv in enumerate(self.convs):
                h = conv(h)
                if i < len(self.convs) - 1:
                    h = F.gelu(h)
                mask = downsample_mask(mask, 2)
                h = h * mask[:, None].to(h.dtype)
            x = h.transpose(1, 2)
        elif self.rate > 1:
            b, t, w = x.shape
            m = mask.to(x.dtype).view(b, t // self.rate, self.rate, 1)
            x = (x.view(b, t // self.rate, self.rate, w) * m).sum(2) / m.sum(2).clamp(min=1)
            mask = downsample_mask(mask, self.rate)
        return self.pos(x), mask


class LatentDecoder(nn.Module):
    """Latent tokens (B, N, latent_dim) → motion (B, T, output_dim); see the module docstring for ``arch``.

    Args:
        latent_dim: d, width of z.
        width: transformer width.
        output_dim: D, motion channels.
        arch: ``cross_attention`` | ``concat`` | ``upsample``.
        cfg: SkipTransformer depth/heads/FF.
        positional: kind of the frame-query and latent positional encodings.
        max_frames: size of the frame positional table (learned encodings).
        max_latents: size of the latent positional table (learned encodings).
        rate: frames per latent step (``upsample`` only).
    """

    def __init__(self, latent_dim: int, width: int, output_dim: int, arch: DecoderArch,
                 cfg: SkipTransformerConfig, positional: PositionalKind, max_frames: int, max_latents: int,
                 rate: int | None = None):
        super().__init__()
        if arch in _TIME_ALIGNED and not rate:
            raise ConfigError(f"decoder_arch={arch!r} needs time-aligned latents (a temporal rate)")
        if arch in _CONV_ARCHS and rate & (rate - 1):
            raise ConfigError(f"decoder_arch={arch!r} needs a power-of-two rate, got {rate}")
        if arch not in ("cross_attention", "concat", *_TIME_ALIGNED):
            raise ConfigError(f"unknown decoder_arch {arch!r}")
        self.arch, self.rate = arch, rate
        self.in_proj = nn.Linear(latent_dim, width)
        self.latent_pos = build_positional(positional, max_latents, width)
        if arch in _CONV_ARCHS:
            stages = int(math.log2(rate))
            self.ups = nn.ModuleList(nn.Conv1d(width, width, 3, padding=1) for _ in range(stages))
            if arch == "resnet_upsample":  # one residual stack per resolution, the latent rate first
                self.res = nn.ModuleList(Resnet1D(width, depth=3, growth=3, activation="gelu")
                                         for _ in range(stages + 1))
        else:  # frame-rate queries
            self.query_pos = build_positional(positional, max_frames, width)
        self.transformer = SkipTransformer(width, cfg, cross_attention=arch == "cross_attention")
        self.out_proj = nn.Linear(width, output_dim)

    def forward(self, z: torch.Tensor, mask_z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """z (B, N, d), mask_z (B, N), mask (B, T) → (B, T, output_dim), zero at padded frames."""
        b, n, _ = z.shape
        t = mask.shape[1]
        memory = self.latent_pos(self.in_proj(z))  # (B, N, W)
        if self.arch in _CONV_ARCHS:
            return self._conv_upsample(memory, mask_z, mask)
        queries = self.query_pos.table(t).to(memory.dtype)[None].expand(b, t, -1)  # (B, T, W)
        if self.arch == "cross_attention":
            h = self.transformer(queries, mask, context=memory, context_mask=mask_z)
        elif self.arch == "concat":
            h = self.transformer(torch.cat([memory, queries], 1), torch.cat([mask_z, mask], 1))[:, n:]
        else:
            up = memory.repeat_interleave(self.rate, dim=1)[:, :t]
            h = self.transformer(up + queries, mask)
        return self.out_proj(h) * mask[..., None].to(h.dtype)

    def _conv_upsample(self, memory: torch.Tensor, mask_z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """memory (B, T_z, W), mask_z (B, T_z), mask (B, T) → (B, T, output_dim), zero at padded frames.

        Every intermediate resolution is zeroed outside the upsampled ``mask_z``, so valid outputs do not
        depend on how much padding the batch carries."""
        t = mask.shape[1]
        h = self.transformer(memory, mask_z)  # (B, T_z, W)
        m = mask_z
        x = (h * m[..., None].to(h.dtype)).transpose(1, 2)  # (B, W, T_z)
        res = getattr(self, "res", None)
        for k, conv in enumerate(self.ups):
            if res is not None:
                x = res[k](x, m[:, None].to(x.dtype))
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            m = m.repeat_interleave(2, dim=1)
            x = F.gelu(conv(x)) * m[:, None].to(x.dtype)
        if res is not None:
            x = res[-1](x, m[:, None].to(x.dtype))
        x = x.transpose(1, 2)[:, :t]  # (B, T, W)
        if x.shape[1] < t:
            raise ConfigError(f"cannot decode {t} frames from {mask_z.shape[1]} latent steps at rate {self.rate}")
        return self.out_proj(x) * mask[..., None].to(x.dtype)
