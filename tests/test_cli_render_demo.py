"""`unimotion render` and `unimotion demo`: happy paths and error paths."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from unimotion.cli import main
from unimotion.data.synthetic import make_motion
from unimotion.io import video as V
from unimotion.motion import hml3d
from unimotion.motion.stats import NormStats


@pytest.fixture(scope="module")
def walk():
    return make_motion("walk", 40, seed=0)


@pytest.fixture(scope="module")
def features(walk):
    return np.asarray(hml3d.joints_to_features(walk.joints), dtype=np.float32)  # (39, 263)


def _gif_frames(path) -> int:
    """Frames of a GIF at its base rate (Pillow merges identical consecutive frames; read_video expands)."""
    return V.read_video(path).shape[0]


def _run(argv, capsys):
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


# ------------------------------------------------------------------------------------------ render
def test_render_joints_npy_to_gif_strip_and_plot(tmp_path, walk, capsys):
    src = tmp_path / "walk.npy"
    np.save(src, walk.joints)
    gif, strip, plot = tmp_path / "out.gif", tmp_path / "strip.png", tmp_path / "p.png"
    rc, out, _ = _run(["render", str(src), "-o", str(gif), "--size", "64", "--strip", str(strip),
                       "--strip-frames", "5", "--plot3d", str(plot)], capsys)
    assert rc == 0
    assert _gif_frames(gif) == 40
    with Image.open(gif) as im:
        assert im.size == (64, 64) and im.info["duration"] == 50
    assert np.asarray(Image.open(strip)).shape == (64, 5 * 64 + 4 * 2, 3)
    assert plot.is_file()
    assert str(gif) in out and str(strip) in out


def test_render_flat_joints_and_npz_with_fps_and_caption(tmp_path, walk, capsys):
    flat = tmp_path / "flat.npy"
    np.save(flat, walk.joints.reshape(40, 66))
    assert _run(["render", str(flat), "-o", str(tmp_path / "a.gif"), "--size", "32"], capsys)[0] == 0
    assert _gif_frames(tmp_path / "a.gif") == 40
    npz = tmp_path / "m.npz"
    np.savez(npz, joints=walk.joints, fps=np.float32(10.0), captions=np.asarray(walk.captions))
    assert _run(["render", str(npz), "-o", str(tmp_path / "b.gif"), "--size", "32"], capsys)[0] == 0
    _, durations = V.read_gif(tmp_path / "b.gif")
    assert durations.sum() == 40 * 100 and (durations % 100 == 0).all()  # the stored 10 fps
    # the caption was drawn: frames differ from a render with an empty title
    assert _run(["render", str(npz), "-o", str(tmp_path / "c.gif"), "--size", "32", "--title", ""], capsys)[0] == 0
    assert (V.read_video(tmp_path / "b.gif") != V.read_video(tmp_path / "c.gif")).any()


def test_render_features_plain_and_normalised_give_the_same_frames(tmp_path, features, capsys):
    plain = tmp_path / "f.npy"
    np.save(plain, features)
    stats = NormStats.from_data(features)
    stats_dir = tmp_path / "stats"
    stats.save(stats_dir)
    normed = tmp_path / "n.npy"
    np.save(normed, stats.normalize(features))
    assert _run(["render", str(plain), "-o", str(tmp_path / "p.gif"), "--size", "48"], capsys)[0] == 0
    assert _run(["render", str(normed), "-o", str(tmp_path / "q.gif"), "--size", "48", "--stats", str(stats_dir)], capsys)[0] == 0
    assert _run(["render", str(normed), "-o", str(tmp_path / "r.gif"), "--size", "48"], capsys)[0] == 0  # no --stats
    a, b, c = (V.read_video(tmp_path / f"{n}.gif") for n in "pqr")
    assert a.shape[0] == 39 and b.shape == a.shape
    def changed(x, y):  # pixels that really changed (GIF palettes shift colours slightly frame by frame)
        return (np.abs(x.astype(int) - y.astype(int)).max(-1) > 60).mean()

    # float32 de-normalisation may move a line end by a pixel here and there, nothing more...
    assert changed(a, b) < 0.002
    # ...whereas forgetting --stats draws a different figure
    assert changed(a, c) > 0.02


def test_render_269_features_and_batch_index(tmp_path, walk, features, capsys):
    f269 = np.asarray(hml3d.joints_to_features(walk.joints, dim=269), dtype=np.float32)
    np.save(tmp_path / "f269.npy", f269[None])  # batch of one: squeezed
    assert _run(["render", str(tmp_path / "f269.npy"), "-o", str(tmp_path / "a.gif"), "--size", "32"], capsys)[0] == 0
    batch = np.stack([features, features[::-1].copy()])
    np.save(tmp_path / "batch.npy", batch)
    rc, _, err = _run(["render", str(tmp_path / "batch.npy"), "-o", str(tmp_path / "b.gif")], capsys)
    assert rc == 2 and "--index" in err
    assert _run(["render", str(tmp_path / "batch.npy"), "-o", str(tmp_path / "b.gif"), "--index", "1", "--size", "32"], capsys)[0] == 0
    rc, _, err = _run(["render", str(tmp_path / "batch.npy"), "-o", str(tmp_path / "c.gif"), "--index", "5"], capsys)
    assert rc == 2 and "out of range" in err


def test_normalised_features_without_stats_warn(tmp_path, features, capsys, caplog):
    stats = NormStats.from_data(features)
    np.save(tmp_path / "n.npy", stats.normalize(features))
    with caplog.at_level("WARNING", logger="unimotion"):
        rc = main(["render", str(tmp_path / "n.npy"), "-o", str(tmp_path / "n.gif"), "--size", "32"])
    assert rc == 0
    assert any("look normalised" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "array, extra, message",
    [
        (np.zeros((10, 10)), [], "cannot interpret"),
        (np.zeros((10, 22, 2)), [], "cannot interpret"),
        (np.full((10, 22, 3), np.nan), [], "NaN"),
        (np.zeros((10, 22, 3)), ["--stats", "."], "--stats applies to features"),
        (np.array(["a", "b"]), [], "numeric"),
    ],
)
def test_render_rejects_bad_arrays(tmp_path, capsys, array, extra, message):
    np.save(tmp_path / "bad.npy", array)
    rc, _, err = _run(["render", str(tmp_path / "bad.npy"), "-o", str(tmp_path / "x.gif"), *extra], capsys)
    assert rc == 2 and message in err
    assert not (tmp_path / "x.gif").exists()


def test_render_file_errors(tmp_path, walk, features, capsys):
    rc, _, err = _run(["render", str(tmp_path / "missing.npy"), "-o", str(tmp_path / "x.gif")], capsys)
    assert rc == 2 and "not found" in err
    (tmp_path / "m.txt").write_text("1 2 3")
    rc, _, err = _run(["render", str(tmp_path / "m.txt"), "-o", str(tmp_path / "x.gif")], capsys)
    assert rc == 2 and "unsupported input" in err
    np.savez(tmp_path / "many.npz", a=walk.joints, b=walk.joints)
    rc, _, err = _run(["render", str(tmp_path / "many.npz"), "-o", str(tmp_path / "x.gif")], capsys)
    assert rc == 2 and "--key" in err
    assert _run(["render", str(tmp_path / "many.npz"), "--key", "b", "-o", str(tmp_path / "x.gif"), "--size", "32"], capsys)[0] == 0
    np.save(tmp_path / "f.npy", features)
    (tmp_path / "s").mkdir()
    NormStats(np.zeros(10), np.ones(10)).save(tmp_path / "s")
    rc, _, err = _run(["render", str(tmp_path / "f.npy"), "-o", str(tmp_path / "y.gif"), "--stats", str(tmp_path / "s")], capsys)
    assert rc == 2 and "10 channels" in err
    rc, _, err = _run(["render", str(tmp_path / "f.npy"), "-o", str(tmp_path / "y.gif"), "--stats", str(tmp_path / "none")], capsys)
    assert rc == 2 and "not found" in err


def test_render_output_checks(tmp_path, walk, capsys):
    np.save(tmp_path / "w.npy", walk.joints)
    src = str(tmp_path / "w.npy")
    out = tmp_path / "o.gif"
    out.write_bytes(b"keep me")
    rc, _, err = _run(["render", src, "-o", str(out)], capsys)
    assert rc == 2 and "--overwrite" in err and out.read_bytes() == b"keep me"
    assert _run(["render", src, "-o", str(out), "--overwrite", "--size", "32"], capsys)[0] == 0
    assert out.read_bytes()[:3] == b"GIF"
    rc, _, err = _run(["render", src], capsys)
    assert rc == 2 and "nothing to write" in err
    rc, _, err = _run(["render", src, "-o", str(tmp_path / "o.webp")], capsys)
    assert rc == 2 and ".gif" in err
    rc, _, err = _run(["render", src, "-o", str(tmp_path / "z.gif"), "--strip", str(tmp_path / "z.gif")], capsys)
    assert rc == 2 and "twice" in err


def test_render_mp4_without_encoder(tmp_path, walk, capsys, monkeypatch):
    monkeypatch.setattr(V, "mp4_backend", lambda: None)
    np.save(tmp_path / "w.npy", walk.joints)
    rc, _, err = _run(["render", str(tmp_path / "w.npy"), "-o", str(tmp_path / "a.gif"), "--mp4", str(tmp_path / "a.mp4")], capsys)
    assert rc == 2 and "no MP4 encoder" in err
    assert not (tmp_path / "a.gif").exists()  # refused before any work


def test_render_bvh_extension_point(tmp_path, capsys):
    pytest.importorskip("unimotion.io.retarget")
    (tmp_path / "bad.bvh").write_text("HIERARCHY\nROOT Hips\n{\n")
    rc, _, err = _run(["render", str(tmp_path / "bad.bvh"), "-o", str(tmp_path / "b.gif")], capsys)
    assert rc == 2 and err.startswith("error:")


def test_help_lists_both_commands(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "render" in text and "demo" in text
    for cmd in ("render", "demo"):
        with pytest.raises(SystemExit) as exc:
            main([cmd, "--help"])
        assert exc.value.code == 0


# ------------------------------------------------------------------------------------------ demo
def test_demo_writes_everything_and_reports_the_round_trip(tmp_path, capsys):
    out = tmp_path / "demo"
    rc, text, _ = _run(["demo", "-o", str(out), "--frames", "40", "--size", "48", "--kind", "wave_right"], capsys)
    assert rc == 0
    for name in ("motion.gif", "motion.png", "motion.npz", "demo.json", "demo.md"):
        assert (out / name).is_file(), name
    with np.load(out / "motion.npz") as npz:
        assert npz["joints"].shape == (40, 22, 3)
        assert npz["features"].shape == (39, 263) and npz["decoded"].shape == (39, 22, 3)
        assert str(npz["kind"]) == "wave_right" and len(npz["captions"]) >= 2
        # the stored numbers are consistent: decoding the stored features gives the stored joints
        np.testing.assert_allclose(hml3d.features_to_joints(npz["features"]), npz["decoded"], atol=1e-5)
    report = json.loads((out / "demo.json").read_text())
    row = report["rows"][0]
    assert row["codec_mpjpe_mm"] < 0.05 and row["codec_max_mm"] < 0.5  # the codec is exact up to float32
    assert row["input_mpjpe_mm"] > row["codec_mpjpe_mm"]
    assert report["meta"]["command"].startswith("unimotion demo")
    assert _gif_frames(out / "motion.gif") == 39
    with Image.open(out / "motion.gif") as im:
        assert im.size == (2 * 48 + 4, 48)  # input | decoded
    assert "round trip" in text and f"{row['codec_mpjpe_mm']:.4f}" in text

    rc, _, err = _run(["demo", "-o", str(out), "--frames", "40"], capsys)
    assert rc == 2 and "--overwrite" in err
    assert _run(["demo", "-o", str(out), "--frames", "40", "--size", "32", "--overwrite"], capsys)[0] == 0


def test_demo_errors(tmp_path, capsys, monkeypatch):
    rc, _, err = _run(["demo", "-o", str(tmp_path / "d"), "--frames", "5"], capsys)
    assert rc == 2 and "num_frames" in err
    (tmp_path / "file").write_text("x")
    rc, _, err = _run(["demo", "-o", str(tmp_path / "file")], capsys)
    assert rc == 2 and "not a folder" in err
    monkeypatch.setattr(V, "mp4_backend", lambda: None)
    rc, _, err = _run(["demo", "-o", str(tmp_path / "e"), "--mp4"], capsys)
    assert rc == 2 and "no MP4 encoder" in err
    with pytest.raises(SystemExit):
        main(["demo", "--kind", "moonwalk"])
