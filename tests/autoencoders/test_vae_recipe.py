"""``unimotion train vae``: tiny runs on BandaiML (real renders, DPA) and on a synthetic HumanML3D folder, resume,
the collate of image-paired samples, config validation, and the reconstruction metrics used by Table 6."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from torch import nn

from unimotion.cli import main as cli_main
from unimotion.errors import ConfigError
from unimotion.models.autoencoders import CMAVAE, VQVAE
from unimotion.models.modeling_utils import PretrainedModel, load_pretrained
from unimotion.training.recipes import vae as recipe
from unimotion.training.recipes.vae import (
    TrainVAEConfig,
    VAECollate,
    VAEDataConfig,
    model_config,
    reconstruct_motions,
    reconstruction_metrics,
)

REPO = Path(__file__).resolve().parents[2]
TINY_STACK = "{num_layers: 1, num_heads: 2, ff_dim: 16, dropout: 0.0}"


@dataclass
class _FeatNetConfig:
    channels: int = 6


class _TinyFeatureNet(PretrainedModel):
    """A frozen-feature-network stand-in saved as a unimotion checkpoint: (N,3,H,W) → (N, C, H/4, W/4)."""

    config_class = _FeatNetConfig
    model_type = "test_vae_recipe_feature_net"

    def __init__(self, config: _FeatNetConfig):
        super().__init__(config)
        self.conv = nn.Conv2d(3, config.channels, 4, stride=4)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(images))


def tiny_sets(kind: str) -> list[str]:
    """--set overrides that shrink a configs/vae model to a few thousand parameters."""
    if kind == "vq_vae":
        return ["model.width=16", "model.code_dim=8", "model.num_codes=16", "model.depth=1"]
    sets = ["model.width=16", "model.latent_dim=4", f"model.encoder={TINY_STACK}", f"model.decoder={TINY_STACK}"]
    if kind == "cma_vae":
        sets += [f"model.fused_encoder={TINY_STACK}", "model.vision_dim=8", "model.align_warmup_steps=2"]
    return sets


def run_cli(config: str, out: Path, root: Path, *sets: str, steps: int = 3, resume: bool = False) -> int:
    args = ["train", "vae", "--config", str(REPO / "configs" / "vae" / config), *(["--resume"] if resume else []),
            "--set", f"data.root={root}",
            "--set", f"trainer.out_dir={out}", "--set", f"trainer.max_steps={steps}", "--set", "trainer.batch_size=4",
            "--set", "trainer.log_every=1", "--set", "trainer.save_every=2", "--set", "trainer.eval_every=3",
            "--set", "trainer.progress=false", "--set", "val.max_motions=4", "--set", "num_threads=1"]
    for s in sets:
        args += ["--set", s]
    return cli_main(args)


def summary(out: Path) -> dict:
    return json.loads((out / "train_summary.json").read_text())


# ------------------------------------------------------------------------------------------------ real data
@pytest.mark.bandai
def test_cma_vae_three_steps_on_bandaiml_with_images_and_resume(bandaiml_small, tmp_path):
    net_dir = _TinyFeatureNet(_FeatNetConfig()).save_pretrained(tmp_path / "featnet")
    out = tmp_path / "run"
    sets = [*tiny_sets("cma_vae"), f"feature_network={net_dir}", "data.image_fraction=1.0"]
    assert run_cli("cma_vae.yaml", out, bandaiml_small, *sets) == 0

    s = summary(out)
    assert s["steps"] == 3 and s["samples_this_run"] == 12
    assert s["last_logged"]["image_fraction"] > 0  # image-paired samples reached the vision-fused encoder
    assert "align" in s["last_logged"] and "kl_fused" in s["last_logged"]
    assert (out / "tb").is_dir() and (out / "checkpoints" / "step_00000003" / "trainer_state.pt").is_file()

    full = load_pretrained(out / "final")
    assert isinstance(full, CMAVAE) and full.config.vision_branch and full.config.feature_dim == 6
    assert full.config.input_dim == 269 and full.stats.dim == 269
    np.testing.assert_array_equal(full.stats.mean, np.load(bandaiml_small / "new_joint_vecs_269" / "Mean.npy"))
    assert "NON-COMMERCIAL" in (out / "final" / "NOTICE").read_text()

    slim = load_pretrained(out / "inference")
    assert not slim.config.vision_branch and slim.config.feature_network_path is None
    with safe_open(str(out / "inference" / "model.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert keys and not any(k.startswith(("fused_encoder", "joint_encoder", "fuse.", "fused_head")) for k in keys)
    assert "Bandai" in (out / "inference" / "NOTICE").read_text()
    x = torch.from_numpy(full.stats.normalize(np.load(next((bandaiml_small / "new_joint_vecs_269").glob("*_w*.npy")))))
    torch.testing.assert_close(slim.reconstruct(x[None]), full.reconstruct(x[None]))  # same motion path

    # resume: one more step from the step-3 checkpoint, not a new 4-step run
    assert run_cli("cma_vae.yaml", out, bandaiml_small, *sets, steps=4, resume=True) == 0
    s = summary(out)
    assert s["steps"] == 4 and s["samples_this_run"] == 4


@pytest.mark.bandai
def test_cma_vae_without_feature_network_is_rejected(bandaiml_small, tmp_path, capsys):
    assert run_cli("cma_vae.yaml", tmp_path / "r", bandaiml_small, *tiny_sets("cma_vae"), "feature_network=null") == 2
    assert "feature network" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------------------------------------ synthetic
@pytest.fixture(scope="module")
def synthetic_hml3d(tmp_path_factory) -> Path:
    from unimotion.data.synthetic import write_humanml3d

    return write_humanml3d(tmp_path_factory.mktemp("synth") / "hml", 12, seed=0)


@pytest.mark.parametrize("config,kind", [("mld_vae.yaml", "mld_vae"), ("vq_vae.yaml", "vq_vae"),
                                         ("cma_vae_no_dpa.yaml", "cma_vae")])
def test_three_steps_on_synthetic_humanml3d(synthetic_hml3d, tmp_path, config, kind):
    out = tmp_path / kind
    sets = [*tiny_sets(kind), "data.feature_dir=new_joint_vecs"]
    if kind == "cma_vae":
        sets += ["model.vision_branch=false", "feature_network=null"]
    if kind == "vq_vae":
        sets += ["model.vel_channels=[4, 67]"]
    assert run_cli(config, out, synthetic_hml3d, *sets) == 0
    s = summary(out)
    assert s["steps"] == 3 and s["config"]["model_type"] == kind
    model = load_pretrained(out / "final")
    assert model.model_type == kind and model.config.input_dim == 263 and model.stats.dim == 263
    assert not (out / "final" / "NOTICE").exists()  # not BandaiML: no Bandai notice
    assert not (out / "inference").exists()  # nothing to strip
    motion = torch.from_numpy(model.stats.normalize(np.load(next((synthetic_hml3d / "new_joint_vecs").glob("*.npy")))))
    assert model.reconstruct(motion[None]).shape == (1, *motion.shape)


def test_print_config_and_help_do_not_train(tmp_path, capsys):
    assert cli_main(["train", "vae", "--config", str(REPO / "configs" / "vae" / "vq_vae.yaml"), "--print-config"]) == 0
    text = capsys.readouterr().out
    assert "model_type: vq_vae" in text and "max_steps" in text


def test_configs_share_one_budget():
    from unimotion.config import load_config, to_dict

    budgets = []
    for name in ("cma_vae", "cma_vae_no_dpa", "mld_vae", "vq_vae"):
        cfg = load_config(TrainVAEConfig, REPO / "configs" / "vae" / f"{name}.yaml")
        trainer = to_dict(cfg.trainer)
        trainer.pop("out_dir")
        budgets.append((trainer, to_dict(cfg.data)))
        assert cfg.trainer.out_dir.endswith(name)
        model_config(cfg, input_dim=269, feature_dim=48)  # every model section is valid
    assert all(b == budgets[0] for b in budgets)


# ------------------------------------------------------------------------------------------------ validation
def test_model_config_fills_and_checks_data_dims():
    cfg = TrainVAEConfig(model_type="mld_vae", model={"width": 16, "latent_dim": 4})
    mc = model_config(cfg, input_dim=269)
    assert mc.input_dim == 269 and mc.max_frames == 196 and mc.width == 16
    with pytest.raises(ConfigError, match="input_dim is 263"):
        model_config(TrainVAEConfig(model_type="vq_vae", model={"input_dim": 263}), input_dim=269)
    with pytest.raises(ConfigError, match="feature_dim"):
        model_config(TrainVAEConfig(model={"feature_dim": 48}), input_dim=269, feature_dim=32)
    with pytest.raises(ConfigError, match="unknown key"):
        model_config(TrainVAEConfig(model_type="vq_vae", model={"latent_dim": 4}), input_dim=269)
    with pytest.raises(ConfigError, match="image_fraction"):
        VAEDataConfig(image_fraction=1.5)
    with pytest.raises(ConfigError, match="not a checkpoint"):
        recipe.load_feature_network("/nonexistent/featnet")


def test_notice_resolution(tmp_path):
    root = tmp_path / "d"
    root.mkdir()
    cfg = TrainVAEConfig(data=VAEDataConfig(root=str(root)))
    assert recipe.resolve_notice(cfg) is None
    (root / "manifest.json").write_text(json.dumps({"name": "BandaiML"}))
    assert "CC BY-NC" in recipe.resolve_notice(cfg) or "NonCommercial" in recipe.resolve_notice(cfg)
    cfg.notice = "none"
    assert recipe.resolve_notice(cfg) is None
    (tmp_path / "n.txt").write_text("my data")
    cfg.notice = str(tmp_path / "n.txt")
    assert recipe.resolve_notice(cfg) == "my data"
    cfg.notice = str(tmp_path / "missing.txt")
    with pytest.raises(ConfigError, match="notice"):
        recipe.resolve_notice(cfg)


# ------------------------------------------------------------------------------------------------ collate
def _item(t: int, has: list[bool], frames: list[int], size: int = 8) -> dict:
    v = len(has)
    return {"motion": torch.full((t, 3), float(t)), "name": f"m{t}", "images": torch.rand(v, 3, size, size),
            "image_frame": torch.tensor(frames), "joints_2d": torch.rand(v, 22, 2), "has_image": torch.tensor(has)}


def test_collate_builds_cma_batch_fields():
    items = [_item(5, [True, False], [2, -1]), _item(3, [False, False], [-1, -1]), _item(4, [True, True], [0, 3])]
    batch = VAECollate(1.0)(items)
    assert batch["motion"].shape == (3, 5, 3) and batch["mask"].sum(1).tolist() == [5, 3, 4]
    assert batch["has_image"].tolist() == [True, False, True]
    assert batch["image_mask"].tolist() == [[True, False], [False, False], [True, True]]
    assert batch["image_frame_index"].tolist() == [[2, 0], [0, 0], [0, 3]]  # -1 → 0 (masked slot)
    assert batch["images"].shape == (3, 2, 3, 8, 8)
    torch.testing.assert_close(batch["images"][2], items[2]["images"])
    assert batch["images"][1].abs().sum() == 0


def test_collate_image_fraction():
    items = [_item(4, [True], [1]) for _ in range(400)]
    torch.manual_seed(0)
    batch = VAECollate(0.25)(items)
    assert 0.18 < batch["has_image"].float().mean().item() < 0.32
    assert "images" not in VAECollate(0.0)(items)  # no image-paired sample: no image fields at all
    motion_only = VAECollate(1.0)([{"motion": torch.zeros(4, 3)}, {"motion": torch.zeros(2, 3)}])
    assert set(motion_only) == {"motion", "mask", "length", "name"}


def test_collate_rejects_mixed_image_sizes():
    with pytest.raises(ConfigError, match="different sizes"):
        VAECollate(1.0)([_item(4, [True], [1], size=8), _item(4, [True], [1], size=16)])


# ------------------------------------------------------------------------------------------------ metrics
@pytest.fixture(scope="module")
def real_features(synthetic_hml3d) -> list[np.ndarray]:
    return [np.load(p) for p in sorted((synthetic_hml3d / "new_joint_vecs").glob("*.npy"))[:3]]


def test_reconstruction_metrics_zero_for_identity(real_features):
    m = reconstruction_metrics(real_features, [f.copy() for f in real_features])
    for key in ("APE_cm", "APE_root_cm", "APE_pose_cm", "AVE", "MPJPE_mm", "seq_MPJPE_p95_mm"):
        assert m[key] == pytest.approx(0.0, abs=1e-6), key
    assert m["frac_seq_below_40mm"] == 1.0


def test_reconstruction_metrics_one_displaced_joint(real_features):
    """Moving the right knee (joint 5, not used by MLD's canonicalisation) 5 cm in every frame must give
    MPJPE = APE_mean_joints = 5 cm / 22 joints (its root-relative feature x is rotated, length kept)."""
    pred = []
    for f in real_features:
        g = f.copy()
        g[:, 4 + 3 * (5 - 1)] += 0.05
        pred.append(g)
    m = reconstruction_metrics(real_features, pred)
    assert m["MPJPE_mm"] == pytest.approx(50.0 / 22, rel=1e-4)
    assert m["APE_cm"] == pytest.approx(5.0 / 22, rel=1e-4)
    assert m["APE_root_cm"] == pytest.approx(0.0, abs=1e-6)
    assert m["frac_seq_below_40mm"] == 1.0
    assert reconstruction_metrics(real_features, pred, threshold_mm=2.0)["frac_seq_below_2mm"] == 0.0
    with pytest.raises(ConfigError, match="frames"):
        reconstruction_metrics(real_features, [p[:-1] for p in pred])


def test_reconstruct_motions_order_and_batch_independent(tiny):
    torch.manual_seed(0)
    model = VQVAE(tiny.vq_config())
    model.train()
    g = np.random.default_rng(0)
    motions = [g.standard_normal((t, tiny.D)).astype(np.float32) for t in (9, 4, 13, 7)]
    one = reconstruct_motions(model, motions, batch_size=1)
    many = reconstruct_motions(model, motions, batch_size=3)
    assert model.training  # mode restored
    assert [r.shape for r in one] == [m.shape for m in motions]
    for a, b in zip(one, many, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    direct = model.eval().reconstruct(torch.from_numpy(motions[2])[None])[0].numpy()
    np.testing.assert_allclose(one[2], direct, atol=1e-5)
