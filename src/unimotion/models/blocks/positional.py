"""Positional encodings for token sequences (batch first).

* :class:`LearnedPositionalEmbedding` — a trainable table of ``max_len`` vectors (MLD's "learned"
  encoding); sequences longer than the table are rejected.
* :class:`SinusoidalPositionalEmbedding` — the fixed sin/cos encoding of Vaswani et al. (2017), any length.

Both add ``pe[offset : offset + S]`` to an input of shape (B, S, D), or return the (S, D) table itself
through :meth:`table`.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from ...errors import InputError

PositionalKind = Literal["learned", "sinusoidal"]


class LearnedPositionalEmbedding(nn.Module):
    """A trainable (max_len, dim) table, initialised N(0, init_std²)."""

    def __init__(self, max_len: int, dim: int, init_std: float = 0.02):
        super().__init__()
        if max_len < 1 or dim < 1:
            raise ValueError(f"max_len and dim must be positive, got {max_len}, {dim}")
        self.max_len, self.dim = max_len, dim
        self.weight = nn.Parameter(torch.randn(max_len, dim) * init_std)

    def table(self, length: int, offset: int = 0) -> torch.Tensor:
        """The (length, dim) slice of positions ``offset .. offset + length - 1``."""
        if offset < 0 or offset + length > self.max_len:
            raise InputError(
                f"sequence of {length} positions (offset {offset}) exceeds the learned positional table "
                f"of {self.max_len}; raise max_frames in the model config"
            )
        return self.weight[offset : offset + length]

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """x: (B, S, dim) → x + pe[offset : offset + S]."""
        return x + self.table(x.shape[1], offset).to(x.dtype)


class SinusoidalPositionalEmbedding(nn.Module):
    """Fixed sin/cos encoding: pe[p, 2i] = sin(p / base^(2i/dim)), pe[p, 2i+1] = cos(...)."""

    def __init__(self, dim: int, base: float = 10000.0):
        super().__init__()
        if dim < 2 or dim % 2:
            raise ValueError(f"sinusoidal positional encoding needs an even dim >= 2, got {dim}")
        self.dim, self.base = dim, base
        inv_freq = torch.exp(-math.log(base) * torch.arange(0, dim, 2, dtype=torch.float32) / dim)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def table(self, length: int, offset: int = 0) -> torch.Tensor:
        """The (length, dim) encoding of positions ``offset .. offset + length - 1``."""
        pos = torch.arange(offset, offset + length, device=self.inv_freq.device, dtype=torch.float32)
        angles = pos[:, None] * self.inv_freq[None]
        pe = torch.stack([angles.sin(), angles.cos()], dim=-1)  # (S, dim/2, 2)
        return pe.reshape(length, self.dim)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """x: (B, S, dim) → x + pe[offset : offset + S]."""
        return x + self.table(x.shape[1], offset).to(x.dtype)


def build_positional(kind: PositionalKind, max_len: int, dim: int) -> nn.Module:
    """A positional encoding module of the given kind (``max_len`` only matters for ``learned``)."""
    if kind == "learned":
        return LearnedPositionalEmbedding(max_len, dim)
    if kind == "sinusoidal":
        return SinusoidalPositionalEmbedding(dim)
    raise ValueError(f"unknown positional encoding {kind!r}; expected 'learned' or 'sinusoidal'")
