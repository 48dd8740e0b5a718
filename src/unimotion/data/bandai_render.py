"""``unimotion data render bandai``: person-like video renders of every BandaiML motion's SMPL-X fit.

Reads a built BandaiML folder (``unimotion data build bandai``: ``smplx/<id>.npz``, ``texts/``, split files)
and writes, per motion, a short video of the skinned ``mannequin-x`` body posed by the motion's SMPL-X
parameters, rasterised by pyrender (:mod:`unimotion.io.mannequin_render`), with everything needed to
supervise or evaluate a video model::

    OUT/clips/<id>.npz     frames        (V, T, S, S, 3) uint8   RGB, V views of the same T frames
                           keypoints_2d  (V, T, 22, 2) float32   the 22 SMPL-X body joints projected with the
                                                                 stored camera (pixels, u right, v down; pixel
                                                                 (i, j) covers [i, i+1) × [j, j+1))
                           K             (V, 3, 3) float32       intrinsics (principal point at the centre)
                           R, t          (V, T, 3, 3), (V, T, 3)  world → camera (OpenCV axes: x right, y down,
                                                                 z forward): x_cam = R x_world + t
                           frame_index   (T,) int64              frames of smplx/<id>.npz that were rendered
                           fps           ()  float32             frame rate of the rendered frames
                           params        (T, 79) float32         SMPL-X body parameters of those frames
                                                                 (channel order: unimotion.motion.smplx_params)
                           joints_3d     (T, 22, 3) float32      their forward kinematics (world, metres, Y up)
                           azimuth_deg, elevation_deg, distance_m, fov_deg  (V,) float32  camera choices
                           scene         () str                  JSON: outfit colours, lights, floor, background
    OUT/manifest.json      parameters, renderer versions, source dataset, one entry per clip (id, split,
                           caption, frames); OUT/README.md, NOTICE, LICENSE (BandaiML: CC BY-NC 4.0)

**Choices.** Every random choice (camera, lights, outfit, floor, background, the start of a capped clip)
derives from the motion id and ``--seed`` (:func:`unimotion.data.views.rng_for`), so a rebuild gives the
same bytes on the same machine. Cameras are pinhole, fixed for the clip by default (``camera="static"``):
they look at the centre of the clip's joint bounding box from a seeded azimuth (relative to the body's
facing at the first rendered frame; views are spread evenly around the body), elevation 5–30°, field of
view 35–55°, and the distance that keeps every joint (plus 0.2 m for the body's surface) inside the
middle 75–90 % of the image, so the body stays in frame however far the motion travels. ``"follow"``
keeps the orientation but moves the camera with the (smoothed) pelvis: larger figures, per-frame
extrinsics. The floor is placed at the lowest vertex of the rendered frames.

**Subsampling.** Source clips are 20 fps (up to 196 frames); ``fps`` keeps every (20/fps)-th frame and
``max_frames`` caps a clip at a seeded contiguous run of rendered frames, so that the full build fits a
time budget (``benchmarks/render_throughput.py`` projects it).

Resumable (a clip whose ``.render/<id>.json`` marker has the same parameters is skipped), atomic (files
appear complete or not at all; an interrupted build's temporaries are removed by the next one), locked
(one writer per folder), parallel (``workers``, spawned processes each with its own GL context).
A folder rendered with other parameters is only replaced with ``overwrite=True``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import multiprocessing as mp
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import DatasetError, InputError, MissingFileError, OutputExistsError
from ..io.mannequin_render import REGIONS, Light, SceneStyle, check_size
from ..motion.camera import Camera, look_at
from ..notices import BANDAI_ATTRIBUTION, BANDAI_NOTICE
from ..utils.io import load_npz_arrays, save_npz, write_json, write_text
from ..utils.logging import get_logger
from .humanml3d import parse_text_file, read_split
from .views import rng_for

log = get_logger(__name__)

SPLIT_FILES = ("all", "train", "val", "test", "test_novel")
SOURCE_FPS = 20.0
SURFACE_PAD_M = 0.2  # how far the body's surface reaches beyond its joints (head top, hands, feet)


@dataclass(frozen=True)
class RenderConfig:
    """Every parameter that changes the pixels (stored in manifest.json; a change invalidates old clips)."""

    size: int = 128  # square resolution, pixels
    fps: float = 10.0  # rendered frame rate; must divide the source's 20 fps
    views: int = 1  # cameras per clip
    max_frames: int = 40  # cap on rendered frames per view (0: none)
    camera: str = "static"  # "static" or "follow"
    body: str = "wooden"  # mannequin-x design: "wooden" (skinned) or "convex" (rigid links)
    seed: int = 0

    def __post_init__(self) -> None:
        check_size(self.size)
        if not (isinstance(self.views, int) and 1 <= self.views <= 16):
            raise InputError(f"views must be an integer between 1 and 16, got {self.views!r}")
        if not (isinstance(self.max_frames, int) and self.max_frames >= 0):
            raise InputError(f"max_frames must be a non-negative integer (0: no cap), got {self.max_frames!r}")
        if self.camera not in ("static", "follow"):
            raise InputError(f"camera must be 'static' or 'follow', got {self.camera!r}")
        if self.body not in ("wooden", "convex"):
            raise InputError(f"body must be 'wooden' or 'convex', got {self.body!r}")
        self.frame_step(SOURCE_FPS)

    def frame_step(self, source_fps: float) -> int:
        """Source frames per rendered frame (``source_fps / fps``, which must be a whole number)."""
        step = source_fps / self.fps if self.fps > 0 else 0.0
        if not self.fps > 0 or step < 1 - 1e-6 or abs(step - round(step)) > 1e-6:
            raise InputError(f"fps must divide the source frame rate {source_fps:g} (e.g. 20, 10, 5, 4, 2), got {self.fps:g}")
        return int(round(step))

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------------------ seeded choices
def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    import colorsys

    return tuple(float(c) for c in colorsys.hsv_to_rgb(h % 1.0, s, v))  # type: ignore[return-value]


SKIN_TONES = ((0.95, 0.80, 0.69), (0.87, 0.70, 0.55), (0.76, 0.57, 0.42), (0.60, 0.43, 0.30),
              (0.45, 0.31, 0.22), (0.33, 0.22, 0.16))


def sample_style(rng: np.random.Generator, key_azimuth_deg: float) -> SceneStyle:
    """Outfit, materials, lights, floor and background of one clip. ``key_azimuth_deg``: the first camera's
    azimuth (world, degrees): the key light comes from that side (± 20–70°) so the visible side is lit."""
    skin = SKIN_TONES[int(rng.integers(len(SKIN_TONES)))]
    shirt = _hsv(rng.random(), rng.uniform(0.25, 0.9), rng.uniform(0.3, 0.95))
    trousers = _hsv(rng.random(), rng.uniform(0.1, 0.7), rng.uniform(0.15, 0.6))
    shoes = _hsv(rng.random(), rng.uniform(0.0, 0.5), rng.uniform(0.05, 0.35))
    sleeve = shirt if rng.random() < 0.6 else skin  # long or short sleeves
    shin = trousers if rng.random() < 0.75 else skin  # trousers or shorts
    outfit = {"skin": skin, "shirt": shirt, "sleeve": sleeve, "trousers": trousers, "shin": shin, "shoes": shoes}

    def direction(azimuth_deg: float, elevation_deg: float) -> tuple[float, float, float]:
        a, e = np.deg2rad(azimuth_deg), np.deg2rad(elevation_deg)
        to_light = np.array([np.cos(e) * np.sin(a), np.sin(e), np.cos(e) * np.cos(a)])
        return tuple(float(x) for x in -to_light)  # type: ignore[return-value]

    warmth = rng.uniform(-1.0, 1.0)
    tint = 1.0 + 0.08 * warmth * np.array([1.0, 0.0, -1.0])
    tint = tuple(float(x) for x in tint / tint.max())
    side = 1.0 if rng.random() < 0.5 else -1.0
    key = Light(direction(key_azimuth_deg + side * rng.uniform(20, 70), rng.uniform(35, 70)), tint,
                float(rng.uniform(2.5, 4.5)))
    fill = Light(direction(key_azimuth_deg - side * rng.uniform(60, 150), rng.uniform(10, 40)), (1.0, 1.0, 1.0),
                 float(rng.uniform(0.5, 1.5)))
    ambient = float(rng.uniform(0.15, 0.35))
    floor_base = np.array(_hsv(rng.random(), rng.uniform(0.0, 0.35), rng.uniform(0.3, 0.75)))
    contrast = 0.0 if rng.random() < 0.3 else rng.uniform(0.05, 0.2)  # 30 %: a plain floor
    floor_colors = (tuple(float(x) for x in np.clip(floor_base - contrast, 0, 1)),
                    tuple(float(x) for x in np.clip(floor_base + contrast, 0, 1)))
    top = _hsv(rng.uniform(0.5, 0.7) if rng.random() < 0.6 else rng.random(), rng.uniform(0.0, 0.5), rng.uniform(0.5, 1.0))
    bottom = _hsv(rng.random(), rng.uniform(0.0, 0.4), rng.uniform(0.2, 0.7))
    blobs = tuple(
        (float(rng.uniform(0, 1)), float(rng.uniform(0, 0.6)), float(rng.uniform(0.05, 0.25)),
         *(float(x) for x in rng.uniform(-0.25, 0.25, size=3)))
        for _ in range(int(rng.integers(0, 5)))
    )
    return SceneStyle(
        outfit=tuple(outfit[r] for r in REGIONS), roughness=float(rng.uniform(0.4, 0.9)), lights=(key, fill),
        ambient=(ambient, ambient, ambient), floor_colors=floor_colors,  # type: ignore[arg-type]
        floor_tile_m=float(rng.uniform(0.4, 1.0)), background_top=top, background_bottom=bottom,
        background_blobs=blobs,
    )


@dataclass
class ViewCameras:
    """The cameras of one view over the T rendered frames (the intrinsics are shared)."""

    K: np.ndarray  # (3, 3)
    R: np.ndarray  # (T, 3, 3)
    t: np.ndarray  # (T, 3)
    azimuth_deg: float  # from the body's facing at the first rendered frame (0: in front of it)
    elevation_deg: float
    distance_m: float
    fov_deg: float

    def camera(self, frame: int, size: int) -> Camera:
        return Camera(self.K, self.R[frame], self.t[frame], size, size)

    def project(self, joints: np.ndarray, size: int) -> np.ndarray:
        """(T, 22, 3) → (T, 22, 2) pixels."""
        return np.stack([self.camera(i, size).project(j) for i, j in enumerate(joints)])


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Moving average along axis 0 with edge padding: (T, C) → (T, C)."""
    if width <= 1 or len(x) < 2:
        return x.copy()
    pad = width // 2
    padded = np.concatenate([np.repeat(x[:1], pad, 0), x, np.repeat(x[-1:], width - 1 - pad, 0)], axis=0)
    kernel = np.ones(width) / width
    return np.stack([np.convolve(padded[:, c], kernel, mode="valid") for c in range(x.shape[1])], axis=1)


