"""Inference: motion sampling (Euler + CFG) with a cached prefix, M2T text decoding, LRA regeneration.

**Motion sampling** (t2m, prediction, editing). Every example gets a conditional row and — when
``cfg_scale != 1`` — an unconditional row with the null condition of the same layout (:mod:`.templates`).
Under the hybrid mask nothing before the target span depends on the noisy latent, and nothing after it can
influence it, so the fast path (``use_cache=True``):

1. lays the rows out with the target span at the same column P in every row (left padding, ``align="target"``);
2. runs the prefix (columns < P: system prompt, text, source motion spans, ``<|mot_start|>``) **once** and keeps
   its KV cache (``DynamicCache``);
3. at each Euler step runs only the target span (time token + T latent tokens) against that cache, then crops the
   cache back to P (a forward appends to a ``DynamicCache`` in place). With ``target_input="placeholder"`` the
   span's input does not depend on (z_t, t) (z_t reaches the flow head only through AdaLN), so the span runs
   through the backbone once, at the first step, and every later step runs only the flow head;
4. runs the conditional and unconditional rows **as one batch** (``batch_cfg=True``); the embedder output of z_t
   is computed once and shared by both rows, since both evaluate the velocity at the same point.

The naive path (``use_cache=False``) rebuilds and recomputes the full sequence (prefix, span, and the closing
tokens) at every step; with ``batch_cfg=False`` it also runs every example and branch on its own. Both paths
use the same noise, so their outputs agree to float rounding (``benchmarks/sampling.py`` checks ≤ 1e-4).

**Text decoding** (M2T): greedy or nucleus (top-p) sampling token by token with the KV cache (or, for checks,
full recomputation), stopping at ``<|im_end|>`` / ``<|endoftext|>`` or after ``max_new_tokens``.

**LRA regeneration**: the backbone reads the (optionally degraded or shuffled) condition once; only the flow head
runs at each step, since in LRA z_t reaches the head only through AdaLN.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ...errors import InputError
from ...flow.rectified_flow import cfg_combine, time_grid
from .attention_mask import hybrid_attention_mask, to_additive_mask
from .lra import degrade_condition, shuffle_conditions
from .modalities import TEXT
from .sequence import SOURCE, TARGET, SequenceBatch, SpanIndex, TaskExample
from .templates import GENERATION_TASKS

__all__ = ["MotionSamples", "TextGeneration", "sample_motion", "generate_text", "sample_lra"]


@dataclass
class MotionSamples:
    """Generated latents, padded: ``latents`` (B, T, d), ``mask`` (B, T) bool (True = real step)."""

    latents: torch.Tensor
    mask: torch.Tensor

    def unpad(self) -> list[torch.Tensor]:
        """One (T_i, d) tensor per example."""
        return [z[m] for z, m in zip(self.latents, self.mask, strict=True)]


@dataclass
class TextGeneration:
    texts: list[str]
    token_ids: list[list[int]]  # generated ids, without the stop token


def _generator(seed: int | None, generator: torch.Generator | None) -> torch.Generator:
    if generator is not None:
        return generator
    g = torch.Generator()
    g.manual_seed(0 if seed is None else int(seed))
    return g


# ====================================================================================== motion sampling
class _CachedRows:
    """Rows laid out with the target span at column P; prefix encoded once, span re-run at each step."""

    def __init__(self, model, rows: list[TaskExample], example_of_row: list[int]):
        self.model = model
        device = model.device
        batch = model.builder.build(rows, with_answer=False, align="target").to(device)
        tspans = [s for s in batch.spans if s.role == TARGET]
        self.P = tspans[0].start  # first column of the span body (time token or first latent)
        self.tt = int(tspans[0].time_token)
        self.T = max(s.length for s in tspans)
        self.S = batch.input_ids.shape[1] - self.P
        self.example_of_row = torch.tensor(example_of_row, dtype=torch.long, device=device)
        allowed = hybrid_attention_mask(batch.span_ids, batch.valid)
        dtype = model.backbone.get_input_embeddings().weight.dtype
        P = self.P
        self.prefix_mask = to_additive_mask(allowed[:, :, :P, :P], dtype)
        self.span_mask = to_additive_mask(allowed[:, :, P:, :], dtype)
        self.span_pos = batch.position_ids[:, P:]
        self.span_mod = batch.modality[:, P:]
        # the prefix: text + clean source spans
        src = batch.span_index(SOURCE, device)
        embeds = model.embed_tokens(batch.input_ids[:, :P])
        if src.spans:
            lat = _stack_latents([rows[s.example].source for s in src.spans], src.cols.shape[1], device)
            embeds = model.embed_spans(embeds, src, lat, torch.ones(len(src.spans), device=device))
        from transformers import DynamicCache

        if getattr(model.backbone.base_model, "has_sliding_layers", False):
            raise InputError("the cached sampler does not support sliding-window attention layers")
        self.cache = DynamicCache(config=model.backbone.config)
        model.run_backbone(embeds, self.prefix_mask, batch.position_ids[:, :P], batch.modality[:, :P], self.cache)
        self.fixed_hidden: torch.Tensor | None = None  # (R, T, H), target_input="placeholder" only

    def _span_hidden(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x: (R, T, H) embedder output per row, t: (1,) time-token input → (R, T, H) backbone states."""
        model = self.model
        R = x.shape[0]
        if self.tt:
            tok = model.time_embedder(t.expand(R)).to(x.dtype)[:, None, :]
            x = torch.cat([tok, x], dim=1)
        hidden = model.run_backbone(x, self.span_mask, self.span_pos, self.span_mod, self.cache)
        self.cache.crop(-self.S)  # back to the prefix
        return hidden[:, self.tt :]

    def velocity(self, z_t: torch.Tensor, t: torch.Tensor, lat_mask: torch.Tensor,
                 span_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """z_t (B_ex, T, d) per *example*, t (1,) → (R, T, d) per row.

        ``span_embeds``: the embedder output of z_t (B_ex, T, H) when the caller shares it between groups.
        With ``target_input="placeholder"`` the span's backbone states do not depend on (z_t, t): they are
        computed at the first call and reused, so later steps run only the flow head.
        """
        model = self.model
        rows = self.example_of_row
        R = rows.shape[0]
        if model.backbone_reads_noisy_target:
            if span_embeds is None:
                span_embeds = model.motion_embedder(z_t, lat_mask)
            h = self._span_hidden(span_embeds[rows], t)
        else:
            if self.fixed_hidden is None:
                zero, t0 = model.target_span_input(z_t, t)
                self.fixed_hidden = self._span_hidden(model.motion_embedder(zero, lat_mask)[rows], t0)
            h = self.fixed_hidden
        return model.flow_head(h, t.expand(R), z_t[rows], lat_mask[rows])


def _stack_latents(latents: Sequence[torch.Tensor], T: int, device) -> torch.Tensor:
    out = torch.zeros(len(latents), T, latents[0].shape[-1], device=device)
    for i, z in enumerate(latents):
        out[i, : z.shape[0]] = z.to(device, torch.float32)
    return out


def _full_velocity(model, rows: list[TaskExample], z_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Naive: build and run the whole sequence of ``rows`` (right-padded). z_t: (R, T, d) → (R, T, d)."""
    device = model.device
    batch: SequenceBatch = model.builder.build(rows, with_answer=True, align="right").to(device)
    idx: SpanIndex = batch.span_index(None, device)
    T = z_t.shape[1]
    lat = torch.zeros(len(idx.spans), max(T, idx.cols.shape[1]), z_t.shape[-1], device=device)
    ts = torch.ones(len(idx.spans), device=device)
    z_in, t_in = model.target_span_input(z_t, t.expand(z_t.shape[0]))  # z_t, or the placeholder
    tgt_rows = []
    for i, s in enumerate(idx.spans):
        if s.role == TARGET:
            lat[i, : s.length] = z_in[s.row, : s.length]
            ts[i] = t_in[s.row]
            tgt_rows.append(i)
        else:
            lat[i, : s.length] = rows[s.example].source.to(device, torch.float32)
    lat = lat[:, : idx.cols.shape[1]]
    embeds = model.embed_spans(model.embed_tokens(batch.input_ids), idx, lat, ts)
    hidden = model.run_backbone(embeds, batch.attention_mask(embeds.dtype), batch.position_ids, batch.modality)
    tgt = torch.tensor(tgt_rows, dtype=torch.long, device=device)
    h = hidden[idx.rows[tgt][:, None], idx.cols[tgt, :T]]  # (R, T, H); target spans are at most T long
    return model.flow_head(h, t.expand(len(tgt_rows)), z_t, idx.mask[tgt, :T])


@torch.no_grad()
def sample_motion(
    model,
    examples: Sequence[TaskExample],
    *,
    num_steps: int | None = None,
    cfg_scale: float | None = None,
    time_shift: float | None = None,
    seed: int | None = 0,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
    use_cache: bool = True,
    batch_cfg: bool = True,
) -> MotionSamples:
    """Generate the target latents of t2m / prediction / editing examples.

    Args:
        examples: ``TaskExample`` s with ``target_length`` (or ``target``, whose length is used).
        num_steps, cfg_scale, time_shift: default to ``model.config.flow``.
        seed / generator: the initial noise (B, T_max, d) is drawn from it (CPU generator).
        noise: explicit initial noise (B, T_max, d) instead.
        use_cache: prefix KV cache (fast) or full recomputation at every step (naive).
        batch_cfg: conditional and unconditional rows in one batch.
    Returns:
        :class:`MotionSamples` (latents (B, T_max, d), mask (B, T_max)).
    """
    fc = model.config.flow
    num_steps = fc.num_steps if num_steps is None else int(num_steps)
    cfg_scale = fc.cfg_scale if cfg_scale is None else float(cfg_scale)
    time_shift = fc.time_shift if time_shift is None else float(time_shift)
    if num_steps < 1:
        raise InputError(f"num_steps must be >= 1, got {num_steps}")
    examples = list(examples)
    if not examples:
        raise InputError("sample_motion needs at least one example")
    prepared = []
    for ex in examples:
        if ex.task not in GENERATION_TASKS:
            raise InputError(f"sample_motion generates motion for {GENERATION_TASKS}, not {ex.task!r}")
        if ex.target is not None:
            ex = dataclasses.replace(ex, target_length=int(ex.target.shape[0]), target=None)
        model.validate_example(ex, training=False)
        prepared.append(dataclasses.replace(ex, drop_condition=False))
    B = len(prepared)
    lengths = torch.tensor([ex.target_length for ex in prepared])
    T = int(lengths.max())
    d = model.config.latent_dim
    device = model.device
    if noise is None:
        noise = torch.randn(B, T, d, generator=_generator(seed, generator))
    elif tuple(noise.shape) != (B, T, d):
        raise InputError(f"noise must have shape {(B, T, d)}, got {tuple(noise.shape)}")
    lat_mask = (torch.arange(T)[None] < lengths[:, None]).to(device)
    x = noise.to(device, torch.float32) * lat_mask[..., None]
    guided = cfg_scale != 1.0
    uncond = [dataclasses.replace(ex, drop_condition=True) for ex in prepared] if guided else []
    grid = time_grid(num_steps, time_shift, device=device)

    with model.inference_mode():
        if use_cache:
            if batch_cfg:
                groups = [_CachedRows(model, prepared + uncond, list(range(B)) * (2 if guided else 1))]
            else:
                groups = [_CachedRows(model, prepared, list(range(B)))]
                if guided:
                    groups.append(_CachedRows(model, uncond, list(range(B))))
        for i in range(num_steps):
            t = grid[i].reshape(1)
            if use_cache:
                # the embedder output of z_t, once per step and shared by all rows (unused with the placeholder)
                span_embeds = model.motion_embedder(x, lat_mask) if model.backbone_reads_noisy_target else None
                vs = torch.cat([g.velocity(x, t, lat_mask, span_embeds) for g in groups], dim=0)
            elif batch_cfg:
                zz = torch.cat([x, x], dim=0) if guided else x
                vs = _full_velocity(model, prepared + uncond, zz, t)
            else:
                per = []
                for rows in (prepared, uncond) if guided else (prepared,):
                    for b, ex in enumerate(rows):
                        per.append(_full_velocity(model, [ex], x[b : b + 1, : ex.target_length], t))
                vs = torch.zeros(len(per), T, d, device=device)
                for j, v in enumerate(per):
                    vs[j, : v.shape[1]] = v[0]
            v = cfg_combine(vs[:B], vs[B:], cfg_scale) if guided else vs
            x = (x + (grid[i + 1] - grid[i]) * v) * lat_mask[..., None]
    return MotionSamples(latents=x, mask=lat_mask)


# ====================================================================================== LRA regeneration
@torch.no_grad()
def sample_lra(
    model,
    latents: Sequence[torch.Tensor],
    *,
    num_steps: int | None = None,
    time_shift: float | None = None,
    degrade: bool = False,
    shuffle: bool = False,
    seed: int | None = 0,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
) -> MotionSamples:
    """Regenerate each z from noise conditioned on Embed_fused(z) (LRA's m2m task).

    ``degrade`` applies the training bottleneck to the condition; ``shuffle`` conditions every example on
    another example's latent (the control of spec §5.3). Returns latents with the lengths of ``latents``.
    The backbone output does not depend on z_t here, so it is computed once (``use_cache=False`` recomputes it
    at every step, for checks and benchmarks).
    """
    fc = model.config.flow
    num_steps = fc.num_steps if num_steps is None else int(num_steps)
    time_shift = fc.time_shift if time_shift is None else float(time_shift)
    latents = [model.validate_latent(z, f"latent {i}") for i, z in enumerate(latents)]
    if not latents:
        raise InputError("sample_lra needs at least one latent")
    g = _generator(seed, generator)
    device = model.device
    conds = shuffle_conditions(latents) if shuffle else list(latents)
    if degrade:
        conds = [degrade_condition(c.float(), model.config.lra, g) for c in conds]
    rows = [TaskExample("m2m", source=c) for c in conds]
    B = len(rows)
    lengths = torch.tensor([z.shape[0] for z in latents])
    T = int(lengths.max())
    d = model.config.latent_dim
    x = torch.randn(B, T, d, generator=g).to(device)
    with model.inference_mode():
        batch = model.builder.build(rows, with_answer=True, align="right").to(device)
        idx = batch.span_index(SOURCE, device)
        lat = _stack_latents(conds, idx.cols.shape[1], device)

        def condition_states() -> torch.Tensor:  # (B, T, H) backbone states at the condition span
            embeds = model.embed_spans(model.embed_tokens(batch.input_ids), idx, lat, torch.ones(B, device=device))
            hidden = model.run_backbone(embeds, batch.attention_mask(embeds.dtype), batch.position_ids,
                                        batch.modality)
            return hidden[idx.rows[:, None], idx.cols]

        h = condition_states()
        mask = idx.mask
        x = x * mask[..., None]
        grid = time_grid(num_steps, time_shift, device=device)
        lra = torch.ones(B, dtype=torch.bool, device=device)
        for i in range(num_steps):
            if not use_cache and i > 0:
                h = condition_states()
            v = model.flow_head(h, grid[i].expand(B), x, mask, lra=lra)
            x = (x + (grid[i + 1] - grid[i]) * v) * mask[..., None]
    return MotionSamples(latents=x, mask=mask)


# ====================================================================================== text decoding
def _pick(logits: torch.Tensor, do_sample: bool, top_p: float, temperature: float, g: torch.Generator) -> torch.Tensor:
    """(B, V) logits → (B,) token ids (greedy or nucleus sampling)."""
    if not do_sample:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / max(temperature, 1e-6), dim=-1)
    sorted_p, order = probs.sort(dim=-1, descending=True)
    cum = sorted_p.cumsum(-1)
    keep = (cum - sorted_p) < top_p  # always keeps the most likely token
    sorted_p = sorted_p * keep
    sorted_p = sorted_p / sorted_p.sum(-1, keepdim=True)
    choice = torch.multinomial(sorted_p.cpu(), 1, generator=g).to(logits.device)
    return order.gather(-1, choice).squeeze(-1)


@torch.no_grad()
def generate_text(
    model,
    latents: Sequence[torch.Tensor],
    *,
    max_new_tokens: int = 64,
    do_sample: bool = False,
    top_p: float = 0.9,
    temperature: float = 1.0,
    seed: int | None = 0,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
) -> TextGeneration:
    """Caption each motion latent (T_i, d) (M2T). Stops at ``<|im_end|>``/``<|endoftext|>`` or max_new_tokens."""
    if max_new_tokens < 1:
        raise InputError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if not 0 < top_p <= 1:
        raise InputError(f"top_p must be in (0, 1], got {top_p}")
    latents = [model.validate_latent(z, f"latent {i}") for i, z in enumerate(latents)]
    if not latents:
        raise InputError("generate_text needs at least one latent")
    g = _generator(seed, generator)
    device = model.device
    ids = model.special_ids
    stop = torch.tensor([ids.im_end, ids.pad], device=device)
    rows = [TaskExample("m2t", source=z) for z in latents]
    B = len(rows)
    with model.inference_mode():
        batch = model.builder.build(rows, with_answer=False, align="left").to(device)
        idx = batch.span_index(SOURCE, device)
        lat = _stack_latents(latents, idx.cols.shape[1], device)
        prefix_embeds = model.embed_spans(model.embed_tokens(batch.input_ids), idx, lat, torch.ones(B, device=device))
        mask_bool = hybrid_attention_mask(batch.span_ids, batch.valid)
        dtype = prefix_embeds.dtype
        cache = None
        if use_cache:
            from transformers import DynamicCache

            cache = DynamicCache(config=model.backbone.config)
        hidden = model.run_backbone(prefix_embeds, to_additive_mask(mask_bool, dtype), batch.position_ids,
                                    batch.modality, cache)
        first_pos = batch.position_ids[:, -1] + 1  # (B,) position of the first generated token
        next_pos = first_pos
        key_valid = batch.valid
        generated = torch.zeros(B, 0, dtype=torch.long, device=device)
        finished = torch.zeros(B, dtype=torch.bool, device=device)
        logits = model.lm_logits(hidden[:, -1])
        for step in range(max_new_tokens):
            tok = _pick(logits, do_sample, top_p, temperature, g)
            tok = torch.where(finished, torch.full_like(tok, ids.pad), tok)
            generated = torch.cat([generated, tok[:, None]], dim=1)
            finished = finished | torch.isin(tok, stop)
            if bool(finished.all()) or step == max_new_tokens - 1:
                break
            key_valid = torch.cat([key_valid, torch.ones(B, 1, dtype=torch.bool, device=device)], dim=1)
            if use_cache:
                x = model.embed_tokens(tok[:, None])
                m = to_additive_mask(key_valid[:, None, None, :], dtype)  # (B, 1, 1, K): new token sees all valid
                hidden = model.run_backbone(x, m, next_pos[:, None], torch.full((B, 1), TEXT, device=device), cache)
                logits = model.lm_logits(hidden[:, -1])
            else:
                span_ids = torch.cat([batch.span_ids, torch.full_like(generated, -1)], dim=1)
                modality = torch.cat([batch.modality, torch.full_like(generated, TEXT)], dim=1)
                gen_pos = first_pos[:, None] + torch.arange(generated.shape[1], device=device)[None]
                positions = torch.cat([batch.position_ids, gen_pos], dim=1)
                embeds = torch.cat([prefix_embeds, model.embed_tokens(generated)], dim=1)
                full_mask = to_additive_mask(hybrid_attention_mask(span_ids, key_valid), dtype)
                hidden = model.run_backbone(embeds, full_mask, positions, modality)
                logits = model.lm_logits(hidden[:, -1])
            next_pos = next_pos + 1
    token_ids: list[list[int]] = []
    for row in generated.tolist():
        out = []
        for t in row:
            if t in (ids.im_end, ids.pad):
                break
            out.append(t)
        token_ids.append(out)
    texts = [model.tokenizer.decode(t, skip_special_tokens=True) for t in token_ids]
    return TextGeneration(texts=texts, token_ids=token_ids)
