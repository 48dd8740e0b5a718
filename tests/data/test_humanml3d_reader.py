"""The HumanML3D-layout reader and the torch datasets on a fixture in the exact HumanML3D format."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unimotion.data.datasets import (
    LengthBucketSampler,
    MotionDataset,
    TextMotionDataset,
    collate,
    crop_length,
)
from unimotion.data.humanml3d import HumanML3DReader, parse_text_file
from unimotion.errors import DatasetError


def _write_fixture(root, lengths, dim=263):
    """A folder exactly as HumanML3D ships it (texts with POS tokens and #start#end tags)."""
    rng = np.random.default_rng(0)
    (root / "new_joint_vecs").mkdir(parents=True)
    (root / "texts").mkdir()
    ids = []
    for i, length in enumerate(lengths):
        name = f"{i:06d}"
        ids.append(name)
        np.save(root / "new_joint_vecs" / f"{name}.npy", rng.normal(size=(length, dim)).astype(np.float32))
        lines = [
            "a man kicks something or someone with his left leg.#a/DET man/NOUN kick/VERB something/PRON or/CCONJ "
            "someone/PRON with/ADP his/DET left/ADJ leg/NOUN#0.0#0.0",
            "the person walks forward then turns#the/DET person/NOUN walk/VERB forward/ADV then/ADV turn/VERB#nan#nan",
        ]
        if i == 0:  # a sub-clip tag: seconds 1.0-4.0 at 20 fps = frames 20..80
            lines.append("a person jumps#a/DET person/NOUN jump/VERB#1.0#4.0")
            lines.append("too short a clip#too/ADV short/ADJ a/DET clip/NOUN#1.0#2.0")
        (root / "texts" / f"{name}.txt").write_text("\n".join(lines) + "\n")
    np.save(root / "Mean.npy", np.zeros(dim, np.float32))
    np.save(root / "Std.npy", np.ones(dim, np.float32))
    (root / "train.txt").write_text("\n".join(ids + ["missing_id"]) + "\n")
    return ids


def test_reader_follows_text2motion_rules(tmp_path):
    _write_fixture(tmp_path, [120, 30, 199, 200, 60])
    reader = HumanML3DReader(tmp_path, "train")
    names = sorted(r.name for r in reader.records)
    # 30 < 40 and 200 >= 200 are dropped; 199 is kept; the 1.0-4.0 s sub-clip becomes its own sample,
    # the 1.0-2.0 s one (20 frames) is too short.
    assert names == ["000000", "000000#20-80", "000002", "000004"]
    sub = next(r for r in reader.records if r.name == "000000#20-80")
    assert sub.length == 60 and sub.captions[0].text == "a person jumps"
    whole = next(r for r in reader.records if r.name == "000000")
    assert len(whole.captions) == 2  # the 0.0#0.0 line and the nan#nan line
    assert whole.captions[0].tokens[1] == "man/NOUN"


def test_reader_errors(tmp_path):
    with pytest.raises(DatasetError, match="not a HumanML3D-layout folder"):
        HumanML3DReader(tmp_path, "train")
    _write_fixture(tmp_path, [30])
    with pytest.raises(DatasetError, match="no usable motion"):
        HumanML3DReader(tmp_path, "train")
    with pytest.raises(DatasetError, match="split file"):
        HumanML3DReader(tmp_path, "test")
    (tmp_path / "texts" / "000000.txt").write_text("no separators here\n")
    with pytest.raises(DatasetError, match="000000.txt:1"):
        parse_text_file(tmp_path / "texts" / "000000.txt")


def test_crop_length_units():
    rng = np.random.default_rng(0)
    lengths = {crop_length(61, 4, rng) for _ in range(200)}
    assert lengths == {60, 56}
    assert crop_length(61, 4, rng, random_shorter=False) == 60


def test_text_motion_dataset_and_collate(tmp_path):
    _write_fixture(tmp_path, [120, 77, 199])
    reader = HumanML3DReader(tmp_path, "train")
    ds = TextMotionDataset(reader, unit_length=4, max_length=196, random_crop=False)
    items = [ds[i] for i in range(len(ds))]
    assert all(it["motion"].shape[0] % 4 == 0 and it["motion"].shape[0] <= 196 for it in items)
    batch = collate(items)
    assert batch["motion"].shape[0] == len(items) and batch["mask"].dtype == torch.bool
    assert torch.equal(batch["length"], torch.tensor([it["motion"].shape[0] for it in items]))
    # padding is zero and masked out
    short = int(batch["length"].argmin())
    assert not batch["mask"][short, -1] and batch["motion"][short, -1].abs().sum() == 0
    # deterministic crops for evaluation, normalised with the folder stats (zeros/ones here)
    np.testing.assert_allclose(ds[0]["motion"].numpy(), ds[0]["motion"].numpy())
    motion_only = MotionDataset(reader, unit_length=1, random_crop=True)
    assert len(motion_only) == len(reader.records)


def test_length_bucket_sampler_groups_lengths():
    lengths = np.random.default_rng(1).integers(40, 196, size=1000)
    sampler = LengthBucketSampler(lengths, batch_size=32, pool_factor=10, seed=0)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    spread = np.mean([np.ptp(lengths[b]) for b in batches if len(b) == 32])
    assert spread < 0.3 * np.ptp(lengths)  # random batches would span almost the whole range
    sampler.set_epoch(1)
    assert [b for b in sampler] != batches
