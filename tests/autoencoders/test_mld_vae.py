"""MLD-VAE baseline: global latent tokens, masks, losses, save/load."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from unimotion.errors import ConfigError, InputError
from unimotion.models.autoencoders import MLDVAE
from unimotion.models.modeling_utils import load_pretrained


@pytest.mark.parametrize("arch", ["concat", "cross_attention"])
@pytest.mark.parametrize("k", [1, 3])
def test_shapes_and_backward(tiny, arch, k):
    model = MLDVAE(tiny.mld_config(decoder_arch=arch, num_latent_tokens=k)).train()
    motion, mask = tiny.motion_batch()
    out = model(motion, mask)
    assert out.latent.z.shape == (3, k, 8) and out.latent.mask_z.all() and model.latent_length(100) == k
    assert out.recon.shape == motion.shape and (out.recon[~mask] == 0).all()
    out.loss.backward()
    assert model.dist_tokens.grad is not None and float(model.dist_tokens.grad.abs().sum()) > 0


def test_padding_independence(tiny):
    model = MLDVAE(tiny.mld_config()).eval()
    motion, mask = tiny.motion_batch(lengths=(30, 11))
    lat_b = model.encode(motion, mask)
    lat_a = model.encode(motion[1:, :11])
    torch.testing.assert_close(lat_b.mean[1], lat_a.mean[0], atol=1e-5, rtol=1e-4)
    rec_b = model.decode(lat_b.z, mask=mask)
    rec_a = model.decode(lat_a.z, lengths=[11])
    torch.testing.assert_close(rec_b[1, :11], rec_a[0], atol=1e-5, rtol=1e-4)


def test_losses_match_independent_computation(tiny):
    model = MLDVAE(tiny.mld_config(lambda_vel=0.3)).eval()
    motion, mask = tiny.motion_batch()
    out = model(motion, mask)
    lat = out.latent
    kl = kl_divergence(Normal(lat.mean, (0.5 * lat.logvar).exp()), Normal(0.0, 1.0)).mean()
    rec = F.smooth_l1_loss(out.recon[mask], motion[mask])
    pair = mask[:, 1:] & mask[:, :-1]
    vel = F.smooth_l1_loss((out.recon[:, 1:] - out.recon[:, :-1])[pair], (motion[:, 1:] - motion[:, :-1])[pair])
    torch.testing.assert_close(out.losses["kl"], kl)
    torch.testing.assert_close(out.losses["recon"], rec)
    torch.testing.assert_close(out.loss, rec + 0.3 * vel + 1e-2 * kl)


def test_decode_needs_a_length(tiny):
    model = MLDVAE(tiny.mld_config()).eval()
    z = torch.randn(2, 2, 8)
    with pytest.raises(InputError, match="mask= or lengths="):
        model.decode(z)
    with pytest.raises(InputError, match="shape"):
        model.decode(torch.randn(2, 3, 8), lengths=[4, 4])
    with pytest.raises(InputError, match="max_frames"):
        model.decode(z, lengths=[41, 3])
    torch.testing.assert_close(model.decode(z, lengths=[6, 3]),
                               model.decode(z, mask=torch.arange(6)[None] < torch.tensor([[6], [3]])))


def test_config_rejects_upsample_decoder(tiny):
    with pytest.raises(ConfigError, match="decoder_arch"):
        tiny.mld_config(decoder_arch="upsample")


def test_save_load_roundtrip(tiny, tmp_path):
    model = MLDVAE(tiny.mld_config(positional="sinusoidal")).eval()
    motion, mask = tiny.motion_batch()
    ref = model.reconstruct(motion, mask)
    loaded = load_pretrained(model.save_pretrained(tmp_path / "mld"))
    assert isinstance(loaded, MLDVAE) and loaded.config == model.config
    torch.testing.assert_close(loaded.reconstruct(motion, mask), ref)


def test_default_config_is_mld_sized():
    c = MLDVAE.config_class()
    assert (c.width, c.latent_dim, c.encoder.num_layers, c.encoder.num_heads, c.encoder.ff_dim) == (256, 256, 9, 4, 1024)
    assert c.decoder_arch == "concat" and c.lambda_kl == 1e-4
