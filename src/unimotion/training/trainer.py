"""One training loop for every model (nanoGPT-style: one readable loop, DDP-ready).

A model trains here if it is a :class:`~unimotion.models.modeling_utils.PretrainedModel` with

    def training_step(self, batch: dict, step: int) -> dict[str, torch.Tensor]   # must contain "loss"

Optionally ``param_groups(optim: OptimConfig) -> list[dict]`` to choose what trains and with which lr.

Outputs under ``out_dir``::

    checkpoints/step_00001000/{model/, trainer_state.pt}   resumable (model/ is a save_pretrained dir)
    final/                                                  save_pretrained of the last step
    tb/                                                     TensorBoard events
    train_summary.json                                      steps, samples, wall time, last losses

Resuming (``resume=True``) continues from the newest complete checkpoint with the same optimizer,
schedule and RNG state. Launch with ``torchrun --nproc_per_node=N`` for data-parallel training: the loop
detects ``WORLD_SIZE`` and uses DistributedDataParallel (NCCL on GPUs, gloo on CPUs).
"""

from __future__ import annotations

import math
import os
import random
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler

from ..config import to_dict
from ..utils.io import atomic_path, write_json
from ..utils.logging import get_logger

log = get_logger(__name__)


@dataclass
class OptimConfig:
    lr: float = 2e-4
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.99)
    eps: float = 1e-8
    warmup_steps: int = 0
    schedule: Literal["constant", "cosine", "linear"] = "cosine"
    min_lr_ratio: float = 0.1  # final lr = lr * min_lr_ratio for cosine/linear decay
    grad_clip: float = 1.0  # 0 disables clipping


@dataclass
class TrainerConfig:
    out_dir: str = "runs/default"
    max_steps: int = 1000
    batch_size: int = 32  # per process
    grad_accum: int = 1
    log_every: int = 50
    eval_every: int = 0  # 0: never
    save_every: int = 500  # 0: only at the end
    keep_last: int = 2  # checkpoints kept on disk
    seed: int = 0
    num_workers: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:1 ...
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16 autocast on CUDA only
    progress: bool = True
    optim: OptimConfig = field(default_factory=OptimConfig)


