"""SkipTransformer, attention and positional encodings."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from unimotion.errors import ConfigError, InputError
from unimotion.models.blocks.positional import (
    LearnedPositionalEmbedding,
    SinusoidalPositionalEmbedding,
    build_positional,
)
from unimotion.models.blocks.skip_transformer import (
    MultiHeadAttention,
    SkipTransformer,
    SkipTransformerConfig,
)


def cfg(**kw) -> SkipTransformerConfig:
    return SkipTransformerConfig(**{"num_layers": 5, "num_heads": 2, "ff_dim": 24, "dropout": 0.0, **kw})


def test_config_rejects_even_depth_and_bad_width():
    with pytest.raises(ConfigError, match="odd"):
        SkipTransformerConfig(num_layers=4)
    with pytest.raises(ConfigError, match="dropout"):
        SkipTransformerConfig(dropout=1.5)
    with pytest.raises(ConfigError, match="divisible"):
        SkipTransformer(10, cfg(num_heads=3))


def test_layer_counts_follow_mld_structure():
    st = SkipTransformer(8, cfg(num_layers=9))
    assert len(st.input_blocks) == 4 and len(st.output_blocks) == 4 and len(st.skip_linears) == 4
    assert all(lin.in_features == 16 and lin.out_features == 8 for lin in st.skip_linears)


def test_long_skips_connect_mirrored_layers():
    """Recompute a 5-layer stack by hand: out_i consumes cat(previous, in_{n-i})."""
    st = SkipTransformer(8, cfg(num_layers=5)).eval()
    x = torch.randn(2, 6, 8)
    a1 = st.input_blocks[0](x)
    a2 = st.input_blocks[1](a1)
    m = st.middle_block(a2)
    o1 = st.output_blocks[0](st.skip_linears[0](torch.cat([m, a2], -1)))
    o2 = st.output_blocks[1](st.skip_linears[1](torch.cat([o1, a1], -1)))
    torch.testing.assert_close(st(x), st.norm(o2))


@pytest.mark.parametrize("norm_first", [False, True])
def test_padding_does_not_change_valid_outputs(norm_first):
    st = SkipTransformer(8, cfg(norm_first=norm_first)).eval()
    x = torch.randn(1, 7, 8)
    mask = torch.tensor([[True] * 5 + [False] * 2])
    y1 = st(x, mask)
    x2 = x.clone()
    x2[:, 5:] = 100.0 * torch.randn(1, 2, 8)
    y2 = st(x2, mask)
    torch.testing.assert_close(y1[:, :5], y2[:, :5])
    # and it is the same as running the unpadded sequence alone
    torch.testing.assert_close(y1[:, :5], st(x[:, :5]), atol=1e-5, rtol=1e-5)


def test_cross_attention_uses_context_and_its_mask():
    st = SkipTransformer(8, cfg(), cross_attention=True, context_dim=6).eval()
    x, ctx = torch.randn(2, 4, 8), torch.randn(2, 3, 6)
    cmask = torch.tensor([[True, True, False], [True, False, False]])
    y = st(x, context=ctx, context_mask=cmask)
    ctx2 = ctx.clone()
    ctx2[0, 2] += 5.0
    ctx2[1, 1:] -= 5.0
    torch.testing.assert_close(st(x, context=ctx2, context_mask=cmask), y)  # masked entries are ignored
    ctx3 = ctx.clone()
    ctx3[0, 0] += 1.0
    assert not torch.allclose(st(x, context=ctx3, context_mask=cmask)[0], y[0])
    with pytest.raises(ValueError, match="context"):
        st(x)


def test_attention_matches_torch_multihead_attention():
    torch.manual_seed(3)
    ours = MultiHeadAttention(8, 2)
    ref = nn.MultiheadAttention(8, 2, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.q.weight, ours.k.weight, ours.v.weight]))
        ref.in_proj_bias.copy_(torch.cat([ours.q.bias, ours.k.bias, ours.v.bias]))
        ref.out_proj.weight.copy_(ours.out.weight)
        ref.out_proj.bias.copy_(ours.out.bias)
    x = torch.randn(3, 5, 8)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2, [True] + [False] * 4])
    expected = ref(x, x, x, key_padding_mask=~mask, need_weights=False)[0]
    torch.testing.assert_close(ours(x, key_mask=mask), expected, atol=1e-5, rtol=1e-5)


def test_sinusoidal_table_matches_formula():
    pe = SinusoidalPositionalEmbedding(6)
    table = pe.table(4, offset=2)
    for p in range(4):
        for i in range(3):
            angle = (p + 2) / 10000 ** (2 * i / 6)
            assert table[p, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert table[p, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)
    x = torch.zeros(2, 4, 6)
    torch.testing.assert_close(pe(x, offset=2), table.expand(2, 4, 6))
    assert "inv_freq" not in pe.state_dict()  # not saved: recomputed from the config


def test_learned_positions_reject_long_sequences():
    pe = LearnedPositionalEmbedding(5, 4)
    assert pe(torch.zeros(1, 5, 4)).shape == (1, 5, 4)
    with pytest.raises(InputError, match="max_frames"):
        pe(torch.zeros(1, 6, 4))
    with pytest.raises(ValueError):
        build_positional("rope", 5, 4)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="even"):
        SinusoidalPositionalEmbedding(5)
