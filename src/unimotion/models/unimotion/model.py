"""UniMotionModel: motion latents + a causal LLM with hybrid attention, routed LoRA and a motion flow head.

Data path (one forward)::

    TaskExample(s) ──SequenceBuilder──▶ ids, spans, labels, positions, hybrid mask
    text ids ─────────▶ backbone embedding table ─┐
    span latents (clean source z | noisy target z_t) ──▶ dual-path embedder ─┤ inputs_embeds (B, L, H)
    span time t ──────▶ time-token embedder ─────┘
                                    ▼
                 backbone (HF causal LM, 4D hybrid mask, LoRA routed per token by modality)
                                    ▼
          hidden states ──▶ LM head on answer positions ──▶ L_NTP
          hidden states at flow spans ──▶ flow head (AdaLN: t, z_t) ──▶ v̂ ──▶ L_flow = ‖v̂ − (z − z_0)‖²

    L = λ_ntp · L_NTP + λ_flow · L_flow        (paper: λ_ntp = 1, λ_flow = 0.8)

Flow spans are the target spans of the generation tasks (t2m, prediction, editing) and, for LRA's ``m2m``
task, the source span itself: the backbone sees the clean, degraded condition and z_t reaches the head only
through AdaLN (spec §5.2, :mod:`.lra`). At target spans the backbone reads, per ``config.target_input``, either
the noisy latent z_t through the embedder with a time token at the start of the span (Show-o2 style, the spec's
inference) or a fixed placeholder (the embedding of the zero latent at t = 0), in which case z_t reaches the
head only through AdaLN, as in LRA, and sampling runs the backbone once instead of at every Euler step.

Training examples get the null condition with probability ``flow.cond_dropout`` (classifier-free guidance).
Sampling and text generation live in :mod:`.sampling` (also reachable as methods of the model).

The checkpoint holds everything needed to rebuild the model without the original backbone directory:
the resolved Hugging Face config (``backbone.json``), the tokenizer (``tokenizer/``) and all weights.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F

from ...errors import CheckpointError, ConfigError, InputError
from ...flow.rectified_flow import FlowConfig, flow_matching_loss, interpolate, sample_time, velocity_target
from ...utils.io import write_json
from ...utils.logging import get_logger
from ..modeling_utils import ModelOutput, PretrainedModel
from .backbone import (
    BackboneConfig,
    build_backbone,
    build_backbone_from_hf_dict,
    decoder_layers,
    set_backbone_trainability,
)
from .embedders import EmbedderConfig, MotionDualPathEmbedder, TimeTokenEmbedder
from .flow_head import FlowHeadConfig, MotionFlowHead
from .lra import LRAConfig, degrade_condition, shuffle_conditions
from .routed_lora import LoRAConfig, LoRARouter, apply_routed_lora, parameter_report
from .sequence import IGNORE_INDEX, SOURCE, TARGET, SequenceBuilder, SpanIndex, TaskExample
from .templates import GENERATION_TASKS, TASKS, TemplateConfig
from .tokenizer import default_tokenizer, load_tokenizer

__all__ = ["TokenizerConfig", "UniMotionConfig", "UniMotionOutput", "UniMotionModel", "collate_examples",
           "paper_config", "lora_parameter_fraction"]

log = get_logger(__name__)

BACKBONE_FILE = "backbone.json"
TOKENIZER_DIR = "tokenizer"


@dataclass
class TokenizerConfig:
    """Where the text tokenizer comes from.

    ``path``: a local tokenizer directory (e.g. trained with :func:`.tokenizer.train_bpe_tokenizer` on the
    corpus captions). None: the backbone's ``pretrained_path`` when there is one, else a small BPE trained on a
    built-in caption-like corpus (:func:`.tokenizer.default_tokenizer`, for tests and benchmarks only).
    """

    path: str | None = None
    fallback_vocab_size: int = 1024


@dataclass
class UniMotionConfig:
    """Everything that defines a UniMotion model (saved as ``config.json``).

    Attributes:
        latent_dim: d of the motion latents z ∈ R^{T_z×d} (CMA-VAE's latent width; spec default 256).
        max_latent_len: longest motion span T_z (⌈196/4⌉ = 49 for HumanML3D's 196 frames at 4× compression).
        max_sequence_length: longest token sequence accepted.
        time_token: put a time-embedding token at the start of every motion span (Show-o2 style).
        target_input: what the backbone reads at the target span of a generation task (t2m, prediction, editing).
            ``"noisy_latent"``: the noisy latent z_t through the embedder, and t in the time token — Show-o2's
            design, which the spec infers for UniMotion (§4.6); the backbone must run at every Euler step.
            ``"placeholder"``: the embedding of the all-zero latent (the prior mean) at t = 0, the same for every
            step; z_t and t reach the flow head only through AdaLN — the conditioning LRA pre-trains (§5.2), here
            used for generation too. The backbone then runs once per sample and only the flow head runs at each
            Euler step (``sampling.sample_motion``). Needs ``flow_head.zt_conditioning = "always"``.
    """

    latent_dim: int = 256
    max_latent_len: int = 64
    max_sequence_length: int = 1024
    time_token: bool = True
    target_input: Literal["noisy_latent", "placeholder"] = "noisy_latent"
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    embedder: EmbedderConfig = field(default_factory=EmbedderConfig)
    lora: LoRAConfig = field(default_factory=LoRAConfig)
    flow_head: FlowHeadConfig = field(default_factory=FlowHeadConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    lra: LRAConfig = field(default_factory=LRAConfig)
    templates: TemplateConfig = field(default_factory=TemplateConfig)

    def __post_init__(self) -> None:
        if self.latent_dim < 1:
            raise ConfigError(f"latent_dim must be >= 1, got {self.latent_dim}")
        if self.max_latent_len < 1:
            raise ConfigError(f"max_latent_len must be >= 1, got {self.max_latent_len}")
        if self.target_input not in ("noisy_latent", "placeholder"):
            raise ConfigError(f"target_input must be 'noisy_latent' or 'placeholder', got {self.target_input!r}")


@dataclass
class UniMotionOutput(ModelOutput):
    """Training forward output. Flow tensors cover every flow span (N spans, up to T latent tokens)."""

    loss: torch.Tensor | None = None
    ntp_loss: torch.Tensor | None = None
    flow_loss: torch.Tensor | None = None
    velocity: torch.Tensor | None = None  # (N, T, d) predicted
    velocity_target: torch.Tensor | None = None  # (N, T, d) z − z_0
    flow_mask: torch.Tensor | None = None  # (N, T) bool
    flow_t: torch.Tensor | None = None  # (N,)
    num_answer_tokens: int = 0


def collate_examples(items: Sequence[TaskExample]) -> dict[str, Any]:
    """DataLoader ``collate_fn``: the examples as a list (the model builds the sequences) plus ``latent_steps``
    (B,), the latent length of each example's motion (target, else source; 0 without motion)."""
    items = list(items)
    steps = [
        int(ex.target.shape[0]) if ex.target is not None else int(ex.source.shape[0]) if ex.source is not None else 0
        for ex in items
    ]
    return {"examples": items, "latent_steps": torch.tensor(steps, dtype=torch.long)}


class UniMotionModel(PretrainedModel):
    """See the module docstring. ``UniMotionModel(config)`` builds it; ``tokenizer`` overrides the config's."""

    config_class = UniMotionConfig
    model_type = "unimotion"

    def __init__(self, config: UniMotionConfig, tokenizer: Any = None, _saved_backbone: dict | None = None):
        super().__init__(config)
        self.tokenizer = tokenizer if tokenizer is not None else self._resolve_tokenizer(config)
        self.builder = SequenceBuilder(self.tokenizer, config.templates, config.time_token, config.max_sequence_length)
        if _saved_backbone is not None:
            backbone = build_backbone_from_hf_dict(_saved_backbone["hf_config"], config.backbone.attn_implementation)
            self.num_pretrained_tokens = int(_saved_backbone.get("num_pretrained_tokens", 0))
            self.new_token_ids = [int(i) for i in _saved_backbone.get("new_token_ids", [])]
        else:
            backbone, self.num_pretrained_tokens = build_backbone(config.backbone, len(self.tokenizer))
            # rows inside a pretrained table that hold tokens the pretrained model never saw
            ids = self.builder.ids
            added = getattr(self.tokenizer, "unimotion_added_tokens", [])
            new_ids = set(self.tokenizer.convert_tokens_to_ids(added)) if added else set()
            new_ids |= {*ids.span_start.values(), *ids.span_end.values(), *ids.span_pad.values()}
            self.new_token_ids = sorted(int(i) for i in new_ids) if self.num_pretrained_tokens else []
        if backbone.get_input_embeddings().weight.shape[0] < len(self.tokenizer):
            raise CheckpointError(
                f"the backbone has {backbone.get_input_embeddings().weight.shape[0]} embedding rows but the "
                f"tokenizer has {len(self.tokenizer)} tokens"
            )
        self.backbone = backbone
        self._grad_hooks = set_backbone_trainability(
            backbone, config.backbone, self.num_pretrained_tokens, self.new_token_ids
        )
        hidden = backbone.config.hidden_size
        self.hidden_size = hidden

        lora = config.lora
        text_branch = lora.branches.index(lora.modality_branch["text"])
        self.router = LoRARouter(len(lora.branches), default_branch=text_branch)
        self.lora_modules = apply_routed_lora(backbone, lora, self.router) if lora.enabled else []
        self.register_buffer(
            "branch_of_modality", torch.tensor(lora.branch_of_modality(), dtype=torch.long), persistent=False
        )
        self.motion_embedder = MotionDualPathEmbedder(config.embedder, config.latent_dim, hidden, config.max_latent_len)
        self.time_embedder = TimeTokenEmbedder(hidden) if config.time_token else None
        self.flow_head = MotionFlowHead(config.flow_head, hidden, config.latent_dim, config.max_latent_len)
        if config.target_input == "placeholder" and config.flow_head.zt_conditioning != "always":
            raise ConfigError('target_input="placeholder" keeps z_t out of the backbone, so the flow head must read it: '
                              'set flow_head.zt_conditioning="always"')
        rep = self.parameter_report()
        log.info(
            "UniMotion: %s parameters, %s trainable (%.1f%%), routed LoRA %s (%.2f%% of the backbone)",
            f"{rep['total']:,}", f"{rep['trainable']:,}", 100 * rep["trainable_fraction"], f"{rep['lora']:,}",
            100 * lora_parameter_fraction(self),
        )

    # ------------------------------------------------------------------ construction helpers
    @staticmethod
    def _resolve_tokenizer(config: UniMotionConfig):
        if config.tokenizer.path is not None:
            return load_tokenizer(config.tokenizer.path)
        if config.backbone.pretrained_path is not None:
            return load_tokenizer(config.backbone.pretrained_path)
        return default_tokenizer(config.tokenizer.fallback_vocab_size)

    @property
    def special_ids(self):
        return self.builder.ids

    def parameter_report(self) -> dict[str, float]:
        """Total / trainable / LoRA parameter counts (see :func:`.routed_lora.parameter_report`)."""
        return parameter_report(self)

    # ------------------------------------------------------------------ save / load
    def _save_extra(self, directory: Path) -> None:
        self.tokenizer.save_pretrained(str(directory / TOKENIZER_DIR))
        write_json(
            directory / BACKBONE_FILE,
            {
                "hf_config": self.backbone.config.to_dict(),
                "num_pretrained_tokens": self.num_pretrained_tokens,
                "new_token_ids": self.new_token_ids,
            },
        )

    @classmethod
    def _from_config_and_directory(cls, config: UniMotionConfig, directory: Path) -> UniMotionModel:
        from ..modeling_utils import check_config_numbers, read_checkpoint_json

        bpath = directory / BACKBONE_FILE
        if not bpath.is_file():
            raise CheckpointError(f"{directory}: {BACKBONE_FILE} is missing")
        saved = read_checkpoint_json(bpath, BACKBONE_FILE)
        check_config_numbers(saved, str(bpath))
        if not (directory / TOKENIZER_DIR).is_dir():
            raise CheckpointError(f"{directory}: the {TOKENIZER_DIR}/ folder is missing")
        tokenizer = load_tokenizer(directory / TOKENIZER_DIR)
        return cls(config, tokenizer=tokenizer, _saved_backbone=saved)

    # ------------------------------------------------------------------ validation
    def validate_latent(self, z: Any, what: str) -> torch.Tensor:
        """Check a user latent (T, d): tensor, float, right width, finite, 1 ≤ T ≤ max_latent_len."""
        if not isinstance(z, torch.Tensor):
            raise InputError(f"{what} must be a torch.Tensor of shape (T, {self.config.latent_dim}), got {type(z).__name__}")
        if z.ndim != 2 or z.shape[1] != self.config.latent_dim:
            raise InputError(f"{what} must have shape (T, {self.config.latent_dim}), got {tuple(z.shape)}")
        if not z.is_floating_point():
            raise InputError(f"{what} must be a float tensor, got {z.dtype}")
        if not 1 <= z.shape[0] <= self.config.max_latent_len:
            raise InputError(f"{what} has {z.shape[0]} latent steps; allowed 1..{self.config.max_latent_len}")
        if not torch.isfinite(z).all():
            raise InputError(f"{what} contains NaN or Inf")
        return z

    def validate_example(self, ex: TaskExample, training: bool) -> None:
        if not isinstance(ex, TaskExample):
            raise InputError(f"expected a TaskExample, got {type(ex).__name__}")
        if ex.task not in TASKS:
            raise InputError(f"unknown task {ex.task!r}; expected one of {TASKS}")
        for name in ("caption", "instruction"):
            value = getattr(ex, name)
            if value is not None and not isinstance(value, str):
                raise InputError(f"{ex.task}: {name} must be a string, got {type(value).__name__}")
        if ex.task == "t2m" and not (ex.caption or "").strip() and not ex.drop_condition:
            raise InputError("t2m: the caption is empty")
        if ex.task == "m2t" and training and not (ex.caption or "").strip():
            raise InputError("m2t: training needs a non-empty caption (the answer)")
        if ex.task == "editing" and not (ex.instruction or "").strip() and not ex.drop_condition:
            raise InputError("editing: the instruction is empty")
        if ex.task != "t2m":
            if ex.source is None:
                raise InputError(f"{ex.task}: a source motion latent is required")
            self.validate_latent(ex.source, f"{ex.task} source latent")
        if ex.task in GENERATION_TASKS:
            if ex.target is not None:
                self.validate_latent(ex.target, f"{ex.task} target latent")
            elif training:
                raise InputError(f"{ex.task}: training needs the target latent")
            else:
                n = ex.target_length
                if not isinstance(n, int) or not 1 <= n <= self.config.max_latent_len:
                    raise InputError(
                        f"{ex.task}: target_length must be an int in 1..{self.config.max_latent_len}, got {n!r}"
                    )

    # ------------------------------------------------------------------ building blocks
    def route_for(self, modality: torch.Tensor) -> torch.Tensor:
        """(B, L) modality ids → (B, L) LoRA branch ids."""
        return self.branch_of_modality.to(modality.device)[modality]

    def embed_tokens(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.backbone.get_input_embeddings()(input_ids)

    def embed_spans(
        self,
        inputs_embeds: torch.Tensor,
        index: SpanIndex,
        latents: torch.Tensor,
        t: torch.Tensor,
        col_offset: int = 0,
        span_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Write span embeddings into ``inputs_embeds`` (B, L, H) (out of place).

        Args:
            index: the spans (rows, latent columns, masks, time-token columns).
            latents: (N, T, d) latents per span (clean or noisy).
            t: (N,) flow time per span (1 for clean spans).
            col_offset: subtracted from every column (when ``inputs_embeds`` holds a slice of the sequence).
            span_embeds: precomputed embedder output (N, T, H) (the sampler shares it between CFG branches).
        """
        if not index.spans:
            return inputs_embeds
        if span_embeds is None:
            span_embeds = self.motion_embedder(latents, index.mask)  # (N, T, H)
        m = index.mask
        rows = index.rows[:, None].expand_as(index.cols)[m]
        out = inputs_embeds.index_put((rows, index.cols[m] - col_offset), span_embeds[m].to(inputs_embeds.dtype))
        if self.time_embedder is not None:
            has = index.time_cols >= 0
            if has.any():
                tt = self.time_embedder(t[has]).to(out.dtype)  # (n, H)
                out = out.index_put((index.rows[has], index.time_cols[has] - col_offset), tt)
        return out

    @property
    def backbone_reads_noisy_target(self) -> bool:
        """True when the target span's backbone input depends on (z_t, t) (``target_input="noisy_latent"``)."""
        return self.config.target_input == "noisy_latent"

    def target_span_input(self, z_t: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """What the embedder and time token receive at target spans: (z_t, t), or the placeholder (0, 0).

        z_t: (N, T, d), t: (N,) → the same shapes.
        """
        if self.backbone_reads_noisy_target:
            return z_t, t
        return torch.zeros_like(z_t), torch.zeros_like(t)

    def run_backbone(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        modality: torch.Tensor,
        past_key_values: Any = None,
    ) -> torch.Tensor:
        """Backbone (without LM head) under the hybrid mask and per-token LoRA routing. Returns (B, Lq, H)."""
        base = self.backbone.base_model
        with self.router.routing(self.route_for(modality)):
            out = base(
                inputs_embeds=inputs_embeds,
                attention_mask=attention_mask,
                position_ids=position_ids,
                past_key_values=past_key_values,
                use_cache=past_key_values is not None,
            )
        return out.last_hidden_state

    def lm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.backbone.get_output_embeddings()(hidden)

    # ------------------------------------------------------------------ training
    def prepare_examples(
        self, examples: Sequence[TaskExample], training: bool = True, generator: torch.Generator | None = None
    ) -> list[TaskExample]:
        """Validate; apply condition dropout (generation tasks, training only)."""
        if not examples:
            raise InputError("no examples")
        out = []
        p = self.config.flow.cond_dropout
        for ex in examples:
            self.validate_example(ex, training=True)
            if training and p > 0 and ex.task in GENERATION_TASKS and not ex.drop_condition:
                if float(torch.rand((), generator=generator)) < p:
                    ex = dataclasses.replace(ex, drop_condition=True)
            out.append(ex)
        return out

    def forward(
        self,
        examples: Sequence[TaskExample],
        generator: torch.Generator | None = None,
        cond_dropout: bool | None = None,
    ) -> UniMotionOutput:
        """Training forward on a list of examples (any mix of tasks). See the module docstring.

        ``cond_dropout`` (default: ``self.training``) applies classifier-free-guidance condition dropout.
        Noise, times, LRA degradation and dropout draw from ``generator`` (or the global RNG).
        """
        cfg = self.config
        device = self.device
        examples = self.prepare_examples(examples, training=self.training if cond_dropout is None else cond_dropout,
                                         generator=generator)
        batch = self.builder.build(examples, with_answer=True, align="right").to(device)
        if any(s.modality != "motion" for s in batch.spans):
            raise InputError("only motion spans are supported so far (image spans come with the vision tasks)")

        # ---- latents per span: clean sources (degraded for m2m), noisy targets
        all_idx = batch.span_index(None, device)
        N, T = all_idx.cols.shape
        d = cfg.latent_dim
        lat = torch.zeros(N, T, d, device=device)
        t_span = torch.ones(N, device=device)
        is_flow = torch.zeros(N, dtype=torch.bool, device=device)
        is_lra = torch.zeros(N, dtype=torch.bool, device=device)
        x1 = torch.zeros(N, T, d, device=device)
        m2m_sources = [i for i, s in enumerate(all_idx.spans) if s.role == SOURCE and examples[s.example].task == "m2m"]
        conditions: dict[int, torch.Tensor] = {}
        if m2m_sources:
            clean = [examples[all_idx.spans[i].example].source.to(device).float() for i in m2m_sources]
            conds = shuffle_conditions(clean) if cfg.lra.shuffle_condition else clean
            for i, c in zip(m2m_sources, conds, strict=True):
                conditions[i] = degrade_condition(c, cfg.lra, generator)
        n_flow = sum(1 for i, s in enumerate(all_idx.spans) if s.role == TARGET or i in conditions)
        t_flow = sample_time(n_flow, cfg.flow, device="cpu", generator=generator).to(device)
        k = 0
        for i, s in enumerate(all_idx.spans):
            ex = examples[s.example]
            n = s.length
            if s.role == SOURCE:
                z = ex.source.to(device).float()
                lat[i, :n] = conditions.get(i, z)
                if i in conditions:
                    is_flow[i] = is_lra[i] = True
                    x1[i, :n] = z
                    t_span[i] = t_flow[k]
                    k += 1
            else:
                z = ex.target.to(device).float()
                x1[i, :n] = z
                is_flow[i] = True
                t_span[i] = t_flow[k]
                k += 1
        x0 = torch.randn(N, T, d, generator=generator).to(device)
        x_t = interpolate(x0, x1, t_span)
        u = velocity_target(x0, x1)
        # what the embedder sees: target spans get z_t (or the placeholder, see ``target_input``), sources (incl.
        # LRA conditions) their clean/degraded latent at t = 1
        is_target = torch.tensor([s.role == TARGET for s in all_idx.spans], dtype=torch.bool, device=device)
        tgt_lat, tgt_t = self.target_span_input(x_t, t_span)
        emb_lat = torch.where(is_target[:, None, None], tgt_lat, lat)
        emb_t = torch.where(is_target, tgt_t, torch.ones_like(t_span))

        embeds = self.embed_tokens(batch.input_ids)
        embeds = self.embed_spans(embeds, all_idx, emb_lat, emb_t)
        mask = batch.attention_mask(embeds.dtype)
        hidden = self.run_backbone(embeds, mask, batch.position_ids, batch.modality)  # (B, L, H)

        # ---- next-token prediction on answer tokens
        sel = batch.labels[:, 1:] != IGNORE_INDEX
        n_answer = int(sel.sum())
        if n_answer > 0:
            logits = self.lm_logits(hidden[:, :-1][sel])
            ntp = F.cross_entropy(logits.float(), batch.labels[:, 1:][sel])
        else:
            ntp = hidden.sum() * 0.0

        # ---- flow matching on flow spans
        flow_ids = torch.nonzero(is_flow).flatten()
        if flow_ids.numel() > 0:
            fm = all_idx.mask[flow_ids]
            h = hidden[all_idx.rows[flow_ids][:, None], all_idx.cols[flow_ids]]  # (n, T, H)
            v = self.flow_head(h, t_span[flow_ids], x_t[flow_ids], fm, lra=is_lra[flow_ids])
            flow = flow_matching_loss(v, u[flow_ids], fm)
        else:
            v, fm = None, None
            flow = hidden.sum() * 0.0
        loss = cfg.flow.lambda_ntp * ntp + cfg.flow.lambda_flow * flow
        return UniMotionOutput(
            loss=loss,
            ntp_loss=ntp,
            flow_loss=flow,
            velocity=v,
            velocity_target=None if v is None else u[flow_ids],
            flow_mask=fm,
            flow_t=None if v is None else t_span[flow_ids],
            num_answer_tokens=n_answer,
        )

    def training_step(self, batch: dict | Sequence[TaskExample], step: int) -> dict[str, torch.Tensor]:
        """For :class:`~unimotion.training.trainer.Trainer`: ``batch = {"examples": [TaskExample, ...]}``."""
        examples = batch["examples"] if isinstance(batch, dict) else batch
        out = self(examples)
        return {"loss": out.loss, "ntp": out.ntp_loss.detach(), "flow": out.flow_loss.detach()}

    def block_modules(self) -> list[torch.nn.Module]:
        """The backbone's decoder layers: units of FSDP2 sharding, activation checkpointing and compilation
        (:class:`~unimotion.training.trainer.Trainer`)."""
        return list(decoder_layers(self.backbone))

    def checkpoint_context_fn(self):
        """``context_fn`` for activation checkpointing of the blocks: a block recomputed in the backward pass
        runs under the LoRA route of its forward (the route is set around the backbone call, not passed in)."""
        router = self.router

        def context_fn():
            return contextlib.nullcontext(), router.routing(router.route)

        return context_fn

    def param_groups(self, optim) -> list[dict]:
        """Trainable parameters only. Matrices get ``optim.weight_decay``; vectors and the embedding tables get
        none (decay would move the pretrained rows that ``embeddings="new_tokens"`` keeps fixed)."""
        tables = {id(self.backbone.get_input_embeddings().weight)}
        out_emb = self.backbone.get_output_embeddings()
        if out_emb is not None:
            tables.add(id(out_emb.weight))
        decay, no_decay, seen = [], [], set()
        for p in self.parameters():
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            (decay if p.ndim >= 2 and id(p) not in tables else no_decay).append(p)
        wd = float(getattr(optim, "weight_decay", 0.0)) if optim is not None else 0.0
        groups = [{"params": decay, "weight_decay": wd}]
        if no_decay:
            groups.append({"params": no_decay, "weight_decay": 0.0})
        return groups

    # ------------------------------------------------------------------ inference entry points
    def sample_motion(self, examples: Sequence[TaskExample], **kwargs):
        """Generate target latents for t2m / prediction / editing examples (see :func:`.sampling.sample_motion`)."""
        from .sampling import sample_motion

        return sample_motion(self, examples, **kwargs)

    def generate_text(self, latents: Sequence[torch.Tensor], **kwargs):
        """Caption motion latents (M2T; see :func:`.sampling.generate_text`)."""
        from .sampling import generate_text

        return generate_text(self, latents, **kwargs)

    def reconstruct(self, latents: Sequence[torch.Tensor], **kwargs):
        """LRA motion-to-motion regeneration (see :func:`.sampling.sample_lra`)."""
        from .sampling import sample_lra

        return sample_lra(self, latents, **kwargs)

    @contextlib.contextmanager
    def inference_mode(self) -> Iterator[None]:
        """eval() + no_grad() for the block, restoring the training flag afterwards."""
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            self.train(was_training)


def paper_config(pretrained_path: str | None = None, latent_dim: int = 256) -> UniMotionConfig:
    """UniMotion at the paper's scale (spec §4; sizes the paper leaves open follow Show-o2 1.5B).

    Backbone: the local Qwen2.5-1.5B-Instruct directory ``pretrained_path`` (its tokenizer included), or — when
    None — the same architecture with random weights (preset ``qwen2.5-1.5b``). Semantic branch at SigLIP's width
    1152 with 4 Transformer layers (16 heads), flow head of 4 AdaLN blocks at the hidden size 1536 (12 heads),
    routed LoRA rank 32 on q/k/v/o, λ_flow 0.8, Euler 50 steps, CFG 3.0.
    """
    backbone = (
        BackboneConfig(pretrained_path=pretrained_path) if pretrained_path else BackboneConfig(preset="qwen2.5-1.5b")
    )
    return UniMotionConfig(
        latent_dim=latent_dim,
        max_latent_len=64,
        max_sequence_length=2048,
        backbone=backbone,
        embedder=EmbedderConfig(semantic_width=1152, semantic_layers=4, semantic_heads=16, mlp_ratio=4.0),
        flow_head=FlowHeadConfig(num_blocks=4, width=None, num_heads=12),
        lora=LoRAConfig(rank=32, alpha=32.0, dropout=0.05),
        flow=FlowConfig(lambda_flow=0.8, lambda_ntp=1.0, cfg_scale=3.0, num_steps=50, cond_dropout=0.1),
    )


def lora_parameter_fraction(model: UniMotionModel) -> float:
    """LoRA parameters / backbone base parameters (the paper reports ≈ 2 %)."""
    rep = parameter_report(model.backbone)
    return rep["lora"] / max(rep["total"] - rep["lora"], 1)
