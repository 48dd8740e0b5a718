"""The CMA-VAE's ``decoder_arch="conv_upsample"`` / ``"resnet_upsample"`` (transformer over latent steps +
conv upsampling, with residual conv stacks for the latter) and the CPU attention-dropout path of the
SkipTransformer."""

from __future__ import annotations

import pytest
import torch

from unimotion.errors import ConfigError
from unimotion.models.autoencoders import CMAVAE
from unimotion.models.autoencoders.components import LatentDecoder
from unimotion.models.blocks.skip_transformer import MultiHeadAttention

ARCHS = pytest.mark.parametrize("arch", ["conv_upsample", "resnet_upsample"])


def _model(tiny, arch: str = "conv_upsample", **kw) -> CMAVAE:
    return CMAVAE(tiny.cma_config(decoder_arch=arch, vision_branch=False, **kw)).eval()


@ARCHS
def test_shapes_and_zero_padding(tiny, arch):
    model = _model(tiny, arch)
    motion, mask = tiny.motion_batch((21, 13, 8))
    lat = model.encode(motion, mask)
    assert lat.z.shape == (3, 6, 8) and lat.mask_z.sum(1).tolist() == [6, 4, 2]
    out = model.decode(lat.z, lat.mask_z, mask=mask)
    assert out.shape == motion.shape
    assert (out[~mask] == 0).all() and out[mask].abs().sum() > 0
    assert model.decode(lat.z, lat.mask_z).shape == (3, 24, tiny.D)  # r·T_z frames without a target length


@ARCHS
def test_output_does_not_depend_on_batch_padding(tiny, arch):
    model = _model(tiny, arch)
    motion, mask = tiny.motion_batch((21, 13, 8))
    alone = model.reconstruct(motion[1:2, :13], mask[1:2, :13])
    padded = model.reconstruct(motion, mask)[1:2, :13]
    torch.testing.assert_close(alone, padded, atol=1e-5, rtol=1e-5)
    noisy = motion.clone()
    noisy[~mask] = 100.0  # padding content must not leak
    torch.testing.assert_close(model.reconstruct(noisy, mask), model.reconstruct(motion, mask))


@ARCHS
def test_has_no_frame_queries_and_trains(tiny, arch):
    model = _model(tiny, arch).train()
    assert not hasattr(model.decoder, "query_pos") and len(model.decoder.ups) == 2
    assert hasattr(model.decoder, "res") == (arch == "resnet_upsample")
    motion, mask = tiny.motion_batch((21, 13, 8))
    out = model(motion, mask, step=0)
    out.loss.backward()
    grads = [p.grad for p in model.decoder.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_needs_power_of_two_rate(tiny):
    cfg = tiny.tiny_transformer()
    with pytest.raises(ConfigError, match="power-of-two"):
        LatentDecoder(8, 16, tiny.D, "conv_upsample", cfg, "learned", 40, 14, rate=3)
    with pytest.raises(ConfigError, match="time-aligned"):
        LatentDecoder(8, 16, tiny.D, "conv_upsample", cfg, "learned", 40, 2, rate=None)


@ARCHS
def test_save_load_roundtrip(tiny, tmp_path, arch):
    model = _model(tiny, arch)
    model.save_pretrained(tmp_path / "m")
    loaded = CMAVAE.from_pretrained(tmp_path / "m")
    assert loaded.config.decoder_arch == arch
    motion, mask = tiny.motion_batch((21, 13, 8))
    torch.testing.assert_close(loaded.reconstruct(motion, mask), model.reconstruct(motion, mask))


def test_cpu_attention_dropout_path_matches_sdpa():
    """The explicit CPU path (training mode, dropout > 0) computes the same attention as SDPA: with a
    vanishing dropout probability it must equal the eval-mode output, masking included."""
    torch.manual_seed(0)
    attn = MultiHeadAttention(16, 4, dropout=1e-12)
    x = torch.randn(3, 7, 16)
    mask = torch.arange(7)[None] < torch.tensor([7, 4, 1])[:, None]
    reference = attn.eval()(x, key_mask=mask)
    explicit = attn.train()(x, key_mask=mask)
    torch.testing.assert_close(explicit, reference, atol=1e-5, rtol=1e-5)
    # real dropout: outputs differ from eval mode but stay finite; masked keys still have no influence
    attn.dropout = 0.5
    y = attn(x, key_mask=mask)
    assert torch.isfinite(y).all() and not torch.allclose(y, reference)
    x2 = x.clone()
    x2[1, 4:] = 50.0
    torch.manual_seed(1)
    a = attn(x, key_mask=mask)
    torch.manual_seed(1)
    b = attn(x2, key_mask=mask)
    torch.testing.assert_close(a[1, :4], b[1, :4])
