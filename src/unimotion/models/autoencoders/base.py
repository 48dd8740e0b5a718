"""The interface shared by every motion autoencoder (CMA-VAE, MLD-VAE, VQ-VAE), and their common losses.

All three read the same thing and are trained the same way, so that the Table-6 benchmark and UniMotion
can swap them and equal-budget comparisons need no glue:

* input: ``motion`` (B, T, D) features **already normalised** with the model's ``stats`` (a
  :class:`~unimotion.motion.stats.NormStats`, saved as Mean.npy/Std.npy in the checkpoint) and ``mask``
  (B, T) bool, True = valid frame (any pattern; usually a prefix of length L_b);
* ``encode(motion, mask) -> LatentOutput`` with ``z`` (B, T_z, d), ``mean``/``logvar`` (Gaussian models)
  or ``indices`` (VQ), and ``mask_z`` (B, T_z);
* ``decode(z, mask_z, mask=...|lengths=...) -> (B, T, D)`` normalised features, zero at padded frames;
* ``forward(motion, mask, ...) -> AutoencoderOutput`` with the reconstruction, the total loss and its
  named parts;
* ``training_step(batch, step) -> {"loss", "recon", ...}`` for :class:`unimotion.training.trainer.Trainer`.
  The batch is a dict with ``motion`` and ``mask`` (plus the optional image fields of the CMA-VAE, which
  the other models ignore).

Losses (all masked by valid frames / valid latent steps, pooled over every valid element of the batch):

* reconstruction: SmoothL1 (default; ``l1``/``l2`` selectable) over valid frames × channels, i.e.
  (1/|M|) Σ_{i∈M} ℓ(m̂_i, m_i) with M the valid (frame, channel) pairs;
* optional velocity loss (``lambda_vel`` > 0), two flavours:
  - ``vel_mode="diff"``: the same loss on frame differences m_{t+1} − m_t over pairs of valid frames;
  - ``vel_mode="channels"``: the same loss restricted to channels ``vel_channels`` = [a, b). This is what
    T2M-GPT calls its velocity loss (``--loss-vel 0.5``): its ``forward_vel`` applies the loss to channels
    4 : 4 + 3(J−1) of the HumanML3D vector, the root-relative joint positions, despite the name;
* KL terms (Gaussian models): closed-form KL of diagonal Gaussians, reduced over the latent width by
  ``kl_reduction`` — ``"mean"`` (MLD's implementation, the scale its λ_KL = 1e-4 was tuned for; default)
  or ``"sum"`` (the paper's written formula ½ Σ_k ...; d times larger) — then averaged over valid latent
  steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F

from ...errors import ConfigError, InputError, MotionError
from ..modeling_utils import ModelOutput, PretrainedModel

ReconLoss = Literal["smooth_l1", "l1", "l2"]
KLReduction = Literal["mean", "sum"]


# ---------------------------------------------------------------------------------------------- outputs
@dataclass
class LatentOutput(ModelOutput):
    """What ``encode`` returns.

    z: (B, T_z, d) the latent used for decoding (a sample or the mean for Gaussian models; the
       straight-through quantised vectors for VQ). T_z = number of latent steps/tokens.
    mask_z: (B, T_z) bool, True = valid latent step.
    mean, logvar: (B, T_z, d) posterior parameters (Gaussian models; None for VQ).
    indices: (B, T_z) or (B, T_z, Q) code ids (VQ models; None otherwise).
    """

    z: torch.Tensor
    mask_z: torch.Tensor
    mean: torch.Tensor | None = None
    logvar: torch.Tensor | None = None
    indices: torch.Tensor | None = None


@dataclass
class AutoencoderOutput(ModelOutput):
    """What ``forward`` returns.

    recon: (B, T, D) normalised reconstruction, zero at padded frames.
    latent: the latent that was decoded (for the CMA-VAE: rows of samples with an image come from the
        vision-fused encoder, the others from the motion encoder).
    loss: scalar total loss (already weighted).
    losses: named scalar parts (unweighted values plus weights such as ``align_weight``), for logging.
    latent_motion / latent_fused / fused_rows: CMA-VAE only — both posteriors; ``latent_fused`` holds
        only the rows ``fused_rows`` (N_img,) of the batch that have an image.
    """

    recon: torch.Tensor
    latent: LatentOutput
    loss: torch.Tensor
    losses: dict[str, torch.Tensor] = field(default_factory=dict)
    latent_motion: LatentOutput | None = None
    latent_fused: LatentOutput | None = None
    fused_rows: torch.Tensor | None = None


# ---------------------------------------------------------------------------------------------- config
@dataclass
class AutoencoderConfig:
    """Hyper-parameters shared by every motion autoencoder (data layout and reconstruction losses)."""

    input_dim: int = 269  # D: 269 = HumanML3D 263 + 6D global orientation (spec §2.1); 263 for HumanML3D
    max_frames: int = 196  # longest accepted sequence (sizes learned positional tables); HumanML3D max 196
    recon_loss: ReconLoss = "smooth_l1"  # spec §3.4: SmoothL1 over valid frames
    smooth_l1_beta: float = 1.0  # SmoothL1 transition point (PyTorch default, as in MLD / T2M-GPT)
    lambda_recon: float = 1.0
    lambda_vel: float = 0.0  # weight of the velocity loss (0 disables it)
    vel_mode: Literal["diff", "channels"] = "diff"  # see the module docstring
    vel_channels: tuple[int, int] = (4, 67)  # [a, b) for vel_mode="channels": T2M-GPT's RIC positions (J=22)
    # Channels that never vary in the training data (e.g. the 6D rotation HumanML3D's IK always sets to the
    # identity for one spine joint). The decoder writes their mean (0 in the model's normalisation) there,
    # exactly, instead of a learned near-constant: an evaluator normalised per channel (std floored at 1e-4)
    # reads a 1e-2 error there as a 100-sigma outlier. Filled by the VAE recipe (``pin_constant_channels``).
    constant_channels: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.input_dim < 1:
            raise ConfigError(f"input_dim must be positive, got {self.input_dim}")
        if self.max_frames < 1:
            raise ConfigError(f"max_frames must be positive, got {self.max_frames}")
        if self.smooth_l1_beta <= 0:
            raise ConfigError(f"smooth_l1_beta must be > 0, got {self.smooth_l1_beta}")
        if self.lambda_recon < 0 or self.lambda_vel < 0:
            raise ConfigError("loss weights lambda_recon and lambda_vel must be >= 0")
        a, b = self.vel_channels
        if self.vel_mode == "channels" and not 0 <= a < b <= self.input_dim:
            raise ConfigError(f"vel_channels {self.vel_channels} is not a range inside [0, {self.input_dim})")
        self.constant_channels = tuple(int(c) for c in self.constant_channels)
        bad = [c for c in self.constant_channels if not 0 <= c < self.input_dim]
        if bad:
            raise ConfigError(f"constant_channels {bad} are outside [0, {self.input_dim})")


# ---------------------------------------------------------------------------------------------- helpers
def lengths_to_mask(lengths: torch.Tensor | Sequence[int], max_len: int | None = None,
                    device: torch.device | str | None = None) -> torch.Tensor:
    """(B,) lengths → (B, max_len) bool prefix mask (max_len defaults to max(lengths))."""
    lengths = torch.as_tensor(lengths, device=device, dtype=torch.long).reshape(-1)
    if (lengths < 0).any():
        raise InputError(f"lengths must be >= 0, got {lengths.tolist()}")
    max_len = int(lengths.max()) if max_len is None else max_len
    if (lengths > max_len).any():
        raise InputError(f"a length exceeds max_len {max_len}: {lengths.tolist()}")
    return torch.arange(max_len, device=lengths.device)[None] < lengths[:, None]


def downsample_mask(mask: torch.Tensor, rate: int) -> torch.Tensor:
    """(B, T) → (B, ⌈T/rate⌉): a step is valid if any frame of its window [j·rate, (j+1)·rate) is valid."""
    if rate == 1:
        return mask
    b, t = mask.shape
    pad = (-t) % rate
    if pad:
        mask = F.pad(mask, (0, pad), value=False)
    return mask.view(b, -1, rate).any(-1)


def upsample_mask(mask_z: torch.Tensor, rate: int, length: int | None = None) -> torch.Tensor:
    """(B, T_z) → (B, length): every frame inherits its latent step's validity (length ≤ T_z·rate)."""
    mask = mask_z.repeat_interleave(rate, dim=1)
    return mask if length is None else mask[:, :length]


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` (B, N, ...) over the positions where ``mask`` (B, N) is True (0 if none)."""
    w = mask.to(values.dtype).reshape(mask.shape + (1,) * (values.dim() - mask.dim()))
    per_position = values[0, 0].numel() if values.dim() > 2 else 1
    return (values * w).sum() / (w.sum() * per_position).clamp(min=1)


def elementwise_loss(pred: torch.Tensor, target: torch.Tensor, kind: ReconLoss, beta: float = 1.0) -> torch.Tensor:
    """Unreduced reconstruction loss of the given kind."""
    if kind == "smooth_l1":
        return F.smooth_l1_loss(pred, target, reduction="none", beta=beta)
    if kind == "l1":
        return (pred - target).abs()
    if kind == "l2":
        return (pred - target).pow(2)
    raise ConfigError(f"unknown reconstruction loss {kind!r}")


def gaussian_kl(mean_p: torch.Tensor, logvar_p: torch.Tensor, mean_q: torch.Tensor | None = None,
                logvar_q: torch.Tensor | None = None) -> torch.Tensor:
    """Element-wise KL(N(mean_p, e^logvar_p) ‖ N(mean_q, e^logvar_q)); q = N(0, I) when omitted.

    KL = ½ [ logvar_q − logvar_p + (e^logvar_p + (mean_p − mean_q)²) / e^logvar_q − 1 ]  (same shape as inputs)
    """
    if mean_q is None or logvar_q is None:
        return 0.5 * (mean_p.pow(2) + logvar_p.exp() - logvar_p - 1.0)
    return 0.5 * (logvar_q - logvar_p + (logvar_p.exp() + (mean_p - mean_q).pow(2)) * torch.exp(-logvar_q) - 1.0)


def reduce_latent_kl(kl: torch.Tensor, mask_z: torch.Tensor, reduction: KLReduction) -> torch.Tensor:
    """(B, T_z, d) element-wise KL → scalar: mean or sum over d, then mean over valid latent steps."""
    per_step = kl.sum(-1) if reduction == "sum" else kl.mean(-1)
    return masked_mean(per_step, mask_z)


def reparameterize(mean: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """z = mean + σ ⊙ ε, ε ~ N(0, I) drawn from ``generator`` (the global RNG when None)."""
    eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    return mean + torch.exp(0.5 * logvar) * eps


# ---------------------------------------------------------------------------------------------- base class
class MotionAutoencoder(PretrainedModel):
    """Base class of the motion autoencoders (see the module docstring for the contract)."""

    config: AutoencoderConfig
    #: frames per latent step when the latent is a time-aligned sequence; None for global tokens
    temporal_rate: int | None = None
    #: optional batch keys forwarded by ``training_step`` to ``forward``
    batch_extras: ClassVar[tuple[str, ...]] = ()

    # ------------------------------------------------------------------ validation
    def max_input_frames(self) -> int | None:
        """Longest accepted input (None = unlimited)."""
        return self.config.max_frames

    def validate_motion(self, motion: Any, mask: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Check user input at the boundary; returns (motion (B, T, D), mask (B, T) bool)."""
        if not isinstance(motion, torch.Tensor):
            raise MotionError(f"motion must be a torch.Tensor of shape (B, T, D), got {type(motion).__name__}")
        if motion.dim() != 3:
            raise MotionError(f"motion must have shape (B, T, D), got {tuple(motion.shape)}")
        b, t, d = motion.shape
        if d != self.config.input_dim:
            raise MotionError(f"motion has {d} channels but the model expects {self.config.input_dim}")
        if b == 0 or t == 0:
            raise MotionError(f"motion is empty: shape {tuple(motion.shape)}")
        if not motion.is_floating_point():
            raise MotionError(f"motion must be a floating-point tensor, got {motion.dtype}")
        limit = self.max_input_frames()
        if limit is not None and t > limit:
            raise MotionError(f"motion has {t} frames, more than max_frames={limit} of this model")
        if mask is None:
            mask = torch.ones(b, t, dtype=torch.bool, device=motion.device)
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            raise InputError(f"mask must be a bool tensor (True = valid frame), got {getattr(mask, 'dtype', type(mask))}")
        if tuple(mask.shape) != (b, t):
            raise InputError(f"mask has shape {tuple(mask.shape)}, expected {(b, t)} to match motion")
        empty = (~mask.any(1)).nonzero().flatten()
        if empty.numel():
            raise InputError(f"samples {empty.tolist()[:10]} have no valid frame in mask")
        bad = ~torch.isfinite(motion) & mask[..., None]
        if bad.any():
            where = bad.nonzero()[0].tolist()
            raise MotionError(f"motion contains NaN/Inf (first at sample {where[0]}, frame {where[1]}, channel {where[2]})")
        return motion, mask

    def _decode_target(self, z: torch.Tensor, mask_z: torch.Tensor | None, mask: torch.Tensor | None,
                       lengths: torch.Tensor | Sequence[int] | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Resolve (mask_z (B, T_z), frame mask (B, T)) for ``decode``."""
        if z.dim() != 3:
            raise InputError(f"z must have shape (B, T_z, d), got {tuple(z.shape)}")
        b, tz = z.shape[:2]
        if mask_z is None:
            mask_z = torch.ones(b, tz, dtype=torch.bool, device=z.device)
        if tuple(mask_z.shape) != (b, tz) or mask_z.dtype != torch.bool:
            raise InputError(f"mask_z must be a bool tensor of shape {(b, tz)}, got {tuple(mask_z.shape)} {mask_z.dtype}")
        if mask is None and lengths is not None:
            lengths = torch.as_tensor(lengths, device=z.device).reshape(-1)
            if lengths.numel() != b:
                raise InputError(f"got {lengths.numel()} lengths for a batch of {b}")
            mask = lengths_to_mask(lengths, device=z.device)
        if mask is None:
            if self.temporal_rate is None:
                raise InputError(f"{type(self).__name__}.decode needs the output length: pass mask= or lengths=")
            mask = upsample_mask(mask_z, self.temporal_rate)
        if mask.dim() != 2 or mask.shape[0] != b or mask.dtype != torch.bool:
            raise InputError(f"mask must be a bool tensor of shape (B={b}, T), got {tuple(mask.shape)} {mask.dtype}")
        if not mask.any(1).all():
            raise InputError("every sample needs at least one valid output frame")
        limit = self.max_input_frames()
        if limit is not None and mask.shape[1] > limit:
            raise InputError(f"cannot decode {mask.shape[1]} frames: more than max_frames={limit}")
        if self.temporal_rate is not None and mask.shape[1] > tz * self.temporal_rate:
            raise InputError(f"cannot decode {mask.shape[1]} frames from {tz} latent steps "
                             f"(at most {tz * self.temporal_rate})")
        return mask_z, mask

    def pin_constant_channels(self, recon: torch.Tensor) -> torch.Tensor:
        """(B, T, D) normalised output with the config's ``constant_channels`` set to 0 (their mean)."""
        if not self.config.constant_channels:
            return recon
        pinned = torch.zeros(recon.shape[-1], dtype=torch.bool, device=recon.device)
        pinned[list(self.config.constant_channels)] = True
        return recon.masked_fill(pinned, 0.0)

    # ------------------------------------------------------------------ interface
    def latent_length(self, num_frames: int) -> int:
        """T_z for a sequence of ``num_frames`` frames."""
        if self.temporal_rate is None:
            raise NotImplementedError
        return math.ceil(num_frames / self.temporal_rate)

    def encode(self, motion: torch.Tensor, mask: torch.Tensor | None = None, sample: bool | None = None,
               generator: torch.Generator | None = None) -> LatentOutput:
        """motion (B, T, D) normalised, mask (B, T) → LatentOutput. ``sample=None``: sample in training
        mode, posterior mean in eval mode (ignored by VQ models)."""
        raise NotImplementedError

    def decode(self, z: torch.Tensor, mask_z: torch.Tensor | None = None, mask: torch.Tensor | None = None,
               lengths: torch.Tensor | Sequence[int] | None = None) -> torch.Tensor:
        """z (B, T_z, d), mask_z (B, T_z), target frame mask (B, T) or lengths (B,) → (B, T, D)."""
        raise NotImplementedError

    def training_step(self, batch: dict[str, Any], step: int) -> dict[str, torch.Tensor]:
        """Trainer hook: ``batch`` holds ``motion`` (B, T, D) and ``mask`` (B, T) (+ optional extras)."""
        if "motion" not in batch:
            raise InputError(f"training batch has no 'motion' entry (keys: {sorted(batch)})")
        extras = {k: batch[k] for k in self.batch_extras if k in batch}
        out = self(batch["motion"], batch.get("mask"), step=step, **extras)
        return {"loss": out.loss, **out.losses}

    @torch.no_grad()
    def reconstruct(self, motion: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Deterministic round trip (posterior mean / nearest codes), model left in its mode: (B, T, D)."""
        motion, mask = self.validate_motion(motion, mask)
        latent = self.encode(motion, mask, sample=False)
        return self.decode(latent.z, latent.mask_z, mask=mask)

    # ------------------------------------------------------------------ losses
    def reconstruction_losses(self, recon: torch.Tensor, motion: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """{"recon": masked recon loss, "vel": velocity loss (0 when disabled)} — both unweighted."""
        cfg = self.config
        rec = masked_mean(elementwise_loss(recon, motion, cfg.recon_loss, cfg.smooth_l1_beta), mask)
        vel = recon.new_zeros(())
        if cfg.lambda_vel > 0:
            if cfg.vel_mode == "diff":
                if motion.shape[1] > 1:
                    pair = mask[:, 1:] & mask[:, :-1]
                    diff = elementwise_loss(recon[:, 1:] - recon[:, :-1], motion[:, 1:] - motion[:, :-1],
                                            cfg.recon_loss, cfg.smooth_l1_beta)
                    vel = masked_mean(diff, pair)
            else:
                a, b = cfg.vel_channels
                vel = masked_mean(elementwise_loss(recon[..., a:b], motion[..., a:b], cfg.recon_loss,
                                                   cfg.smooth_l1_beta), mask)
        return {"recon": rec, "vel": vel}
