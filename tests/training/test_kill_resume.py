"""Reproducibility across processes with the real VAE recipe (``unimotion train vae`` in subprocesses):

* two runs from the same seed — separate processes, so separate process ids — give bitwise-equal weights;
* a run killed with SIGKILL after a checkpoint and resumed with ``--resume`` reaches bitwise the weights of
  the uninterrupted run (random crops, dropout, VAE noise, length buckets, warm-up + cosine schedule).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
STEPS = 150


def _config(tmp: Path, data: Path, out: Path, seed: int = 0) -> Path:
    stack = {"num_layers": 1, "num_heads": 2, "ff_dim": 16, "dropout": 0.1}
    cfg = {"model_type": "cma_vae", "feature_network": None,
           "model": {"vision_branch": False, "width": 16, "latent_dim": 4, "encoder": stack, "decoder": stack},
           "data": {"root": str(data), "feature_dir": "new_joint_vecs", "images": False, "val_split": None},
           "trainer": {"out_dir": str(out), "max_steps": STEPS, "batch_size": 4, "log_every": 50, "eval_every": 0,
                       "save_every": 10, "keep_last": 2, "progress": False, "device": "cpu", "seed": seed,
                       "optim": {"lr": 1.0e-3, "warmup_steps": 10, "schedule": "cosine"}},
           "num_threads": 1}
    path = tmp / f"{out.name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _command(config: Path, resume: bool = False) -> list[str]:
    return [sys.executable, "-m", "unimotion.cli", "-q", "train", "vae", "--config", str(config),
            *(["--resume"] if resume else [])]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def _train(config: Path, resume: bool = False) -> None:
    result = subprocess.run(_command(config, resume), env=_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]


def _weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(str(out / "final" / "model.safetensors"))


def _equal(a: dict, b: dict) -> bool:
    return sorted(a) == sorted(b) and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    from unimotion.data.synthetic import write_humanml3d

    return write_humanml3d(tmp_path_factory.mktemp("synth") / "hml", 24, seed=0)


def test_same_seed_and_sigkill_resume_are_bitwise_equal(synthetic, tmp_path):
    a, b, c, killed = (tmp_path / n for n in ("a", "b", "c", "killed"))
    _train(_config(tmp_path, synthetic, a))
    _train(_config(tmp_path, synthetic, b))
    _train(_config(tmp_path, synthetic, c, seed=1))
    assert _equal(_weights(a), _weights(b))  # same seed, another process
    assert not _equal(_weights(a), _weights(c))  # another seed

    cfg = _config(tmp_path, synthetic, killed)
    proc = subprocess.Popen(_command(cfg), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    try:
        while time.time() < deadline and not list((killed / "checkpoints").glob("step_*/trainer_state.pt")):
            assert proc.poll() is None, "the run ended before its first checkpoint"
            time.sleep(0.02)
        assert proc.poll() is None, "the run finished before it could be killed: make it longer"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "final").exists()
    done = sorted(p.parent.name for p in (killed / "checkpoints").glob("step_*/trainer_state.pt"))
    assert done and done[-1] < f"step_{STEPS:08d}"
    _train(cfg, resume=True)
    assert _equal(_weights(killed), _weights(a))
