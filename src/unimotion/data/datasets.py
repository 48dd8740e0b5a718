"""Torch datasets over HumanML3D-layout folders, collate functions with masks, and length bucketing.

Samples are dicts; :func:`collate` pads every variable-length tensor field and adds masks:

    motion   (B, T_max, D) normalised features, zero padded
    mask     (B, T_max) bool, True on valid frames
    length   (B,) int64
    caption  list[str];  tokens list[tuple[str, ...]];  name list[str]
    images   (B, V, 3, H, W) float in [0, 1]   (image–motion pairs)
    ...

Cropping follows text-to-motion's ``Text2MotionDatasetV2``: the length is cut to a multiple of
``unit_length`` (one unit shorter with probability 1/3), from a random start.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from ..motion.stats import NormStats
from ..utils.io import load_npy
from ..utils.seed import item_rng
from .humanml3d import HumanML3DReader, MotionRecord


def crop_length(length: int, unit_length: int, rng: np.random.Generator, random_shorter: bool = True) -> int:
    """Length rounded down to a multiple of ``unit_length``; one unit less with probability 1/3."""
    if unit_length <= 1:
        return length
    units = length // unit_length
    if random_shorter and units > 1 and rng.integers(3) == 2:
        units -= 1
    return max(unit_length, units * unit_length)


class TextMotionDataset(Dataset):
    """(caption, motion) pairs. Each item draws one of the motion's captions at random.

    Args:
        reader: a loaded :class:`HumanML3DReader`.
        stats: normalisation (defaults to the folder's Mean/Std).
        unit_length: crop to multiples of this (4 for HumanML3D-style models; 1 disables cropping).
        max_length: hard cap on frames (196); longer motions get a random window.
        random_crop: False gives deterministic crops (start 0, no shortening) for evaluation.
        seed: base seed. Random items draw from :func:`unimotion.utils.seed.item_rng`: under the trainer a
            generator seeded by (seed, index, the sample's place in the data stream), so a resumed run or
            another number of processes/workers cuts the same crops; elsewhere (seed, index, call count).
    """

    def __init__(
        self,
        reader: HumanML3DReader,
        stats: NormStats | None = None,
        unit_length: int = 4,
        max_length: int = 196,
        random_crop: bool = True,
        seed: int = 0,
    ):
        self.records: list[MotionRecord] = [r for r in reader.records if r.captions]
        self.stats = stats or reader.stats()
        self.unit_length, self.max_length = unit_length, max_length
        self.random_crop, self.seed = random_crop, seed
        self._calls = 0

    def __len__(self) -> int:
        return len(self.records)

    def _rng(self, index: int) -> np.random.Generator:
        if not self.random_crop:
            return np.random.default_rng([self.seed, index])
        self._calls += 1
        return item_rng(self.seed, index, self._calls)

    def crop(self, motion: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        length = min(len(motion), self.max_length)
        length = crop_length(length, self.unit_length, rng, random_shorter=self.random_crop)
        start = int(rng.integers(0, len(motion) - length + 1)) if self.random_crop else 0
        return motion[start : start + length], start

    def __getitem__(self, index: int) -> dict[str, Any]:
        record = self.records[index]
        rng = self._rng(index)
        caption = record.captions[int(rng.integers(len(record.captions)))] if self.random_crop else record.captions[0]
        motion, start = self.crop(record.motion, rng)
        return {
            "motion": torch.from_numpy(self.stats.normalize(motion).astype(np.float32)),
            "caption": caption.text,
            "tokens": caption.tokens,
            "name": record.name,
            "start": start,
        }


class MotionDataset(TextMotionDataset):
    """Motions alone (autoencoder training): every record, captions optional."""

    def __init__(self, reader: HumanML3DReader, **kwargs: Any):
        super().__init__(reader, **kwargs)
        self.records = list(reader.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        record = self.records[index]
        motion, start = self.crop(record.motion, self._rng(index))
        return {
            "motion": torch.from_numpy(self.stats.normalize(motion).astype(np.float32)),
            "name": record.name,
            "start": start,
        }


def load_views(root: str | os.PathLike, source_id: str, kind: str = "images") -> dict[str, np.ndarray] | None:
    """The rendered views of a motion written by the BandaiML builder (``renders/<kind>/<id>.npz``)."""
    path = Path(root) / "renders" / kind / f"{source_id}.npz"
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


class ImageMotionDataset(TextMotionDataset):
    """Motions with rendered single frames (CMA-VAE's DPA, vision→motion/text tasks).

    Adds ``images`` (V, 3, H, W) in [0, 1], ``image_frame`` (V,) frame index within the *cropped*
    motion (−1 when the frame fell outside the crop), ``joints_2d`` (V, J, 2) pixel coordinates,
    ``has_image`` (V,) bool. Motions without renders get ``has_image`` all False.
    """

    def __init__(self, reader: HumanML3DReader, views_per_sample: int = 1, **kwargs: Any):
        super().__init__(reader, **kwargs)
        self.records = list(reader.records)
        self.root = Path(reader.root)
        self.views_per_sample = views_per_sample
        self._views: dict[str, dict[str, np.ndarray] | None] = {}

    def _get_views(self, source_id: str) -> dict[str, np.ndarray] | None:
        if source_id not in self._views:
            self._views[source_id] = load_views(self.root, source_id, "images")
        return self._views[source_id]

    def __getitem__(self, index: int) -> dict[str, Any]:
        record = self.records[index]
        rng = self._rng(index)
        motion, start = self.crop(record.motion, rng)
        item: dict[str, Any] = {
            "motion": torch.from_numpy(self.stats.normalize(motion).astype(np.float32)),
            "name": record.name,
            "start": start,
        }
        if record.captions:
            caption = record.captions[int(rng.integers(len(record.captions)))]
            item["caption"], item["tokens"] = caption.text, caption.tokens
        views = self._get_views(record.source_id)
        v = self.views_per_sample
        if views is None:
            item["images"] = torch.zeros(v, 3, 1, 1)
            item["image_frame"] = torch.full((v,), -1, dtype=torch.long)
            item["joints_2d"] = torch.zeros(v, 22, 2)
            item["has_image"] = torch.zeros(v, dtype=torch.bool)
            return item
        frames = views["frame_index"] - record.start - start  # index within the cropped motion
        inside = np.flatnonzero((frames >= 0) & (frames < len(motion)))
        pool = inside if len(inside) else np.arange(len(frames))
        pick = rng.choice(pool, size=v, replace=len(pool) < v) if self.random_crop else pool[:v]
        pick = np.resize(pick, v)
        images = views["images"][pick].astype(np.float32) / 255.0
        frame = frames[pick]
        valid = (frame >= 0) & (frame < len(motion))
        item["images"] = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
        item["image_frame"] = torch.from_numpy(np.where(valid, frame, -1)).long()
        item["joints_2d"] = torch.from_numpy(views["joints_2d"][pick].astype(np.float32))
        item["has_image"] = torch.from_numpy(valid)
        return item


def pad_stack(tensors: Sequence[torch.Tensor], pad_value: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad a list of (T_i, ...) tensors to (B, T_max, ...); returns (padded, mask (B, T_max))."""
    lengths = torch.tensor([t.shape[0] for t in tensors], dtype=torch.long)
    t_max = int(lengths.max()) if len(lengths) else 0
    out = tensors[0].new_full((len(tensors), t_max, *tensors[0].shape[1:]), pad_value)
    for i, t in enumerate(tensors):
        out[i, : t.shape[0]] = t
    mask = torch.arange(t_max)[None, :] < lengths[:, None]
    return out, mask


def collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Pads ``motion`` (adds ``mask`` and ``length``), stacks fixed-size tensors, lists everything else."""
    out: dict[str, Any] = {}
    motion, mask = pad_stack([b["motion"] for b in batch])
    out["motion"], out["mask"] = motion, mask
    out["length"] = mask.sum(1)
    for key in batch[0]:
        if key == "motion":
            continue
        values = [b[key] for b in batch]
        if isinstance(values[0], torch.Tensor):
            shapes = {tuple(v.shape) for v in values}
            if len(shapes) == 1:
                out[key] = torch.stack(values)
            else:  # variable leading length: pad
                out[key], out[f"{key}_mask"] = pad_stack(values)
        elif isinstance(values[0], (int, float)) and not isinstance(values[0], bool):
            out[key] = torch.tensor(values)
        else:
            out[key] = values
    return out


class LengthBucketSampler(Sampler[list[int]]):
    """Batches of similar lengths (less padding): sort by length inside random pools, then shuffle batches.

    Args:
        lengths: length of each item.
        batch_size: items per batch.
        pool_factor: pools of ``batch_size * pool_factor`` random items are sorted by length.
        drop_last: drop a final incomplete batch.
        seed: shuffling seed; call :meth:`set_epoch` for a new order each epoch.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, pool_factor: int = 50, drop_last: bool = False, seed: int = 0):
        self.lengths = np.asarray(lengths)
        self.batch_size, self.pool_factor, self.drop_last, self.seed = batch_size, pool_factor, drop_last, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(len(self.lengths))
        pool = self.batch_size * self.pool_factor
        batches = []
        for i in range(0, len(order), pool):
            chunk = order[i : i + pool]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            for j in range(0, len(chunk), self.batch_size):
                b = chunk[j : j + self.batch_size]
                if len(b) == self.batch_size or not self.drop_last:
                    batches.append(b.tolist())
        rng.shuffle(batches)
        return iter(batches)

    def __len__(self) -> int:
        n = len(self.lengths) // self.batch_size
        return n if self.drop_last or len(self.lengths) % self.batch_size == 0 else n + 1


def load_joints(root: str | os.PathLike, source_id: str) -> np.ndarray:
    """``new_joints/<id>.npy`` → (T, J, 3)."""
    return load_npy(Path(root) / "new_joints" / f"{source_id}.npy")
