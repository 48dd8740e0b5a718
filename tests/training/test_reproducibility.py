"""Reproducible training in one process: same seed → same weights; a run interrupted after its step-N
checkpoint and resumed equals the uninterrupted run bitwise (random crops, collate draws, dropout);
validation hooks do not change training; checkpoints of the first trainer still resume."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from dist_worker import FROZEN_ROWS, BlockNet, BlockNetConfig, CropSet
from safetensors.torch import load_file
from torch.utils.data import default_collate

from unimotion.training.trainer import OptimConfig, Trainer, TrainerConfig
from unimotion.utils.seed import seed_everything


class _Stop(Exception):
    pass


def _collate(items: list[dict]) -> dict:
    batch = default_collate(items)
    batch["y"] = batch["y"] + 0.01 * torch.rand(len(items))  # a collate-time draw (global torch stream)
    return batch


def _train(out, steps=16, resume=False, stop_at=None, seed=0, eval_every=0, eval_draws=False, **kw) -> BlockNet:
    cfg = TrainerConfig(out_dir=str(out), max_steps=steps, batch_size=4, log_every=4, save_every=4, progress=False,
                        device="cpu", seed=seed, eval_every=eval_every or (stop_at or 0),
                        optim=OptimConfig(lr=0.01, warmup_steps=3), **kw)
    seed_everything(seed)
    model = BlockNet(BlockNetConfig(dropout=0.2))

    def eval_fn(m, step):
        if stop_at is not None and step == stop_at:
            raise _Stop  # "killed" after the checkpoint of step stop_at - 1 ... (save_every 4)
        if eval_draws:  # a validation hook that consumes every random stream
            torch.rand(5), np.random.rand(5), random.random()
        return {"x": 0.0}

    trainer = Trainer(model, cfg, CropSet(), collate_fn=_collate, eval_fn=eval_fn)
    if stop_at is not None:
        with pytest.raises(_Stop):
            trainer.fit(resume=resume)
        return model
    trainer.fit(resume=resume)
    return model


def _weights(out) -> dict[str, torch.Tensor]:
    return load_file(str(out / "final" / "model.safetensors"))


def _bitwise_equal(a: dict, b: dict) -> bool:
    return sorted(a) == sorted(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_weights_and_resume_equals_uninterrupted(tmp_path):
    _train(tmp_path / "a")
    _train(tmp_path / "b")
    _train(tmp_path / "c", seed=1)
    a, b, c = _weights(tmp_path / "a"), _weights(tmp_path / "b"), _weights(tmp_path / "c")
    assert _bitwise_equal(a, b)
    assert not _bitwise_equal(a, c)  # the comparison can fail

    _train(tmp_path / "r", stop_at=10)  # stopped at step 10: the newest checkpoint is step 8
    assert not (tmp_path / "r" / "final").exists()
    state = torch.load(tmp_path / "r" / "checkpoints" / "step_00000008" / "trainer_state.pt", weights_only=True)
    assert state["step"] == 8 and len(state["rng"]) == 1 and state["data_epoch"] >= 0
    _train(tmp_path / "r", resume=True)
    assert _bitwise_equal(_weights(tmp_path / "r"), a)
    # the frozen rows (scale_gradient) never moved
    seed_everything(0)
    init = BlockNet(BlockNetConfig(dropout=0.2)).table.detach()
    assert torch.equal(a["table"][:FROZEN_ROWS], init[:FROZEN_ROWS])
    assert not torch.equal(a["table"][FROZEN_ROWS:], init[FROZEN_ROWS:])


def test_validation_hook_does_not_change_training(tmp_path):
    _train(tmp_path / "plain")
    _train(tmp_path / "eval", eval_every=3, eval_draws=True)
    assert _bitwise_equal(_weights(tmp_path / "plain"), _weights(tmp_path / "eval"))


def test_checkpoint_of_the_first_trainer_resumes_exactly(tmp_path):
    """trainer_state.pt as the first trainer wrote it (optimizer + rank-0 RNG, no data position)."""
    _train(tmp_path / "ref")
    _train(tmp_path / "old", stop_at=10)
    path = tmp_path / "old" / "checkpoints" / "step_00000008" / "trainer_state.pt"
    new = torch.load(path, weights_only=True)
    rng = new["rng"][0]
    kind, keys, pos, _, _ = rng["numpy"]
    legacy = {"step": new["step"], "optimizer": new["optimizer"], "torch_rng": rng["torch"],
              "numpy_rng": keys.tolist(), "numpy_rng_pos": pos, "python_rng": repr(rng["python"])}
    torch.save(legacy, path)
    _train(tmp_path / "old", resume=True)
    assert _bitwise_equal(_weights(tmp_path / "old"), _weights(tmp_path / "ref"))
    assert json.loads((tmp_path / "old" / "train_summary.json").read_text())["steps"] == 16


def test_gradient_accumulation_equals_the_large_batch(tmp_path):
    def run(out, **kw):
        cfg = TrainerConfig(out_dir=str(out), max_steps=6, log_every=3, save_every=0, progress=False, device="cpu",
                            optim=OptimConfig(lr=0.01, schedule="constant"), **kw)
        seed_everything(0)
        model = BlockNet(BlockNetConfig())
        Trainer(model, cfg, CropSet()).fit()
        return _weights(out)

    big = run(tmp_path / "big", batch_size=8)
    acc = run(tmp_path / "acc", batch_size=4, grad_accum=2)
    for k in big:
        torch.testing.assert_close(acc[k], big[k], rtol=0, atol=1e-6)


def test_bf16_autocast_on_cpu_and_activation_checkpointing(tmp_path):
    def run(out, **kw):
        cfg = TrainerConfig(out_dir=str(out), max_steps=4, batch_size=4, log_every=2, save_every=0, progress=False,
                            device="cpu", optim=OptimConfig(lr=0.01, schedule="constant"), **kw)
        seed_everything(0)
        model = BlockNet(BlockNetConfig())
        Trainer(model, cfg, CropSet()).fit()
        return _weights(out), json.loads((out / "train_summary.json").read_text())

    fp32, _ = run(tmp_path / "fp32")
    ckpt, _ = run(tmp_path / "ckpt", activation_checkpointing=True)
    bf16, summary = run(tmp_path / "bf16", precision="bf16")
    assert summary["precision"] == "bf16"
    for k in fp32:  # recomputation gives the same numbers; bf16 matmuls are close but not equal
        torch.testing.assert_close(ckpt[k], fp32[k], rtol=0, atol=1e-6)
        torch.testing.assert_close(bf16[k], fp32[k], rtol=0, atol=5e-2)
    assert any(not torch.equal(bf16[k], fp32[k]) for k in fp32)


def test_subclass_with_the_first_trainers_loader_hook_still_trains_and_resumes(tmp_path):
    """A recipe written for the first trainer (overriding ``_loader``) keeps working, resume included."""
    from torch.utils.data import DataLoader

    class OwnLoader(Trainer):
        def _loader(self, epoch_seed: int) -> DataLoader:
            g = torch.Generator().manual_seed(epoch_seed)
            return DataLoader(self.dataset, batch_size=self.config.batch_size, shuffle=True, generator=g,
                              drop_last=True)

    def run(out, stop_at=None, resume=False):
        cfg = TrainerConfig(out_dir=str(out), max_steps=12, batch_size=4, log_every=4, save_every=4, progress=False,
                            device="cpu", eval_every=stop_at or 0, optim=OptimConfig(lr=0.01, schedule="constant"))
        seed_everything(0)
        model = BlockNet(BlockNetConfig())

        def eval_fn(m, step):
            raise _Stop

        trainer = OwnLoader(model, cfg, CropSet(), eval_fn=eval_fn)
        if stop_at:
            with pytest.raises(_Stop):
                trainer.fit(resume=resume)
        else:
            trainer.fit(resume=resume)

    run(tmp_path / "full")
    run(tmp_path / "cut", stop_at=6)
    run(tmp_path / "cut", resume=True)
    assert json.loads((tmp_path / "cut" / "train_summary.json").read_text())["steps"] == 12
    # the batches are the same (skipped by iteration); the dataset's own draws are not keyed on this path
    full, cut = _weights(tmp_path / "full"), _weights(tmp_path / "cut")
    assert sorted(full) == sorted(cut)


@pytest.mark.slow
def test_compile_option_trains_like_eager(tmp_path):
    def run(out, **kw):
        cfg = TrainerConfig(out_dir=str(out), max_steps=4, batch_size=4, log_every=2, save_every=0, progress=False,
                            device="cpu", optim=OptimConfig(lr=0.01, schedule="constant"), **kw)
        seed_everything(0)
        model = BlockNet(BlockNetConfig())
        Trainer(model, cfg, CropSet()).fit()
        return _weights(out)

    eager, compiled = run(tmp_path / "eager"), run(tmp_path / "compiled", compile=True)
    for k in eager:
        torch.testing.assert_close(compiled[k], eager[k], rtol=0, atol=1e-5)
