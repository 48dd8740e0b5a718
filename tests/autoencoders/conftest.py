"""Tiny configurations and batches shared by the autoencoder tests."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from unimotion.models.autoencoders import CMAVAE, MLDVAE, VQVAE, CMAVAEConfig, MLDVAEConfig, VQVAEConfig
from unimotion.models.blocks.skip_transformer import SkipTransformerConfig

D = 12  # motion channels of the tiny models
J = 4  # joints of the tiny vision branch
C = 5  # channels of the tiny feature network


def tiny_transformer(**kw) -> SkipTransformerConfig:
    return SkipTransformerConfig(**{"num_layers": 3, "num_heads": 2, "ff_dim": 32, "dropout": 0.0, **kw})


def cma_config(**kw) -> CMAVAEConfig:
    base = dict(input_dim=D, max_frames=40, latent_dim=8, width=16, encoder=tiny_transformer(),
                decoder=tiny_transformer(), fused_encoder=tiny_transformer(), feature_dim=C, vision_dim=16,
                num_joints=J, align_warmup_steps=10, lambda_kl=1e-2, lambda_align=0.5)
    base.update(kw)
    return CMAVAEConfig(**base)


def mld_config(**kw) -> MLDVAEConfig:
    base = dict(input_dim=D, max_frames=40, latent_dim=8, width=16, encoder=tiny_transformer(),
                decoder=tiny_transformer(), lambda_kl=1e-2)
    base.update(kw)
    return MLDVAEConfig(**base)


def vq_config(**kw) -> VQVAEConfig:
    base = dict(input_dim=D, width=16, code_dim=8, num_codes=16, depth=2, vel_channels=(0, 6))
    base.update(kw)
    return VQVAEConfig(**base)


class TinyFeatureNet(nn.Module):
    """A random conv net standing in for the frozen keypoint network: (N, 3, H, W) → (N, C, H/2, W/2)."""

    def __init__(self, channels: int = C):
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 3, stride=2, padding=1)
        self.seen_training: list[bool] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.seen_training.append(self.training)
        return torch.tanh(self.conv(images))


def motion_batch(lengths=(21, 13, 8), T: int | None = None, seed: int = 0):
    """(motion (B, T, D), mask (B, T)) with prefix masks of the given lengths and noise in padding."""
    g = torch.Generator().manual_seed(seed)
    T = T or max(lengths)
    motion = torch.randn(len(lengths), T, D, generator=g)
    mask = torch.arange(T)[None] < torch.tensor(lengths)[:, None]
    return motion, mask


def image_batch(mask: torch.Tensor, has_image, views: int = 2, size: int = 16, seed: int = 1) -> dict:
    """Images, frame indices (valid frames), joints and has_image for a batch with ``mask``."""
    g = torch.Generator().manual_seed(seed)
    b = mask.shape[0]
    lengths = mask.sum(1)
    frame_index = (torch.rand(b, views, generator=g) * lengths[:, None]).long()
    return {
        "images": torch.rand(b, views, 3, size, size, generator=g),
        "image_frame_index": frame_index,
        "joints_2d": torch.rand(b, views, J, 2, generator=g) * size,
        "has_image": torch.tensor(has_image, dtype=torch.bool),
    }


@pytest.fixture
def tiny():
    return SimpleNamespace(
        D=D, J=J, C=C, tiny_transformer=tiny_transformer, cma_config=cma_config, mld_config=mld_config,
        vq_config=vq_config, FeatureNet=TinyFeatureNet, motion_batch=motion_batch, image_batch=image_batch,
        CMAVAE=CMAVAE, MLDVAE=MLDVAE, VQVAE=VQVAE,
    )


@pytest.fixture(autouse=True)
def _one_thread():
    """The tiny models gain nothing from intra-op threads, and on a shared 2-core machine two spinning
    threads per process slow these tests down by an order of magnitude; restore the setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
