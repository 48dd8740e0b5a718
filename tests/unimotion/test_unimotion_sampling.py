"""Sampling: cached + batched-CFG equals naive recomputation, cache hygiene, text decoding, LRA, errors."""

from __future__ import annotations

import pytest
import torch
from unimotion_helpers import LATENT_DIM, perturb_zero_init

from unimotion.errors import InputError
from unimotion.models.unimotion import sampling as S
from unimotion.models.unimotion.sequence import TaskExample

D = LATENT_DIM


@pytest.fixture
def model(tiny_model):
    perturb_zero_init(tiny_model, scale=0.1)
    return tiny_model.eval()


def _requests(g):
    return [
        TaskExample("t2m", caption="a person walks forward", target_length=5),
        TaskExample("editing", source=torch.randn(4, D, generator=g), instruction="raise the arm", target_length=3),
        TaskExample("prediction", source=torch.randn(2, D, generator=g), target_length=6),
    ]


@pytest.mark.parametrize("cfg_scale", [3.0, 1.0])
def test_fast_sampler_equals_naive_recompute(model, cfg_scale):
    req = _requests(torch.Generator().manual_seed(0))
    kw = dict(num_steps=4, seed=5, cfg_scale=cfg_scale, time_shift=2.0)
    fast = model.sample_motion(req, **kw)
    naive = model.sample_motion(req, use_cache=False, batch_cfg=False, **kw)
    batched_full = model.sample_motion(req, use_cache=False, batch_cfg=True, **kw)
    cached_sep = model.sample_motion(req, use_cache=True, batch_cfg=False, **kw)
    assert fast.latents.shape == (3, 6, D)
    assert fast.mask.sum(1).tolist() == [5, 3, 6]
    assert (fast.latents[~fast.mask] == 0).all()
    for other in (naive, batched_full, cached_sep):
        assert (fast.latents - other.latents).abs().max() <= 1e-4
    assert [z.shape[0] for z in fast.unpad()] == [5, 3, 6]


def test_guidance_changes_the_result_and_seed_controls_noise(model):
    req = _requests(torch.Generator().manual_seed(0))[:1]
    a = model.sample_motion(req, num_steps=3, seed=1)
    b = model.sample_motion(req, num_steps=3, seed=1)
    c = model.sample_motion(req, num_steps=3, seed=2)
    d = model.sample_motion(req, num_steps=3, seed=1, cfg_scale=1.0)
    assert torch.equal(a.latents, b.latents)
    assert not torch.allclose(a.latents, c.latents)
    assert not torch.allclose(a.latents, d.latents)
    noise = torch.randn(1, 5, D)
    e = model.sample_motion(req, num_steps=3, noise=noise)
    f = model.sample_motion(req, num_steps=3, noise=noise, use_cache=False)
    assert (e.latents - f.latents).abs().max() <= 1e-4


def test_cache_is_cropped_back_to_the_prefix(model):
    req = _requests(torch.Generator().manual_seed(0))
    rows = S._CachedRows(model, req, [0, 1, 2])
    P = rows.cache.get_seq_length()
    assert P == rows.P
    x = torch.randn(3, rows.T, D)
    mask = torch.ones(3, rows.T, dtype=torch.bool)
    with torch.no_grad():
        emb = model.motion_embedder(x, mask)
        v1 = rows.velocity(x, torch.tensor([0.3]), mask, emb)
        assert rows.cache.get_seq_length() == P
        v2 = rows.velocity(x, torch.tensor([0.3]), mask)  # the embedder output computed inside
    assert torch.equal(v1, v2)  # a second call sees the same (unmutated) prefix


def test_text_generation_cached_equals_recompute_and_stops(model):
    g = torch.Generator().manual_seed(0)
    lat = [torch.randn(4, D, generator=g), torch.randn(6, D, generator=g)]
    a = model.generate_text(lat, max_new_tokens=5)
    b = model.generate_text(lat, max_new_tokens=5, use_cache=False)
    assert a.token_ids == b.token_ids
    assert all(len(t) <= 5 for t in a.token_ids) and len(a.texts) == 2
    # force <|im_end|> as the most likely token: generation stops at once with an empty caption
    eos = model.special_ids.im_end
    with torch.no_grad():
        model.backbone.get_output_embeddings().bias = torch.nn.Parameter(
            torch.zeros(model.backbone.config.vocab_size).index_fill_(0, torch.tensor([eos]), 1e4))
    c = model.generate_text(lat, max_new_tokens=5)
    assert c.token_ids == [[], []] and c.texts == ["", ""]


