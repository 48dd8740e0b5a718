"""benchmarks/gallery.py and benchmarks/postprocess_ablation.py on a tiny random pipeline (smoke + outputs)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from unimotion_helpers import tiny_pipeline, walk_joints

REPO = Path(__file__).resolve().parents[2]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def tiny_ckpt(tokenizer, tmp_path):
    from unimotion.motion.rigid import skeleton_offsets
    from unimotion.pipelines.vocabulary import build_vocabulary

    pipe = tiny_pipeline(tokenizer, max_frames=196)
    pipe.skeleton = skeleton_offsets(walk_joints(20)[0])
    pipe.vocabulary = build_vocabulary(["a person walks"], ["dataset-2_walk_normal_001"])
    return pipe.save_pretrained(tmp_path / "pipe")


@pytest.mark.bandai
def test_gallery_writes_strips_for_every_training_action(bandaiml_small, tiny_ckpt, tmp_path):
    gallery = _load("gallery")
    out = tmp_path / "g" / "gallery.md"
    argv = ["--checkpoint", str(tiny_ckpt), "--data", str(bandaiml_small), "--out", str(out), "--steps", "2",
            "--frames", "3", "--size", "32", "--examples", "1", "--seconds", "2", "--results", "",
            "--per-action", "2", "--actions-out", str(tmp_path / "actions")]
    assert gallery.main(argv) == 0
    text = out.read_text()
    actions = {p["action"] for p in gallery.prompts(str(bandaiml_small))}
    assert actions and all(f"| {a} |" in text for a in actions)
    pngs = sorted((out.parent / "gallery").glob("*.png"))
    assert len([p for p in pngs if p.name.startswith("t2m_")]) == len(gallery.prompts(str(bandaiml_small)))
    assert any(p.name.startswith("predict_") for p in pngs) and "## Editing" in text
    from PIL import Image

    assert Image.open(pngs[0]).size[1] == 32  # one frame high
    for p in pngs:
        assert f"]({p.relative_to(out.parent).as_posix()})" in text
    rows = json.loads((tmp_path / "actions.json").read_text())["rows"]
    assert {r["action"] for r in rows} == actions and all(0 <= r["R@3 (UniMotion)"] <= 1 for r in rows)
    assert "## Every action, asked with training captions" in text


@pytest.mark.bandai
def test_postprocess_ablation_rows(bandaiml_small, tiny_ckpt, tmp_path):
    bench = _load("postprocess_ablation")
    out = tmp_path / "pp"
    assert bench.main(["--checkpoint", str(tiny_ckpt), "--data", str(bandaiml_small), "--split", "train",
                       "--every", "4", "--steps", "2", "--out", str(out)]) == 0
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    by = {r["variant"]: r for r in rows}
    assert by["Real (val motions)"]["bone_std_mm"] < 0.01
    assert by["raw decoder output"]["bone_std_mm"] > 1.0  # a random decoder does not keep bone lengths
    for name in ("rigid (directions)", "rigid (limb IK)", "rigid (limb IK) + clean-up (height)"):
        assert by[name]["bone_std_mm"] < 0.01, name
    assert by["rigid (limb IK) + clean-up (height)"]["penetration_mm"] == 0.0


@pytest.mark.parametrize("script", sorted(p.name for p in (REPO / "benchmarks").glob("*.py")))
def test_every_benchmark_has_help(script):
    if script in ("hml3d_reference.py", "hml3d_original.py"):
        pytest.skip("a reference implementation imported by tests and benchmarks, not a command")
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), "--help"], capture_output=True,
                          text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "usage" in proc.stdout.lower()
