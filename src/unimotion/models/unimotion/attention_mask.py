"""Hybrid attention: causal across the sequence, bidirectional inside each modality span (spec §4.4).

A query at column i may attend to key column j when the key is a real token and either j ≤ i (causal) or
i and j lie in the same modality span (motion, or later image). Tokens of one span therefore see each other,
and no token ever sees a later token outside its own span — so appending tokens never changes earlier
outputs, which is what makes the prefix KV cache of :mod:`.sampling` exact.

Spans are given per token as ``span_ids`` (B, L): −1 outside spans, otherwise an id unique within the row.
The mask goes to the Hugging Face model as a 4D additive float mask (0 = allowed, dtype min = blocked),
which transformers passes through unchanged to the eager and sdpa attention kernels.
"""

from __future__ import annotations

import torch

__all__ = ["hybrid_attention_mask", "to_additive_mask", "slice_mask"]


def hybrid_attention_mask(span_ids: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Boolean hybrid mask.

    Args:
        span_ids: (B, L) long, −1 outside spans, else the span's id within the row.
        valid: (B, L) bool, False for padding.
    Returns:
        (B, 1, L, L) bool, True = query row may attend to key column. Padding query rows attend to themselves
        only (their outputs are never used; this avoids all-blocked rows, whose softmax would be NaN).
    """
    if span_ids.shape != valid.shape or span_ids.ndim != 2:
        raise ValueError(f"span_ids {tuple(span_ids.shape)} and valid {tuple(valid.shape)} must both be (B, L)")
    L = span_ids.shape[1]
    idx = torch.arange(L, device=span_ids.device)
    causal = idx[None, :] <= idx[:, None]  # (L, L): key j <= query i
    same_span = (span_ids[:, :, None] == span_ids[:, None, :]) & (span_ids[:, :, None] >= 0)  # (B, L, L)
    allowed = (causal[None] | same_span) & valid[:, None, :] & valid[:, :, None]
    eye = torch.eye(L, dtype=torch.bool, device=span_ids.device)
    allowed = allowed | (eye[None] & ~valid[:, :, None])
    return allowed[:, None]


def to_additive_mask(allowed: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Bool mask → additive float mask: 0 where allowed, ``finfo(dtype).min`` where blocked."""
    out = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device)
    return out.masked_fill(~allowed, torch.finfo(dtype).min)


def slice_mask(mask: torch.Tensor, query_cols: slice | torch.Tensor, key_cols: slice | torch.Tensor) -> torch.Tensor:
    """Rows ``query_cols`` and columns ``key_cols`` of a (B, 1, L, L) mask (for cached forwards)."""
    return mask[:, :, query_cols][..., key_cols]
