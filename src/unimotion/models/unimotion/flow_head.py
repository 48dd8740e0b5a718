"""Motion flow head (spec §4.6): backbone hidden states at a motion span → velocity in latent space.

Structure (Show-o2's head, made lightweight): Linear(H → W) + learned positions, ``num_blocks`` AdaLN-modulated
bidirectional attention blocks (adaLN-Zero), and a final layer (LayerNorm modulated by shift/scale, then
Linear(W → d)) whose modulation and output projection are **zero-initialised**, so a new head predicts v = 0.

AdaLN conditioning, per token: ``c = TimeEmbed(t) + Linear(z_t)``.

* The time embedding is how t reaches the head (as in Show-o2).
* ``Linear(z_t)`` is how the noisy latent reaches the head. In LRA (spec §5.2) this is the *only* path of z_t —
  the backbone sees the clean condition — exactly as the paper prescribes ("z_t only via AdaLN"). For the normal
  generation tasks z_t also enters the backbone through the embedder (Show-o2 style); ``zt_conditioning =
  "always"`` (default) keeps the AdaLN path there too, so the head calibrated by LRA is the head reused by T2M
  (spec §5.2 "T2M reuses the pre-calibrated flow head"); ``"lra_only"`` drops it outside LRA.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ...errors import ConfigError
from .layers import AdaLNBlock, TimestepEmbedder, key_padding_attn_mask, modulate

__all__ = ["FlowHeadConfig", "MotionFlowHead"]


@dataclass
class FlowHeadConfig:
    """Flow-head hyper-parameters (paper: "lightweight", sizes not given; Show-o2 1.5B uses 10 blocks).

    Attributes:
        num_blocks: AdaLN-modulated attention blocks.
        width: internal width W; None = the backbone hidden size.
        num_heads: attention heads.
        mlp_ratio: MLP hidden size / W.
        positions: add learned positions to the head input.
        zt_conditioning: "always" or "lra_only" (see module docstring).
    """

    num_blocks: int = 2
    width: int | None = None
    num_heads: int = 4
    mlp_ratio: float = 4.0
    positions: bool = True
    zt_conditioning: Literal["always", "lra_only"] = "always"

    def __post_init__(self) -> None:
        if self.num_blocks < 0:
            raise ConfigError(f"flow_head.num_blocks must be >= 0, got {self.num_blocks}")
        if self.width is not None and self.width % self.num_heads:
            raise ConfigError(f"flow_head.width {self.width} must be divisible by num_heads {self.num_heads}")


class _FinalLayer(nn.Module):
    def __init__(self, width: int, out_dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
        self.linear = nn.Linear(width, out_dim)
        for layer in (self.modulation[1], self.linear):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        shift, scale = self.modulation(cond).chunk(2, dim=-1)
        return self.linear(modulate(self.norm(x), shift, scale))


class MotionFlowHead(nn.Module):
    """h (N, T, H), t (N,), z_t (N, T, d) → v̂ (N, T, d)."""

    def __init__(self, config: FlowHeadConfig, hidden_size: int, latent_dim: int, max_len: int):
        super().__init__()
        self.config = config
        width = config.width or hidden_size
        if width % config.num_heads:
            raise ConfigError(f"flow head width {width} must be divisible by num_heads {config.num_heads}")
        self.max_len = max_len
        self.in_proj = nn.Linear(hidden_size, width) if width != hidden_size else nn.Identity()
        self.pos = nn.Parameter(torch.randn(max_len, width) * 0.02) if config.positions else None
        self.t_embed = TimestepEmbedder(width)
        self.z_embed = nn.Linear(latent_dim, width)
        self.blocks = nn.ModuleList(
            AdaLNBlock(width, config.num_heads, config.mlp_ratio) for _ in range(config.num_blocks)
        )
        self.final = _FinalLayer(width, latent_dim)

    def forward(
        self,
        hidden: torch.Tensor,
        t: torch.Tensor,
        z_t: torch.Tensor | None,
        mask: torch.Tensor | None = None,
        lra: bool | torch.Tensor = False,
    ) -> torch.Tensor:
        """
        Args:
            hidden: (N, T, H) backbone hidden states at the span's latent tokens.
            t: (N,) flow time of each span.
            z_t: (N, T, d) the noisy latent (AdaLN path); may be None only when it is not used.
            mask: (N, T) bool valid tokens.
            lra: True (or a (N,) bool per span) for LRA spans, whose z_t is always used.
        Returns:
            (N, T, d) predicted velocity.
        """
        T = hidden.shape[1]
        if T > self.max_len:
            raise ValueError(f"motion span of {T} latent tokens exceeds max_latent_len={self.max_len}")
        x = self.in_proj(hidden)
        if self.pos is not None:
            x = x + self.pos[:T]
        cond = self.t_embed(t)[:, None, :]  # (N, 1, W)
        if self.config.zt_conditioning == "always":
            use_zt: bool | torch.Tensor = True
        elif isinstance(lra, torch.Tensor):
            use_zt = lra.to(hidden.device, torch.bool)
        else:
            use_zt = bool(lra)
        if use_zt is True or (isinstance(use_zt, torch.Tensor) and bool(use_zt.any())):
            if z_t is None:
                raise ValueError("the flow head needs z_t for its AdaLN conditioning")
            zc = self.z_embed(z_t)  # (N, T, W)
            if isinstance(use_zt, torch.Tensor):
                zc = zc * use_zt.to(zc.dtype)[:, None, None]
            cond = cond + zc
        attn_mask = key_padding_attn_mask(mask)
        for block in self.blocks:
            x = block(x, cond, attn_mask)
        return self.final(x, cond)
