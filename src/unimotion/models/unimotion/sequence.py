"""Building UniMotion sequences: token ids, modality and span tables, labels, positions, hybrid masks.

One :class:`TaskExample` (task name, text, latents) → pieces (:mod:`.templates`) → tokens. A modality span
with n latent tokens becomes::

    <|mot_start|> [time token] <|mot_pad|> × n <|mot_end|>

where the time token (``time_token=True``, Show-o2 style) carries the flow time of the span (t = 1 for a clean
source span) and the placeholders are replaced by the embedder output. The span — time token plus latent
tokens, not the boundary tokens — is one bidirectional block of the hybrid mask, and all its tokens use the
motion LoRA branch. Labels (next-token targets) are set on answer text only (the M2T caption and its closing
``<|im_end|>``); everything else is −100.

Batches are padded in one of three ways (``align``):

* ``"right"`` — padding at the end (training);
* ``"left"`` — padding at the start, every row ends at the same column (text generation);
* ``"target"`` — rows are left-padded so that the first *target* span starts at the same column in every
  row, target spans are padded to the longest one, and nothing after the target span is kept (tokens after
  it cannot influence it under the hybrid mask). This is the layout of the cached sampler.

Position ids count valid tokens only, so padding never shifts the rotary positions of real tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import torch

from ...errors import InputError
from .attention_mask import hybrid_attention_mask, to_additive_mask
from .modalities import MODALITY_ID, TEXT
from .templates import GENERATION_TASKS, TASKS, SpanPiece, TemplateConfig, TextPiece, render
from .tokenizer import IM_END, IM_START, SpecialTokenIds, special_token_ids

__all__ = ["TaskExample", "SpanInfo", "SequenceBatch", "SpanIndex", "SequenceBuilder"]

IGNORE_INDEX = -100
SOURCE, TARGET = 0, 1


@dataclass
class TaskExample:
    """One example of one task.

    Attributes:
        task: "t2m" | "m2t" | "prediction" | "editing" | "m2m".
        caption: T2M condition, M2T answer (None when generating text).
        instruction: editing instruction.
        source: (T_s, d) clean source latents (m2t, prediction, editing, m2m).
        target: (T_t, d) target latents (training of t2m / prediction / editing).
        target_length: T_t when ``target`` is not given (sampling).
        drop_condition: use the null condition (CFG training / unconditional branch).
    """

    task: str
    caption: str | None = None
    instruction: str | None = None
    source: torch.Tensor | None = None
    target: torch.Tensor | None = None
    target_length: int | None = None
    drop_condition: bool = False

    def resolved_target_length(self) -> int | None:
        if self.target is not None:
            return int(self.target.shape[0])
        return self.target_length


@dataclass(frozen=True)
class SpanInfo:
    """One modality span of a batch. ``start`` is the column of its first token (the time token if any)."""

    row: int
    start: int
    length: int  # latent tokens (without the time token)
    modality: str
    role: int  # SOURCE or TARGET
    example: int  # index of the example in the batch's example list
    time_token: bool

    @property
    def latent_start(self) -> int:
        return self.start + int(self.time_token)


@dataclass
class SpanIndex:
    """Vectorised positions of a set of spans (N spans, up to T latent tokens each)."""

    spans: list[SpanInfo]
    rows: torch.Tensor  # (N,) long
    cols: torch.Tensor  # (N, T) long column of each latent slot (0 at padding)
    mask: torch.Tensor  # (N, T) bool valid latent slot
    time_cols: torch.Tensor  # (N,) long column of the time token (−1 without)

    @property
    def lengths(self) -> torch.Tensor:
        return self.mask.sum(1)


@dataclass
class SequenceBatch:
    """A padded batch of sequences (B rows, L columns)."""

    input_ids: torch.Tensor  # (B, L) long; placeholders at span positions
    valid: torch.Tensor  # (B, L) bool
    position_ids: torch.Tensor  # (B, L) long
    modality: torch.Tensor  # (B, L) long, see modalities.MODALITY_ID
    span_ids: torch.Tensor  # (B, L) long, −1 outside spans
    labels: torch.Tensor  # (B, L) long, −100 except answer tokens
    spans: list[SpanInfo]
    examples: list[TaskExample] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.input_ids.shape)  # type: ignore[return-value]

    def to(self, device: torch.device | str) -> SequenceBatch:
        for name in ("input_ids", "valid", "position_ids", "modality", "span_ids", "labels"):
            setattr(self, name, getattr(self, name).to(device))
        return self

    def attention_mask(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """(B, 1, L, L) additive hybrid mask."""
        return to_additive_mask(hybrid_attention_mask(self.span_ids, self.valid), dtype)

    def span_index(self, role: int | None = None, device: torch.device | str | None = None) -> SpanIndex:
        """The spans of ``role`` (SOURCE / TARGET / None = all) with non-zero length, in batch order."""
        spans = [s for s in self.spans if (role is None or s.role == role) and s.length > 0]
        device = device or self.input_ids.device
        T = max((s.length for s in spans), default=0)
        cols = torch.zeros(len(spans), T, dtype=torch.long)
        mask = torch.zeros(len(spans), T, dtype=torch.bool)
        for i, s in enumerate(spans):
            cols[i, : s.length] = torch.arange(s.latent_start, s.latent_start + s.length)
            mask[i, : s.length] = True
        return SpanIndex(
            spans=spans,
            rows=torch.tensor([s.row for s in spans], dtype=torch.long, device=device),
            cols=cols.to(device),
            mask=mask.to(device),
            time_cols=torch.tensor([s.start if s.time_token else -1 for s in spans], dtype=torch.long, device=device),
        )


@dataclass
class _Tokens:
    ids: list[int] = field(default_factory=list)
    modality: list[int] = field(default_factory=list)
    span: list[int] = field(default_factory=list)  # local span number, −1 outside
    labels: list[int] = field(default_factory=list)
    spans: list[tuple[int, int, str, int, bool]] = field(default_factory=list)  # (start, length, modality, role, tt)


class SequenceBuilder:
    """Turns :class:`TaskExample` lists into :class:`SequenceBatch` es for one tokenizer and template set."""

    def __init__(
        self,
        tokenizer,
        templates: TemplateConfig | None = None,
        time_token: bool = True,
        max_length: int = 1024,
    ):
        self.tokenizer = tokenizer
        self.templates = templates or TemplateConfig()
        self.time_token = time_token
        self.max_length = max_length
        self.ids: SpecialTokenIds = special_token_ids(tokenizer)
        self._encode = lru_cache(maxsize=4096)(self._encode_uncached)

    def _encode_uncached(self, text: str, user: bool = False) -> tuple[int, ...]:
        # user text: special-token strings become ordinary text (no prompt can write its own turns)
        kwargs = {"split_special_tokens": True} if user else {}
        return tuple(self.tokenizer(text, add_special_tokens=False, **kwargs)["input_ids"])

    # ------------------------------------------------------------------ one example
    def pieces(self, ex: TaskExample, with_answer: bool = True) -> list[TextPiece | SpanPiece]:
        if ex.task not in TASKS:
            raise InputError(f"unknown task {ex.task!r}; expected one of {TASKS}")
        return render(
            self.templates,
            ex.task,
            caption=ex.caption,
            instruction=ex.instruction,
            source_length=None if ex.source is None else int(ex.source.shape[0]),
            target_length=ex.resolved_target_length(),
            drop_condition=ex.drop_condition,
            with_answer=with_answer,
            im_start=IM_START,
            im_end=IM_END,
        )

    def tokens(self, ex: TaskExample, with_answer: bool = True) -> _Tokens:
        out = _Tokens()
        for piece in self.pieces(ex, with_answer):
            if isinstance(piece, TextPiece):
                ids = self._encode(piece.text, piece.user)
                out.ids += ids
                out.modality += [TEXT] * len(ids)
                out.span += [-1] * len(ids)
                out.labels += list(ids) if piece.answer else [IGNORE_INDEX] * len(ids)
                continue
            mod = MODALITY_ID[piece.modality]
            role = SOURCE if piece.role == "source" else TARGET
            out.ids.append(self.ids.span_start[piece.modality])
            out.modality.append(TEXT)
            out.span.append(-1)
            out.labels.append(IGNORE_INDEX)
            start = len(out.ids)
            n = piece.length
            tt = self.time_token and n > 0
            k = len(out.spans)
            body = n + int(tt)
            out.ids += [self.ids.span_pad[piece.modality]] * body
            out.modality += [mod] * body
            out.span += [k] * body
            out.labels += [IGNORE_INDEX] * body
            out.spans.append((start, n, piece.modality, role, tt))
            out.ids.append(self.ids.span_end[piece.modality])
            out.modality.append(TEXT)
            out.span.append(-1)
            out.labels.append(IGNORE_INDEX)
        if len(out.ids) > self.max_length:
            raise InputError(
                f"a {ex.task} sequence has {len(out.ids)} tokens, more than max_sequence_length={self.max_length}"
            )
        return out

    # ------------------------------------------------------------------ batches
    def build(
        self,
        examples: list[TaskExample],
        with_answer: bool = True,
        align: Literal["right", "left", "target"] = "right",
    ) -> SequenceBatch:
        """Tokenise and pad ``examples`` (see the module docstring for ``align``)."""
        if not examples:
            raise InputError("cannot build a batch from zero examples")
        toks = [self.tokens(ex, with_answer) for ex in examples]
        if align == "target":
            toks = [self._cut_after_target(t, ex) for t, ex in zip(toks, examples, strict=True)]
            tgt_start = [self._target_span(t, ex)[0] for t, ex in zip(toks, examples, strict=True)]
            tgt_len = [self._target_span(t, ex)[1] for t, ex in zip(toks, examples, strict=True)]
            P = max(tgt_start)
            T = max(tgt_len)
            lefts = [P - s for s in tgt_start]
            rights = [T - n for n in tgt_len]
        else:
            lengths = [len(t.ids) for t in toks]
            Lmax = max(lengths)
            lefts = [Lmax - n if align == "left" else 0 for n in lengths]
            rights = [0 if align == "left" else Lmax - n for n in lengths]
        L = max(left + len(t.ids) + right for t, left, right in zip(toks, lefts, rights, strict=True))
        B = len(examples)
        pad = self.ids.pad
        input_ids = torch.full((B, L), pad, dtype=torch.long)
        valid = torch.zeros(B, L, dtype=torch.bool)
        modality = torch.full((B, L), TEXT, dtype=torch.long)
        span_ids = torch.full((B, L), -1, dtype=torch.long)
        labels = torch.full((B, L), IGNORE_INDEX, dtype=torch.long)
        spans: list[SpanInfo] = []
        for b, (t, left) in enumerate(zip(toks, lefts, strict=True)):
            n = len(t.ids)
            sl = slice(left, left + n)
            input_ids[b, sl] = torch.tensor(t.ids, dtype=torch.long)
            valid[b, sl] = True
            modality[b, sl] = torch.tensor(t.modality, dtype=torch.long)
            span_ids[b, sl] = torch.tensor(t.span, dtype=torch.long)
            labels[b, sl] = torch.tensor(t.labels, dtype=torch.long)
            for start, length, mod, role, tt in t.spans:
                spans.append(SpanInfo(b, left + start, length, mod, role, b, tt))
            if align == "target":
                # padding slots at the end of the (last) target span belong to it (masked out as keys)
                s = spans[-1]
                pad_cols = slice(left + n, L)
                span_ids[b, pad_cols] = len(t.spans) - 1
                modality[b, pad_cols] = MODALITY_ID[s.modality]
        position_ids = (valid.long().cumsum(1) - 1).clamp_min(0)
        return SequenceBatch(input_ids, valid, position_ids, modality, span_ids, labels, spans, list(examples))

    def _target_span(self, t: _Tokens, ex: TaskExample) -> tuple[int, int]:
        """(column of the first token of the target span body, its body length incl. time token)."""
        targets = [s for s in t.spans if s[3] == TARGET]
        if ex.task not in GENERATION_TASKS or not targets:
            raise InputError(f"align='target' needs a generation task ({GENERATION_TASKS}), got {ex.task!r}")
        start, n, _, _, tt = targets[0]
        return start, n + int(tt)

    def _cut_after_target(self, t: _Tokens, ex: TaskExample) -> _Tokens:
        start, body = self._target_span(t, ex)
        end = start + body
        keep = [s for s in t.spans if s[0] < end]
        return _Tokens(t.ids[:end], t.modality[:end], t.span[:end], t.labels[:end], keep)
