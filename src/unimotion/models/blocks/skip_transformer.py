"""SkipTransformer: a transformer stack with long skip connections between mirrored layers (MLD).

Structure (Chen et al., "Executing your Commands via Motion Diffusion in Latent Space", CVPR 2023; the
layout was read from ChenFengYe/motion-latent-diffusion, ``mld/models/operator/cross_attention.py``, and
re-implemented here)::

    x ─► in_1 ─► in_2 ─► ... ─► in_n ─► middle ─► [cat in_n] ─► Linear(2D→D) ─► out_1 ─► ... ─► out_n ─► LayerNorm
            └──────────────────────────────────────────┘ (skip)  ...  (skip from in_1 reaches out_n)

with ``num_layers = 2n + 1`` (odd). Every layer is a standard transformer layer (self-attention, optional
cross-attention to a ``context`` sequence, feed-forward), post-norm by default as in MLD
(``norm_first=True`` gives pre-norm). Masks are boolean with True = valid: padded keys are excluded from
attention, so the outputs at valid positions do not depend on how much padding a batch carries.
Matrices are Xavier-uniform initialised, like the reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError


@dataclass
class SkipTransformerConfig:
    """Size of one SkipTransformer stack (its width is given by the model that owns it).

    MLD's VAE defaults: 9 layers, 4 heads, feed-forward 1024, dropout 0.1, GELU, post-norm.
    """

    num_layers: int = 9  # odd: (num_layers - 1) / 2 input layers, a middle layer, as many output layers
    num_heads: int = 4
    ff_dim: int = 1024  # hidden width of the feed-forward block
    dropout: float = 0.1  # on attention weights, after attention/FF and inside FF
    activation: Literal["gelu", "relu"] = "gelu"
    norm_first: bool = False  # False: post-norm (MLD); True: pre-norm

    def __post_init__(self) -> None:
        if self.num_layers < 1 or self.num_layers % 2 == 0:
            raise ConfigError(f"SkipTransformer num_layers must be odd and >= 1, got {self.num_layers}")
        if self.num_heads < 1 or self.ff_dim < 1:
            raise ConfigError(f"num_heads and ff_dim must be positive, got {self.num_heads}, {self.ff_dim}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")

    def check_width(self, width: int) -> None:
        """Raise ConfigError if ``width`` cannot be split into ``num_heads`` heads."""
        if width % self.num_heads:
            raise ConfigError(f"width {width} is not divisible by num_heads {self.num_heads}")


class MultiHeadAttention(nn.Module):
    """Multi-head attention on batch-first tensors with a boolean key mask (True = attend)."""

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.0, context_dim: int | None = None):
        super().__init__()
        if dim % num_heads:
            raise ConfigError(f"width {dim} is not divisible by num_heads {num_heads}")
        self.num_heads, self.head_dim, self.dropout = num_heads, dim // num_heads, dropout
        kv_dim = context_dim or dim
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(kv_dim, dim)
        self.v = nn.Linear(kv_dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None, key_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """x: (B, S, D) queries; context: (B, S_kv, D_kv) keys/values (x itself when None);
        key_mask: (B, S_kv) bool, True = valid. Every row of key_mask needs one True. → (B, S, D)."""
        ctx = x if context is None else context
        b, s, _ = x.shape
        q = self.q(x).view(b, s, self.num_heads, self.head_dim).transpose(1, 2)
        k = self.k(ctx).view(b, ctx.shape[1], self.num_heads, self.head_dim).transpose(1, 2)
        v = self.v(ctx).view(b, ctx.shape[1], self.num_heads, self.head_dim).transpose(1, 2)
        attn_mask = key_mask[:, None, None, :] if key_mask is not None else None
        dropout_p = self.dropout if self.training else 0.0
        if dropout_p > 0 and q.device.type == "cpu":
            # On CPU, SDPA with dropout_p > 0 falls back to a path ~25x slower than this explicit form
            # (measured: 3.3 s vs 0.14 s for B=32, H=4, S=100); the math is the same.
            scores = (q @ k.transpose(-2, -1)) * self.head_dim**-0.5
            if attn_mask is not None:
                scores = scores.masked_fill(~attn_mask, float("-inf"))
            y = F.dropout(torch.softmax(scores, dim=-1), dropout_p) @ v
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p)
        return self.out(y.transpose(1, 2).reshape(b, s, -1))


class TransformerLayer(nn.Module):
    """Self-attention (+ optional cross-attention) + feed-forward, post- or pre-norm."""

    def __init__(self, dim: int, cfg: SkipTransformerConfig, cross_attention: bool = False,
                 context_dim: int | None = None):
        super().__init__()
        self.norm_first = cfg.norm_first
        self.self_attn = MultiHeadAttention(dim, cfg.num_heads, cfg.dropout)
        self.norm1 = nn.LayerNorm(dim)
        self.cross_attn = MultiHeadAttention(dim, cfg.num_heads, cfg.dropout, context_dim) if cross_attention else None
        self.norm_cross = nn.LayerNorm(dim) if cross_attention else None
        self.ff = nn.Sequential(
            nn.Linear(dim, cfg.ff_dim),
            nn.GELU() if cfg.activation == "gelu" else nn.ReLU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.ff_dim, dim),
        )
        self.norm2 = nn.LayerNorm(dim)
        self.drop = nn.Dropout(cfg.dropout)

    def _block(self, x: torch.Tensor, norm: nn.Module, fn) -> torch.Tensor:
        if self.norm_first:
            return x + self.drop(fn(norm(x)))
        return norm(x + self.drop(fn(x)))

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        context: torch.Tensor | None = None,
        context_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x: (B, S, D); mask: (B, S); context: (B, S_c, D_c); context_mask: (B, S_c) → (B, S, D)."""
        x = self._block(x, self.norm1, lambda h: self.self_attn(h, key_mask=mask))
        if self.cross_attn is not None:
            if context is None:
                raise ValueError("this layer has cross-attention: pass a context sequence")
            x = self._block(x, self.norm_cross, lambda h: self.cross_attn(h, context, key_mask=context_mask))
        return self._block(x, self.norm2, self.ff)


