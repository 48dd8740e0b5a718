"""Latent Reconstruction Alignment (LRA, Stage 0; spec §5): the condition bottleneck and the shuffled control.

In the motion-to-motion task (``m2m``) the backbone receives ``Embed_fused(degrade(z))`` — the clean latent,
degraded so that input ≠ target — and the flow head regenerates the *undegraded* z from noise, receiving the
noisy z_t only through its AdaLN conditioning (:mod:`.flow_head`). The degradation (spec §5.3), applied in this
order to each condition span:

1. **temporal down-sampling** by a random fraction r ∈ [downsample_min, downsample_max] (20–50 %): the span is
   linearly resampled to round((1 − r)·T) steps and back to T, which removes its fine temporal detail while
   keeping one condition token per target token (the head reads the condition span's hidden states, so both
   spans must have the same length — the paper does not say how it reconciles them; this is our choice);
2. **feature dropout**: every element is zeroed with probability p (15 %), without rescaling;
3. **Gaussian perturbation**: + N(0, σ²), σ = 0.02.

The **shuffled-condition control** pairs each target with the condition of another example
(:func:`shuffle_conditions`, a derangement; the borrowed condition is resampled to the target's length).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...errors import ConfigError

__all__ = ["LRAConfig", "temporal_resample", "degrade_condition", "shuffle_conditions"]


@dataclass
class LRAConfig:
    """LRA condition bottleneck (spec §5.3) and the shuffled-condition control.

    Attributes:
        downsample_min / downsample_max: range of the fraction of temporal resolution removed (paper: 20–50 %).
        feature_dropout: probability of zeroing each condition element (paper: 15 %).
        noise_std: σ of the Gaussian perturbation (paper: 0.02).
        shuffle_condition: train/evaluate with shuffled conditions (the control experiment, not the recipe).
    """

    downsample_min: float = 0.2
    downsample_max: float = 0.5
    feature_dropout: float = 0.15
    noise_std: float = 0.02
    shuffle_condition: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.downsample_min <= self.downsample_max < 1:
            raise ConfigError(
                f"lra: need 0 <= downsample_min <= downsample_max < 1, got {self.downsample_min}, {self.downsample_max}"
            )
        if not 0 <= self.feature_dropout < 1:
            raise ConfigError(f"lra.feature_dropout must be in [0, 1), got {self.feature_dropout}")
        if self.noise_std < 0:
            raise ConfigError(f"lra.noise_std must be >= 0, got {self.noise_std}")


def temporal_resample(z: torch.Tensor, length: int) -> torch.Tensor:
    """(T, d) → (length, d) by linear interpolation over time (endpoints kept)."""
    if z.shape[0] == length:
        return z
    if z.shape[0] == 1:
        return z.expand(length, -1)
    out = F.interpolate(z.t()[None], size=length, mode="linear", align_corners=True)
    return out[0].t()


def degrade_condition(z: torch.Tensor, config: LRAConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply the LRA bottleneck to one condition span z (T, d). Returns a new (T, d) tensor."""
    T = z.shape[0]
    if config.downsample_max > 0 and T > 1:
        r = config.downsample_min + (config.downsample_max - config.downsample_min) * float(
            torch.rand((), generator=generator)
        )
        short = max(1, round((1.0 - r) * T))
        z = temporal_resample(temporal_resample(z, short), T)
    if config.feature_dropout > 0:
        keep = torch.rand(z.shape, generator=generator) >= config.feature_dropout
        z = z * keep.to(z.device, z.dtype)
    if config.noise_std > 0:
        z = z + config.noise_std * torch.randn(z.shape, generator=generator).to(z.device, z.dtype)
    return z


def shuffle_conditions(latents: list[torch.Tensor]) -> list[torch.Tensor]:
    """Condition i := latents[(i + 1) mod n] resampled to len(latents[i]) (every example gets another's)."""
    n = len(latents)
    if n < 2:
        raise ConfigError("the shuffled-condition control needs at least two examples in the batch")
    return [temporal_resample(latents[(i + 1) % n], latents[i].shape[0]) for i in range(n)]
