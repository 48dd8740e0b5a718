"""Token layouts of UniMo's two tasks, the special tokens and the vocabulary ranges (spec ``unimo.md`` §4).

**Vocabulary.** One id space with a contiguous range per modality (:class:`Vocab`)::

    [0, V)            video codes (the video tokenizer's FSQ ids)
    [V, V + K)        motion codes (the motion tokenizer's codebook ids)
    [V + K, V + K + N) special tokens (:class:`Special`, N = 8)

The model embeds each range with its own table (or one shared table, the "uni-emb" ablation) and
predicts with per-modality heads; the layout fixes which modality comes next, so sampling and the loss
only look at that modality's range.

**Geometry** (:class:`Geometry`). A clip of T = 1 + c_t·(K − 1) raw frames has K latent video frames
(the causal tokenizer encodes frame 0 alone), each an h × w grid in raster order. Motion is tokenized
in steps of r raw frames (r = 1 by default), s tokens per step. The motion tokens of step t describe raw
frames [t·r, (t+1)·r) and belong to **video chunk** k = ⌈f_last / c_t⌉, where f_last is the last raw frame
the step covers: chunk 0 is frame 0 alone, chunk k ≥ 1 is frames (k−1)·c_t + 1 … k·c_t. With r = 1, chunk
0 holds the motion of frame 0 (s tokens) and every other chunk the motion of its c_t frames (c_t·s tokens).

**Layouts** (V_k = video tokens of latent frame k, M_k = motion tokens of chunk k)::

    interleaved (I2VM default):
        <BOS> <TASK> <BOV> V_0 <BOM> M_0 V_1 M_1 ... V_{K-1} M_{K-1} <EOS>
    sequential (V2M default):
        <BOS> <TASK> <BOV> V_0 V_1 ... V_{K-1} <EOV> <BOM> M_0 M_1 ... M_{K-1} <EOS>

``<TASK>`` is ``<I2VM>`` or ``<V2M>``. Both tasks can use either arrangement (``interleave=``), which gives
the interleaved-vs-sequential ablation the reviewers asked for and "V2M through the I2VM layout".
(Strict token-by-token alternation, one reading of the paper's Eq. 2, is not implemented: the counts of
video and motion tokens per chunk differ, 64 vs c_t·s by default.)

**Targets** (tokens that carry a loss; everything else is condition or a fixed special token):
I2VM — every video token after V_0 and every motion token; V2M — every motion token. Special tokens are
never targets: they are placed by the layout, and the sampler writes them itself.

**Positions on one time axis.** Each token gets a float ``time`` in latent-frame units: video latent
frame k → k; the motion of raw frame f → f / c_t (a step uses its first frame, t·r / c_t); so the motion
of frame c_t·k is at the same time as V_k, and the motion inside a chunk lies between the chunk's
neighbours. Video tokens also get ``row``/``col``; motion tokens get ``sub`` = j ∈ [0, s), their index
inside the step. Special tokens take the time of the token that follows them (``<EOV>``/``<EOS>``: the
last time). The model turns these into RoPE angles and absolute embeddings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

import torch

from ...errors import InputError

Task = Literal["i2vm", "v2m"]
TASKS: tuple[str, ...] = ("i2vm", "v2m")
PLACEHOLDER = -1  # id of a token that is still to be generated


class Modality(IntEnum):
    VIDEO = 0
    MOTION = 1
    SPECIAL = 2


class Special(IntEnum):
    """Special tokens; the value is the index inside the special range."""

    PAD = 0
    BOS = 1
    EOS = 2
    I2VM = 3
    V2M = 4
    BOV = 5  # begin of video
    EOV = 6  # end of video (sequential layout)
    BOM = 7  # begin of motion


SPECIAL_NAMES: dict[Special, str] = {s: f"<{s.name}>" for s in Special}
TASK_TOKENS: dict[str, Special] = {"i2vm": Special.I2VM, "v2m": Special.V2M}


@dataclass(frozen=True)
class Vocab:
    """Contiguous id ranges: video, then motion, then the special tokens."""

    video_size: int
    motion_size: int
    num_special: int = len(Special)

    def __post_init__(self) -> None:
        if self.video_size < 1 or self.motion_size < 1 or self.num_special < len(Special):
            raise InputError(f"invalid vocabulary sizes {self}")

    @property
    def total(self) -> int:
        return self.video_size + self.motion_size + self.num_special

    def offset(self, modality: Modality | int) -> int:
        return (0, self.video_size, self.video_size + self.motion_size)[int(modality)]

    def size(self, modality: Modality | int) -> int:
        return (self.video_size, self.motion_size, self.num_special)[int(modality)]

    def range(self, modality: Modality | int) -> tuple[int, int]:
        start = self.offset(modality)
        return start, start + self.size(modality)

    def special(self, token: Special) -> int:
        """Global id of a special token."""
        return self.offset(Modality.SPECIAL) + int(token)

    def offsets_tensor(self, device: torch.device | None = None) -> torch.Tensor:
        """(3,) offsets indexed by modality id."""
        return torch.tensor([self.offset(m) for m in Modality], dtype=torch.long, device=device)

    def modality_of(self, ids: torch.Tensor) -> torch.Tensor:
        """Modality id of each global id (any shape)."""
        return (ids >= self.offset(Modality.MOTION)).long() + (ids >= self.offset(Modality.SPECIAL)).long()


@dataclass(frozen=True)
class Geometry:
    """Token counts of one clip. See the module docstring for the chunk rule and the time axis."""

    latent_frames: int  # K
    grid: tuple[int, int]  # (h, w) video tokens per latent frame
    temporal_compression: int  # c_t raw frames per latent frame (k ≥ 1)
    motion_tokens_per_step: int  # s
    motion_frames_per_step: int = 1  # r

    def __post_init__(self) -> None:
        if self.latent_frames < 1 or min(self.grid) < 1 or self.temporal_compression < 1:
            raise InputError(f"invalid clip geometry {self}")
        if self.motion_tokens_per_step < 1 or self.motion_frames_per_step < 1:
            raise InputError(f"motion tokens/frames per step must be >= 1, got {self}")

    @property
    def num_frames(self) -> int:
        """Raw frames T = 1 + c_t·(K − 1)."""
        return 1 + self.temporal_compression * (self.latent_frames - 1)

    @property
    def tokens_per_latent_frame(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def num_video_tokens(self) -> int:
        return self.latent_frames * self.tokens_per_latent_frame

    @property
    def motion_steps(self) -> int:
        """⌈T / r⌉ (the motion clip is padded to a multiple of r frames before tokenizing)."""
        return math.ceil(self.num_frames / self.motion_frames_per_step)

    @property
    def num_motion_tokens(self) -> int:
        return self.motion_steps * self.motion_tokens_per_step

    def chunk_of_step(self, step: int) -> int:
        """Video chunk k whose video must precede the motion of ``step`` (rule in the module docstring)."""
        last = min((step + 1) * self.motion_frames_per_step - 1, self.num_frames - 1)
        return math.ceil(last / self.temporal_compression)

    def steps_of_chunk(self, chunk: int) -> range:
        steps = [t for t in range(self.motion_steps) if self.chunk_of_step(t) == chunk]
        return range(steps[0], steps[-1] + 1) if steps else range(0)

    def step_time(self, step: int) -> float:
        return step * self.motion_frames_per_step / self.temporal_compression


@dataclass
class TokenSequence:
    """One laid-out sequence; every field is (L,). ``ids`` are global ids, PLACEHOLDER where unknown."""

    ids: torch.Tensor  # long
    modality: torch.Tensor  # long, Modality values
    time: torch.Tensor  # float, latent-frame units
    row: torch.Tensor  # long, video row (0 elsewhere)
    col: torch.Tensor  # long, video column (0 elsewhere)
    sub: torch.Tensor  # long, motion sub-token index j (0 elsewhere)
    target: torch.Tensor  # bool, True where the token carries a loss
    task: str
    geometry: Geometry

    def __len__(self) -> int:
        return int(self.ids.shape[0])


FIELDS = ("ids", "modality", "time", "row", "col", "sub", "target")


class _Builder:
    def __init__(self) -> None:
        self.parts: dict[str, list[torch.Tensor]] = {f: [] for f in FIELDS}

    def add(self, ids: torch.Tensor, modality: int, time: torch.Tensor | float, target: bool,
            row: torch.Tensor | None = None, col: torch.Tensor | None = None, sub: torch.Tensor | None = None) -> None:
        n = ids.shape[0]
        zeros = torch.zeros(n, dtype=torch.long)
        self.parts["ids"].append(ids.long())
        self.parts["modality"].append(torch.full((n,), int(modality), dtype=torch.long))
        t = torch.as_tensor(time, dtype=torch.float32)
        self.parts["time"].append(t.expand(n).clone() if t.ndim == 0 else t)
        self.parts["row"].append(zeros if row is None else row)
        self.parts["col"].append(zeros if col is None else col)
        self.parts["sub"].append(zeros if sub is None else sub)
        self.parts["target"].append(torch.full((n,), bool(target)))

    def special(self, vocab: Vocab, token: Special, time: float) -> None:
        self.add(torch.tensor([vocab.special(token)]), Modality.SPECIAL, time, False)

    def build(self, task: str, geometry: Geometry) -> TokenSequence:
        return TokenSequence(**{f: torch.cat(v) for f, v in self.parts.items()}, task=task, geometry=geometry)


def _known_codes(codes: torch.Tensor | None, total: int, size: int, what: str) -> torch.Tensor:
    """Flattened codes padded with PLACEHOLDER to ``total`` entries."""
    out = torch.full((total,), PLACEHOLDER, dtype=torch.long)
    if codes is None:
        return out
    flat = codes.reshape(-1).long().cpu()
    if flat.numel() > total:
        raise InputError(f"{what}: got {flat.numel()} codes but the layout holds {total}")
    if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= size):
        raise InputError(f"{what}: code ids must lie in [0, {size})")
    out[: flat.numel()] = flat
    return out


def build_sequence(
    task: str,
    geometry: Geometry,
    vocab: Vocab,
    video_codes: torch.Tensor | None = None,
    motion_codes: torch.Tensor | None = None,
    interleave: bool | None = None,
) -> TokenSequence:
    """Lay out one clip's tokens for ``task``.

    Args:
        task: "i2vm" or "v2m".
        geometry: token counts of the clip.
        vocab: id ranges.
        video_codes: (k, h, w) local video ids of the first k ≤ K latent frames (None: none known);
            unknown ones become PLACEHOLDER (generation).
        motion_codes: (n,) local motion ids of the first n ≤ S·s tokens, step-major (None: none known).
        interleave: frame-chunk interleaving (True) or all video then all motion (False);
            default True for I2VM, False for V2M.

    Returns:
        a :class:`TokenSequence` (positions, modalities and targets as in the module docstring).
    """
    if task not in TASKS:
        raise InputError(f"unknown task {task!r}; expected one of {list(TASKS)}")
    g = geometry
    h, w = g.grid
    if video_codes is not None and (video_codes.ndim != 3 or tuple(video_codes.shape[1:]) != (h, w)):
        raise InputError(f"video codes must be (k, {h}, {w}), got {tuple(video_codes.shape)}")
    if motion_codes is not None and motion_codes.ndim != 1:
        raise InputError(f"motion codes must be 1-D (step-major), got {tuple(motion_codes.shape)}")
    interleave = (task == "i2vm") if interleave is None else interleave
    video = _known_codes(video_codes, g.num_video_tokens, vocab.video_size, "video codes")
    video = torch.where(video >= 0, video + vocab.offset(Modality.VIDEO), video).view(g.latent_frames, h * w)
    motion = _known_codes(motion_codes, g.num_motion_tokens, vocab.motion_size, "motion codes")
    motion = torch.where(motion >= 0, motion + vocab.offset(Modality.MOTION), motion)
    motion = motion.view(g.motion_steps, g.motion_tokens_per_step)

    rows = torch.arange(h).repeat_interleave(w)
    cols = torch.arange(w).repeat(h)
    s = g.motion_tokens_per_step
    last_time = float(g.latent_frames - 1)

    def add_video(b: _Builder, k: int) -> None:
        b.add(video[k], Modality.VIDEO, float(k), target=(task == "i2vm" and k > 0), row=rows, col=cols)

    def add_motion(b: _Builder, steps: range) -> None:
        if len(steps) == 0:
            return
        ids = motion[steps.start : steps.stop].reshape(-1)
        times = torch.tensor([g.step_time(t) for t in steps], dtype=torch.float32).repeat_interleave(s)
        sub = torch.arange(s).repeat(len(steps))
        b.add(ids, Modality.MOTION, times, target=True, sub=sub)

    b = _Builder()
    b.special(vocab, Special.BOS, 0.0)
    b.special(vocab, TASK_TOKENS[task], 0.0)
    b.special(vocab, Special.BOV, 0.0)
    if interleave:
        for k in range(g.latent_frames):
            add_video(b, k)
            steps = g.steps_of_chunk(k)
            if k == 0:
                b.special(vocab, Special.BOM, g.step_time(steps.start) if len(steps) else 0.0)
            add_motion(b, steps)
    else:
        for k in range(g.latent_frames):
            add_video(b, k)
        b.special(vocab, Special.EOV, last_time)
        b.special(vocab, Special.BOM, 0.0)
        add_motion(b, range(g.motion_steps))
    b.special(vocab, Special.EOS, last_time)
    return b.build(task, g)


def collate_sequences(seqs: list[TokenSequence], vocab: Vocab) -> dict[str, torch.Tensor]:
    """Right-pad sequences into a batch: every field (B, L) plus ``valid`` (B, L) bool, True = real token.

    Padding uses ``<PAD>`` (special modality, time 0, never a target). Causal attention never lets a real
    token see the right padding, so no key-padding mask is needed.
    """
    if not seqs:
        raise InputError("cannot collate an empty list of sequences")
    length = max(len(s) for s in seqs)
    batch: dict[str, torch.Tensor] = {}
    pad_values = {"ids": vocab.special(Special.PAD), "modality": int(Modality.SPECIAL), "time": 0.0,
                  "row": 0, "col": 0, "sub": 0, "target": False}
    for f in FIELDS:
        first = getattr(seqs[0], f)
        out = torch.full((len(seqs), length), pad_values[f], dtype=first.dtype)
        for i, s in enumerate(seqs):
            out[i, : len(s)] = getattr(s, f)
        batch[f] = out
    valid = torch.zeros(len(seqs), length, dtype=torch.bool)
    for i, s in enumerate(seqs):
        valid[i, : len(s)] = True
    batch["valid"] = valid
    return batch


def describe(ids: torch.Tensor, vocab: Vocab) -> list[str]:
    """Human-readable tokens of a (L,) id tensor: ``v12`` (video local id), ``m3`` (motion), ``<BOS>``, ``?``."""
    out = []
    for i in ids.tolist():
        if i < 0:
            out.append("?")
        elif i < vocab.offset(Modality.MOTION):
            out.append(f"v{i}")
        elif i < vocab.offset(Modality.SPECIAL):
            out.append(f"m{i - vocab.offset(Modality.MOTION)}")
        else:
            out.append(SPECIAL_NAMES[Special(i - vocab.offset(Modality.SPECIAL))])
    return out
