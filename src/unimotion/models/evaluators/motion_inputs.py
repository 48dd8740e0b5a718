"""Validation of the motion batches that the evaluators embed (shared by every evaluator)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from unimotion.errors import MotionError


def motion_list(features, lengths: Sequence[int] | None, dim_pose: int, min_length: int = 1) -> tuple[list[np.ndarray], list[int]]:
    """Split evaluator-space features into per-motion arrays and checked lengths.

    ``features``: an (N, T, dim_pose) array/tensor or a list of (T_i, dim_pose) arrays/tensors.
    ``lengths``: valid frames per motion (default: each motion's full length), each in
    [min_length, T_i]. Raises :class:`MotionError` naming the motion for wrong shapes, lengths, NaN/Inf.
    """
    if isinstance(features, torch.Tensor):
        features = features.detach().cpu().numpy()
    if isinstance(features, np.ndarray):
        if features.ndim != 3:
            raise MotionError(f"features must be (N, T, {dim_pose}) or a list of (T, {dim_pose}), got {features.shape}")
        seqs = list(features)
    else:
        seqs = [np.asarray(f.detach().cpu().numpy() if isinstance(f, torch.Tensor) else f) for f in features]
    if not seqs:
        raise MotionError("no motions given")
    lens = [s.shape[0] for s in seqs] if lengths is None else [int(v) for v in np.asarray(lengths).reshape(-1)]
    if len(lens) != len(seqs):
        raise MotionError(f"{len(seqs)} motions but {len(lens)} lengths")
    for i, (s, n) in enumerate(zip(seqs, lens, strict=True)):
        if s.ndim != 2 or s.shape[1] != dim_pose:
            raise MotionError(f"motion {i} must be (T, {dim_pose}) evaluator-space features, got {s.shape}")
        if not min_length <= n <= s.shape[0]:
            raise MotionError(f"motion {i}: length {n} must be in [{min_length}, {s.shape[0]}]")
        if not np.isfinite(s[:n]).all():
            raise MotionError(f"motion {i} contains NaN or Inf")
    return seqs, lens
