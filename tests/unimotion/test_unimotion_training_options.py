"""Trainer options on the UniMotion model: activation checkpointing of the decoder layers recomputes them
under the LoRA route of their forward (same weights as without), bf16 autocast on the CPU stays close."""

from __future__ import annotations

import torch
from safetensors.torch import load_file
from unimotion_helpers import tiny_config

from unimotion.models.unimotion import TaskExample
from unimotion.models.unimotion.model import UniMotionModel, collate_examples
from unimotion.training.trainer import Trainer, TrainerConfig
from unimotion.utils.seed import seed_everything


class _Examples(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 16

    def __getitem__(self, i: int) -> TaskExample:
        z = torch.randn(5, 8, generator=torch.Generator().manual_seed(i))
        if i % 2:
            return TaskExample("t2m", caption="a person walks forward", target=z)
        return TaskExample("m2t", caption="a man waves", source=z)


def _train(out, tokenizer, **kw) -> dict[str, torch.Tensor]:
    seed_everything(0)
    model = UniMotionModel(tiny_config(), tokenizer=tokenizer)
    assert len(model.block_modules()) == 2
    cfg = TrainerConfig(out_dir=str(out), max_steps=3, batch_size=4, save_every=0, log_every=3, progress=False,
                        device="cpu", **kw)
    Trainer(model, cfg, _Examples(), collate_fn=collate_examples).fit()
    return load_file(str(out / "final" / "model.safetensors"))


def test_activation_checkpointing_and_bf16(tmp_path, tokenizer):
    plain = _train(tmp_path / "plain", tokenizer)
    ckpt = _train(tmp_path / "ckpt", tokenizer, activation_checkpointing=True)
    bf16 = _train(tmp_path / "bf16", tokenizer, precision="bf16")
    assert all(torch.equal(plain[k], ckpt[k]) for k in plain)
    assert any(not torch.equal(plain[k], bf16[k]) for k in plain)
    for k in plain:
        torch.testing.assert_close(bf16[k], plain[k], rtol=0, atol=1e-2)
