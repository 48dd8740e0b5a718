"""Sampling frozen feature maps at projected joints, joint pooling, placement on the latent axis."""

from __future__ import annotations

import pytest
import torch

from unimotion.models.autoencoders.vision_features import (
    JointFeatureEncoder,
    freeze,
    images_to_latent_steps,
    pixel_to_grid,
    sample_joint_features,
)


def test_pixel_to_grid_conventions():
    uv = torch.tensor([[0.0, 0.0], [64.0, 32.0], [32.0, 16.0]])
    torch.testing.assert_close(pixel_to_grid(uv, (32, 64)), torch.tensor([[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0]]))
    # "center": pixel i's centre at u = i, so the left image edge is u = -0.5
    uv_c = torch.tensor([[-0.5, -0.5], [63.5, 31.5]])
    torch.testing.assert_close(pixel_to_grid(uv_c, (32, 64), "center"), torch.tensor([[-1.0, -1.0], [1.0, 1.0]]))


def test_bilinear_sampling_of_a_linear_map():
    """A map whose value is the cell column (channel 0) / row (channel 1) index: bilinear sampling at image
    point (u, v) returns u·w/W − 0.5 and v·h/H − 0.5 away from the borders (cell j's centre is at
    (j + 0.5)·W/w in image pixels)."""
    H, W, h, w = 32, 48, 8, 12
    cols = torch.arange(w, dtype=torch.float32)[None].expand(h, w)
    rows = torch.arange(h, dtype=torch.float32)[:, None].expand(h, w)
    maps = torch.stack([cols, rows])[None]  # (1, 2, h, w)
    uv = torch.tensor([[[10.3, 7.9], [24.0, 16.0], [40.2, 25.1]]])
    feats, inside = sample_joint_features(maps, uv, (H, W))
    expected = torch.stack([uv[..., 0] * w / W - 0.5, uv[..., 1] * h / H - 0.5], -1)
    torch.testing.assert_close(feats, expected, atol=1e-5, rtol=1e-5)
    assert inside.all()


def test_points_outside_the_image_are_flagged_and_zero():
    maps = torch.ones(1, 3, 4, 4)
    uv = torch.tensor([[[-50.0, 5.0], [5.0, 500.0], [5.0, 5.0]]])
    feats, inside = sample_joint_features(maps, uv, (16, 16))
    assert inside.tolist() == [[False, False, True]]
    assert feats[0, 0].abs().max() == 0 and feats[0, 1].abs().max() == 0
    torch.testing.assert_close(feats[0, 2], torch.ones(3))


@pytest.mark.parametrize("pooling", ["mean", "attention"])
def test_joint_pooling_ignores_joints_outside_the_image(pooling):
    enc = JointFeatureEncoder(3, 8, num_joints=4, pooling=pooling)
    feats = torch.randn(2, 4, 3)
    inside = torch.tensor([[True, True, False, True], [False, False, False, False]])
    out = enc(feats, inside)
    feats2 = feats.clone()
    feats2[0, 2] += 10.0
    feats2[1] += 10.0
    torch.testing.assert_close(enc(feats2, inside), out)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[1], torch.zeros(8))  # nothing visible → zero vector


def test_mean_pooling_is_the_average_of_visible_joint_features():
    enc = JointFeatureEncoder(3, 8, num_joints=3, pooling="mean")
    feats = torch.randn(1, 3, 3)
    inside = torch.tensor([[True, False, True]])
    per_joint = enc.proj_out(torch.nn.functional.gelu(enc.proj_in(feats) + enc.joint_embed))
    torch.testing.assert_close(enc(feats, inside), (per_joint[:, 0] + per_joint[:, 2]) / 2)


def test_scatter_places_images_on_their_latent_step():
    pooled = torch.tensor([[1.0, 0.0], [3.0, 2.0], [5.0, 4.0], [7.0, 7.0]])
    rows = torch.tensor([0, 0, 0, 2])
    steps = torch.tensor([1, 1, 3, 0])
    missing = torch.tensor([-1.0, -1.0])
    out = images_to_latent_steps(pooled, rows, steps, batch_size=3, num_steps=4, missing=missing, mode="scatter")
    expected = missing.expand(3, 4, 2).clone()
    expected[0, 1] = torch.tensor([2.0, 1.0])  # mean of the two images on step 1
    expected[0, 3] = torch.tensor([5.0, 4.0])
    expected[2, 0] = torch.tensor([7.0, 7.0])
    torch.testing.assert_close(out, expected)


def test_nearest_broadcasts_the_temporally_nearest_image():
    g = torch.Generator().manual_seed(0)
    pooled = torch.randn(5, 3, generator=g)
    rows = torch.tensor([0, 0, 1, 0, 1])
    steps = torch.tensor([6, 1, 2, 3, 2])
    missing = torch.zeros(3)
    out = images_to_latent_steps(pooled, rows, steps, 3, 8, missing, mode="nearest")
    for b in range(3):
        for j in range(8):
            cands = [n for n in range(5) if rows[n] == b]
            if not cands:
                torch.testing.assert_close(out[b, j], missing)
                continue
            best = min(cands, key=lambda n: (abs(int(steps[n]) - j), int(steps[n]), n))
            torch.testing.assert_close(out[b, j], pooled[best])


def test_no_images_gives_the_missing_token_and_unknown_mode_fails():
    out = images_to_latent_steps(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long),
                                 torch.zeros(0, dtype=torch.long), 2, 3, torch.tensor([1.0, 2.0]))
    torch.testing.assert_close(out, torch.tensor([1.0, 2.0]).expand(2, 3, 2))
    with pytest.raises(ValueError, match="mode"):
        images_to_latent_steps(torch.zeros(1, 2), torch.zeros(1, dtype=torch.long), torch.zeros(1, dtype=torch.long),
                               1, 1, torch.zeros(2), mode="bogus")  # type: ignore[arg-type]


def test_freeze():
    net = torch.nn.Linear(2, 2)
    assert freeze(net) is net
    assert not net.training and not any(p.requires_grad for p in net.parameters())
