"""The shipped default CMA-VAE (``checkpoints/cma_vae_bandaiml``): files, size, NOTICE, loading through both
``CMAVAE.from_pretrained`` and ``load_pretrained``, and round trips of BandaiML-like 269-dim feature sequences
(synthetic ones always; real BandaiML clips with the ``bandai`` marker)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from unimotion.models.autoencoders import CMAVAE
from unimotion.models.modeling_utils import load_pretrained
from unimotion.notices import BANDAI_NOTICE
from unimotion.training.recipes.vae import reconstruct_motions, reconstruction_metrics

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "checkpoints" / "cma_vae_bandaiml"
MAX_BYTES = 20 * 1024 * 1024


@pytest.fixture(scope="module")
def shipped() -> CMAVAE:
    torch.set_num_threads(1)
    return CMAVAE.from_pretrained(SHIPPED).eval()


def _roundtrip(model: CMAVAE, motions: list[np.ndarray]) -> tuple[dict, dict]:
    """(metrics of the reconstructions, metrics of a constant mean-pose 'reconstruction') on raw features."""
    s = model.stats
    rec = [s.denormalize(r) for r in reconstruct_motions(model, [s.normalize(m).astype(np.float32) for m in motions], 8)]
    for r, m in zip(rec, motions, strict=True):
        assert r.shape == m.shape and np.isfinite(r).all()
    mean = [np.repeat(np.asarray(s.mean, np.float32)[None], len(m), 0) for m in motions]
    return reconstruction_metrics(motions, rec), reconstruction_metrics(motions, mean)


def test_shipped_files_size_and_notice():
    names = {p.name for p in SHIPPED.iterdir()}
    assert {"config.json", "model.safetensors", "Mean.npy", "Std.npy", "NOTICE"} <= names
    size = sum(p.stat().st_size for p in SHIPPED.iterdir() if p.is_file())
    assert size <= MAX_BYTES, f"{size / 2**20:.1f} MiB"
    notice = (SHIPPED / "NOTICE").read_text()
    assert notice.strip() == BANDAI_NOTICE.strip()
    assert "Bandai Namco" in notice and "NON-COMMERCIAL" in notice.upper()
    cfg = json.loads((SHIPPED / "config.json").read_text())
    assert cfg["_model_type"] == "cma_vae"
    assert cfg["vision_branch"] is False and cfg["feature_network_path"] is None
    assert cfg["input_dim"] == 269 and cfg["latent_dim"] == 32 and cfg["downsample_rate"] == 4


def test_shipped_loads_with_both_entry_points(shipped):
    generic = load_pretrained(SHIPPED)
    assert isinstance(generic, CMAVAE)
    assert shipped.config.vision_branch is False
    assert shipped.stats is not None and shipped.stats.dim == 269
    assert shipped.notice and "Bandai" in shipped.notice
    for (name, a), (_, b) in zip(shipped.state_dict().items(), generic.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    # no vision-branch parameters were saved
    assert not any("fused" in n or "vision" in n for n in shipped.state_dict())
    assert 3e6 < shipped.num_parameters() < 5e6


@pytest.mark.parametrize("T", [40, 41, 117, 196])
def test_shipped_latent_shape_and_deterministic_decode(shipped, T):
    g = torch.Generator().manual_seed(T)
    x = torch.randn(2, T, 269, generator=g) * 0.5
    with torch.no_grad():
        z1 = shipped.encode(x, sample=False)
        z2 = shipped.encode(x, sample=False)
    z1 = z1.z if hasattr(z1, "z") else z1
    z2 = z2.z if hasattr(z2, "z") else z2
    assert tuple(z1.shape) == (2, math.ceil(T / 4), 32)
    torch.testing.assert_close(z1, z2)
    with torch.no_grad():
        rec = shipped.reconstruct(x)
    assert rec.shape == x.shape and torch.isfinite(rec).all()


def test_shipped_roundtrip_of_synthetic_269_features(shipped, tmp_path):
    """Synthetic walk/run/wave clips in the 269-dim layout (a skeleton and style unlike BandaiML's, so only a
    loose bound): the reconstruction must be far closer than the constant mean pose."""
    from unimotion.data.synthetic import write_humanml3d

    d = write_humanml3d(tmp_path / "syn", 6, seed=0, with_269=True)
    motions = [np.load(p).astype(np.float32) for p in sorted((d / "new_joint_vecs_269").glob("0*.npy"))]
    assert all(m.shape[1] == 269 for m in motions)
    m, base = _roundtrip(shipped, motions)
    assert m["APE_cm"] < 0.4 * base["APE_cm"]
    assert m["MPJPE_mm"] < 0.85 * base["MPJPE_mm"]
    assert m["MPJPE_mm"] < 120.0


@pytest.mark.bandai
def test_shipped_roundtrip_of_real_bandaiml_clips(shipped, bandaiml_small):
    """Held-out BandaiML clips (test + test_novel of the small build). Measured with the shipped weights:
    MPJPE 27–41 mm on the in-place clips (wave, raise-up), 57–87 mm on walk/run/bow; the global APE of the
    locomotion clips is dominated by root drift (80–117 cm), so the bounds are loose but far below the
    constant mean pose."""
    motions = []
    for split in ("test", "test_novel"):
        for i in (bandaiml_small / f"{split}.txt").read_text().split():
            m = np.load(bandaiml_small / "new_joint_vecs_269" / f"{i}.npy").astype(np.float32)
            if 40 <= len(m) <= 196:
                motions.append(m)
    assert len(motions) >= 3
    m, base = _roundtrip(shipped, motions)
    assert m["MPJPE_mm"] < 90.0, m
    assert m["APE_pose_cm"] < 10.0, m
    assert m["APE_cm"] < 0.6 * base["APE_cm"], (m, base)
    assert m["MPJPE_mm"] < 0.8 * base["MPJPE_mm"], (m, base)
