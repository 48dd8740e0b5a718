"""MLD-VAE baseline: a SkipTransformer VAE with a few global latent tokens (Chen et al., CVPR 2023).

The Table-6 "MLD-VAE" row (continuous latents, no cross-modal anchoring). Structure, re-implemented
after ChenFengYe/motion-latent-diffusion ``mld/models/architectures/mld_vae.py``:

* encoder: per-frame Linear(D→W) + frame positional encoding; K learnable distribution tokens are
  prepended; a SkipTransformer runs over [tokens; frames] with padded frames masked out; the outputs at
  the K token positions go through Linear(W→2d) to (μ, log σ²) (MLD's ``mlp_dist`` variant) and
  z = μ + σ ⊙ ε ∈ R^{K×d};
* decoder: T zero queries with frame positional encoding and the K latent tokens, either in one
  self-attention sequence (``decoder_arch="concat"``, MLD's default "all_encoder" arch) or attending to
  the tokens through cross-attention (``"cross_attention"``, MLD's "encoder_decoder" arch); → Linear(W→D).
* losses: masked SmoothL1 reconstruction (+ optional velocity loss) + λ_KL · KL(q ‖ N(0, I)).

MLD uses K = 1 and d = W = 256; "a few" global tokens is configurable (``num_latent_tokens``, default 2).
Since the latent has no time axis, ``decode`` needs the output length (``mask=`` or ``lengths=``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from ...errors import ConfigError, InputError
from ..blocks.positional import PositionalKind, build_positional
from ..blocks.skip_transformer import SkipTransformer, SkipTransformerConfig
from .base import (
    AutoencoderConfig,
    AutoencoderOutput,
    KLReduction,
    LatentOutput,
    MotionAutoencoder,
    gaussian_kl,
    reduce_latent_kl,
    reparameterize,
)
from .components import LatentDecoder


@dataclass
class MLDVAEConfig(AutoencoderConfig):
    """MLD-VAE hyper-parameters (MLD's published VAE: K=1, d=W=256, 9 layers, 4 heads, FF 1024)."""

    num_latent_tokens: int = 2  # K global latent tokens
    latent_dim: int = 256  # d
    width: int = 256  # W
    positional: PositionalKind = "learned"
    encoder: SkipTransformerConfig = field(default_factory=SkipTransformerConfig)
    decoder: SkipTransformerConfig = field(default_factory=SkipTransformerConfig)
    decoder_arch: Literal["concat", "cross_attention"] = "concat"
    logvar_min: float = -30.0
    logvar_max: float = 20.0
    lambda_kl: float = 1e-4
    kl_reduction: KLReduction = "mean"

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("num_latent_tokens", "latent_dim", "width"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.decoder_arch not in ("concat", "cross_attention"):
            raise ConfigError(f"MLD-VAE decoder_arch must be 'concat' or 'cross_attention', got {self.decoder_arch!r}")
        if self.lambda_kl < 0:
            raise ConfigError("lambda_kl must be >= 0")
        if not self.logvar_min < self.logvar_max:
            raise ConfigError(f"logvar_min ({self.logvar_min}) must be < logvar_max ({self.logvar_max})")


class MLDVAE(MotionAutoencoder):
    """MLD-style VAE with ``num_latent_tokens`` global latent tokens: z ∈ R^{K×d}."""

    config_class = MLDVAEConfig
    model_type = "mld_vae"
    config: MLDVAEConfig

    def __init__(self, config: MLDVAEConfig):
        super().__init__(config)
        c = config
        self.embed = nn.Linear(c.input_dim, c.width)
        self.frame_pos = build_positional(c.positional, c.max_frames, c.width)
        self.dist_tokens = nn.Parameter(torch.randn(c.num_latent_tokens, c.width))
        self.encoder = SkipTransformer(c.width, c.encoder)
        self.head = nn.Linear(c.width, 2 * c.latent_dim)
        self.decoder = LatentDecoder(c.latent_dim, c.width, c.input_dim, c.decoder_arch, c.decoder, c.positional,
                                     c.max_frames, c.num_latent_tokens)

    def max_input_frames(self) -> int | None:
        return self.config.max_frames if self.config.positional == "learned" else None

    def latent_length(self, num_frames: int) -> int:
        return self.config.num_latent_tokens

    def encode(self, motion: torch.Tensor, mask: torch.Tensor | None = None, sample: bool | None = None,
               generator: torch.Generator | None = None) -> LatentOutput:
        """motion (B, T, D), mask (B, T) → z (B, K, d) (sampled in training mode unless ``sample`` says)."""
        motion, mask = self.validate_motion(motion, mask)
        return self._encode(motion, mask, self.training if sample is None else sample, generator)

    def _encode(self, motion: torch.Tensor, mask: torch.Tensor, sample: bool,
                generator: torch.Generator | None) -> LatentOutput:
        c = self.config
        b = motion.shape[0]
        x = self.frame_pos(self.embed(motion))
        tokens = self.dist_tokens.to(x.dtype)[None].expand(b, -1, -1)
        mask_z = torch.ones(b, c.num_latent_tokens, dtype=torch.bool, device=motion.device)
        hidden = self.encoder(torch.cat([tokens, x], 1), torch.cat([mask_z, mask], 1))[:, : c.num_latent_tokens]
        mean, logvar = self.head(hidden).chunk(2, dim=-1)
        logvar = logvar.clamp(c.logvar_min, c.logvar_max)
        z = reparameterize(mean, logvar, generator) if sample else mean
        return LatentOutput(z=z, mask_z=mask_z, mean=mean, logvar=logvar)

    def decode(self, z: torch.Tensor, mask_z: torch.Tensor | None = None, mask: torch.Tensor | None = None,
               lengths: torch.Tensor | list[int] | None = None) -> torch.Tensor:
        """z (B, K, d) + target mask (B, T) or lengths (B,) → (B, T, D), zero at padded frames."""
        if z.dim() == 3 and tuple(z.shape[1:]) != (self.config.num_latent_tokens, self.config.latent_dim):
            raise InputError(f"z must have shape (B, {self.config.num_latent_tokens}, {self.config.latent_dim}), "
                             f"got {tuple(z.shape)}")
        mask_z, mask = self._decode_target(z, mask_z, mask, lengths)
        return self.pin_constant_channels(self.decoder(z, mask_z, mask))

    def forward(self, motion: torch.Tensor, mask: torch.Tensor | None = None, step: int | None = None,
                sample: bool | None = None, generator: torch.Generator | None = None) -> AutoencoderOutput:
        """Encode, decode and compute recon (+ vel) + λ_KL·KL. ``step`` is unused (no schedules)."""
        c = self.config
        motion, mask = self.validate_motion(motion, mask)
        latent = self._encode(motion, mask, self.training if sample is None else sample, generator)
        recon = self.pin_constant_channels(self.decoder(latent.z, latent.mask_z, mask))
        parts = self.reconstruction_losses(recon, motion, mask)
        kl = reduce_latent_kl(gaussian_kl(latent.mean, latent.logvar), latent.mask_z, c.kl_reduction)
        loss = c.lambda_recon * parts["recon"] + c.lambda_vel * parts["vel"] + c.lambda_kl * kl
        return AutoencoderOutput(recon=recon, latent=latent, loss=loss, losses={**parts, "kl": kl})
