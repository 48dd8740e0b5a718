"""KeypointNet: shapes, soft-argmax geometry, flips, the CMA-VAE feature-network contract, save/load, metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from evaluator_helpers import one_thread

from unimotion.errors import ConfigError, InputError
from unimotion.models.evaluators.keypoints import (
    T2M22_MIRROR,
    KeypointNet,
    KeypointNetConfig,
    gaussian_targets,
    keypoint_metrics,
    soft_argmax,
)
from unimotion.models.modeling_utils import load_pretrained

TINY = dict(stem_channels=8, mid_channels=8, low_channels=8, feature_dim=12, blocks_high=0, blocks_mid=1, blocks_low=1)


@pytest.fixture
def tiny() -> KeypointNet:
    torch.manual_seed(0)
    return KeypointNet(KeypointNetConfig(**TINY)).eval()


@pytest.mark.parametrize("stride", [2, 4])
def test_shapes_and_feature_contract(stride):
    net = KeypointNet(KeypointNetConfig(**TINY, output_stride=stride)).eval()
    x = torch.rand(3, 3, 64, 48)
    feats = net(x)
    assert feats.shape == (3, 12, 64 // stride, 48 // stride)
    kp = net.keypoints(x)
    assert kp.shape == (3, 22, 2)
    # soft-argmax stays inside the image
    assert (kp[..., 0] >= 0).all() and (kp[..., 0] <= 48).all() and (kp[..., 1] <= 64).all()
    assert net.num_parameters() < 1_000_000


def test_default_config_is_small_and_matches_cma_vae_feature_dim():
    from unimotion.models.autoencoders.cma_vae import CMAVAEConfig

    net = KeypointNet(KeypointNetConfig())
    assert net.num_parameters() < 1_000_000
    assert net.config.feature_dim == CMAVAEConfig().feature_dim


def test_uint8_input_equals_float_input(tiny):
    img = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    torch.testing.assert_close(tiny(img), tiny(img.float() / 255.0))


@pytest.mark.parametrize("bad", [torch.rand(2, 1, 32, 32), torch.rand(2, 3, 30, 32), torch.rand(3, 32, 32),
                                 torch.ones(1, 3, 32, 32, dtype=torch.int32)])
def test_bad_images_raise(tiny, bad):
    with pytest.raises(InputError):
        tiny(bad)


def test_soft_argmax_of_a_peaked_map_is_the_cell_centre():
    logits = torch.full((1, 2, 8, 16), -1e4)
    logits[0, 0, 3, 5] = 0.0  # row 3, column 5
    logits[0, 1, 7, 0] = 0.0
    uv = soft_argmax(logits, (32, 64))  # image 32 high, 64 wide: cells are 4 × 4 px
    # cell (i, j) covers [4j, 4j+4) × [4i, 4i+4): centre (4j + 2, 4i + 2)
    torch.testing.assert_close(uv, torch.tensor([[[22.0, 14.0], [2.0, 30.0]]]))


def test_soft_argmax_of_two_equal_peaks_is_their_midpoint():
    logits = torch.full((1, 1, 4, 4), -1e4)
    logits[0, 0, 0, 0] = logits[0, 0, 2, 2] = 0.0
    torch.testing.assert_close(soft_argmax(logits, (16, 16)), torch.tensor([[[6.0, 6.0]]]))


def test_gaussian_targets_peak_at_the_joint_cell_and_sum_to_one():
    joints = torch.tensor([[[10.0, 6.0]]])  # u = 10 → column 2 (cells 4 px), v = 6 → row 1
    t = gaussian_targets(joints, (16, 16), (4, 4), sigma_cells=0.5)
    assert t.shape == (1, 1, 16)
    torch.testing.assert_close(t.sum(-1), torch.ones(1, 1))
    assert int(t[0, 0].argmax()) == 1 * 4 + 2


def test_mirror_is_left_right():
    from unimotion.motion.skeletons import T2M22

    names = T2M22.joint_names
    for i, j in enumerate(T2M22_MIRROR):
        a = names[i].replace("left", "X").replace("right", "left").replace("X", "right")
        assert names[j] == a


def test_flip_augmentation_moves_joints_with_the_image():
    torch.manual_seed(0)
    net = KeypointNet(KeypointNetConfig(**TINY, flip_prob=1.0, channel_shuffle=False))
    img = torch.zeros(1, 3, 16, 16)
    img[0, :, 5, 3] = 1.0  # a dot in pixel column 3, row 5: centre (3.5, 5.5)
    joints = torch.zeros(1, 22, 2)
    joints[0, 1] = torch.tensor([3.5, 5.5])  # left hip at the dot
    out_img, out_j = net.augment(img, joints)
    ys, xs = torch.nonzero(out_img[0, 0], as_tuple=True)
    assert (int(ys), int(xs)) == (5, 12)  # mirrored column: 15 - 3
    # the dot (centre 12.5, 5.5) is now labelled as the *right* hip (index 2)
    torch.testing.assert_close(out_j[0, 2], torch.tensor([12.5, 5.5]))


def test_channel_shuffle_permutes_channels():
    torch.manual_seed(1)
    net = KeypointNet(KeypointNetConfig(**TINY, flip_prob=0.0, channel_shuffle=True))
    img = torch.stack([torch.full((4, 4), v) for v in (0.1, 0.5, 0.9)])[None].repeat(8, 1, 1, 1)
    out, _ = net.augment(img, torch.zeros(8, 22, 2))
    for k in range(8):
        assert sorted(out[k, :, 0, 0].tolist()) == pytest.approx([0.1, 0.5, 0.9])
    assert len({tuple(out[k, :, 0, 0].tolist()) for k in range(8)}) > 1


def test_training_reduces_the_loss_on_a_fixed_batch():
    with one_thread():
        _train_on_a_fixed_batch()


def _train_on_a_fixed_batch():
    torch.manual_seed(0)
    net = KeypointNet(KeypointNetConfig(**TINY, flip_prob=0.0, channel_shuffle=False)).train()
    images = torch.rand(8, 3, 16, 16)
    joints = (torch.rand(1, 22, 2) * 12 + 2).repeat(8, 1, 1)  # the same pose in every image: learnable
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    first = None
    for _ in range(40):
        out = net.training_step({"images": images, "joints_2d": joints}, 0)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        first = first if first is not None else float(out["loss"].detach())
    assert float(out["loss"].detach()) < 0.6 * first


def test_save_load_roundtrip_and_load_pretrained(tiny, tmp_path):
    tiny.notice = "NOTICE TEXT"
    tiny.save_pretrained(tmp_path / "kp")
    cfg = json.loads((tmp_path / "kp" / "config.json").read_text())
    assert cfg["_model_type"] == "keypoint_net"
    loaded = load_pretrained(tmp_path / "kp")
    assert isinstance(loaded, KeypointNet) and loaded.notice == "NOTICE TEXT"
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(loaded(x), tiny(x))
    torch.testing.assert_close(loaded.keypoints(x), tiny.keypoints(x))


def test_predict_numpy_hwc_uint8_matches_tensor(tiny):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    a = tiny.predict(imgs, batch_size=2)
    b = tiny.keypoints(torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 255).detach().numpy()
    np.testing.assert_allclose(a, b, atol=1e-5)
    with pytest.raises(InputError):
        tiny.predict(np.zeros((2, 32, 32), np.uint8))


def test_cma_vae_accepts_the_keypoint_net_as_feature_network(tiny, tmp_path):
    from unimotion.models.autoencoders.cma_vae import CMAVAE, CMAVAEConfig
    from unimotion.models.blocks.skip_transformer import SkipTransformerConfig

    tiny.save_pretrained(tmp_path / "kp")
    st = SkipTransformerConfig(num_layers=1, num_heads=2, ff_dim=16, dropout=0.0)
    cfg = CMAVAEConfig(input_dim=263, max_frames=40, latent_dim=4, width=16, encoder=st, decoder=st, fused_encoder=st,
                       feature_dim=12, vision_dim=16, feature_network_path=str(tmp_path / "kp"))
    vae = CMAVAE(cfg)
    net = vae.feature_network
    assert isinstance(net, KeypointNet) and not any(p.requires_grad for p in net.parameters())
    b, t, v = 2, 16, 2
    out = vae.encode_fused(torch.randn(b, t, 263), torch.ones(b, t, dtype=torch.bool), torch.rand(b, v, 3, 32, 32),
                           torch.tensor([[0, 5], [3, 9]]), torch.rand(b, v, 22, 2) * 32)
    assert torch.isfinite(out.mean).all()


def test_config_validation():
    with pytest.raises(ConfigError):
        KeypointNetConfig(output_stride=3)
    with pytest.raises(ConfigError):
        KeypointNetConfig(mirror=(0,) * 22)
    with pytest.raises(ConfigError):
        KeypointNetConfig(flip_prob=2.0)


def test_keypoint_metrics_by_hand():
    gt = np.zeros((2, 22, 2))
    pred = gt.copy()
    pred[0, :, 0] = 1.0  # every joint 1 px off in image 0
    pred[1, :11, 1] = 3.0  # half the joints 3 px off in image 1
    pred[1, 11:, 1] = 5.0
    m = keypoint_metrics(pred, gt, thresholds=(2, 4), mirror=None)
    assert m["err_px"] == pytest.approx((22 * 1 + 11 * 3 + 11 * 5) / 44)
    assert m["PCK@2"] == pytest.approx(22 / 44)
    assert m["PCK@4"] == pytest.approx(33 / 44)
    # a prediction with left/right swapped is perfect under the tolerant error
    gt2 = np.random.default_rng(0).random((3, 22, 2)) * 10
    swapped = gt2[:, list(T2M22_MIRROR)]
    m2 = keypoint_metrics(swapped, gt2)
    assert m2["err_px"] > 0.5 and m2["err_px_lr_tolerant"] == pytest.approx(0.0)
    with pytest.raises(InputError):
        keypoint_metrics(np.zeros((2, 22, 2)), np.zeros((2, 21, 2)))
