"""UniMo's autoregressive model: one decoder-only transformer over video and motion tokens.

**Backbone.** A plain-PyTorch Llama-style decoder (pre-RMSNorm, SwiGLU or GELU MLP, grouped-query
attention, optional QK-norm as in Cosmos AR, no biases), written here rather than taken from HF
transformers because UniMo needs per-token *fractional* 3-axis rotary positions and per-modality
embeddings, which are awkward to inject into an HF body. Cosmos-1.0 AR (the trunk reviewers say UniMo
starts from) has the same block structure, so its weights could be mapped onto these modules later.

**Embeddings and heads.** ``embedding="separate"`` (the paper's choice): three tables — video codes,
motion codes, special tokens — chosen per position by the modality id; output: one linear head per
modality whose logits are concatenated in id order (:class:`~unimotion.models.unimo.layouts.Vocab`).
``"shared"`` (the "uni-emb" ablation): one table of max(V, K) code rows + the special rows, indexed by the
*local* code id, so video code j and motion code j read the same embedding row and are predicted by the
same output row (one shared head; its code logits are laid out once for the video range and once for the
motion range of the global ids). (One table over the disjoint global id ranges would only be the three
separate tables stacked — the same function, and with the same initialisation draws the same numbers —
so it could not show any effect of separating the modalities.) Since the layout fixes the next token's modality, the loss
(``restrict_logits_to_modality=True``) and the sampler normalise over that modality's range only.

**Video code features** (``video_code_features``, a choice of this project): a video token's input embedding is
its table row plus a learned linear map of the code's FSQ vector (its quantised value in the tokenizer's
latent space, ``video_fsq_levels`` from the tokenizer). Rows of a 12,800-code table are each seen only a few
hundred times in a CPU-sized training run; the linear term lets every code share what the model learns about
the latent dimensions — the ones the tokenizer's pose probe makes carry the 2D joints that V2M reads.

**Co-temporal video context** (``motion_video_context``, a choice of this project; the paper is silent): a
motion token's input embedding also gets a learned linear map of the FSQ vectors of all h×w video tokens of
*one* latent frame — the chunk k = :meth:`~unimotion.models.unimo.layouts.Geometry.chunk_of_step` of its step,
i.e. the frame the layouts put before that motion (V2M: all video comes first; interleaved I2VM: chunk k's
video precedes chunk k's motion), so every layout stays causal and KV-cached sampling reads the frame from the
ids generated so far. Attention can learn the same lookup, but a CPU-sized run does not get there: the 800-step
model without it reads the video so little that its teacher-forced V2M loss is nearly the same with another
clip's video. This gives every motion token the pose the video tokenizer's probe puts into the codes directly.

**Auxiliary pose loss** (``pose_aux_weight``, a choice of this project; off by default): a linear head on
the final hidden state at every motion token regresses the pelvis-relative joints (metres) of the first frame
of that token's step, L1, added to the CE with this weight; the batch then carries ``pose`` (B, T, J·3)
(:class:`~unimotion.data.unimo.TokenClipDataset` with ``pose``). A dense, continuous target on the same
hidden states that predict the motion codes, for the V2M gap measured in ``benchmarks/unimo_eval.py`` (a small
MLP on the video codes recovers much more pose than the AR model's decoded tokens).

**Positions** ("absolute + relative", two RoPE index designs; spec §4.3, exact design ours):

* RoPE on three axes: the head dimension is split Cosmos-style into a time part (≈ 1/3 + rest) and two
  spatial parts (⌊d/6⌋·2 each). Video tokens rotate by (time = latent frame k, row, col); motion tokens by
  (time = raw frame / c_t on the same axis, ``sub`` = j, 0) with ``motion_rope="time_sub"`` or
  (time, 0, 0) with ``"time"``; special tokens by (time, 0, 0). Shared time frequencies make the
  attention between a motion token and the video of the same instant depend on their time offset only.
* Absolute embeddings added to the token embedding: sinusoidal on the shared time axis (in raw-frame
  units, times a learned gain initialised to ``init_std``; ``abs_time_embedding``), learned row + column
  embeddings for video tokens and a learned
  sub-token embedding j ∈ [0, s) for motion tokens (``abs_grid_embedding``).

**Training** (:meth:`UniMoModel.training_step`): next-token cross-entropy on the layout's targets only
(I2VM: all tokens after V_0; V2M: motion tokens), a token-weighted mean with per-modality weights.
Tasks are drawn per sample from ``task_weights`` (joint training; ``{"v2m": 1.0}`` etc. gives the
single-task ablation) with a generator seeded by ``(seed, step)``.

**Motion input noise** (``motion_input_noise``, a choice of this project; the paper is silent): with
probability p each motion token the model *reads* during training is replaced by a uniformly drawn motion
code; the targets stay the true codes (the corruption T2M-GPT uses against exposure bias). Why: a motion
token at 30 fps with s tokens per frame is almost a copy of the one s positions back, so teacher-forced
next-token training is solved by copying and the model learns to ignore the video — measured on the 800-step
model without noise: V2M teacher-forced CE 0.404 with the true video vs 0.413 with another clip's video. With
noisy inputs copying is unreliable and the video becomes the dependable source of the pose.

**Masked V2M motion inputs** (``v2m_motion_inputs="masked"``, a choice of this project and a departure from
the paper's autoregressive V2M; default ``"tokens"`` = the paper): in V2M sequences the model reads no motion
code — every motion position is read as a placeholder (zero code embedding, plus its sub-token, time and
co-temporal video context embeddings) while the targets stay the true codes, so each motion token is predicted
from the whole video and its position only, and V2M sampling is one forward pass that fills every motion token
at once (:func:`~unimotion.models.unimo.sampling.fill_in_parallel`). I2VM sequences are unchanged (their motion
is still autoregressive, beside the video being generated). Why: teacher-forced next-token training lets
V2M copy the previous step's codes and learn to read the video little (``docs/unimo.md``, "Where the pose is
lost"); with masked inputs there is nothing to copy.

**Sampling**: :meth:`UniMoModel.generate` (KV cache, per-modality temperature/top-k/top-p/greedy, the
layout enforced at every step), see :mod:`~unimotion.models.unimo.sampling`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError, InputError
from ..modeling_utils import ModelOutput, PretrainedModel
from .layouts import (
    PLACEHOLDER,
    TASKS,
    Geometry,
    Modality,
    Special,
    Vocab,
    build_sequence,
    collate_sequences,
)
from .sampling import SamplingConfig, fill_in_parallel, generate_tokens, parallel_logits


@dataclass
class UniMoConfig:
    """Every hyper-parameter of the AR model; geometry fields must match the two tokenizers."""

    # vocabularies (tokenizers)
    video_vocab_size: int = 1000  # prod(FSQ levels) of the video tokenizer
    motion_vocab_size: int = 512  # motion tokenizer codebook size
    # clip geometry (tokenizers + data)
    video_grid: tuple[int, int] = (8, 8)  # (h, w) tokens per latent video frame
    temporal_compression: int = 4  # c_t of the video tokenizer
    max_latent_frames: int = 5  # K of a training clip (17 frames at c_t = 4); generation default
    motion_tokens_per_step: int = 4  # s of the motion tokenizer
    motion_frames_per_step: int = 1  # r = 2**down_t of the motion tokenizer
    # transformer
    dim: int = 512
    n_layers: int = 8
    n_heads: int = 8
    n_kv_heads: int = 0  # 0 → n_heads (no grouping)
    mlp: Literal["swiglu", "gelu"] = "swiglu"
    mlp_hidden: int = 0  # 0 → 8/3·dim rounded up to 64 (SwiGLU) or 4·dim (GELU)
    norm_eps: float = 1e-5
    qk_norm: bool = True  # RMSNorm on queries and keys per head (Cosmos AR default)
    dropout: float = 0.0
    rope_theta: float = 10000.0
    motion_rope: Literal["time", "time_sub"] = "time_sub"
    abs_time_embedding: bool = True
    abs_grid_embedding: bool = True
    embedding: Literal["separate", "shared"] = "separate"  # "shared" = the uni-emb ablation
    video_code_features: bool = False  # add Linear(FSQ vector of the code) to video token embeddings
    video_fsq_levels: list[int] = field(default_factory=list)  # the video tokenizer's FSQ levels ([] = not FSQ)
    init_std: float = 0.02
    # layouts and training
    i2vm_interleave: bool = True  # frame-chunk interleaving for I2VM (False: all video then motion)
    v2m_interleave: bool = False  # V2M through the interleaved layout (the reviewers' question)
    task_weights: dict[str, float] = field(default_factory=lambda: {"i2vm": 0.5, "v2m": 0.5})
    video_loss_weight: float = 1.0
    motion_loss_weight: float = 1.0
    restrict_logits_to_modality: bool = True
    motion_video_context: bool = False  # add Linear(FSQ vectors of the co-temporal latent frame) to motion tokens
    pose_aux_weight: float = 0.0  # auxiliary L1 on pelvis-relative joints regressed from motion-token hidden states
    pose_aux_dim: int = 66  # J·3 of that target (22 body joints)
    motion_input_noise: float = 0.0  # training: replace each *input* motion token by a random code with this probability
    v2m_motion_inputs: Literal["tokens", "masked"] = "tokens"  # "masked": V2M reads no motion tokens (parallel V2M)
    seed: int = 0  # task sampling (and input noise) during training

    def __post_init__(self) -> None:
        if self.dim % self.n_heads:
            raise ConfigError(f"dim {self.dim} is not divisible by n_heads {self.n_heads}")
        if (self.dim // self.n_heads) % 2:
            raise ConfigError("the head dimension must be even (rotary embeddings)")
        kv = self.n_kv_heads or self.n_heads
        if self.n_heads % kv:
            raise ConfigError(f"n_heads {self.n_heads} is not a multiple of n_kv_heads {kv}")
        unknown = sorted(set(self.task_weights) - set(TASKS))
        if unknown or not self.task_weights or any(v < 0 for v in self.task_weights.values()) \
                or sum(self.task_weights.values()) <= 0:
            raise ConfigError(f"task_weights must map some of {list(TASKS)} to weights >= 0 (sum > 0), "
                              f"got {self.task_weights}")
        if min(self.video_vocab_size, self.motion_vocab_size, self.max_latent_frames, *self.video_grid) < 1:
            raise ConfigError("vocabulary sizes, max_latent_frames and video_grid must be >= 1")
        if self.pose_aux_weight < 0 or self.pose_aux_dim < 1:
            raise ConfigError(f"pose_aux_weight must be >= 0 and pose_aux_dim >= 1, got {self.pose_aux_weight}, "
                              f"{self.pose_aux_dim}")
        if not 0.0 <= self.motion_input_noise < 1.0:
            raise ConfigError(f"motion_input_noise must be in [0, 1), got {self.motion_input_noise}")
        if self.v2m_motion_inputs not in ("tokens", "masked"):
            raise ConfigError(f"v2m_motion_inputs must be 'tokens' or 'masked', got {self.v2m_motion_inputs!r}")
        if (self.video_code_features or self.motion_video_context) \
                and math.prod(self.video_fsq_levels or [0]) != self.video_vocab_size:
            raise ConfigError(f"video_code_features and motion_video_context need the FSQ levels of the video tokenizer (product = "
                              f"video_vocab_size {self.video_vocab_size}), got video_fsq_levels {self.video_fsq_levels}")

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads

    @property
    def vocab(self) -> Vocab:
        return Vocab(self.video_vocab_size, self.motion_vocab_size)

    def geometry(self, latent_frames: int | None = None) -> Geometry:
        return Geometry(latent_frames or self.max_latent_frames, tuple(self.video_grid), self.temporal_compression,
                        self.motion_tokens_per_step, self.motion_frames_per_step)


def config_from_tokenizers(video_tokenizer, motion_tokenizer, image_size: tuple[int, int], num_frames: int,
                           **overrides) -> UniMoConfig:
    """A :class:`UniMoConfig` whose vocabularies and geometry match the given tokenizers and clip size."""
    k, h, w = video_tokenizer.latent_shape(num_frames, *image_size)
    mc = motion_tokenizer.config
    levels = list(getattr(getattr(video_tokenizer, "config", None), "fsq_levels", None) or [])
    return UniMoConfig(video_vocab_size=video_tokenizer.num_codes, motion_vocab_size=mc.codebook_size,
                       video_grid=(h, w), temporal_compression=video_tokenizer.temporal_compression,
                       max_latent_frames=k, motion_tokens_per_step=mc.expansion,
                       motion_frames_per_step=mc.frames_per_step, video_fsq_levels=levels, **overrides)


# ------------------------------------------------------------------------------------------ blocks
class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)


class Rotary3D(nn.Module):
    """Rotary angles from (time, a, b) coordinates; the head dimension splits into (t, a, b) parts."""

    def __init__(self, head_dim: int, theta: float):
        super().__init__()
        pairs = head_dim // 2
        spatial = head_dim // 6  # pairs per spatial axis (Cosmos: dim//6*2 dims)
        self.split = (pairs - 2 * spatial, spatial, spatial)
        freqs = [theta ** (-torch.arange(n, dtype=torch.float32) / max(n, 1)) for n in self.split]
        self.register_buffer("freqs", torch.cat(freqs), persistent=False)

    def forward(self, t: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L) coordinates → cos, sin of shape (B, 1, L, head_dim/2)."""
        coords = [t.float(), a.float(), b.float()]
        pos = torch.cat([c[..., None].expand(*c.shape, n) for c, n in zip(coords, self.split, strict=True)], dim=-1)
        angles = pos * self.freqs
        return angles.cos()[:, None], angles.sin()[:, None]


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x: (B, H, L, D) rotated in (first half, second half) pairs."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).type_as(x)