class _StepModule(nn.Module):
    """Routes DDP's forward to ``model.training_step`` so gradient synchronisation works as usual."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        return self.model.training_step(batch, step)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    return torch.device(name)


def lr_at(step: int, cfg: OptimConfig, max_steps: int) -> float:
    """Learning-rate multiplier schedule: linear warm-up, then constant / cosine / linear decay."""
    if cfg.warmup_steps > 0 and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.lr
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, max_steps - cfg.warmup_steps))
    if cfg.schedule == "cosine":
        factor = 0.5 * (1 + math.cos(math.pi * progress))
    else:
        factor = 1 - progress
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * factor)


def move_to(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: move_to(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to(v, device) for v in batch)
    return batch


class Trainer:
    """Trains ``model`` on ``dataset`` for ``config.max_steps`` optimizer steps."""

    def __init__(
        self,
        model: nn.Module,
        config: TrainerConfig,
        dataset: Dataset,
        collate_fn: Callable | None = None,
        eval_fn: Callable[[nn.Module, int], dict[str, float]] | None = None,
        run_config: Any = None,
    ):
        self.model = model
        self.config = config
        self.dataset = dataset
        self.collate_fn = collate_fn
        self.eval_fn = eval_fn
        self.run_config = run_config  # saved in train_summary.json
        self.out_dir = Path(config.out_dir)
        self.world_size = int(os.environ.get("WORLD_SIZE", 1))
        self.rank = int(os.environ.get("RANK", 0))
        self.is_main = self.rank == 0
        self.device = resolve_device(config.device)
        self.step = 0

    # ------------------------------------------------------------------ set-up
    def _init_distributed(self) -> None:
        if self.world_size > 1 and not torch.distributed.is_initialized():
            backend = "nccl" if self.device.type == "cuda" else "gloo"
            if self.device.type == "cuda":
                torch.cuda.set_device(self.device)
            torch.distributed.init_process_group(backend=backend)

    def _param_groups(self) -> list[dict]:
        if hasattr(self.model, "param_groups"):
            return self.model.param_groups(self.config.optim)
        params = [p for p in self.model.parameters() if p.requires_grad]
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        groups = [{"params": decay, "weight_decay": self.config.optim.weight_decay}]
        if no_decay:
            groups.append({"params": no_decay, "weight_decay": 0.0})
        return groups

    def _loader(self, epoch_seed: int) -> DataLoader:
        cfg = self.config
        generator = torch.Generator().manual_seed(epoch_seed)
        if self.world_size > 1:
            sampler = DistributedSampler(self.dataset, shuffle=True, seed=epoch_seed, drop_last=True)
        else:
            sampler = RandomSampler(self.dataset, generator=generator)
        return DataLoader(
            self.dataset,
            batch_size=cfg.batch_size,
            sampler=sampler,
            collate_fn=self.collate_fn,
            num_workers=cfg.num_workers,
            drop_last=len(self.dataset) >= cfg.batch_size,
            persistent_workers=False,
        )

    def _batches(self) -> Iterator[Any]:
        epoch = 0
        while True:
            loader = self._loader(self.config.seed * 1000003 + epoch)
            if isinstance(loader.sampler, DistributedSampler):
                loader.sampler.set_epoch(epoch)
            n = 0
            for batch in loader:
                n += 1
                yield batch
            if n == 0:
                raise RuntimeError(f"the training set yields no batch (size {len(self.dataset)})")
            epoch += 1

    # ------------------------------------------------------------------ checkpoints
    def _checkpoint_dir(self, step: int) -> Path:
        return self.out_dir / "checkpoints" / f"step_{step:08d}"

    def latest_checkpoint(self) -> Path | None:
        root = self.out_dir / "checkpoints"
        if not root.is_dir():
            return None
        done = sorted(p for p in root.glob("step_*") if (p / "trainer_state.pt").is_file())
        return done[-1] if done else None

    def _save(self, optimizer: torch.optim.Optimizer) -> None:
        if not self.is_main:
            return
        ckpt = self._checkpoint_dir(self.step)
        self.model.save_pretrained(ckpt / "model")
        state = {
            "step": self.step,
            "optimizer": optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": list(np.random.get_state()[1].tolist()),
            "numpy_rng_pos": int(np.random.get_state()[2]),
            "python_rng": repr(random.getstate()),
        }
        with atomic_path(ckpt / "trainer_state.pt") as tmp:
            torch.save(state, tmp)
        old = sorted((self.out_dir / "checkpoints").glob("step_*"))[: -max(1, self.config.keep_last)]
        for path in old:
            shutil.rmtree(path, ignore_errors=True)
        log.info("saved checkpoint %s", ckpt)

    def _resume(self, optimizer: torch.optim.Optimizer) -> None:
        from safetensors.torch import load_model

        ckpt = self.latest_checkpoint()
        if ckpt is None:
            log.info("no checkpoint in %s: starting from scratch", self.out_dir)
            return
        load_model(self.model, str(ckpt / "model" / "model.safetensors"), strict=False, device=str(self.device))
        state = torch.load(ckpt / "trainer_state.pt", map_location="cpu", weights_only=True)
        optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        torch.set_rng_state(state["torch_rng"])
        np.random.set_state(("MT19937", np.array(state["numpy_rng"], dtype=np.uint32), state["numpy_rng_pos"], 0, 0.0))
        import ast

        random.setstate(_to_tuple(ast.literal_eval(state["python_rng"])))
        log.info("resumed from %s at step %d", ckpt, self.step)

    # ------------------------------------------------------------------ loop
    def fit(self, resume: bool = False) -> nn.Module:
        cfg = self.config
        self._init_distributed()
        torch.manual_seed(cfg.seed + self.rank)
        np.random.seed((cfg.seed + self.rank) % 2**32)
        random.seed(cfg.seed + self.rank)
        self.model.to(self.device)
        self.model.train()
        optimizer = torch.optim.AdamW(
            self._param_groups(), lr=cfg.optim.lr, betas=tuple(cfg.optim.betas), eps=cfg.optim.eps
        )
        if resume:
            self._resume(optimizer)
        step_module: nn.Module = _StepModule(self.model)
        if self.world_size > 1:
            step_module = nn.parallel.DistributedDataParallel(
                step_module, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        writer = None
        if self.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(self.out_dir / "tb"))
        n_train = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        n_total = sum(p.numel() for p in self.model.parameters())
        log.info(
            "training %s: %s trainable of %s parameters, %d steps × batch %d × %d process(es) on %s",
            type(self.model).__name__, f"{n_train:,}", f"{n_total:,}", cfg.max_steps, cfg.batch_size,
            self.world_size, self.device,
        )
        autocast = (
            torch.autocast("cuda", dtype=torch.bfloat16)
            if cfg.precision == "bf16" and self.device.type == "cuda"
            else _nullcontext()
        )
        batches = self._batches()
        # Skip the batches consumed before a resume so the data order matches an uninterrupted run.
        for _ in range(self.step * cfg.grad_accum):
            next(batches)
        progress = _progress(cfg.max_steps, self.step, enabled=cfg.progress and self.is_main)
        started = time.time()
        running: dict[str, float] = {}
        last_logs: dict[str, float] = {}
        samples = 0
        try:
            while self.step < cfg.max_steps:
                lr = lr_at(self.step, cfg.optim, cfg.max_steps)
                for group in optimizer.param_groups:
                    group["lr"] = lr * group.get("lr_scale", 1.0)
                optimizer.zero_grad(set_to_none=True)
                logs: dict[str, float] = {}
                for _ in range(cfg.grad_accum):
                    batch = move_to(next(batches), self.device)
                    with autocast:
                        out = step_module(batch, self.step)
                    loss = out["loss"] / cfg.grad_accum
                    if not torch.isfinite(loss):
                        raise FloatingPointError(f"loss became {loss.item()} at step {self.step}")
                    loss.backward()
                    for k, v in out.items():
                        logs[k] = logs.get(k, 0.0) + float(v.detach()) / cfg.grad_accum
                    samples += _batch_size(batch) * self.world_size
                if cfg.optim.grad_clip > 0:
                    logs["grad_norm"] = float(
                        nn.utils.clip_grad_norm_(
                            [p for p in self.model.parameters() if p.grad is not None], cfg.optim.grad_clip
                        )
                    )
                optimizer.step()
                self.step += 1
                for k, v in logs.items():
                    running[k] = running.get(k, 0.0) + v
                if writer is not None:
                    for k, v in logs.items():
                        writer.add_scalar(f"train/{k}", v, self.step)
                    writer.add_scalar("train/lr", lr, self.step)
                progress.update(1, loss=logs.get("loss", float("nan")))
                if self.step % cfg.log_every == 0 or self.step == cfg.max_steps:
                    n = cfg.log_every if self.step % cfg.log_every == 0 else self.step % cfg.log_every
                    last_logs = {k: v / max(1, n) for k, v in running.items()}
                    running = {}
                    if self.is_main:
                        log.info(
                            "step %d/%d  lr %.2e  %s", self.step, cfg.max_steps, lr,
                            "  ".join(f"{k} {v:.4g}" for k, v in last_logs.items()),
                        )
                if self.eval_fn is not None and cfg.eval_every and self.step % cfg.eval_every == 0 and self.is_main:
                    self.model.eval()
                    with torch.no_grad():
                        metrics = self.eval_fn(self.model, self.step)
                    self.model.train()
                    log.info("eval at step %d: %s", self.step, metrics)
                    if writer is not None:
                        for k, v in metrics.items():
                            writer.add_scalar(f"eval/{k}", v, self.step)
                if cfg.save_every and self.step % cfg.save_every == 0 and self.step < cfg.max_steps:
                    self._save(optimizer)
        finally:
            progress.close()
            if writer is not None:
                writer.close()
        self._save(optimizer)
        if self.is_main:
            self.model.eval()
            self.model.save_pretrained(self.out_dir / "final")
            write_json(
                self.out_dir / "train_summary.json",
                {
                    "model": type(self.model).__name__,
                    "steps": self.step,
                    "batch_size_per_process": cfg.batch_size,
                    "grad_accum": cfg.grad_accum,
                    "world_size": self.world_size,
                    "samples_this_run": samples,
                    "wall_seconds_this_run": round(time.time() - started, 1),
                    "device": str(self.device),
                    "trainable_parameters": n_train,
                    "total_parameters": n_total,
                    "last_logged": last_logs,
                    "config": to_dict(self.run_config) if self.run_config is not None else to_dict(cfg),
                },
            )
        if self.world_size > 1:
            torch.distributed.barrier()
        return self.model


def _batch_size(batch: Any) -> int:
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0])
    if isinstance(batch, dict):
        for v in batch.values():
            if isinstance(v, torch.Tensor):
                return int(v.shape[0])
    return 0


def _to_tuple(obj: Any) -> Any:
    if isinstance(obj, list):
        return tuple(_to_tuple(v) for v in obj)
    if isinstance(obj, tuple):
        return tuple(_to_tuple(v) for v in obj)
    return obj


class _nullcontext:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


class _progress:
    """A tqdm bar (or nothing when disabled)."""

    def __init__(self, total: int, initial: int, enabled: bool):
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, desc="train", dynamic_ncols=True)

    def update(self, n: int, **postfix: float) -> None:
        if self.bar is not None:
            self.bar.update(n)
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in postfix.items()}, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
