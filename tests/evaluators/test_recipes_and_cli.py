"""`unimotion train keypoints|evaluator` on a small real BandaiML, and `unimotion eval TASK` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from unimotion.cli import main
from unimotion.models.modeling_utils import load_pretrained

TINY_KP = ["model.stem_channels=8", "model.mid_channels=8", "model.low_channels=8", "model.feature_dim=8",
           "model.blocks_high=0", "model.blocks_mid=1", "model.blocks_low=1"]
TINY_EV = ["model.embed_dim=16", "model.motion_width=16", "model.motion_layers=1", "model.motion_heads=2",
           "model.motion_ff=16", "model.text_hidden=16"]


def _sets(items: list[str]) -> list[str]:
    return [a for item in items for a in ("--set", item)]


@pytest.fixture(scope="module")
def trained(bandaiml_small, tmp_path_factory):
    """Tiny keypoint net and evaluator, 3 steps each, exported like the shipped checkpoints."""
    tmp = tmp_path_factory.mktemp("recipes")
    common = ["trainer.max_steps=3", "trainer.batch_size=4", "trainer.progress=false", "trainer.eval_every=2",
              "trainer.save_every=0", "trainer.device=cpu", "threads=1"]
    rc = main(["-q", "train", "keypoints", "--config", "configs/keypoints/bandaiml.yaml",
               *_sets([f"data.root={bandaiml_small}", "data.val_images=8", f"trainer.out_dir={tmp / 'kp_run'}",
                       f"export_dir={tmp / 'kp'}", *common, *TINY_KP])])
    assert rc == 0
    rc = main(["-q", "train", "evaluator", "--config", "configs/evaluator/bandaiml.yaml",
               *_sets([f"data.root={bandaiml_small}", f"trainer.out_dir={tmp / 'ev_run'}", f"export_dir={tmp / 'ev'}",
                       *common, *TINY_EV])])
    assert rc == 0
    return tmp


@pytest.mark.bandai
def test_exported_checkpoints(trained, bandaiml_small):
    kp = load_pretrained(trained / "kp")
    assert type(kp).__name__ == "KeypointNet" and "Bandai" in kp.notice
    assert json.loads((trained / "kp" / "train_summary.json").read_text())["steps"] == 3
    ev = load_pretrained(trained / "ev")
    assert type(ev).__name__ == "RetrievalEvaluator" and "NON-COMMERCIAL" in ev.notice
    # its own statistics: mean/std over every frame of the training split (computed here independently)
    from unimotion.data.humanml3d import read_split

    frames = np.concatenate([np.load(bandaiml_small / "new_joint_vecs" / f"{i}.npy")
                             for i in read_split(bandaiml_small, "train")
                             if (bandaiml_small / "new_joint_vecs" / f"{i}.npy").is_file()
                             and 40 <= len(np.load(bandaiml_small / "new_joint_vecs" / f"{i}.npy")) < 200])
    np.testing.assert_allclose(ev.stats.mean, frames.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ev.stats.std, np.maximum(frames.std(0), 1e-4), rtol=1e-4, atol=1e-5)
    # no MiniLM weights in the checkpoint
    assert (trained / "ev" / "model.safetensors").stat().st_size < 2_000_000


@pytest.mark.bandai
def test_train_never_replaces_an_export_dir_without_overwrite(trained, bandaiml_small, tmp_path, capsys):
    """The README's promise: nothing is overwritten without --overwrite — checked before any training."""
    import os
    import shutil

    export = tmp_path / "kp"
    shutil.copytree(trained / "kp", export)
    os.chmod(export, 0o755)
    before = {p.name: p.stat().st_mtime_ns for p in export.iterdir()}
    args = ["-q", "train", "keypoints", "--config", "configs/keypoints/bandaiml.yaml",
            *_sets([f"data.root={bandaiml_small}", "data.val_images=8", f"trainer.out_dir={tmp_path / 'run'}",
                    f"export_dir={export}", "trainer.max_steps=1", "trainer.batch_size=4", "trainer.progress=false",
                    "trainer.eval_every=0", "trainer.save_every=0", "trainer.device=cpu", "threads=1", *TINY_KP])]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "exists" in err and "--overwrite" in err
    assert {p.name: p.stat().st_mtime_ns for p in export.iterdir()} == before
    assert not (tmp_path / "run").exists()  # refused before training
    mask = os.umask(0)
    os.umask(mask)
    assert main([*args, "--overwrite"]) == 0
    assert json.loads((export / "train_summary.json").read_text())["steps"] == 1
    assert export.stat().st_mode & 0o777 == 0o777 & ~mask  # not the 0700 of a temporary folder


