"""Small building blocks of the UniMotion embedders and flow head (no Hugging Face code involved).

* :class:`MLP` — Linear → GELU → Linear.
* :class:`TransformerBlock` — pre-norm self-attention + MLP with a key-padding mask (bidirectional).
* :class:`AdaLNBlock` — the same block with adaptive LayerNorm modulation (shift/scale/gate ×2, DiT's
  adaLN-Zero: the modulation is zero-initialised, so a new block is the identity).
* :class:`TimestepEmbedder` — sinusoidal features of t ∈ [0, 1] (scaled by 1000, as in DiT/Show-o2) → MLP.

Attention uses ``F.scaled_dot_product_attention`` with a boolean mask; padded *query* rows are allowed to see
every key (their outputs are ignored), so no row is all-blocked.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MLP", "TransformerBlock", "AdaLNBlock", "TimestepEmbedder", "modulate", "key_padding_attn_mask"]


class MLP(nn.Module):
    def __init__(self, d_in: int, d_hidden: int, d_out: int, dropout: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(d_in, d_hidden)
        self.fc2 = nn.Linear(d_hidden, d_out)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(F.gelu(self.fc1(x))))


def key_padding_attn_mask(mask: torch.Tensor | None) -> torch.Tensor | None:
    """(N, T) bool valid → (N, 1, T, T) bool attention mask (True = attend); None stays None."""
    if mask is None:
        return None
    allowed = mask[:, None, None, :].expand(-1, 1, mask.shape[1], -1)
    return allowed | ~mask[:, None, :, None]  # padded queries see everything (ignored later)


class _SelfAttention(nn.Module):
    def __init__(self, width: int, num_heads: int, dropout: float = 0.0):
        super().__init__()
        if width % num_heads:
            raise ValueError(f"width {width} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:  # (N, T, W)
        N, T, W = x.shape
        q, k, v = self.qkv(x).view(N, T, 3, self.num_heads, W // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
        )
        return self.proj(out.transpose(1, 2).reshape(N, T, W))


class TransformerBlock(nn.Module):
    """Pre-norm bidirectional Transformer block."""

    def __init__(self, width: int, num_heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attn = _SelfAttention(width, num_heads, dropout)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = MLP(width, int(width * mlp_ratio), width, dropout)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), attn_mask)
        return x + self.mlp(self.norm2(x))


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """x·(1 + scale) + shift, with shift/scale broadcastable to x."""
    return x * (1 + scale) + shift


class AdaLNBlock(nn.Module):
    """Transformer block whose two LayerNorms are modulated by a conditioning vector per token (adaLN-Zero)."""

    def __init__(self, width: int, num_heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.attn = _SelfAttention(width, num_heads, dropout)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.mlp = MLP(width, int(width * mlp_ratio), width, dropout)
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))
        nn.init.zeros_(self.modulation[1].weight)
        nn.init.zeros_(self.modulation[1].bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (N, T, W); cond: (N, T, W) or (N, 1, W)."""
        sh1, sc1, g1, sh2, sc2, g2 = self.modulation(cond).chunk(6, dim=-1)
        x = x + g1 * self.attn(modulate(self.norm1(x), sh1, sc1), attn_mask)
        return x + g2 * self.mlp(modulate(self.norm2(x), sh2, sc2))


class TimestepEmbedder(nn.Module):
    """t ∈ [0, 1] (N,) → (N, width): sinusoidal features of 1000·t, then Linear → SiLU → Linear."""

    def __init__(self, width: int, frequency_dim: int = 256, max_period: float = 10000.0):
        super().__init__()
        self.frequency_dim = frequency_dim
        self.max_period = max_period
        self.mlp = nn.Sequential(nn.Linear(frequency_dim, width), nn.SiLU(), nn.Linear(width, width))

    def sinusoidal(self, t: torch.Tensor) -> torch.Tensor:
        half = self.frequency_dim // 2
        freqs = torch.exp(-math.log(self.max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
        args = (1000.0 * t.float())[:, None] * freqs[None]
        emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
        if self.frequency_dim % 2:
            emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
        return emb

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        w = self.mlp[0].weight
        return self.mlp(self.sinusoidal(t).to(w.dtype))
