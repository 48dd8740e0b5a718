"""VQ-VAE baseline in the T2M-GPT style (Zhang et al., CVPR 2023): 1D convolutions + EMA codebook.

The Table-6 "VQ-VAE (discrete)" row. Structure (re-implemented after Mael-zys/T2M-GPT
``models/encdec.py`` / ``models/resnet.py``; sizes are T2M-GPT's defaults)::

    encoder: Conv1d(D→W, 3) ReLU ; down_t × [Conv1d(W→W, 4, stride 2, pad 1), Resnet1D] ; Conv1d(W→c, 3)
    decoder: Conv1d(c→W, 3) ReLU ; down_t × [Resnet1D, nearest upsample ×2, Conv1d(W→W, 3)] ;
             Conv1d(W→W, 3) ReLU ; Conv1d(W→D, 3)
    Resnet1D: ``depth`` residual blocks x + Conv1x1(act(Conv3_dil(act(x)))) with dilations
              growth^(depth-1), ..., growth, 1 (T2M-GPT's reverse_dilation=True)

with W = 512, c = code_dim = 512, down_t = 2 (T_z = ⌈T/4⌉), depth 3, dilation growth 3, ReLU; the
quantizer is :class:`~unimotion.models.blocks.quantizers.VectorQuantizerEMA` (512 codes, EMA decay 0.99,
dead-code reset, commitment β = 0.02) or, with ``num_quantizers > 1``, a
:class:`~unimotion.models.blocks.quantizers.ResidualVQ`. Loss = SmoothL1 recon + 0.5 · "velocity" loss
(T2M-GPT's ``--loss-vel 0.5``, which applies to channels 4:67 — see :mod:`.base`) + commitment.

Differences from T2M-GPT, for variable-length batches: T2M-GPT trains on fixed 64-frame windows; here
every convolution output is multiplied by the validity mask of its resolution (any-pooled from the frame
mask, the sequence right-padded with zeros to a multiple of 2^down_t), so the latents and
reconstructions of valid frames do not depend on the batch's padding, and padded steps neither update
the codebook nor count in the commitment loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError, InputError
from ..blocks.conv1d import Resnet1D as _Resnet1D
from ..blocks.conv1d import activation_module as _activation
from ..blocks.quantizers import ResidualVQ, VectorQuantizerEMA
from .base import AutoencoderConfig, AutoencoderOutput, LatentOutput, MotionAutoencoder, downsample_mask


@dataclass
class VQVAEConfig(AutoencoderConfig):
    """T2M-GPT VQ-VAE hyper-parameters (defaults = T2M-GPT's HumanML3D recipe)."""

    width: int = 512  # W: channels of the conv stacks
    code_dim: int = 512  # c: width of the codes
    num_codes: int = 512  # codebook size K
    down_t: int = 2  # number of ×2 temporal downsamplings (T_z = ceil(T / 2^down_t))
    depth: int = 3  # residual blocks per Resnet1D
    dilation_growth_rate: int = 3
    activation: Literal["relu", "gelu"] = "relu"
    num_quantizers: int = 1  # > 1: residual VQ with this many stages
    ema_decay: float = 0.99
    commitment: float = 0.02  # β of the commitment loss
    dead_threshold: float = 1.0  # codes whose EMA usage falls below this are reset from the batch
    lambda_vel: float = 0.5  # T2M-GPT --loss-vel 0.5
    vel_mode: Literal["diff", "channels"] = "channels"  # T2M-GPT applies it to channels 4:67

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("width", "code_dim", "num_codes", "depth", "dilation_growth_rate", "num_quantizers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.down_t < 0:
            raise ConfigError(f"down_t must be >= 0, got {self.down_t}")
        if not 0.0 < self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in (0, 1), got {self.ema_decay}")
        if self.commitment < 0:
            raise ConfigError(f"commitment must be >= 0, got {self.commitment}")


class _Encoder1D(nn.Module):
    def __init__(self, c: VQVAEConfig):
        super().__init__()
        self.conv_in = nn.Conv1d(c.input_dim, c.width, 3, padding=1)
        self.act = _activation(c.activation)
        self.downs = nn.ModuleList(nn.Conv1d(c.width, c.width, 4, stride=2, padding=1) for _ in range(c.down_t))
        self.res = nn.ModuleList(_Resnet1D(c.width, c.depth, c.dilation_growth_rate, c.activation)
                                 for _ in range(c.down_t))
        self.conv_out = nn.Conv1d(c.width, c.code_dim, 3, padding=1)

    def forward(self, x: torch.Tensor, masks: list[torch.Tensor]) -> torch.Tensor:
        """x (B, D, P) zero-padded, masks[k] (B, 1, P/2^k) → (B, c, P/2^down_t)."""
        x = self.act(self.conv_in(x)) * masks[0]
        for k, (down, res) in enumerate(zip(self.downs, self.res, strict=True), start=1):
            x = down(x) * masks[k]
            x = res(x, masks[k])
        return self.conv_out(x) * masks[-1]


class _Decoder1D(nn.Module):
    def __init__(self, c: VQVAEConfig):
        super().__init__()
        self.conv_in = nn.Conv1d(c.code_dim, c.width, 3, padding=1)
        self.act = _activation(c.activation)
        self.res = nn.ModuleList(_Resnet1D(c.width, c.depth, c.dilation_growth_rate, c.activation)
                                 for _ in range(c.down_t))
        self.ups = nn.ModuleList(nn.Conv1d(c.width, c.width, 3, padding=1) for _ in range(c.down_t))
        self.conv_mid = nn.Conv1d(c.width, c.width, 3, padding=1)
        self.conv_out = nn.Conv1d(c.width, c.input_dim, 3, padding=1)

    def forward(self, z: torch.Tensor, masks: list[torch.Tensor]) -> torch.Tensor:
        """z (B, c, T_z), masks[k] (B, 1, P/2^k) → (B, D, P)."""
        level = len(masks) - 1
        x = self.act(self.conv_in(z)) * masks[level]
        for res, conv in zip(self.res, self.ups, strict=True):
            x = res(x, masks[level])
            level -= 1
            x = conv(F.interpolate(x, scale_factor=2, mode="nearest")) * masks[level]
        x = self.act(self.conv_mid(x)) * masks[0]
        return self.conv_out(x) * masks[0]


class VQVAE(MotionAutoencoder):
    """T2M-GPT-style VQ-VAE: discrete latent sequence of ⌈T/2^down_t⌉ codes."""

    config_class = VQVAEConfig
    model_type = "vq_vae"
    config: VQVAEConfig

    def __init__(self, config: VQVAEConfig):
        super().__init__(config)
        c = config
        self.temporal_rate = 2**c.down_t
        self.encoder = _Encoder1D(c)
        self.decoder = _Decoder1D(c)
        kwargs = dict(decay=c.ema_decay, commitment=c.commitment, dead_threshold=c.dead_threshold)
        if c.num_quantizers == 1:
            self.quantizer: nn.Module = VectorQuantizerEMA(c.num_codes, c.code_dim, **kwargs)
        else:
            self.quantizer = ResidualVQ(c.num_quantizers, c.num_codes, c.code_dim, **kwargs)

    def max_input_frames(self) -> int | None:
        return None  # fully convolutional: no positional table limits the length

    # ------------------------------------------------------------------ masks
    def _mask_pyramid(self, mask: torch.Tensor, dtype: torch.dtype) -> tuple[list[torch.Tensor], int]:
        """Frame mask (B, T) → [(B, 1, P/2^k) float for k = 0..down_t], padding P − T (P multiple of 2^down_t)."""
        pad = (-mask.shape[1]) % self.temporal_rate
        m = F.pad(mask, (0, pad), value=False) if pad else mask
        masks = [m]
        for _ in range(self.config.down_t):
            masks.append(downsample_mask(masks[-1], 2))
        return [x[:, None].to(dtype) for x in masks], pad

    # ------------------------------------------------------------------ interface
    def _encode(self, motion: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, object]:
        """→ (pre-quantisation z_e (B, T_z, c), mask_z (B, T_z), QuantizerOutput)."""
        masks, pad = self._mask_pyramid(mask, motion.dtype)
        x = F.pad(motion.transpose(1, 2), (0, pad)) * masks[0]
        z_e = self.encoder(x, masks).transpose(1, 2)  # (B, T_z, c)
        mask_z = masks[-1][:, 0] > 0
        return z_e, mask_z, self.quantizer(z_e, mask_z)

    def encode(self, motion: torch.Tensor, mask: torch.Tensor | None = None, sample: bool | None = None,
               generator: torch.Generator | None = None) -> LatentOutput:
        """motion (B, T, D), mask (B, T) → quantised z (B, ⌈T/2^down_t⌉, c) with code ``indices``.

        In training mode the EMA codebook is updated by this call (as in any forward pass); ``sample`` and
        ``generator`` are ignored (quantisation is deterministic).
        """
        motion, mask = self.validate_motion(motion, mask)
        _, mask_z, q = self._encode(motion, mask)
        return LatentOutput(z=q.quantized * mask_z[..., None].to(q.quantized.dtype), mask_z=mask_z, indices=q.indices)

    def decode(self, z: torch.Tensor, mask_z: torch.Tensor | None = None, mask: torch.Tensor | None = None,
               lengths: torch.Tensor | Sequence[int] | None = None) -> torch.Tensor:
        """z (B, T_z, c), mask_z (B, T_z), target mask (B, T) or lengths (B,) → (B, T, D), zero at padding."""
        if z.dim() == 3 and z.shape[-1] != self.config.code_dim:
            raise InputError(f"z has width {z.shape[-1]}, expected code_dim={self.config.code_dim}")
        mask_z, mask = self._decode_target(z, mask_z, mask, lengths)
        return self._decode(z, mask_z, mask)

    def _decode(self, z: torch.Tensor, mask_z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        t, tz = mask.shape[1], z.shape[1]
        full = F.pad(mask, (0, tz * self.temporal_rate - t), value=False)
        masks, _ = self._mask_pyramid(full, z.dtype)
        masks[-1] = masks[-1] * mask_z[:, None].to(z.dtype)
        out = self.decoder(z.transpose(1, 2) * masks[-1], masks)  # (B, D, tz·rate)
        return self.pin_constant_channels(out[..., :t].transpose(1, 2))

    def decode_indices(self, indices: torch.Tensor, mask_z: torch.Tensor | None = None,
                       mask: torch.Tensor | None = None, lengths: torch.Tensor | Sequence[int] | None = None) -> torch.Tensor:
        """Code ids (B, T_z) (or (B, T_z, Q) for residual VQ) → motion (B, T, D)."""
        if indices.is_floating_point():
            raise InputError(f"indices must be integer code ids, got {indices.dtype}")
        expected = 2 if self.config.num_quantizers == 1 else 3
        if indices.dim() != expected:
            raise InputError(f"indices must have {expected} dimensions for this model, got {tuple(indices.shape)}")
        if ((indices < 0) | (indices >= self.config.num_codes)).any():
            raise InputError(f"code ids must be in [0, {self.config.num_codes})")
        return self.decode(self.quantizer.codes_to_vectors(indices), mask_z, mask, lengths)

    def forward(self, motion: torch.Tensor, mask: torch.Tensor | None = None, step: int | None = None) -> AutoencoderOutput:
        """Encode, quantise, decode; loss = λ_rec·recon + λ_vel·vel + commitment (β inside the quantizer)."""
        c = self.config
        motion, mask = self.validate_motion(motion, mask)
        _, mask_z, q = self._encode(motion, mask)
        z = q.quantized * mask_z[..., None].to(q.quantized.dtype)
        recon = self._decode(z, mask_z, mask)
        parts = self.reconstruction_losses(recon, motion, mask)
        loss = c.lambda_recon * parts["recon"] + c.lambda_vel * parts["vel"] + q.commit_loss
        latent = LatentOutput(z=z, mask_z=mask_z, indices=q.indices)
        losses = {**parts, "commit": q.commit_loss, "perplexity": q.perplexity.detach()}
        return AutoencoderOutput(recon=recon, latent=latent, loss=loss, losses=losses)
