"""Test doubles for the evaluator tests (an unambiguous module name, importable from the test files)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import torch

from unimotion.models.evaluators.retrieval import RetrievalEvaluator, RetrievalEvaluatorConfig
from unimotion.models.evaluators.text_encoder import masked_mean

TINY_RETRIEVAL = dict(embed_dim=16, motion_width=16, motion_layers=1, motion_heads=2, motion_ff=32, text_hidden=16,
                      text_heads=2, dropout=0.0, text_dim=8)


class FakeTextEncoder:
    """Stands in for FrozenMiniLM: each word is a fixed random 8-d vector (seeded by the word), so identical
    captions give identical states and the sentence vector is the mean over words."""

    dim = 8

    def __init__(self):
        self.calls = 0

    def to(self, device):
        return self

    def _word(self, w: str) -> torch.Tensor:
        seed = int.from_bytes(hashlib.sha256(w.encode()).digest()[:4], "little")
        return torch.from_numpy(np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32))

    def encode(self, captions: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        self.calls += 1
        words = [c.lower().split() or ["<empty>"] for c in captions]
        length = max(len(w) for w in words)
        states = torch.zeros(len(captions), length, self.dim)
        mask = torch.zeros(len(captions), length, dtype=torch.bool)
        for i, ws in enumerate(words):
            for j, w in enumerate(ws):
                states[i, j] = self._word(w)
                mask[i, j] = True
        return states, mask

    def sentence_embeddings(self, captions: Sequence[str], normalize: bool = False) -> torch.Tensor:
        states, mask = self.encode(captions)
        pooled = masked_mean(states, mask)
        return torch.nn.functional.normalize(pooled, dim=-1) if normalize else pooled


class one_thread:
    """Run a block with one torch thread: tiny models are dominated by thread synchronisation on a busy
    2-core machine (a 40-step loop took 15 s with 2 threads, 0.3 s with 1)."""

    def __enter__(self):
        self.before = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        torch.set_num_threads(self.before)
        return False


def tiny_evaluator(**kw) -> RetrievalEvaluator:
    torch.manual_seed(0)
    cfg = RetrievalEvaluatorConfig(**{**TINY_RETRIEVAL, **kw})
    return RetrievalEvaluator(cfg, text_encoder=FakeTextEncoder()).eval()
