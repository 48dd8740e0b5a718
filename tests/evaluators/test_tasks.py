"""Task scoring (unimotion.evaluation.tasks): ceilings by hand, Real rows, file formats, validation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from evaluator_helpers import tiny_evaluator

from unimotion.data.humanml3d import CaptionEntry, MotionRecord
from unimotion.errors import InputError, MotionError
from unimotion.evaluation import tasks as T


class OracleEvaluator:
    """Text embedding = one-hot of the caption's first word; motion embedding = one-hot of the class stored in
    channel 0 of the (evaluator-space) features, + a small deterministic per-motion offset."""

    stats = None
    words = ["walk", "run", "bow", "kick"]

    def get_text_embeddings(self, captions, tokens=None):
        out = np.zeros((len(captions), 8))
        for i, c in enumerate(captions):
            out[i, self.words.index(c.split()[0])] = 1.0
        return out

    def get_motion_embeddings(self, features, lengths=None):
        out = np.zeros((len(features), 8))
        for i, f in enumerate(features):
            out[i, int(round(float(f[0, 0])))] = 1.0
            out[i, 4:] = 0.01 * f[0, 1:5]
        return out


def _records(n: int = 64, seed: int = 0) -> list[MotionRecord]:
    rng = np.random.default_rng(seed)
    recs = []
    for i in range(n):
        c = i % 4
        t = int(rng.integers(40, 80))
        m = rng.standard_normal((t, 263)).astype(np.float32)
        m[:, 0] = c
        word = OracleEvaluator.words[c]
        caps = [CaptionEntry(f"{word} forward", ()), CaptionEntry(f"{word} slowly", ())]
        recs.append(MotionRecord(f"dataset-1_{word}_normal_{i:03d}", f"id{i}", m, caps, 0, t))
    return recs


@pytest.fixture
def split() -> T.SplitData:
    return T.SplitData(Path("."), "test", _records())


CFG = T.EvalConfig(replications=3, diversity_pairs=20)


def test_label_ceiling_by_hand():
    # labels: a a b c → for the two a's: m=2 (R@1 = 1/2, R@2 = 1), b and c unique (1, 1)
    np.testing.assert_allclose(T.label_ceiling(["a", "a", "b", "c"], 2), [(0.5 + 0.5 + 1 + 1) / 4, 1.0])
    np.testing.assert_allclose(T.label_ceiling([None, None], 1), [1.0])  # unlabelled samples count as unique


def test_crop_length():
    assert T.crop_length(43, 4) == 40 and T.crop_length(40, 4) == 40 and T.crop_length(3, 4) == 3
    assert T.crop_length(43, 1) == 43


def test_real_t2m_row_with_an_oracle_evaluator(split):
    rows = T.evaluate_t2m(OracleEvaluator(), split, None, CFG)
    assert len(rows) == 1 and rows[0]["method"] == T.REAL
    r = rows[0]
    # 4 classes × 16 motions: in a pool of 32 every class has ~8 members; the oracle ties them, so
    # R@1 equals the label ceiling in expectation and R@3 is well below 1
    assert r["ceiling_R@1"]["mean"] == pytest.approx(r["R@1"]["mean"], abs=0.08)
    assert r["R@1"]["mean"] < 0.3 and r["R@3"]["mean"] < 0.6
    assert r["unique_label_fraction"]["mean"] == pytest.approx(0.0)
    assert r["MM-Dist"]["mean"] < 0.05  # captions sit on their class's one-hot


def test_generated_equal_to_ground_truth_scores_like_the_real_row(split):
    preds = {rec.name: rec.motion[: T.crop_length(rec.length, 4)].copy() for rec in split.records}
    rows = T.evaluate_t2m(tiny_evaluator(), split, preds, CFG)
    real, gen = rows
    for k in ("R@1", "R@3", "MM-Dist", "Diversity"):
        assert gen[k]["mean"] == pytest.approx(real[k]["mean"], abs=1e-6)


def test_t2m_with_wrong_class_predictions_has_low_r_precision(split):
    preds = {}
    for rec in split.records:
        m = rec.motion.copy()
        m[:, 0] = (m[0, 0] + 1) % 4
        preds[rec.name] = m
    real, gen = T.evaluate_t2m(OracleEvaluator(), split, preds, CFG)
    assert gen["R@1"]["mean"] == 0.0 and gen["FID"]["mean"] > real["FID"]["mean"]
    assert gen["MM-Dist"]["mean"] == pytest.approx(np.sqrt(2), abs=0.05)


def test_t2m_multimodality_and_fixed_captions(split):
    rng = np.random.default_rng(0)
    preds = {rec.name: rec.motion.copy() for rec in split.records}
    for rec in split.records[:5]:
        for k in range(12):
            preds[f"{rec.name}_rep{k}"] = rec.motion + rng.standard_normal(rec.motion.shape).astype(np.float32)
    captions = {rec.name: rec.captions[1].text for rec in split.records}
    rows = T.evaluate_t2m(tiny_evaluator(), split, preds, CFG, captions=captions)
    assert rows[1]["MultiModality"]["mean"] > 0
    preds_bad = {**preds, **{f"{split.records[0].name}_rep{k}": preds[split.records[0].name] for k in range(12)}}
    del preds_bad[f"{split.records[1].name}_rep11"], preds_bad[f"{split.records[1].name}_rep10"]
    with pytest.raises(InputError, match="MultiModality"):  # 10 repeats for one id: not more than mm_num_pairs
        T.evaluate_t2m(tiny_evaluator(), split, preds_bad, CFG)


def test_t2m_missing_predictions_raise(split):
    preds = {rec.name: rec.motion for rec in split.records[:-1]}
    with pytest.raises(InputError, match="no prediction"):
        T.evaluate_t2m(tiny_evaluator(), split, preds, CFG)
    bad = {rec.name: rec.motion[:, :100] for rec in split.records}
    with pytest.raises(MotionError):
        T.evaluate_t2m(tiny_evaluator(), split, bad, CFG)


def test_m2t_rows(split):
    preds = {rec.name: rec.captions[0].text for rec in split.records}
    cfg = T.EvalConfig(replications=2, captioning=("bleu", "rouge"))
    real, gen = T.evaluate_m2t(OracleEvaluator(), split, preds, cfg)
    assert gen["R@1"]["mean"] == pytest.approx(real["R@1"]["mean"])
    # the same captions are scored the same way: both against the references other than the first
    for key in ("BLEU@1", "BLEU@4", "ROUGE-L"):
        assert gen[key] == pytest.approx(real[key]), key
    assert real["BLEU@1"] < 1.0  # the first caption is not among its own references
    second = {rec.name: rec.captions[1].text for rec in split.records if len(rec.captions) > 1}
    if len(second) == len(preds):  # a caption that *is* one of the references scores higher
        _, gen2 = T.evaluate_m2t(OracleEvaluator(), split, second, cfg)
        assert gen2["BLEU@1"] > gen["BLEU@1"]


def test_prediction_rows(split):
    preds = {rec.name: rec.motion.copy() for rec in split.records}
    real, gen = T.evaluate_prediction(tiny_evaluator(), split, preds, CFG)
    assert real["ADE"] == 0.0 and gen["ADE"] == pytest.approx(0.0, abs=1e-6) and gen["FDE"] == pytest.approx(0.0, abs=1e-6)
    from unimotion.motion.hml3d import features_to_joints

    joints = {rec.name: features_to_joints(rec.motion) + np.array([0.1, 0.0, 0.0], np.float32)
              for rec in split.records}
    _, gen_j = T.evaluate_prediction(tiny_evaluator(), split, joints, CFG)
    # every joint moved by 0.1 m along x: the flattened 22-joint pose error is 0.1·sqrt(22)
    assert gen_j["ADE"] == pytest.approx(0.1 * np.sqrt(22), rel=1e-4) and gen_j["FID"] is None


def test_recon_rows(split):
    preds = {rec.name: np.concatenate([rec.motion, rec.motion[:4]]) for rec in split.records}  # longer: cut
    real, gen = T.evaluate_recon(tiny_evaluator(), split, preds, CFG)
    assert real["MPJPE_mm"] == 0.0 and gen["MPJPE_mm"] == pytest.approx(0.0, abs=1e-3)
    assert gen["FID"]["mean"] == pytest.approx(0.0, abs=1e-6)
    short = {rec.name: rec.motion[:10] for rec in split.records}
    with pytest.raises(MotionError, match="frames"):
        T.evaluate_recon(tiny_evaluator(), split, short, CFG)


def test_edit_rows_and_edit_file(split, tmp_path):
    recs = split.records
    edits = [T.EditPair(f"e{i}", recs[i].name, recs[(i + 1) % len(recs)].name) for i in range(len(recs))]
    preds = {e.name: next(r.motion[: T.crop_length(r.length, 4)] for r in recs if r.name == e.target) for e in edits}
    rows = T.evaluate_edit(tiny_evaluator(), split, edits, preds, CFG)
    assert [r["method"] for r in rows] == [T.REAL, "source (no edit)", "generated"]
    assert rows[0]["R@1"]["mean"] == 1.0 and rows[2]["R@1"]["mean"] == 1.0
    assert rows[1]["R@1"]["mean"] < 0.5
    path = tmp_path / "edits.json"
    path.write_text(json.dumps([{"id": e.name, "source": e.source, "target": e.target} for e in edits]))
    assert T.read_edits(path)[3].target == edits[3].target
    path.write_text(json.dumps([{"id": "a", "target": "nope"}] * 2))
    with pytest.raises(InputError, match="unique"):
        T.read_edits(path)
    with pytest.raises(InputError, match="not in split"):
        T.evaluate_edit(tiny_evaluator(), split, [T.EditPair("a", None, "nope")], None, CFG)


def test_read_arrays_and_captions(tmp_path):
    d = tmp_path / "pred"
    d.mkdir()
    np.save(d / "a.npy", np.zeros((4, 263), np.float32))
    np.savez(tmp_path / "p.npz", a=np.ones((4, 263), np.float32))
    assert T.read_arrays(d)["a"].shape == (4, 263)
    assert T.read_arrays(tmp_path / "p.npz")["a"][0, 0] == 1.0
    np.save(d / "b.npy", np.full((2, 263), np.nan, np.float32))
    with pytest.raises(MotionError, match="NaN"):
        T.read_arrays(d)
    with pytest.raises(FileNotFoundError):
        T.read_arrays(tmp_path / "missing")
    (tmp_path / "c.json").write_text(json.dumps({"a": "a person walks"}))
    assert T.read_captions(tmp_path / "c.json") == {"a": "a person walks"}
    (tmp_path / "c.jsonl").write_text('{"id": "a", "caption": "x"}\n\n{"id": "b", "caption": "y"}\n')
    assert T.read_captions(tmp_path / "c.jsonl") == {"a": "x", "b": "y"}
    (tmp_path / "bad.jsonl").write_text('{"id": "a"}\n')
    with pytest.raises(InputError, match="bad.jsonl:1"):
        T.read_captions(tmp_path / "bad.jsonl")
    (tmp_path / "empty.json").write_text(json.dumps({"a": "  "}))
    with pytest.raises(InputError, match="empty"):
        T.read_captions(tmp_path / "empty.json")


def test_nonstandard_pool_needs_explicit_permission():
    with pytest.raises(InputError):
        T.EvalConfig(batch_size=8)
    with pytest.warns(UserWarning):
        T.EvalConfig(batch_size=8, allow_nonstandard_batch_size=True)
