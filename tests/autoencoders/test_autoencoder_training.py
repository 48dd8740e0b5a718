"""The shared interface: training_step for the Trainer, swap-ability, and a tiny overfit per model."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import Dataset

from unimotion.models.autoencoders import CMAVAE, MLDVAE, VQVAE, MotionAutoencoder
from unimotion.models.modeling_utils import load_pretrained
from unimotion.training.trainer import OptimConfig, Trainer, TrainerConfig


def build(tiny, kind: str) -> MotionAutoencoder:
    if kind == "cma_vae":
        model = CMAVAE(tiny.cma_config(align_warmup_steps=2))
        model.attach_feature_network(tiny.FeatureNet())
        return model
    if kind == "mld_vae":
        return MLDVAE(tiny.mld_config())
    return VQVAE(tiny.vq_config())


class _Clips(Dataset):
    """Variable-length random clips; every other one has one image of a frame."""

    def __init__(self, tiny, n: int = 8):
        g = torch.Generator().manual_seed(0)
        self.items = []
        for i in range(n):
            t = int(torch.randint(6, 24, (1,), generator=g))
            self.items.append({
                "motion": torch.randn(t, tiny.D, generator=g),
                "image": torch.rand(3, 16, 16, generator=g),
                "frame": int(torch.randint(0, t, (1,), generator=g)),
                "joints": torch.rand(tiny.J, 2, generator=g) * 16,
                "has_image": i % 2 == 0,
            })

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


def collate(items: list[dict]) -> dict:
    t = max(it["motion"].shape[0] for it in items)
    motion = torch.zeros(len(items), t, items[0]["motion"].shape[1])
    mask = torch.zeros(len(items), t, dtype=torch.bool)
    for b, it in enumerate(items):
        motion[b, : len(it["motion"])] = it["motion"]
        mask[b, : len(it["motion"])] = True
    return {
        "motion": motion,
        "mask": mask,
        "images": torch.stack([it["image"] for it in items])[:, None],
        "image_frame_index": torch.tensor([[it["frame"]] for it in items]),
        "joints_2d": torch.stack([it["joints"] for it in items])[:, None],
        "has_image": torch.tensor([it["has_image"] for it in items]),
    }


@pytest.mark.parametrize("kind", ["cma_vae", "mld_vae", "vq_vae"])
def test_training_step_contract(tiny, kind):
    model = build(tiny, kind).train()
    batch = collate([_Clips(tiny)[i] for i in range(4)])
    logs = model.training_step(batch, step=1)
    assert {"loss", "recon", "vel"} <= set(logs)
    assert all(isinstance(v, torch.Tensor) and v.dim() == 0 and torch.isfinite(v) for v in logs.values())
    logs["loss"].backward()
    if kind == "cma_vae":
        assert logs["image_fraction"].item() == pytest.approx(0.5) and logs["align"].item() > 0
    with pytest.raises(Exception, match="motion"):
        model.training_step({"mask": batch["mask"]}, step=0)


@pytest.mark.parametrize("kind", ["cma_vae", "mld_vae", "vq_vae"])
def test_trainer_runs_and_saves(tiny, kind, tmp_path):
    model = build(tiny, kind)
    cfg = TrainerConfig(out_dir=str(tmp_path / kind), max_steps=3, batch_size=4, log_every=1, save_every=0,
                        device="cpu", progress=False, optim=OptimConfig(lr=1e-3, schedule="constant"))
    Trainer(model, cfg, _Clips(tiny), collate_fn=collate).fit()
    loaded = load_pretrained(tmp_path / kind / "final")
    assert type(loaded) is type(model)
    batch = collate([_Clips(tiny)[i] for i in range(3)])
    model.eval()
    torch.testing.assert_close(loaded.reconstruct(batch["motion"], batch["mask"]),
                               model.reconstruct(batch["motion"], batch["mask"]))


@pytest.mark.parametrize("kind", ["cma_vae", "mld_vae", "vq_vae"])
def test_tiny_overfit(tiny, kind):
    """100 Adam steps on one batch must at least halve the reconstruction loss."""
    torch.manual_seed(0)
    model = build(tiny, kind).train()
    batch = collate([_Clips(tiny)[i] for i in range(4)])
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    first = None
    for step in range(100):
        logs = model.training_step(batch, step)
        opt.zero_grad()
        logs["loss"].backward()
        opt.step()
        first = float(logs["recon"].detach()) if first is None else first
    model.eval()
    with torch.no_grad():
        final = float(model(batch["motion"], batch["mask"]).losses["recon"])
    assert final < 0.5 * first, (first, final)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("kind", ["cma_vae", "mld_vae", "vq_vae"])
def test_cuda_bf16_training_step(tiny, kind):
    model = build(tiny, kind).cuda().train()
    batch = {k: v.cuda() for k, v in collate([_Clips(tiny)[i] for i in range(4)]).items()}
    with torch.autocast("cuda", dtype=torch.bfloat16):
        logs = model.training_step(batch, step=1)
    logs["loss"].backward()
    assert torch.isfinite(logs["loss"])
    if kind == "cma_vae":
        assert next(model.feature_network.parameters()).is_cuda  # the frozen net follows the images
