"""UniMo's motion tokenizer: a single-codebook VQ-VAE over SMPL-X body parameters with temporal
expansion and four expert decoders (spec ``unimo.md`` §3).

Data path (shapes for a batch of B clips of T frames)::

    params (B, T, 79)  θ63 | β10 | φ3 | τ3 (order: unimotion.motion.smplx_params), z-normalised by model.stats
      → 1D-conv encoder (dilated residual blocks, ``down_t`` stride-2 stages, r = 2**down_t)   (B, T', W)
      → temporal expansion: Conv1d(W → s·d, k=1), reshape                                     (B, T'·s, d)
      → one EMA codebook (K × d), nearest neighbour, straight-through (stop-gradient)         (B, T'·s)
      → fold: reshape (B, T', s·d), Conv1d(s·d → W)
      → shared trunk (residual blocks, ``down_t`` ×2 upsamplings)                             (B, T, W)
      → four expert heads: θ (63), β (10, optionally clip-pooled), φ (3), τ (3)             (B, T, 79)

**Meaning of s (our interpretation, spec §3.2).** Each latent step t (covering r = 2**down_t raw
frames; one frame with the default r = 1) is described by the ``s`` consecutive codes at indices
``t·s … t·s + s − 1`` of the token sequence, all from the same codebook. The s codes are different
projections of the same step (the Conv1d to s·d channels), not copies: the decoder sees their
concatenation. ``s = 1`` is the plain VQ-VAE. Tokens per raw frame = s / r.

**Losses.** Per-expert reconstruction losses in normalised units with their own weights
(``w_body_pose``, ``w_betas``, ``w_global_orient``, ``w_transl``), a joint-position loss in metres through
SMPL-X forward kinematics (FK(pred) vs FK(target), body tree from :mod:`unimotion.motion.smplx_params`),
an optional velocity loss, and the VQ commitment loss ``β_c ||z_e − sg[e]||²`` (the codebook itself is
updated by EMA with dead-code reset, :class:`~unimotion.models.blocks.quantizers.VectorQuantizerEMA`).
The paper gives none of the weights; the defaults are untuned choices.

Ablation switches: ``expansion`` (s), ``codebook_size``, ``decoder="shared"`` (one head for all 79
channels instead of the experts), ``down_t``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError, MotionError
from ...motion import smplx_params as sp
from ..blocks.quantizers import VectorQuantizerEMA
from ..modeling_utils import ModelOutput, PretrainedModel

GROUPS: dict[str, slice] = dict(sp.PARAM_SLICES)  # body_pose, betas, global_orient, transl


@dataclass
class MotionTokenizerConfig:
    """Every hyper-parameter of the motion tokenizer (paper-silent values are Duolando-like defaults)."""

    input_dim: int = sp.PARAM_DIM  # 79 SMPL-X body channels
    width: int = 512  # encoder/decoder channels W
    depth: int = 3  # residual blocks per stage
    dilation_growth: int = 3  # dilations 1, g, g², … inside a stage
    down_t: int = 0  # temporal downsampling stages; r = 2**down_t raw frames per latent step
    expansion: int = 4  # s: codes per latent step (temporal expansion factor)
    codebook_size: int = 512  # K
    code_dim: int = 512  # d
    vq_decay: float = 0.99  # EMA decay of the codebook
    vq_commitment: float = 0.02  # β_c of the commitment loss (Duolando's value with EMA)
    vq_dead_threshold: float = 1.0  # EMA usage below which a code is re-seeded from the batch
    trunk_depth: int = 2  # residual blocks of the shared decoder trunk
    expert_depth: int = 2  # residual blocks in each expert head
    expert_width: int = 0  # channels of each expert head; 0 → width
    decoder: Literal["experts", "shared"] = "experts"  # ablation: one shared head for all 79 channels
    betas_pool: bool = True  # β expert predicts one shape per clip (masked mean over time), broadcast
    recon_loss: Literal["l1", "smooth_l1", "l2"] = "l1"
    w_body_pose: float = 1.0
    w_betas: float = 1.0
    w_global_orient: float = 1.0
    w_transl: float = 1.0
    w_joints: float = 1.0  # joint positions through SMPL-X FK, metres
    w_velocity: float = 0.0  # frame-difference loss on the normalised parameters
    body_model_path: str | None = None  # SMPLX_NEUTRAL.npz for the joint loss; None → mannequin-x
    fps: float = 30.0  # frame rate of the motion (metadata for pipelines)

    def __post_init__(self) -> None:
        for name in ("width", "depth", "expansion", "codebook_size", "code_dim", "dilation_growth"):
            if getattr(self, name) < 1:
                raise ConfigError(f"MotionTokenizerConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.down_t < 0 or self.trunk_depth < 0 or self.expert_depth < 0 or self.expert_width < 0:
            raise ConfigError("down_t, trunk_depth, expert_depth and expert_width must be >= 0")
        if self.input_dim != sp.PARAM_DIM:
            raise ConfigError(f"input_dim must be {sp.PARAM_DIM} (SMPL-X body parameters), got {self.input_dim}")

    @property
    def frames_per_step(self) -> int:
        """r: raw frames covered by one latent step."""
        return 2**self.down_t

    @property
    def tokens_per_frame(self) -> float:
        return self.expansion / self.frames_per_step


@dataclass
class MotionTokenizerOutput(ModelOutput):
    reconstruction: torch.Tensor  # (B, T, 79) parameters in raw (denormalised) units
    indices: torch.Tensor  # (B, T'·s) code ids, step-major (the s codes of step t are contiguous)
    loss: torch.Tensor | None = None  # weighted total (scalar)
    losses: dict[str, torch.Tensor] = field(default_factory=dict)  # each term, unweighted
    perplexity: torch.Tensor | None = None  # code usage perplexity in this batch


class ResBlock1D(nn.Module):
    """Pre-activation residual block: x + Conv1(ReLU(Conv_dil(ReLU(x))))."""

    def __init__(self, width: int, dilation: int):
        super().__init__()
        self.conv1 = nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(width, width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, W, T)
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


def _resnet(width: int, depth: int, growth: int, reverse: bool = False) -> nn.Sequential:
    dilations = [growth**i for i in range(depth)]
    return nn.Sequential(*(ResBlock1D(width, d) for d in (reversed(dilations) if reverse else dilations)))


class ExpertHead(nn.Module):
    """One expert decoder: conv in, residual blocks, conv out to ``out_dim`` channels."""

    def __init__(self, width: int, head_width: int, out_dim: int, depth: int, growth: int, pool: bool):
        super().__init__()
        self.pool = pool
        self.inp = nn.Conv1d(width, head_width, 3, padding=1)
        self.body = _resnet(head_width, depth, growth, reverse=True)
        self.out = nn.Conv1d(head_width, out_dim, 1 if pool else 3, padding=0 if pool else 1)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """h: (B, W, T), mask: (B, T) → (B, out_dim, T)."""
        f = F.relu(self.body(self.inp(h)))
        if self.pool:
            w = mask[:, None, :].to(f.dtype)
            pooled = (f * w).sum(-1, keepdim=True) / w.sum(-1, keepdim=True).clamp(min=1)
            return self.out(pooled).expand(-1, -1, f.shape[-1])
        return self.out(f)


class MotionTokenizer(PretrainedModel):
    """Single-codebook VQ-VAE over 79-channel SMPL-X body parameters (see the module docstring).

    ``self.stats`` (a :class:`~unimotion.motion.stats.NormStats` of 79 channels, saved with the model)
    normalises inputs and de-normalises outputs; without it the identity is used.
    """

    config_class = MotionTokenizerConfig
    model_type = "unimo_motion_tokenizer"

    def __init__(self, config: MotionTokenizerConfig):
        super().__init__(config)
        c = config
        w, s, d = c.width, c.expansion, c.code_dim
        enc: list[nn.Module] = [nn.Conv1d(c.input_dim, w, 3, padding=1), nn.ReLU()]
        for _ in range(c.down_t):
            enc += [nn.Conv1d(w, w, 4, stride=2, padding=1), _resnet(w, c.depth, c.dilation_growth)]
        if c.down_t == 0:
            enc.append(_resnet(w, c.depth, c.dilation_growth))
        enc += [nn.ReLU(), nn.Conv1d(w, s * d, 1)]  # temporal expansion: s codes of dim d per step
        self.encoder = nn.Sequential(*enc)
        self.quantizer = VectorQuantizerEMA(
            c.codebook_size, d, decay=c.vq_decay, commitment=c.vq_commitment, dead_threshold=c.vq_dead_threshold
        )
        trunk: list[nn.Module] = [nn.Conv1d(s * d, w, 1), _resnet(w, c.trunk_depth, c.dilation_growth, reverse=True)]
        for _ in range(c.down_t):
            trunk += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv1d(w, w, 3, padding=1),
                      _resnet(w, c.depth, c.dilation_growth, reverse=True)]
        self.trunk = nn.Sequential(*trunk)
        hw = c.expert_width or w
        if c.decoder == "experts":
            self.heads = nn.ModuleDict({
                name: ExpertHead(w, hw, sl.stop - sl.start, c.expert_depth, c.dilation_growth,
                                 pool=(name == "betas" and c.betas_pool))
                for name, sl in GROUPS.items()
            })
        else:
            self.heads = nn.ModuleDict({"all": ExpertHead(w, hw, c.input_dim, c.expert_depth, c.dilation_growth, False)})
        self._body_model: sp.SMPLXBodyModel | None = None

    # ------------------------------------------------------------------ helpers
    @property
    def frames_per_step(self) -> int:
        return self.config.frames_per_step

    def num_tokens(self, num_frames: int) -> int:
        """Tokens produced for a clip of ``num_frames`` frames (must be a multiple of r)."""
        return num_frames // self.frames_per_step * self.config.expansion

    def body_model(self) -> sp.SMPLXBodyModel:
        if self._body_model is None:
            self._body_model = sp.get_body_model(self.config.body_model_path)
        return self._body_model

    def _check_motion(self, motion: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if not isinstance(motion, torch.Tensor) or motion.ndim != 3 or motion.shape[-1] != self.config.input_dim:
            shape = tuple(motion.shape) if hasattr(motion, "shape") else type(motion).__name__
            raise MotionError(f"motion must be a (B, T, {self.config.input_dim}) tensor, got {shape}")
        t = motion.shape[1]
        if t < 1 or t % self.frames_per_step:
            raise MotionError(
                f"motion length {t} must be a positive multiple of {self.frames_per_step} (2**down_t); pad the clip"
            )
        if not torch.isfinite(motion).all():
            raise MotionError("motion contains NaN or Inf")
        if mask is None:
            return torch.ones(motion.shape[:2], dtype=torch.bool, device=motion.device)
        if mask.shape != motion.shape[:2]:
            raise MotionError(f"mask must be (B, T) = {tuple(motion.shape[:2])}, got {tuple(mask.shape)}")
        return mask.bool()

    def normalize(self, motion: torch.Tensor) -> torch.Tensor:
        return self.stats.normalize(motion) if self.stats is not None else motion

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return self.stats.denormalize(x) if self.stats is not None else x

    def _step_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """(B, T) frame mask → (B, T'·s) token mask (a step is valid if any of its frames is)."""
        b, t = mask.shape
        step = mask.view(b, t // self.frames_per_step, self.frames_per_step).any(-1)
        return step.repeat_interleave(self.config.expansion, dim=1)

    # ------------------------------------------------------------------ encode / decode
    def _encode_continuous(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Normalised (B, T, 79) → pre-quantisation vectors (B, T'·s, d)."""
        h = self.encoder((x * mask[..., None].to(x.dtype)).transpose(1, 2))  # (B, s·d, T')
        b, _, tp = h.shape
        return h.transpose(1, 2).reshape(b, tp * self.config.expansion, self.config.code_dim)

    def _decode_vectors(self, z: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Quantised (B, T'·s, d) → normalised parameters (B, T, 79); ``mask`` (B, T) None = every frame valid."""
        b, n, d = z.shape
        s = self.config.expansion
        if mask is None:
            mask = torch.ones(b, n // s * self.frames_per_step, dtype=torch.bool, device=z.device)
        folded = z.reshape(b, n // s, s * d).transpose(1, 2)  # (B, s·d, T')
        h = self.trunk(folded)  # (B, W, T)
        if self.config.decoder == "shared":
            return self.heads["all"](h, mask).transpose(1, 2)
        parts = [self.heads[name](h, mask) for name in GROUPS]  # in channel order
        return torch.cat(parts, dim=1).transpose(1, 2)

    @torch.no_grad()
    def encode(self, motion: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Raw parameters (B, T, 79) → code ids (B, T/r·s) (step-major, s codes per step)."""
        mask = self._check_motion(motion, mask)
        z = self._encode_continuous(self.normalize(motion), mask)
        return self.quantizer.nearest(z.reshape(-1, z.shape[-1])).view(z.shape[:2])

    @torch.no_grad()
    def decode(self, indices: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Code ids (B, N) with N a multiple of s → raw parameters (B, N/s·r, 79).

        ``mask`` (B, T) only matters for the clip-pooled β head (which frames to average over).
        """
        s, k = self.config.expansion, self.config.codebook_size
        if indices.ndim != 2 or indices.shape[1] % s or indices.shape[1] == 0:
            raise MotionError(f"indices must be (B, N) with N a positive multiple of s={s}, got {tuple(indices.shape)}")
        if indices.dtype.is_floating_point or int(indices.min()) < 0 or int(indices.max()) >= k:
            raise MotionError(f"motion code ids must be integers in [0, {k})")
        z = self.quantizer.codes_to_vectors(indices)
        return self.denormalize(self._decode_vectors(z, mask))

    @torch.no_grad()
    def decode_expected(self, probs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Distributions over the codebook (B, N, K), N a multiple of s → raw parameters (B, N/s·r, 79) decoded
        from the probability-weighted mean code vector of every token (the expected code vector: the
        squared-error-optimal point estimate of the latent under the given distributions, not one code)."""
        s, k = self.config.expansion, self.config.codebook_size
        if probs.ndim != 3 or probs.shape[2] != k or probs.shape[1] % s or probs.shape[1] == 0:
            raise MotionError(f"probs must be (B, N, {k}) with N a positive multiple of s={s}, got {tuple(probs.shape)}")
        if not bool(torch.isfinite(probs).all()) or bool((probs < 0).any()):
            raise MotionError("probs must be finite and non-negative")
        book = self.quantizer.codes_to_vectors(torch.arange(k, device=probs.device))  # (K, d)
        z = (probs / probs.sum(-1, keepdim=True).clamp_min(1e-12)) @ book.to(probs.dtype)
        return self.denormalize(self._decode_vectors(z.to(book.dtype), mask))

    # ------------------------------------------------------------------ training
    def forward(self, motion: torch.Tensor, mask: torch.Tensor | None = None) -> MotionTokenizerOutput:
        """Reconstruct raw parameters (B, T, 79) with all losses. ``mask`` (B, T) True = valid frame."""
        mask = self._check_motion(motion, mask)
        c = self.config
        x = self.normalize(motion)
        z = self._encode_continuous(x, mask)
        q = self.quantizer(z, self._step_mask(mask))
        pred = self._decode_vectors(q.quantized, mask)  # normalised (B, T, 79)
        recon = self.denormalize(pred)

        w = mask[..., None].to(x.dtype)
        denom = w.sum().clamp(min=1)

        def rec(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            if c.recon_loss == "l1":
                err = (a - b).abs()
            elif c.recon_loss == "l2":
                err = (a - b).pow(2)
            else:
                err = F.smooth_l1_loss(a, b, reduction="none")
            return (err * w).sum() / (denom * a.shape[-1])

        losses: dict[str, torch.Tensor] = {name: rec(pred[..., sl], x[..., sl]) for name, sl in GROUPS.items()}
        total = sum(getattr(c, f"w_{name}") * losses[name] for name in GROUPS)
        if c.w_joints > 0:
            bm = self.body_model()
            j_pred = sp.smplx_forward_kinematics(recon, bm)  # (B, T, 22, 3)
            with torch.no_grad():
                j_true = sp.smplx_forward_kinematics(motion, bm)
            per_frame = (j_pred - j_true).abs().mean(dim=(-1, -2))  # (B, T)
            losses["joints"] = (per_frame * mask).sum() / mask.sum().clamp(min=1)
            total = total + c.w_joints * losses["joints"]
        if c.w_velocity > 0 and x.shape[1] > 1:
            vmask = (mask[:, 1:] & mask[:, :-1])[..., None].to(x.dtype)
            dv = ((pred[:, 1:] - pred[:, :-1]) - (x[:, 1:] - x[:, :-1])).abs()
            losses["velocity"] = (dv * vmask).sum() / (vmask.sum().clamp(min=1) * x.shape[-1])
            total = total + c.w_velocity * losses["velocity"]
        losses["commit"] = q.commit_loss
        total = total + q.commit_loss  # already weighted by β_c inside the quantizer
        return MotionTokenizerOutput(recon, q.indices, total, losses, q.perplexity)

    def training_step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        """``batch["motion"]`` (B, T, 79) raw parameters, optional ``batch["mask"]`` (B, T)."""
        out = self(batch["motion"], batch.get("mask"))
        logs = {f"loss_{k}": v.detach() for k, v in out.losses.items()}
        used = torch.unique(out.indices).numel()
        return {"loss": out.loss, **logs, "perplexity": out.perplexity.detach(),
                "codes_used": torch.tensor(float(used))}

    def dead_codes(self) -> int:
        """Codes whose EMA usage is below the dead-code threshold right now."""
        return int((self.quantizer.cluster_size < self.config.vq_dead_threshold).sum())


class CodebookUsage:
    """Accumulates code counts over many batches: perplexity, used and dead (never used) codes."""

    def __init__(self, num_codes: int):
        self.counts = torch.zeros(num_codes, dtype=torch.float64)

    def update(self, indices: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        """indices: any shape of code ids; mask: same shape, True = count it."""
        ids = indices[mask] if mask is not None else indices.reshape(-1)
        self.counts += torch.bincount(ids.reshape(-1).cpu(), minlength=self.counts.numel()).double()

    @property
    def perplexity(self) -> float:
        total = self.counts.sum()
        if total == 0:
            return 0.0
        p = self.counts / total
        return float(torch.exp(-(p[p > 0] * p[p > 0].log()).sum()))

    @property
    def used(self) -> int:
        return int((self.counts > 0).sum())

    @property
    def dead(self) -> int:
        return self.counts.numel() - self.used

    def summary(self) -> dict[str, float]:
        return {"perplexity": self.perplexity, "used": self.used, "dead": self.dead,
                "usage": self.used / self.counts.numel()}
