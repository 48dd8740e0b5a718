"""Multi-process training on CPU (gloo), launched with torchrun like a user would.

* 2 processes (DDP, and FSDP2) with batch 4 equal 1 process with batch 8 (and 1 process with 4 × 2
  accumulation steps) within float tolerance, frozen gradient rows included (FSDP2 applies them to shards);
* a sharded FSDP2 checkpoint resumes on 1 process, a 1-process checkpoint resumes sharded on 2, and a
  2-process FSDP2 run resumed on 2 processes equals its uninterrupted run bitwise;
* the VAE and UniMotion recipes run under ``torchrun -m unimotion.cli train`` (DDP and FSDP2).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from dist_worker import FROZEN_ROWS, BlockNet, BlockNetConfig, run
from safetensors.torch import load_file

from unimotion.utils.seed import seed_everything

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def torchrun(nproc: int, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(HERE)]), "OMP_NUM_THREADS": "1",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *args]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    assert result.returncode == 0, f"{' '.join(cmd)}\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
    return result


def _spec(out: Path, **trainer) -> dict:
    base = {"out_dir": str(out), "max_steps": 12, "batch_size": 4, "save_every": 6, "log_every": 4,
            "progress": False, "device": "cpu", "optim": {"lr": 0.01, "schedule": "constant"}}
    return {"trainer": {**base, **trainer}}


def _launch(tmp: Path, name: str, spec: dict, nproc: int) -> None:
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(spec))
    torchrun(nproc, str(HERE / "dist_worker.py"), str(path))


def _weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(str(out / "final" / "model.safetensors"))


def _close(a: dict, b: dict, atol: float = 1e-6) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=atol, msg=k)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("dist")
    out = {name: tmp / name for name in ("one", "accum", "ddp", "fsdp", "fsdp_to_one", "one_to_fsdp", "fsdp_resumed")}
    run(_spec(out["one"], batch_size=8))
    run(_spec(out["accum"], grad_accum=2))
    _launch(tmp, "ddp", _spec(out["ddp"], strategy="ddp"), 2)
    _launch(tmp, "fsdp", _spec(out["fsdp"], strategy="fsdp"), 2)
    # resume the step-6 checkpoints on another number of processes / the same number
    for name, src in (("fsdp_to_one", "fsdp"), ("one_to_fsdp", "one"), ("fsdp_resumed", "fsdp")):
        (out[name] / "checkpoints").mkdir(parents=True)
        shutil.copytree(out[src] / "checkpoints" / "step_00000006", out[name] / "checkpoints" / "step_00000006")
    run({**_spec(out["fsdp_to_one"], batch_size=8), "resume": True})
    _launch(tmp, "one_to_fsdp", {**_spec(out["one_to_fsdp"], strategy="fsdp"), "resume": True}, 2)
    _launch(tmp, "fsdp_resumed", {**_spec(out["fsdp_resumed"], strategy="fsdp"), "resume": True}, 2)
    return out


def test_two_processes_equal_one_process(runs):
    ref = _weights(runs["one"])
    for name in ("accum", "ddp", "fsdp"):
        _close(_weights(runs[name]), ref)
    seed_everything(0)
    init = BlockNet(BlockNetConfig()).table.detach()
    for name in ("one", "ddp", "fsdp"):  # frozen rows: hooks (1 process, DDP) and shard scaling (FSDP2)
        table = _weights(runs[name])["table"]
        assert torch.equal(table[:FROZEN_ROWS], init[:FROZEN_ROWS]), name
        assert not torch.equal(table[FROZEN_ROWS:], init[FROZEN_ROWS:]), name
    ddp = json.loads((runs["ddp"] / "train_summary.json").read_text())
    fsdp = json.loads((runs["fsdp"] / "train_summary.json").read_text())
    assert (ddp["strategy"], ddp["world_size"], fsdp["strategy"]) == ("ddp", 2, "fsdp")
    assert ddp["samples_this_run"] == 12 * 8
    ckpt = runs["fsdp"] / "checkpoints" / "step_00000006"
    assert (ckpt / "dcp" / ".metadata").is_file() and len(list((ckpt / "dcp").glob("*.distcp"))) == 2
    assert (ckpt / "model" / "model.safetensors").is_file()  # full weights gathered on rank 0


def test_checkpoints_resume_on_another_world_size(runs):
    ref = _weights(runs["one"])
    _close(_weights(runs["fsdp_to_one"]), ref)
    _close(_weights(runs["one_to_fsdp"]), ref)
    fsdp, resumed = _weights(runs["fsdp"]), _weights(runs["fsdp_resumed"])
    assert all(torch.equal(fsdp[k], resumed[k]) for k in fsdp)  # same world size: bitwise


# ------------------------------------------------------------------------------------------------ recipes
@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    from unimotion.data.synthetic import write_humanml3d

    return write_humanml3d(tmp_path_factory.mktemp("synth") / "hml", 24, seed=0)


def test_vae_recipe_under_torchrun(synthetic, tmp_path):
    import yaml

    from unimotion.models.modeling_utils import load_pretrained

    stack = {"num_layers": 1, "num_heads": 2, "ff_dim": 16, "dropout": 0.1}
    cfg = {"model_type": "cma_vae", "feature_network": None,
           "model": {"vision_branch": False, "width": 16, "latent_dim": 4, "encoder": stack, "decoder": stack},
           "data": {"root": str(synthetic), "feature_dir": "new_joint_vecs", "images": False, "val_split": "val"},
           "trainer": {"out_dir": str(tmp_path / "run"), "max_steps": 4, "batch_size": 2, "log_every": 2,
                       "eval_every": 2, "save_every": 2, "progress": False, "device": "cpu"},
           "val": {"max_motions": 4}, "num_threads": 1}
    (tmp_path / "vae.yaml").write_text(yaml.safe_dump(cfg))
    torchrun(2, "-m", "unimotion.cli", "train", "vae", "--config", str(tmp_path / "vae.yaml"))
    summary = json.loads((tmp_path / "run" / "train_summary.json").read_text())
    assert (summary["world_size"], summary["strategy"], summary["steps"]) == (2, "ddp", 4)
    assert summary["samples_this_run"] == 4 * 2 * 2
    assert load_pretrained(tmp_path / "run" / "final").config.latent_dim == 4


def _tiny_vae_dir(tmp: Path, data_root: Path) -> Path:
    """A random temporal-latent CMA-VAE (rate 4, no vision branch) with the data's Mean/Std."""
    from unimotion.models.autoencoders import CMAVAE, CMAVAEConfig
    from unimotion.models.blocks.skip_transformer import SkipTransformerConfig
    from unimotion.motion.stats import NormStats

    st = SkipTransformerConfig(num_layers=1, num_heads=2, ff_dim=16, dropout=0.0)
    torch.manual_seed(0)
    vae = CMAVAE(CMAVAEConfig(input_dim=263, max_frames=196, latent_dim=8, width=16, encoder=st, decoder=st,
                              fused_encoder=st, vision_branch=False, decoder_arch="conv_upsample"))
    vae.stats = NormStats.load(data_root)
    return vae.save_pretrained(tmp / "vae")