def test_top_p_sampling_is_seeded_and_restricted():
    logits = torch.tensor([[5.0, 4.0, -10.0, -10.0]])
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    draws1 = [int(S._pick(logits, True, 0.99, 1.0, g1)) for _ in range(50)]
    draws2 = [int(S._pick(logits, True, 0.99, 1.0, g2)) for _ in range(50)]
    assert draws1 == draws2 and set(draws1) <= {0, 1} and len(set(draws1)) == 2
    g = torch.Generator().manual_seed(0)
    assert {int(S._pick(logits, True, 0.5, 1.0, g)) for _ in range(20)} == {0}  # nucleus of the top token only
    assert int(S._pick(logits, False, 0.9, 1.0, g)) == 0


def test_text_generation_with_sampling_runs(model):
    z = [torch.randn(3, D)]
    out = model.generate_text(z, max_new_tokens=4, do_sample=True, top_p=0.8, seed=3)
    again = model.generate_text(z, max_new_tokens=4, do_sample=True, top_p=0.8, seed=3)
    assert out.token_ids == again.token_ids  # seeded
    assert len(out.token_ids[0]) <= 4
    with pytest.raises(InputError, match="top_p"):
        model.generate_text(z, top_p=0.0)


def test_lra_regeneration_runs_backbone_once(model):
    calls = []
    hook = model.backbone.base_model.register_forward_hook(lambda *a: calls.append(1))
    lat = [torch.randn(5, D), torch.randn(3, D)]
    out = model.reconstruct(lat, num_steps=6, seed=0)
    hook.remove()
    assert len(calls) == 1
    assert out.latents.shape == (2, 5, D) and out.mask.sum(1).tolist() == [5, 3]
    shuffled = model.reconstruct(lat, num_steps=6, seed=0, shuffle=True)
    degraded = model.reconstruct(lat, num_steps=6, seed=0, degrade=True)
    assert not torch.allclose(out.latents, shuffled.latents)
    recomputed = model.reconstruct(lat, num_steps=6, seed=0, use_cache=False)
    assert (recomputed.latents - out.latents).abs().max() <= 1e-5
    assert not torch.allclose(out.latents, degraded.latents)


def test_sampling_input_validation(model):
    with pytest.raises(InputError, match="generates motion"):
        model.sample_motion([TaskExample("m2t", source=torch.randn(2, D))])
    with pytest.raises(InputError, match="target_length"):
        model.sample_motion([TaskExample("t2m", caption="x", target_length=0)])
    with pytest.raises(InputError, match="target_length"):
        model.sample_motion([TaskExample("t2m", caption="x", target_length=999)])
    with pytest.raises(InputError, match="num_steps"):
        model.sample_motion([TaskExample("t2m", caption="x", target_length=3)], num_steps=0)
    with pytest.raises(InputError, match="noise"):
        model.sample_motion([TaskExample("t2m", caption="x", target_length=3)], noise=torch.randn(1, 4, D))
    with pytest.raises(InputError):
        model.sample_motion([])
    with pytest.raises(InputError, match="NaN"):
        model.generate_text([torch.full((3, D), float("inf"))])
    with pytest.raises(InputError, match="max_new_tokens"):
        model.generate_text([torch.randn(3, D)], max_new_tokens=0)
    with pytest.raises(InputError, match="shape"):
        model.reconstruct([torch.randn(3, D + 2)])
    # a target latent given instead of a length is fine (its length is used)
    out = model.sample_motion([TaskExample("t2m", caption="x", target=torch.randn(4, D))], num_steps=2)
    assert out.latents.shape == (1, 4, D)


