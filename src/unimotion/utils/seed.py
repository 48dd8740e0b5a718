"""Seeding: every random choice in unimotion takes a seed; no process id or wall clock enters a random stream.

Three pieces:

* :func:`seed_everything` seeds Python, NumPy and torch (CPU and CUDA) — recipes call it before they build
  any model or data object, so that two runs from the same seed start from the same weights.
* **Sample keys.** The :class:`~unimotion.training.trainer.Trainer` fetches every training sample under a
  key ``(seed, epoch, position in the epoch)`` (:func:`keyed_draws`): inside, the global torch (CPU), NumPy
  and Python generators are re-seeded from the key, and :func:`item_rng` gives datasets a generator seeded
  by (their seed, item index, key). A sample's random crop therefore depends on where it sits in the data
  stream — not on which process, data-loader worker or resumed run loads it — and the training stream of
  the model's own draws (dropout, noise) is left untouched by data loading.
* :func:`rng_state` / :func:`set_rng_state` capture and restore every global generator (checkpoints).
"""

from __future__ import annotations

import contextlib
import contextvars
import random
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

_SAMPLE_KEY: contextvars.ContextVar[tuple[int, ...] | None] = contextvars.ContextVar("unimotion_sample_key",
                                                                                    default=None)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and, when present, CUDA)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def key_seed(key: Sequence[int]) -> int:
    """A 63-bit seed derived from a tuple of non-negative integers (NumPy's SeedSequence hashing)."""
    words = np.random.SeedSequence([int(k) for k in key]).generate_state(2, np.uint32)
    return (int(words[0]) << 31) ^ int(words[1])


def current_sample_key() -> tuple[int, ...] | None:
    """The key of the sample being fetched by the trainer (None outside a keyed fetch)."""
    return _SAMPLE_KEY.get()


@contextlib.contextmanager
def keyed_draws(key: Sequence[int]) -> Iterator[None]:
    """Run the block with the global torch-CPU, NumPy and Python generators seeded from ``key``; restore
    them afterwards. Sets :func:`current_sample_key`. CUDA generators are not touched."""
    key = tuple(int(k) for k in key)
    seed = key_seed(key)
    torch_state = torch.get_rng_state()
    np_state = np.random.get_state()
    py_state = random.getstate()
    token = _SAMPLE_KEY.set(key)
    torch.default_generator.manual_seed(seed)  # CPU only: torch.manual_seed would also re-seed CUDA
    np.random.seed(seed % (2**32))
    random.seed(seed)
    try:
        yield
    finally:
        _SAMPLE_KEY.reset(token)
        torch.set_rng_state(torch_state)
        np.random.set_state(np_state)
        random.setstate(py_state)


def item_rng(seed: int, index: int, counter: int = 0) -> np.random.Generator:
    """The generator of one random dataset item.

    Under the trainer (a keyed fetch): seeded by ``(seed, index, *sample key)`` — reproducible across
    processes, data-loader workers and resumed runs. Elsewhere: by ``(seed, index, counter, worker)`` where
    ``counter`` is the dataset's own call count and ``worker`` the data-loader worker (0 in the main
    process), so the same seed gives the same sequence of draws in every run.
    """
    key = _SAMPLE_KEY.get()
    if key is not None:
        return np.random.default_rng([int(seed), int(index), *key])
    worker = torch.utils.data.get_worker_info()
    return np.random.default_rng([int(seed), int(index), int(counter), 0 if worker is None else worker.id + 1])


# ------------------------------------------------------------------------------------------ capture / restore
def rng_state() -> dict[str, Any]:
    """Every global generator of this process: torch CPU, every CUDA device, NumPy's legacy, Python's.

    Only tensors, ints, floats, strings, tuples and lists (``torch.load(weights_only=True)`` reads it back).
    """
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": (str(kind), torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss),
                  float(gauss)),
        "python": _to_tuple(random.getstate()),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), int(pos), int(has_gauss), float(gauss)))
    random.setstate(_to_tuple(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        cuda = list(state["cuda"])
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Run the block and put every global generator back as it was (e.g. around a validation hook)."""
    state = rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


def _to_tuple(obj: Any) -> Any:
    if isinstance(obj, (list, tuple)):
        return tuple(_to_tuple(v) for v in obj)
    return obj
