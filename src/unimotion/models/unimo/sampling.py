"""Sampling for UniMo: temperature / top-k / top-p / greedy, and layout-constrained decoding.

:func:`generate_tokens` fills the PLACEHOLDER positions of a laid-out batch (see
:mod:`~unimotion.models.unimo.layouts`) left to right. At each position the layout says which modality
comes next, so the logits are cut to that modality's id range before sampling (a video position can only
receive a video code, a motion position a motion code); special tokens and given (condition) tokens are
written as they are. With ``use_cache=True`` the prefix is run once and every later step feeds a single
token through the key/value cache; ``use_cache=False`` re-runs the whole prefix each step (slow; the
reference the cache is tested against). :func:`fill_in_parallel` fills every placeholder from one forward
pass instead (masked V2M, whose model never reads the motion tokens it predicts).

Defaults follow the spec's inferences (§4.7): I2VM video at temperature 0.6–1.0 with top-p 0.9 (Cosmos'
defaults), V2M motion greedy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ...errors import InputError
from .layouts import Modality, Vocab


@dataclass
class SamplingConfig:
    """How one modality is sampled. ``temperature <= 0`` or ``greedy=True`` means argmax."""

    temperature: float = 1.0
    top_k: int = 0  # 0 disables
    top_p: float = 1.0  # 1 disables (nucleus sampling)
    greedy: bool = False

    def __post_init__(self) -> None:
        if self.top_k < 0:
            raise InputError(f"top_k must be >= 0, got {self.top_k}")
        if not 0.0 < self.top_p <= 1.0:
            raise InputError(f"top_p must be in (0, 1], got {self.top_p}")

    @property
    def is_greedy(self) -> bool:
        return self.greedy or self.temperature <= 0


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Set logits outside the top-k and outside the top-p nucleus to -inf. logits: (B, V) → (B, V).

    The nucleus keeps the smallest set of most likely tokens whose probability reaches ``top_p`` (the
    most likely token is always kept).
    """
    out = logits.clone()
    if top_k > 0 and top_k < out.shape[-1]:
        kth = torch.topk(out, top_k, dim=-1).values[..., -1:]
        out = out.masked_fill(out < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(out, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        before = torch.cumsum(probs, dim=-1) - probs  # mass strictly before each token
        drop_sorted = before >= top_p
        drop_sorted[..., 0] = False
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        out = out.masked_fill(drop, float("-inf"))
    return out


def sample_logits(logits: torch.Tensor, config: SamplingConfig, generator: torch.Generator | None = None
                  ) -> torch.Tensor:
    """Draw one id per row of ``logits`` (B, V) → (B,) long."""
    if config.is_greedy:
        return logits.argmax(dim=-1)
    filtered = filter_logits(logits.float() / config.temperature, config.top_k, config.top_p)
    probs = torch.softmax(filtered, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


_POSITION_FIELDS = ("modality", "time", "row", "col", "sub")


def placeholder_positions(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """(n,) positions of the PLACEHOLDERs of ``batch["ids"]`` (B, L), after checking that every row shares one
    layout (same placeholders and modalities) and that position 0 (``<BOS>``) is given."""
    unknown = batch["ids"] < 0
    if not bool((unknown == unknown[:1]).all()) or not bool((batch["modality"] == batch["modality"][:1]).all()):
        raise InputError("all sequences of a generation batch must share one layout (task and geometry)")
    todo = torch.nonzero(unknown[0]).flatten()
    if len(todo) and int(todo[0]) == 0:
        raise InputError("the first token of a layout cannot be generated (it must be <BOS>)")
    return todo


@torch.no_grad()
def generate_tokens(
    model: Any,
    batch: dict[str, torch.Tensor],
    vocab: Vocab,
    sampling: dict[Modality, SamplingConfig],
    generator: torch.Generator | None = None,
    use_cache: bool = True,
    return_logits: bool = False,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Fill every PLACEHOLDER of ``batch["ids"]`` (B, L) by layout-constrained sampling.

    Args:
        model: a :class:`~unimotion.models.unimo.model.UniMoModel` (``forward_tokens`` and ``new_cache``).
        batch: collated layout fields (B, L); all rows must share one layout (same placeholder positions
            and modalities), i.e. one task and one geometry.
        vocab: the model's id ranges.
        sampling: per-modality settings for VIDEO and MOTION positions.
        generator: torch RNG for reproducible sampling.
        use_cache: KV-cached decoding (True) or full recomputation each step (False).
        return_logits: also return the (B, V_m) logits used at each generated position.

    Returns:
        (ids (B, L) with every placeholder filled, list of per-step logits or []).
    """
    ids = batch["ids"].clone()
    unknown = ids < 0
    todo = placeholder_positions(batch).tolist()
    if not todo:
        return ids, []
    first = todo[0]
    length = ids.shape[1]
    pos_fields = {f: batch[f] for f in _POSITION_FIELDS}
    modality_row = batch["modality"][0].tolist()
    step_logits: list[torch.Tensor] = []

    def run(start: int, stop: int, cache: Any) -> torch.Tensor:
        frames = model.video_frames(ids, batch["modality"])  # None unless the model reads co-temporal video
        out = model.forward_tokens(ids[:, start:stop], **{f: v[:, start:stop] for f, v in pos_fields.items()},
                                   cache=cache, frames=frames)
        return out.logits[:, -1]  # (B, V_total): prediction of the token at ``stop``

    cache = model.new_cache(ids.shape[0], length) if use_cache else None
    logits = run(0, first, cache)
    pos = first
    while True:
        if unknown[0, pos]:
            m = Modality(modality_row[pos])
            if m == Modality.SPECIAL:
                raise InputError(f"position {pos} is a special token and cannot be a placeholder")
            lo, hi = vocab.range(m)
            restricted = logits[:, lo:hi]
            if return_logits:
                step_logits.append(restricted.clone())
            ids[:, pos] = sample_logits(restricted, sampling[m], generator) + lo
        if pos == length - 1 or not bool(unknown[0, pos + 1 :].any()):
            break
        logits = run(pos, pos + 1, cache) if use_cache else run(0, pos + 1, None)
        pos += 1
    return ids, step_logits


@torch.no_grad()
def parallel_logits(model: Any, batch: dict[str, torch.Tensor]) -> dict[Modality, tuple[torch.Tensor, torch.Tensor]]:
    """Logits of every PLACEHOLDER of ``batch["ids"]`` (B, L) from one forward pass over the sequence as it is:
    the token at position p is predicted by the next-token head at p − 1, restricted to its modality. Only valid
    for a model that reads the placeholders as such during training (masked V2M,
    ``UniMoConfig.v2m_motion_inputs="masked"``). Returns modality → (positions (n,), logits (B, n, V_m))."""
    ids = batch["ids"]
    todo = placeholder_positions(batch)
    if len(todo) == 0:
        return {}
    if bool((batch["modality"][0, todo] == Modality.SPECIAL).any()):
        raise InputError("special tokens cannot be placeholders")
    out = model.forward_tokens(ids, **{f: batch[f] for f in _POSITION_FIELDS}, logits=False,
                               frames=model.video_frames(ids, batch["modality"]))
    found = {}
    for m in (Modality.VIDEO, Modality.MOTION):
        pos = todo[batch["modality"][0, todo] == m]
        if len(pos):
            found[m] = (pos, model.modality_logits(out.hidden[:, pos - 1], m))
    return found


@torch.no_grad()
def fill_in_parallel(
    model: Any,
    batch: dict[str, torch.Tensor],
    sampling: dict[Modality, SamplingConfig],
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Fill every PLACEHOLDER of ``batch["ids"]`` (B, L) at once from :func:`parallel_logits` (nothing generated
    is fed back). Returns the filled ids."""
    ids = batch["ids"].clone()
    for m, (pos, z) in parallel_logits(model, batch).items():
        drawn = sample_logits(z.reshape(-1, z.shape[-1]), sampling[m], generator).view(z.shape[:2])
        ids[:, pos] = drawn + model.vocab.offset(m)
    return ids
