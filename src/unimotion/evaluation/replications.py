"""Independent generation rounds and per-label breakdowns of the retrieval metrics.

* :func:`merge_rounds` — the protocol replicates *generation*: every test motion is generated again with
  new noise (and a newly drawn caption) in each round, each round is scored as usual (its own pool
  replications), and the reported value of a metric is the mean over rounds ± the 95 % half-width
  ``1.96 · std / sqrt(rounds)`` of the round means (:func:`~unimotion.evaluation.protocol.confidence_interval`,
  the Guo et al. convention).
* :func:`per_label_hits` — R@k of every pair, averaged per label (e.g. per action) over pool replications:
  which actions a text-to-motion model produces when asked and which it does not.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from . import metrics as M
from .protocol import confidence_interval

__all__ = ["merge_rounds", "per_label_hits"]


def _value(x: Any) -> float | None:
    if isinstance(x, Mapping) and "mean" in x:
        return None if x["mean"] is None else float(x["mean"])
    if isinstance(x, (int, float, np.floating)) and not isinstance(x, bool):
        return float(x)
    return None


def merge_rounds(rows: Sequence[Mapping[str, Any]], keep: Sequence[str] = ("method", "split", "n", "kind")) -> dict[str, Any]:
    """One row from the rows of the same method in independent rounds (module docstring).

    Numeric metrics (plain numbers or ``{"mean", "ci95"}``) become ``{"mean", "ci95", "rounds"}``;
    the ``keep`` keys are copied from the first row (they must agree); other keys are dropped.
    """
    if not rows:
        raise InputError("merge_rounds needs at least one row")
    out: dict[str, Any] = {}
    for key in keep:
        if key in rows[0]:
            values = {str(r.get(key)) for r in rows}
            if len(values) > 1:
                raise InputError(f"rows to merge disagree on {key!r}: {sorted(values)}")
            out[key] = rows[0][key]
    for key, first in rows[0].items():
        if key in keep or _value(first) is None:
            continue
        vals = [_value(r.get(key)) for r in rows]
        if any(v is None for v in vals):
            continue
        mean, ci = confidence_interval(vals)
        out[key] = {"mean": mean, "ci95": ci, "rounds": len(vals)}
    out["rounds"] = len(rows)
    return out


def per_label_hits(text: np.ndarray, motion: np.ndarray, labels: Sequence[Hashable], batch_size: int = 32,
                   replications: int = 20, seed: int = 0, top_k: int = 3) -> dict[Hashable, dict[str, float]]:
    """R@``top_k`` per label: pairs (text[i], motion[i]) are shuffled into pools of ``batch_size`` (the last
    incomplete pool dropped), each text ranks the pool's motions (Euclidean), and a pair scores a hit when
    its own motion is among the ``top_k`` nearest; hits are averaged per label over all replications.

    Returns ``{label: {"R@k": mean hit rate, "n": pairs with that label}}``.
    """
    text = np.asarray(text, dtype=np.float64)
    motion = np.asarray(motion, dtype=np.float64)
    n = len(labels)
    if text.shape[0] != n or motion.shape[0] != n:
        raise InputError(f"need one label per pair: {n} labels, {text.shape[0]} texts, {motion.shape[0]} motions")
    if n < batch_size:
        raise InputError(f"per-label R@k needs at least batch_size={batch_size} pairs, got {n}")
    hits = np.zeros(n)
    counted = np.zeros(n)
    for r in range(replications):
        order = np.random.default_rng([seed, r]).permutation(n)[: (n // batch_size) * batch_size]
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            dist = M.euclidean_distance_matrix(text[idx], motion[idx])
            rank = np.argsort(np.argsort(dist, axis=1, kind="stable"), axis=1)[np.arange(batch_size), np.arange(batch_size)]
            hits[idx] += rank < top_k
            counted[idx] += 1
    out: dict[Hashable, dict[str, float]] = {}
    for label in dict.fromkeys(labels):
        sel = [i for i in range(n) if labels[i] == label and counted[i] > 0]
        if sel:
            out[label] = {f"R@{top_k}": float(hits[sel].sum() / counted[sel].sum()), "n": int(sum(1 for x in labels if x == label))}
    return out
