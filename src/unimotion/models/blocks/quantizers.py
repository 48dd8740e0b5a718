"""Quantizers shared by the VQ-VAE baseline, UniMo's motion tokenizer and UniMo's video tokenizer.

* :class:`VectorQuantizerEMA` — nearest-neighbour codebook with EMA updates, dead-code reset and a
  commitment loss; straight-through gradients (the stop-gradient of VQ-VAE).
* :class:`ResidualVQ` — a stack of such quantizers, each coding the previous residual.
* :class:`FSQ` — finite scalar quantisation (Mentzer et al. 2023): bounded per-channel rounding to
  ``levels[i]`` values, implicit codebook of ``prod(levels)`` codes, no auxiliary losses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class QuantizerOutput:
    quantized: torch.Tensor  # (B, N, D) straight-through quantised vectors
    indices: torch.Tensor  # (B, N) code ids (or (B, N, Q) for residual VQ)
    commit_loss: torch.Tensor  # scalar, already weighted
    perplexity: torch.Tensor  # scalar, exp(entropy of code usage in the batch)


class VectorQuantizerEMA(nn.Module):
    """EMA codebook (van den Oord et al. 2017; Razavi et al. 2019) with dead-code reset (T2M-GPT style).

    Args:
        num_codes: codebook size K.
        dim: code dimension D.
        decay: EMA decay of cluster sizes and sums.
        commitment: weight β of ``||z_e - sg[e]||²``.
        dead_threshold: codes whose EMA usage falls below this are re-initialised from random encoder
            outputs of the current batch (only in training mode).
    """

    def __init__(self, num_codes: int, dim: int, decay: float = 0.99, commitment: float = 0.02,
                 dead_threshold: float = 1.0, eps: float = 1e-5):
        super().__init__()
        self.num_codes, self.dim, self.decay, self.commitment = num_codes, dim, decay, commitment
        self.dead_threshold, self.eps = dead_threshold, eps
        self.register_buffer("codebook", torch.randn(num_codes, dim) * 0.02)
        self.register_buffer("cluster_size", torch.ones(num_codes))
        self.register_buffer("embed_sum", self.codebook.clone())
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def _init_from(self, flat: torch.Tensor) -> None:
        idx = torch.randint(0, flat.shape[0], (self.num_codes,), device=flat.device)
        self.codebook.copy_(flat[idx])
        self.embed_sum.copy_(flat[idx])
        self.cluster_size.fill_(1.0)
        self.initialized.fill_(True)

    def codes_to_vectors(self, indices: torch.Tensor) -> torch.Tensor:
        """(...,) code ids → (..., D) codebook vectors."""
        return F.embedding(indices, self.codebook)

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        dist = (
            flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.codebook.t() + self.codebook.pow(2).sum(1)[None]
        )
        return dist.argmin(1)

    def forward(self, z: torch.Tensor, mask: torch.Tensor | None = None) -> QuantizerOutput:
        """z: (B, N, D); mask: (B, N) True where valid (padding neither updates nor is counted)."""
        b, n, d = z.shape
        flat = z.reshape(-1, d)
        valid = mask.reshape(-1) if mask is not None else torch.ones(flat.shape[0], dtype=torch.bool, device=z.device)
        if self.training and not bool(self.initialized):
            self._init_from(flat.detach()[valid])
        idx = self.nearest(flat.detach())
        onehot = F.one_hot(idx, self.num_codes).type(flat.dtype) * valid[:, None]
        if self.training:
            with torch.no_grad():
                counts = onehot.sum(0)
                sums = onehot.t() @ flat.detach()
                if torch.distributed.is_available() and torch.distributed.is_initialized():
                    torch.distributed.all_reduce(counts)
                    torch.distributed.all_reduce(sums)
                self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
                self.embed_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
                total = self.cluster_size.sum()
                size = (self.cluster_size + self.eps) / (total + self.num_codes * self.eps) * total
                self.codebook.copy_(self.embed_sum / size[:, None])
                dead = self.cluster_size < self.dead_threshold
                if dead.any():
                    pool = flat.detach()[valid]
                    pick = torch.randint(0, pool.shape[0], (int(dead.sum()),), device=z.device)
                    self.codebook[dead] = pool[pick]
                    self.embed_sum[dead] = pool[pick]
                    self.cluster_size[dead] = 1.0
        q = self.codes_to_vectors(idx).view(b, n, d)
        w = valid.view(b, n, 1).type(z.dtype)
        commit = ((z - q.detach()).pow(2) * w).sum() / (w.sum() * d).clamp(min=1)
        q_st = z + (q - z).detach()
        probs = onehot.sum(0) / valid.sum().clamp(min=1)
        perplexity = torch.exp(-(probs * torch.log(probs + 1e-10)).sum())
        return QuantizerOutput(q_st, idx.view(b, n), self.commitment * commit, perplexity)


class ResidualVQ(nn.Module):
    """``num_quantizers`` EMA quantizers applied to successive residuals; codes sum to the output."""

    def __init__(self, num_quantizers: int, num_codes: int, dim: int, **kwargs):
        super().__init__()
        self.layers = nn.ModuleList(VectorQuantizerEMA(num_codes, dim, **kwargs) for _ in range(num_quantizers))

    def codes_to_vectors(self, indices: torch.Tensor) -> torch.Tensor:
        """(..., Q) → (..., D)."""
        return sum(layer.codes_to_vectors(indices[..., i]) for i, layer in enumerate(self.layers))

    def forward(self, z: torch.Tensor, mask: torch.Tensor | None = None) -> QuantizerOutput:
        residual, total = z, torch.zeros_like(z)
        indices, losses, perps = [], [], []
        for layer in self.layers:
            out = layer(residual, mask)
            total = total + out.quantized
            residual = residual - out.quantized.detach()
            indices.append(out.indices)
            losses.append(out.commit_loss)
            perps.append(out.perplexity)
        q_st = z + (total - z).detach()
        return QuantizerOutput(q_st, torch.stack(indices, -1), torch.stack(losses).sum(), torch.stack(perps).mean())


class FSQ(nn.Module):
    """Finite scalar quantisation: each of ``len(levels)`` channels is squashed and rounded to
    ``levels[i]`` values. Codebook size ``prod(levels)``; straight-through rounding; no losses."""

    def __init__(self, levels: list[int] | tuple[int, ...]):
        super().__init__()
        if any(int(v) < 2 for v in levels):  # checked on the Python values: also works on the meta device
            raise ValueError(f"FSQ levels must all be >= 2, got {list(levels)}")
        levels_t = torch.tensor(list(levels), dtype=torch.int64)
        self.register_buffer("levels", levels_t, persistent=False)
        basis = torch.cumprod(torch.cat([torch.ones(1, dtype=torch.int64), levels_t[:-1]]), 0)
        self.register_buffer("basis", basis, persistent=False)
        self.dim = len(levels)
        self.num_codes = int(math.prod(int(v) for v in levels))

    def _bound(self, z: torch.Tensor) -> torch.Tensor:
        half = (self.levels.to(z.dtype) - 1) / 2
        offset = torch.where(self.levels % 2 == 0, 0.5, 0.0).to(z.dtype)
        shift = torch.atanh(offset / half)
        return torch.tanh(z + shift) * half - offset

    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        """z: (..., dim) → quantised values in [-1, 1] per channel (straight-through)."""
        if z.shape[-1] != self.dim:
            raise ValueError(f"FSQ expects {self.dim} channels, got {z.shape[-1]}")
        bounded = self._bound(z)
        rounded = bounded + (bounded.round() - bounded).detach()
        half_width = (self.levels // 2).to(z.dtype)
        quantized = rounded / half_width
        indices = self.codes_from_quantized(quantized)
        zero = z.new_zeros(())
        return QuantizerOutput(quantized, indices, zero, zero)

    def codes_from_quantized(self, quantized: torch.Tensor) -> torch.Tensor:
        half_width = (self.levels // 2).to(quantized.dtype)
        digits = (quantized * half_width + half_width).round().long()
        return (digits * self.basis).sum(-1)

    def codes_to_vectors(self, indices: torch.Tensor) -> torch.Tensor:
        """(...,) code ids → (..., dim) quantised values."""
        digits = (indices[..., None] // self.basis) % self.levels
        half_width = (self.levels // 2).to(torch.float32)
        return (digits.to(torch.float32) - half_width) / half_width
