"""Captioning metrics against hand computations (BLEU, ROUGE-L, CIDEr, BERTScore matching) and smoke tests."""

from __future__ import annotations

import numpy as np
import pytest

from unimotion.errors import InputError
from unimotion.evaluation import captioning as C


def test_normalize_caption():
    assert C.normalize_caption("  A person, walks-forward!  ") == "a person walks forward"
    assert C.normalize_caption("He's  RUNNING.") == "he's running"
    with pytest.raises(InputError):
        C.normalize_caption(3)


def test_bleu_hand_computed():
    pred, ref = "the cat sat on the mat", "the cat is on the mat"
    # clipped n-gram precisions: 1-gram 5/6, 2-gram 3/5 (the cat, on the, the mat), 3-gram 1/4, 4-gram 0/3
    b = C.bleu([pred], [[ref]])
    assert b[0] == pytest.approx(5 / 6, abs=1e-6)
    assert b[1] == pytest.approx(np.sqrt(5 / 6 * 3 / 5), abs=1e-6)
    assert b[2] == pytest.approx((5 / 6 * 3 / 5 * 1 / 4) ** (1 / 3), abs=1e-6)
    assert b[3] == pytest.approx(0.0, abs=1e-3)
    # brevity penalty: 2 words against 6 -> exp(1 - 6/2)
    assert C.bleu(["the cat"], [[ref]])[0] == pytest.approx(np.exp(-2), abs=1e-6)
    # corpus level: counts pooled over sentences, not averaged: (5 + 2) / (6 + 2)
    assert C.bleu([pred, "a dog"], [[ref], ["a dog"]])[0] == pytest.approx(7 / 8, abs=1e-6)


def test_bleu_preprocessing_applies_to_both_sides():
    assert C.bleu(["The cat, sat."], [["the cat sat"]])[0] == pytest.approx(1.0, abs=1e-6)
    assert C.bleu(["The cat, sat."], [["the cat sat"]], preprocess=False)[0] < 0.5


def test_rouge_l_hand_computed():
    # LCS("a b c d", "a c d e") = 3 -> P = R = 3/4 -> F_beta = 3/4
    assert C.rouge_l(["a b c d"], [["a c d e"]]) == pytest.approx(0.75)
    # best reference is used for P and R
    assert C.rouge_l(["a b c d"], [["x y", "a b c d"]]) == pytest.approx(1.0)


def test_cider_identical_captions():
    caps = ["a person walks forward", "someone jumps high", "the man sits down"]
    # exact match: cosine 1 for every n-gram order present, x10; the 3-word caption has no 4-gram (term 0)
    expected = 10 * np.mean([4 / 4, 3 / 4, 4 / 4])
    assert C.cider(caps, [[c] for c in caps]) == pytest.approx(expected, rel=1e-6)
    assert C.cider(caps, [[c] for c in caps[1:] + caps[:1]]) == pytest.approx(0.0)  # no shared n-gram


def test_caption_metrics_and_validation():
    out = C.caption_metrics(["a person walks"], ["a person walks"])  # single-string references accepted
    assert set(out) == {"BLEU@1", "BLEU@4", "ROUGE-L", "CIDEr"}
    # 3 words: no 4-gram; pycocoevalcap smooths 0/0 as 1e-15/1e-9, so BLEU-4 = (1e-6)**(1/4) instead of 0
    assert out["BLEU@4"] == pytest.approx(1e-6 ** 0.25, rel=1e-3)
    assert out["ROUGE-L"] == pytest.approx(1.0)
    with pytest.raises(InputError, match="unknown"):
        C.caption_metrics(["a"], ["a"], metrics=("bleu", "spice"))
    with pytest.raises(InputError, match="2 predictions"):
        C.caption_metrics(["a", "b"], [["a"]])
    with pytest.raises(InputError, match="no reference"):
        C.caption_metrics(["a"], [[]])
    with pytest.raises(InputError, match="single string"):
        C.caption_metrics("a person", ["a person"])


def test_bertscore_greedy_matching_by_hand(monkeypatch):
    """Orthonormal token vectors: candidate (e1, e2) vs reference (e1, e3) -> P = R = F = 1/2."""
    e = np.eye(4, dtype=np.float32)
    table = {"cand": (np.array([1, 2]), e[[0, 1]]), "ref": (np.array([1, 3]), e[[0, 2]]),
             "good": (np.array([1, 2]), e[[0, 1]])}

    def fake(texts, layer, model_path, batch_size=64):
        return [table[t] for t in texts]

    monkeypatch.setattr(C, "_token_embeddings", fake)
    out = C.bertscore(["cand"], [["ref"]])
    assert out == {"P": pytest.approx(0.5), "R": pytest.approx(0.5), "F1": pytest.approx(0.5)}
    assert C.bertscore(["cand"], [["ref", "good"]])["F1"] == pytest.approx(1.0)  # best reference kept


@pytest.mark.slow
def test_bertscore_minilm_offline():
    same = C.bertscore(["a person walks forward"], [["a person walks forward"]])
    assert same["F1"] == pytest.approx(1.0, abs=1e-4)
    a, b = "a person walks forward slowly", "someone jumps over a box"
    ab, ba = C.bertscore([a], [[b]]), C.bertscore([b], [[a]])
    assert ab["P"] == pytest.approx(ba["R"], abs=1e-5)  # swapping roles swaps precision and recall
    assert ab["F1"] < 0.9
    assert C.bertscore([a], [[b]], idf=True)["F1"] <= 1.0
    assert "BERTScore-F1" in C.caption_metrics([a], [[a]], metrics=("bertscore",))


@pytest.mark.java
@pytest.mark.slow
def test_meteor_java():
    """One JVM start (~10-30 s): an exact match and a mismatch give a corpus score strictly in between."""
    if not C.java_available():
        pytest.skip("no Java runtime on PATH (METEOR needs java)")
    out = C.caption_metrics(
        ["a person walks forward", "a man jumps"], [["a person walks forward"], ["someone sits down"]], metrics=("meteor",)
    )
    assert 0.2 < out["METEOR"] < 0.9


def test_meteor_without_java(monkeypatch):
    monkeypatch.setattr(C.shutil, "which", lambda name: None)
    with pytest.raises(InputError, match="Java"):
        C.meteor(["a"], [["a"]])


def test_image_fid():
    x = np.random.default_rng(0).normal(size=(100, 8))
    assert C.image_fid(x, x) == pytest.approx(0.0, abs=1e-8)
    assert C.image_fid(x, x + 2.0) == pytest.approx(8 * 4.0, rel=1e-6)
    with pytest.raises(InputError, match="sizes differ"):
        C.image_fid(x, x[:, :4])
