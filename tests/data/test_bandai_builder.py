"""The BandaiML builder: split rules, windows, layout, determinism, resumability (real archives)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from unimotion.data.bandai import BuildConfig, build_bandai, parse_clip_name, split_of, window_bounds
from unimotion.data.captions import make_captions
from unimotion.data.datasets import ImageMotionDataset, TextMotionDataset, collate
from unimotion.data.humanml3d import HumanML3DReader
from unimotion.errors import DatasetError
from unimotion.motion.hml3d import features_to_joints
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
