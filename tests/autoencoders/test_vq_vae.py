"""VQ-VAE baseline (T2M-GPT style): conv encoder/decoder, EMA codebook, residual VQ, masks, save/load."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from unimotion.errors import ConfigError, InputError
from unimotion.models.autoencoders import VQVAE
from unimotion.models.blocks.quantizers import ResidualVQ, VectorQuantizerEMA
from unimotion.models.modeling_utils import load_pretrained


@pytest.mark.parametrize("T", [1, 4, 7, 21])
def test_shapes(tiny, T):
    model = VQVAE(tiny.vq_config()).eval()
    motion = torch.randn(2, T, tiny.D)
    lat = model.encode(motion)
    assert lat.z.shape == (2, math.ceil(T / 4), 8) and lat.indices.shape == (2, math.ceil(T / 4))
    assert lat.mean is None and model.latent_length(T) == math.ceil(T / 4)
    assert model.decode(lat.z, lat.mask_z, lengths=[T, T]).shape == (2, T, tiny.D)


def test_t2m_gpt_layout():
    model = VQVAE(VQVAE.config_class())
    c = model.config
    assert (c.width, c.code_dim, c.num_codes, c.down_t, c.ema_decay, c.commitment) == (512, 512, 512, 2, 0.99, 0.02)
    assert isinstance(model.quantizer, VectorQuantizerEMA) and model.quantizer.num_codes == 512
    dilations = [blk.conv1.dilation[0] for blk in model.encoder.res[0].blocks]
    assert dilations == [9, 3, 1]
    assert [d.stride[0] for d in model.encoder.downs] == [2, 2]
    assert model.max_input_frames() is None
    model.encode(torch.randn(1, 300, 269))  # no positional table: long inputs are fine


def test_padding_independence(tiny):
    model = VQVAE(tiny.vq_config()).eval()
    motion, mask = tiny.motion_batch(lengths=(30, 11))
    lat_b = model.encode(motion, mask)
    lat_a = model.encode(motion[1:, :11])
    n = lat_a.z.shape[1]
    assert lat_b.mask_z[1].sum() == n
    assert torch.equal(lat_b.indices[1, :n], lat_a.indices[0])
    rec_b = model.decode(lat_b.z, lat_b.mask_z, mask)
    rec_a = model.decode(lat_a.z, lat_a.mask_z, lengths=[11])
    torch.testing.assert_close(rec_b[1, :11], rec_a[0], atol=1e-5, rtol=1e-4)
    assert (rec_b[1, 11:] == 0).all()


def test_losses_and_decode_indices(tiny):
    model = VQVAE(tiny.vq_config()).eval()
    motion, mask = tiny.motion_batch()
    out = model(motion, mask)
    rec = F.smooth_l1_loss(out.recon[mask], motion[mask])
    vel = F.smooth_l1_loss(out.recon[mask][:, 0:6], motion[mask][:, 0:6])  # vel_channels=(0, 6)
    torch.testing.assert_close(out.losses["recon"], rec)
    torch.testing.assert_close(out.losses["vel"], vel)
    # commitment: β · mean ||z_e − e||² over valid latent steps, with e the chosen codes
    masks, pad = model._mask_pyramid(mask, motion.dtype)
    z_e = model.encoder(F.pad(motion.transpose(1, 2), (0, pad)) * masks[0], masks).transpose(1, 2)
    codes = model.quantizer.codebook[out.latent.indices]
    mz = out.latent.mask_z
    commit = 0.02 * (z_e - codes).pow(2)[mz].mean()
    torch.testing.assert_close(out.losses["commit"], commit)
    torch.testing.assert_close(out.loss, rec + 0.5 * vel + commit)
    torch.testing.assert_close(model.decode_indices(out.latent.indices, mz, mask), out.recon)


def test_ema_codebook_updates_only_in_training(tiny):
    model = VQVAE(tiny.vq_config())
    motion, mask = tiny.motion_batch()
    model.eval()
    before = model.quantizer.codebook.clone()
    model(motion, mask)
    assert torch.equal(model.quantizer.codebook, before)
    model.train()
    out = model(motion, mask)
    assert not torch.equal(model.quantizer.codebook, before) and bool(model.quantizer.initialized)
    out.loss.backward()
    assert float(model.encoder.conv_in.weight.grad.abs().sum()) > 0  # straight-through gradient reaches the encoder


def test_residual_vq(tiny, tmp_path):
    model = VQVAE(tiny.vq_config(num_quantizers=3)).train()
    assert isinstance(model.quantizer, ResidualVQ)
    motion, mask = tiny.motion_batch()
    model(motion, mask).loss.backward()
    model.eval()
    out = model(motion, mask)
    assert out.latent.indices.shape == (3, 6, 3)
    torch.testing.assert_close(model.decode_indices(out.latent.indices, out.latent.mask_z, mask), out.recon)
    with pytest.raises(InputError, match="dimensions"):
        model.decode_indices(out.latent.indices[..., 0])
    loaded = load_pretrained(model.save_pretrained(tmp_path / "rvq"))
    assert torch.equal(loaded.encode(motion, mask).indices, out.latent.indices)


def test_save_load_keeps_the_codebook(tiny, tmp_path):
    model = VQVAE(tiny.vq_config()).train()
    motion, mask = tiny.motion_batch()
    model(motion, mask)  # initialise / update the codebook
    model.eval()
    ref = model(motion, mask)
    loaded = VQVAE.from_pretrained(model.save_pretrained(tmp_path / "vq"))
    torch.testing.assert_close(loaded.quantizer.codebook, model.quantizer.codebook)
    out = loaded(motion, mask)
    assert torch.equal(out.latent.indices, ref.latent.indices)
    torch.testing.assert_close(out.recon, ref.recon)


def test_validation(tiny):
    model = VQVAE(tiny.vq_config()).eval()
    with pytest.raises(InputError, match="code_dim"):
        model.decode(torch.randn(1, 3, 9))
    with pytest.raises(InputError, match="integer"):
        model.decode_indices(torch.zeros(1, 3))
    with pytest.raises(InputError, match=r"\[0, 16\)"):
        model.decode_indices(torch.full((1, 3), 16))
    with pytest.raises(ConfigError, match="ema_decay"):
        tiny.vq_config(ema_decay=1.0)
    with pytest.raises(ConfigError, match="down_t"):
        tiny.vq_config(down_t=-1)
