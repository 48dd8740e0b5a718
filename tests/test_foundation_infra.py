"""The shared infrastructure: config loading, atomic writes, checkpoints, the training loop, the CLI."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
from torch import nn

from unimotion.config import load_config, parse_overrides
from unimotion.errors import CheckpointError, ConfigError, MotionError
from unimotion.models.modeling_utils import PretrainedModel, load_pretrained
from unimotion.motion.stats import NormStats
from unimotion.training.trainer import OptimConfig, Trainer, TrainerConfig, lr_at
from unimotion.utils.io import atomic_dir, atomic_path, write_json


@dataclass
class _Inner:
    width: int = 4
    rate: float = 0.5


@dataclass
class _Cfg:
    name: str = "x"
    depth: int = 2
    inner: _Inner = field(default_factory=_Inner)
    sizes: list[int] = field(default_factory=lambda: [1, 2])
    mode: str | None = None


def test_config_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("depth: 3\ninner:\n  width: 8\n")
    cfg = load_config(_Cfg, path, ["inner.rate=1e-3", "sizes=[3,4]", "mode=fast"])
    assert cfg.depth == 3 and cfg.inner.width == 8 and cfg.inner.rate == pytest.approx(1e-3)
    assert cfg.sizes == [3, 4] and cfg.mode == "fast"


@pytest.mark.parametrize(
    "override, message",
    [("inner.widht=3", "widht"), ("depth=two", "depth"), ("inner.width=1.5", "inner.width"), ("nokey", "key")],
)
def test_config_rejects_bad_values(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(_Cfg, None, [override])


def test_parse_overrides_nested():
    assert parse_overrides(["a.b.c=1", "a.d=x"]) == {"a": {"b": {"c": 1}, "d": "x"}}


def test_atomic_path_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_atomic_dir_refuses_overwrite(tmp_path):
    d = tmp_path / "ckpt"
    d.mkdir()
    (d / "keep").write_text("1")
    with pytest.raises(FileExistsError):
        with atomic_dir(d, overwrite=False):
            pass
    assert (d / "keep").read_text() == "1"


def test_atomic_dir_gives_the_usual_permissions(tmp_path):
    """mkdtemp makes 0700 folders; a replaced checkpoint must not silently lose its permissions."""
    import os

    mask = os.umask(0)
    os.umask(mask)
    d = tmp_path / "export"
    d.mkdir(mode=0o755)
    with atomic_dir(d) as tmp:
        (tmp / "f").write_text("new")
    assert (d / "f").read_text() == "new"
    assert d.stat().st_mode & 0o777 == 0o777 & ~mask
    with atomic_dir(tmp_path / "fresh") as tmp:
        (tmp / "f").write_text("x")
    assert (tmp_path / "fresh").stat().st_mode & 0o777 == 0o777 & ~mask


def test_normstats_roundtrip_and_validation(tmp_path):
    x = np.random.default_rng(0).normal(size=(100, 5)).astype(np.float32)
    stats = NormStats.from_data(x)
    stats.save(tmp_path)
    loaded = NormStats.load(tmp_path)
    np.testing.assert_allclose(loaded.denormalize(loaded.normalize(x)), x, atol=1e-5)
    t = torch.from_numpy(x)
    torch.testing.assert_close(loaded.normalize(t), torch.from_numpy(loaded.normalize(x)))
    with pytest.raises(MotionError, match="channels"):
        stats.normalize(np.zeros((3, 4)))
    with pytest.raises(MotionError, match="std must be > 0"):
        NormStats(np.zeros(3), np.array([1.0, 0.0, 1.0]))


@dataclass
class _TinyConfig:
    dim: int = 3


class _Tiny(PretrainedModel):
    config_class = _TinyConfig
    model_type = "_test_tiny"

    def __init__(self, config: _TinyConfig):
        super().__init__(config)
        self.lin = nn.Linear(config.dim, 1)

    def training_step(self, batch, step):
        pred = self.lin(batch["x"]).squeeze(-1)
        return {"loss": ((pred - batch["y"]) ** 2).mean()}


def test_save_load_pretrained_roundtrip(tmp_path):
    model = _Tiny(_TinyConfig(dim=4))
    model.stats = NormStats(np.zeros(4), np.ones(4))
    model.notice = "data notice"
    model.save_pretrained(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["_model_type"] == "_test_tiny"
    loaded = load_pretrained(tmp_path / "m")
    assert isinstance(loaded, _Tiny) and loaded.config.dim == 4
    torch.testing.assert_close(loaded.lin.weight, model.lin.weight)
    assert loaded.notice == "data notice" and loaded.stats.dim == 4


def test_from_pretrained_errors(tmp_path):
    with pytest.raises(CheckpointError, match="config.json is missing"):
        _Tiny.from_pretrained(tmp_path)
    write_json(tmp_path / "config.json", {"_model_type": "other"})
    with pytest.raises(CheckpointError, match="'other'"):
        _Tiny.from_pretrained(tmp_path)
    model = _Tiny(_TinyConfig(dim=4))
    model.save_pretrained(tmp_path / "m")
    write_json(tmp_path / "m" / "config.json", {"_model_type": "_test_tiny", "dim": 5})
    with pytest.raises(CheckpointError, match="does not match"):
        _Tiny.from_pretrained(tmp_path / "m")


class _Regression(torch.utils.data.Dataset):
    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(64, 3, generator=g)
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5]) + 0.3

    def __len__(self):
        return 64

    def __getitem__(self, i):
        return {"x": self.x[i], "y": self.y[i]}


def test_trainer_learns_and_resumes_identically(tmp_path):
    def run(out, steps, resume=False, model=None):
        torch.manual_seed(0)
        model = model or _Tiny(_TinyConfig())
        cfg = TrainerConfig(
            out_dir=str(out), max_steps=steps, batch_size=8, log_every=10, save_every=10, progress=False,
            optim=OptimConfig(lr=0.1, schedule="constant"),
        )
        Trainer(model, cfg, _Regression()).fit(resume=resume)
        return model

    full = run(tmp_path / "a", 60)
    assert full.training_step({"x": _Regression().x, "y": _Regression().y}, 0)["loss"] < 0.05
    run(tmp_path / "b", 20)  # interrupted after 20 steps ...
    resumed = run(tmp_path / "b", 60, resume=True)  # ... and continued to 60
    torch.testing.assert_close(resumed.lin.weight, full.lin.weight)
    summary = json.loads((tmp_path / "b" / "train_summary.json").read_text())
    assert summary["steps"] == 60
    assert (tmp_path / "b" / "final" / "model.safetensors").is_file()


def test_lr_schedule_shapes():
    cfg = OptimConfig(lr=1.0, warmup_steps=10, schedule="cosine", min_lr_ratio=0.0)
    assert lr_at(0, cfg, 110) == pytest.approx(0.1)
    assert lr_at(10, cfg, 110) == pytest.approx(1.0)
    assert lr_at(110, cfg, 110) == pytest.approx(0.0, abs=1e-9)


def test_cli_help_runs_for_every_command():
    from unimotion.cli import build_parser

    parser = build_parser()
    actions = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    for name, sub in actions[0].choices.items():
        with pytest.raises(SystemExit) as exc:
            parser.parse_args([name, "--help"])
        assert exc.value.code == 0, name
        for a in sub._actions:
            if a.__class__.__name__ == "_SubParsersAction":
                for child in a.choices:
                    with pytest.raises(SystemExit) as exc:
                        parser.parse_args([name, child, "--help"])
                    assert exc.value.code == 0, (name, child)


def test_file_lock_is_exclusive_and_released(tmp_path):
    import fcntl

    from unimotion.utils.io import file_lock

    lock = tmp_path / "cpu.lock"
    with file_lock(lock):
        with open(lock, "a") as other:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(lock, "a") as other:  # released: a second holder gets it at once
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(other, fcntl.LOCK_UN)
    with file_lock(None):  # no lock file: a no-op
        pass
