"""UniMo AR model: loss on targets only, causal/padding masks, KV cache, layout-constrained sampling,
ablation switches, save/load, and an end-to-end tiny run through both tokenizers."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from unimotion.errors import ConfigError, InputError
from unimotion.models.modeling_utils import load_pretrained
from unimotion.models.unimo.layouts import Modality, Special, build_sequence, collate_sequences
from unimotion.models.unimo.model import UniMoConfig, UniMoModel, config_from_tokenizers
from unimotion.models.unimo.motion_tokenizer import MotionTokenizer, MotionTokenizerConfig
from unimotion.models.unimo.sampling import (
    SamplingConfig,
    fill_in_parallel,
    filter_logits,
    generate_tokens,
    sample_logits,
)
from unimotion.models.unimo.video_tokenizer import VideoTokenizer, VideoTokenizerConfig

V, M = 24, 12  # video / motion vocabulary sizes


def tiny(**kw) -> UniMoConfig:
    base = dict(video_vocab_size=V, motion_vocab_size=M, video_grid=(2, 2), temporal_compression=2,
                max_latent_frames=3, motion_tokens_per_step=2, dim=32, n_layers=2, n_heads=4)
    base.update(kw)
    return UniMoConfig(**base)


def codes(b: int = 3, k: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    video = torch.randint(0, V, (b, k, 2, 2), generator=g)
    motion = torch.randint(0, M, (b, (1 + 2 * (k - 1)) * 2), generator=g)
    return video, motion


VARIANTS = [
    {},
    {"n_kv_heads": 2, "mlp": "gelu", "qk_norm": False},
    {"embedding": "shared", "motion_rope": "time", "abs_time_embedding": False, "abs_grid_embedding": False},
    {"motion_video_context": True, "video_fsq_levels": [4, 3, 2], "motion_input_noise": 0.2},
    {"v2m_motion_inputs": "masked", "embedding": "shared", "motion_video_context": True, "video_fsq_levels": [4, 3, 2]},
]


@pytest.mark.parametrize("variant", VARIANTS)
def test_forward_backward_shapes(variant):
    model = UniMoModel(tiny(**variant))
    video, motion = codes()
    batch = model.build_batch(video, motion, ["i2vm", "v2m", "i2vm"])
    out = model(batch)
    assert out.logits.shape == (3, batch["ids"].shape[1], V + M + 8)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if "embed" in n or "heads" in n)


def test_separate_vs_shared_embeddings():
    sep, shared = UniMoModel(tiny()), UniMoModel(tiny(embedding="shared"))
    assert [e.num_embeddings for e in sep.embed] == [V, M, 8]
    assert [e.num_embeddings for e in shared.embed] == [max(V, M) + 8]
    # uni-emb: video code j and motion code j share the input row and the output row
    ids = torch.tensor([[3, V + 3, V + M + 1]])
    mod = torch.tensor([[0, 1, 2]])
    emb = shared.embed_tokens(ids, mod)
    torch.testing.assert_close(emb[0, 0], emb[0, 1])
    torch.testing.assert_close(emb[0, 2], shared.embed[0].weight[max(V, M) + 1])
    zeros = torch.zeros_like(ids)
    logits = shared.forward_tokens(ids, mod, zeros.float(), zeros, zeros, zeros).logits
    assert logits.shape[-1] == V + M + 8
    torch.testing.assert_close(logits[..., V : V + M], logits[..., :M])
    sep_emb = sep.embed_tokens(ids, mod)
    assert not torch.allclose(sep_emb[0, 0], sep_emb[0, 1])
    # separate tables: the video table is only read at video positions
    video, motion = codes()
    out = sep(sep.build_batch(video, motion, ["v2m"] * 3))
    out.loss.backward()
    grad_rows = sep.embed[0].weight.grad.abs().sum(1) > 0
    assert set(torch.nonzero(grad_rows).flatten().tolist()) == set(video.unique().tolist())


def _manual_loss(model: UniMoModel, batch: dict, restrict: bool) -> torch.Tensor:
    """CE recomputed position by position, with targets found from the token names (not the layout flags)."""
    logits = model.forward_tokens(batch["ids"], batch["modality"], batch["time"], batch["row"], batch["col"],
                                  batch["sub"]).logits
    total, count = 0.0, 0
    for b in range(batch["ids"].shape[0]):
        ids = batch["ids"][b].tolist()
        task_token = ids[1] - (V + M)
        seen_video = 0
        for p in range(1, len(ids)):
            tok = ids[p]
            is_video, is_motion = tok < V, V <= tok < V + M
            if is_video:
                seen_video += 1
            if task_token == Special.I2VM:
                is_target = (is_video and seen_video > 4) or is_motion  # after V_0 (4 tokens)
            else:
                is_target = is_motion
            if not is_target:
                continue
            row = logits[b, p - 1]
            if restrict:
                lo, hi = (0, V) if is_video else (V, V + M)
                total = total - F.log_softmax(row[lo:hi], -1)[tok - lo]
            else:
                total = total - F.log_softmax(row, -1)[tok]
            count += 1
    return total / count


@pytest.mark.parametrize("restrict", [True, False])
def test_loss_is_next_token_ce_on_targets_only(restrict):
    model = UniMoModel(tiny(restrict_logits_to_modality=restrict))
    video, motion = codes()
    batch = model.build_batch(video, motion, ["i2vm", "v2m", "v2m"])
    torch.testing.assert_close(model(batch).loss, _manual_loss(model, batch, restrict))


def test_modality_loss_weights():
    video, motion = codes()
    m1 = UniMoModel(tiny())
    batch = m1.build_batch(video, motion, ["i2vm"] * 3)
    logs = m1(batch).losses
    n_video = 3 * 2 * 4  # latent frames 1, 2 of every clip
    n_motion = 3 * 10
    m2 = UniMoModel(tiny(video_loss_weight=2.0, motion_loss_weight=0.5))
    m2.load_state_dict(m1.state_dict())
    expected = (2 * logs["ce_video"] * n_video + 0.5 * logs["ce_motion"] * n_motion) / (2 * n_video + 0.5 * n_motion)
    torch.testing.assert_close(m2(batch).loss.detach(), expected)


def test_attention_is_causal_and_ignores_right_padding():
    model = UniMoModel(tiny()).eval()
    video, motion = codes(b=2)
    batch = model.build_batch(video, motion, ["i2vm", "v2m"])  # lengths 27 and 28: row 0 is padded
    fields = ("ids", "modality", "time", "row", "col", "sub")
    full = model.forward_tokens(*(batch[f] for f in fields)).logits
    alone = model.forward_tokens(*(batch[f][:1, :27] for f in fields)).logits
    torch.testing.assert_close(full[0, :27], alone[0])
    changed = {f: batch[f].clone() for f in fields}
    p = 12
    changed["ids"][:, p] = torch.where(changed["modality"][:, p] == Modality.VIDEO, (changed["ids"][:, p] + 1) % V,
                                       V + (changed["ids"][:, p] - V + 1) % M)
    out = model.forward_tokens(*(changed[f] for f in fields)).logits
    torch.testing.assert_close(out[:, :p], full[:, :p])
    assert (out[:, p:] - full[:, p:]).abs().max() > 1e-5


@pytest.mark.parametrize("variant", VARIANTS)
def test_kv_cache_matches_full_forward(variant):
    model = UniMoModel(tiny(**variant)).eval()
    video, motion = codes(b=2)
    batch = model.build_batch(video, motion, ["v2m", "v2m"])
    fields = ("ids", "modality", "time", "row", "col", "sub")
    frames = model.video_frames(batch["ids"], batch["modality"])  # None unless motion_video_context
    full = model.forward_tokens(*(batch[f] for f in fields), frames=frames).logits
    cache = model.new_cache(2, batch["ids"].shape[1])
    parts = [model.forward_tokens(*(batch[f][:, :9] for f in fields), cache=cache, frames=frames).logits]
    for p in range(9, batch["ids"].shape[1]):
        parts.append(model.forward_tokens(*(batch[f][:, p : p + 1] for f in fields), cache=cache,
                                          frames=frames).logits)
    torch.testing.assert_close(torch.cat(parts, 1), full, atol=1e-5, rtol=1e-4)
    with pytest.raises(InputError, match="overflow"):
        model.forward_tokens(*(batch[f][:, :1] for f in fields), cache=cache, frames=frames)


def test_filter_and_sample_logits():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = torch.isfinite(filter_logits(logits, top_p=0.8))
    assert kept.tolist() == [[True, True, False, False]]
    kept = torch.isfinite(filter_logits(logits, top_k=3))
    assert kept.tolist() == [[True, True, True, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.01)).sum() == 1  # the top token always survives
    shuffled = logits[:, [2, 0, 3, 1]]
    assert torch.isfinite(filter_logits(shuffled, top_p=0.8)).tolist() == [[False, True, False, True]]
    assert sample_logits(shuffled, SamplingConfig(greedy=True)).item() == 1
    assert sample_logits(shuffled, SamplingConfig(temperature=0.0)).item() == 1
    assert sample_logits(shuffled, SamplingConfig(top_k=1)).item() == 1
    g = torch.Generator().manual_seed(0)
    draws = sample_logits(logits.expand(4000, 4), SamplingConfig(temperature=1.0), g)
    freq = torch.bincount(draws, minlength=4).float() / 4000
    torch.testing.assert_close(freq, torch.tensor([0.5, 0.3, 0.15, 0.05]), atol=0.03, rtol=0)
    # low temperature sharpens
    cold = sample_logits(logits.expand(4000, 4), SamplingConfig(temperature=0.25), g)
    assert (cold == 0).float().mean() > 0.85
    with pytest.raises(InputError):
        SamplingConfig(top_p=0.0)


@pytest.mark.parametrize("variant", [{"n_kv_heads": 2}, VARIANTS[-1]])
@pytest.mark.parametrize("task", ["i2vm", "v2m"])
def test_cached_sampling_equals_uncached(task, variant):
    model = UniMoModel(tiny(**variant))
    video, _ = codes(b=2)
    prompt = video[:, :1] if task == "i2vm" else video
    kw = dict(video_sampling=SamplingConfig(temperature=1.0, top_k=8, top_p=0.95),
              motion_sampling=SamplingConfig(temperature=1.0, top_p=0.9))
    a = model.generate(task, prompt, generator=torch.Generator().manual_seed(3), use_cache=True, **kw)
    b = model.generate(task, prompt, generator=torch.Generator().manual_seed(3), use_cache=False, **kw)
    assert torch.equal(a.ids, b.ids)
    c = model.generate(task, prompt, generator=torch.Generator().manual_seed(4), use_cache=True, **kw)
    assert not torch.equal(a.ids, c.ids)  # the seed matters
    # the step logits agree too
    batch = {k: v for k, v in collate_sequences(
        [build_sequence(task, model.config.geometry(), model.vocab, p, None) for p in prompt], model.vocab).items()}
    samplers = {Modality.VIDEO: SamplingConfig(greedy=True), Modality.MOTION: SamplingConfig(greedy=True)}
    _, la = generate_tokens(model, batch, model.vocab, samplers, use_cache=True, return_logits=True)
    _, lb = generate_tokens(model, batch, model.vocab, samplers, use_cache=False, return_logits=True)
    assert len(la) == len(lb) > 0
    for x, y in zip(la, lb, strict=True):
        torch.testing.assert_close(x, y, atol=1e-5, rtol=1e-4)


def test_sampling_enforces_the_layout():
    model = UniMoModel(tiny()).eval()
    with torch.no_grad():  # make the wrong modalities overwhelmingly likely everywhere
        model.heads[Modality.SPECIAL].weight.mul_(1e3)
        model.heads[Modality.MOTION].weight.mul_(1e3)
    video, _ = codes(b=2)
    out = model.generate("i2vm", video[:, :1], generator=torch.Generator().manual_seed(0))
    assert torch.equal(out.video_codes[:, 0], video[:, 0])  # the condition is kept
    assert out.video_codes.shape == (2, 3, 2, 2) and out.motion_codes.shape == (2, 10)
    assert int(out.video_codes.min()) >= 0 and int(out.video_codes.max()) < V
    assert int(out.motion_codes.min()) >= 0 and int(out.motion_codes.max()) < M
    reference = build_sequence("i2vm", model.config.geometry(), model.vocab, video[0], None)
    got = model.vocab.modality_of(out.ids[0])
    assert torch.equal(got, reference.modality)
    special = reference.modality == Modality.SPECIAL
    assert torch.equal(out.ids[0][special], reference.ids[special])
    # V2M keeps every video token and is greedy by default (deterministic)
    v2m = model.generate("v2m", video)
    assert torch.equal(v2m.video_codes, video)
    assert torch.equal(model.generate("v2m", video).motion_codes, v2m.motion_codes)


def test_task_sampling_and_single_task_training():
    model = UniMoModel(tiny(task_weights={"i2vm": 0.5, "v2m": 0.5}, seed=1))
    a, b = model.sample_tasks(64, step=7), model.sample_tasks(64, step=7)
    assert a == b and set(a) == {"i2vm", "v2m"}
    assert model.sample_tasks(64, step=8) != a
    single = UniMoModel(tiny(task_weights={"v2m": 1.0}))
    assert set(single.sample_tasks(32, 0)) == {"v2m"}
    video, motion = codes()
    logs = single.training_step({"video_codes": video, "motion_codes": motion}, 0)
    assert "ce_motion" in logs and "ce_video" not in logs
    logs = model.training_step({"video_codes": video, "motion_codes": motion, "tasks": ["i2vm"] * 3}, 0)
    assert "ce_video" in logs
    with pytest.raises(ConfigError, match="task_weights"):
        tiny(task_weights={"t2m": 1.0})


def test_training_fits_a_fixed_batch():
    torch.manual_seed(0)
    model = UniMoModel(tiny(dim=48))
    video, motion = codes(b=2)
    batch = model.build_batch(video, motion, ["i2vm", "v2m"])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for step in range(40):
        logs = model.training_step(batch, step)
        opt.zero_grad()
        logs["loss"].backward()
        opt.step()
        first = first if first is not None else float(logs["loss"].detach())
    assert first > 0.8 * math.log(M) and float(logs["loss"].detach()) < 0.3 * first


def test_video_code_features(tmp_path):
    """video_code_features: video embeddings = table row + Linear(FSQ vector of the code); only video positions
    get the term, codes with equal FSQ vectors differ only by their table rows, and it saves and loads."""
    from unimotion.errors import ConfigError
    from unimotion.models.blocks.quantizers import FSQ

    levels = [4, 3, 2]  # 24 codes = V
    model = UniMoModel(tiny(video_code_features=True, video_fsq_levels=levels))
    assert model.video_code_proj is not None and model.video_code_proj.in_features == 3
    ids = torch.tensor([[5, V + 5, V + M + 1]])
    mod = torch.tensor([[0, 1, 2]])
    emb = model.embed_tokens(ids, mod)
    want = model.embed[0].weight[5] + model.video_code_proj.weight @ FSQ(levels).codes_to_vectors(torch.tensor(5))
    torch.testing.assert_close(emb[0, 0], want)
    torch.testing.assert_close(emb[0, 1], model.embed[1].weight[5])  # motion: table only
    video, motion = codes()
    out = model(model.build_batch(video, motion, ["v2m", "i2vm", "v2m"]))
    out.loss.backward()
    assert model.video_code_proj.weight.grad.abs().sum() > 0
    model.save_pretrained(tmp_path / "unimo")
    loaded = load_pretrained(tmp_path / "unimo").eval()
    batch = model.build_batch(video, motion, ["v2m"] * 3)
    torch.testing.assert_close(loaded(batch).logits, model.eval()(batch).logits)
    with pytest.raises(ConfigError, match="video_fsq_levels"):
        tiny(video_code_features=True, video_fsq_levels=[5, 5])
    with pytest.raises(ConfigError, match="video_fsq_levels"):
        tiny(video_code_features=True)


def test_save_load_round_trip(tmp_path):
    cfg = tiny(n_kv_heads=2, task_weights={"v2m": 1.0}, embedding="shared")
    model = UniMoModel(cfg).eval()
    model.save_pretrained(tmp_path / "unimo")
    loaded = load_pretrained(tmp_path / "unimo")
    assert isinstance(loaded, UniMoModel) and loaded.config == cfg
    assert loaded.config.video_grid == (2, 2) and loaded.config.task_weights == {"v2m": 1.0}
    video, motion = codes()
    batch = model.build_batch(video, motion, ["i2vm", "v2m", "v2m"])
    torch.testing.assert_close(loaded(batch).logits, model(batch).logits)


def test_input_validation():
    model = UniMoModel(tiny())
    video, motion = codes()
    with pytest.raises(InputError, match="motion tokens"):
        model.build_batch(video, motion[:, :-2], ["v2m"] * 3)
    with pytest.raises(InputError, match="video codes"):
        model.generate("v2m", torch.zeros(1, 3, 3, 2, dtype=torch.long))
    with pytest.raises(InputError, match="unknown task"):
        model.generate("t2v", video)
    with pytest.raises(InputError, match="latent frames"):
        model.generate("i2vm", video, num_latent_frames=2)
    with pytest.raises(ConfigError, match="divisible"):
        tiny(dim=30)


def test_end_to_end_with_both_tokenizers():
    """Clip → video + motion tokens → UniMo loss and I2VM/V2M generation → decoded video and SMPL-X motion."""
    vt = VideoTokenizer(VideoTokenizerConfig(base_channels=8, channel_mult=[1], patch_size=2, spatial_compression=4,
                                             temporal_compression=2, fsq_levels=[3, 3], norm_groups=4)).eval()
    mt = MotionTokenizer(MotionTokenizerConfig(width=16, depth=1, expansion=2, codebook_size=10, code_dim=4,
                                               trunk_depth=1, expert_depth=1))
    frames, size = 5, 8
    video = torch.rand(2, frames, 3, size, size) * 2 - 1
    motion = torch.randn(2, frames, 79) * 0.2
    mt(motion)  # initialise the codebook
    mt.eval()
    cfg = config_from_tokenizers(vt, mt, (size, size), frames, dim=32, n_layers=1, n_heads=2)
    assert (cfg.video_vocab_size, cfg.motion_vocab_size, cfg.video_grid, cfg.max_latent_frames) == (9, 10, (2, 2), 3)
    model = UniMoModel(cfg)
    v_codes, m_codes = vt.encode(video), mt.encode(motion)
    assert m_codes.shape == (2, frames * 2)
    logs = model.training_step({"video_codes": v_codes, "motion_codes": m_codes}, 0)
    logs["loss"].backward()
    out = model.generate("i2vm", v_codes[:, :1], generator=torch.Generator().manual_seed(0))
    assert vt.decode(out.video_codes).shape == video.shape
    assert mt.decode(out.motion_codes).shape == motion.shape
    v2m = model.generate("v2m", v_codes)
    assert mt.decode(v2m.motion_codes).shape == motion.shape


def test_trainer_integration(tmp_path):
    from unimotion.training.trainer import Trainer, TrainerConfig

    video, motion = codes(b=4)
    data = [{"video_codes": video[i], "motion_codes": motion[i]} for i in range(4)]
    model = UniMoModel(tiny())
    cfg = TrainerConfig(out_dir=str(tmp_path / "run"), max_steps=2, batch_size=2, log_every=1, save_every=0,
                        progress=False, device="cpu")
    Trainer(model, cfg, data).fit()
    summary = json.loads((tmp_path / "run" / "train_summary.json").read_text())
    assert summary["steps"] == 2 and "ce_motion" in summary["last_logged"]
    assert isinstance(load_pretrained(tmp_path / "run" / "final"), UniMoModel)


def test_lean_training_loss_equals_the_full_logits_loss():
    """training_step's loss from hidden states (each head only at its targets) equals the loss of the full
    logits, value and gradients."""
    torch.manual_seed(0)
    model = UniMoModel(tiny(video_code_features=True, video_fsq_levels=[4, 3, 2]))
    video, motion = codes()
    batch = model.build_batch(video, motion, ["i2vm", "v2m", "i2vm"])
    full = model(batch)
    full.loss.backward()
    g_full = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    lean = model(batch, return_logits=False)
    assert lean.logits is None
    lean.loss.backward()
    torch.testing.assert_close(lean.loss, full.loss)
    for k in ("ce_video", "ce_motion", "acc_video", "acc_motion"):
        torch.testing.assert_close(lean.losses[k], full.losses[k])
    for n, p in model.named_parameters():  # a head without targets: zero gradient vs none
        if n in g_full:
            got = p.grad if p.grad is not None else torch.zeros_like(g_full[n])
            torch.testing.assert_close(got, g_full[n], atol=1e-6, rtol=1e-4)
    # shared embeddings fall back to the full logits
    shared = UniMoModel(tiny(embedding="shared"))
    assert shared(batch, return_logits=False).logits is not None


def test_motion_input_noise_corrupts_only_motion_inputs():
    """motion_input_noise replaces input motion tokens (only those, about p of them, reproducibly per step)
    while the targets stay the true ids; off in eval mode and by default."""
    model = UniMoModel(tiny(motion_input_noise=0.5, seed=3))
    video, motion = codes(b=8, seed=1)
    batch = model.build_batch(video, motion, ["i2vm", "v2m"] * 4)
    noisy = model.noisy_inputs(batch, step=5)
    torch.testing.assert_close(noisy, model.noisy_inputs(batch, step=5))
    assert not torch.equal(noisy, model.noisy_inputs(batch, step=6))
    changed = noisy != batch["ids"]
    is_motion = batch["modality"] == Modality.MOTION
    assert not (changed & ~is_motion).any()
    lo, hi = model.vocab.range(Modality.MOTION)
    assert ((noisy[is_motion] >= lo) & (noisy[is_motion] < hi)).all()
    frac = changed[is_motion].float().mean().item()  # p × (1 − 1/M): a draw can repeat the true code
    assert 0.3 < frac < 0.6
    # the loss reads noisy inputs but scores the true targets: it differs from the clean loss in training only
    clean = model(batch).loss
    torch.manual_seed(0)
    model.train()
    noisy_loss = model.training_step(batch, step=5)["loss"]
    assert not torch.allclose(noisy_loss, clean)
    torch.testing.assert_close(model(dict(batch, input_ids=noisy)).loss, noisy_loss)
    model.eval()
    torch.testing.assert_close(model.training_step(batch, step=5)["loss"], clean)
    assert UniMoConfig().motion_input_noise == 0.0
    with pytest.raises(ConfigError, match="motion_input_noise"):
        tiny(motion_input_noise=1.0)


@pytest.mark.parametrize("interleave", [True, False])
def test_motion_video_context_reads_the_cotemporal_frame(interleave):
    """motion_video_context adds to each motion token a function of exactly one latent frame's video codes:
    the chunk that the layout puts before the motion's step (Geometry.chunk_of_step), so I2VM stays causal;
    other tokens are untouched."""
    model = UniMoModel(tiny(motion_video_context=True, video_fsq_levels=[4, 3, 2], i2vm_interleave=interleave))
    video, motion = codes(b=2, k=3)
    geom = model.config.geometry(3)
    batch = model.build_batch(video, motion, ["i2vm", "i2vm"])
    frames = model.video_frames(batch["ids"], batch["modality"])
    assert frames.shape == (2, 3, 4)
    is_motion = batch["modality"] == Modality.MOTION
    base = model.motion_context(frames, batch["modality"], batch["time"])
    assert base[~is_motion].abs().max() == 0 and base[is_motion].abs().sum(-1).min() > 0
    step_of_token = torch.arange(geom.motion_steps).repeat_interleave(geom.motion_tokens_per_step)
    for k in range(3):
        changed = video.clone()
        changed[:, k] = (changed[:, k] + 5) % V
        b2 = model.build_batch(changed, motion, ["i2vm", "i2vm"])
        ctx = model.motion_context(model.video_frames(b2["ids"], b2["modality"]), b2["modality"], b2["time"])
        moved = (ctx - base).abs().sum(-1)[is_motion].view(2, -1) > 0  # (B, motion tokens)
        expect = torch.tensor([geom.chunk_of_step(int(t)) == k for t in step_of_token])
        assert torch.equal(moved, expect.expand(2, -1)), k
    # the motion of chunk k comes after chunk k's video in the interleaved layout: causal
    if interleave:
        pos_video = [torch.nonzero((batch["modality"][0] == Modality.VIDEO) & (batch["time"][0] == k)).max()
                     for k in range(3)]
        pos_motion = torch.nonzero(is_motion[0]).flatten()
        for p, t in zip(pos_motion.tolist(), step_of_token.tolist(), strict=True):
            assert p > pos_video[geom.chunk_of_step(t)]
    unknown = frames.clone()
    unknown[:, 2] = -1  # not generated yet → no contribution
    ctx = model.motion_context(unknown, batch["modality"], batch["time"])[is_motion].view(2, -1, ctx_dim := 32)
    in_last = torch.tensor([geom.chunk_of_step(int(t)) == 2 for t in step_of_token])
    assert ctx[:, in_last].abs().max() == 0 and ctx[:, ~in_last].abs().sum() > 0 and ctx_dim == model.config.dim
    with pytest.raises(InputError, match="motion_video_context"):
        model.forward_tokens(batch["ids"], batch["modality"], batch["time"], batch["row"], batch["col"], batch["sub"])
    with pytest.raises(ConfigError, match="motion_video_context"):
        tiny(motion_video_context=True)


def test_pose_aux_loss_targets_the_frame_of_each_motion_token():
    """pose_aux_weight adds weight × L1(pose_head(hidden at motion tokens), joints of the token's frame) to the
    CE; without a pose in the batch (or with weight 0) the loss is the CE alone."""
    torch.manual_seed(0)
    model = UniMoModel(tiny(pose_aux_weight=2.0, pose_aux_dim=6))
    video, motion = codes(b=2, k=3)
    geom = model.config.geometry(3)
    pose = torch.randn(2, geom.num_frames, 6)
    batch = model.build_batch(video, motion, ["v2m", "i2vm"])
    out = model(batch, return_logits=False)
    # by hand: motion tokens in layout order are step-major, s tokens per step, step t ↔ frame t (r = 1)
    is_motion = batch["modality"] == Modality.MOTION
    frames = torch.arange(geom.motion_steps).repeat_interleave(geom.motion_tokens_per_step)
    target = pose[:, frames].reshape(-1, 6)
    expect = (model.pose_head(out.hidden[is_motion]) - target).abs().mean()
    torch.testing.assert_close(model.pose_loss(out.hidden, batch, pose), expect)
    logs = model.training_step({**batch, "pose": pose}, 0)
    torch.testing.assert_close(logs["loss"], out.loss + 2.0 * expect)
    torch.testing.assert_close(logs["pose_l1"], expect.detach())
    logs["loss"].backward()
    assert model.pose_head.weight.grad.abs().sum() > 0
    assert "pose_l1" not in model.training_step(batch, 0)  # no pose given: CE only
    assert UniMoModel(tiny()).pose_head is None
    with pytest.raises(ConfigError, match="pose_aux_weight"):
        tiny(pose_aux_weight=-1.0)


@pytest.mark.parametrize("variant", [{}, {"embedding": "shared", "motion_video_context": True,
                                          "video_fsq_levels": [4, 3, 2]}])
def test_masked_v2m_reads_no_motion_tokens_and_decodes_in_one_pass(variant):
    """v2m_motion_inputs="masked": a V2M sequence's outputs do not depend on its motion codes (only its loss
    does, through the targets), I2VM sequences still read theirs; generation fills every motion token from one
    forward pass, the same tokens as the teacher-forced argmax with any motion codes."""
    torch.manual_seed(0)
    model = UniMoModel(tiny(v2m_motion_inputs="masked", **variant)).eval()
    video, motion = codes(b=2, k=3, seed=2)
    other = (motion + 5) % M
    tasks = ["v2m", "i2vm"]
    a, b = model.build_batch(video, motion, tasks), model.build_batch(video, other, tasks)
    is_motion = a["modality"] == Modality.MOTION
    assert (model.read_ids(a)[0][is_motion[0]] == -1).all()
    assert torch.equal(model.read_ids(a)[1], a["ids"][1])
    la, lb = model(a).logits, model(b).logits
    torch.testing.assert_close(la[0], lb[0])  # V2M: the motion codes are never read
    assert not torch.allclose(la[1], lb[1])  # I2VM: autoregressive as before
    v2m_only = model.build_batch(video, motion, ["v2m", "v2m"])
    assert not torch.allclose(model(v2m_only).loss, model(model.build_batch(video, other, ["v2m", "v2m"])).loss)
    # one-pass greedy decoding = the teacher-forced argmax at every motion position
    gen = model.generate("v2m", video)
    tf = model.build_batch(video, other, ["v2m", "v2m"])
    pos = torch.nonzero(tf["modality"][0] == Modality.MOTION).flatten()
    lo, hi = model.vocab.range(Modality.MOTION)
    expect = model(tf).logits[:, pos - 1, lo:hi].argmax(-1)
    assert torch.equal(gen.motion_codes, expect)
    assert torch.equal(gen.video_codes, video)
    # sampled decoding is reproducible with a generator and stays in the motion range
    cfg = SamplingConfig(temperature=1.0, top_k=5)
    s1 = model.generate("v2m", video, motion_sampling=cfg, generator=torch.Generator().manual_seed(1))
    s2 = model.generate("v2m", video, motion_sampling=cfg, generator=torch.Generator().manual_seed(1))
    assert torch.equal(s1.motion_codes, s2.motion_codes)
    assert ((s1.motion_codes >= 0) & (s1.motion_codes < M)).all()
    # per-token distributions: normalised, their argmax is the greedy decoding; temperature sharpens them
    probs = model.v2m_motion_probs(video)
    assert probs.shape == (2, gen.motion_codes.shape[1], M)
    torch.testing.assert_close(probs.sum(-1), torch.ones(probs.shape[:2]))
    assert torch.equal(probs.argmax(-1), gen.motion_codes)
    assert (model.v2m_motion_probs(video, 0.5).max(-1).values >= probs.max(-1).values - 1e-6).all()
    with pytest.raises(InputError, match="temperature"):
        model.v2m_motion_probs(video, 0.0)
    # the tokens model: V2M outputs do depend on the motion codes read
    ar = UniMoModel(tiny(**variant)).eval()
    assert not torch.allclose(ar(a).logits[0], ar(b).logits[0])
    with pytest.raises(InputError, match="masked-V2M"):
        ar.v2m_motion_probs(video)
    with pytest.raises(ConfigError, match="v2m_motion_inputs"):
        tiny(v2m_motion_inputs="parallel")
    bad = model.build_batch(video, motion, tasks)
    with pytest.raises(InputError, match="one layout"):
        fill_in_parallel(model, {**bad, "ids": torch.where(is_motion, -1, bad["ids"])},
                         {Modality.VIDEO: cfg, Modality.MOTION: cfg})
