"""Channels that never vary in the training data are written exactly (``constant_channels``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unimotion.errors import ConfigError
from unimotion.models.autoencoders import CMAVAE, MLDVAE, VQVAE
from unimotion.models.modeling_utils import load_pretrained

PINNED = (1, 5)


def build(tiny, kind: str, **kw):
    if kind == "cma":
        model = CMAVAE(tiny.cma_config(vision_branch=False, **kw))
    elif kind == "mld":
        model = MLDVAE(tiny.mld_config(**kw))
    else:
        model = VQVAE(tiny.vq_config(**kw))
    return model


@pytest.mark.parametrize("kind", ["cma", "mld", "vq"])
def test_pinned_channels_are_exactly_zero_everywhere(tiny, kind):
    torch.manual_seed(0)
    model = build(tiny, kind, constant_channels=PINNED).eval()
    motion, mask = tiny.motion_batch(lengths=(16, 12, 8), T=16)
    recon = model.reconstruct(motion, mask)
    assert torch.all(recon[..., list(PINNED)] == 0)
    free = [c for c in range(tiny.D) if c not in PINNED]
    assert recon[..., free][mask].abs().sum() > 0  # the other channels are the decoder's
    out = model.train()(motion, mask)
    assert torch.all(out.recon[..., list(PINNED)] == 0)
    out.loss.backward()  # pinning keeps the graph differentiable


@pytest.mark.parametrize("kind", ["cma", "mld", "vq"])
def test_unpinned_model_is_unchanged_and_pinning_only_touches_listed_channels(tiny, kind):
    torch.manual_seed(0)
    plain = build(tiny, kind).eval()
    torch.manual_seed(0)
    pinned = build(tiny, kind, constant_channels=PINNED).eval()
    motion, mask = tiny.motion_batch(lengths=(16, 9), T=16)
    a, b = plain.reconstruct(motion, mask), pinned.reconstruct(motion, mask)
    free = [c for c in range(tiny.D) if c not in PINNED]
    assert torch.equal(a[..., free], b[..., free])
    assert a[..., list(PINNED)].abs().sum() > 0


def test_constant_channels_round_trip_and_validation(tiny, tmp_path):
    model = build(tiny, "cma", constant_channels=[5, 1])
    model.save_pretrained(tmp_path / "m")
    loaded = load_pretrained(tmp_path / "m")
    assert loaded.config.constant_channels == (5, 1)
    with pytest.raises(ConfigError, match="constant_channels"):
        build(tiny, "cma", constant_channels=(tiny.D,))
    with pytest.raises(ConfigError, match="constant_channels"):
        build(tiny, "mld", constant_channels=(-1,))


def test_recipe_finds_the_constant_channels(tmp_path):
    from unimotion.data.humanml3d import HumanML3DReader
    from unimotion.data.synthetic import write_humanml3d
    from unimotion.training.recipes.vae import constant_channels

    root = write_humanml3d(tmp_path / "hml", 6, seed=0)
    reader = HumanML3DReader(root, "train", require_text=False)
    frames = np.concatenate([r.motion for r in reader.records])
    frames[:, 7] = 0.25  # one more channel made constant by hand
    for r in reader.records:
        r.motion[:, 7] = 0.25
    expected = tuple(int(i) for i in range(frames.shape[1]) if np.ptp(frames[:, i]) < 1e-9)
    assert 7 in expected
    assert constant_channels(reader, 1e-6) == expected