def sample_cameras(rng: np.random.Generator, joints: np.ndarray, heading_deg: float, cfg: RenderConfig
                   ) -> list[ViewCameras]:
    """``cfg.views`` cameras for the (T, 22, 3) joints of the rendered frames (see the module docs)."""
    size = cfg.size
    lo, hi = joints.reshape(-1, 3).min(0), joints.reshape(-1, 3).max(0)
    if cfg.camera == "static":
        target = np.broadcast_to((lo + hi) / 2, (len(joints), 3)).copy()  # (T, 3)
    else:
        root = _smooth(joints[:, 0, :], width=9)
        target = np.concatenate([root[:, :1], np.full((len(joints), 1), (lo[1] + hi[1]) / 2), root[:, 2:]], axis=1)
    offset = rng.uniform(0.0, 360.0)
    views = []
    for v in range(cfg.views):
        azimuth = offset + 360.0 * v / cfg.views + rng.uniform(-10.0, 10.0)
        elevation = rng.uniform(5.0, 30.0)
        fov = rng.uniform(35.0, 55.0)
        fill = rng.uniform(0.75, 0.9)  # fraction of the half-image the padded body may reach
        jitter = rng.uniform(-0.05, 0.05, size=3)
        a, e = np.deg2rad(heading_deg + azimuth), np.deg2rad(elevation)
        direction = np.array([np.cos(e) * np.sin(a), np.sin(e), np.cos(e) * np.cos(a)])  # target → camera
        aim = target + jitter
        R, _ = look_at(aim[0] + direction, aim[0])  # orientation only; the same for every frame
        # distance d along −direction so that every padded joint fits: (|x| + pad) / (z + d − pad) ≤ tan·fill
        cam = (joints - aim[:, None, :]) @ R.T  # (T, 22, 3) camera axes, origin at the aim point
        tan = np.tan(np.deg2rad(fov) / 2) * fill
        need = (np.abs(cam[..., :2]) + SURFACE_PAD_M) / tan - cam[..., 2:3] + SURFACE_PAD_M
        distance = max(float(need.max()), 1.0)
        eye = aim + distance * direction  # (T, 3)
        t = -np.einsum("ij,tj->ti", R, eye)
        f = 0.5 * size / np.tan(np.deg2rad(fov) / 2)
        K = np.array([[f, 0.0, size / 2], [0.0, f, size / 2], [0.0, 0.0, 1.0]])
        views.append(ViewCameras(K, np.broadcast_to(R, (len(joints), 3, 3)).copy(), t, float(azimuth % 360.0),
                                 float(elevation), distance, float(fov)))
    return views


