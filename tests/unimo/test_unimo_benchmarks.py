"""benchmarks/unimo_tokenizer_sweep.py and benchmarks/unimo_eval.py: their metric helpers by hand, and both
scripts end to end on the small real BandaiML subset with tiny models (JSON/markdown written, rows present)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]

AR = "UniMo (joint I2VM + V2M, autoregressive V2M)"  # the row label of a model with paper-style V2M


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"unimo_bench_{name}", REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ev():
    return _load("unimo_eval")


def test_consistency_alignment_and_psnr(ev):
    class FakeKeypoints:
        """Returns fixed 2D joints, whatever the image."""

        def __init__(self, joints):
            self.joints = joints

        def predict(self, images):
            assert images.shape[0] == self.joints.shape[0] * self.joints.shape[1]
            return self.joints.reshape(-1, 22, 2)

    rng = np.random.default_rng(0)
    proj = rng.uniform(10, 50, (3, 4, 22, 2))
    detected = 1.5 * proj + np.array([3.0, -2.0])  # a scaled and shifted copy: aligned error 0
    raw, aligned = ev.consistency(FakeKeypoints(detected), np.zeros((3, 4, 8, 8, 3), np.uint8), proj)
    np.testing.assert_allclose(raw, np.linalg.norm(detected - proj, axis=-1).mean(axis=(1, 2)))
    np.testing.assert_allclose(aligned, 0.0, atol=1e-9)
    a = np.zeros((2, 1, 2, 2, 3), np.uint8)
    b = a.copy()
    b[1] = 10  # MSE 100 → 10·log10(255² / 100)
    np.testing.assert_allclose(ev.psnr_np(b, a)[1], 10 * np.log10(255**2 / 100))
    out = ev.ci(np.array([1.0, 2.0, 3.0]), 1000)
    assert out["mean"] == 2000 and out["ci95"] == pytest.approx(1.96 * 1000 / np.sqrt(3))


def test_code_features_pick_the_latent_frame_of_each_frame(ev):
    import torch

    codes = torch.arange(3).view(1, 3, 1, 1)  # latent frame k holds code k
    f = ev.code_features(codes, [4, 3], num_frames=9, temporal_compression=4)  # 1 + 4 + 4 frames
    assert f.shape == (1, 9, 2 + 9)
    from unimotion.models.blocks.quantizers import FSQ

    vec = FSQ([4, 3]).codes_to_vectors(torch.arange(3))
    for t, k in enumerate([0, 1, 1, 1, 1, 2, 2, 2, 2]):
        torch.testing.assert_close(f[0, t, :2], vec[k])
        assert f[0, t, 2 + t] == 1 and f[0, t, 2:].sum() == 1


def test_baseline_comparison_picks_the_better_baseline(ev):
    import torch

    def row(method, split, **vals):
        return {"table": "v2m", "method": method, "split": split,
                **{k: {"mean": v, "ci95": 0.0} for k, v in vals.items()}}

    cols = dict.fromkeys(["pa_mpjpe_mm", "w_mpjpe_mm", "transl_err_mm"], 10.0)
    rows = [row("control: UniMo (joint I2VM + V2M) given another clip's video", "test", mpjpe_mm=2.0, **cols),
            row(AR, "test", mpjpe_mm=50.0, **cols),
            row("baseline: a", "test", mpjpe_mm=100.0, **{**cols, "w_mpjpe_mm": 5.0}),
            row("baseline: b", "test", mpjpe_mm=80.0, **cols),
            row("motion tokenizer reconstruction of the true motion (ceiling)", "test", mpjpe_mm=1.0, **cols)]
    out = {r["metric"]: r for r in ev.baseline_comparison(rows)}
    assert set(out) == {"mpjpe_mm", "pa_mpjpe_mm", "w_mpjpe_mm", "transl_err_mm"}
    assert out["mpjpe_mm"]["baseline"] == "b" and out["mpjpe_mm"]["best_baseline"] == 80.0  # the ceiling is no baseline
    assert out["mpjpe_mm"]["change_pct"] == pytest.approx(-37.5) and out["mpjpe_mm"]["verdict"] == "UniMo lower"
    assert out["w_mpjpe_mm"]["baseline"] == "a" and out["w_mpjpe_mm"]["verdict"] == "baseline lower"
    assert ev.baseline_comparison(rows[2:]) == []  # no model row: nothing to compare (the control is none)
    assert ev.control_lines(rows) == ["- **test**: own video vs another clip's video: mpjpe_mm 50.0 vs 2.0; "
                                      "pa_mpjpe_mm 10.0 vs 10.0; w_mpjpe_mm 10.0 vs 10.0."]
    assert ev.control_lines(rows[1:]) == []
    probe = row(ev.PROBE_METHOD, "test", mpjpe_mm=40.0, pa_mpjpe_mm=5.0)
    assert ev.probe_lines([*rows, probe]) == ["- **test**: mpjpe_mm: probe 40.0 (-50%), UniMo 50.0 (-38%), baseline "
                                              "80.0; pa_mpjpe_mm: probe 5.0 (-50%), UniMo 10.0 (+0%), baseline 10.0."]
    assert ev.probe_lines(rows) == []
    tokens = row(ev.TOKEN_PROBE_METHOD, "test", mpjpe_mm=60.0, pa_mpjpe_mm=8.0)
    assert "mpjpe_mm: probe 40.0 (-50%), token probe 60.0 (-25%), UniMo 50.0 (-38%)" in ev.probe_lines(
        [*rows, probe, tokens])[0]
    windows = ev.windowed(torch.arange(4.0).view(1, 4, 1), radius=1)
    assert windows[0].tolist() == [[0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 3]]


@pytest.mark.bandai
def test_sweep_and_eval_end_to_end(bandaiml_small, tmp_path, ev):
    import torch

    from unimotion.models.evaluators.keypoints import KeypointNet, KeypointNetConfig

    sweep = _load("unimo_tokenizer_sweep")
    tiny_mt = ["model.width=16", "model.depth=1", "model.code_dim=8", "model.trunk_depth=1", "model.expert_depth=1",
               "model.expert_width=8", f"data.root={bandaiml_small}", f"data.stats_dir={tmp_path / 'stats'}",
               "trainer.batch_size=4"]
    args = ["--expansions", "2", "4", "--codebooks", "16", "--steps", "2", "--splits", "val", "--runs-root",
            str(tmp_path / "runs"), "--out", str(tmp_path / "sweep")]
    for o in tiny_mt:
        args += ["--set", o]
    assert sweep.main(args) == 0
    data = json.loads((tmp_path / "sweep.json").read_text())
    assert [(r["s"], r["K"], r["split"], r["tokens_per_clip"]) for r in data["rows"]] == [(2, 16, "val", 34), (4, 16, "val", 68)]
    assert "tiles" not in data["rows"][0] and data["meta"]["video_clip_metrics"]["s2_k16"]["val"]["clips"] >= 1
    assert "| s | K |" in (tmp_path / "sweep.md").read_text()

    vt_dir = tmp_path / "vt"
    from unimotion.cli import main

    vt_args = ["train", "unimo-video-tokenizer", "--config", "configs/unimo/video_tokenizer.yaml"]
    for o in [f"data.root={bandaiml_small}", f"trainer.out_dir={vt_dir}", "trainer.max_steps=1", "trainer.batch_size=2",
              "model.base_channels=8", "model.num_res_blocks=1", "model.fsq_levels=[5,3,3]", "model.norm_groups=4",
              "data.eval_splits=[]"]:
        vt_args += ["--set", o]
    assert main(vt_args) == 0
    torch.manual_seed(0)
    kp = KeypointNet(KeypointNetConfig(stem_channels=8, mid_channels=8, low_channels=8, feature_dim=8,
                                       blocks_high=0, blocks_mid=0, blocks_low=0))
    kp.save_pretrained(tmp_path / "kp")
    overrides = [f"motion_tokenizer={tmp_path / 'runs' / 'unimo_mt_s4_k16' / 'final'}", f"video_tokenizer={vt_dir / 'final'}",
                 f"data.root={bandaiml_small}", f"data.cache_dir={tmp_path / 'cache'}", "data.extra_clips_per_motion=0",
                 "trainer.max_steps=2", "trainer.batch_size=4", "model.dim=32", "model.n_layers=1", "model.n_heads=2",
                 "data.eval_split="]
    eval_args = ["--data", str(bandaiml_small), "--main-config", "configs/unimo/unimo.yaml", "--main-run", str(tmp_path / "main"), "--ablation-root", str(tmp_path),
                 "--ablations", "ref", "v2m_only", "--keypoints", str(tmp_path / "kp"), "--splits", "test", "val",
                 "--ablation-i2vm-split", "test", "--limit", "3", "--probe-steps", "5", "--out", str(tmp_path / "eval")]
    for o in overrides:
        eval_args += ["--set", o]
    assert ev.main(eval_args) == 0
    result = json.loads((tmp_path / "eval.json").read_text())
    rows = result["rows"]
    v2m = [r for r in rows if r["table"] == "v2m"]
    methods = {r["method"] for r in v2m}
    assert {AR, "motion tokenizer reconstruction of the true motion (ceiling)"} <= methods
    assert sum(r["method"].startswith("baseline") for r in v2m) == 4  # 2 baselines × 2 splits
    control = [r for r in v2m if r["method"].startswith("control: ")]
    assert [r["split"] for r in control] == ["test", "test", "val", "val"]  # same-action neighbour, other action
    assert sum(r["method"].startswith(ev.OTHER_ACTION_PREFIX) for r in control) == 2
    probe = [r for r in v2m if r["method"] == ev.PROBE_METHOD]
    assert [r["split"] for r in probe] == ["test", "val"] and probe[0]["probe_steps"] == 5
    assert probe[0]["w_mpjpe_mm"] is None and probe[0]["mpjpe_mm"]["mean"] > 0  # pose columns only
    tokens = [r for r in v2m if r["method"] == ev.TOKEN_PROBE_METHOD]
    assert [r["split"] for r in tokens] == ["test", "val"] and tokens[0]["w_mpjpe_mm"]["mean"] > 0  # decoded motion
    for r in v2m:
        assert r["clips"] == 3 and r["mpjpe_mm"]["mean"] >= 0
    i2vm = [r for r in rows if r["table"] == "i2vm" and r["split"] == "test"]
    real = next(r for r in i2vm if r["method"].startswith("real renders"))
    assert "fid" not in real and real["consistency_px"]["mean"] >= 0  # real frames are the FID reference
    assert np.isfinite(next(r for r in i2vm if r["method"].startswith("UniMo"))["fid"])
    abl = {r["variant"]: r for r in rows if r["table"] == "ablation"}
    assert set(abl) == {"ref", "v2m_only"} and abl["v2m_only"]["i2vm_fid"] is None and abl["ref"]["i2vm_fid"] is not None
    md = (tmp_path / "eval.md").read_text()
    assert "## I2VM" in md and "## Ablations" in md and "GVHMR" in md and "## V2M against the trivial baselines" in md
    assert "Ablations not run for this file: `uni_emb`" in md
    assert "**How much pose do the video tokens hold?**" in md and "mpjpe_mm: probe" in md
    assert "**Does V2M read the video?**" in md and "own video vs another clip's video: mpjpe_mm" in md
    assert {r["split"] for r in rows if r["table"] == "v2m_vs_baseline"} == {"test", "val"}
    first_table = md.split("## V2M against")[0]
    assert "real renders" not in first_table  # the first table holds the V2M rows only

    # a second run reuses every evaluation unit from <run>/eval_cache/ and writes the same numbers
    assert (tmp_path / "main" / "eval_cache" / "main_test.json").is_file()
    assert ev.main([*eval_args, "--out", str(tmp_path / "eval2")]) == 0
    rows2 = json.loads((tmp_path / "eval2.json").read_text())["rows"]
    assert all(r.get("cached") for r in rows2 if r["table"] in ("v2m", "i2vm"))
    key = [(r["table"], r.get("method", r.get("variant")), r.get("split")) for r in rows]
    assert key == [(r["table"], r.get("method", r.get("variant")), r.get("split")) for r in rows2]
    first = next(r for r in rows if r.get("method") == AR if r["table"] == "v2m")
    again = next(r for r in rows2 if r.get("method") == AR if r["table"] == "v2m")
    assert first["mpjpe_mm"] == again["mpjpe_mm"]
    # --no-cache recomputes (greedy V2M: the same numbers, now without the cached flag)
    assert ev.main([*eval_args, "--out", str(tmp_path / "eval3"), "--no-cache"]) == 0
    rows3 = json.loads((tmp_path / "eval3.json").read_text())["rows"]
    assert not any(r.get("cached") for r in rows3)
    again = next(r for r in rows3 if r.get("method") == AR if r["table"] == "v2m")
    assert again["mpjpe_mm"]["mean"] == pytest.approx(first["mpjpe_mm"]["mean"])

    # a fine-tuned main model (init_from, masked V2M): its rows, plus the V2M of the run it started from
    ft_args = [*eval_args, "--main-config", "configs/unimo/unimo_masked_ft.yaml", "--main-run", str(tmp_path / "ft"),
               "--set", f"init_from={tmp_path / 'main' / 'final'}", "--splits", "test", "--ablations", "ref",
               "--out", str(tmp_path / "eval_ft")]
    assert ev.main(ft_args) == 0
    assert json.loads((tmp_path / "ft" / "train_summary.json").read_text())["config"]["model"]["v2m_motion_inputs"] \
        == "masked"
    rows_ft = [r for r in json.loads((tmp_path / "eval_ft.json").read_text())["rows"] if r["table"] == "v2m"]
    methods = [r["method"] for r in rows_ft]
    assert "UniMo (joint I2VM + V2M, masked V2M)" in methods
    main_ft = next(r for r in rows_ft if r["method"] == "UniMo (joint I2VM + V2M, masked V2M)")
    assert main_ft["v2m_decoding"] == "expected"  # the default for a masked-V2M model, with its argmax row beside it
    assert next(r for r in rows_ft if r["method"] == ev.GREEDY_PREFIX + main_ft["method"])["v2m_decoding"] == "greedy"
    start = [r for r in rows_ft if r["method"].startswith(ev.START_PREFIX)]
    assert len(start) == 1 and start[0]["method"] == f"{ev.START_PREFIX}{AR}, 2 steps (main)"
    assert start[0]["mpjpe_mm"]["mean"] == pytest.approx(first["mpjpe_mm"]["mean"])  # the same model as "main"
    # a chain of fine-tuning runs is followed back to the run trained from scratch
    ft2 = tmp_path / "ft2"
    (ft2).mkdir()
    (ft2 / "train_summary.json").write_text(json.dumps({"config": {"init_from": str(tmp_path / "ft" / "final")}}))
    assert ev.fine_tuning_chain({"init_from": str(ft2 / "final")}) == [ft2, tmp_path / "ft", tmp_path / "main"]
    assert ev.fine_tuning_chain({"init_from": ""}) == [] and ev.fine_tuning_chain({}) == []


def test_other_action_index_picks_the_next_clip_of_another_action(ev):
    ids = ["dataset-1_walk_normal_001", "dataset-1_walk_happy_001", "dataset-1_bow_normal_001",
           "dataset-2_wave-right-hand_normal_010_w00", "odd-id"]
    assert ev.other_action_index(ids).tolist() == [2, 2, 3, 4, 0]
    assert ev.other_action_index(["dataset-1_walk_normal_001", "dataset-1_walk_happy_001"]).tolist() == [0, 1]