class SkipTransformer(nn.Module):
    """MLD-style transformer with long skips between mirrored layers.

    Args:
        dim: token width D.
        cfg: depth / heads / FF / dropout / norm placement.
        cross_attention: every layer also attends to a ``context`` sequence (decoder use).
        context_dim: width of the context (defaults to ``dim``).
    """

    def __init__(self, dim: int, cfg: SkipTransformerConfig, cross_attention: bool = False,
                 context_dim: int | None = None):
        super().__init__()
        cfg.check_width(dim)
        self.dim, self.cross_attention = dim, cross_attention
        n = (cfg.num_layers - 1) // 2

        def layer() -> TransformerLayer:
            return TransformerLayer(dim, cfg, cross_attention, context_dim)

        self.input_blocks = nn.ModuleList(layer() for _ in range(n))
        self.middle_block = layer()
        self.output_blocks = nn.ModuleList(layer() for _ in range(n))
        self.skip_linears = nn.ModuleList(nn.Linear(2 * dim, dim) for _ in range(n))
        self.norm = nn.LayerNorm(dim)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        context: torch.Tensor | None = None,
        context_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x: (B, S, D); mask: (B, S) bool True = valid; context: (B, S_c, D_c); context_mask: (B, S_c).

        Returns (B, S, D). Values at padded positions are meaningless (callers zero or ignore them).
        """
        kwargs = {"mask": mask, "context": context, "context_mask": context_mask}
        skips = []
        for block in self.input_blocks:
            x = block(x, **kwargs)
            skips.append(x)
        x = self.middle_block(x, **kwargs)
        for block, linear in zip(self.output_blocks, self.skip_linears, strict=True):
            x = linear(torch.cat([x, skips.pop()], dim=-1))
            x = block(x, **kwargs)
        return self.norm(x)