# ------------------------------------------------------------------------------------------ one clip
_WORKER: dict[str, Any] = {}


def _worker_tools(cfg: RenderConfig) -> tuple[Any, Any]:
    """(BodyMesh, MannequinRenderer) of this process, made once (the GL context is reused)."""
    from ..io.mannequin_render import BodyMesh, MannequinRenderer

    key = (cfg.body, cfg.size)
    if _WORKER.get("key") != key:
        if _WORKER.get("renderer") is not None:
            _WORKER["renderer"].close()
        _WORKER.update(key=key, body=BodyMesh(cfg.body), renderer=MannequinRenderer(cfg.size))
    return _WORKER["body"], _WORKER["renderer"]


def release_worker_tools() -> None:
    """Free this process's GL context (tests and benchmarks that render several sizes call it)."""
    if _WORKER.get("renderer") is not None:
        _WORKER["renderer"].close()
    _WORKER.clear()


def select_frames(num_frames: int, cfg: RenderConfig, rng: np.random.Generator, source_fps: float) -> np.ndarray:
    """Indices of the source frames to render: every step-th frame, then a seeded run of max_frames."""
    idx = np.arange(0, num_frames, cfg.frame_step(source_fps), dtype=np.int64)
    if cfg.max_frames and len(idx) > cfg.max_frames:
        start = int(rng.integers(0, len(idx) - cfg.max_frames + 1))
        idx = idx[start : start + cfg.max_frames]
    return idx


