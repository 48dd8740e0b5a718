"""The shipped demo checkpoint ``checkpoints/unimotion_bandaiml`` end to end: what ``scripts/demo.sh`` runs
(text → GIF + BVH through ``unimotion generate``), with a few Euler steps so it stays fast."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from unimotion.cli import main as cli_main
from unimotion.io.bvh import read_bvh
from unimotion.io.video import read_gif
from unimotion.notices import BANDAI_NOTICE

REPO = Path(__file__).resolve().parents[2]
CKPT = REPO / "checkpoints" / "unimotion_bandaiml"


@pytest.fixture(scope="module")
def pipe():
    from unimotion.pipelines.unimotion import UniMotionPipeline

    assert (CKPT / "pipeline.json").is_file(), f"the demo checkpoint {CKPT} is missing from the repository"
    return UniMotionPipeline.from_pretrained(CKPT)


def test_checkpoint_size_and_notice():
    files = [p for p in CKPT.rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    assert total <= 40 * 1024 * 1024, f"{CKPT} is {total / 2**20:.1f} MiB (limit 40)"
    assert (CKPT / "NOTICE").read_text(encoding="utf-8").strip() == BANDAI_NOTICE.strip()
    assert (CKPT / "model" / "tokenizer").is_dir() and (CKPT / "vae" / "config.json").is_file()


def test_default_path_is_the_shipped_checkpoint(pipe):
    from unimotion.pipelines.unimotion import default_pipeline_path

    assert default_pipeline_path().resolve() == CKPT.resolve()
    assert pipe.feature_dim == 269 and pipe.fps == 20
    assert pipe.max_frames >= 196


def test_demo_command_writes_gif_and_bvh(tmp_path, capsys):
    """The README's main job: ``unimotion generate "<text>" -o motion.gif --bvh motion.bvh`` (default checkpoint)."""
    gif, bvh = tmp_path / "motion.gif", tmp_path / "motion.bvh"
    rc = cli_main(["generate", "a person walks forward happily", "-o", str(gif), "--bvh", str(bvh),
                   "--steps", "4", "--seconds", "2", "--size", "64"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "non-commercial" in out
    frames, _ = read_gif(gif)
    assert frames.shape[0] == 40 and frames.shape[1] == 64
    motion = read_bvh(bvh)
    assert motion.num_frames == 40 and abs(motion.fps - 20) < 1e-6
    joints = motion.joint_positions() / 100.0  # centimetres → metres
    assert np.isfinite(joints).all()
    # a plausible human: the head is between 1.2 m and 2.2 m above the feet on average
    height = (joints[..., 1].max(axis=1) - joints[..., 1].min(axis=1)).mean()
    assert 1.2 < height < 2.2, height


def test_trained_model_follows_the_text(pipe):
    """Different prompts and seeds give different motions; the same ones reproduce exactly."""
    a = pipe.text_to_motion("a person walks forward happily", frames=40, seed=0, num_steps=4)
    b = pipe.text_to_motion("a person walks forward happily", frames=40, seed=0, num_steps=4)
    c = pipe.text_to_motion("a person bows politely", frames=40, seed=0, num_steps=4)
    np.testing.assert_array_equal(a.joints, b.joints)
    assert a.joints.shape == (40, 22, 3)
    assert np.abs(a.joints - c.joints).max() > 1e-3
    caption = pipe.motion_to_text(a.features)
    assert isinstance(caption, str) and caption.strip()
