"""A tiny training run for the multi-process trainer tests (imported in-process, or launched by torchrun).

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/training/dist_worker.py SPEC.json

``SPEC.json``: ``{"trainer": {TrainerConfig fields}, "model": {BlockNetConfig fields}, "resume": bool}``.
The model has no random draws of its own (dropout 0), a block list (FSDP2 units) and an embedding-like table
whose first rows are frozen with :func:`~unimotion.models.modeling_utils.scale_gradient`; the data are
random crops (keyed dataset draws) of random sequences with a keyed torch draw in every item.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import Dataset

from unimotion.config import from_dict
from unimotion.models.modeling_utils import PretrainedModel, scale_gradient
from unimotion.training.trainer import Trainer, TrainerConfig
from unimotion.utils.seed import item_rng, seed_everything

FROZEN_ROWS = 2


@dataclass
class BlockNetConfig:
    dim: int = 8
    depth: int = 2
    dropout: float = 0.0


class BlockNet(PretrainedModel):
    config_class = BlockNetConfig
    model_type = "_test_blocknet"

    def __init__(self, config: BlockNetConfig):
        super().__init__(config)
        self.embed = nn.Linear(3, config.dim)
        self.blocks = nn.ModuleList(nn.Sequential(nn.Linear(config.dim, config.dim), nn.Tanh())
                                    for _ in range(config.depth))
        self.table = nn.Parameter(torch.randn(5, config.dim) * 0.1)
        self.head = nn.Linear(config.dim, 1)
        self.drop = nn.Dropout(config.dropout)
        keep = torch.ones(5, 1)
        keep[:FROZEN_ROWS] = 0.0
        self._hook = scale_gradient(self.table, keep)

    def block_modules(self) -> list[nn.Module]:
        return list(self.blocks)

    def training_step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        h = self.drop(self.embed(batch["x"]) + self.table[batch["cls"]][:, None])  # (B, L, dim)
        for block in self.blocks:
            h = h + block(h)
        pred = self.head(h).squeeze(-1).mean(1)  # (B,)
        return {"loss": ((pred - batch["y"]) ** 2).mean()}


class CropSet(Dataset):
    """Random 5-frame crops of random sequences; the target carries a keyed torch draw."""

    def __init__(self, n: int = 48, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        lengths = torch.randint(6, 14, (n,), generator=g).tolist()
        self.seqs = [torch.randn(t, 3, generator=g) for t in lengths]
        self._calls = 0

    def __len__(self) -> int:
        return len(self.seqs)

    def __getitem__(self, i: int) -> dict:
        self._calls += 1
        rng = item_rng(0, i, self._calls)
        s = self.seqs[i]
        start = int(rng.integers(0, len(s) - 5 + 1))
        x = s[start : start + 5]
        return {"x": x, "y": 0.3 * x.sum() + 0.05 * torch.rand(()), "cls": i % 5}


def run(spec: dict) -> nn.Module:
    cfg = from_dict(TrainerConfig, spec["trainer"], where="trainer")
    seed_everything(cfg.seed)
    model = BlockNet(from_dict(BlockNetConfig, spec.get("model", {}), where="model"))
    Trainer(model, cfg, CropSet()).fit(resume=bool(spec.get("resume", False)))
    return model


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        run(json.load(f))
    from unimotion.training.distributed import cleanup

    cleanup()