def render_motion(params: np.ndarray, source_fps: float, key: str, cfg: RenderConfig) -> dict[str, Any]:
    """Render one motion: (N, 79) SMPL-X parameters → the arrays of ``clips/<id>.npz`` (see module docs)."""
    from ..io.mannequin_render import floor_mesh, procedural_background
    from ..motion import smplx_params as sp

    body, renderer = _worker_tools(cfg)
    rng = rng_for(key, cfg.seed, "mannequin-render")
    idx = select_frames(len(params), cfg, rng, source_fps)
    p = np.asarray(params, dtype=np.float64)[idx]  # (T, 79)
    joints = np.asarray(sp.smplx_forward_kinematics(p), dtype=np.float64)  # (T, 22, 3)
    heading = float(np.rad2deg(sp.heading_angle(p[0, sp.GLOBAL_ORIENT])))
    views = sample_cameras(rng, joints, heading, cfg)
    style = sample_style(rng, heading + views[0].azimuth_deg)
    vertices = [body.vertices(frame) for frame in p]  # T × (V, 3)
    floor_y = min(float(v[:, 1].min()) for v in vertices) - 0.002
    floor = floor_mesh(joints[:, 0, [0, 2]].mean(0), floor_y, style)
    colors = np.asarray(style.outfit, dtype=np.float64)[body.regions]  # (V, 3)
    background = procedural_background(style, cfg.size)
    frames = np.zeros((cfg.views, len(p), cfg.size, cfg.size, 3), dtype=np.uint8)
    for v, view in enumerate(views):
        for i, verts in enumerate(vertices):
            frames[v, i] = renderer.render(verts, body.faces, colors, view.camera(i, cfg.size), style, background, floor)
    scene = style.to_dict() | {"floor_height_m": floor_y, "regions": list(REGIONS)}
    return {
        "frames": frames,
        "keypoints_2d": np.stack([view.project(joints, cfg.size) for view in views]).astype(np.float32),
        "K": np.stack([view.K for view in views]).astype(np.float32),
        "R": np.stack([view.R for view in views]).astype(np.float32),
        "t": np.stack([view.t for view in views]).astype(np.float32),
        "frame_index": idx,
        "fps": np.float32(source_fps / cfg.frame_step(source_fps)),
        "params": p.astype(np.float32),
        "joints_3d": joints.astype(np.float32),
        "azimuth_deg": np.array([view.azimuth_deg for view in views], dtype=np.float32),
        "elevation_deg": np.array([view.elevation_deg for view in views], dtype=np.float32),
        "distance_m": np.array([view.distance_m for view in views], dtype=np.float32),
        "fov_deg": np.array([view.fov_deg for view in views], dtype=np.float32),
        "scene": np.array(json.dumps(scene, sort_keys=True)),
    }


