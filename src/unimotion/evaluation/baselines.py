"""Honest baselines for the generation tasks: what a model must beat to have learned anything.

Text → motion (the generated motion is scored against the caption of a test motion):

* **label retrieval** (``match="label"``): a random *training* motion with the test motion's (content,
  style) label — what a lookup table of the training set gives. On BandaiML's ``test`` split every label
  occurs in training, so this row matches Real on R@k: ``test`` R@k only measures whether the right label
  comes out. On ``test_novel`` (label combinations never trained on) it does not exist.
* **same action** (``match="content"``): a random training motion with the test motion's content (any
  style) — defined on both splits; on ``test_novel`` it is the natural "no composition" baseline.
* **random train motion** (``match="any"``): any training motion — the FID of real motion with the wrong
  labels.

Prediction (the observed prefix given, ``observed`` frames; joint positions (T, J, 3)):

* **last pose**: the last observed frame held;
* **constant velocity**: every joint moves on with its velocity over the last observed frame pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from ..data.unimotion_tasks import parse_labels
from ..errors import InputError

__all__ = ["retrieval_baseline", "hold_last_pose", "constant_velocity"]

Match = Literal["label", "content", "any"]


def retrieval_baseline(test_ids: Sequence[str], train_ids: Sequence[str], match: Match,
                       seed: int = 0) -> dict[str, str] | None:
    """For each test id, a random train id matching its labels (see the module docstring).

    Returns ``{test_id: train_id}``, or None when some test id has no candidate (e.g. ``label`` on
    ``test_novel``). Deterministic for a seed; each test id draws from its own stream.
    """
    if match not in ("label", "content", "any"):
        raise InputError(f"match must be label, content or any, got {match!r}")
    train = list(train_ids)
    if not train:
        raise InputError("no training motions to draw from")
    keys = {"label": lambda lab: (lab.content, lab.style), "content": lambda lab: lab.content,
            "any": lambda lab: None}[match]
    pools: dict[object, list[str]] = {}
    for t in train:
        lab = parse_labels(t)
        if lab is not None or match == "any":
            pools.setdefault(keys(lab) if lab is not None else None, []).append(t)
    out: dict[str, str] = {}
    for k, i in enumerate(test_ids):
        lab = parse_labels(i)
        if match != "any" and lab is None:
            return None
        pool = pools.get(keys(lab) if lab is not None else None) if match != "any" else train
        if not pool:
            return None
        out[i] = pool[int(np.random.default_rng([seed, k]).integers(len(pool)))]
    return out


def _check(joints: np.ndarray, observed: int, total: int) -> np.ndarray:
    arr = np.asarray(joints, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise InputError(f"joints must have shape (T, J, 3), got {arr.shape}")
    if not 1 <= observed <= len(arr) or total < observed:
        raise InputError(f"need 1 <= observed ({observed}) <= {len(arr)} frames and total ({total}) >= observed")
    return arr


def hold_last_pose(joints, observed: int, total: int) -> np.ndarray:
    """(total, J, 3): the first ``observed`` frames of ``joints``, then the last of them held."""
    arr = _check(joints, observed, total)
    out = np.repeat(arr[observed - 1 : observed], total, axis=0)
    out[:observed] = arr[:observed]
    return out


def constant_velocity(joints, observed: int, total: int) -> np.ndarray:
    """(total, J, 3): the first ``observed`` frames, then every joint moving on at its last velocity."""
    arr = _check(joints, observed, total)
    if observed < 2:
        return hold_last_pose(arr, observed, total)
    vel = arr[observed - 1] - arr[observed - 2]
    steps = np.arange(1, total - observed + 1)[:, None, None]
    return np.concatenate([arr[:observed], arr[observed - 1][None] + steps * vel[None]], axis=0)
