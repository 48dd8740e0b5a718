"""The trainer's data stream: step batches, split into micro-batches and processes, every sample keyed.

An epoch is a list of **step batches** of ``batch_size × world_size × grad_accum`` dataset indices (a seeded
permutation cut into batches, or the batches of a recipe's sampler such as length buckets): the samples of
one optimizer step. Micro-batch ``m`` (of ``grad_accum``) of step batch ``j`` takes positions
``[m·B·W, (m+1)·B·W)`` of it, and process ``r`` the slice ``[r·B, (r+1)·B)`` of those. So one process with
batch 8, two processes with batch 4, and one process with batch 4 × 2 accumulation steps see the same
samples at every optimizer step.

Every sample is fetched under the key ``(seed, epoch, position in the epoch)`` and every collate under a key
of its first sample (:func:`unimotion.utils.seed.keyed_draws`): random crops, caption choices and
collate-time draws depend only on that key — not on the process, the data-loader worker, or whether the
run was resumed — and data loading never advances the model's random streams. Resuming needs only the
stream position (epoch, next step batch), which the trainer checkpoints; nothing is replayed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from ..errors import ConfigError
from ..utils.seed import key_seed, keyed_draws

# (epoch, step batch size) -> the epoch's step batches (lists of dataset indices)
BatchSampler = Callable[[int, int], Iterable[Sequence[int]]]


def random_batches(num_items: int, seed: int) -> BatchSampler:
    """A new seeded permutation every epoch, cut into step batches; the last incomplete batch is dropped
    unless the whole set is smaller than one batch (then it is the only batch)."""

    def batches(epoch: int, step_batch: int) -> list[list[int]]:
        order = np.random.default_rng([int(seed), int(epoch)]).permutation(num_items)
        full = (num_items // step_batch) * step_batch
        out = [order[i : i + step_batch].tolist() for i in range(0, full, step_batch)]
        return out or ([order.tolist()] if num_items else [])

    return batches


@dataclass
class StreamPosition:
    """Where the stream continues: step batch ``batch`` of epoch ``epoch``."""

    epoch: int = 0
    batch: int = 0


class KeyedDataset(Dataset):
    """``dataset[index]`` fetched under ``keyed_draws(key)`` for items ``(index, key)``; returns ``(key, item)``."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index_key: tuple[int, tuple[int, ...]]) -> tuple[tuple[int, ...], Any]:
        index, key = index_key
        with keyed_draws(key):
            return key, self.dataset[index]


class KeyedCollate:
    """Collates the items of :class:`KeyedDataset` under a key derived from the batch's first sample."""

    def __init__(self, collate_fn: Callable[[list[Any]], Any] | None):
        self.collate_fn = collate_fn or default_collate

    def __call__(self, pairs: list[tuple[tuple[int, ...], Any]]) -> Any:
        keys = [k for k, _ in pairs]
        with keyed_draws((*keys[0], len(pairs), 1)):
            return self.collate_fn([item for _, item in pairs])


class DataStream:
    """Endless micro-batches of one process (see the module docstring).

    Args:
        dataset: map-style dataset.
        batch_size: samples per process per micro-batch (B).
        seed: the run's seed (epoch permutations and sample keys).
        rank, world_size: this process and the number of processes (W).
        grad_accum: micro-batches per optimizer step (A).
        batch_sampler: the epochs' step batches (default: :func:`random_batches`). With several processes
            or accumulation steps only complete step batches are used.
        collate_fn, num_workers, pin_memory: as for :class:`torch.utils.data.DataLoader`.
    """

    def __init__(self, dataset: Dataset, batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                 grad_accum: int = 1, batch_sampler: BatchSampler | None = None, collate_fn: Callable | None = None,
                 num_workers: int = 0, pin_memory: bool = False):
        if batch_size < 1 or grad_accum < 1:
            raise ConfigError(f"batch_size and grad_accum must be >= 1, got {batch_size}, {grad_accum}")
        self.dataset = dataset
        self.batch_size, self.seed = int(batch_size), int(seed)
        self.rank, self.world_size, self.grad_accum = int(rank), int(world_size), int(grad_accum)
        self.micro_batch = self.batch_size * self.world_size  # samples of one micro-batch, all processes
        self.step_batch = self.micro_batch * self.grad_accum  # samples of one optimizer step
        self.batch_sampler = batch_sampler or random_batches(len(dataset), self.seed)  # type: ignore[arg-type]
        self.collate_fn, self.num_workers, self.pin_memory = collate_fn, int(num_workers), pin_memory
        self._epochs: dict[int, list[list[int]]] = {}

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """The step batches of ``epoch`` (cached for the epoch in use)."""
        if epoch not in self._epochs:
            batches = [[int(i) for i in b] for b in self.batch_sampler(epoch, self.step_batch)]
            if self.world_size > 1 or self.grad_accum > 1:
                batches = [b for b in batches if len(b) == self.step_batch]
            else:
                batches = [b for b in batches if b]
            if not batches:
                raise ConfigError(
                    f"the training set ({len(self.dataset)} samples) gives no complete step batch of "  # type: ignore[arg-type]
                    f"{self.step_batch} samples (batch_size {self.batch_size} × {self.world_size} processes × "
                    f"{self.grad_accum} accumulation steps)")
            self._epochs = {epoch: batches}
        return self._epochs[epoch]

    def advance(self, position: StreamPosition, steps: int) -> StreamPosition:
        """The position ``steps`` step batches after ``position`` (no data is loaded)."""
        epoch, batch = position.epoch, position.batch
        left = int(steps)
        while left > 0:
            n = len(self.epoch_batches(epoch))
            take = min(left, n - batch)
            batch += take
            left -= take
            if batch >= n:
                epoch, batch = epoch + 1, 0
        return StreamPosition(epoch, batch)

    def _micro_slices(self, epoch: int, start: int) -> list[list[tuple[int, tuple[int, ...]]]]:
        """This process's micro-batches of the epoch's step batches from ``start`` on, as (index, key) lists."""
        out = []
        for j, batch in enumerate(self.epoch_batches(epoch)[start:], start):
            if len(batch) < self.step_batch:  # one process, one micro-batch: a set smaller than a batch
                spans = [(0, len(batch))]
            else:
                lo = self.rank * self.batch_size
                spans = [(m * self.micro_batch + lo, m * self.micro_batch + lo + self.batch_size)
                         for m in range(self.grad_accum)]
            for a, b in spans:
                out.append([(batch[p], (self.seed, epoch, j * self.step_batch + p)) for p in range(a, b)])
        return out

    def iterate(self, position: StreamPosition) -> Iterator[tuple[StreamPosition, Any]]:
        """Yields ``(position after this micro-batch's step batch, micro-batch)`` from ``position`` on,
        forever (``grad_accum`` micro-batches per step batch)."""
        epoch, start = position.epoch, position.batch
        while True:
            slices = self._micro_slices(epoch, start)
            n = len(self.epoch_batches(epoch))
            loader = DataLoader(
                KeyedDataset(self.dataset),
                batch_sampler=slices,
                collate_fn=KeyedCollate(self.collate_fn),
                num_workers=self.num_workers,
                pin_memory=self.pin_memory,
                # the loader's base seed comes from this generator, not from the global torch stream
                generator=torch.Generator().manual_seed(key_seed((self.seed, epoch, 2))),
            )
            for k, batch in enumerate(loader):
                j = start + k // self.grad_accum
                yield (StreamPosition(epoch, j + 1) if j + 1 < n else StreamPosition(epoch + 1, 0)), batch
            epoch, start = epoch + 1, 0
