"""The motion dual-path embedder (spec §4.2): motion latents z (N, T, d) → LLM input embeddings (N, T, H).

* **Semantic branch** (the motion analogue of SigLIP): MLP(d → w_s) + learned positions + ``semantic_layers``
  bidirectional Transformer blocks at width w_s.
* **Generation branch** (the analogue of Show-o2's PatchEmbed): MLP(d → H) + learned positions; keeps the
  fine detail.
* **Fusion**: concat → RMSNorm(w_s + H) → Linear → GELU → Linear(→ H), as Show-o2 fuses its two image paths.

Every task uses the fused embedding; clean source spans and noisy target spans (z_t) go through the same
embedder. Either branch can be switched off for the Table-11 ablation (the fusion then reads the remaining
branch only). The paper gives no widths or depths (spec §10.5); the defaults are sized for the tiny backbone,
Show-o2's values (w_s = 1152, 8 semantic layers) are one config away.

:class:`TimeTokenEmbedder` turns the flow time t into the extra token placed at the start of each span when
``UniMotionConfig.time_token`` is on (Show-o2 prepends such a token to each visual span).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...errors import ConfigError
from .layers import MLP, TimestepEmbedder, TransformerBlock, key_padding_attn_mask

__all__ = ["EmbedderConfig", "MotionDualPathEmbedder", "TimeTokenEmbedder"]


@dataclass
class EmbedderConfig:
    """Dual-path embedder hyper-parameters (all open in the paper).

    Attributes:
        use_semantic / use_generation: switch a branch off (ablation); at least one must stay on.
        semantic_width: width w_s of the semantic branch (Show-o2: 1152).
        semantic_layers: Transformer blocks in the semantic branch (spec suggests 2–4).
        semantic_heads: attention heads of those blocks.
        mlp_ratio: hidden size of every MLP relative to its output width (input MLPs use ratio × out).
        fusion_hidden: hidden width of the fusion MLP; None = the backbone hidden size.
        dropout: dropout inside the branches.
    """

    use_semantic: bool = True
    use_generation: bool = True
    semantic_width: int = 256
    semantic_layers: int = 2
    semantic_heads: int = 4
    mlp_ratio: float = 2.0
    fusion_hidden: int | None = None
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if not (self.use_semantic or self.use_generation):
            raise ConfigError("embedder: at least one of use_semantic / use_generation must be true")
        if self.use_semantic and self.semantic_width % self.semantic_heads:
            raise ConfigError(
                f"embedder.semantic_width {self.semantic_width} must be divisible by semantic_heads "
                f"{self.semantic_heads}"
            )


class MotionDualPathEmbedder(nn.Module):
    """z (N, T, d), mask (N, T) → fused embeddings (N, T, hidden)."""

    def __init__(self, config: EmbedderConfig, latent_dim: int, hidden_size: int, max_len: int):
        super().__init__()
        self.config = config
        self.max_len = max_len
        c = config
        width_in = 0
        if c.use_semantic:
            w = c.semantic_width
            self.sem_in = MLP(latent_dim, int(w * c.mlp_ratio), w, c.dropout)
            self.sem_pos = nn.Parameter(torch.randn(max_len, w) * 0.02)
            self.sem_blocks = nn.ModuleList(
                TransformerBlock(w, c.semantic_heads, c.mlp_ratio, c.dropout) for _ in range(c.semantic_layers)
            )
            self.sem_norm = nn.LayerNorm(w)
            width_in += w
        if c.use_generation:
            self.gen_in = MLP(latent_dim, int(hidden_size * c.mlp_ratio), hidden_size, c.dropout)
            self.gen_pos = nn.Parameter(torch.randn(max_len, hidden_size) * 0.02)
            width_in += hidden_size
        fh = c.fusion_hidden or hidden_size
        self.fuse_norm = nn.RMSNorm(width_in, eps=1e-6)
        self.fuse = MLP(width_in, fh, hidden_size)

    def forward(self, z: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """z: (N, T, d) latents (clean or noisy); mask: (N, T) bool valid. Returns (N, T, hidden)."""
        T = z.shape[1]
        if T > self.max_len:
            raise ValueError(f"motion span of {T} latent tokens exceeds max_latent_len={self.max_len}")
        parts = []
        if self.config.use_semantic:
            s = self.sem_in(z) + self.sem_pos[:T]
            attn_mask = key_padding_attn_mask(mask)
            for block in self.sem_blocks:
                s = block(s, attn_mask)
            parts.append(self.sem_norm(s))
        if self.config.use_generation:
            parts.append(self.gen_in(z) + self.gen_pos[:T])
        return self.fuse(self.fuse_norm(torch.cat(parts, dim=-1)))


class TimeTokenEmbedder(nn.Module):
    """t (N,) → the time token's input embedding (N, hidden)."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.embed = TimestepEmbedder(hidden_size)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.embed(t)
