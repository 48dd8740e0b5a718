"""Label-balanced sampling of the UniMotion task dataset (``balance_power``)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from unimotion.data.unimotion_tasks import balanced_weights, parse_labels


def _ids(counts: dict[tuple[str, str], int]) -> list[str]:
    return [f"dataset-2_{c}_{s}_{i:03d}" for (c, s), n in counts.items() for i in range(n)]


def test_power_one_is_no_rebalancing():
    assert balanced_weights(_ids({("walk", "normal"): 5}), 1.0) is None


def test_power_zero_gives_each_class_pair_equal_mass_for_a_product_design():
    # 2 actions × 2 styles, every (action, style) pair present; action counts 90/10, style counts 50/50
    ids = _ids({("walk", "happy"): 45, ("walk", "sad"): 45, ("kick", "happy"): 5, ("kick", "sad"): 5})
    w = balanced_weights(ids, 0.0)
    assert w.sum() == pytest.approx(1.0) and (w > 0).all()
    share = Counter()
    for i, x in zip(ids, w, strict=True):
        share[parse_labels(i).content] += x
    assert share["walk"] == pytest.approx(0.5) and share["kick"] == pytest.approx(0.5)
    half = balanced_weights(ids, 0.5)
    share = Counter()
    for i, x in zip(ids, half, strict=True):
        share[parse_labels(i).content] += x
    # shares ∝ n^0.5: sqrt(90) : sqrt(10) = 3 : 1
    assert share["walk"] == pytest.approx(0.75) and share["kick"] == pytest.approx(0.25)


def test_unlabelled_ids_are_their_own_class():
    w = balanced_weights(["a", "b", *_ids({("walk", "normal"): 8})], 0.0)
    np.testing.assert_allclose(w[:2], w[:2].mean())
    assert w[0] > w[2]  # a class of one outweighs each of 8 motions sharing a class
