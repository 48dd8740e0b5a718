"""Process-group helpers for ``torchrun`` launches (PyTorch's own engine: ``torch.distributed``).

``torchrun --nproc_per_node N -m unimotion.cli train ...`` starts N processes with ``RANK``, ``LOCAL_RANK``,
``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` set; a plain ``unimotion train ...`` is one process and
none of this does anything. The process group uses NCCL on GPUs and gloo on CPUs.

Recipes use :func:`main_process_first` around work that writes shared files (latent caches, tokenizers):
rank 0 does it, the other ranks wait and then read what rank 0 wrote.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import torch


def world_size() -> int:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return int(os.environ.get("WORLD_SIZE", 1))


def rank() -> int:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    return int(os.environ.get("RANK", 0))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", 0))


def is_main_process() -> bool:
    return rank() == 0


def is_initialized() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def resolve_device(name: str) -> torch.device:
    """``auto``: this process's GPU (``cuda:LOCAL_RANK``) when CUDA is available, else the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank())
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank())
    return device


def init_distributed(device: torch.device | None = None, timeout_minutes: float = 30.0) -> bool:
    """Join the process group when launched by torchrun with ``WORLD_SIZE > 1`` (idempotent).

    Returns whether a process group is active. On CUDA the process's device is set to ``LOCAL_RANK``'s.
    """
    if is_initialized():
        return True
    if int(os.environ.get("WORLD_SIZE", 1)) <= 1:
        return False
    device = device if device is not None else resolve_device("auto")
    if device.type == "cuda":
        torch.cuda.set_device(device)
        backend = "cpu:gloo,cuda:nccl"  # gloo for the few CPU collectives (RNG states, logs)
    else:
        backend = "gloo"
    torch.distributed.init_process_group(backend=backend, timeout=timedelta(minutes=timeout_minutes))
    return True


def barrier() -> None:
    if is_initialized():
        torch.distributed.barrier()


def cleanup() -> None:
    """Leave the process group (after a barrier, so that no rank tears it down under another)."""
    if is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


@contextlib.contextmanager
def main_process_first() -> Iterator[None]:
    """Rank 0 runs the block first; the other ranks run it after rank 0 has finished (then typically read
    the files rank 0 wrote instead of recomputing them)."""
    if not is_initialized():
        yield
        return
    if not is_main_process():
        torch.distributed.barrier()
    yield  # an error on rank 0 skips its barrier: torchrun then stops the waiting ranks
    if is_main_process():
        torch.distributed.barrier()


def all_gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order; ``[obj]`` in a single process."""
    if not is_initialized():
        return [obj]
    out: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(out, obj)
    return out
