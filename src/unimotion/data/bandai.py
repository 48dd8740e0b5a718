"""Builder of **BandaiML**, the project's default benchmark, from the Bandai Namco Research mocap archives.

``unimotion data build bandai --src ../shared/datasets/bandai --out data/bandaiml`` writes a folder in the
HumanML3D layout (so every HumanML3D loader reads it) plus the extra views UniMotion and UniMo need::

    new_joints/<id>.npy          (T, 22, 3) joints recovered from the 263 features (like HumanML3D)
    new_joint_vecs/<id>.npy      (T, 263) features; Mean.npy/Std.npy of the train split beside the folder
    new_joint_vecs_269/<id>.npy  (T, 269) UniMotion variant, with its own Mean.npy/Std.npy inside
    texts/<id>.txt               three captions, "caption#word/POS ...#0.0#0.0"
    smplx/<id>.npz               SMPL-X body parameters: body_pose (T,63), betas (T,10), global_orient (T,3),
                                 transl (T,3), params (T,79) = [body_pose|betas|global_orient|transl], joints
    renders/images/<id>.npz      images (V,S,S,3) uint8, frame_index (V,), K (V,3,3), R (V,3,3), t (V,3),
                                 joints_2d (V,22,2) — single frames with their own cameras
    renders/videos/<id>.npz      frames (F,S,S,3) uint8, start, K, R, t, joints_2d (F,22,2) — one clip, one camera,
                                 showing the SMPL-X body (FK of smplx/<id>.npz), UniMo's motion representation
    train.txt val.txt test.txt test_novel.txt all.txt
    manifest.json README.md LICENSE

Processing (``../shared/spec/benchmark.md``): each clip is retargeted onto the 22-joint SMPL/HumanML3D layout
and resampled from 30 to 20 fps; clips longer than 196 feature frames are cut into consecutive windows of at
most 197 joint frames (= 196 feature frames; neighbouring windows share one boundary frame), windows
shorter than 40 feature frames are dropped; each window is processed exactly as HumanML3D processes a clip.
Window ids are ``<clip stem>_w<k>``. Splits are fixed by clip (windows share their clip's split).

SMPL-X parameters are fitted to ``new_joints`` by inverse kinematics on the SMPL-X body tree (β = 0; the
uniform skeleton already has SMPL-X-neutral bone lengths). One joint rotation must place the three child
bones of the pelvis and of spine3, whose angles come from the Bandai rig and differ from SMPL-X's rest
geometry, so FK of the parameters is a few centimetres from ``new_joints`` at the hips and collars
(``manifest.json`` → ``smplx_fit_error_m``). For UniMo the SMPL-X body *is* the motion (its ground truth is
``smplx/<id>.npz:joints``), and its video clips are rendered from those joints.

Features use the project's HumanML3D codec in its default mode, data format v1
(``BuildConfig.hml3d_first_root = "smoothed"``: the first frame's root rotation is its smoothed heading; see
*First root rotation* in :mod:`unimotion.motion.hml3d`), which every shipped model, the retrieval evaluator
included, was trained on. ``hml3d_first_root="identity"`` (CLI ``--hml3d-first-root identity``) builds the
original HumanML3D code's features instead (frame 0 of the 263 channels, the 269 orientation of every frame
and the decoded ``new_joints`` change); data built that way need every model retrained, the evaluator
included. ``manifest.json`` records the mode as ``hml3d_first_root``.

Deterministic (same bytes on a rerun: seeded choices, fixed zip timestamps), resumable (a clip whose
outputs exist for the same parameters is skipped), parallel (``--workers``), with a progress bar.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import multiprocessing as mp
import os
import re
import shutil
import tarfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import DatasetError
from ..notices import BANDAI_ATTRIBUTION, BANDAI_NOTICE
from ..utils.io import load_npy, sha256_file, write_json, write_text
from ..utils.logging import get_logger

log = get_logger(__name__)

ARCHIVES = ("Bandai-Namco-Research-Motiondataset-1.tar.gz", "Bandai-Namco-Research-Motiondataset-2.tar.gz")

# Fixed splits (benchmark.md): these (content, style) pairs never appear in train or val.
TEST_NOVEL_PAIRS: dict[int, set[tuple[str, str]]] = {
    2: {("run", "elderly"), ("wave-left-hand", "exhausted"), ("raise-up-right-hand", "feminine"),
        ("walk-turn-left", "youthful"), ("wave-both-hands", "masculine")},
    1: {("kick", "old"), ("bow", "happy"), ("walk-back", "tired"), ("punch", "feminine"), ("dash", "proud")},
}
SPLITS = ("train", "val", "test", "test_novel")

_NAME = re.compile(r"^dataset-(?P<ds>[12])_(?P<content>[a-z-]+)_(?P<style>[a-z-]+)_(?P<num>\d+)$")


@dataclass(frozen=True)
class BuildConfig:
    """Every parameter of a build (stored in manifest.json; a change invalidates resumed outputs)."""

    fps: float = 20.0
    max_window: int = 196  # feature frames per window (HumanML3D's cap)
    min_window: int = 40  # feature frames; shorter windows are dropped
    render_size: int = 64
    images_per_motion: int = 4
    video_frames: int = 17  # 1 + 2·8: fits a causal video tokenizer with temporal compression 2, 4 or 8
    captions_per_motion: int = 3
    seed: int = 0
    renders: bool = True
    smplx: bool = True
    # first root rotation of the HumanML3D codec (unimotion.motion.hml3d): "smoothed" = data format v1, on
    # which every shipped model was trained; "identity" = the original HumanML3D code (rebuild + retrain all)
    hml3d_first_root: str = "smoothed"

    def __post_init__(self) -> None:
        from ..motion.skeleton import FIRST_ROOT_MODES

        if self.hml3d_first_root not in FIRST_ROOT_MODES:
            raise DatasetError(
                f"hml3d_first_root must be one of {FIRST_ROOT_MODES} (\"smoothed\": data format v1, which every "
                f"shipped model was trained on; \"identity\": the original HumanML3D code), got "
                f"{self.hml3d_first_root!r}"
            )

    def digest(self) -> str:
        params = asdict(self)
        if params["hml3d_first_root"] == "smoothed":
            # the outputs of builds made before this option existed (v1) stay valid for resuming
            del params["hml3d_first_root"]
        return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class ClipInfo:
    stem: str  # "dataset-2_walk_active_001"
    dataset: int
    content: str
    style: str
    number: int

    @property
    def split(self) -> str:
        return split_of(self)


@dataclass
class WindowSummary:
    id: str
    split: str
    frames: int  # feature frames
    content: str
    style: str
    dataset: int
    captions: list[str] = field(default_factory=list)


def parse_clip_name(stem: str) -> ClipInfo:
    m = _NAME.match(stem)
    if not m:
        raise DatasetError(f"unexpected clip name {stem!r} (expected dataset-N_content_style_NNN)")
    return ClipInfo(stem, int(m["ds"]), m["content"], m["style"], int(m["num"]))


def split_of(clip: ClipInfo) -> str:
    """The fixed split of a clip (benchmark.md §Splits)."""
    if (clip.content, clip.style) in TEST_NOVEL_PAIRS[clip.dataset]:
        return "test_novel"
    if clip.dataset == 1:
        return "train"
    rest = clip.number % 10
    return "test" if rest == 0 else "val" if rest == 5 else "train"


def window_bounds(num_joint_frames: int, max_window: int, min_window: int) -> list[tuple[int, int]]:
    """Joint-frame ranges [start, end) of the windows of a clip (each gives end − start − 1 feature frames)."""
    bounds = []
    start = 0
    while start < num_joint_frames - 1:
        end = min(num_joint_frames, start + max_window + 1)
        if end - start - 1 >= min_window:
            bounds.append((start, end))
        start = end - 1
    return bounds


def iter_archive_clips(path: Path, include: list[str] | None = None) -> Iterator[tuple[ClipInfo, str]]:
    """Stream (clip, BVH text) from a .tar.gz in archive order without extracting it."""
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            if not member.isfile() or not member.name.endswith(".bvh"):
                continue
            stem = Path(member.name).stem
            if include and not any(fnmatch.fnmatch(stem, pat) for pat in include):
                continue
            f = tar.extractfile(member)
            if f is None:
                continue
            yield parse_clip_name(stem), f.read().decode("utf-8", errors="strict")


# ------------------------------------------------------------------------------------------ per clip
def _done_marker(out: Path, stem: str) -> Path:
    return out / ".build" / f"{stem}.json"


def process_clip(args: tuple[ClipInfo, str, str, BuildConfig]) -> tuple[str, list[dict[str, Any]]]:
    """Convert one BVH clip into its windows' files; returns (clip stem, window summaries as dicts)."""
    clip, text, out_str, cfg = args
    out = Path(out_str)
    marker = _done_marker(out, clip.stem)
    if marker.is_file():
        done = json.loads(marker.read_text())
        if done.get("config") == cfg.digest():
            return clip.stem, done["windows"]
    from ._bandai_clip import convert_clip

    windows = convert_clip(clip, text, out, cfg)
    write_json(marker, {"config": cfg.digest(), "windows": windows})
    return clip.stem, windows


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


