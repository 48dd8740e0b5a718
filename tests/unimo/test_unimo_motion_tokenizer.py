"""UniMo motion tokenizer: temporal expansion layout, expert decoders, losses, masks, round trips, save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unimotion.errors import ConfigError, MotionError
from unimotion.models.modeling_utils import load_pretrained
from unimotion.models.unimo.motion_tokenizer import (
    GROUPS,
    CodebookUsage,
    MotionTokenizer,
    MotionTokenizerConfig,
)
from unimotion.motion import smplx_params as sp
from unimotion.motion.stats import NormStats


def tiny(**kw) -> MotionTokenizerConfig:
    base = dict(width=24, depth=2, expansion=3, codebook_size=16, code_dim=6, trunk_depth=1, expert_depth=1)
    base.update(kw)
    return MotionTokenizerConfig(**base)


def smooth_motion(b: int, t: int, seed: int) -> torch.Tensor:
    """Per-channel sinusoids: temporally smooth like real motion, so a tiny VQ-VAE can learn it fast."""
    g = torch.Generator().manual_seed(seed)
    freq = torch.rand(b, 1, 79, generator=g) * 0.3
    phase = torch.rand(b, 1, 79, generator=g) * 6.28
    amp = torch.rand(b, 1, 79, generator=g) * 0.5
    return amp * torch.sin(freq * torch.arange(t, dtype=torch.float32)[None, :, None] + phase)


def motion(b: int = 2, t: int = 12, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, t, 79, generator=g) * 0.3
    x[..., sp.BETAS] = torch.randn(b, 1, 10, generator=g)  # clip-constant shape
    return x


@pytest.mark.parametrize("down_t, expansion", [(0, 1), (0, 3), (1, 2), (2, 4)])
def test_token_counts_and_shapes(down_t, expansion):
    m = MotionTokenizer(tiny(down_t=down_t, expansion=expansion))
    x = motion(t=16)
    out = m(x)
    assert out.reconstruction.shape == x.shape
    assert out.indices.shape == (2, 16 // 2**down_t * expansion) == (2, m.num_tokens(16))
    assert m.config.tokens_per_frame == expansion / 2**down_t
    assert int(out.indices.min()) >= 0 and int(out.indices.max()) < 16
    out.loss.backward()


def test_expansion_puts_the_s_codes_of_a_step_next_to_each_other():
    """Token t·s + j holds channels [j·d, (j+1)·d) of the encoder output at latent step t."""
    m = MotionTokenizer(tiny(expansion=3, code_dim=6)).eval()
    x = motion(t=8)
    h = m.encoder(x.transpose(1, 2))  # (B, s·d, T')
    z = m._encode_continuous(x, torch.ones(2, 8, dtype=torch.bool))  # (B, T'·s, d)
    for t in (0, 5):
        for j in range(3):
            torch.testing.assert_close(z[:, t * 3 + j], h[:, j * 6 : (j + 1) * 6, t])
    codes = m.encode(x)
    expected = torch.cdist(z.reshape(-1, 6), m.quantizer.codebook).argmin(-1).view(2, -1)
    assert torch.equal(codes, expected)


def test_encode_decode_round_trip_matches_forward():
    m = MotionTokenizer(tiny())
    m(motion())  # initialise the codebook from data (training mode)
    m.eval()
    x = motion(seed=1)
    codes = m.encode(x)
    torch.testing.assert_close(m.decode(codes), m(x).reconstruction)
    # decoding the codes of a decoded clip is a fixed point of quantisation: same codes back is not
    # guaranteed, but decode is deterministic and shape-preserving
    assert m.decode(codes).shape == x.shape


def test_decode_expected_is_decode_for_one_hot_and_mixes_code_vectors():
    """decode_expected: one-hot distributions decode exactly like their codes; a 50/50 mixture of two codes
    decodes the mean of their vectors (checked through the decoder on the mixed latent); bad input raises."""
    torch.manual_seed(0)
    m = MotionTokenizer(tiny())
    m(motion())
    m.eval()
    codes = m.encode(motion(seed=1))  # (B, N)
    one_hot = torch.nn.functional.one_hot(codes, m.config.codebook_size).float()
    torch.testing.assert_close(m.decode_expected(one_hot), m.decode(codes))
    other = (codes + 1) % m.config.codebook_size
    mix = 0.5 * one_hot + 0.5 * torch.nn.functional.one_hot(other, m.config.codebook_size).float()
    z = 0.5 * (m.quantizer.codes_to_vectors(codes) + m.quantizer.codes_to_vectors(other))
    mask = torch.ones(codes.shape[0], codes.shape[1] // m.config.expansion, dtype=torch.bool)
    torch.testing.assert_close(m.decode_expected(mix), m.denormalize(m._decode_vectors(z, mask)))
    torch.testing.assert_close(m.decode_expected(3 * mix), m.decode_expected(mix))  # unnormalised weights
    with pytest.raises(MotionError, match="probs must be"):
        m.decode_expected(one_hot[:, :-1])
    with pytest.raises(MotionError, match="non-negative"):
        m.decode_expected(-one_hot)


def test_experts_are_independent():
    m = MotionTokenizer(tiny(w_joints=0.0))
    out = m(motion())
    out.losses["transl"].backward()
    for name in GROUPS:
        grads = [p.grad for p in m.heads[name].parameters()]
        touched = any(g is not None and g.abs().sum() > 0 for g in grads)
        assert touched == (name == "transl"), name
    # channel ranges of the experts tile the 79 channels in order
    assert [(s.start, s.stop) for s in GROUPS.values()] == [(0, 63), (63, 73), (73, 76), (76, 79)]


def test_betas_pooling_gives_one_shape_per_clip():
    m = MotionTokenizer(tiny(betas_pool=True)).eval()
    rec = m(motion()).reconstruction
    betas = rec[..., sp.BETAS]
    torch.testing.assert_close(betas, betas[:, :1].expand_as(betas))
    m2 = MotionTokenizer(tiny(betas_pool=False)).eval()
    b2 = m2(motion()).reconstruction[..., sp.BETAS]
    assert (b2 - b2[:, :1]).abs().max() > 1e-6


def test_shared_decoder_ablation():
    m = MotionTokenizer(tiny(decoder="shared"))
    assert set(m.heads) == {"all"}
    out = m(motion())
    assert out.reconstruction.shape == (2, 12, 79)
    out.loss.backward()


def test_joint_loss_uses_smplx_fk():
    m = MotionTokenizer(tiny(w_joints=1.0)).eval()
    x = motion()
    out = m(x)
    expected = (sp.smplx_forward_kinematics(out.reconstruction) - sp.smplx_forward_kinematics(x)).abs().mean()
    torch.testing.assert_close(out.losses["joints"], expected)
    assert "joints" not in MotionTokenizer(tiny(w_joints=0.0))(x).losses
    assert "velocity" in MotionTokenizer(tiny(w_velocity=1.0))(x).losses


def test_loss_weights_combine_terms():
    cfg = tiny(w_body_pose=2.0, w_betas=0.5, w_global_orient=0.0, w_transl=3.0, w_joints=0.25)
    m = MotionTokenizer(cfg).eval()
    out = m(motion())
    l = out.losses
    expected = 2 * l["body_pose"] + 0.5 * l["betas"] + 3 * l["transl"] + 0.25 * l["joints"] + l["commit"]
    torch.testing.assert_close(out.loss, expected)


def test_padding_frames_do_not_change_the_loss():
    m = MotionTokenizer(tiny()).eval()
    x = motion(t=12)
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[1, 8:] = False
    y = x.clone()
    y[1, 8:] = 5.0  # garbage in the padding
    a, b = m(x, mask), m(y, mask)
    for k in a.losses:
        torch.testing.assert_close(a.losses[k], b.losses[k])
    torch.testing.assert_close(a.reconstruction[0], b.reconstruction[0])


def test_normalisation_stats_are_used_and_saved(tmp_path):
    m = MotionTokenizer(tiny())
    data = motion(b=4, t=16).reshape(-1, 79).numpy() * 3 + 1
    m.stats = NormStats.from_data(data)
    m.notice = "test data"
    m(torch.tensor(data).view(4, 16, 79))  # fill the codebook
    m.eval()
    x = torch.tensor(data[:32]).view(2, 16, 79)
    m.save_pretrained(tmp_path / "tok")
    loaded = load_pretrained(tmp_path / "tok")
    assert isinstance(loaded, MotionTokenizer) and loaded.config == m.config
    np.testing.assert_array_equal(loaded.stats.mean, m.stats.mean)
    assert loaded.notice == "test data"
    assert torch.equal(loaded.encode(x), m.encode(x))
    torch.testing.assert_close(loaded.decode(m.encode(x)), m.decode(m.encode(x)))
    # decode returns raw units: normalised output mapped back through the stats
    z = m.quantizer.codes_to_vectors(m.encode(x))
    raw = m.stats.denormalize(m._decode_vectors(z, torch.ones(2, 16, dtype=torch.bool)))
    torch.testing.assert_close(m.decode(m.encode(x)), raw)


def test_training_reduces_reconstruction_error():
    torch.manual_seed(0)
    m = MotionTokenizer(tiny(width=48, codebook_size=32, code_dim=8, expansion=2, w_joints=0.5))
    x = smooth_motion(4, 16, seed=3)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    first = None
    for step in range(40):
        logs = m.training_step({"motion": x}, step)
        opt.zero_grad()
        logs["loss"].backward()
        opt.step()
        first = first if first is not None else float(logs["loss_body_pose"])
    assert float(logs["loss_body_pose"]) < 0.6 * first
    assert logs["codes_used"] > 1 and float(logs["perplexity"]) > 1
    assert 0 <= m.dead_codes() <= 32


def test_codebook_usage_counters():
    u = CodebookUsage(8)
    u.update(torch.arange(8).repeat(3))
    assert u.used == 8 and u.dead == 0 and u.perplexity == pytest.approx(8.0)
    u2 = CodebookUsage(8)
    ids = torch.tensor([[1, 1, 2, 5]])
    u2.update(ids, mask=torch.tensor([[True, True, True, False]]))
    p = np.array([2 / 3, 1 / 3])
    assert u2.used == 2 and u2.dead == 6 and u2.perplexity == pytest.approx(float(np.exp(-(p * np.log(p)).sum())))


def test_input_validation():
    m = MotionTokenizer(tiny(down_t=1))
    with pytest.raises(MotionError, match="multiple of 2"):
        m(motion(t=11))
    with pytest.raises(MotionError, match="79"):
        m(torch.zeros(2, 8, 78))
    bad = motion(t=8)
    bad[0, 3, 5] = float("inf")
    with pytest.raises(MotionError, match="NaN or Inf"):
        m(bad)
    with pytest.raises(MotionError, match="mask"):
        m(motion(t=8), torch.ones(2, 7, dtype=torch.bool))
    with pytest.raises(MotionError, match="multiple of s"):
        m.decode(torch.zeros(1, 4, dtype=torch.long))
    with pytest.raises(MotionError, match=r"\[0, 16\)"):
        m.decode(torch.full((1, 3), 16, dtype=torch.long))
    with pytest.raises(ConfigError):
        MotionTokenizerConfig(expansion=0)
