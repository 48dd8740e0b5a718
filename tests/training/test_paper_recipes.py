"""The HumanML3D recipe files, the paper-size benchmark (tiny stand-in) and the trainer-speed benchmark."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from unimotion.config import from_dict, load_config, to_dict

REPO = Path(__file__).resolve().parents[2]


def _load_benchmark(name: str):
    spec = importlib.util.spec_from_file_location(f"unimotion_{name}_benchmark", REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_humanml3d_recipes_have_the_paper_steps_and_architecture():
    from unimotion.models.unimotion.model import UniMotionConfig, paper_config
    from unimotion.training.recipes.unimotion import TrainUniMotionConfig, stage_trainer_config
    from unimotion.training.recipes.vae import TrainVAEConfig

    vae = load_config(TrainVAEConfig, REPO / "configs" / "vae" / "cma_vae_humanml3d.yaml", [])
    assert vae.trainer.max_steps == 210_000 and vae.data.feature_dir == "new_joint_vecs"
    assert (vae.trainer.precision, vae.trainer.device, vae.trainer.strategy) == ("bf16", "auto", "auto")

    um = load_config(TrainUniMotionConfig, REPO / "configs" / "unimotion" / "humanml3d.yaml", [])
    steps = {name: stage_trainer_config(um, name).max_steps for name in um.stage_order}
    assert steps == {"lra": 80_000, "t2m": 40_000, "multitask": 100_000}
    assert um.stages["lra"].train == ["embedder", "time_embedder", "flow_head", "lora_motion"]
    assert um.stages["multitask"].tasks.get("editing", 0) == 0  # needs MotionFix pairs (docs/training.md)
    assert all(stage_trainer_config(um, n).precision == "bf16" for n in um.stage_order)

    # the YAML model is paper_config() with the local Qwen2.5-1.5B-Instruct folder
    path = um.model["backbone"]["pretrained_path"]
    assert um.tokenizer.path == path
    mine = to_dict(from_dict(UniMotionConfig, {**um.model, "latent_dim": 32}, where="model"))
    paper = to_dict(paper_config(pretrained_path=path, latent_dim=32))
    for key in ("backbone", "embedder", "flow_head", "lora", "flow", "max_sequence_length"):
        assert mine[key] == paper[key], key

    text = (REPO / "docs" / "training.md").read_text()
    for needle in ("torchrun --standalone --nproc_per_node 8", "--rdzv-endpoint", "configs/unimotion/humanml3d.yaml",
                   "GuoT2MEvaluator.from_official", "210,000", "80,000"):
        assert needle in text, needle


@pytest.mark.slow
def test_paper_size_benchmark_writes_results(tmp_path):
    bench = _load_benchmark("paper_size")
    out = tmp_path / "paper_size"
    assert bench.main(["--tiny", "--repeats", "1", "--device", "cpu", "--out", str(out)]) == 0
    data = json.loads(out.with_suffix(".json").read_text())
    meta, rows = data["meta"], data["rows"]
    assert [r["stage"] for r in rows] == ["lra", "t2m", "multitask"]
    lra, t2m = rows[0], rows[1]
    assert lra["paper steps"] == 80_000 and lra["trainable"] < t2m["trainable"]
    assert all(r["updated"] <= r["trainable"] <= r["total"] for r in rows)
    assert t2m["updated"] < t2m["trainable"]  # pretrained embedding rows: trainable tensor, frozen rows
    assert all(r["cpu fwd+bwd s"] > 0 and r["TFLOP per sample"] > 0 and r["cpu peak RSS GB"] > 0 for r in rows)
    assert meta["gpu"]["status"].startswith("not measured")
    assert meta["backbone"]["vocab_rows"] == 151936  # the Qwen2.5 table, even for the tiny stand-in
    proj = meta["fsdp_projection"]
    assert proj["gpus"] == 8 and proj["total_GB"] > proj["sharded_states_GB"] > 0
    wall = {w["stage"]: w for w in meta["wall_time"]}
    assert {k: w["steps"] for k, w in wall.items()} == {"lra": 80_000, "t2m": 40_000, "multitask": 100_000}
    assert all(w["hours"] > 0 and w["source"].startswith("estimate") for w in wall.values())
    assert "not measured: no GPU lent" in out.with_suffix(".md").read_text()


@pytest.mark.slow
def test_trainer_speed_benchmark_writes_results(tmp_path):
    bench = _load_benchmark("trainer_speed")
    out = tmp_path / "speed"
    assert bench.main(["--models", "vae", "--variants", "eager", "bf16", "activation checkpointing",
                       "--steps", "3", "--warmup", "1", "--batch", "2", "--frames", "16", "--out", str(out)]) == 0
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [r["variant"] for r in rows] == ["eager", "bf16"]  # no blocks to checkpoint in the VAE
    assert rows[0]["speed-up vs eager"] == 1.0 and all(r["step s"] > 0 and r["steps timed"] == 2 for r in rows)
