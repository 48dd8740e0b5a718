"""``unimotion generate | caption | predict | edit`` with a tiny random pipeline checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest
from unimotion_helpers import tiny_pipeline, walk_joints

from unimotion.cli import main as cli_main
from unimotion.io.bvh import read_bvh
from unimotion.io.video import read_gif


@pytest.fixture(scope="module")
def ckpt(tokenizer, tmp_path_factory):
    path = tmp_path_factory.mktemp("um_cli") / "pipe"
    tiny_pipeline(tokenizer).save_pretrained(path)
    return path


def test_generate_writes_gif_bvh_npz_and_refuses_overwrite(ckpt, tmp_path, capsys):
    gif, bvh, npz = tmp_path / "wave.gif", tmp_path / "wave.bvh", tmp_path / "wave.npz"
    args = ["generate", "a person waves the right hand", "-o", str(gif), "--bvh", str(bvh), "--npz", str(npz),
            "--checkpoint", str(ckpt), "--steps", "2", "--seconds", "1.5", "--size", "64"]
    assert cli_main(args) == 0
    out = capsys.readouterr().out
    assert "30 frames" in out and "non-commercial" in out
    frames, _ = read_gif(gif)
    assert frames.shape[0] == 30 and frames.shape[1] == 64
    motion = read_bvh(bvh)
    assert motion.num_frames == 30 and abs(motion.fps - 20) < 1e-6
    with np.load(npz) as z:
        assert z["features"].shape == (30, 269) and z["joints"].shape == (30, 22, 3)
        assert str(z["prompt"]) == "a person waves the right hand"
        np.testing.assert_allclose(motion.joint_positions()[:, 0] / 100.0, z["joints"][:, 0], atol=2e-3)
    before = gif.read_bytes()
    assert cli_main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert gif.read_bytes() == before
    assert cli_main(args + ["--overwrite", "--seed", "1"]) == 0


def test_generate_bvh_of_non_rigid_motion_warns_and_positions_all_is_exact(ckpt, tmp_path, capsys):
    """A (random, untrained) generated motion is not a rigid skeleton: the rotation-only BVH says how far
    off it is and why, not as a normal line; --bvh-positions all writes an exact file."""
    import logging

    base = ["generate", "a person walks", "--checkpoint", str(ckpt), "--steps", "2", "--seconds", "1"]
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # the CLI's logging set-up stops propagation to pytest's root handler
    logging.getLogger("unimotion").addHandler(handler)
    try:
        assert cli_main([*base, "-o", str(tmp_path / "rot.bvh")]) == 0
    finally:
        logging.getLogger("unimotion").removeHandler(handler)
    out = capsys.readouterr().out
    assert "rotations only: joints off by up to" in out and "--bvh-positions all" in out
    assert "reproduced within" not in out
    warning = next(r.getMessage() for r in records if "rigid skeleton" in r.getMessage())
    assert "not the motion of one rigid skeleton" in warning and "bone lengths vary" in warning
    assert cli_main([*base, "-o", str(tmp_path / "all.bvh"), "--bvh-positions", "all"]) == 0
    assert "joints reproduced within 0.00 mm" in capsys.readouterr().out
    motion = read_bvh(tmp_path / "all.bvh")
    assert all(len(c) == 6 for c in motion.channels) and np.abs(motion.offsets[1:]).max() > 1.0


def test_generate_input_errors(ckpt, tmp_path, capsys):
    base = ["--checkpoint", str(ckpt), "--steps", "1"]
    assert cli_main(["generate", "", "-o", str(tmp_path / "a.gif"), *base]) == 2
    assert "empty" in capsys.readouterr().err
    assert cli_main(["generate", "walk", "-o", str(tmp_path / "a.txt"), *base]) == 2
    assert "format" in capsys.readouterr().err
    assert cli_main(["generate", "walk", "-o", str(tmp_path / "a.gif"), "--seconds", "500", *base]) == 2
    assert "frames" in capsys.readouterr().err
    assert cli_main(["generate", "walk", "-o", str(tmp_path / "a.gif"), "--checkpoint", str(tmp_path)]) == 2
    assert "pipeline.json" in capsys.readouterr().err
    assert cli_main(["generate", "walk", "-o", str(tmp_path / "a.gif"), "--bvh", str(tmp_path / "b.gif"), *base]) == 2
    assert ".bvh" in capsys.readouterr().err


def test_caption_bvh_npy_and_json(ckpt, tmp_path, capsys):
    bvh = tmp_path / "m.bvh"
    assert cli_main(["generate", "a man bows", "-o", str(bvh), "--checkpoint", str(ckpt), "--steps", "1",
                     "--frames", "24"]) == 0
    capsys.readouterr()
    js = tmp_path / "cap.json"
    assert cli_main(["caption", str(bvh), "--checkpoint", str(ckpt), "--max-tokens", "4", "--json", str(js)]) == 0
    printed = capsys.readouterr().out
    data = json.loads(js.read_text())
    assert data["input"] == str(bvh) and isinstance(data["caption"], str)
    assert printed.rstrip("\n").splitlines()[-1:] == [data["caption"]] or data["caption"] == ""
    npy = tmp_path / "j.npy"
    np.save(npy, walk_joints(30))
    assert cli_main(["caption", str(npy), "--checkpoint", str(ckpt), "--max-tokens", "3", "--sample"]) == 0
    assert cli_main(["caption", str(tmp_path / "missing.bvh"), "--checkpoint", str(ckpt)]) == 2
    (tmp_path / "x.txt").write_text("hello")
    assert cli_main(["caption", str(tmp_path / "x.txt"), "--checkpoint", str(ckpt)]) == 2
    assert cli_main(["caption", str(bvh), "--checkpoint", str(ckpt), "--json", str(js)]) == 2  # exists


def test_predict_and_edit(ckpt, tmp_path, capsys):
    npy = tmp_path / "walk.npy"
    np.save(npy, walk_joints(41))
    out = tmp_path / "pred.npz"
    assert cli_main(["predict", str(npy), "-o", str(out), "--checkpoint", str(ckpt), "--steps", "1",
                     "--frames", "16", "--max-seconds", "1.0"]) == 0
    with np.load(out) as z:
        assert int(z["observed_frames"]) == 19 and z["features"].shape == (35, 269)  # 20 joints → 19 features
    gif = tmp_path / "pred.gif"
    assert cli_main(["predict", str(npy), "-o", str(gif), "--checkpoint", str(ckpt), "--steps", "1", "--size", "48"]) == 0
    assert read_gif(gif)[0].shape[1] == 48
    edited = tmp_path / "edit.gif"
    assert cli_main(["edit", str(npy), "now do it happily", "-o", str(edited), "--npz", str(tmp_path / "e.npz"),
                     "--checkpoint", str(ckpt), "--steps", "1", "--size", "48"]) == 0
    frames, _ = read_gif(edited)
    assert frames.shape[1:3] == (48, 2 * 48 + 4)  # source | gap | edited
    with np.load(tmp_path / "e.npz") as z:
        assert z["features"].shape == z["source_features"].shape == (40, 269)
    assert "now do it happily" in capsys.readouterr().out
    assert cli_main(["edit", str(npy), " ", "-o", str(tmp_path / "e2.gif"), "--checkpoint", str(ckpt)]) == 2
    assert cli_main(["predict", str(npy), "-o", str(tmp_path / "p.gif"), "--checkpoint", str(ckpt),
                     "--start", "100"]) == 2


def test_every_argument_is_checked_before_the_model_loads(ckpt, tmp_path, capsys, monkeypatch):
    """Invalid arguments fail in milliseconds: the pipeline is never loaded for them."""
    from unimotion.pipelines.unimotion import UniMotionPipeline

    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr(UniMotionPipeline, "from_pretrained", no_loading)
    short, tiny = tmp_path / "short.npy", tmp_path / "tiny.npy"
    np.save(short, walk_joints(30)[:10])  # 9 feature frames: enough context, too short to caption
    np.save(tiny, walk_joints(30)[:3])  # 2 feature frames
    existing = tmp_path / "exists.gif"
    existing.write_bytes(b"x")
    base = ["--checkpoint", str(ckpt)]
    out = ["-o", str(tmp_path / "o.gif")]
    cases = [
        (["generate", "   ", *out], "empty"),
        (["generate", "walk", *out, "--seconds", "-1"], "--seconds"),
        (["generate", "walk", *out, "--seconds", "0.1"], "at least 4 frames"),
        (["generate", "walk", *out, "--frames", "0"], "at least 4 frames"),
        (["generate", "walk", *out, "--steps", "0"], "--steps"),
        (["generate", "walk", *out, "--cfg", "nan"], "--cfg"),
        (["generate", "walk", *out, "--size", "8"], "--size"),
        (["generate", "walk", *out, "--threads", "0"], "--threads"),
        (["generate", "walk", "-o", str(existing)], "--overwrite"),
        (["caption", str(tiny)], "captioning needs at least 20"),
        (["caption", str(short)], "captioning needs at least 20"),
        (["caption", str(short), "--max-tokens", "0"], "--max-tokens"),
        (["caption", str(tmp_path / "missing.npy")], "does not exist"),
        (["predict", str(tiny), *out], "prediction (the observed motion) needs at least 8"),
        (["predict", str(short), *out, "--seconds", "0"], "--seconds"),
        (["edit", str(short), "now do it happily", *out], "editing needs at least 20"),
        (["edit", str(tiny), " ", *out], "empty"),
    ]
    for argv, fragment in cases:
        assert cli_main([*argv, *base]) == 2, argv
        err = capsys.readouterr().err
        assert fragment in err, (argv, err)


def test_threads_option_and_default(ckpt, tmp_path, monkeypatch):
    import torch

    from unimotion.cli import generate as G

    seen = []
    real = G.load_pipeline

    def spy(args):
        pipe = real(args)
        seen.append(torch.get_num_threads())
        return pipe

    before = torch.get_num_threads()
    monkeypatch.setattr(G, "load_pipeline", spy)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    base = ["generate", "walk", "--checkpoint", str(ckpt), "--steps", "1", "--frames", "8"]
    try:
        assert cli_main([*base, "-o", str(tmp_path / "a.npz")]) == 0
        assert cli_main([*base, "-o", str(tmp_path / "b.npz"), "--threads", "2"]) == 0
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        assert cli_main([*base, "-o", str(tmp_path / "c.npz")]) == 0
    finally:
        torch.set_num_threads(before)
    assert seen == [1, 2, 3]
