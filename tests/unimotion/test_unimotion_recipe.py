"""``unimotion train unimotion``: staged training with tiny models (stage chaining, skipping, resuming,
trainable groups, latent cache, export)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from unimotion_helpers import tiny_config, tiny_vae

from unimotion.cli import main as cli_main
from unimotion.config import load_config
from unimotion.errors import ConfigError, DatasetError
from unimotion.models.unimotion.model import UniMotionModel
from unimotion.models.unimotion.routed_lora import RoutedLoRALinear
from unimotion.motion.stats import NormStats
from unimotion.training.recipes import unimotion as R

TINY_MODEL = {
    "backbone": {"overrides": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                               "num_attention_heads": 4, "num_key_value_heads": 2}, "freeze_base": False},
    "embedder": {"semantic_width": 16, "semantic_layers": 1, "semantic_heads": 2},
    "flow_head": {"num_blocks": 1, "num_heads": 2},
    "lora": {"rank": 4, "alpha": 8.0, "dropout": 0.0},
    "templates": {"chat_format": False},
}


def _vae_dir(tmp: Path, data_root: Path) -> Path:
    vae = tiny_vae(max_frames=196)
    vae.stats = NormStats.load(data_root / "new_joint_vecs_269")
    return vae.save_pretrained(tmp / "vae")


def _write_config(tmp: Path, data_root: Path, vae_dir: Path, **extra) -> Path:
    import yaml

    cfg = {
        "vae": str(vae_dir),
        "model": TINY_MODEL,
        "tokenizer": {"vocab_size": 400, "min_frequency": 1},
        "data": {"root": str(data_root), "edit_kinds": ["style", "content"], "prediction_ratios": [0.2, 0.5]},
        "trainer": {"out_dir": str(tmp / "run"), "max_steps": 2, "batch_size": 4, "log_every": 1, "eval_every": 2,
                    "save_every": 1, "device": "cpu", "progress": False},
        "stages": {"lra": {"val_examples": 4}, "t2m": {"val_examples": 4}, "multitask": {"val_examples": 4}},
        "export_dir": str(tmp / "pipeline"),
        "export_dtype": "float16",
        "num_threads": 1,
    }
    for k, v in extra.items():
        cfg[k] = v
    path = tmp / "um.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _lora_b(model: UniMotionModel, branch: int) -> float:
    return max(float(m.lora_B[branch].detach().abs().max()) for m in model.modules() if isinstance(m, RoutedLoRALinear))


@pytest.mark.bandai
def test_three_stages_chain_skip_rerun_and_export(bandaiml_small, tmp_path):
    from unimotion.notices import BANDAI_NOTICE
    from unimotion.pipelines.unimotion import UniMotionPipeline

    cfg = _write_config(tmp_path, bandaiml_small, _vae_dir(tmp_path, bandaiml_small))
    assert cli_main(["-q", "train", "unimotion", "--config", str(cfg)]) == 0
    run = tmp_path / "run"
    for stage in ("lra", "t2m", "multitask"):
        summary = json.loads((run / stage / "train_summary.json").read_text())
        assert summary["steps"] == 2 and (run / stage / "final" / "config.json").is_file()
        assert (run / stage / "tb").is_dir()
    assert (run / "latents.npz").is_file() and (run / "tokenizer").is_dir()
    # Stage 0 trains only the motion LoRA branch: the text branch's B stays exactly zero
    lra = UniMotionModel.from_pretrained(run / "lra" / "final")
    text_b, motion_b = (lra.config.lora.branches.index(b) for b in ("text", "motion"))
    assert _lora_b(lra, text_b) == 0.0 and _lora_b(lra, motion_b) > 0.0
    t2m = UniMotionModel.from_pretrained(run / "t2m" / "final")
    assert _lora_b(t2m, text_b) > 0.0
    # Stage 0 keeps the (random) backbone base weights; Stage 1a trains them (freeze_base: false)
    w = "backbone.model.layers.0.mlp.up_proj.weight"
    sd0, sd1 = lra.state_dict(), t2m.state_dict()
    mt = UniMotionModel.from_pretrained(run / "multitask" / "final")
    assert not torch.equal(sd0[w], sd1[w]) and not torch.equal(sd1[w], mt.state_dict()[w])
    assert lra.notice == BANDAI_NOTICE and lra.stats.dim == lra.config.latent_dim
    # the exported pipeline works and carries the notice
    pipe = UniMotionPipeline.from_pretrained(tmp_path / "pipeline")
    assert (tmp_path / "pipeline" / "NOTICE").read_text() == BANDAI_NOTICE
    assert pipe.config.info["stage_steps"] == {"lra": 2, "t2m": 2, "multitask": 2}
    assert pipe.text_to_motion("a person bows", frames=20, num_steps=2).features.shape == (20, 269)
    # running again skips the finished stages; the export is not replaced without --overwrite
    before = (run / "t2m" / "final" / "model.safetensors").stat().st_mtime_ns
    exported = (tmp_path / "pipeline" / "pipeline.json").stat().st_mtime_ns
    assert cli_main(["-q", "train", "unimotion", "--config", str(cfg)]) == 2
    assert (tmp_path / "pipeline" / "pipeline.json").stat().st_mtime_ns == exported
    assert cli_main(["-q", "train", "unimotion", "--config", str(cfg), "--overwrite"]) == 0
    assert (tmp_path / "pipeline" / "pipeline.json").stat().st_mtime_ns != exported
    assert (run / "t2m" / "final" / "model.safetensors").stat().st_mtime_ns == before
    # --stage reruns one stage (here, continued to 3 steps with --resume)
    assert cli_main(["-q", "train", "unimotion", "--config", str(cfg), "--stage", "t2m", "--resume",
                     "--set", "stages.t2m.trainer.max_steps=3"]) == 0
    assert json.loads((run / "t2m" / "train_summary.json").read_text())["steps"] == 3
    assert (run / "t2m" / "final" / "model.safetensors").stat().st_mtime_ns != before


def test_synthetic_folder_text_tasks(tmp_path):
    """A non-BandaiML folder (ids without labels): t2m + m2t train; editing without pairs is refused."""
    from unimotion.data.synthetic import write_humanml3d

    data = write_humanml3d(tmp_path / "data", 12, seed=1, with_269=True)
    vae_dir = _vae_dir(tmp_path, data)
    cfg = _write_config(tmp_path, data, vae_dir, stage_order=["t2m"], export_dir=None,
                        stages={"t2m": {"init_from": None, "tasks": {"t2m": 1.0, "m2t": 1.0}, "val_examples": 2}})
    assert cli_main(["-q", "train", "unimotion", "--config", str(cfg)]) == 0
    model = UniMotionModel.from_pretrained(tmp_path / "run" / "t2m" / "final")
    assert model.notice is None  # not BandaiML: no notice
    cfg2 = _write_config(tmp_path, data, vae_dir, stage_order=["t2m"], export_dir=None,
                         trainer={"out_dir": str(tmp_path / "run2"), "max_steps": 1, "batch_size": 2,
                                  "device": "cpu", "progress": False},
                         stages={"t2m": {"init_from": None, "tasks": {"editing": 1.0}}})
    with pytest.raises(DatasetError, match="editing"):
        R.run(load_config(R.TrainUniMotionConfig, cfg2), None)


def test_latent_cache_is_reused_and_refreshed(tmp_path):
    from unimotion.data.synthetic import write_humanml3d
    from unimotion.data.unimotion_tasks import LatentTable

    data = write_humanml3d(tmp_path / "data", 6, seed=2, with_269=True)
    vae_dir = _vae_dir(tmp_path, data)
    cfg = load_config(R.TrainUniMotionConfig, _write_config(tmp_path, data, vae_dir))
    vae = R.load_vae(vae_dir)
    recs = R.read_records(cfg, "train")
    t1 = R.prepare_latents(cfg, vae, recs)
    stamp = R.latent_cache_path(cfg).stat().st_mtime_ns
    t2 = R.prepare_latents(cfg, vae, recs)
    assert R.latent_cache_path(cfg).stat().st_mtime_ns == stamp and t2.ids == t1.ids
    cfg.data.prediction_ratios = [0.3]
    t3 = R.prepare_latents(cfg, vae, recs)
    assert "prefix@0.3" in t3.kinds and LatentTable.load(R.latent_cache_path(cfg)).meta["ratios"] == [0.3]


def test_select_trainable_groups(tokenizer):
    model = UniMotionModel(tiny_config(backbone=tiny_config().backbone), tokenizer=tokenizer)
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    hooks = R.select_trainable(model, ["embedder", "flow_head"], flags)
    assert hooks == []
    on = {n for n, p in model.named_parameters() if p.requires_grad}
    assert on and all(n.startswith(("motion_embedder.", "flow_head.")) for n in on)
    assert any(n.startswith("flow_head.") for n in on) and any(n.startswith("motion_embedder.") for n in on)
    R.select_trainable(model, ["all"], flags)
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {n for n, f in flags.items() if f}
    # one LoRA branch: the other branch's gradient is zeroed
    hooks = R.select_trainable(model, ["lora_motion"], flags)
    assert hooks
    lora = [m for m in model.modules() if isinstance(m, RoutedLoRALinear)][0]
    (lora.lora_A.sum() + lora.lora_B.sum()).backward()
    motion = model.config.lora.branches.index("motion")
    text = 1 - motion
    assert float(lora.lora_A.grad[text].abs().max()) == 0.0 and float(lora.lora_A.grad[motion].abs().min()) == 1.0
    for h in hooks:
        h.remove()


def test_config_validation(tmp_path):
    with pytest.raises(ConfigError, match="unknown stages"):
        R.TrainUniMotionConfig(stage_order=["lra", "nope"])
    with pytest.raises(ConfigError, match="group"):
        R.TrainUniMotionConfig(stages={"a": R.StageConfig(train=["everything"], init_from=None)}, stage_order=["a"])
    with pytest.raises(ConfigError, match="previous"):
        R.TrainUniMotionConfig(stages={"a": R.StageConfig()}, stage_order=["a"])
    with pytest.raises(ConfigError, match="repeats"):
        R.TrainUniMotionConfig(stage_order=["lra", "lra"])
    cfg = R.TrainUniMotionConfig(vae=str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="checkpoint"):
        R.run(cfg, None)
    # stage trainer blocks merge over the shared one
    cfg = R.TrainUniMotionConfig()
    cfg.stages["t2m"].trainer = {"max_steps": 7, "optim": {"lr": 1e-5}}
    t = R.stage_trainer_config(cfg, "t2m")
    assert t.max_steps == 7 and t.optim.lr == 1e-5 and t.out_dir.endswith("t2m") and t.batch_size == cfg.trainer.batch_size


def test_shipped_config_loads():
    repo = Path(__file__).resolve().parents[2]
    cfg = load_config(R.TrainUniMotionConfig, repo / "configs" / "unimotion" / "bandaiml.yaml")
    assert cfg.stage_order == ["lra", "t2m", "multitask"]
    assert cfg.stages["lra"].tasks == {"m2m": 1.0} and "lora_motion" in cfg.stages["lra"].train
    assert R.stage_trainer_config(cfg, "lra").optim.weight_decay == 0.0
    assert set(cfg.stages["multitask"].tasks) >= {"t2m", "m2t", "prediction", "editing"}
    assert cfg.model["backbone"]["freeze_base"] is False
    # a model of the shipped architecture builds (random weights, toy tokenizer) and its sizes are as documented
    from unimotion.config import from_dict
    from unimotion.models.unimotion.model import UniMotionConfig

    mcfg = from_dict(UniMotionConfig, {**cfg.model, "latent_dim": 32, "max_latent_len": 49})
    assert mcfg.flow.cond_dropout == pytest.approx(0.1) and mcfg.flow.lambda_flow == pytest.approx(0.8)
    assert np.isclose(mcfg.flow.cfg_scale, 3.0)
