"""Hybrid attention mask: exact entries, and its semantics inside a real Hugging Face Qwen2 model."""

from __future__ import annotations

import pytest
import torch

from unimotion.models.unimotion.attention_mask import hybrid_attention_mask, slice_mask, to_additive_mask

SPANS = torch.tensor([[-1, -1, 0, 0, 0, -1, 1, 1, -1]])
VALID = torch.tensor([[True] * 8 + [False]])


def expected_mask(span, valid):
    L = len(span)
    out = torch.zeros(L, L, dtype=torch.bool)
    for i in range(L):
        for j in range(L):
            if not valid[i]:
                out[i, j] = i == j
            else:
                out[i, j] = valid[j] and (j <= i or (span[i] >= 0 and span[i] == span[j]))
    return out


def test_mask_entries_match_the_definition():
    got = hybrid_attention_mask(SPANS, VALID)
    assert got.shape == (1, 1, 9, 9) and got.dtype == torch.bool
    assert torch.equal(got[0, 0], expected_mask(SPANS[0].tolist(), VALID[0].tolist()))
    # a few entries spelled out
    m = got[0, 0]
    assert m[2, 4] and m[4, 2]  # inside span 0 both ways
    assert not m[1, 2]  # text never sees later tokens
    assert not m[4, 6]  # span 0 does not see span 1
    assert m[6, 4] and m[7, 6] and m[6, 7]
    assert not m[7, 8]  # padding key blocked
    assert m[8, 8] and not m[8, 0]  # padding query sees itself only


def test_additive_mask_and_slicing():
    allowed = hybrid_attention_mask(SPANS, VALID)
    add = to_additive_mask(allowed, torch.float32)
    assert (add[allowed] == 0).all()
    assert (add[~allowed] == torch.finfo(torch.float32).min).all()
    part = slice_mask(add, slice(6, 8), slice(0, 8))
    assert part.shape == (1, 1, 2, 8)
    assert torch.equal(part, add[:, :, 6:8, :8])


@pytest.fixture(scope="module")
def qwen_pair():
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(0)
    cfg = AutoConfig.for_model("qwen2", vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                               num_attention_heads=4, num_key_value_heads=2)
    models = {}
    for impl in ("sdpa", "eager"):
        torch.manual_seed(0)
        models[impl] = AutoModelForCausalLM.from_config(cfg, attn_implementation=impl).eval().model
    return models


def _run(model, x, span, valid):
    mask = to_additive_mask(hybrid_attention_mask(span, valid), x.dtype)
    pos = (valid.long().cumsum(1) - 1).clamp_min(0)
    with torch.no_grad():
        return model(inputs_embeds=x, attention_mask=mask, position_ids=pos).last_hidden_state


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
def test_later_tokens_never_change_earlier_outputs_and_spans_see_each_other(qwen_pair, impl):
    model = qwen_pair[impl]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 9, 32, generator=g)
    base = _run(model, x, SPANS, VALID)
    for j in range(8):
        y = x.clone()
        y[0, j] += torch.randn(32, generator=g)
        out = _run(model, y, SPANS, VALID)
        changed = (out - base).abs().amax(-1)[0] > 1e-6
        for i in range(8):
            sees = j <= i or (SPANS[0, i] >= 0 and SPANS[0, i] == SPANS[0, j])
            assert bool(changed[i]) == sees, (impl, i, j)
    # changing the padding token changes no valid output
    y = x.clone()
    y[0, 8] += 10
    assert torch.allclose(_run(model, y, SPANS, VALID)[0, :8], base[0, :8], atol=1e-6)


def test_eager_and_sdpa_agree(qwen_pair):
    x = torch.randn(1, 9, 32)
    a = _run(qwen_pair["sdpa"], x, SPANS, VALID)[0, :8]
    b = _run(qwen_pair["eager"], x, SPANS, VALID)[0, :8]
    assert torch.allclose(a, b, atol=1e-5)
