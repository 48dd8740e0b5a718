"""The keyed data stream: the same samples per optimizer step whatever the split into processes and
accumulation steps; draws keyed by the stream position; skipping ahead without loading; seeding helpers."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from unimotion.errors import ConfigError
from unimotion.training.data_stream import DataStream, StreamPosition, random_batches
from unimotion.utils.seed import current_sample_key, item_rng, keyed_draws, rng_state, set_rng_state


class _Items(Dataset):
    """Item i → (i, a keyed dataset draw, a global torch draw, a NumPy draw, a Python draw)."""

    def __init__(self, n: int):
        self.n = n
        self.fetched: list[int] = []

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        self.fetched.append(i)
        return {"i": i, "crop": int(item_rng(5, i).integers(1 << 30)), "t": torch.rand(()),
                "np": float(np.random.rand()), "py": random.random()}


def _steps(stream: DataStream, n_steps: int, start: StreamPosition | None = None) -> list[list[dict]]:
    """The samples of each optimizer step (every micro-batch of this process), as item dicts."""
    it = stream.iterate(start or StreamPosition())
    out = []
    for _ in range(n_steps):
        items: list[dict] = []
        for _ in range(stream.grad_accum):
            _, batch = next(it)
            for k in range(len(batch["i"])):
                items.append({key: (v[k].item() if isinstance(v, torch.Tensor) else v[k]) for key, v in batch.items()})
        out.append(items)
    return out


def test_processes_and_accumulation_see_the_same_samples_and_draws():
    ds = _Items(21)
    n_steps = 7  # beyond one epoch (2 step batches of 8 per epoch)
    one = _steps(DataStream(ds, 8, seed=3), n_steps)
    accum = _steps(DataStream(ds, 4, seed=3, grad_accum=2), n_steps)
    r0 = _steps(DataStream(ds, 4, seed=3, rank=0, world_size=2), n_steps)
    r1 = _steps(DataStream(ds, 4, seed=3, rank=1, world_size=2), n_steps)
    quad = [_steps(DataStream(ds, 1, seed=3, rank=r, world_size=4, grad_accum=2), n_steps) for r in range(4)]
    for s in range(n_steps):
        assert accum[s] == one[s]
        assert r0[s] + r1[s] == one[s]
        assert sorted(sum((q[s] for q in quad), []), key=lambda d: d["i"]) == sorted(one[s], key=lambda d: d["i"])
        assert len({d["i"] for d in one[s]}) == 8  # no sample twice in a step
    # a new permutation (and new draws) every epoch; draws differ between samples
    assert [d["i"] for d in one[0]] != [d["i"] for d in one[2]]
    assert len({d["t"] for st in one for d in st}) == n_steps * 8
    # another seed: another order
    other = _steps(DataStream(ds, 8, seed=4), 1)
    assert [d["i"] for d in other[0]] != [d["i"] for d in one[0]]


def test_skipping_ahead_loads_nothing_and_resumes_the_stream():
    ds = _Items(21)
    stream = DataStream(ds, 4, seed=0, grad_accum=2)
    full = _steps(stream, 6)
    ds.fetched.clear()
    pos = stream.advance(StreamPosition(), 4)
    assert pos == StreamPosition(2, 0) and ds.fetched == []  # 2 step batches of 8 per epoch of 21
    assert _steps(stream, 2, pos) == full[4:6]
    assert stream.advance(StreamPosition(0, 1), 1) == StreamPosition(1, 0)


def test_model_streams_are_untouched_by_data_loading():
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    _steps(DataStream(_Items(10), 4, seed=1), 3)
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(got[0], expected[0]) and np.array_equal(got[1], expected[1]) and got[2] == expected[2]


def test_workers_give_the_same_batches_as_the_main_process():
    ds = _Items(12)
    main = _steps(DataStream(ds, 4, seed=2), 4)
    workers = _steps(DataStream(ds, 4, seed=2, num_workers=2), 4)
    assert workers == main


def test_small_sets_and_incomplete_batches():
    # one process: a set smaller than the batch is one (partial) batch
    assert random_batches(3, 0)(0, 8) and len(random_batches(3, 0)(0, 8)[0]) == 3
    assert [len(b) for b in random_batches(10, 0)(0, 4)] == [4, 4]  # the incomplete last batch is dropped
    assert len(_steps(DataStream(_Items(3), 8, seed=0), 2)[1]) == 3
    # several processes (or accumulation): complete step batches only
    with pytest.raises(ConfigError, match="no complete step batch of 8 samples"):
        DataStream(_Items(6), 4, seed=0, rank=0, world_size=2).epoch_batches(0)
    with pytest.raises(ConfigError, match="accumulation"):
        DataStream(_Items(6), 4, seed=0, grad_accum=2).epoch_batches(0)
    # a sampler's incomplete batches are skipped under several processes
    stream = DataStream(_Items(10), 2, seed=0, world_size=2, batch_sampler=lambda e, n: [[0, 1, 2, 3], [4, 5]])
    assert stream.epoch_batches(0) == [[0, 1, 2, 3]]


def test_item_rng_and_keyed_draws():
    assert current_sample_key() is None
    a = item_rng(1, 2, counter=3).integers(1 << 30)
    assert item_rng(1, 2, counter=3).integers(1 << 30) == a  # no process id, no clock
    assert item_rng(1, 2, counter=4).integers(1 << 30) != a
    with keyed_draws((0, 1, 2)):
        assert current_sample_key() == (0, 1, 2)
        k1 = (item_rng(1, 2, counter=3).integers(1 << 30), torch.rand(()).item())
    with keyed_draws((0, 1, 2)):
        k2 = (item_rng(1, 2, counter=99).integers(1 << 30), torch.rand(()).item())  # the key decides
    with keyed_draws((0, 1, 3)):
        k3 = (item_rng(1, 2).integers(1 << 30), torch.rand(()).item())
    assert k1 == k2 and k1 != k3 and current_sample_key() is None


def test_rng_state_round_trip(tmp_path):
    state = rng_state()
    torch.save(state, tmp_path / "rng.pt")
    want = (torch.rand(2), np.random.rand(2), random.random())
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    got = (torch.rand(2), np.random.rand(2), random.random())
    assert torch.equal(want[0], got[0]) and np.array_equal(want[1], got[1]) and want[2] == got[2]
