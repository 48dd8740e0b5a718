"""Generation baselines, merging of generation rounds and per-label R@k."""

from __future__ import annotations

import numpy as np
import pytest

from unimotion.data.unimotion_tasks import parse_labels
from unimotion.errors import InputError
from unimotion.evaluation import metrics as M
from unimotion.evaluation.baselines import constant_velocity, hold_last_pose, retrieval_baseline
from unimotion.evaluation.replications import merge_rounds, per_label_hits

TRAIN = ["dataset-2_walk_happy_001", "dataset-2_walk_happy_002", "dataset-2_walk_sad_003",
         "dataset-2_run_sad_004", "dataset-1_kick_old_001"]


def test_retrieval_baseline_matches_labels():
    test = ["dataset-2_walk_happy_010", "dataset-2_run_sad_020"]
    got = retrieval_baseline(test, TRAIN, "label", seed=1)
    assert got["dataset-2_run_sad_020"] == "dataset-2_run_sad_004"
    assert got["dataset-2_walk_happy_010"] in TRAIN[:2]
    assert retrieval_baseline(test, TRAIN, "label", seed=1) == got  # seeded
    content = retrieval_baseline(["dataset-2_walk_old_010"], TRAIN, "content", seed=0)
    assert parse_labels(content["dataset-2_walk_old_010"]).content == "walk"
    assert retrieval_baseline(["dataset-2_walk_old_010"], TRAIN, "label") is None  # novel combination
    anyone = retrieval_baseline(["x", "y"], TRAIN, "any", seed=3)
    assert set(anyone) == {"x", "y"} and set(anyone.values()) <= set(TRAIN)
    draws = {retrieval_baseline(["dataset-2_walk_happy_010"], TRAIN, "label", seed=s)["dataset-2_walk_happy_010"]
             for s in range(20)}
    assert draws == set(TRAIN[:2])  # both candidates come up
    with pytest.raises(InputError):
        retrieval_baseline(test, TRAIN, "style")


def test_continuation_baselines():
    t = np.arange(10, dtype=float)
    joints = np.stack([np.stack([t, 2 * t, t * t], -1)] * 3, axis=1)  # (10, 3, 3)
    held = hold_last_pose(joints, 4, 8)
    assert held.shape == (8, 3, 3)
    np.testing.assert_array_equal(held[:4], joints[:4])
    np.testing.assert_array_equal(held[4:], np.repeat(joints[3:4], 4, 0))
    cv = constant_velocity(joints, 4, 8)
    np.testing.assert_allclose(cv[:, 0, :2], joints[:8, 0, :2])  # linear channels continue exactly
    np.testing.assert_allclose(cv[4:, 0, 2], 9 + 5 * np.arange(1, 5))  # t² moves on at its last speed (9-4)
    with pytest.raises(InputError):
        constant_velocity(joints, 0, 8)


def test_merge_rounds():
    rows = [{"method": "m", "split": "test", "n": 10, "R@3": {"mean": v, "ci95": 0.01}, "ADE": 2 * v, "tag": "x"}
            for v in (0.5, 0.6, 0.7)]
    out = merge_rounds(rows)
    assert out["method"] == "m" and out["rounds"] == 3 and "tag" not in out
    assert out["R@3"]["mean"] == pytest.approx(0.6)
    assert out["R@3"]["ci95"] == pytest.approx(1.96 * np.std([0.5, 0.6, 0.7]) / np.sqrt(3))
    assert out["ADE"]["mean"] == pytest.approx(1.2)
    with pytest.raises(InputError, match="disagree"):
        merge_rounds([{"method": "a", "x": 1.0}, {"method": "b", "x": 2.0}])


def test_per_label_hits_average_to_r_precision():
    rng = np.random.default_rng(0)
    n = 64
    text = rng.normal(size=(n, 8))
    motion = text + rng.normal(scale=1.5, size=(n, 8))
    labels = ["a" if i % 4 == 0 else "b" for i in range(n)]
    motion[[i for i in range(n) if labels[i] == "a"]] = rng.normal(size=(16, 8)) * 5  # label a: wrong motions
    out = per_label_hits(text, motion, labels, batch_size=32, replications=1, seed=7)
    order = np.random.default_rng([7, 0]).permutation(n)
    expected = M.r_precision(text[order], motion[order], top_k=3, batch_size=32)[2]
    total = (out["a"]["R@3"] * 16 + out["b"]["R@3"] * 48) / 64
    assert total == pytest.approx(expected)
    assert out["a"]["R@3"] < out["b"]["R@3"] and out["a"]["n"] == 16
