"""benchmarks/unimotion_eval.py end to end on a small BandaiML subset, with a tiny pipeline and a simple
deterministic evaluator (the real one is trained separately)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from unimotion_helpers import tiny_pipeline, walk_joints

REPO = Path(__file__).resolve().parents[2]


class ToyEvaluator:
    """Text: a fixed random vector per word, averaged; motion: time-mean of the first 8 feature channels."""

    stats = None

    def get_text_embeddings(self, captions, tokens=None):
        out = []
        for c in captions:
            vs = [np.random.default_rng(int.from_bytes(hashlib.sha256(w.encode()).digest()[:4], "little"))
                  .standard_normal(8) for w in (c.lower().split() or ["<empty>"])]
            out.append(np.mean(vs, axis=0))
        return np.asarray(out, dtype=np.float32)

    def get_motion_embeddings(self, features, lengths=None):
        return np.asarray([np.asarray(f)[:, :8].mean(0) for f in features], dtype=np.float32)


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import unimotion_eval
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    return unimotion_eval


@pytest.mark.bandai
@pytest.mark.slow
def test_benchmark_writes_every_task(bandaiml_small, tokenizer, tmp_path, bench):
    from unimotion.motion.rigid import skeleton_offsets

    pipe = tiny_pipeline(tokenizer, max_frames=196)
    pipe.skeleton = skeleton_offsets(walk_joints(20)[0])
    ckpt = pipe.save_pretrained(tmp_path / "pipe")
    lra_dir = tmp_path / "lra"
    from unimotion.pipelines.unimotion import UniMotionPipeline

    UniMotionPipeline.from_pretrained(ckpt).model.save_pretrained(lra_dir)
    out = tmp_path / "res"
    argv = ["--checkpoint", str(ckpt), "--data", str(bandaiml_small), "--splits", "train", "test_novel",
            "--lra-checkpoint", str(lra_dir), "--steps", "2", "--pool", "4", "--mm-motions", "1", "--limit", "12",
            "--mm-repeats", "11", "--replications", "2", "--diversity-pairs", "3", "--batch", "16",
            "--captioning", "bleu", "rouge", "--out", str(out), "--edit-kinds", "style", "--edit-limit", "5",
            "--rounds", "2"]
    assert bench.main(argv, evaluator=ToyEvaluator()) == 0
    payload = json.loads(out.with_suffix(".json").read_text())
    rows = payload["rows"]
    tasks = {r["task"] for r in rows}
    assert {"t2m", "m2t", "prediction", "editing", "lra", "m2t_examples"} <= tasks
    for task in ("t2m", "m2t", "prediction", "lra"):
        for split in ("train", "test_novel"):
            methods = [r["method"] for r in rows if r["task"] == task and r["split"] == split]
            assert methods[0] == "Real" and len(methods) >= 2, (task, split, methods)
    assert [r["method"] for r in rows if r["task"] == "t2m" and r["split"] == "train"] == [
        "Real", "UniMotion", "label retrieval (train motion, same label)", "same action (train motion)",
        "random train motion", "VAE reconstruction (bound)", "UniMotion, no post-processing"]
    t2m = [r for r in rows if r["task"] == "t2m" and r["method"] == "UniMotion"]
    assert all("MultiModality" in r and "R@3" in r and r["rounds"] == 2 for r in t2m)
    assert all(r["R@3"]["rounds"] == 2 for r in t2m)
    # on the training split itself, the label-retrieval baseline draws motions of the same labels
    label = [r for r in rows if r["task"] == "t2m" and r["split"] == "train" and r["method"].startswith("label")]
    assert label[0]["R@3"]["mean"] > 0
    actions = [r for r in rows if r["task"] == "t2m_action" and r["split"] == "train"]
    assert actions and all(0 <= r["R@3 (UniMotion)"]["mean"] <= 1 for r in actions)
    phys = {(r["of"], r["method"]) for r in rows if r["task"] == "physics" and r["split"] == "train"}
    assert {("t2m", "Real"), ("t2m", "UniMotion"), ("t2m", "UniMotion, no post-processing"),
            ("prediction", "UniMotion"), ("editing", "UniMotion (style)")} <= phys
    bvh = [r["bvh_err_mm"] for r in rows if r["task"] == "physics" and r["method"] == "UniMotion" and r["of"] == "t2m"]
    assert all(e < 1.0 for e in bvh)  # the rigid output round-trips through BVH
    edit = [r for r in rows if r["task"] == "editing" and r["split"] == "train"]
    assert [r["method"] for r in edit] == ["Real", "source (no edit)", "UniMotion"]
    assert all(r["n"] <= 5 for r in edit)  # --edit-limit
    lra = [r["method"] for r in rows if r["task"] == "lra" and r["split"] == "train"]
    assert lra == ["Real", "VAE reconstruction", "LRA, matched condition (clean)",
                   "LRA, matched condition (degraded)", "LRA, shuffled condition (degraded)"]
    pred = [r for r in rows if r["task"] == "prediction" and r["method"] == "UniMotion"]
    assert all(r["ADE"]["mean"] > 0 and "join_jump_mm" in r for r in pred)
    assert [r["method"] for r in rows if r["task"] == "prediction" and r["split"] == "train"] == [
        "Real", "UniMotion", "last pose", "constant velocity"]
    md = out.with_suffix(".md").read_text()
    for title in ("Text → motion", "Motion → text", "Motion prediction", "Motion editing", "LRA", "Protocol",
                  "Physical plausibility", "per action"):
        assert title in md
    assert payload["meta"]["command"].startswith("python benchmarks/unimotion_eval.py")
    assert payload["meta"]["protocol"]["sampling"] == "Euler 2 steps, CFG 3.0"
    assert payload["meta"]["protocol"]["edit_limit"] == 5
    assert "**This run:** Euler 2 steps, CFG 3" in md


def test_generation_helpers_use_ground_truth_lengths(tokenizer, bench):
    """T2M generations have the cropped GT length; prediction keeps the ⌈0.2·T⌉-frame observation."""
    from unimotion.data.humanml3d import CaptionEntry, MotionRecord
    from unimotion.evaluation.tasks import EvalConfig, SplitData

    pipe = tiny_pipeline(tokenizer)
    rng = np.random.default_rng(0)
    recs = [MotionRecord(f"m{i}", f"m{i}", rng.standard_normal((n, 269)).astype(np.float32),
                         [CaptionEntry(f"caption {i}", ())]) for i, n in enumerate([41, 50, 63])]
    data = SplitData(Path("."), "x", recs)
    cfg = EvalConfig(batch_size=2, allow_nonstandard_batch_size=True)
    args = bench.parse_args(["--steps", "1", "--mm-repeats", "0", "--batch", "2"])
    preds, caps = bench.generate_t2m(pipe, data, cfg, args, lambda m: None)
    assert {k: v.shape[0] for k, v in preds.items()} == {"m0": 40, "m1": 48, "m2": 60}
    assert caps == {"m0": "caption 0", "m1": "caption 1", "m2": "caption 2"}
    pr = bench.generate_prediction(pipe, data, cfg, args, lambda m: None)
    for r in recs:
        t = (r.length // 4) * 4
        p = int(np.ceil(0.2 * t))
        assert pr[r.name].shape[0] == t
        np.testing.assert_array_equal(pr[r.name][:p], r.motion[:p])


@pytest.mark.bandai
def test_cfg_sweep_mode(bandaiml_small, tokenizer, tmp_path, bench):
    from unimotion.motion.rigid import skeleton_offsets

    pipe = tiny_pipeline(tokenizer, max_frames=196)
    pipe.skeleton = skeleton_offsets(walk_joints(20)[0])
    ckpt = pipe.save_pretrained(tmp_path / "pipe")
    out = tmp_path / "sweep"
    argv = ["--checkpoint", str(ckpt), "--data", str(bandaiml_small), "--splits", "train", "--steps", "1",
            "--pool", "4", "--replications", "2", "--diversity-pairs", "3", "--limit", "10",
            "--cfg-sweep", "1", "4", "--out", str(out)]
    assert bench.main(argv, evaluator=ToyEvaluator()) == 0
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [(r["method"], r["cfg"]) for r in rows] == [("Real", None), ("UniMotion, CFG 1", 1.0), ("UniMotion, CFG 4", 4.0)]
    # different guidance weights give different motions, hence different scores
    assert rows[1]["FID"]["mean"] != rows[2]["FID"]["mean"]


def test_protocol_summary_names_the_run_settings(bench):
    args = bench.parse_args(["--steps", "20", "--cfg", "2.5", "--mm-motions", "16", "--mm-repeats", "6",
                             "--edit-limit", "96", "--replications", "10"])
    text = bench.protocol_summary(args)
    for part in ("Euler 20 steps", "CFG 2.5", "first 16 motions × 6 generations", "at most 96", "10 pool"):
        assert part in text, part
    assert "MultiModality not computed" in bench.protocol_summary(bench.parse_args(["--mm-repeats", "0"]))


def _result_file(path: Path, split: str, commit: str = "abc", extra: str = "") -> Path:
    """A minimal result file as one evaluation run on ``split`` writes it."""
    rows = [{"task": "t2m", "split": split, "method": m, "n": 4, "R@3": {"mean": r, "ci95": 0.01, "rounds": 3}}
            for m, r in (("Real", 0.9), ("UniMotion", 0.5))]
    rows.append({"task": "prediction", "split": split, "method": "UniMotion", "n": 4, "ADE": 1.0, "FDE": 2.0})
    meta = {"command": f"python benchmarks/unimotion_eval.py --splits {split} --rounds 3 --steps 50{extra} "
                       f"--out /tmp/{split}",
            "git_commit": commit, "date": "2026-12-06T00:00:00Z", "budget": {"stage_steps": {"lra": 500}},
            "checkpoint": "ckpt", "protocol": {"rounds": 3}, "timings_s": {f"t2m/{split}": 10.0}, "wall_s": 12.5}
    path.write_text(json.dumps({"meta": meta, "rows": rows}))
    return path


def test_merge_combines_runs_on_different_splits(tmp_path, bench):
    a = _result_file(tmp_path / "a.json", "test")
    b = _result_file(tmp_path / "b.json", "test_novel")
    out = tmp_path / "merged"
    assert bench.main(["--merge", str(a), str(b), "--out", str(out), "--title", "Merged"]) == 0
    payload = json.loads(out.with_suffix(".json").read_text())
    assert [(r["task"], r["split"]) for r in payload["rows"]][:3] == [("t2m", "test")] * 2 + [("prediction", "test")]
    assert {r["split"] for r in payload["rows"]} == {"test", "test_novel"}
    assert [m["command"].split("--splits ")[1].split()[0] for m in payload["meta"]["merged_from"]] == [
        "test", "test_novel"]
    assert payload["meta"]["timings_s"] == {"t2m/test": 10.0, "t2m/test_novel": 10.0}
    md = out.with_suffix(".md").read_text()
    assert md.startswith("# Merged") and "--merge" in md and "| test_novel | UniMotion |" in md
    assert "**Merged from**" in md and "--splits test_novel" in md


def test_merge_refuses_runs_that_differ(tmp_path, bench):
    a = _result_file(tmp_path / "a.json", "test")
    other_steps = _result_file(tmp_path / "b.json", "test_novel", extra=" --cfg 5")
    with pytest.raises(SystemExit, match="other options.*cfg"):
        bench.main(["--merge", str(a), str(other_steps), "--out", str(tmp_path / "m")])
    other_commit = _result_file(tmp_path / "c.json", "test_novel", commit="def")
    with pytest.raises(SystemExit, match="different commits"):
        bench.main(["--merge", str(a), str(other_commit), "--out", str(tmp_path / "m")])
    same_split = _result_file(tmp_path / "d.json", "test")
    with pytest.raises(SystemExit, match="more than one input"):
        bench.main(["--merge", str(a), str(same_split), "--out", str(tmp_path / "m")])
    (tmp_path / "e.json").write_text("not json")
    with pytest.raises(SystemExit, match="not a result file"):
        bench.main(["--merge", str(a), str(tmp_path / "e.json"), "--out", str(tmp_path / "m")])