def _marker(out: Path, motion_id: str) -> Path:
    return out / ".render" / f"{motion_id}.json"


def render_clip(task: tuple[str, str, str, RenderConfig]) -> dict[str, Any]:
    """Worker body: render ``motion_id`` of ``data`` into ``out`` unless its marker says it is done."""
    motion_id, data_str, out_str, cfg = task
    data, out = Path(data_str), Path(out_str)
    marker = _marker(out, motion_id)
    target = out / "clips" / f"{motion_id}.npz"
    if marker.is_file() and target.is_file():
        done = json.loads(marker.read_text(encoding="utf-8"))
        if done.get("config") == cfg.digest():
            return done["clip"]
    arrays = load_npz_arrays(data / "smplx" / f"{motion_id}.npz", names=["params", "fps"], what="SMPL-X parameters")
    params = np.asarray(arrays["params"], dtype=np.float64)
    if params.ndim != 2 or params.shape[1] != 79 or len(params) < 1:
        raise DatasetError(f"smplx/{motion_id}.npz: params must be (T, 79), got {params.shape}")
    source_fps = float(arrays["fps"]) if "fps" in arrays else SOURCE_FPS
    rendered = render_motion(params, source_fps, motion_id, cfg)
    save_npz(target, **rendered)
    clip = {"id": motion_id, "caption": _caption(data, motion_id), "frames": int(len(rendered["frame_index"])),
            "views": cfg.views}
    write_json(marker, {"config": cfg.digest(), "clip": clip})
    return clip


def _caption(data: Path, motion_id: str) -> str:
    """The motion's first caption (texts/<id>.txt in the HumanML3D format), "" when it has none."""
    path = data / "texts" / f"{motion_id}.txt"
    entries = parse_text_file(path) if path.is_file() else []
    return entries[0][0].text if entries else ""


