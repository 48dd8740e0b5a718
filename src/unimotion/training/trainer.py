"""One training loop for every model (nanoGPT-style: one readable loop), on one or many processes.

A model trains here if it is a :class:`~unimotion.models.modeling_utils.PretrainedModel` with

    def training_step(self, batch: dict, step: int) -> dict[str, torch.Tensor]   # must contain "loss"

Optionally ``param_groups(optim: OptimConfig) -> list[dict]`` to choose what trains and with which lr,
``block_modules() -> list[nn.Module]`` naming its repeated blocks (transformer layers): the units of FSDP2
sharding, activation checkpointing and ``torch.compile``, and ``checkpoint_context_fn()`` when the blocks read
state set around them that a recomputation must see again.

**Processes.** ``unimotion train ...`` is one process. ``torchrun --nproc_per_node N -m unimotion.cli train
...`` starts N (``--nnodes``/``--rdzv-endpoint`` for several machines); the loop joins the process group (NCCL
on GPUs, gloo on CPUs) and trains with

* ``strategy: ddp`` — DistributedDataParallel: every process holds the whole model, gradients are averaged;
* ``strategy: fsdp`` — FSDP2 (``fully_shard``): parameters, gradients and optimizer state are sharded over
  the processes, one unit per block plus the rest;
* ``strategy: auto`` (default) — FSDP2 for models with ``block_modules()`` (the UniMotion LLM backbone),
  DDP for the others.

``batch_size`` is per process: the global batch is ``batch_size × processes × grad_accum``. The data stream
(:mod:`unimotion.training.data_stream`) gives every optimizer step the same samples whatever the split
into processes and accumulation steps, so a 2-process run equals a 1-process run with the same global batch
for a model without random draws of its own (the model's own draws — dropout, noise — come from per-process
streams). Rank 0 logs, writes TensorBoard and the full checkpoints.

**Precision and speed.** ``precision: bf16`` runs the forward under ``torch.autocast`` in bfloat16 (CUDA and
CPU); under FSDP2 the gathered parameters are bfloat16 and gradients are reduced in float32 (the master
weights and optimizer stay float32). ``activation_checkpointing`` recomputes the blocks' activations in the
backward pass; ``compile`` compiles the blocks (or the whole step for models without blocks).

Outputs under ``out_dir``::

    checkpoints/step_00001000/model/            save_pretrained of the full weights (rank 0)
    checkpoints/step_00001000/dcp/              FSDP2 runs: sharded weights + optimizer (torch.distributed.checkpoint)
    checkpoints/step_00001000/trainer_state.pt  step, optimizer (non-sharded runs), RNG of every process,
                                                data-stream position; written last (marks the checkpoint complete)
    final/                                      save_pretrained of the last step
    tb/                                         TensorBoard events
    train_summary.json                          steps, samples, wall time, last losses

**Exact resume.** ``resume=True`` continues from the newest complete checkpoint with the same weights,
optimizer state, schedule, data-stream position and the RNG state of every process: a run killed at any
moment and resumed reaches bitwise the weights of an uninterrupted run (CPU, same number of processes).
A checkpoint resumes on another number of processes or with another strategy too (sharded ones are
resharded; the RNG streams are then re-seeded from (seed, rank, step) and the data stream continues at the
same sample position).
"""

from __future__ import annotations

import contextlib
import math
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler

from ..config import to_dict
from ..errors import CheckpointError, ConfigError
from ..utils.io import atomic_path, write_json
from ..utils.logging import get_logger
from ..utils.seed import preserved_rng, rng_state, seed_everything, set_rng_state
from . import distributed as dist_utils
from .data_stream import BatchSampler, DataStream, StreamPosition

log = get_logger(__name__)