# ------------------------------------------------------------------------------------------ build
def build_bandai(
    src: str | os.PathLike,
    out: str | os.PathLike,
    config: BuildConfig = BuildConfig(),
    workers: int = 2,
    include: list[str] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Build BandaiML into ``out``; returns the manifest. ``include``: clip-name glob patterns (subsets).

    The build holds a lock on ``out`` (a second build into the same folder fails at once) and first removes
    the temporary files an interrupted earlier build left behind (finished files are reused).
    """
    from ..utils.io import exclusive_folder

    with exclusive_folder(out, lock_name=".build/lock", what="dataset folder") as removed:
        if removed:
            log.info("removed %d temporary file(s) left by an interrupted build in %s", len(removed), out)
        return _build_bandai_locked(src, out, config, workers, include, progress)


def _build_bandai_locked(
    src: str | os.PathLike,
    out: str | os.PathLike,
    config: BuildConfig,
    workers: int,
    include: list[str] | None,
    progress: bool,
) -> dict[str, Any]:
    src, out = Path(src), Path(out)
    archives = [src / name for name in ARCHIVES]
    missing = [str(a) for a in archives if not a.is_file()]
    if missing:
        raise DatasetError(f"Bandai archives not found: {missing} (expected both in {src})")
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    checksums = {a.name: sha256_file(a) for a in archives}
    expected = _read_sha256sums(src / "SHA256SUMS")
    for name, digest in checksums.items():
        if name in expected and expected[name] != digest:
            raise DatasetError(f"{name}: SHA-256 {digest} does not match SHA256SUMS ({expected[name]})")

    def tasks() -> Iterator[tuple[ClipInfo, str, str, BuildConfig]]:
        for archive in archives:
            for clip, text in iter_archive_clips(archive, include):
                yield clip, text, str(out), config

    total = _count_clips(archives, include)
    windows: list[dict[str, Any]] = []
    dropped: list[str] = []  # clips too short for a single window
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="BandaiML clips", unit="clip", dynamic_ncols=True)
    if workers > 1:
        ctx = mp.get_context("fork" if hasattr(os, "fork") else "spawn")
        with ctx.Pool(workers, initializer=_init_worker) as pool:
            for stem, result in pool.imap(process_clip, tasks(), chunksize=4):
                windows.extend(result)
                if not result:
                    dropped.append(stem)
                if bar is not None:
                    bar.update(1)
    else:
        for task in tasks():
            stem, result = process_clip(task)
            windows.extend(result)
            if not result:
                dropped.append(stem)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    if not windows:
        raise DatasetError("no motion window was produced (check --include patterns)")
    manifest = _finalise(out, windows, config, checksums, src, include, time.time() - started, total, dropped)
    log.info("BandaiML built in %s: %s", out, json.dumps(manifest["counts"]))
    return manifest


def _read_sha256sums(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    sums = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            sums[parts[1].lstrip("*")] = parts[0]
    return sums


def _count_clips(archives: list[Path], include: list[str] | None) -> int:
    """Clip count for the progress bar (from the archive listings; the full set has 3,076)."""
    if include is None:
        return 3076
    n = 0
    for archive in archives:
        with tarfile.open(archive, "r:gz") as tar:
            for m in tar:
                stem = Path(m.name).stem
                if m.name.endswith(".bvh") and any(fnmatch.fnmatch(stem, p) for p in include):
                    n += 1
    return n


def _finalise(out: Path, windows: list[dict[str, Any]], cfg: BuildConfig, checksums: dict[str, str],
              src: Path, include: list[str] | None, seconds: float, num_clips: int,
              dropped: list[str]) -> dict[str, Any]:
    from ..motion.hml3d import feature_stats

    windows = sorted(windows, key=lambda w: w["id"])
    by_split: dict[str, list[str]] = {s: [] for s in SPLITS}
    for w in windows:
        by_split[w["split"]].append(w["id"])
    for split, ids in by_split.items():
        write_text(out / f"{split}.txt", "".join(f"{i}\n" for i in ids))
    write_text(out / "all.txt", "".join(f"{w['id']}\n" for w in windows))
    train_ids = by_split["train"]
    if not train_ids:
        raise DatasetError("the train split is empty: cannot compute Mean/Std")
    for folder, dim in (("new_joint_vecs", 263), ("new_joint_vecs_269", 269)):
        feats = [load_npy(out / folder / f"{i}.npy") for i in train_ids]
        stats = feature_stats(feats, dim=dim)
        stats.save(out if folder == "new_joint_vecs" else out / folder)
    counts: dict[str, Any] = {}
    clip_counts = Counter()
    for w in windows:
        clip_counts[(w["split"], w["id"].rsplit("_w", 1)[0])] += 1
    for split in SPLITS:
        ws = [w for w in windows if w["split"] == split]
        frames = sum(w["frames"] for w in ws)
        counts[split] = {
            "clips": sum(1 for (s, _c) in clip_counts if s == split),
            "motions": len(ws),
            "frames": frames,
            "hours": round(frames / cfg.fps / 3600, 4),
        }
    total_frames = sum(w["frames"] for w in windows)
    counts["all"] = {"clips": len({k[1] for k in clip_counts}), "motions": len(windows), "frames": total_frames,
                     "hours": round(total_frames / cfg.fps / 3600, 4)}
    pairs_present = Counter((w["dataset"], w["content"], w["style"]) for w in windows if w["split"] == "test_novel")
    novel = []
    for ds, pairs in TEST_NOVEL_PAIRS.items():
        for content, style in sorted(pairs):
            novel.append({"dataset": ds, "content": content, "style": style,
                          "motions": pairs_present.get((ds, content, style), 0)})
    manifest = {
        "name": "BandaiML",
        "unimotion_version": __version__,
        "attribution": BANDAI_ATTRIBUTION,
        "license": "CC BY-NC 4.0 (non-commercial use only)",
        "source": {"dir": str(src.resolve()), "sha256": checksums, "clips_read": num_clips},
        "parameters": asdict(cfg),
        "subset_patterns": include,
        "counts": counts,
        "test_novel_pairs": novel,
        "dropped_clips": {
            "reason": f"shorter than {cfg.min_window + 1} frames at {cfg.fps:g} fps (no window of >= {cfg.min_window} feature frames)",
            "count": len(dropped),
            "by_content": dict(sorted(Counter("_".join(s.split("_")[:2]) for s in dropped).items())),
        },
        "feature_dims": {"new_joint_vecs": 263, "new_joint_vecs_269": 269, "smplx": 79},
        # the HumanML3D codec's first root rotation: "smoothed" = data format v1 (unimotion.motion.hml3d)
        "hml3d_first_root": cfg.hml3d_first_root,
        "smplx_fit_error_m": _smplx_error(windows),
        "build_seconds": round(seconds, 1),
    }
    # build time varies between runs: keep it out of the byte-reproducible manifest, log it separately
    write_json(out / "manifest.json", {k: v for k, v in manifest.items() if k != "build_seconds"})
    write_json(out / ".build" / "last_build.json", {"build_seconds": manifest["build_seconds"]})
    write_text(out / "README.md", _readme(manifest))
    for candidate in (src / "LICENSE",):
        if candidate.is_file():
            shutil.copyfile(candidate, out / "LICENSE")
    return manifest


def _smplx_error(windows: list[dict[str, Any]]) -> dict[str, float] | None:
    """How far FK of the fitted SMPL-X parameters is from new_joints (frame-weighted mean, overall max)."""
    errs = [(w["smplx_fk_error_m"], w["frames"]) for w in windows if "smplx_fk_error_m" in w]
    if not errs:
        return None
    total = sum(n for _, n in errs)
    return {"mean": round(sum(e["mean"] * n for e, n in errs) / total, 5), "max": round(max(e["max"] for e, _ in errs), 5)}


def _readme(manifest: dict[str, Any]) -> str:
    rows = "\n".join(
        f"| {s} | {c['clips']} | {c['motions']} | {c['frames']} | {c['hours']:.3f} |"
        for s, c in manifest["counts"].items()
    )
    return f"""# BandaiML

Built by unimotion {manifest['unimotion_version']} (`unimotion data build bandai`) from the Bandai Namco
Research motion datasets 1 and 2.

{BANDAI_NOTICE}
Do not redistribute this folder without this notice; do not use it, or models trained on it, commercially.

| split | clips | motions | frames (20 fps) | hours |
|---|---|---|---|---|
{rows}

Layout and processing: see `unimotion.data.bandai` (HumanML3D layout; 263-dim features plus the 269-dim
UniMotion variant; SMPL-X body parameters; rendered views with their cameras). Features: HumanML3D codec
with first root rotation `{manifest['hml3d_first_root']}` (`smoothed` = the project's data format v1, which
the shipped models were trained on; `identity` = the original HumanML3D code). `manifest.json` holds the
source checksums and every build parameter.
"""