def test_without_time_token(tokenizer):
    """time_token=False: t reaches only the flow head; training and both samplers still agree."""
    from unimotion_helpers import tiny_config

    from unimotion.models.unimotion.model import UniMotionModel

    torch.manual_seed(0)
    model = UniMotionModel(tiny_config(time_token=False), tokenizer=tokenizer)
    assert model.time_embedder is None
    batch = model.builder.build([TaskExample("t2m", caption="a man runs", target_length=3)])
    assert not any(s.time_token for s in batch.spans)
    perturb_zero_init(model, 0.1)
    model.train()
    model([TaskExample("t2m", caption="a man runs", target=torch.randn(3, D))]).loss.backward()
    model.eval()
    req = _requests(torch.Generator().manual_seed(0))
    a = model.sample_motion(req, num_steps=3, seed=0)
    b = model.sample_motion(req, num_steps=3, seed=0, use_cache=False, batch_cfg=False)
    assert (a.latents - b.latents).abs().max() <= 1e-4


@pytest.fixture
def placeholder_model(tokenizer):
    from unimotion_helpers import tiny_config

    from unimotion.models.unimotion.model import UniMotionModel

    torch.manual_seed(0)
    model = UniMotionModel(tiny_config(target_input="placeholder"), tokenizer=tokenizer)
    perturb_zero_init(model, 0.1)
    return model.eval()


def _count_backbone_calls(model):
    calls = []
    hook = model.backbone.base_model.register_forward_hook(lambda *a: calls.append(1))
    return calls, hook


@pytest.mark.parametrize("cfg_scale", [3.0, 1.0])
def test_placeholder_target_fast_equals_naive_and_runs_backbone_twice(placeholder_model, cfg_scale):
    """target_input="placeholder": z_t only reaches the flow head, so the fast sampler runs the backbone once for
    the prefix and once for the span (not once per step), and still equals full recomputation."""
    model = placeholder_model
    req = _requests(torch.Generator().manual_seed(0))
    kw = dict(num_steps=5, seed=5, cfg_scale=cfg_scale, time_shift=2.0)
    calls, hook = _count_backbone_calls(model)
    fast = model.sample_motion(req, **kw)
    hook.remove()
    assert len(calls) == 2  # prefix (KV cache) + target span, for all rows and both CFG branches at once
    calls, hook = _count_backbone_calls(model)
    naive = model.sample_motion(req, use_cache=False, batch_cfg=False, **kw)
    hook.remove()
    assert len(calls) == 5 * 3 * (2 if cfg_scale != 1.0 else 1)  # every step, example and branch
    cached_sep = model.sample_motion(req, use_cache=True, batch_cfg=False, **kw)
    for other in (naive, cached_sep):
        assert (fast.latents - other.latents).abs().max() <= 1e-4
    assert fast.mask.sum(1).tolist() == [5, 3, 6]
    assert (fast.latents[~fast.mask] == 0).all()
    # the noise and the guidance still matter (z_t reaches the head through AdaLN)
    other_seed = model.sample_motion(req, **{**kw, "seed": 6})
    assert not torch.allclose(fast.latents, other_seed.latents)


def test_placeholder_target_backbone_input_ignores_z_t(placeholder_model):
    """Training forward: with the placeholder, changing the noisy target changes only the head's output."""
    model = placeholder_model
    model.train()
    ex = [TaskExample("t2m", caption="a man runs", target=torch.randn(4, D))]
    captured = []
    hook = model.backbone.base_model.register_forward_hook(lambda m, a, kw, out: captured.append(kw["inputs_embeds"]),
                                                           with_kwargs=True)
    out_a = model(ex, generator=torch.Generator().manual_seed(1))
    out_b = model(ex, generator=torch.Generator().manual_seed(2))  # other noise and t
    hook.remove()
    assert torch.equal(captured[0], captured[1])
    assert not torch.allclose(out_a.velocity, out_b.velocity)
    out_a.loss.backward()
    assert model.flow_head.z_embed.weight.grad is not None and model.flow_head.z_embed.weight.grad.abs().sum() > 0


def test_placeholder_target_needs_zt_in_the_head(tokenizer):
    from unimotion_helpers import tiny_config

    from unimotion.errors import ConfigError
    from unimotion.models.unimotion.flow_head import FlowHeadConfig
    from unimotion.models.unimotion.model import UniMotionConfig, UniMotionModel

    cfg = tiny_config(target_input="placeholder")
    cfg.flow_head = FlowHeadConfig(num_blocks=1, num_heads=2, zt_conditioning="lra_only")
    with pytest.raises(ConfigError, match="zt_conditioning"):
        UniMotionModel(cfg, tokenizer=tokenizer)
    with pytest.raises(ConfigError, match="target_input"):
        UniMotionConfig(target_input="noise")
