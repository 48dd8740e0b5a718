"""The T2M / M2T protocol: replications and CIs, pool size, evaluator-space normalisation, MM re-normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from guo_fixtures import TINY

from unimotion.errors import InputError, MotionError
from unimotion.evaluation import protocol as P
from unimotion.evaluation.reports import markdown_table
from unimotion.motion.stats import NormStats

D = 6  # feature channels of the fake data


class FakeEvaluator:
    """Text embedding of caption "c<i>" = evaluator-normalised prototype i; motion embedding = mean over the
    valid frames. A motion built from prototype i therefore embeds exactly like its caption *only if* it
    arrives in the evaluator's normalisation. Records every motion it receives."""

    def __init__(self, prototypes: np.ndarray, stats: NormStats, reorder: bool = False):
        self.prototypes, self.stats, self.reorder = prototypes, stats, reorder
        self.seen: list[np.ndarray] = []

    def get_text_embeddings(self, captions, tokens=None):
        idx = [int(c[1:]) for c in captions]
        return self.stats.normalize(self.prototypes[idx])

    def get_motion_embeddings(self, features, lengths):
        out = []
        for f, n in zip(features, lengths, strict=True):
            self.seen.append(np.asarray(f[:n]))
            out.append(np.asarray(f[:n]).mean(axis=0))
        out = np.stack(out)
        if self.reorder:  # like the reference get_co_embeddings: sorted by length, longest first
            out = out[np.argsort(lengths, kind="stable")[::-1]]
        return out


def _setup(n: int = 64, seed: int = 0):
    rng = np.random.default_rng(seed)
    prototypes = rng.normal(size=(n, D)) * 3
    data_stats = NormStats(rng.normal(size=D), rng.uniform(0.5, 2.0, size=D))
    eval_stats = NormStats(rng.normal(size=D), rng.uniform(0.5, 2.0, size=D))
    lengths = [int(v) for v in rng.integers(8, 20, size=n)]
    raw = [np.repeat(prototypes[i][None], lengths[i], axis=0) for i in range(n)]  # constant motions
    gt = [data_stats.normalize(r) for r in raw]  # what a generator trained on the data would output
    captions = [f"c{i}" for i in range(n)]
    return prototypes, data_stats, eval_stats, lengths, raw, gt, captions


SMALL = P.T2MProtocolConfig(replications=3, diversity_pairs=20, mm_num_samples=4, mm_num_repeats=6, mm_num_pairs=3)


# ----------------------------------------------------------------------------------------------- statistics
def test_confidence_interval_formula():
    mean, ci = P.confidence_interval([1.0, 2.0, 3.0, 4.0])
    assert mean == pytest.approx(2.5)
    assert ci == pytest.approx(1.96 * np.sqrt(1.25) / 2)  # population std (ddof=0) over sqrt(n)
    m, c = P.confidence_interval(np.array([[0.0, 1.0], [2.0, 1.0]]))
    np.testing.assert_allclose(m, [1.0, 1.0])
    np.testing.assert_allclose(c, [1.96 * 1.0 / np.sqrt(2), 0.0])
    with pytest.raises(InputError):
        P.confidence_interval([])


def test_replicate_summaries_and_seeds():
    seeds = []

    def fn(seed):
        seeds.append(seed)
        return {"a": float(seed % 7), "vec": np.array([1.0, 2.0])}

    out = P.replicate(fn, times=5, seed=3)
    assert len(set(seeds)) == 5  # independent seed per replication
    values = [s % 7 for s in seeds]
    assert out["a"]["mean"] == pytest.approx(np.mean(values))
    assert out["a"]["ci95"] == pytest.approx(1.96 * np.std(values) / np.sqrt(5))
    assert out["a"]["n"] == 5 and out["vec"]["mean"] == [1.0, 2.0]
    assert P.replicate(fn, times=5, seed=3)["a"]["values"] == out["a"]["values"]  # deterministic
    with pytest.raises(InputError):
        P.replicate(fn, times=0)


def test_batch_size_must_be_32_unless_overridden():
    assert P.check_batch_size(32) == 32
    with pytest.raises(InputError, match="pools of 32"):
        P.check_batch_size(16)
    with pytest.warns(UserWarning, match="not comparable"):
        assert P.check_batch_size(16, allow_nonstandard=True) == 16
    with pytest.raises(InputError, match="pools of 32"):
        P.t2m_metrics_from_embeddings(np.zeros((64, 2)), np.zeros((64, 2)), np.zeros((64, 2)), None,
                                      P.T2MProtocolConfig(batch_size=64), seed=0)