# ------------------------------------------------------------------------------------------ the build
def list_motions(data: str | os.PathLike, split: str = "all", include: list[str] | None = None,
                 limit: int | None = None) -> list[str]:
    """Motion ids of a BandaiML folder (sorted), filtered by split, glob patterns and a count limit."""
    data = Path(data)
    if split not in SPLIT_FILES:
        raise InputError(f"split must be one of {SPLIT_FILES}, got {split!r}")
    if not data.is_dir():
        raise MissingFileError(f"BandaiML folder {data} not found (build it with `unimotion data build bandai --out {data}`)")
    if not (data / "smplx").is_dir():
        raise DatasetError(f"{data} has no smplx/ folder: not a BandaiML build with SMPL-X parameters "
                           "(build it with `unimotion data build bandai` without --no-smplx)")
    if split == "all" and not (data / "all.txt").is_file():
        ids = [p.stem for p in (data / "smplx").glob("*.npz")]
    else:
        ids = read_split(data, split)
    ids = sorted(set(ids))
    if include:
        ids = [i for i in ids if any(fnmatch.fnmatch(i, pat) for pat in include)]
    if limit is not None:
        if limit < 1:
            raise InputError(f"limit must be a positive number of motions, got {limit}")
        ids = ids[:limit]
    if not ids:
        raise DatasetError(f"no motion of {data} matches (split={split}, include={include})")
    missing = [i for i in ids if not (data / "smplx" / f"{i}.npz").is_file()]
    if missing:
        raise DatasetError(f"{len(missing)} motion(s) have no smplx/<id>.npz in {data}, e.g. {missing[0]}")
    return ids


