"""UniMo video tokenizer: causality (first frame alone), compression, FSQ round trips, losses, save/load."""

from __future__ import annotations

import math

import pytest
import torch

from unimotion.errors import ConfigError, InputError
from unimotion.models.modeling_utils import load_pretrained
from unimotion.models.unimo.video_tokenizer import (
    CausalConv3d,
    VideoTokenizer,
    VideoTokenizerConfig,
    VideoTokenizerInterface,
    psnr,
    to_model_range,
    to_uint8,
)


def tiny(**kw) -> VideoTokenizerConfig:
    base = dict(base_channels=8, channel_mult=[1, 1], spatial_compression=4, temporal_compression=2,
                fsq_levels=[5, 3, 3], norm_groups=4, patch_size=1)
    base.update(kw)
    return VideoTokenizerConfig(**base)


def clip(b: int = 2, t: int = 9, hw: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, t, 3, hw, hw, generator=g) * 2 - 1


@pytest.mark.parametrize("cs, ct, patch, t, hw",
                         [(4, 2, 1, 9, 16), (4, 4, 1, 9, 16), (8, 4, 2, 17, 32), (2, 1, 1, 3, 8), (4, 1, 4, 5, 8)])
def test_compression_and_grid(cs, ct, patch, t, hw):
    n = int(math.log2(cs // patch))
    m = VideoTokenizer(tiny(spatial_compression=cs, temporal_compression=ct, channel_mult=[1] * n,
                            patch_size=patch)).eval()
    x = clip(t=t, hw=hw)
    codes = m.encode(x)
    assert codes.shape == (2, 1 + (t - 1) // ct, hw // cs, hw // cs) == (2, *m.latent_shape(t, hw, hw))
    assert codes.dtype == torch.long and int(codes.min()) >= 0 and int(codes.max()) < m.num_codes == 45
    assert m.decode(codes).shape == x.shape


def test_encoder_is_causal_and_first_frame_is_encoded_alone():
    m = VideoTokenizer(tiny(temporal_compression=4)).eval()
    x = clip(t=9)
    codes = m.encode(x)
    latent = m._latent(x)
    # an image (1-frame clip) gives the first latent frame of the clip
    assert torch.equal(m.encode(x[:, :1])[:, 0], codes[:, 0])
    torch.testing.assert_close(m._latent(x[:, :1])[:, 0], latent[:, 0])
    # latent frame k depends only on raw frames <= k·c_t
    for k in range(3):
        y = x.clone()
        y[:, k * 4 + 1 :] = torch.rand_like(y[:, k * 4 + 1 :])
        changed = m._latent(y)
        torch.testing.assert_close(changed[:, : k + 1], latent[:, : k + 1])
        if k < 2:
            assert (changed[:, k + 1 :] - latent[:, k + 1 :]).abs().max() > 1e-4


def test_decoder_is_causal():
    m = VideoTokenizer(tiny(temporal_compression=2)).eval()
    codes = m.encode(clip(t=9))
    video = m.decode(codes)
    other = codes.clone()
    other[:, 3:] = (other[:, 3:] + 7) % m.num_codes  # change latent frames 3, 4
    changed = m.decode(other)
    torch.testing.assert_close(changed[:, :5], video[:, :5])  # frames 0..4 come from latents 0..2
    assert (changed[:, 5:] - video[:, 5:]).abs().max() > 1e-4


def test_space_to_depth_round_trip_and_patched_causality():
    from unimotion.models.unimo.video_tokenizer import DepthToSpace, SpaceToDepth

    x = torch.randn(2, 3, 5, 8, 8)
    y = SpaceToDepth(2)(x)
    assert y.shape == (2, 12, 5, 4, 4)
    torch.testing.assert_close(DepthToSpace(2)(y), x)
    torch.testing.assert_close(y[:, :, 3], torch.nn.functional.pixel_unshuffle(x[:, :, 3], 2))
    m = VideoTokenizer(tiny(patch_size=2, channel_mult=[1], temporal_compression=2)).eval()
    clip_ = clip(t=5)
    assert torch.equal(m.encode(clip_[:, :1])[:, 0], m.encode(clip_)[:, 0])


def test_causal_conv_pads_left_by_replicating_the_first_frame():
    conv = CausalConv3d(1, 1, (3, 1, 1))
    x = torch.tensor([5.0, 1.0, 2.0, 3.0]).view(1, 1, 4, 1, 1)
    with torch.no_grad():
        conv.conv.weight.copy_(torch.tensor([1.0, 10.0, 100.0]).view(1, 1, 3, 1, 1))
        conv.conv.bias.zero_()
    y = conv(x).flatten().tolist()
    # output t = x[t-2] + 10 x[t-1] + 100 x[t], with x[-1] = x[-2] = x[0] = 5
    assert y == [555.0, 5 + 50 + 100.0, 5 + 10 + 200.0, 1 + 20 + 300.0]


def test_round_trip_matches_forward_and_indices_match_fsq():
    m = VideoTokenizer(tiny()).eval()
    x = clip()
    out = m(x)
    codes = m.encode(x)
    assert torch.equal(out.indices, codes)
    torch.testing.assert_close(m.decode(codes), out.reconstruction)
    # code ids decode to exactly the FSQ values the decoder saw
    z = m.quantizer(m._latent(x)).quantized
    torch.testing.assert_close(m.quantizer.codes_to_vectors(codes), z)


def test_losses_and_psnr():
    m = VideoTokenizer(tiny(w_grad=0.5))
    x = clip()
    out = m(x)
    torch.testing.assert_close(out.losses["l1"], (out.reconstruction - x).abs().mean())
    torch.testing.assert_close(out.loss, out.losses["l1"] + 0.5 * out.losses["grad"])
    out.loss.backward()
    a = torch.zeros(2, 3, 3, 4, 4)
    b = a + torch.tensor([0.1, 0.2]).view(2, 1, 1, 1, 1)
    torch.testing.assert_close(psnr(b, a), 10 * torch.log10(4 / torch.tensor([0.01, 0.04])))


def test_uint8_conversion():
    u = torch.tensor([0, 255, 128], dtype=torch.uint8)
    v = to_model_range(u)
    torch.testing.assert_close(v, torch.tensor([-1.0, 1.0, 128 / 127.5 - 1]))
    assert torch.equal(to_uint8(v), u)
    m = VideoTokenizer(tiny()).eval()
    x = clip()
    assert torch.equal(m.encode(to_uint8(x)), m.encode(to_model_range(to_uint8(x))))


def test_training_improves_psnr():
    torch.manual_seed(0)
    m = VideoTokenizer(tiny(base_channels=8, fsq_levels=[8, 5, 5]))
    # smooth moving blobs, like rendered figures
    t = torch.arange(9.0)[:, None, None]
    yy, xx = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    blob = torch.exp(-((xx - 4 - t) ** 2 + (yy - 8) ** 2) / 8)  # (9, 16, 16)
    x = (blob[None, :, None].expand(2, 9, 3, 16, 16) * 2 - 1).contiguous()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    first = None
    for step in range(30):
        logs = m.training_step({"video": x}, step)
        opt.zero_grad()
        logs["loss"].backward()
        opt.step()
        first = first if first is not None else float(logs["psnr"])
    assert float(logs["psnr"]) > first + 3


def test_save_load_round_trip(tmp_path):
    m = VideoTokenizer(tiny()).eval()
    m.save_pretrained(tmp_path / "vt")
    loaded = load_pretrained(tmp_path / "vt")
    assert isinstance(loaded, VideoTokenizer) and loaded.config == m.config
    x = clip()
    assert torch.equal(loaded.encode(x), m.encode(x))
    torch.testing.assert_close(loaded.decode(m.encode(x)), m.decode(m.encode(x)))


def test_protocol_and_validation():
    m = VideoTokenizer(tiny())
    assert isinstance(m, VideoTokenizerInterface)
    assert m.temporal_compression == 2 and m.spatial_compression == 4
    with pytest.raises(InputError, match="1 \\+ 2·n"):
        m.encode(clip(t=8))
    with pytest.raises(InputError, match="multiples of 4"):
        m.encode(clip(hw=10))
    with pytest.raises(InputError, match="B, T, 3, H, W"):
        m.encode(torch.zeros(2, 9, 16, 16))
    bad = clip()
    bad[0, 0, 0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        m.encode(bad)
    with pytest.raises(InputError, match=r"\[0, 45\)"):
        m.decode(torch.full((1, 2, 4, 4), 45))
    with pytest.raises(ConfigError, match="power of two"):
        VideoTokenizerConfig(spatial_compression=6)
    with pytest.raises(ConfigError, match="channel_mult"):
        VideoTokenizerConfig(spatial_compression=8, patch_size=2, channel_mult=[1, 2, 2])
    with pytest.raises(ConfigError, match="temporal_compression"):
        VideoTokenizerConfig(spatial_compression=8, patch_size=4, temporal_compression=4, channel_mult=[1])
    with pytest.raises(ConfigError, match="patch_size"):
        VideoTokenizerConfig(spatial_compression=4, patch_size=8, channel_mult=[])


# ------------------------------------------------------------------------------ temporal patch, (2+1)D
def test_time_to_depth_groups_frame_zero_alone_and_round_trips():
    from unimotion.models.unimo.video_tokenizer import DepthToTime, TimeToDepth

    x = torch.arange(7.0).view(1, 1, 7, 1, 1).expand(1, 2, 7, 1, 1).contiguous()  # frame index as value
    y = TimeToDepth(2)(x)  # 1 + 2·3 frames → 4 groups, channels (c, j)
    assert y.shape == (1, 4, 4, 1, 1)
    # channel c·2 + j of group g holds frame 2(g − 1) + 1 + j; group 0 holds frame 0 twice
    assert y[0, :, 0].flatten().tolist() == [0.0, 0.0, 0.0, 0.0]
    assert y[0, 0:2, 1].flatten().tolist() == [1.0, 2.0] and y[0, 0:2, 3].flatten().tolist() == [5.0, 6.0]
    torch.testing.assert_close(DepthToTime(2)(y), x)
    assert TimeToDepth(1)(x) is x and DepthToTime(1)(x) is x


@pytest.mark.parametrize("factorized", [False, True])
def test_temporal_patch_keeps_causality_and_the_first_frame_alone(factorized):
    m = VideoTokenizer(tiny(patch_size=4, temporal_patch=2, spatial_compression=8, temporal_compression=4,
                            channel_mult=[1], factorized=factorized)).eval()
    x = clip(t=9, hw=16)
    codes = m.encode(x)
    assert codes.shape == (2, 3, 2, 2) and m.decode(codes).shape == x.shape
    assert torch.equal(m.encode(x[:, :1])[:, 0], codes[:, 0])
    latent = m._latent(x)
    for k in range(2):
        y = x.clone()
        y[:, k * 4 + 1 :] = torch.rand_like(y[:, k * 4 + 1 :])
        changed = m._latent(y)
        torch.testing.assert_close(changed[:, : k + 1], latent[:, : k + 1])
        assert (changed[:, k + 1 :] - latent[:, k + 1 :]).abs().max() > 1e-4
    # the decoder is causal too: frames 0..4 come from latents 0..1 only
    other = codes.clone()
    other[:, 2] = (other[:, 2] + 5) % m.num_codes
    torch.testing.assert_close(m.decode(other)[:, :5], m.decode(codes)[:, :5])


def test_factorized_blocks_use_fewer_weights_and_validation():
    full = VideoTokenizer(tiny(base_channels=16))
    fact = VideoTokenizer(tiny(base_channels=16, factorized=True))
    assert fact.num_parameters() < full.num_parameters()
    with pytest.raises(ConfigError, match="temporal_patch"):
        VideoTokenizerConfig(temporal_patch=8, temporal_compression=4)
    with pytest.raises(ConfigError, match="power of two"):
        VideoTokenizerConfig(temporal_patch=3)
    # temporal_patch counts towards c_t: one ×2 level suffices for c_t = 4 with p_t = 2
    VideoTokenizerConfig(spatial_compression=8, patch_size=4, temporal_compression=4, temporal_patch=2, channel_mult=[1])


def test_foreground_mask_and_loss():
    from unimotion.models.unimo.video_tokenizer import foreground_mask

    video = torch.full((1, 2, 3, 8, 8), -0.5)
    video[0, :, 0, 3, 4] = 0.5  # one red-ish pixel per frame (distance 1.0 from the background)
    video[0, 1, :, 5, 5] = -0.47  # a faint one (distance 0.09: below the threshold)
    mask = foreground_mask(video, 0.15)
    assert mask.shape == (1, 2, 1, 8, 8)
    assert mask.sum() == 2 and mask[0, 0, 0, 3, 4] and mask[0, 1, 0, 3, 4] and not mask[0, 1, 0, 5, 5]
    m = VideoTokenizer(tiny(w_foreground=2.0))
    x = clip()
    out = m(x)
    fg = foreground_mask(x, 0.15).float()
    expected = ((out.reconstruction - x).abs() * fg).sum() / (fg.sum() * 3)
    torch.testing.assert_close(out.losses["foreground"], expected)
    torch.testing.assert_close(out.loss, out.losses["l1"] + 2.0 * expected)


def test_pose_probe_reads_the_codes_and_trains_the_encoder(tmp_path):
    """w_pose > 0: a probe regresses the 2D joints of each latent frame's raw frames from the quantised codes;
    its loss reaches the encoder (straight-through), and a probe-less tokenizer has no such parameters."""
    assert VideoTokenizer(tiny()).pose_probe is None
    torch.manual_seed(0)
    m = VideoTokenizer(tiny(w_pose=1.0, pose_joints=3, pose_hidden=16, image_size=(16, 16)))
    # latent frame 0 covers frame 0 alone, frame k ≥ 1 the c_t = 2 frames 2k − 1, 2k
    assert m.pose_frame_index(3).tolist() == [[0, 0], [1, 2], [3, 4]]
    video = clip(2, 5, 16)
    joints = torch.rand(2, 5, 3, 2) * 16
    out = m(video, joints)
    assert {"pose", "pose_px"} <= set(out.losses)
    without = m(video)  # no joints: reconstruction losses only
    assert "pose" not in without.losses
    assert torch.allclose(out.loss - without.loss, out.losses["pose"])
    out.losses["pose"].backward()  # the probe loss alone reaches the encoder's first convolution
    assert m.pose_probe[0].weight.grad.abs().sum() > 0
    first_conv = next(p for n, p in m.encoder.named_parameters() if n.endswith("weight"))
    assert first_conv.grad is not None and first_conv.grad.abs().sum() > 0
    # the probe learns: a few steps on a fixed batch lower its error
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    first = None
    for _ in range(30):
        opt.zero_grad()
        o = m(video, joints)
        o.losses["pose"].backward()
        opt.step()
        first = float(o.losses["pose"].detach()) if first is None else first
    assert float(o.losses["pose"].detach()) < 0.7 * first
    with pytest.raises(InputError, match="joints_2d"):
        m(video, joints[:, :, :2])
    # saved and loaded with its probe
    m.save_pretrained(tmp_path / "vt")
    back = load_pretrained(tmp_path / "vt")
    assert torch.equal(back.pose_probe[0].weight, m.pose_probe[0].weight)
    with pytest.raises(ConfigError, match="w_pose"):
        tiny(w_pose=-1.0)