# ----------------------------------------------------------------------------------------------- normalisation
def test_to_evaluator_space_numpy_and_torch():
    rng = np.random.default_rng(1)
    data, ev = NormStats(rng.normal(size=4), [1.0, 2.0, 0.5, 4.0]), NormStats(rng.normal(size=4), [3.0, 1.0, 1.0, 0.25])
    raw = rng.normal(size=(2, 5, 4))
    z = (raw - data.mean) / data.std
    expected = (raw - ev.mean) / ev.std
    np.testing.assert_allclose(P.to_evaluator_space(z, data, ev), expected, rtol=1e-5)
    got_t = P.to_evaluator_space(torch.from_numpy(z), data, ev)
    np.testing.assert_allclose(got_t.numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(P.to_evaluator_space(raw, None, ev), expected, rtol=1e-5)  # raw input
    with pytest.raises(MotionError, match="channels"):
        P.to_evaluator_space(z, NormStats(np.zeros(3), np.ones(3)), ev)


def test_embed_motions_detects_reordering_evaluators():
    prototypes, data_stats, eval_stats, lengths, _, gt, _ = _setup(8)
    bad = FakeEvaluator(prototypes, eval_stats, reorder=True)
    with pytest.raises(InputError, match="input order"):
        P.embed_motions(bad, gt, lengths, data_stats, eval_stats, check_order=True)
    good = FakeEvaluator(prototypes, eval_stats)
    P.embed_motions(good, gt, lengths, data_stats, eval_stats, check_order=True)


def test_embed_motions_validation():
    ev = FakeEvaluator(np.zeros((1, D)), NormStats(np.zeros(D), np.ones(D)))
    with pytest.raises(MotionError, match="lengths"):
        P.embed_motions(ev, [np.zeros((5, D))], [5, 5], None, None)
    with pytest.raises(MotionError, match="NaN"):
        P.embed_motions(ev, [np.full((5, D), np.nan)], [5], None, None)
    with pytest.raises(MotionError, match="length 9"):
        P.embed_motions(ev, np.zeros((1, 5, D)), [9], None, None)


# ----------------------------------------------------------------------------------------------- T2M
def test_perfect_embeddings_give_perfect_retrieval():
    emb = np.random.default_rng(2).normal(size=(70, 5))
    out = P.t2m_metrics_from_embeddings(emb, emb, emb, None, P.T2MProtocolConfig(diversity_pairs=10), seed=0)
    assert [out[k] for k in ("R@1", "R@2", "R@3")] == [1.0, 1.0, 1.0]
    assert out["MM-Dist"] == 0.0 and set(out) == {"R@1", "R@2", "R@3", "FID", "MM-Dist", "Diversity"}


def test_evaluate_t2m_ground_truth_through_evaluator_space():
    """With correct re-normalisation, real motions embed exactly on their captions: R@1 = 1, MM-Dist = 0."""
    prototypes, data_stats, eval_stats, lengths, raw, gt, captions = _setup()
    ev = FakeEvaluator(prototypes, eval_stats)
    res = P.evaluate_t2m(ev, captions, lengths, gt, None, data_stats, eval_stats, SMALL)
    row = res.rows["ground truth"]
    assert row["R@1"]["mean"] == pytest.approx(1.0) and row["MM-Dist"]["mean"] == pytest.approx(0.0, abs=1e-5)
    assert row["FID"]["mean"] == pytest.approx(0.0, abs=1e-6)
    # the pitfall: skipping the re-normalisation (passing data stats as evaluator stats) breaks it
    broken = P.evaluate_t2m(ev, captions, lengths, gt, None, None, None, SMALL)
    assert broken.rows["ground truth"]["MM-Dist"]["mean"] > 0.1


def test_evaluate_t2m_generated_and_multimodality_renormalised():
    """MDM #239: every motion the evaluator sees, MultiModality generations included, is in evaluator space."""
    prototypes, data_stats, eval_stats, lengths, raw, gt, captions = _setup()
    calls = []

    def generate(caps, lens, seed):
        calls.append((len(caps), seed))
        rng = np.random.default_rng(seed)
        out = []
        for c, n in zip(caps, lens, strict=True):
            noisy = np.repeat(prototypes[int(c[1:])][None], n, axis=0) + 0.01 * rng.normal(size=(n, D))
            out.append(data_stats.normalize(noisy))
        return out

    ev = FakeEvaluator(prototypes, eval_stats)
    res = P.evaluate_t2m(ev, captions, lengths, gt, generate, data_stats, eval_stats, SMALL, name="model")
    assert set(res.rows) == {"ground truth", "model"}
    gen = res.rows["model"]
    assert gen["R@1"]["mean"] == pytest.approx(1.0)
    assert gen["MultiModality"]["n"] == 3 and 0 < gen["MultiModality"]["mean"] < 0.1
    assert sorted({n for n, _ in calls}) == [4 * 6, 64]  # MM: 4 texts x 6 repeats, through generate too
    # every motion the evaluator received de-normalises (with the evaluator's stats) to a prototype
    for seen in ev.seen:
        back = eval_stats.denormalize(seen.astype(np.float32))
        assert np.abs(back - back.mean(0)).max() < 0.2  # a (noisy) constant motion ...
        assert np.min(np.abs(prototypes - back.mean(0)).max(axis=1)) < 0.05  # ... of a known prototype
    table = markdown_table(res.table_rows())
    assert "±" in table and "MultiModality" in table


def test_evaluate_t2m_input_validation():
    prototypes, data_stats, eval_stats, lengths, raw, gt, captions = _setup(40)
    ev = FakeEvaluator(prototypes, eval_stats)
    with pytest.raises(InputError, match="lengths"):
        P.evaluate_t2m(ev, captions, lengths[:-1], gt, None, data_stats, eval_stats, SMALL)
    with pytest.raises(InputError, match="at least batch_size"):
        P.evaluate_t2m(ev, captions[:20], lengths[:20], gt[:20], None, data_stats, eval_stats, SMALL)
    with pytest.raises(InputError, match="pools of 32"):
        P.evaluate_t2m(ev, captions, lengths, gt, None, data_stats, eval_stats, P.T2MProtocolConfig(batch_size=20))
    with pytest.raises(InputError, match="mm_num_samples"):
        P.evaluate_t2m(ev, captions, lengths, gt, None, data_stats, eval_stats, P.T2MProtocolConfig(mm_num_samples=100))


def test_protocol_with_the_guo_evaluator(loaded):
    """End to end with the real architecture (tiny weights): shapes, finiteness, ground-truth row."""
    rng = np.random.default_rng(5)
    n = 32
    captions = ["a person walks forward", "someone kicks a ball", "the man runs in a circle", "a person jumps"] * 8
    lengths = [int(v) for v in rng.integers(10, 60, size=n) // 4 * 4]
    data_stats = NormStats(rng.normal(size=TINY["dim_pose"]), rng.uniform(0.5, 2, size=TINY["dim_pose"]))
    gt = [rng.normal(size=(length, TINY["dim_pose"])).astype(np.float32) for length in lengths]
    cfg = P.T2MProtocolConfig(replications=2, diversity_pairs=8, mm_num_samples=2, mm_num_repeats=4, mm_num_pairs=2)

    def generate(caps, lens, seed):
        r = np.random.default_rng(seed)
        return [r.normal(size=(length, TINY["dim_pose"])).astype(np.float32) for length in lens]

    res = P.evaluate_t2m(loaded, captions, lengths, gt, generate, data_stats, loaded.stats, cfg)
    for row in res.rows.values():
        assert all(np.isfinite(s["mean"]) for s in row.values())
    assert res.rows["ground truth"]["FID"]["mean"] == pytest.approx(0.0, abs=1e-3)


# ----------------------------------------------------------------------------------------------- M2T
def test_evaluate_m2t_retrieval_and_captioning():
    prototypes, data_stats, eval_stats, lengths, raw, gt, captions = _setup()
    ev = FakeEvaluator(prototypes, eval_stats)
    refs = [[c] for c in captions]
    res = P.evaluate_m2t(ev, captions, gt, lengths, data_stats, eval_stats, SMALL, references=refs)
    assert res.retrieval["R@1"]["mean"] == pytest.approx(1.0) and res.retrieval["gt_R@1"]["mean"] == pytest.approx(1.0)
    assert res.captioning["BLEU@1"] == pytest.approx(1.0, abs=1e-6)
    wrong = [captions[(i + 1) % len(captions)] for i in range(len(captions))]  # every caption describes another motion
    bad = P.evaluate_m2t(ev, wrong, gt, lengths, data_stats, eval_stats, SMALL, captioning=None)
    assert bad.retrieval["R@1"]["mean"] < 0.2 and bad.captioning == {}
    row = res.table_row()
    assert row["method"] == "generated" and "±" in markdown_table([row])