def render_bandai(
    data: str | os.PathLike,
    out: str | os.PathLike,
    config: RenderConfig = RenderConfig(),
    workers: int = 1,
    split: str = "all",
    include: list[str] | None = None,
    limit: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Render the selected motions of the BandaiML folder ``data`` into ``out``; returns the manifest.

    Existing clips rendered with the same parameters are kept (resume); a folder holding renders made with
    other parameters, or other files, raises :class:`OutputExistsError` unless ``overwrite``.
    """
    from ..utils.io import exclusive_folder

    data, out = Path(data), Path(out)
    ids = list_motions(data, split, include, limit)
    if workers < 1:
        raise InputError(f"workers must be at least 1, got {workers}")
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / ".render").is_dir() and not overwrite:
        raise OutputExistsError(f"{out} is not empty and holds no render build; pass --overwrite to render into it")
    with exclusive_folder(out, lock_name=".render/lock", what="render folder") as removed:
        if removed:
            log.info("removed %d temporary file(s) left by an interrupted render in %s", len(removed), out)
        config_file = out / ".render" / "config.json"
        if config_file.is_file():
            previous = json.loads(config_file.read_text(encoding="utf-8"))
            if previous.get("digest") != config.digest():
                if not overwrite:
                    raise OutputExistsError(
                        f"{out} holds renders made with other parameters ({previous.get('parameters')}); pass "
                        "--overwrite to replace them, or render into another folder")
                log.info("replacing the renders in %s (other parameters)", out)
                shutil.rmtree(out / "clips", ignore_errors=True)
                for marker in (out / ".render").glob("*.json"):
                    marker.unlink()
        write_json(config_file, {"digest": config.digest(), "parameters": asdict(config)})
        return _render_locked(data, out, config, ids, workers, progress)


def _render_locked(data: Path, out: Path, cfg: RenderConfig, ids: list[str], workers: int,
                   progress: bool) -> dict[str, Any]:
    from ..io.mannequin_render import renderer_info
    from .bandai import _init_worker  # one torch thread per worker process, as the dataset build

    started = time.time()
    tasks = [(i, str(data), str(out), cfg) for i in ids]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(tasks), desc="BandaiML renders", unit="clip", dynamic_ncols=True)
    if workers > 1:
        # spawn, not fork: every worker makes its own GL context, none inherits the parent's
        with mp.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
            for _ in pool.imap_unordered(render_clip, tasks, chunksize=1):
                if bar is not None:
                    bar.update(1)
    else:
        for task in tasks:
            render_clip(task)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    manifest = _finalise(data, out, cfg, renderer_info())
    log.info("rendered %d clip(s) into %s in %.1f s", len(ids), out, time.time() - started)
    write_json(out / ".render" / "last_build.json", {"seconds": round(time.time() - started, 1), "clips": len(ids)})
    return manifest


def _finalise(data: Path, out: Path, cfg: RenderConfig, renderer: dict[str, str]) -> dict[str, Any]:
    """manifest.json / README.md / NOTICE / LICENSE over every finished clip in ``out`` (not only this run's)."""
    from .bandai import parse_clip_name, split_of

    clips = []
    for marker in sorted((out / ".render").glob("*.json")):
        if marker.name in ("config.json", "last_build.json"):
            continue
        done = json.loads(marker.read_text(encoding="utf-8"))
        if done.get("config") == cfg.digest() and (out / "clips" / f"{marker.stem}.npz").is_file():
            clip = dict(done["clip"])
            try:
                clip["split"] = split_of(parse_clip_name(clip["id"].rsplit("_w", 1)[0]))
            except DatasetError:
                clip["split"] = None
            clips.append(clip)
    source_manifest = data / "manifest.json"
    manifest = {
        "name": "BandaiML renders",
        "unimotion_version": __version__,
        "attribution": BANDAI_ATTRIBUTION,
        "license": "CC BY-NC 4.0 (non-commercial use only)",
        "source": {
            "dir": str(data.resolve()),
            "manifest_sha256": hashlib.sha256(source_manifest.read_bytes()).hexdigest() if source_manifest.is_file() else None,
        },
        "parameters": asdict(cfg),
        # versions only: the GL implementation string names the host CPU, which would break byte-identity
        "renderer": {"pyrender": renderer["pyrender"], "pyopengl": renderer["pyopengl"], "body": f"mannequin-x {cfg.body}"},
        "layout": "clips/<id>.npz: frames (V,T,S,S,3) uint8, keypoints_2d (V,T,22,2), K (V,3,3), R (V,T,3,3), "
                  "t (V,T,3), frame_index (T,), fps, params (T,79), joints_3d (T,22,3), azimuth_deg, elevation_deg, "
                  "distance_m, fov_deg (V,), scene (JSON); see unimotion.data.bandai_render",
        "counts": {"clips": len(clips), "frames": sum(c["frames"] * c["views"] for c in clips)},
        "clips": clips,
    }
    write_json(out / "manifest.json", manifest)
    write_text(out / "NOTICE", BANDAI_NOTICE)
    write_text(out / "README.md", _readme(manifest))
    if (data / "LICENSE").is_file():
        shutil.copyfile(data / "LICENSE", out / "LICENSE")
    return manifest


def _readme(manifest: dict[str, Any]) -> str:
    p = manifest["parameters"]
    return f"""# BandaiML renders

Rendered by unimotion {manifest['unimotion_version']} (`unimotion data render bandai`) from the SMPL-X
fits of a BandaiML build: {manifest['counts']['clips']} clip(s), {manifest['counts']['frames']} frame(s),
{p['size']}×{p['size']} px, {p['fps']:g} fps, {p['views']} view(s), at most {p['max_frames'] or 'all'} frames
per view, {p['camera']} camera, mannequin-x {p['body']} body, seed {p['seed']}.

{BANDAI_NOTICE}
Do not redistribute this folder without this notice; do not use it, or models trained on it, commercially.

Layout: `manifest.json` → `layout`, and the docs of `unimotion.data.bandai_render` (docs/render.md).
The body mesh comes from mannequin-x (Apache-2.0); frames are rasterised with pyrender (MIT).
"""