def test_unimotion_recipe_under_torchrun_fsdp(synthetic, tmp_path):
    """Stage 0 (motion LoRA only) and a T2M/M2T stage (bf16, activation checkpointing), FSDP2 over 2 processes
    with 1 example each."""
    import yaml

    from unimotion.models.unimotion.model import UniMotionModel

    cfg = {
        "vae": str(_tiny_vae_dir(tmp_path, synthetic)),
        "model": {"backbone": {"overrides": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                                             "num_attention_heads": 4, "num_key_value_heads": 2},
                               "freeze_base": False},
                  "embedder": {"semantic_width": 16, "semantic_layers": 1, "semantic_heads": 2},
                  "flow_head": {"num_blocks": 1, "num_heads": 2}, "lora": {"rank": 4, "alpha": 8.0, "dropout": 0.0},
                  "templates": {"chat_format": False}},
        "tokenizer": {"vocab_size": 400, "min_frequency": 1},
        "data": {"root": str(synthetic), "feature_dir": "new_joint_vecs", "prediction_ratios": [0.2, 0.5]},
        "trainer": {"out_dir": str(tmp_path / "run"), "max_steps": 4, "batch_size": 1, "log_every": 2,
                    "eval_every": 2, "save_every": 2, "device": "cpu", "progress": False,
                    "optim": {"weight_decay": 0.0}},
        "stages": {"lra": {"val_examples": 4},
                   "t2m": {"val_examples": 4, "tasks": {"t2m": 0.5, "m2t": 0.5},
                           "trainer": {"activation_checkpointing": True, "precision": "bf16"}}},
        "stage_order": ["lra", "t2m"],
        "export_dir": str(tmp_path / "pipeline"),
        "num_threads": 1,
    }
    (tmp_path / "um.yaml").write_text(yaml.safe_dump(cfg))
    torchrun(2, "-m", "unimotion.cli", "train", "unimotion", "--config", str(tmp_path / "um.yaml"))
    for stage in ("lra", "t2m"):
        summary = json.loads((tmp_path / "run" / stage / "train_summary.json").read_text())
        assert (summary["world_size"], summary["strategy"], summary["steps"]) == (2, "fsdp", 4)
        assert (tmp_path / "run" / stage / "checkpoints" / "step_00000004" / "dcp" / ".metadata").is_file()
    lra = UniMotionModel.from_pretrained(tmp_path / "run" / "lra" / "final")
    text = lra.config.lora.branches.index(lra.config.lora.modality_branch["text"])
    lora_b = [m.lora_B.detach() for m in lra.modules() if hasattr(m, "lora_B")]
    assert lora_b and all(float(b[text].abs().max()) == 0.0 for b in lora_b)  # Stage 0: the text branch stays 0
    assert any(float(b[1 - text].abs().max()) > 0.0 for b in lora_b)  # ... the motion branch trained
    assert (tmp_path / "pipeline").is_dir()