@pytest.mark.bandai
def test_eval_pose_with_a_keypoint_checkpoint_and_arrays(trained, bandaiml_small, tmp_path):
    out = tmp_path / "pose"
    assert main(["-q", "eval", "pose", "--pred", str(trained / "kp"), "--data", str(bandaiml_small), "--split", "test",
                 "--out", str(out)]) == 0
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [r["method"] for r in rows] == ["Real", "generated"]
    assert rows[0]["err_px"] == 0.0 and rows[0]["PCK@2"] == 1.0 and rows[1]["err_px"] > 0
    # the same predictions as arrays (per id) score identically; 3D ground truth scores perfectly
    from unimotion.evaluation import tasks as T

    views = T.load_rendered_views(bandaiml_small, "test", "images")
    pred = load_pretrained(trained / "kp").predict(views.images)
    arrays, pos = {}, 0
    for i, n in views.counts.items():
        arrays[i] = pred[pos : pos + n]
        pos += n
    np.savez(tmp_path / "kp.npz", **arrays)
    assert main(["-q", "eval", "pose", "--pred", str(tmp_path / "kp.npz"), "--data", str(bandaiml_small),
                 "--split", "test", "--out", str(tmp_path / "pose2")]) == 0
    rows2 = json.loads((tmp_path / "pose2.json").read_text())["rows"]
    assert rows2[1]["err_px"] == pytest.approx(rows[1]["err_px"], rel=1e-5)
    gt3d = T.gt_joints_3d(bandaiml_small, views)
    arrays3d, pos = {}, 0
    for i, n in views.counts.items():
        arrays3d[i] = gt3d[pos : pos + n]
        pos += n
    np.savez(tmp_path / "kp3d.npz", **arrays3d)
    assert main(["-q", "eval", "pose", "--pred", str(tmp_path / "kp3d.npz"), "--data", str(bandaiml_small),
                 "--split", "test", "--out", str(tmp_path / "pose3")]) == 0
    rows3 = json.loads((tmp_path / "pose3.json").read_text())["rows"]
    assert rows3[1]["MPJPE_mm"] == pytest.approx(0.0, abs=1e-3) and rows3[1]["hit_rate"] == 1.0


@pytest.mark.bandai
def test_eval_t2m_m2t_recon_on_small_bandaiml(trained, bandaiml_small, tmp_path):
    from unimotion.data.humanml3d import HumanML3DReader

    recs = HumanML3DReader(bandaiml_small, "all").records
    pred = tmp_path / "gen"
    pred.mkdir()
    for r in recs:
        np.save(pred / f"{r.name}.npy", r.motion)
    (tmp_path / "caps.json").write_text(json.dumps({r.name: r.captions[0].text for r in recs}))
    base = ["--data", str(bandaiml_small), "--split", "all", "--evaluator", str(trained / "ev"), "--batch-size", "8",
            "--diversity-pairs", "5", "--replications", "2"]
    with pytest.warns(UserWarning, match="pools of 8"):
        assert main(["-q", "eval", "t2m", "--pred", str(pred), *base, "--out", str(tmp_path / "t2m")]) == 0
    payload = json.loads((tmp_path / "t2m.json").read_text())
    real, gen = payload["rows"]
    assert real["method"] == "Real" and gen["method"] == "generated"
    assert payload["meta"]["task"] == "t2m" and payload["meta"]["split"] == "all"
    assert 0.0 <= real["ceiling_R@1"]["mean"] <= 1.0
    md = (tmp_path / "t2m.md").read_text()
    assert "| Real |" in md and "R@1" in md
    with pytest.warns(UserWarning):
        assert main(["-q", "eval", "m2t", "--pred", str(tmp_path / "caps.json"), *base, "--out", str(tmp_path / "m2t")]) == 0
    m2t = json.loads((tmp_path / "m2t.json").read_text())["rows"]
    # the captions are the first references: scored against the same references as the Real row
    assert m2t[1]["BLEU@1"] == pytest.approx(m2t[0]["BLEU@1"]) and m2t[1]["CIDEr"] == pytest.approx(m2t[0]["CIDEr"])
    with pytest.warns(UserWarning):
        assert main(["-q", "eval", "recon", "--pred", str(pred), *base, "--out", str(tmp_path / "recon")]) == 0
    recon = json.loads((tmp_path / "recon.json").read_text())["rows"]
    assert recon[1]["MPJPE_mm"] == pytest.approx(0.0, abs=1e-3)
    with pytest.warns(UserWarning):
        assert main(["-q", "eval", "pred", "--pred", str(pred), *base, "--out", str(tmp_path / "pred")]) == 0
    pr = json.loads((tmp_path / "pred.json").read_text())["rows"]
    assert pr[0]["ADE"] == 0.0 and pr[1]["ADE"] == pytest.approx(0.0, abs=1e-6)
    edits = [{"id": f"edit{k}", "source": recs[k].name, "target": recs[(k + 1) % len(recs)].name, "instruction": "x"}
             for k in range(len(recs))]
    (tmp_path / "edits.json").write_text(json.dumps(edits))
    edited = tmp_path / "edited"
    edited.mkdir()
    for e in edits:
        target = next(r.motion for r in recs if r.name == e["target"])
        np.save(edited / f"{e['id']}.npy", target[: len(target) // 4 * 4])  # the ground truth is cut to 4k frames
    with pytest.warns(UserWarning):
        assert main(["-q", "eval", "edit", "--pred", str(edited), "--edits", str(tmp_path / "edits.json"), *base,
                     "--out", str(tmp_path / "edit")]) == 0
    ed = json.loads((tmp_path / "edit.json").read_text())["rows"]
    assert [r["method"] for r in ed] == ["Real", "source (no edit)", "generated"]
    assert ed[2]["R@1"]["mean"] == pytest.approx(1.0)


def test_eval_help_lists_every_task(capsys):
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    text = capsys.readouterr().out
    for task in ("t2m", "m2t", "pred", "edit", "recon", "pose"):
        assert task in text


def test_eval_reports_missing_evaluator_cleanly(tmp_path, capsys):
    rc = main(["eval", "t2m", "--evaluator", str(tmp_path / "nope"), "--data", str(tmp_path), "--out", str(tmp_path / "x")])
    assert rc == 2
    assert "not a unimotion checkpoint" in capsys.readouterr().err
