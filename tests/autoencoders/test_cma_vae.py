"""CMA-VAE: temporal latents, masks, losses, Dual-Posterior KL Alignment, frozen features, save/load."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from unimotion.errors import CheckpointError, ConfigError, InputError, MotionError
from unimotion.models.autoencoders import CMAVAE
from unimotion.models.modeling_utils import PretrainedModel, load_pretrained
from unimotion.motion.stats import NormStats


def make(tiny, **kw) -> CMAVAE:
    model = CMAVAE(tiny.cma_config(**kw))
    model.attach_feature_network(tiny.FeatureNet())
    return model


def normal_kl(mean_p, logvar_p, mean_q, logvar_q):
    return kl_divergence(Normal(mean_p, (0.5 * logvar_p).exp()), Normal(mean_q, (0.5 * logvar_q).exp()))


# ---------------------------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("downsample", ["conv", "avgpool"])
@pytest.mark.parametrize("T", [1, 4, 5, 21, 40])
def test_latent_length_is_ceil_T_over_4(tiny, downsample, T):
    model = make(tiny, downsample=downsample).eval()
    motion = torch.randn(2, T, tiny.D)
    mask = torch.ones(2, T, dtype=torch.bool)
    mask[1, max(1, T - 3):] = False
    lat = model.encode(motion, mask)
    assert lat.z.shape == (2, math.ceil(T / 4), 8) and model.latent_length(T) == math.ceil(T / 4)
    expected_valid = [math.ceil(T / 4), math.ceil(int(mask[1].sum()) / 4)]
    assert lat.mask_z.sum(1).tolist() == expected_valid
    assert model.decode(lat.z, lat.mask_z, mask).shape == (2, T, tiny.D)
    assert model.decode(lat.z, lat.mask_z).shape == (2, 4 * math.ceil(T / 4), tiny.D)


def test_downsample_rate_two_and_one(tiny):
    for rate in (1, 2):
        model = make(tiny, downsample_rate=rate).eval()
        lat = model.encode(torch.randn(1, 9, tiny.D))
        assert lat.z.shape[1] == math.ceil(9 / rate)
    with pytest.raises(ConfigError, match="power-of-two"):
        make(tiny, downsample_rate=3)
    assert make(tiny, downsample_rate=3, downsample="avgpool").eval().encode(torch.randn(1, 9, tiny.D)).z.shape[1] == 3


# ---------------------------------------------------------------------------------------------- masking
@pytest.mark.parametrize("arch", ["cross_attention", "concat", "upsample"])
@pytest.mark.parametrize("downsample", ["conv", "avgpool"])
def test_results_do_not_depend_on_batch_padding(tiny, arch, downsample):
    model = make(tiny, decoder_arch=arch, downsample=downsample).eval()
    motion, mask = tiny.motion_batch(lengths=(30, 11))
    alone = motion[1:, :11]
    lat_b = model.encode(motion, mask)
    lat_a = model.encode(alone)
    n = lat_a.z.shape[1]
    torch.testing.assert_close(lat_b.mean[1, :n], lat_a.mean[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(lat_b.logvar[1, :n], lat_a.logvar[0], atol=1e-5, rtol=1e-4)
    assert (lat_b.mean[1, n:] == 0).all()
    rec_b = model.decode(lat_b.z, lat_b.mask_z, mask)
    rec_a = model.decode(lat_a.z, lat_a.mask_z, torch.ones(1, 11, dtype=torch.bool))
    torch.testing.assert_close(rec_b[1, :11], rec_a[0], atol=1e-5, rtol=1e-4)
    assert (rec_b[1, 11:] == 0).all()


def test_reconstruction_loss_is_masked_smooth_l1(tiny):
    model = make(tiny, vision_branch=False).eval()
    motion, mask = tiny.motion_batch()
    out = model(motion, mask)
    expected = F.smooth_l1_loss(out.recon[mask], motion[mask])
    torch.testing.assert_close(out.losses["recon"], expected)
    motion2 = motion.clone()
    motion2[~mask] = 1e3  # padding content must not matter
    torch.testing.assert_close(model(motion2, mask).loss, out.loss)


def test_velocity_losses(tiny):
    motion, mask = tiny.motion_batch()
    model = make(tiny, vision_branch=False, lambda_vel=2.0, vel_mode="diff").eval()
    out = model(motion, mask)
    pred_d, gt_d = out.recon[:, 1:] - out.recon[:, :-1], motion[:, 1:] - motion[:, :-1]
    pair = mask[:, 1:] & mask[:, :-1]
    torch.testing.assert_close(out.losses["vel"], F.smooth_l1_loss(pred_d[pair], gt_d[pair]))
    model_c = make(tiny, vision_branch=False, lambda_vel=2.0, vel_mode="channels", vel_channels=(2, 7)).eval()
    out_c = model_c(motion, mask)
    torch.testing.assert_close(out_c.losses["vel"], F.smooth_l1_loss(out_c.recon[mask][:, 2:7], motion[mask][:, 2:7]))
    with pytest.raises(ConfigError, match="vel_channels"):
        tiny.cma_config(vel_mode="channels", vel_channels=(5, 99))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_kl_to_standard_normal_matches_torch(tiny, reduction):
    model = make(tiny, vision_branch=False, kl_reduction=reduction).eval()
    motion, mask = tiny.motion_batch()
    out = model(motion, mask)
    lat = out.latent
    kl = kl_divergence(Normal(lat.mean, (0.5 * lat.logvar).exp()), Normal(0.0, 1.0))[lat.mask_z]  # (n_valid, d)
    expected = kl.sum(-1).mean() if reduction == "sum" else kl.mean()
    torch.testing.assert_close(out.losses["kl_motion"], expected)
    torch.testing.assert_close(out.loss, out.losses["recon"] + 1e-2 * expected)


# ---------------------------------------------------------------------------------------------- DPA
def test_alignment_is_reverse_kl_over_image_samples(tiny):
    model = make(tiny).eval()
    motion, mask = tiny.motion_batch(lengths=(21, 13, 8))
    imgs = tiny.image_batch(mask, [True, False, True])
    out = model(motion, mask, **imgs, step=5)
    rows = out.fused_rows
    assert rows.tolist() == [0, 2]
    lm, lf = out.latent_motion, out.latent_fused
    mz = lm.mask_z[rows]
    kl = normal_kl(lm.mean[rows], lm.logvar[rows], lf.mean, lf.logvar)[mz]
    torch.testing.assert_close(out.losses["align"], kl.mean())
    kl_f = kl_divergence(Normal(lf.mean, (0.5 * lf.logvar).exp()), Normal(0.0, 1.0))[mz]
    torch.testing.assert_close(out.losses["kl_fused"], kl_f.mean())
    w = 0.5 * 5 / 10
    assert out.losses["align_weight"].item() == pytest.approx(w)
    expected = out.losses["recon"] + 1e-2 * (out.losses["kl_motion"] + out.losses["kl_fused"]) + w * kl.mean()
    torch.testing.assert_close(out.loss, expected)
    assert out.losses["image_fraction"].item() == pytest.approx(2 / 3)


def test_alignment_gradient_does_not_reach_the_teacher(tiny):
    model = make(tiny).train()
    motion, mask = tiny.motion_batch()
    imgs = tiny.image_batch(mask, [True, True, False])
    out = model(motion, mask, **imgs, step=100)
    out.losses["align"].backward()
    teacher = [model.missing_image, *model.joint_encoder.parameters(), *model.fuse.parameters(),
               *model.fused_encoder.parameters(), *model.fused_head.parameters()]
    assert all(p.grad is None or p.grad.abs().max() == 0 for p in teacher)
    student = [*model.motion_encoder.parameters(), *model.motion_head.parameters()]
    assert sum(float(p.grad.abs().sum()) for p in student if p.grad is not None) > 0
    assert all(p.grad is None for p in model.feature_network.parameters())
    assert all(p.grad is None for p in model.decoder.parameters())  # alignment does not touch the decoder


def test_teacher_still_learns_from_its_own_terms(tiny):
    model = make(tiny).train()
    motion, mask = tiny.motion_batch()
    imgs = tiny.image_batch(mask, [True, True, False])
    model(motion, mask, **imgs, step=100).loss.backward()
    assert float(model.fused_head.weight.grad.abs().sum()) > 0
    assert float(model.joint_encoder.proj_in.weight.grad.abs().sum()) > 0
    assert all(not p.requires_grad and p.grad is None for p in model.feature_network.parameters())


def test_align_warmup_schedule(tiny):
    model = make(tiny, lambda_align=0.2, align_warmup_steps=100)
    assert [model.align_weight(s) for s in (0, 25, 100, 10_000)] == pytest.approx([0.0, 0.05, 0.2, 0.2])
    assert model.align_weight(None) == pytest.approx(0.2)
    assert make(tiny, lambda_align=0.2, align_warmup_steps=0).align_weight(0) == pytest.approx(0.2)


def test_reconstruction_comes_from_z_fused_for_image_samples(tiny):
    model = make(tiny).eval()
    motion, mask = tiny.motion_batch()
    imgs = tiny.image_batch(mask, [False, True, False])
    out = model(motion, mask, **imgs)
    from_fused = model.decode(out.latent_fused.mean, out.latent_fused.mask_z, mask[1:2])
    from_motion = model.decode(out.latent_motion.mean, out.latent_motion.mask_z, mask)
    torch.testing.assert_close(out.recon[1:2], from_fused)
    torch.testing.assert_close(out.recon[[0, 2]], from_motion[[0, 2]])
    assert not torch.allclose(out.recon[1], from_motion[1])
    torch.testing.assert_close(out.latent.z[1], out.latent_fused.z[0])


def test_encode_fused_matches_forward(tiny):
    model = make(tiny).eval()
    motion, mask = tiny.motion_batch()
    imgs = tiny.image_batch(mask, [True, True, True])
    out = model(motion, mask, **imgs)
    lat = model.encode_fused(motion, mask, imgs["images"], imgs["image_frame_index"], imgs["joints_2d"])
    torch.testing.assert_close(lat.mean, out.latent_fused.mean)


def test_samples_without_images_skip_alignment(tiny):
    model = make(tiny).eval()
    motion, mask = tiny.motion_batch()
    out = model(motion, mask)
    assert out.losses["align"].item() == 0 and out.losses["kl_fused"].item() == 0 and out.fused_rows is None
    imgs = tiny.image_batch(mask, [False, False, False])
    out2 = model(motion, mask, **imgs)
    torch.testing.assert_close(out2.loss, out.loss)
    # images of samples with has_image=False are ignored
    imgs = tiny.image_batch(mask, [True, False, False])
    a = model(motion, mask, **imgs).loss
    imgs["images"][1:] = torch.rand_like(imgs["images"][1:])
    imgs["joints_2d"][1:] += 3.0
    torch.testing.assert_close(model(motion, mask, **imgs).loss, a)


def test_batch_without_images_still_touches_every_parameter(tiny):
    """DDP without find_unused_parameters needs a gradient (here zero) for every trainable parameter."""
    model = make(tiny).train()
    motion, mask = tiny.motion_batch()
    model(motion, mask).loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
    assert float(model.fused_head.weight.grad.abs().sum()) == 0


@pytest.mark.parametrize("pooling,placement", [("attention", "scatter"), ("mean", "nearest")])
def test_vision_options_run_and_train(tiny, pooling, placement):
    model = make(tiny, joint_pooling=pooling, image_to_latent=placement).train()
    motion, mask = tiny.motion_batch()
    imgs = tiny.image_batch(mask, [True, False, True])
    out = model(motion, mask, **imgs, step=3)
    out.loss.backward()
    assert torch.isfinite(out.loss) and float(model.joint_encoder.proj_in.weight.grad.abs().sum()) > 0


def test_images_change_the_fused_posterior(tiny):
    model = make(tiny).eval()
    motion, mask = tiny.motion_batch()
    imgs = tiny.image_batch(mask, [True, True, True])
    a = model(motion, mask, **imgs).latent_fused.mean
    imgs["joints_2d"] = torch.flip(imgs["joints_2d"], dims=[-1])
    b = model(motion, mask, **imgs).latent_fused.mean
    assert not torch.allclose(a, b)


def test_recon_motion_for_image_samples_option(tiny):
    model = make(tiny, recon_motion_for_image_samples=True).eval()
    motion, mask = tiny.motion_batch()
    imgs = tiny.image_batch(mask, [True, False, True])
    out = model(motion, mask, **imgs)
    rec_m = model.decode(out.latent_motion.mean[[0, 2]], out.latent_motion.mask_z[[0, 2]], mask[[0, 2]])
    expected = F.smooth_l1_loss(rec_m[mask[[0, 2]]], motion[[0, 2]][mask[[0, 2]]])
    torch.testing.assert_close(out.losses["recon_motion"], expected)


# ---------------------------------------------------------------------------------------------- feature net
def test_feature_network_is_frozen_and_not_saved(tiny, tmp_path):
    model = make(tiny)
    net = model.feature_network
    model.train()
    motion, mask = tiny.motion_batch()
    model(motion, mask, **tiny.image_batch(mask, [True, True, True]))
    assert net.seen_training == [False]
    bare = CMAVAE(tiny.cma_config())
    assert set(model.state_dict()) == set(bare.state_dict())
    assert model.num_parameters() == bare.num_parameters()
    model.save_pretrained(tmp_path / "ck")
    loaded = CMAVAE.from_pretrained(tmp_path / "ck")
    with pytest.raises(ConfigError, match="feature network"):
        _ = loaded.feature_network
    with pytest.raises(ConfigError, match="nn.Module"):
        loaded.attach_feature_network(lambda x: x)  # type: ignore[arg-type]


def test_feature_network_channel_mismatch(tiny):
    model = CMAVAE(tiny.cma_config())
    model.attach_feature_network(tiny.FeatureNet(channels=tiny.C + 1))
    motion, mask = tiny.motion_batch()
    with pytest.raises(ConfigError, match="feature_dim"):
        model(motion, mask, **tiny.image_batch(mask, [True, True, True]))


@dataclass
class _NetConfig:
    channels: int = 5


class _FeatureCheckpoint(PretrainedModel):
    """A saved feature network that CMAVAE can load from feature_network_path."""

    config_class = _NetConfig
    model_type = "test_cma_feature_net"

    def __init__(self, config: _NetConfig):
        super().__init__(config)
        self.conv = torch.nn.Conv2d(3, config.channels, 3, stride=2, padding=1)

    def forward(self, images):
        return self.conv(images)


def test_feature_network_loaded_lazily_from_path(tiny, tmp_path):
    _FeatureCheckpoint(_NetConfig()).save_pretrained(tmp_path / "net")
    model = CMAVAE(tiny.cma_config(feature_network_path=str(tmp_path / "net"))).eval()
    net = model.feature_network
    assert isinstance(net, _FeatureCheckpoint) and not net.training
    motion, mask = tiny.motion_batch()
    out = model(motion, mask, **tiny.image_batch(mask, [True, True, True]))
    assert torch.isfinite(out.loss)


# ---------------------------------------------------------------------------------------------- validation
def test_input_validation(tiny):
    model = make(tiny).eval()
    motion, mask = tiny.motion_batch()
    with pytest.raises(MotionError, match="channels"):
        model.encode(torch.randn(1, 5, tiny.D + 1))
    with pytest.raises(MotionError, match=r"\(B, T, D\)"):
        model.encode(torch.randn(5, tiny.D))
    bad = motion.clone()
    bad[0, 3, 1] = float("nan")
    with pytest.raises(MotionError, match="NaN"):
        model.encode(bad, mask)
    bad_pad = motion.clone()
    bad_pad[2, 20] = float("inf")  # padded frame of sample 2: ignored
    model.encode(bad_pad, mask)
    with pytest.raises(MotionError, match="max_frames"):
        model.encode(torch.randn(1, 41, tiny.D))
    with pytest.raises(InputError, match="bool"):
        model.encode(motion, mask.float())
    with pytest.raises(InputError, match="no valid frame"):
        model.encode(motion, torch.zeros_like(mask))
    with pytest.raises(InputError, match="shape"):
        model.encode(motion, mask[:, :5])


def test_image_input_validation(tiny):
    model = make(tiny).eval()
    motion, mask = tiny.motion_batch(lengths=(21, 13, 8))

    def check(match, **change):
        imgs = tiny.image_batch(mask, [True, True, True])
        imgs.update(change)
        with pytest.raises(InputError, match=match):
            model(motion, mask, **imgs)

    check("has_image is True", images=None)
    check(r"\[0, 1\]", images=torch.rand(3, 2, 3, 16, 16) * 2)
    check("shape", images=torch.rand(3, 2, 16, 16))
    check("padded", image_frame_index=torch.tensor([[0, 1], [2, 3], [15, 0]]))
    check("out of range", image_frame_index=torch.tensor([[0, 1], [2, 3], [-1, 0]]))
    check("integer", image_frame_index=torch.zeros(3, 2))
    check("joints_2d", joints_2d=torch.rand(3, 2, tiny.J + 1, 2))
    check("NaN", joints_2d=torch.full((3, 2, tiny.J, 2), float("nan")))
    check("has_image", has_image=torch.ones(3))
    check("no valid image slot", image_mask=torch.tensor([[True, True], [False, False], [True, False]]))
    # image_mask alone decides which samples have images when has_image is omitted
    imgs = tiny.image_batch(mask, [True, True, True])
    imgs.pop("has_image")
    out = model(motion, mask, **imgs, image_mask=torch.tensor([[True, False], [False, False], [False, True]]))
    assert out.fused_rows.tolist() == [0, 2]


def test_decode_validation(tiny):
    model = make(tiny).eval()
    z = torch.randn(2, 3, 8)
    with pytest.raises(InputError, match="latent_dim"):
        model.decode(torch.randn(2, 3, 9))
    with pytest.raises(InputError, match="at most 12"):
        model.decode(z, lengths=[13, 5])
    with pytest.raises(InputError, match="lengths"):
        model.decode(z, lengths=[3])
    out = model.decode(z, lengths=[12, 5])
    assert out.shape == (2, 12, tiny.D) and (out[1, 5:] == 0).all()


def test_config_validation(tiny):
    with pytest.raises(ConfigError, match="latent_dim"):
        tiny.cma_config(latent_dim=0)
    with pytest.raises(ConfigError, match="logvar_min"):
        tiny.cma_config(logvar_min=5.0, logvar_max=1.0)
    with pytest.raises(ConfigError, match="lambda"):
        tiny.cma_config(lambda_align=-1.0)


# ---------------------------------------------------------------------------------------------- sampling
def test_sampling_uses_the_generator(tiny):
    model = make(tiny, vision_branch=False).eval()
    motion, mask = tiny.motion_batch()
    a = model.encode(motion, mask, sample=True, generator=torch.Generator().manual_seed(7))
    b = model.encode(motion, mask, sample=True, generator=torch.Generator().manual_seed(7))
    c = model.encode(motion, mask, sample=False)
    torch.testing.assert_close(a.z, b.z)
    assert not torch.allclose(a.z, c.z) and (a.z[~a.mask_z] == 0).all()
    torch.testing.assert_close(c.z, c.mean)


# ---------------------------------------------------------------------------------------------- save / load
def test_save_load_roundtrip(tiny, tmp_path):
    model = make(tiny, decoder_arch="concat", positional="sinusoidal").eval()
    model.stats = NormStats(np.arange(tiny.D, dtype=np.float32), np.ones(tiny.D, dtype=np.float32) * 2)
    model.notice = "trained on nothing"
    motion, mask = tiny.motion_batch()
    imgs = tiny.image_batch(mask, [True, False, True])
    before = model(motion, mask, **imgs)
    path = model.save_pretrained(tmp_path / "cma")
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["_model_type"] == "cma_vae" and cfg["encoder"]["num_layers"] == 3
    loaded = load_pretrained(path)
    assert isinstance(loaded, CMAVAE) and loaded.config == model.config
    np.testing.assert_array_equal(loaded.stats.mean, model.stats.mean)
    assert loaded.notice == "trained on nothing"
    loaded.attach_feature_network(model.feature_network)
    after = loaded(motion, mask, **imgs)
    torch.testing.assert_close(after.recon, before.recon)
    torch.testing.assert_close(after.loss, before.loss)


def test_strip_vision_branch_for_export(tiny, tmp_path):
    model = make(tiny).eval()
    motion, mask = tiny.motion_batch()
    ref = model.reconstruct(motion, mask)
    n_before = model.num_parameters()
    model.strip_vision_branch()
    assert model.num_parameters() < n_before and not model.config.vision_branch
    loaded = CMAVAE.from_pretrained(model.save_pretrained(tmp_path / "slim"))
    torch.testing.assert_close(loaded.reconstruct(motion, mask), ref)
    with pytest.raises(CheckpointError):
        full = CMAVAE(tiny.cma_config())
        full.save_pretrained(tmp_path / "full")
        raw = json.loads((tmp_path / "full" / "config.json").read_text())
        raw["vision_branch"] = False  # weights hold the fused encoder: mismatch must be reported
        (tmp_path / "full" / "config.json").write_text(json.dumps(raw))
        CMAVAE.from_pretrained(tmp_path / "full")


def test_default_config_builds_with_spec_defaults():
    model = CMAVAE(CMAVAE.config_class())
    c = model.config
    assert (c.input_dim, c.latent_dim, c.downsample_rate, c.align_warmup_steps) == (269, 256, 4, 10_000)
    assert c.encoder.num_layers == 9 and c.encoder.num_heads == 4 and c.encoder.ff_dim == 1024
    assert model.latent_length(196) == 49


def test_yaml_config_with_overrides(tmp_path):
    from unimotion.config import load_config

    path = tmp_path / "cma.yaml"
    path.write_text("latent_dim: 32\nencoder:\n  num_layers: 5\nvel_channels: [4, 67]\n")
    cfg = load_config(CMAVAE.config_class, path, ["decoder.num_heads=8", "lambda_align=1e-2"])
    assert cfg.latent_dim == 32 and cfg.encoder.num_layers == 5 and cfg.decoder.num_heads == 8
    assert cfg.vel_channels == (4, 67) and cfg.lambda_align == pytest.approx(1e-2)
    with pytest.raises(ConfigError, match="odd"):
        load_config(CMAVAE.config_class, path, ["fused_encoder.num_layers=4"])
