"""The BandaiML builder: split rules, windows, layout, determinism, resumability (real archives)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from unimotion.data.bandai import (
    ARCHIVES,
    BuildConfig,
    build_bandai,
    iter_archive_clips,
    parse_clip_name,
    split_of,
    window_bounds,
)
from unimotion.data.captions import make_captions
from unimotion.data.datasets import ImageMotionDataset, TextMotionDataset, collate
from unimotion.data.humanml3d import HumanML3DReader
from unimotion.errors import DatasetError
from unimotion.io.bvh import parse_bvh
from unimotion.io.retarget import retarget_to_t2m
from unimotion.motion.hml3d import features_to_joints, joints_to_features
from unimotion.notices import BANDAI_ATTRIBUTION


@pytest.mark.parametrize(
    "stem, split",
    [
        ("dataset-2_walk_active_010", "test"),
        ("dataset-2_walk_active_015", "val"),
        ("dataset-2_walk_active_017", "train"),
        ("dataset-2_run_elderly_010", "test_novel"),  # novel pair wins over the number rule
        ("dataset-1_bow_happy_001", "test_novel"),
        ("dataset-1_bow_sad_001", "train"),  # dataset 1: everything else is train
        ("dataset-1_walk_normal_010", "train"),
    ],
)
def test_split_rules(stem, split):
    assert split_of(parse_clip_name(stem)) == split


def test_clip_name_errors():
    with pytest.raises(DatasetError, match="unexpected clip name"):
        parse_clip_name("walk_001")


def test_window_bounds():
    # 197 joint frames = 196 feature frames: one window
    assert window_bounds(197, 196, 40) == [(0, 197)]
    # neighbouring windows share a boundary frame; a 30-frame tail is dropped
    assert window_bounds(197 + 30, 196, 40) == [(0, 197)]
    assert window_bounds(197 + 45, 196, 40) == [(0, 197), (196, 242)]
    assert window_bounds(40, 196, 40) == []  # 39 feature frames
    assert window_bounds(41, 196, 40) == [(0, 41)]


def test_captions_are_deterministic_and_formatted():
    a = make_captions("wave-right-hand", "elderly", "x_w00")
    b = make_captions("wave-right-hand", "elderly", "x_w00")
    assert [c.text for c in a] == [c.text for c in b] and len({c.text for c in a}) == 3
    for c in a:
        line = c.humanml3d_line()
        text, tokens, start, end = line.split("#")
        assert text == c.text and (start, end) == ("0.0", "0.0")
        assert all("/" in tok for tok in tokens.split())
        assert "right" in text


def _tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and ".build" not in p.parts:
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.mark.bandai
def test_small_build_layout(bandaiml_small):
    root = bandaiml_small
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["attribution"] == BANDAI_ATTRIBUTION
    assert "NON-COMMERCIAL" in (root / "README.md").read_text()
    assert (root / "LICENSE").is_file()
    for name in ("train", "val", "test", "test_novel", "all"):
        assert (root / f"{name}.txt").is_file()
    ids = (root / "all.txt").read_text().split()
    assert sum(manifest["counts"][s]["motions"] for s in ("train", "val", "test", "test_novel")) == len(ids)
    for wid in ids[:5]:
        f263 = np.load(root / "new_joint_vecs" / f"{wid}.npy")
        f269 = np.load(root / "new_joint_vecs_269" / f"{wid}.npy")
        joints = np.load(root / "new_joints" / f"{wid}.npy")
        assert f263.shape[1] == 263 and f269.shape[1] == 269 and 40 <= len(f263) <= 196
        np.testing.assert_array_equal(f269[:, :263], f263)
        np.testing.assert_allclose(features_to_joints(f263), joints, atol=1e-5)
        smplx = np.load(root / "smplx" / f"{wid}.npz")
        assert smplx["params"].shape == (len(f263), 79)
        images = np.load(root / "renders" / "images" / f"{wid}.npz")
        assert images["images"].shape == (4, 64, 64, 3) and images["images"].dtype == np.uint8
        # the 2D joints are the projections of new_joints with the saved cameras
        for k in range(4):
            cam_pts = joints[images["frame_index"][k]] @ images["R"][k].T + images["t"][k]
            uv = (cam_pts / cam_pts[:, 2:]) @ images["K"][k].T
            np.testing.assert_allclose(uv[:, :2], images["joints_2d"][k], atol=1e-3)
        video = np.load(root / "renders" / "videos" / f"{wid}.npz")
        assert video["frames"].shape == (17, 64, 64, 3)
    # Mean/Std from train only, the 269 stats inside their folder
    assert np.load(root / "Mean.npy").shape == (263,)
    assert np.load(root / "new_joint_vecs_269" / "Std.npy").shape == (269,)
    # test_novel pairs never appear in train
    train_pairs = {tuple(i.split("_")[1:3]) for i in (root / "train.txt").read_text().split()}
    novel_pairs = {tuple(i.split("_")[1:3]) for i in (root / "test_novel.txt").read_text().split()}
    assert novel_pairs and not (train_pairs & novel_pairs)


@pytest.mark.bandai
def test_small_build_is_readable_by_the_loaders(bandaiml_small):
    reader = HumanML3DReader(bandaiml_small, "train")
    batch = collate([TextMotionDataset(reader, random_crop=False)[i] for i in range(4)])
    assert batch["motion"].shape[-1] == 263 and batch["mask"].any()
    reader269 = HumanML3DReader(bandaiml_small, "train", feature_dir="new_joint_vecs_269")
    assert reader269.stats().dim == 269
    items = ImageMotionDataset(reader269, views_per_sample=2, random_crop=False)
    item = items[0]
    assert item["images"].shape == (2, 3, 64, 64) and item["has_image"].any()


@pytest.mark.bandai
def test_build_is_deterministic_and_resumable(bandai_dir, tmp_path):
    patterns = ["dataset-1_bow_happy_001", "dataset-1_bow_sad_001", "dataset-2_walk_active_01[05]"]
    a, b = tmp_path / "a", tmp_path / "b"
    build_bandai(bandai_dir, a, BuildConfig(), workers=2, include=patterns, progress=False)
    build_bandai(bandai_dir, b, BuildConfig(), workers=1, include=patterns, progress=False)
    assert _tree_digest(a) == _tree_digest(b)
    # resume: a second run reuses the per-clip outputs (their files are not rewritten)
    marker = next((a / ".build").glob("dataset-1_bow_sad_001.json"))
    feature = a / "new_joint_vecs" / "dataset-1_bow_sad_001_w00.npy"
    before = feature.stat().st_mtime_ns
    build_bandai(bandai_dir, a, BuildConfig(), workers=1, include=patterns, progress=False)
    assert feature.stat().st_mtime_ns == before and marker.is_file()
    assert _tree_digest(a) == _tree_digest(b)
    # a different parameter set invalidates the cached clips
    build_bandai(bandai_dir, a, BuildConfig(images_per_motion=2), workers=1, include=patterns, progress=False)
    assert np.load(a / "renders" / "images" / "dataset-1_bow_sad_001_w00.npz")["images"].shape[0] == 2


# ---------------------------------------------------------------------------------------- codec mode
def test_build_config_hml3d_first_root():
    assert BuildConfig().hml3d_first_root == "smoothed"  # data format v1: what the shipped models saw
    with pytest.raises(DatasetError, match="hml3d_first_root must be one of"):
        BuildConfig(hml3d_first_root="original")
    # v1 keeps the digest of builds made before the option existed (their outputs are reused on resume);
    # the other mode invalidates them
    legacy = {k: v for k, v in asdict(BuildConfig()).items() if k != "hml3d_first_root"}
    assert BuildConfig().digest() == hashlib.sha256(json.dumps(legacy, sort_keys=True).encode()).hexdigest()[:16]
    assert BuildConfig(hml3d_first_root="identity").digest() != BuildConfig().digest()


def _first_window(bandai_dir: Path, stem: str) -> np.ndarray:
    clip, text = next(iter_archive_clips(bandai_dir / ARCHIVES[int(stem[8]) - 1], [stem]))
    joints = retarget_to_t2m(parse_bvh(text, source=f"{clip.stem}.bvh"), mapping="bandai", target_fps=20.0)
    start, end = window_bounds(len(joints), 196, 40)[0]
    return joints[start:end]


@pytest.mark.bandai
def test_default_build_is_codec_v1_and_says_so(bandaiml_small, bandai_dir):
    manifest = json.loads((bandaiml_small / "manifest.json").read_text())
    assert manifest["hml3d_first_root"] == "smoothed" == manifest["parameters"]["hml3d_first_root"]
    assert "first root rotation `smoothed`" in (bandaiml_small / "README.md").read_text()
    stem = "dataset-1_walk_normal_001"
    joints = _first_window(bandai_dir, stem)
    stored = np.load(bandaiml_small / "new_joint_vecs_269" / f"{stem}_w00.npy")
    v1 = joints_to_features(joints, dim=269, first_root="smoothed")
    assert stored.dtype == v1.dtype and stored.tobytes() == v1.tobytes()
    assert not np.array_equal(stored[0], joints_to_features(joints, dim=269, first_root="identity")[0])


@pytest.mark.bandai
def test_identity_build_rebuilds_with_the_original_codec(bandai_dir, tmp_path):
    patterns = ["dataset-1_walk_normal_001"]
    wid = "dataset-1_walk_normal_001_w00"
    cfg = BuildConfig(renders=False, smplx=False)
    build_bandai(bandai_dir, tmp_path, cfg, workers=1, include=patterns, progress=False)
    v1 = {d: np.load(tmp_path / d / f"{wid}.npy") for d in ("new_joint_vecs", "new_joint_vecs_269", "new_joints")}
    original = BuildConfig(renders=False, smplx=False, hml3d_first_root="identity")
    build_bandai(bandai_dir, tmp_path, original, workers=1, include=patterns, progress=False)  # same folder
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["hml3d_first_root"] == "identity"
    new = {d: np.load(tmp_path / d / f"{wid}.npy") for d in v1}
    expected = joints_to_features(_first_window(bandai_dir, patterns[0]), dim=269, first_root="identity")
    assert new["new_joint_vecs_269"].tobytes() == expected.tobytes()  # the cached v1 clip was not reused
    # the 263 channels change in frame 0 only; the orientation and the decoded joints in every frame
    assert np.array_equal(new["new_joint_vecs"][1:], v1["new_joint_vecs"][1:])
    assert not np.array_equal(new["new_joint_vecs"][0], v1["new_joint_vecs"][0])
    assert np.abs(new["new_joint_vecs_269"][:, 263:] - v1["new_joint_vecs_269"][:, 263:]).max(-1).min() > 0
    assert not np.allclose(new["new_joints"], v1["new_joints"], atol=1e-4)


@pytest.mark.parametrize("flag, expected", [([], "smoothed"), (["--hml3d-first-root", "identity"], "identity")])
def test_cli_passes_the_codec_mode(monkeypatch, tmp_path, flag, expected):
    import unimotion.data.bandai as bandai
    from unimotion.cli import main

    seen = {}

    def fake_build(src, out, cfg, **kwargs):
        seen["cfg"] = cfg
        return {"counts": {}, "build_seconds": 0.0}

    monkeypatch.setattr(bandai, "build_bandai", fake_build)
    assert main(["data", "build", "bandai", "--out", str(tmp_path / "o"), "--no-progress", *flag]) == 0
    assert seen["cfg"].hml3d_first_root == expected