class KVCache:
    """Pre-allocated keys/values of every layer, (B, H_kv, max_len, D); ``length`` tokens are filled."""

    def __init__(self, n_layers: int, batch: int, kv_heads: int, max_len: int, head_dim: int,
                 device: torch.device, dtype: torch.dtype):
        self.k = [torch.zeros(batch, kv_heads, max_len, head_dim, device=device, dtype=dtype) for _ in range(n_layers)]
        self.v = [torch.zeros_like(k) for k in self.k]
        self.max_len = max_len
        self.length = 0

    def write(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store new keys/values at [length, length + L) and return all keys/values so far."""
        start, stop = self.length, self.length + k.shape[2]
        if stop > self.max_len:
            raise InputError(f"KV cache overflow: {stop} tokens > capacity {self.max_len}")
        self.k[layer][:, :, start:stop] = k
        self.v[layer][:, :, start:stop] = v
        return self.k[layer][:, :, :stop], self.v[layer][:, :, :stop]


class Attention(nn.Module):
    def __init__(self, c: UniMoConfig):
        super().__init__()
        self.n_heads, self.kv_heads, self.head_dim = c.n_heads, c.kv_heads, c.head_dim
        self.wq = nn.Linear(c.dim, c.n_heads * c.head_dim, bias=False)
        self.wk = nn.Linear(c.dim, c.kv_heads * c.head_dim, bias=False)
        self.wv = nn.Linear(c.dim, c.kv_heads * c.head_dim, bias=False)
        self.wo = nn.Linear(c.n_heads * c.head_dim, c.dim, bias=False)
        self.q_norm = RMSNorm(c.head_dim, c.norm_eps) if c.qk_norm else nn.Identity()
        self.k_norm = RMSNorm(c.head_dim, c.norm_eps) if c.qk_norm else nn.Identity()
        self.dropout = c.dropout

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, layer: int,
                cache: KVCache | None) -> torch.Tensor:
        b, n, _ = x.shape
        q = self.q_norm(self.wq(x).view(b, n, self.n_heads, self.head_dim)).transpose(1, 2)
        k = self.k_norm(self.wk(x).view(b, n, self.kv_heads, self.head_dim)).transpose(1, 2)
        v = self.wv(x).view(b, n, self.kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        start = 0
        if cache is not None:
            start = cache.length
            k, v = cache.write(layer, k, v)
        if self.kv_heads != self.n_heads:
            rep = self.n_heads // self.kv_heads
            k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        drop = self.dropout if self.training else 0.0
        if start == 0:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=drop)
        else:  # queries at [start, start + n) see keys [0, start + i]
            qpos = torch.arange(start, start + n, device=x.device)[:, None]
            kpos = torch.arange(k.shape[2], device=x.device)[None, :]
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=kpos <= qpos, dropout_p=drop)
        return self.wo(y.transpose(1, 2).reshape(b, n, -1))


class MLP(nn.Module):
    def __init__(self, c: UniMoConfig):
        super().__init__()
        self.swiglu = c.mlp == "swiglu"
        hidden = c.mlp_hidden or (64 * math.ceil(8 * c.dim / 3 / 64) if self.swiglu else 4 * c.dim)
        self.w1 = nn.Linear(c.dim, hidden, bias=False)
        self.w3 = nn.Linear(c.dim, hidden, bias=False) if self.swiglu else None
        self.w2 = nn.Linear(hidden, c.dim, bias=False)
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.silu(self.w1(x)) * self.w3(x) if self.swiglu else F.gelu(self.w1(x))
        return self.drop(self.w2(h))


class Block(nn.Module):
    def __init__(self, c: UniMoConfig):
        super().__init__()
        self.attn_norm = RMSNorm(c.dim, c.norm_eps)
        self.attn = Attention(c)
        self.mlp_norm = RMSNorm(c.dim, c.norm_eps)
        self.mlp = MLP(c)
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x, cos, sin, layer, cache):
        x = x + self.drop(self.attn(self.attn_norm(x), cos, sin, layer, cache))
        return x + self.mlp(self.mlp_norm(x))


def sinusoidal(pos: torch.Tensor, dim: int, base: float = 10000.0) -> torch.Tensor:
    """(B, L) float positions → (B, L, dim) sin/cos features."""
    half = dim // 2
    freqs = base ** (-torch.arange(half, device=pos.device, dtype=torch.float32) / max(half, 1))
    ang = pos.float()[..., None] * freqs
    out = torch.cat([ang.sin(), ang.cos()], dim=-1)
    return F.pad(out, (0, dim - 2 * half))


# ------------------------------------------------------------------------------------------ model
@dataclass
class UniMoOutput(ModelOutput):
    logits: torch.Tensor | None  # (B, L, V_total) next-token logits in the global id space (None: hidden only)
    hidden: torch.Tensor | None = None  # (B, L, D) final hidden states
    loss: torch.Tensor | None = None
    losses: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class GenerationOutput(ModelOutput):
    video_codes: torch.Tensor  # (B, K, h, w) local video ids
    motion_codes: torch.Tensor  # (B, S·s) local motion ids, step-major
    ids: torch.Tensor  # (B, L) the whole generated sequence (global ids)


class UniMoModel(PretrainedModel):
    """Decoder-only transformer over laid-out video + motion token sequences (module docstring)."""

    config_class = UniMoConfig
    model_type = "unimo"

    def __init__(self, config: UniMoConfig):
        super().__init__(config)
        c = config
        vocab = c.vocab
        if c.embedding == "separate":
            self.embed = nn.ModuleList(nn.Embedding(vocab.size(m), c.dim) for m in Modality)
            self.heads = nn.ModuleList(nn.Linear(c.dim, vocab.size(m), bias=False) for m in Modality)
        else:
            self.shared_codes = max(vocab.video_size, vocab.motion_size)
            self.embed = nn.ModuleList([nn.Embedding(self.shared_codes + vocab.num_special, c.dim)])
            self.heads = nn.ModuleList([nn.Linear(c.dim, self.shared_codes + vocab.num_special, bias=False)])
        self.video_code_proj: nn.Linear | None = None
        self.motion_context_proj: nn.Linear | None = None
        if c.video_code_features or c.motion_video_context:
            from ..blocks.quantizers import FSQ

            vectors = FSQ(c.video_fsq_levels).codes_to_vectors(torch.arange(c.video_vocab_size))  # (V, len(levels))
            self.register_buffer("video_code_vectors", vectors, persistent=False)
        if c.video_code_features:
            self.video_code_proj = nn.Linear(len(c.video_fsq_levels), c.dim, bias=False)
        if c.motion_video_context:  # one latent frame's h·w FSQ vectors, flattened → D
            frame_dim = c.video_grid[0] * c.video_grid[1] * len(c.video_fsq_levels)
            self.motion_context_proj = nn.Linear(frame_dim, c.dim, bias=False)
        self.pose_head: nn.Linear | None = None
        if c.pose_aux_weight > 0:  # hidden state at a motion token → its frame's pelvis-relative joints
            self.pose_head = nn.Linear(c.dim, c.pose_aux_dim)
        if c.abs_grid_embedding:
            self.row_embed = nn.Embedding(c.video_grid[0], c.dim)
            self.col_embed = nn.Embedding(c.video_grid[1], c.dim)
            self.sub_embed = nn.Embedding(c.motion_tokens_per_step, c.dim)
        if c.abs_time_embedding:  # learned gain: unit-amplitude sinusoids would drown 0.02-std embeddings
            self.time_gain = nn.Parameter(torch.tensor(float(c.init_std)))
        self.rotary = Rotary3D(c.head_dim, c.rope_theta)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.n_layers))
        self.norm = RMSNorm(c.dim, c.norm_eps)
        self.register_buffer("offsets", vocab.offsets_tensor(), persistent=False)
        self.apply(self._init_weights)
        if self.motion_context_proj is not None:  # a sum over h·w·levels inputs: keep it at the embeddings' scale
            nn.init.normal_(self.motion_context_proj.weight, 0.0, c.init_std / math.sqrt(self.motion_context_proj.in_features))
        for name, p in self.named_parameters():  # scaled residual projections (GPT-2)
            if name.endswith("wo.weight") or name.endswith("w2.weight"):
                nn.init.normal_(p, 0.0, c.init_std / math.sqrt(2 * c.n_layers))

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, 0.0, self.config.init_std)

    @property
    def vocab(self) -> Vocab:
        return self.config.vocab

    # ------------------------------------------------------------------ core forward
    def embed_tokens(self, ids: torch.Tensor, modality: torch.Tensor) -> torch.Tensor:
        """(B, L) global ids (PLACEHOLDER/pad allowed: embedded as a zero vector) → (B, L, D)."""
        known = ids >= 0
        local = (ids - self.offsets[modality]).clamp(min=0)
        if self.config.embedding == "shared":  # codes by local id (shared across modalities), then specials
            row = torch.where(modality == Modality.SPECIAL, local + self.shared_codes, local)
            out = self.embed[0](row) * known[..., None]
        else:
            out = torch.zeros(*ids.shape, self.config.dim, device=ids.device, dtype=self.embed[0].weight.dtype)
            for m, table in enumerate(self.embed):
                sel = (modality == m) & known
                if sel.any():
                    out[sel] = table(local[sel])
        if self.video_code_proj is not None:
            is_video = (modality == Modality.VIDEO) & known
            code = local.clamp(max=self.config.video_vocab_size - 1)
            out = out + self.video_code_proj(self.video_code_vectors[code]) * is_video[..., None]
        return out

    def forward_tokens(self, ids: torch.Tensor, modality: torch.Tensor, time: torch.Tensor, row: torch.Tensor,
                       col: torch.Tensor, sub: torch.Tensor, cache: KVCache | None = None,
                       logits: bool = True, frames: torch.Tensor | None = None) -> UniMoOutput:
        """Logits for a (chunk of a) laid-out batch; every argument but ``frames`` is (B, L).

        With a ``cache`` the tokens continue the cached prefix and the cache is advanced by L. ``logits=False``
        returns only the final hidden states (the training loss then runs each head where it is needed).
        ``frames`` (B, K, h·w): the whole sequence's video ids by latent frame (:meth:`video_frames`), needed
        by ``motion_video_context``.
        """
        c = self.config
        x = self.embed_tokens(ids, modality)
        if self.motion_context_proj is not None:
            if frames is None:
                raise InputError("motion_video_context needs the sequence's video frames (frames=video_frames(...))")
            x = x + self.motion_context(frames, modality, time)
        is_video = (modality == Modality.VIDEO)[..., None]
        is_motion = (modality == Modality.MOTION)[..., None]
        if c.abs_grid_embedding:
            rc = self.row_embed(row.clamp(0, c.video_grid[0] - 1)) + self.col_embed(col.clamp(0, c.video_grid[1] - 1))
            x = x + rc * is_video + self.sub_embed(sub.clamp(0, c.motion_tokens_per_step - 1)) * is_motion
        if c.abs_time_embedding:
            x = x + self.time_gain * sinusoidal(time * c.temporal_compression, c.dim).to(x.dtype)
        motion_a = sub if c.motion_rope == "time_sub" else torch.zeros_like(sub)
        a = torch.where(modality == Modality.VIDEO, row, torch.where(modality == Modality.MOTION, motion_a, 0))
        b = torch.where(modality == Modality.VIDEO, col, 0)
        cos, sin = self.rotary(time, a, b)
        for i, block in enumerate(self.blocks):
            x = block(x, cos, sin, i, cache)
        if cache is not None:
            cache.length += ids.shape[1]
        h = self.norm(x)
        if not logits:
            return UniMoOutput(logits=None, hidden=h)
        if c.embedding == "shared":
            z = self.heads[0](h)  # (B, L, max(V, K) + N): code logits once, then the specials
            v, m = self.vocab.video_size, self.vocab.motion_size
            logits = torch.cat([z[..., :v], z[..., :m], z[..., self.shared_codes :]], dim=-1)
        else:
            logits = torch.cat([head(h) for head in self.heads], dim=-1)
        return UniMoOutput(logits=logits, hidden=h)

    def video_frames(self, ids: torch.Tensor, modality: torch.Tensor) -> torch.Tensor | None:
        """(B, K, h·w) global video ids of laid-out sequences (B, L) by latent frame (PLACEHOLDER where not yet
        generated); None unless ``motion_video_context``. Every layout holds its K·h·w video tokens in frame order."""
        if self.motion_context_proj is None:
            return None
        b = ids.shape[0]
        hw = self.config.video_grid[0] * self.config.video_grid[1]
        return ids[modality == Modality.VIDEO].view(b, -1, hw)

    def motion_step(self, time: torch.Tensor) -> torch.Tensor:
        """Motion step index of a motion token from its time coordinate (layouts: time = step·r / c_t), long."""
        c = self.config
        return torch.round(time * c.temporal_compression / c.motion_frames_per_step).long()

    def motion_context(self, frames: torch.Tensor, modality: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        """(B, L, D) added to motion tokens: Linear(FSQ vectors of the h·w video tokens of the latent frame that
        the layout puts before the motion's step (:meth:`Geometry.chunk_of_step`, so every layout stays causal));
        zero elsewhere and for frames not yet known."""
        c = self.config
        b, k, hw = frames.shape
        geom = c.geometry(k)
        r, ct = c.motion_frames_per_step, c.temporal_compression
        step = self.motion_step(time)
        last = ((step + 1) * r - 1).clamp(max=geom.num_frames - 1)
        chunk = torch.div(last + ct - 1, ct, rounding_mode="floor").clamp(0, k - 1)  # ceil(last / c_t): (B, L)
        known = frames >= 0
        vec = self.video_code_vectors[(frames - self.offsets[Modality.VIDEO]).clamp(0, c.video_vocab_size - 1)]
        vec = (vec * known[..., None]).flatten(2)  # (B, K, h·w·len(levels))
        per_token = torch.gather(vec, 1, chunk[..., None].expand(-1, -1, vec.shape[-1]))  # (B, L, F)
        return self.motion_context_proj(per_token) * (modality == Modality.MOTION)[..., None]

    def new_cache(self, batch: int, max_len: int) -> KVCache:
        c = self.config
        p = next(self.parameters())
        return KVCache(c.n_layers, batch, c.kv_heads, max_len, c.head_dim, p.device, p.dtype)

    # ------------------------------------------------------------------ loss
    def loss(self, logits: torch.Tensor | None, batch: dict[str, torch.Tensor], hidden: torch.Tensor | None = None
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Next-token CE on target positions. logits (B, L, V) from a full forward of ``batch``, or — with
        separate heads and restricted logits — ``hidden`` (B, L, D): each modality's head then runs only at the
        positions whose target has that modality (the same loss without the (B, L, V) logits tensor; with a
        12,800-code video vocabulary that tensor dominated the step time)."""
        c, vocab = self.config, self.vocab
        if hidden is not None and not (c.restrict_logits_to_modality and c.embedding == "separate"):
            raise InputError("the loss from hidden states needs separate heads and restrict_logits_to_modality")
        pred = logits[:, :-1] if hidden is None else hidden[:, :-1]
        tgt = batch["ids"][:, 1:]
        tmask = batch["target"][:, 1:] & batch["valid"][:, 1:]
        tmod = batch["modality"][:, 1:]
        logs: dict[str, torch.Tensor] = {}
        num = pred.new_zeros(())
        den = pred.new_zeros(())
        for m, weight in ((Modality.VIDEO, c.video_loss_weight), (Modality.MOTION, c.motion_loss_weight)):
            sel = tmask & (tmod == m)
            n = sel.sum()
            if n == 0:
                continue
            if c.restrict_logits_to_modality:
                lo, hi = vocab.range(m)
                z = self.heads[m](pred[sel]) if hidden is not None else pred[sel][:, lo:hi]  # (n, V_m)
                ce = F.cross_entropy(z.float(), tgt[sel] - lo, reduction="sum")
                correct = (z.argmax(-1) == tgt[sel] - lo).float().mean()
            else:
                ce = F.cross_entropy(pred[sel].float(), tgt[sel], reduction="sum")
                correct = (pred[sel].argmax(-1) == tgt[sel]).float().mean()
            name = m.name.lower()
            logs[f"ce_{name}"] = (ce / n).detach()
            logs[f"acc_{name}"] = correct.detach()
            num = num + weight * ce
            den = den + weight * n
        if den == 0:
            raise InputError("the batch has no target tokens")
        return num / den, logs

    def read_ids(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, L) the ids the model reads for a layout batch: ``input_ids`` (noised inputs) or ``ids``; with
        ``v2m_motion_inputs="masked"`` every motion token of a V2M sequence (one holding ``<V2M>``) is read as
        PLACEHOLDER (embedded as zeros)."""
        ids = batch.get("input_ids", batch["ids"])
        if self.config.v2m_motion_inputs != "masked":
            return ids
        v2m = (batch["ids"] == self.vocab.special(Special.V2M)).any(dim=1, keepdim=True)  # (B, 1)
        return torch.where(v2m & (batch["modality"] == Modality.MOTION), torch.full_like(ids, PLACEHOLDER), ids)

    def modality_logits(self, hidden: torch.Tensor, modality: Modality) -> torch.Tensor:
        """(..., D) hidden states → (..., V_m) logits over one modality's local ids."""
        if self.config.embedding == "shared":
            z = self.heads[0](hidden)
            return z[..., self.shared_codes :] if modality == Modality.SPECIAL else z[..., : self.vocab.size(modality)]
        return self.heads[modality](hidden)

    def forward(self, batch: dict[str, torch.Tensor], return_logits: bool = True) -> UniMoOutput:
        """Full forward of a collated layout batch (:func:`~unimotion.models.unimo.layouts.collate_sequences`)
        with the training loss. ``return_logits=False`` (training) skips the full logits tensor where the
        loss allows it (separate heads, restricted logits; :meth:`loss`)."""
        c = self.config
        lean = not return_logits and c.restrict_logits_to_modality and c.embedding == "separate"
        ids = self.read_ids(batch)  # (B, L) what the model reads; batch["ids"] holds the targets
        out = self.forward_tokens(ids, batch["modality"], batch["time"], batch["row"], batch["col"],
                                  batch["sub"], logits=not lean, frames=self.video_frames(ids, batch["modality"]))
        out.loss, out.losses = self.loss(None, batch, hidden=out.hidden) if lean else self.loss(out.logits, batch)
        return out

    # ------------------------------------------------------------------ data → layouts
    def _check_codes(self, video_codes: torch.Tensor, motion_codes: torch.Tensor | None) -> None:
        h, w = self.config.video_grid
        if video_codes.ndim != 4 or tuple(video_codes.shape[2:]) != (h, w):
            raise InputError(f"video codes must be (B, k, {h}, {w}), got {tuple(video_codes.shape)}")
        if motion_codes is not None and (motion_codes.ndim != 2 or motion_codes.shape[0] != video_codes.shape[0]):
            raise InputError(f"motion codes must be (B, N), got {tuple(motion_codes.shape)}")

    def sample_tasks(self, batch_size: int, step: int) -> list[str]:
        """Per-sample tasks drawn from ``task_weights`` with a generator seeded by (seed, step)."""
        names = [t for t in TASKS if self.config.task_weights.get(t, 0) > 0]
        weights = torch.tensor([self.config.task_weights[t] for t in names], dtype=torch.float64)
        g = torch.Generator().manual_seed(self.config.seed * 1_000_003 + step)
        picks = torch.multinomial(weights, batch_size, replacement=True, generator=g)
        return [names[i] for i in picks.tolist()]

    def build_batch(self, video_codes: torch.Tensor, motion_codes: torch.Tensor, tasks: list[str]
                    ) -> dict[str, torch.Tensor]:
        """Lay out full clips. video_codes (B, K, h, w), motion_codes (B, S·s) local ids → collated batch."""
        self._check_codes(video_codes, motion_codes)
        geom = self.config.geometry(video_codes.shape[1])
        if motion_codes.shape[1] != geom.num_motion_tokens:
            raise InputError(f"{video_codes.shape[1]} latent frames need {geom.num_motion_tokens} motion tokens "
                             f"({geom.motion_steps} steps × s={geom.motion_tokens_per_step}), got {motion_codes.shape[1]}")
        seqs = [build_sequence(t, geom, self.vocab, video_codes[i], motion_codes[i], self._interleave(t))
                for i, t in enumerate(tasks)]
        device = video_codes.device
        return {k: v.to(device) for k, v in collate_sequences(seqs, self.vocab).items()}

    def pose_loss(self, hidden: torch.Tensor, batch: dict[str, torch.Tensor], pose: torch.Tensor) -> torch.Tensor:
        """Auxiliary pose loss (``pose_aux_weight``): mean L1 (metres) between ``pose_head`` of the hidden state
        at every motion token and the pelvis-relative joints of the first frame of that token's step.
        hidden (B, L, D), pose (B, T, J·3)."""
        c = self.config
        sel = (batch["modality"] == Modality.MOTION) & batch["valid"]
        frame = (self.motion_step(batch["time"]) * c.motion_frames_per_step).clamp(0, pose.shape[1] - 1)  # (B, L)
        target = torch.gather(pose, 1, frame[..., None].expand(-1, -1, pose.shape[-1]))  # (B, L, J·3)
        return (self.pose_head(hidden[sel]) - target[sel]).abs().mean()

    def noisy_inputs(self, batch: dict[str, torch.Tensor], step: int) -> torch.Tensor:
        """(B, L) input ids with each motion token replaced, with probability ``motion_input_noise``, by a
        uniformly drawn motion code (generator seeded by (seed, step)); other tokens unchanged."""
        ids, modality = batch["ids"], batch["modality"]
        g = torch.Generator().manual_seed(self.config.seed * 1_000_003 + step + 7_919)
        flip = torch.rand(ids.shape, generator=g) < self.config.motion_input_noise
        codes = torch.randint(0, self.vocab.motion_size, ids.shape, generator=g) + self.vocab.offset(Modality.MOTION)
        flip = flip.to(ids.device) & (modality == Modality.MOTION) & (ids >= 0)
        return torch.where(flip, codes.to(ids.device), ids)

    def _interleave(self, task: str) -> bool:
        return self.config.i2vm_interleave if task == "i2vm" else self.config.v2m_interleave

    def training_step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        """Either a collated layout batch (``ids``, …) or tokenized clips: ``video_codes`` (B, K, h, w) and
        ``motion_codes`` (B, S·s), optional ``tasks`` (list of "i2vm"/"v2m"; default: drawn)."""
        pose = batch.get("pose")  # (B, T, J·3) pelvis-relative joints (TokenClipDataset with pose), optional
        if "ids" not in batch:
            tasks = batch.get("tasks") or self.sample_tasks(batch["video_codes"].shape[0], step)
            batch = self.build_batch(batch["video_codes"], batch["motion_codes"], list(tasks))
        if self.config.motion_input_noise > 0 and self.training:
            batch = {**batch, "input_ids": self.noisy_inputs(batch, step)}
        out = self(batch, return_logits=False)
        if self.pose_head is not None and pose is not None:
            aux = self.pose_loss(out.hidden, batch, pose)
            out.losses["pose_l1"] = aux.detach()
            out.loss = out.loss + self.config.pose_aux_weight * aux
        # Heads of modalities without targets in this batch (always the special head; the video head in a
        # V2M-only batch) get no gradient; a zero-weighted term keeps them in the graph so that DDP
        # (which the Trainer runs without find_unused_parameters) does not wait for their gradients.
        loss = out.loss + 0.0 * sum(p.sum() for p in self.heads.parameters())
        return {"loss": loss, **out.losses}

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def generate(
        self,
        task: str,
        video_codes: torch.Tensor,
        num_latent_frames: int | None = None,
        video_sampling: SamplingConfig | None = None,
        motion_sampling: SamplingConfig | None = None,
        generator: torch.Generator | None = None,
        use_cache: bool = True,
    ) -> GenerationOutput:
        """Generate with the layout of ``task``.

        Args:
            task: "i2vm" (``video_codes`` (B, 1, h, w) = V_0 of the input image; video and motion of
                ``num_latent_frames`` latent frames are generated) or "v2m" (``video_codes`` (B, K, h, w),
                all video given; the motion is generated).
            num_latent_frames: K for I2VM (default ``config.max_latent_frames``); V2M uses the input's K.
            video_sampling / motion_sampling: defaults: video temperature 1.0 top-p 0.9; motion greedy
                for V2M, temperature 1.0 top-p 0.9 for I2VM.
            generator: RNG for reproducible sampling.
            use_cache: KV-cached decoding (masked V2M, ``v2m_motion_inputs="masked"``, is one forward pass).
        """
        if task not in TASKS:
            raise InputError(f"unknown task {task!r}; expected one of {list(TASKS)}")
        self._check_codes(video_codes, None)
        if task == "v2m":
            k = video_codes.shape[1]
        else:
            k = num_latent_frames or self.config.max_latent_frames
            if video_codes.shape[1] > k:
                raise InputError(f"I2VM prompt has {video_codes.shape[1]} latent frames but only {k} are generated")
        geom = self.config.geometry(k)
        video_sampling = video_sampling or SamplingConfig(temperature=1.0, top_p=0.9)
        if motion_sampling is None:
            motion_sampling = SamplingConfig(greedy=True) if task == "v2m" else SamplingConfig(temperature=1.0, top_p=0.9)
        batch = self.generation_batch(task, video_codes, geom)
        was_training = self.training
        self.eval()
        sampling = {Modality.VIDEO: video_sampling, Modality.MOTION: motion_sampling}
        try:
            if task == "v2m" and self.config.v2m_motion_inputs == "masked":
                ids = fill_in_parallel(self, batch, sampling, generator=generator)
            else:
                ids, _ = generate_tokens(self, batch, self.vocab, sampling, generator=generator, use_cache=use_cache)
        finally:
            self.train(was_training)
        return self.split_codes(ids, batch["modality"], geom)

    def generation_batch(self, task: str, video_codes: torch.Tensor, geometry: Geometry) -> dict[str, torch.Tensor]:
        """The layout of ``task`` with the given video codes (B, k, h, w) and placeholders for the rest."""
        seqs = [build_sequence(task, geometry, self.vocab, video_codes[i].cpu(), None, self._interleave(task))
                for i in range(video_codes.shape[0])]
        return {k: v.to(video_codes.device) for k, v in collate_sequences(seqs, self.vocab).items()}

    @torch.no_grad()
    def v2m_motion_probs(self, video_codes: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """Masked V2M only: the distribution of every motion token given the video, (B, S·s, K) over the local
        motion codes (softmax of the logits / ``temperature``), from one forward pass. With the autoregressive
        model these would depend on the tokens sampled before, so it raises there."""
        if self.config.v2m_motion_inputs != "masked":
            raise InputError("per-token V2M probabilities need a masked-V2M model (v2m_motion_inputs='masked')")
        if temperature <= 0:
            raise InputError(f"temperature must be > 0, got {temperature}")
        self._check_codes(video_codes, None)
        batch = self.generation_batch("v2m", video_codes, self.config.geometry(video_codes.shape[1]))
        was_training = self.training
        self.eval()
        try:
            z = parallel_logits(self, batch)[Modality.MOTION][1]
        finally:
            self.train(was_training)
        return torch.softmax(z.float() / temperature, dim=-1)

    def split_codes(self, ids: torch.Tensor, modality: torch.Tensor, geometry: Geometry) -> GenerationOutput:
        """Local video (B, K, h, w) and motion (B, S·s) codes of laid-out sequences (B, L)."""
        vocab = self.vocab
        b = ids.shape[0]
        video = ids[modality == Modality.VIDEO].view(b, -1) - vocab.offset(Modality.VIDEO)
        motion = ids[modality == Modality.MOTION].view(b, -1) - vocab.offset(Modality.MOTION)
        h, w = geometry.grid
        return GenerationOutput(video.view(b, geometry.latent_frames, h, w), motion, ids)