STATE_FORMAT = 2  # trainer_state.pt layout (1: the first trainer's, no "format" key)


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
    device: str = "auto"  # auto | cpu | cuda | cuda:1 ... (auto: cuda:LOCAL_RANK when CUDA is available)
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16: autocast (CUDA and CPU), FSDP2 bf16 gathers
    strategy: Literal["auto", "ddp", "fsdp"] = "auto"  # with several processes (torchrun)
    activation_checkpointing: bool = False  # recompute the blocks' activations in the backward pass
    compile: bool = False  # torch.compile the blocks (or the whole step without blocks)
    find_unused_parameters: bool = True  # DDP: parameters a step may leave unused (task mixtures)
    progress: bool = True
    optim: OptimConfig = field(default_factory=OptimConfig)

    def __post_init__(self) -> None:
        for name in ("max_steps", "batch_size", "grad_accum", "log_every", "keep_last"):
            if getattr(self, name) < 1:
                raise ConfigError(f"trainer.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("eval_every", "save_every", "num_workers", "seed"):
            if getattr(self, name) < 0:
                raise ConfigError(f"trainer.{name} must be >= 0, got {getattr(self, name)}")


class _StepModule(nn.Module):
    """Routes the wrapper's forward (DDP / FSDP2 / compile) to ``model.training_step``.

    ``touch``: names of parameters that every forward adds to the loss with weight 0, so that each of them
    gets a gradient on every process even when a step leaves it unused (FSDP2 reduce-scatters the gradients
    that exist; a parameter unused on one process only would desynchronise the processes).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.touch: list[str] = []

    def forward(self, batch: Any, step: int) -> dict[str, torch.Tensor]:
        out = self.model.training_step(batch, step)
        if self.touch:
            params = dict(self.named_parameters())
            zero = sum(params[n].reshape(-1)[:1].sum() for n in self.touch) * 0.0
            out = {**out, "loss": out["loss"] + zero.to(out["loss"].dtype)}
        return out


def resolve_device(name: str) -> torch.device:
    return dist_utils.resolve_device(name)


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
    """Trains ``model`` on ``dataset`` for ``config.max_steps`` optimizer steps.

    Args:
        model: a model with ``training_step`` (module docstring).
        config: steps, batch, optimiser, precision, strategy, checkpoints.
        dataset: map-style training set.
        collate_fn: turns a list of items into a batch (default: torch's ``default_collate``).
        eval_fn: ``(model, step) -> metrics``, called every ``eval_every`` steps (rank 0; every rank under
            FSDP2) without gradients, under the training precision, with the global random streams
            preserved, so validation never changes training.
        run_config: the recipe's config, saved in ``train_summary.json``.
        batch_sampler: ``(epoch, step_batch_size) -> the epoch's step batches`` (lists of indices, each the
            samples of one optimizer step over all processes: ``batch_size × processes × grad_accum``; e.g.
            length buckets); default a seeded permutation (:func:`unimotion.training.data_stream.random_batches`).
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainerConfig,
        dataset: Dataset,
        collate_fn: Callable | None = None,
        eval_fn: Callable[[nn.Module, int], dict[str, float]] | None = None,
        run_config: Any = None,
        batch_sampler: BatchSampler | None = None,
    ):
        self.model = model
        self.config = config
        self.dataset = dataset
        self.collate_fn = collate_fn
        self.eval_fn = eval_fn
        self.run_config = run_config  # saved in train_summary.json
        self.batch_sampler = batch_sampler
        self.out_dir = Path(config.out_dir)
        self.world_size = dist_utils.world_size()
        self.rank = dist_utils.rank()
        self.is_main = self.rank == 0
        self.device = resolve_device(config.device)
        self.step = 0
        self.strategy = "single"
        self.position = StreamPosition()

    # ------------------------------------------------------------------ set-up
    def _init_distributed(self) -> None:
        dist_utils.init_distributed(self.device)
        self.world_size, self.rank = dist_utils.world_size(), dist_utils.rank()
        self.is_main = self.rank == 0

    def _resolve_strategy(self) -> str:
        if self.world_size <= 1:
            return "single"
        if self.config.strategy == "auto":
            return "fsdp" if self._blocks() else "ddp"
        return self.config.strategy

    def _blocks(self) -> list[nn.Module]:
        fn = getattr(self.model, "block_modules", None)
        return list(fn()) if callable(fn) else []

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

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.config.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _apply_block_options(self, step_module: _StepModule) -> None:
        cfg = self.config
        blocks = self._blocks()
        if cfg.activation_checkpointing:
            if not blocks:
                log.warning("activation_checkpointing: %s has no block_modules(); nothing to checkpoint",
                            type(self.model).__name__)
            from torch.distributed._composable import checkpoint

            # a model whose blocks read state set around them (UniMotion's LoRA route) restores it for recompute
            context = getattr(self.model, "checkpoint_context_fn", None)
            kwargs = {"context_fn": context()} if callable(context) else {}
            for block in blocks:
                checkpoint(block, **kwargs)
        if cfg.compile:
            if blocks:
                for block in blocks:
                    block.compile()
            else:
                step_module.compile()

    def _shard(self, step_module: _StepModule) -> dict[str, torch.Tensor]:
        """FSDP2: one unit per block, then the rest (the root). Returns the gradient scales by name."""
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        from ..models.modeling_utils import GRAD_SCALE_ATTR

        scales = {n: getattr(p, GRAD_SCALE_ATTR) for n, p in step_module.named_parameters()
                  if hasattr(p, GRAD_SCALE_ATTR)}
        blocks = self._blocks()
        in_blocks = {id(p) for b in blocks for p in b.parameters()}
        step_module.touch = [n for n, p in step_module.named_parameters() if p.requires_grad and id(p) not in in_blocks]
        mp = None
        if self.config.precision == "bf16":
            mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        kwargs = {"mp_policy": mp} if mp is not None else {}
        for block in blocks:
            fully_shard(block, **kwargs)
        fully_shard(step_module, **kwargs)
        return scales

    # ------------------------------------------------------------------ data
    def _loader(self, epoch_seed: int) -> DataLoader:
        """The loader of one epoch — kept for subclasses written for the first trainer (a subclass that
        overrides it is iterated as before: batches are skipped by iterating them on resume)."""
        cfg = self.config
        generator = torch.Generator().manual_seed(epoch_seed)
        if self.world_size > 1:
            sampler = DistributedSampler(self.dataset, shuffle=True, seed=epoch_seed, drop_last=True)
        else:
            sampler = RandomSampler(self.dataset, generator=generator)
        return DataLoader(self.dataset, batch_size=cfg.batch_size, sampler=sampler, collate_fn=self.collate_fn,
                          num_workers=cfg.num_workers, drop_last=len(self.dataset) >= cfg.batch_size,
                          generator=generator)

    def _legacy_loader(self) -> bool:
        return type(self)._loader is not Trainer._loader

    def _stream(self) -> DataStream:
        return DataStream(self.dataset, self.config.batch_size, self.config.seed, self.rank, self.world_size,
                          grad_accum=self.config.grad_accum, batch_sampler=self.batch_sampler, collate_fn=self.collate_fn,
                          num_workers=self.config.num_workers, pin_memory=self.device.type == "cuda")

    def _batches(self, stream: DataStream | None) -> Iterator[tuple[StreamPosition | None, Any]]:
        if stream is not None:
            yield from stream.iterate(self.position)
            return
        epoch, skip = 0, self.step * self.config.grad_accum
        while True:
            loader = self._loader(self.config.seed * 1000003 + epoch)
            if isinstance(loader.sampler, DistributedSampler):
                loader.sampler.set_epoch(epoch)
            n = 0
            for batch in loader:
                n += 1
                if skip > 0:
                    skip -= 1
                    continue
                yield None, batch
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

    def _full_state_dict(self, step_module: nn.Module) -> dict[str, torch.Tensor] | None:
        """FSDP2: the full weights gathered on rank 0 (CPU), keys relative to the model; None otherwise."""
        if self.strategy != "fsdp":
            return None
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        full = get_model_state_dict(step_module, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        return {k.removeprefix("model."): v for k, v in full.items()}

    def _save_model(self, path: Path, step_module: nn.Module) -> None:
        full = self._full_state_dict(step_module)  # a collective under FSDP2: every rank calls it
        if self.is_main:
            self.model.save_pretrained(path, state_dict=full)

    def _save(self, optimizer: torch.optim.Optimizer, step_module: nn.Module) -> None:
        """Write checkpoint ``step_N`` (every rank calls it: collectives for RNG states and shards)."""
        ckpt = self._checkpoint_dir(self.step)
        rng = dist_utils.all_gather_objects(rng_state())
        self._save_model(ckpt / "model", step_module)
        state: dict[str, Any] = {
            "format": STATE_FORMAT,
            "step": self.step,
            "world_size": self.world_size,
            "strategy": self.strategy,
            "batch_size": self.config.batch_size,
            "grad_accum": self.config.grad_accum,
            "data_epoch": self.position.epoch,
            "data_batch": self.position.batch,
            "rng": rng,
        }
        if self.strategy == "fsdp":
            import torch.distributed.checkpoint as dcp
            from torch.distributed.checkpoint.state_dict import get_state_dict

            if self.is_main and (ckpt / "dcp").exists():
                shutil.rmtree(ckpt / "dcp")  # a partial save of a killed run
            dist_utils.barrier()
            msd, osd = get_state_dict(step_module, optimizer)
            dcp.save({"model": msd, "optim": osd}, checkpoint_id=str(ckpt / "dcp"))
            state["sharded"] = True
        else:
            state["optimizer"] = optimizer.state_dict()
        dist_utils.barrier()
        if self.is_main:
            with atomic_path(ckpt / "trainer_state.pt") as tmp:
                torch.save(state, tmp)
            old = sorted((self.out_dir / "checkpoints").glob("step_*"))[: -max(1, self.config.keep_last)]
            for path in old:
                shutil.rmtree(path, ignore_errors=True)
            log.info("saved checkpoint %s", ckpt)
        dist_utils.barrier()

    def _read_state(self, ckpt: Path) -> dict[str, Any]:
        try:
            return torch.load(ckpt / "trainer_state.pt", map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 — any unreadable state is a broken checkpoint
            raise CheckpointError(f"cannot read {ckpt / 'trainer_state.pt'}: {exc}") from exc

    def _load_full_weights(self, ckpt: Path) -> None:
        """Weights of a non-sharded checkpoint into the (not yet wrapped) model."""
        from safetensors.torch import load_model

        weights = ckpt / "model" / "model.safetensors"
        if not weights.is_file():
            raise CheckpointError(f"{ckpt} has no model/model.safetensors")
        load_model(self.model, str(weights), strict=False, device=str(self.device))

    def _load_optimizer(self, state: dict[str, Any], ckpt: Path, optimizer: torch.optim.Optimizer,
                        step_module: nn.Module) -> None:
        if state.get("sharded"):
            import torch.distributed.checkpoint as dcp
            from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

            msd, osd = get_state_dict(step_module, optimizer)
            with warnings.catch_warnings():  # "loading in a single process" when no process group exists
                warnings.simplefilter("ignore", UserWarning)
                dcp.load({"model": msd, "optim": osd}, checkpoint_id=str(ckpt / "dcp"))
            set_state_dict(step_module, optimizer, model_state_dict=msd, optim_state_dict=osd)
        elif self.strategy == "fsdp":  # a full checkpoint into a sharded run: name the optimizer state
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

            names = {id(p): n for n, p in step_module.named_parameters()}
            order = [names[id(p)] for g in optimizer.param_groups for p in g["params"]]
            saved = state["optimizer"]
            groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": [order[i] for i in g["params"]]}
                      for g in saved["param_groups"]]
            osd = {"state": {order[i]: s for i, s in saved["state"].items()}, "param_groups": groups}
            set_optimizer_state_dict(step_module, optimizer, osd, options=StateDictOptions(full_state_dict=True))
        else:
            optimizer.load_state_dict(state["optimizer"])

    def _restore_rng_and_data(self, state: dict[str, Any], stream: DataStream | None) -> None:
        cfg = self.config
        rng = state.get("rng")
        if rng is not None and len(rng) == self.world_size:
            set_rng_state(rng[self.rank])
        elif "torch_rng" in state and self.world_size == 1:  # the first trainer's (rank 0 only)
            import ast

            torch.set_rng_state(state["torch_rng"])
            np.random.set_state(("MT19937", np.array(state["numpy_rng"], dtype=np.uint32), state["numpy_rng_pos"], 0,
                                 0.0))
            import random

            random.setstate(_to_tuple(ast.literal_eval(state["python_rng"])))
        else:
            log.warning("resuming on %d process(es) from a checkpoint of %s: random streams re-seeded",
                        self.world_size, state.get("world_size", "?"))
            seed_everything(cfg.seed + 1000003 * self.rank + 7919 * self.step)
        if stream is None:
            return
        old = (int(state.get("batch_size", cfg.batch_size)) * int(state.get("world_size", 1))
               * int(state.get("grad_accum", cfg.grad_accum)))
        if "data_epoch" in state and old == stream.step_batch:
            self.position = StreamPosition(int(state["data_epoch"]), int(state["data_batch"]))
        elif "data_epoch" in state:  # another step batch: continue at the same sample position
            n = len(stream.epoch_batches(int(state["data_epoch"])))
            batch = math.ceil(int(state["data_batch"]) * old / stream.step_batch)
            self.position = StreamPosition(int(state["data_epoch"]), batch) if batch < n else \
                StreamPosition(int(state["data_epoch"]) + 1, 0)
            log.warning("the global batch changed (%d → %d samples per step): the data stream continues at epoch "
                        "%d, batch %d", old, stream.step_batch, self.position.epoch, self.position.batch)
        else:  # the first trainer's checkpoints: the steps taken so far
            self.position = stream.advance(StreamPosition(), self.step)

    # ------------------------------------------------------------------ gradients
    def _apply_grad_scales(self, scales: dict[str, torch.Tensor], step_module: nn.Module) -> None:
        """FSDP2: multiply the local gradient shards by the recorded gradient scales."""
        if not scales:
            return
        params = dict(step_module.named_parameters())
        for name, scale in scales.items():
            grad = params[name].grad
            if grad is None:
                continue
            local = grad.to_local() if hasattr(grad, "to_local") else grad
            scale = scale.to(local.device, local.dtype)
            if scale.shape[0] > 1 and local.shape[0] != scale.shape[0]:  # Shard(0): torch.chunk's rows
                rows = math.ceil(params[name].shape[0] / self.world_size)
                start = min(self.rank * rows, scale.shape[0])
                scale = scale[start : start + local.shape[0]]
            local.mul_(scale)

    def _clip(self, step_module: nn.Module) -> float:
        params = [p for p in step_module.parameters() if p.grad is not None]
        if not params:
            return 0.0
        norm = nn.utils.clip_grad_norm_(params, self.config.optim.grad_clip)
        if hasattr(norm, "full_tensor"):
            norm = norm.full_tensor()
        return float(norm)

    # ------------------------------------------------------------------ evaluation
    def _evaluate(self, step_module: nn.Module) -> dict[str, float] | None:
        if self.strategy != "fsdp" and not self.is_main:
            return None
        self.model.eval()
        try:
            with preserved_rng(), torch.no_grad(), self._autocast():  # bf16 runs validate in bf16 too
                if self.strategy == "fsdp":  # the root unit's parameters, gathered for direct model calls
                    step_module.unshard()
                    try:
                        metrics = self.eval_fn(self.model, self.step)  # type: ignore[misc]
                    finally:
                        step_module.reshard()
                else:
                    metrics = self.eval_fn(self.model, self.step)  # type: ignore[misc]
        finally:
            self.model.train()
        return metrics if self.is_main else None

    # ------------------------------------------------------------------ loop
    def fit(self, resume: bool = False) -> nn.Module:
        cfg = self.config
        self._init_distributed()
        self.device = resolve_device(cfg.device)
        self.strategy = self._resolve_strategy()
        # the model's own random streams (dropout, noise): one per process
        seed_everything(cfg.seed + self.rank)
        ckpt = self.latest_checkpoint() if resume else None
        if resume and ckpt is None:
            log.info("no checkpoint in %s: starting from scratch", self.out_dir)
        state = self._read_state(ckpt) if ckpt is not None else None
        if state is not None and not state.get("sharded"):
            self._load_full_weights(ckpt)  # type: ignore[arg-type]
        self.model.to(self.device)
        self.model.train()
        step_module = _StepModule(self.model)
        self._apply_block_options(step_module)
        scales: dict[str, torch.Tensor] = {}
        if self.strategy == "fsdp":
            scales = self._shard(step_module)
        optimizer = torch.optim.AdamW(
            self._param_groups(), lr=cfg.optim.lr, betas=tuple(cfg.optim.betas), eps=cfg.optim.eps
        )
        stream = None if self._legacy_loader() else self._stream()
        if state is not None:
            self._load_optimizer(state, ckpt, optimizer, step_module)  # type: ignore[arg-type]
            self.step = int(state["step"])
            self._restore_rng_and_data(state, stream)
            log.info("resumed from %s at step %d", ckpt, self.step)
        wrapped: nn.Module = step_module
        if self.strategy == "ddp":
            wrapped = nn.parallel.DistributedDataParallel(
                step_module, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=cfg.find_unused_parameters,
            )
        writer = None
        if self.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(self.out_dir / "tb"))
        n_train = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        n_total = sum(p.numel() for p in self.model.parameters())
        if self.is_main:
            log.info(
                "training %s: %s trainable of %s parameters, %d steps × batch %d × %d process(es) × %d accumulation "
                "(%s, %s) on %s", type(self.model).__name__, f"{n_train:,}", f"{n_total:,}", cfg.max_steps,
                cfg.batch_size, self.world_size, cfg.grad_accum, self.strategy, cfg.precision, self.device,
            )
        batches = self._batches(stream)
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
                for micro in range(cfg.grad_accum):
                    last = micro == cfg.grad_accum - 1
                    position, batch = next(batches)
                    batch = move_to(batch, self.device)
                    with self._sync(wrapped, last):
                        with self._autocast():
                            out = wrapped(batch, self.step)
                        loss = out["loss"].float() / cfg.grad_accum
                        if not torch.isfinite(loss):
                            raise FloatingPointError(f"loss became {loss.item()} at step {self.step} "
                                                     f"(rank {self.rank})")
                        loss.backward()
                    for k, v in out.items():
                        logs[k] = logs.get(k, 0.0) + float(v.detach().float()) / cfg.grad_accum
                    samples += _batch_size(batch) * self.world_size
                    if position is not None:
                        self.position = position
                self._apply_grad_scales(scales, step_module)
                if cfg.optim.grad_clip > 0:
                    logs["grad_norm"] = self._clip(step_module)
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
                    last_logs = _mean_over_processes({k: v / max(1, n) for k, v in running.items()})
                    running = {}
                    if self.is_main:
                        log.info(
                            "step %d/%d  lr %.2e  %s", self.step, cfg.max_steps, lr,
                            "  ".join(f"{k} {v:.4g}" for k, v in last_logs.items()),
                        )
                if self.eval_fn is not None and cfg.eval_every and self.step % cfg.eval_every == 0:
                    metrics = self._evaluate(step_module)
                    if metrics is not None:
                        log.info("eval at step %d: %s", self.step, metrics)
                        if writer is not None:
                            for k, v in metrics.items():
                                writer.add_scalar(f"eval/{k}", v, self.step)
                if cfg.save_every and self.step % cfg.save_every == 0 and self.step < cfg.max_steps:
                    self._save(optimizer, step_module)
        finally:
            progress.close()
            if writer is not None:
                writer.close()
        self._save(optimizer, step_module)
        self.model.eval()
        self._save_model(self.out_dir / "final", step_module)
        if self.is_main:
            write_json(
                self.out_dir / "train_summary.json",
                {
                    "model": type(self.model).__name__,
                    "steps": self.step,
                    "batch_size_per_process": cfg.batch_size,
                    "grad_accum": cfg.grad_accum,
                    "world_size": self.world_size,
                    "strategy": self.strategy,
                    "precision": cfg.precision,
                    "samples_this_run": samples,
                    "wall_seconds_this_run": round(time.time() - started, 1),
                    "device": str(self.device),
                    "trainable_parameters": n_train,
                    "total_parameters": n_total,
                    "last_logged": last_logs,
                    "config": to_dict(self.run_config) if self.run_config is not None else to_dict(cfg),
                },
            )
        dist_utils.barrier()
        return self.model

    def _sync(self, wrapped: nn.Module, last: bool) -> contextlib.AbstractContextManager:
        """Gradient synchronisation only on the last micro-batch of an accumulation."""
        if last or self.strategy == "single":
            if self.strategy == "fsdp":
                wrapped.set_requires_gradient_sync(True)  # type: ignore[operator]
            return contextlib.nullcontext()
        if self.strategy == "ddp":
            return wrapped.no_sync()  # type: ignore[operator]
        wrapped.set_requires_gradient_sync(False)  # type: ignore[operator]
        return contextlib.nullcontext()


def _mean_over_processes(logs: dict[str, float]) -> dict[str, float]:
    """Per-key means over the processes that logged the key (rank 0's keys, in its order)."""
    gathered = dist_utils.all_gather_objects(logs)
    if len(gathered) == 1:
        return logs
    out = {}
    for k in gathered[0]:
        vals = [g[k] for g in gathered if k in g]
        out[k] = sum(vals) / len(vals)
    return out


def _batch_size(batch: Any) -> int:
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0])
    if isinstance(batch, dict):
        for v in batch.values():
            if isinstance(v, torch.Tensor):
                return int(v.shape[0])
            if isinstance(v, (list, tuple)):
                return len(v)
    if isinstance(batch, (list, tuple)):
        return len(batch)
    return 0


def _to_tuple(obj: Any) -> Any:
    if isinstance(obj, (list, tuple)):
        return tuple(_to_tuple(v) for v in obj)
    return obj


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
