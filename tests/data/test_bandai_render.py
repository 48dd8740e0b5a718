"""`unimotion data render bandai` and the mannequin renderer: determinism, keypoints on the body, resuming,
errors, --help. Tiny renders (64 px, 3 frames) of a fake BandaiML folder, plus one on real BandaiML data.

The renderer needs an off-screen OpenGL context (pyrender + Mesa EGL, installed by scripts/setup_env.sh).
Without one these tests skip with the reason, except in CI (``CI`` set), where they fail instead: there a
skip would hide a broken set-up.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from unimotion.cli import main
from unimotion.data.bandai_render import RenderConfig, list_motions, render_bandai, sample_cameras
from unimotion.errors import DatasetError, InputError, MissingFileError, OutputExistsError
from unimotion.io.mannequin_render import RendererUnavailableError, check_size
from unimotion.motion import smplx_params as sp

IDS = ("dataset-1_bow_active_001_w00", "dataset-2_walk_active_010_w00")
TINY = RenderConfig(size=64, fps=10.0, views=1, max_frames=3, seed=3)


@pytest.fixture(scope="module")
def renderer() -> dict:
    from unimotion.io.mannequin_render import renderer_info

    try:
        return renderer_info()
    except RendererUnavailableError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"the mannequin renderer must start in CI: {exc}")
        pytest.skip(f"the mannequin renderer cannot start on this machine: {exc}")


def _fake_params(n: int, seed: int, walk: float) -> np.ndarray:
    """(n, 79) plausible SMPL-X parameters: small seeded joint rotations, standing, optionally walking."""
    rng = np.random.default_rng(seed)
    body = rng.normal(0.0, 0.15, size=(1, 63)) + np.linspace(0, 1, n)[:, None] * rng.normal(0.0, 0.1, size=(1, 63))
    params = np.zeros((n, 79))
    params[:, sp.BODY_POSE] = body
    params[:, sp.GLOBAL_ORIENT] = [0.0, 0.6, 0.0]
    params[:, sp.TRANSL] = np.stack([np.zeros(n), np.full(n, 1.2), np.linspace(0, walk, n)], axis=1)
    return params


@pytest.fixture(scope="module")
def fake_bandaiml(tmp_path_factory) -> Path:
    """A BandaiML-shaped folder with two 8-frame motions (smplx/, texts/, split files, manifest, LICENSE)."""
    root = tmp_path_factory.mktemp("fake_bandaiml")
    (root / "smplx").mkdir()
    (root / "texts").mkdir()
    for k, mid in enumerate(IDS):
        params = _fake_params(8, k, walk=1.5 * k)
        np.savez(root / "smplx" / f"{mid}.npz", params=params.astype(np.float32), fps=np.float32(20.0))
        (root / "texts" / f"{mid}.txt").write_text(f"a person does thing {k}#a/DET#0.0#0.0\n")
    (root / "all.txt").write_text("".join(f"{i}\n" for i in IDS))
    (root / "test.txt").write_text(f"{IDS[1]}\n")
    (root / "manifest.json").write_text(json.dumps({"name": "BandaiML"}))
    (root / "LICENSE").write_text("CC BY-NC 4.0\n")
    return root


@pytest.fixture(scope="module")
def rendered(renderer, fake_bandaiml, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("renders") / "out"
    render_bandai(fake_bandaiml, out, TINY, progress=False)
    return out


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".render" not in p.parts}


# ------------------------------------------------------------------------------------------ no rendering
def test_cli_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["data", "render", "bandai", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for option in ("--data", "--out", "--size", "--fps", "--views", "--max-frames", "--limit", "--overwrite", "--seed"):
        assert option in text


def test_errors_missing_data_and_bad_settings(tmp_path, capsys):
    with pytest.raises(MissingFileError, match="not found"):
        render_bandai(tmp_path / "nowhere", tmp_path / "out", TINY, progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no smplx/"):
        list_motions(tmp_path / "empty")
    for size in (8, 4096, 64.5, True):
        with pytest.raises(InputError, match="resolution"):
            check_size(size)
    with pytest.raises(InputError, match="resolution"):
        RenderConfig(size=7)
    with pytest.raises(InputError, match="fps must divide"):
        RenderConfig(fps=3.0)
    with pytest.raises(InputError, match="views"):
        RenderConfig(views=0)
    # the CLI turns them into one line and exit code 2, before anything is written
    assert main(["data", "render", "bandai", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert main(["data", "render", "bandai", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--size", "7"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err)
    assert "not found" in err[0] and "resolution" in err[1]
    assert not (tmp_path / "o").exists()


def test_cameras_keep_every_joint_in_frame():
    joints = np.asarray(sp.smplx_forward_kinematics(_fake_params(6, 0, walk=4.0)))  # (6, 22, 3), walks 4 m
    for camera in ("static", "follow"):
        cfg = RenderConfig(size=64, views=3, camera=camera)
        views = sample_cameras(np.random.default_rng(0), joints, 0.0, cfg)
        assert len(views) == 3
        for view in views:
            uv = view.project(joints, 64)
            assert uv.shape == (6, 22, 2) and (uv > 0).all() and (uv < 64).all()


# ------------------------------------------------------------------------------------------ renders
def test_mannequin_joints_match_smplx_fk(renderer):
    from unimotion.io.mannequin_render import BodyMesh

    params = _fake_params(3, 1, walk=0.5)
    body = BodyMesh()
    fk = np.asarray(sp.smplx_forward_kinematics(params))
    for frame, expected in zip(params, fk, strict=True):
        np.testing.assert_allclose(body.body_joints(frame), expected, atol=1e-5)


def test_keypoints_land_on_the_body(renderer):
    """Render on a flat magenta background without a floor: every projected joint has body pixels around it."""
    from unimotion.data.bandai_render import sample_style
    from unimotion.io.mannequin_render import BodyMesh, MannequinRenderer

    params = _fake_params(2, 2, walk=0.0)
    joints = np.asarray(sp.smplx_forward_kinematics(params))
    body = BodyMesh()
    rng = np.random.default_rng(5)
    views = sample_cameras(rng, joints, 0.0, RenderConfig(size=64, views=2))
    style = sample_style(rng, 0.0)
    colors = np.asarray(style.outfit)[body.regions]
    magenta = np.broadcast_to(np.array([1.0, 0.0, 1.0]), (64, 64, 3))
    with MannequinRenderer(64) as r:
        for view in views:
            for i, frame in enumerate(params):
                image = r.render(body.vertices(frame), body.faces, colors, view.camera(i, 64), style, magenta, None)
                body_mask = np.any(image != np.array([255, 0, 255], dtype=np.uint8), axis=-1)  # (64, 64)
                assert 0.02 < body_mask.mean() < 0.6
                for u, v in view.camera(i, 64).project(joints[i]):
                    assert 0 <= u < 64 and 0 <= v < 64
                    col, row = int(u), int(v)
                    assert body_mask[max(row - 1, 0) : row + 2, max(col - 1, 0) : col + 2].any(), (u, v)


def test_layout_and_keypoints(rendered):
    manifest = json.loads((rendered / "manifest.json").read_text())
    assert manifest["counts"] == {"clips": 2, "frames": 6}
    assert [c["id"] for c in manifest["clips"]] == list(IDS)
    assert manifest["clips"][0]["caption"] == "a person does thing 0" and manifest["clips"][1]["split"] == "test"
    assert "CC BY-NC 4.0" in (rendered / "NOTICE").read_text() and (rendered / "LICENSE").is_file()
    with np.load(rendered / "clips" / f"{IDS[1]}.npz", allow_pickle=False) as d:
        assert d["frames"].shape == (1, 3, 64, 64, 3) and d["frames"].dtype == np.uint8
        assert d["keypoints_2d"].shape == (1, 3, 22, 2) and d["R"].shape == (1, 3, 3, 3)
        assert d["params"].shape == (3, 79) and d["joints_3d"].shape == (3, 22, 3)
        assert (np.diff(d["frame_index"]) == 2).all() and float(d["fps"]) == 10.0
        kp = d["keypoints_2d"]
        assert (kp >= 0).all() and (kp < 64).all()
        # the stored camera reproduces the stored keypoints from the stored joints
        cam = d["K"][0] @ (np.einsum("tij,tkj->tki", d["R"][0], d["joints_3d"]) + d["t"][0][:, None]).transpose(0, 2, 1)
        np.testing.assert_allclose((cam[:, :2] / cam[:, 2:]).transpose(0, 2, 1), kp[0], atol=1e-3)
        # the figure is not the background: frames vary where the body is
        assert d["frames"].std() > 5
        assert set(json.loads(str(d["scene"]))) >= {"outfit", "lights", "floor_colors", "background_top"}


def test_same_seed_same_bytes_and_resume(rendered, fake_bandaiml, tmp_path):
    expected = _files(rendered)
    # an identical fresh build: same bytes
    again = tmp_path / "again"
    render_bandai(fake_bandaiml, again, TINY, progress=False)
    assert _files(again) == expected
    # a killed build: one clip and its marker missing, a half-written temporary, a stale lock file
    partial = tmp_path / "partial"
    shutil.copytree(rendered, partial)
    (partial / "clips" / f"{IDS[0]}.npz").unlink()
    (partial / ".render" / f"{IDS[0]}.json").unlink()
    (partial / "clips" / f".{IDS[0]}.abc123.npz.tmp.npz").write_bytes(b"half")
    (partial / "manifest.json").unlink()
    assert main(["data", "render", "bandai", "--data", str(fake_bandaiml), "--out", str(partial), "--size", "64",
                 "--max-frames", "3", "--seed", "3", "--no-progress"]) == 0
    assert _files(partial) == expected
    assert not [p for p in partial.rglob("*") if ".tmp" in p.name]
    # other parameters into the same folder: refused without --overwrite, nothing changed
    with pytest.raises(OutputExistsError, match="other parameters"):
        render_bandai(fake_bandaiml, partial, RenderConfig(size=64, max_frames=3, seed=4), progress=False)
    assert _files(partial) == expected


def test_other_seed_other_scene(rendered, fake_bandaiml, tmp_path):
    out = tmp_path / "seed4"
    render_bandai(fake_bandaiml, out, RenderConfig(size=64, max_frames=2, seed=4), limit=1, progress=False)
    with np.load(out / "clips" / f"{IDS[0]}.npz") as a, np.load(rendered / "clips" / f"{IDS[0]}.npz") as b:
        assert str(a["scene"]) != str(b["scene"]) and float(a["azimuth_deg"][0]) != float(b["azimuth_deg"][0])


@pytest.mark.bandai
def test_render_real_bandaiml_motion(renderer, bandaiml_small, tmp_path):
    out = tmp_path / "real"
    manifest = render_bandai(bandaiml_small, out, RenderConfig(size=64, max_frames=2), split="test", limit=1,
                             progress=False)
    (clip,) = manifest["clips"]
    assert clip["split"] == "test" and clip["caption"]
    with np.load(out / "clips" / f"{clip['id']}.npz") as d:
        kp = d["keypoints_2d"]
        assert kp.shape == (1, 2, 22, 2) and (kp >= 0).all() and (kp < 64).all()
        with np.load(bandaiml_small / "smplx" / f"{clip['id']}.npz") as s:
            np.testing.assert_allclose(d["joints_3d"], s["joints"][d["frame_index"]], atol=1e-4)
