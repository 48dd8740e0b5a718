"""Normalisation statistics (per-channel mean and std) kept next to the data or weights they describe.

On disk they follow the HumanML3D convention: ``Mean.npy`` and ``Std.npy`` (float32, shape (D,)) in the
same folder as the dataset or checkpoint. ``normalize``/``denormalize`` accept NumPy arrays or torch tensors
of shape (..., D).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import MotionError
from ..utils.io import load_npy, save_npy

MEAN_FILE = "Mean.npy"
STD_FILE = "Std.npy"


@dataclass
class NormStats:
    """Per-channel statistics. ``std`` must be strictly positive."""

    mean: np.ndarray  # (D,)
    std: np.ndarray  # (D,)

    def __post_init__(self) -> None:
        self.mean = np.asarray(self.mean, dtype=np.float32).reshape(-1)
        self.std = np.asarray(self.std, dtype=np.float32).reshape(-1)
        if self.mean.shape != self.std.shape:
            raise MotionError(f"mean has {self.mean.shape[0]} channels but std has {self.std.shape[0]}")
        if not (np.isfinite(self.mean).all() and np.isfinite(self.std).all()):
            raise MotionError("normalisation statistics contain NaN or Inf")
        if (self.std <= 0).any():
            bad = np.flatnonzero(self.std <= 0)[:10].tolist()
            raise MotionError(f"std must be > 0 for every channel; channels {bad} are not")

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    def _check(self, x) -> None:
        if x.shape[-1] != self.dim:
            raise MotionError(f"expected features with {self.dim} channels, got shape {tuple(x.shape)}")

    def normalize(self, x):
        """(x - mean) / std for a NumPy array or torch tensor of shape (..., D)."""
        self._check(x)
        if isinstance(x, torch.Tensor):
            mean = torch.as_tensor(self.mean, dtype=x.dtype, device=x.device)
            std = torch.as_tensor(self.std, dtype=x.dtype, device=x.device)
            return (x - mean) / std
        return ((np.asarray(x) - self.mean) / self.std).astype(np.result_type(x, np.float32))

    def denormalize(self, x):
        """x * std + mean for a NumPy array or torch tensor of shape (..., D)."""
        self._check(x)
        if isinstance(x, torch.Tensor):
            mean = torch.as_tensor(self.mean, dtype=x.dtype, device=x.device)
            std = torch.as_tensor(self.std, dtype=x.dtype, device=x.device)
            return x * std + mean
        return (np.asarray(x) * self.std + self.mean).astype(np.result_type(x, np.float32))

    def save(self, directory: str | os.PathLike, prefix: str = "") -> None:
        """Write ``{prefix}Mean.npy`` and ``{prefix}Std.npy`` into ``directory`` (atomically)."""
        directory = Path(directory)
        save_npy(directory / f"{prefix}{MEAN_FILE}", self.mean)
        save_npy(directory / f"{prefix}{STD_FILE}", self.std)

    @classmethod
    def load(cls, directory: str | os.PathLike, prefix: str = "") -> NormStats:
        directory = Path(directory)
        mean_path, std_path = directory / f"{prefix}{MEAN_FILE}", directory / f"{prefix}{STD_FILE}"
        for p in (mean_path, std_path):
            if not p.is_file():
                raise FileNotFoundError(f"normalisation statistics not found: {p}")
        return cls(load_npy(mean_path), load_npy(std_path))

    @classmethod
    def exists(cls, directory: str | os.PathLike, prefix: str = "") -> bool:
        directory = Path(directory)
        return (directory / f"{prefix}{MEAN_FILE}").is_file() and (directory / f"{prefix}{STD_FILE}").is_file()

    @classmethod
    def from_data(cls, data: np.ndarray | list[np.ndarray], min_std: float = 1e-6) -> NormStats:
        """Plain per-channel statistics over all frames of ``data`` ((N, D) or a list of (T_i, D))."""
        if isinstance(data, list):
            data = np.concatenate([np.asarray(d, dtype=np.float64) for d in data], axis=0)
        data = np.asarray(data, dtype=np.float64).reshape(-1, np.asarray(data).shape[-1])
        return cls(data.mean(0), np.maximum(data.std(0), min_std))
