"""Stick-figure rendering of joint positions: Pillow frames (fast), GIF/PNG/MP4 files, a matplotlib 3D view.

:func:`render_frames` turns joints (T, J, 3) (metres, Y up) into uint8 frames (T, H, W, 3) with Pillow: bones
as lines, joints as dots, left / right / centre limbs in different colours, nearer bones drawn over farther
ones, and a floor grid. It is the renderer for figures and GIFs *and* for image/video training data, so

* the appearance is a per-call :class:`RenderStyle` (limb colours, per-bone colours, line width, joint size,
  background, floor), and
* the camera can be an explicit :class:`unimotion.motion.camera.Camera` (pinhole, world → camera; OpenCV
  axes) — or one per frame — and then the drawn pixels agree with ``camera.project(joints)``: a joint
  projected to ``(u, v)`` is drawn centred on pixel ``(floor(u), floor(v))``, whose centre ``(⌊u⌋+½, ⌊v⌋+½)``
  is within half a pixel of ``(u, v)`` in each axis. (Pixel ``i`` covers ``[i, i+1)``, the convention of
  :func:`unimotion.motion.camera.intrinsics`, whose principal point ``W/2`` is the image centre.)

Without a camera, :func:`fit_camera` chooses one that frames the whole motion from a given azimuth and
elevation; ``follow_root=True`` instead moves that camera along with the root's ground position (for long
walks). Speed (2-core CPU, 22 joints, static camera): several thousand frames/s at 64×64 — see
``tests/io/test_render.py``.

Files: :func:`save_gif`, :func:`save_png_strip`, :func:`save_mp4` (only when an encoder is installed; a clear
:class:`~unimotion.errors.UnimotionError` otherwise) live in :mod:`unimotion.io.video` and are re-exported
here; :func:`plot_3d` draws a matplotlib (Agg) 3D view of a few frames to PNG, or an animated GIF.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError, MotionError
from ..motion.camera import Camera, intrinsics, look_at
from ..motion.skeletons import T2M22, SkeletonLayout
from ..utils.io import atomic_path
from .video import frame_strip, save_gif, save_mp4, save_png, save_png_strip, save_video  # noqa: F401

RGB = tuple[int, int, int]
BODY_PARTS = ("torso", "head", "left_arm", "right_arm", "left_leg", "right_leg")
_LEG_WORDS = ("hip", "knee", "ankle", "foot", "toe", "leg")
_ARM_WORDS = ("collar", "shoulder", "elbow", "wrist", "hand", "arm", "clavicle")
NEAR = 1e-3  # metres: points closer to (or behind) the camera plane are not drawn


@dataclass
class RenderStyle:
    """Appearance of the stick figure. Every field can be set per call (e.g. seeded per clip for training data).

    Sizes are in output pixels; ``None`` picks a size from the image size (``line_width`` ≈ min(H, W)/80,
    ``joint_radius`` ≈ min(H, W)/128, at least 1 px).
    """

    background: RGB = (255, 255, 255)
    left_color: RGB = (220, 50, 40)  # bones whose child joint is on the body's left (names "left_*")
    right_color: RGB = (30, 90, 220)  # ... on the right
    center_color: RGB = (50, 50, 50)  # spine, neck, head
    part_colors: dict[str, RGB] | None = None  # by body part (:data:`BODY_PARTS`); overrides the three above
    bone_colors: Sequence[RGB] | None = None  # one per bone in ``layout.bones`` order; overrides everything
    joint_colors: Sequence[RGB] | None = None  # one per joint; default: the colour of the bone ending there
    line_width: int | None = None
    joint_radius: int | None = None  # 0 = no joint dots
    head_scale: float = 2.0  # the head joint's dot is this many times bigger (0 = like the others)
    floor: str = "grid"  # "grid" or "none"
    floor_color: RGB = (205, 205, 205)
    grid_spacing: float = 0.5  # metres between grid lines
    grid_extent: float = 1.0  # metres the grid reaches beyond the motion's ground footprint
    supersample: int = 1  # render k× larger and box-downsample (anti-aliasing); 1 = off (fastest)
    depth_sort: bool = True  # draw far bones first so that near limbs cover them

    def __post_init__(self) -> None:
        if self.part_colors is not None:
            unknown = set(self.part_colors) - set(BODY_PARTS)
            if unknown:
                raise InputError(f"unknown body parts {sorted(unknown)} in part_colors; known: {', '.join(BODY_PARTS)}")
        if self.floor not in ("grid", "none"):
            raise InputError(f"floor must be 'grid' or 'none', got {self.floor!r}")
        if int(self.supersample) < 1:
            raise InputError(f"supersample must be >= 1, got {self.supersample}")
        if self.grid_spacing <= 0:
            raise InputError(f"grid_spacing must be > 0, got {self.grid_spacing}")
        for name in ("line_width", "joint_radius"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise InputError(f"{name} must be >= 0, got {value}")

    @classmethod
    def from_appearance(cls, appearance: dict, **overrides) -> RenderStyle:
        """A style from a plain dict of appearance settings (e.g. sampled per clip for training renders).

        Keys: the field names of this class, plus the alias ``thickness`` for ``line_width``.
        """
        settings = dict(appearance)
        if "thickness" in settings:
            settings["line_width"] = settings.pop("thickness")
        settings.update(overrides)
        known = set(cls.__dataclass_fields__)
        unknown = set(settings) - known
        if unknown:
            raise InputError(f"unknown appearance settings {sorted(unknown)}; known: {sorted(known | {'thickness'})}")
        return cls(**settings)


# ------------------------------------------------------------------------------------------ validation
def check_joints(joints, num_joints: int | None = None, name: str = "joints") -> np.ndarray:
    """Validate joint positions and return them as float64 (T, J, 3); a single pose (J, 3) becomes T = 1.

    Raises :class:`~unimotion.errors.MotionError` for a wrong shape, no frames, or NaN/Inf values.
    """
    if hasattr(joints, "detach"):  # torch tensor
        joints = joints.detach().cpu().numpy()
    joints = np.asarray(joints)
    if joints.dtype.kind not in "fiu":
        raise MotionError(f"{name} must be numeric, got dtype {joints.dtype}")
    if joints.ndim == 2:
        joints = joints[None]
    if joints.ndim != 3 or joints.shape[-1] != 3:
        raise MotionError(f"{name} must have shape (T, J, 3), got {joints.shape}")
    if joints.shape[0] == 0:
        raise MotionError(f"{name} has no frames (shape {joints.shape})")
    if num_joints is not None and joints.shape[1] != num_joints:
        raise MotionError(f"{name} has {joints.shape[1]} joints but the layout has {num_joints}")
    if not np.isfinite(joints).all():
        bad = np.flatnonzero(~np.isfinite(joints).all(axis=(1, 2)))
        raise MotionError(f"{name} contains NaN or Inf (first bad frames: {bad[:5].tolist()})")
    return joints.astype(np.float64, copy=False)


def _as_size(size) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        size = (int(size), int(size))
    try:
        w, h = (int(s) for s in size)
    except (TypeError, ValueError):
        raise InputError(f"size must be an int or (width, height), got {size!r}") from None
    if w < 1 or h < 1:
        raise InputError(f"size must be positive, got {(w, h)}")
    return w, h


# ------------------------------------------------------------------------------------------ cameras
def view_direction(azimuth: float, elevation: float) -> np.ndarray:
    """Unit vector from the subject towards the camera. Azimuth 0° = in front of a body facing +Z,
    positive azimuth moves the camera towards +X (the body's left); elevation > 0 looks down."""
    az, el = np.deg2rad(azimuth), np.deg2rad(elevation)
    return np.array([np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)])


def fit_camera(joints, width: int = 256, height: int | None = None, azimuth: float = 35.0,
               elevation: float = 15.0, fov: float = 40.0, margin: float = 0.08) -> Camera:
    """A pinhole camera looking at the motion from (azimuth, elevation) that keeps every joint of every frame
    inside the image, with ``margin`` (fraction of the half-size) to spare.

    The distance is exact for the given direction: with the target at the motion's centre, each point
    ``p`` (camera-aligned offsets ``x, y, z`` from the target) needs ``D ≥ |x|/tan_x − z`` and
    ``D ≥ |y|/tan_y − z``; the target is then re-centred on the projected bounding box once.

    Args:
        joints: (T, J, 3) or (N, 3) world points (metres, Y up).
        fov: horizontal field of view in degrees.
    """
    pts = check_joints(joints).reshape(-1, 3)
    height = width if height is None else height
    width, height = _as_size((width, height))
    if not 0 < fov < 179:
        raise InputError(f"fov must be in (0, 179) degrees, got {fov}")
    if not 0 <= margin < 1:
        raise InputError(f"margin must be in [0, 1), got {margin}")
    K = intrinsics(fov, width, height)
    tan_x = (1 - margin) * (width / 2) / K[0, 0]
    tan_y = (1 - margin) * (height / 2) / K[1, 1]
    direction = view_direction(azimuth, elevation)
    target = 0.5 * (pts.min(0) + pts.max(0))
    for _ in range(2):
        R, _ = look_at(target + direction, target)
        rel = (pts - target) @ R.T  # (N, 3) offsets in camera axes (x right, y down, z forward)
        need = np.maximum(np.abs(rel[:, 0]) / tan_x, np.abs(rel[:, 1]) / tan_y) - rel[:, 2]
        dist = max(float(need.max()), NEAR - float(rel[:, 2].min()) + 0.1, 0.1)
        z = rel[:, 2] + dist
        nx, ny = rel[:, 0] / z, rel[:, 1] / z  # normalised image coordinates
        shift = np.array([(nx.max() + nx.min()) / 2, (ny.max() + ny.min()) / 2, 0.0]) * dist
        if np.abs(shift).max() < 1e-6:
            break
        target = target + R.T @ shift
    R, t = look_at(target + direction * dist, target)
    return Camera(K, R, t, width, height)


def follow_root_cameras(camera: Camera, joints, root: int = 0) -> list[Camera]:
    """One camera per frame: ``camera`` translated by the root's ground (XZ) displacement since frame 0."""
    joints = check_joints(joints)
    shift = joints[:, root] - joints[0, root]
    shift[:, 1] = 0.0
    return [Camera(camera.K, camera.R, camera.t - camera.R @ s, camera.width, camera.height) for s in shift]


def _stack_cameras(cameras: Sequence[Camera], num_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if len(cameras) != num_frames:
        raise InputError(f"got {len(cameras)} cameras for {num_frames} frames (need one, or one per frame)")
    sizes = {(c.width, c.height) for c in cameras}
    if len(sizes) != 1:
        raise InputError(f"per-frame cameras must share one image size, got {sorted(sizes)}")
    K = np.stack([c.K for c in cameras])
    R = np.stack([c.R for c in cameras])
    t = np.stack([c.t for c in cameras])
    return K, R, t


def _project(points: np.ndarray, K: np.ndarray, R: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, N, 3) world points with per-frame (T, 3, 3) K, R and (T, 3) t → pixels (T, N, 2), depth (T, N).

    Same arithmetic as :meth:`Camera.project` (so the two agree to rounding).
    """
    cam = np.einsum("tij,tnj->tni", R, points) + t[:, None, :]
    z = np.maximum(cam[..., 2:3], 1e-6)
    uv = np.einsum("tnj,tij->tni", cam / z, K)[..., :2]
    return uv, cam[..., 2]


# ------------------------------------------------------------------------------------------ rendering
def bone_part(layout: SkeletonLayout, child: int) -> str:
    """Body part (:data:`BODY_PARTS`) of the bone ending at joint ``child``, from the joint names: arms are
    collar/shoulder/elbow/wrist bones, legs hip/knee/ankle/foot bones (prefix ``left``/``right``), ``head``
    the bone into the head joint, everything else the torso."""
    name = layout.joint_names[child].lower()
    side = "left" if name.startswith("left") else "right" if name.startswith("right") else ""
    if side and any(w in name for w in _LEG_WORDS):
        return f"{side}_leg"
    if side and any(w in name for w in _ARM_WORDS):
        return f"{side}_arm"
    return "head" if "head" in name else "torso"


def bone_colors(layout: SkeletonLayout, style: RenderStyle) -> list[RGB]:
    """Colour of every bone of ``layout`` (``layout.bones`` order) under ``style``."""
    bones = layout.bones
    if style.bone_colors is not None:
        if len(style.bone_colors) != len(bones):
            raise InputError(f"bone_colors has {len(style.bone_colors)} entries; layout {layout.name} has {len(bones)} bones")
        return [tuple(int(c) for c in col) for col in style.bone_colors]
    colors = []
    for _, child in bones:
        part = bone_part(layout, child)
        if style.part_colors is not None and part in style.part_colors:
            colors.append(style.part_colors[part])
        elif part.startswith("left"):
            colors.append(style.left_color)
        elif part.startswith("right"):
            colors.append(style.right_color)
        else:
            colors.append(style.center_color)
    return [tuple(int(c) for c in col) for col in colors]


def _joint_colors(layout: SkeletonLayout, style: RenderStyle, bcolors: list[RGB]) -> list[RGB]:
    if style.joint_colors is not None:
        if len(style.joint_colors) != layout.num_joints:
            raise InputError(f"joint_colors has {len(style.joint_colors)} entries; layout has {layout.num_joints} joints")
        return [tuple(int(c) for c in col) for col in style.joint_colors]
    colors: list[RGB] = [tuple(style.center_color)] * layout.num_joints
    for (_, child), col in zip(layout.bones, bcolors, strict=True):
        colors[child] = col
    return colors


def _grid_segments(joints: np.ndarray, floor_y: float, spacing: float, extent: float) -> np.ndarray:
    """(L, 2, 3) world segments of a floor grid covering the motion's ground footprint plus ``extent``."""
    lo = joints[..., [0, 2]].reshape(-1, 2).min(0) - extent
    hi = joints[..., [0, 2]].reshape(-1, 2).max(0) + extent
    lo = np.floor(lo / spacing) * spacing
    hi = np.ceil(hi / spacing) * spacing
    xs = np.arange(lo[0], hi[0] + spacing / 2, spacing)
    zs = np.arange(lo[1], hi[1] + spacing / 2, spacing)
    segs = [[[x, floor_y, lo[1]], [x, floor_y, hi[1]]] for x in xs]
    segs += [[[lo[0], floor_y, z], [hi[0], floor_y, z]] for z in zs]
    return np.asarray(segs, dtype=np.float64)


def _clip_segments_cam(seg_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clip camera-space segments (..., 2, 3) to z >= NEAR. Returns clipped segments and a visibility mask."""
    a, b = seg_cam[..., 0, :], seg_cam[..., 1, :]
    za, zb = a[..., 2], b[..., 2]
    visible = (za >= NEAR) | (zb >= NEAR)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.clip((NEAR - za) / (zb - za), 0.0, 1.0)
    a_new = np.where((za < NEAR)[..., None], a + s[..., None] * (b - a), a)
    b_new = np.where((zb < NEAR)[..., None], a + s[..., None] * (b - a), b)
    return np.stack([a_new, b_new], axis=-2), visible


def _clip_to_box(seg: np.ndarray, lo: float, hi_x: float, hi_y: float) -> tuple[np.ndarray, np.ndarray]:
    """Liang–Barsky clipping of 2D segments (..., 4) = (x0, y0, x1, y1) to [lo, hi_x] × [lo, hi_y].

    Returns the clipped segments and a mask of segments that intersect the box. Keeps Pillow from
    rasterising kilometre-long lines that come from points just in front of the camera.
    """
    x0, y0, x1, y1 = (seg[..., i] for i in range(4))
    dx, dy = x1 - x0, y1 - y0
    t0 = np.zeros_like(x0)
    t1 = np.ones_like(x0)
    inside = np.ones(x0.shape, dtype=bool)
    for p, q in ((-dx, x0 - lo), (dx, hi_x - x0), (-dy, y0 - lo), (dy, hi_y - y0)):
        parallel = p == 0
        inside &= ~(parallel & (q < 0))
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(parallel, 0.0, q / np.where(parallel, 1.0, p))
        t0 = np.where(~parallel & (p < 0), np.maximum(t0, r), t0)
        t1 = np.where(~parallel & (p > 0), np.minimum(t1, r), t1)
    inside &= t0 <= t1
    end_x = np.where(t1 >= 1.0, x1, x0 + t1 * dx)  # exact end points where nothing was clipped
    end_y = np.where(t1 >= 1.0, y1, y0 + t1 * dy)
    out = np.stack([x0 + t0 * dx, y0 + t0 * dy, end_x, end_y], axis=-1)
    return out, inside


def _grid_pixels(segs: np.ndarray, K: np.ndarray, R: np.ndarray, t: np.ndarray, width: int,
                 height: int) -> list[list[tuple]]:
    """Per camera: integer pixel endpoints of the visible (near- and image-clipped) grid lines."""
    cam = np.einsum("tij,lkj->tlki", R, segs) + t[:, None, None, :]  # (T, L, 2, 3)
    cam, visible = _clip_segments_cam(cam)
    z = np.maximum(cam[..., 2:3], NEAR)
    uv = np.einsum("tlkj,tij->tlki", cam / z, K)[..., :2]  # (T, L, 2, 2)
    seg, inside = _clip_to_box(uv.reshape(*uv.shape[:2], 4), -2.0, width + 2.0, height + 2.0)
    visible &= inside
    pix = _to_pixels(seg)
    out = []
    for f in range(pix.shape[0]):
        out.append([tuple(p) for p, v in zip(pix[f].tolist(), visible[f], strict=True) if v])
    return out


def _to_pixels(uv: np.ndarray, limit: int = 1 << 20) -> np.ndarray:
    """Continuous pixel coordinates → Pillow's integer pixel indices (floor), clamped to a safe range."""
    return np.clip(np.floor(uv), -limit, limit).astype(np.int64)


def render_frames(
    joints,
    layout: SkeletonLayout = T2M22,
    size: int | tuple[int, int] | None = None,
    camera: Camera | Sequence[Camera] | None = None,
    style: RenderStyle | None = None,
    *,
    follow_root: bool = False,
    azimuth: float = 35.0,
    elevation: float = 15.0,
    fov: float = 40.0,
    margin: float = 0.08,
    floor_height: float | None = None,
    titles: str | Sequence[str] | None = None,
) -> np.ndarray:
    """Render joints (T, J, 3) (metres, Y up) as stick-figure frames, uint8 (T, H, W, 3).

    Args:
        joints: (T, J, 3) or one pose (J, 3); NumPy or torch.
        layout: skeleton (bones and left/right names) — J must match ``layout.num_joints``.
        size: output size, ``int`` (square) or ``(width, height)``; default 256, or the camera's size.
        camera: an explicit camera (pixels then agree with ``camera.project``), or one per frame.
            ``None``: :func:`fit_camera` with ``azimuth``/``elevation``/``fov``/``margin``.
        style: appearance; default :class:`RenderStyle()`.
        follow_root: translate the camera with the root's ground position (the fitted camera then frames
            the root-relative motion, so the figure stays large on long walks).
        floor_height: height (Y) of the floor grid; default the lowest joint of the whole motion.
        titles: text drawn at the top-left, one string for all frames or one per frame.
    """
    style = style or RenderStyle()
    joints = check_joints(joints, layout.num_joints)
    T = joints.shape[0]
    if camera is not None:
        cams = [camera] * T if isinstance(camera, Camera) else list(camera)
        K, R, t = _stack_cameras(cams, T)
        width, height = cams[0].width, cams[0].height
        if size is not None and _as_size(size) != (width, height):
            raise InputError(f"size {_as_size(size)} differs from the camera's image size {(width, height)}")
        if follow_root:
            shift = joints[:, 0] - joints[0, 0]
            shift[:, 1] = 0.0
            t = t - np.einsum("tij,tj->ti", R, shift)
    else:
        width, height = _as_size(256 if size is None else size)
        # With titles, frame the motion below a text band (same focal length, principal point moved down).
        band = min(height // 3, _title_band(width, height)) if titles else 0
        fitted = joints
        if follow_root:
            fitted = joints.copy()
            fitted[..., [0, 2]] -= joints[:, :1, [0, 2]] - joints[:1, :1, [0, 2]]
        base = fit_camera(fitted, width, height - band, azimuth, elevation, fov, margin)
        if band:
            K = base.K.copy()
            K[1, 2] += band
            base = Camera(K, base.R, base.t, width, height)
        cams = follow_root_cameras(base, joints) if follow_root else [base]
        K, R, t = _stack_cameras(cams, len(cams))
        if len(cams) == 1:
            K, R, t = (np.repeat(a, T, axis=0) for a in (K, R, t))
    static = bool(np.all(R == R[:1]) and np.all(t == t[:1]) and np.all(K == K[:1]))
    if titles is not None:
        titles = [titles] * T if isinstance(titles, str) else list(titles)
        if len(titles) != T:
            raise InputError(f"got {len(titles)} titles for {T} frames")
    return _draw(joints, layout, width, height, K, R, t, static, style, floor_height, titles)


def _font_size(width: int, height: int) -> int:
    return max(8, 11 * min(width, height) // 256)


def _title_band(width: int, height: int) -> int:
    """Pixels reserved at the top for a title line."""
    return _font_size(width, height) + 6


def _text_color(background) -> RGB:
    return (0, 0, 0) if sum(background) > 384 else (255, 255, 255)


def _draw(joints, layout, width, height, K, R, t, static, style, floor_height, titles) -> np.ndarray:
    from PIL import Image, ImageDraw

    k = int(style.supersample)
    W, H = width * k, height * k
    Ks = K.copy()
    Ks[:, :2, :] *= k  # scaling pixel coordinates by k keeps the "pixel i covers [i, i+1)" convention
    base = min(width, height)
    lw = (max(1, round(base / 80)) if style.line_width is None else int(style.line_width)) * k
    jr = (max(1, round(base / 128)) if style.joint_radius is None else int(style.joint_radius)) * k
    head = layout.joint_names.index("head") if "head" in layout.joint_names else -1
    hr = max(jr, int(round(jr * style.head_scale))) if style.head_scale > 0 else jr

    bones = np.asarray(layout.bones, dtype=np.int64)  # (B, 2)
    bcol = bone_colors(layout, style)
    jcol = _joint_colors(layout, style, bcol)
    background = tuple(int(c) for c in style.background)

    uv, depth = _project(joints, Ks, R, t)  # (T, J, 2), (T, J)
    pix = _to_pixels(uv)
    visible = depth >= NEAR  # (T, J)
    bvis = visible[:, bones[:, 0]] & visible[:, bones[:, 1]]  # (T, B)
    if style.depth_sort:
        border = np.argsort(-(depth[:, bones[:, 0]] + depth[:, bones[:, 1]]), axis=1, kind="stable")
        jorder = np.argsort(-depth, axis=1, kind="stable")
    else:
        border = np.broadcast_to(np.arange(len(bones)), bvis.shape)
        jorder = np.broadcast_to(np.arange(layout.num_joints), visible.shape)
    seg, inside = _clip_to_box(np.concatenate([uv[:, bones[:, 0]], uv[:, bones[:, 1]]], axis=-1), -2.0 * k - lw,
                               W + 2.0 * k + lw, H + 2.0 * k + lw)
    bvis = bvis & inside
    seg = _to_pixels(seg)  # (T, B, 4); unclipped ends are floored exactly like the joint dots
    pad = 2 * max(jr, hr) + 2
    visible = visible & (uv[..., 0] > -pad) & (uv[..., 0] < W + pad) & (uv[..., 1] > -pad) & (uv[..., 1] < H + pad)
    # Python lists once for all frames: indexing NumPy scalars inside the loop is several times slower.
    seg_l, pix_l = seg.tolist(), pix.tolist()
    border_l, jorder_l, bvis_l, vis_l = border.tolist(), jorder.tolist(), bvis.tolist(), visible.tolist()

    grid = None
    if style.floor == "grid":
        floor_y = float(joints[..., 1].min()) if floor_height is None else float(floor_height)
        segs = _grid_segments(joints, floor_y, style.grid_spacing, style.grid_extent)
        if static:
            grid = _grid_pixels(segs, Ks[:1], R[:1], t[:1], W, H)
        else:
            grid = _grid_pixels(segs, Ks, R, t, W, H)
    floor_col = tuple(int(c) for c in style.floor_color)
    grid_w = max(1, k)

    background_img = Image.new("RGB", (W, H), background)
    if grid is not None and static:
        draw = ImageDraw.Draw(background_img)
        for line in grid[0]:
            draw.line(line, fill=floor_col, width=grid_w)

    out = np.empty((joints.shape[0], height, width, 3), dtype=np.uint8)
    for f in range(joints.shape[0]):
        img = background_img.copy()
        draw = ImageDraw.Draw(img)
        if grid is not None and not static:
            for line in grid[f]:
                draw.line(line, fill=floor_col, width=grid_w)
        sf, vf = seg_l[f], bvis_l[f]
        for b in border_l[f]:
            if vf[b]:
                draw.line(sf[b], fill=bcol[b], width=lw)
        if jr > 0:
            pf, jv = pix_l[f], vis_l[f]
            for j in jorder_l[f]:
                if jv[j]:
                    r = hr if j == head else jr
                    x, y = pf[j]
                    draw.ellipse((x - r, y - r, x + r, y + r), fill=jcol[j])
        if titles is not None and titles[f]:
            draw.text((4 * k, 3 * k), titles[f], fill=_text_color(background), font_size=_font_size(width, height) * k)
        if k > 1:
            img = img.reduce(k)
        out[f] = np.asarray(img)
    return out


# ------------------------------------------------------------------------------------------ matplotlib 3D
def _to_plot(points: np.ndarray) -> np.ndarray:
    """World (x, y up, z forward) → matplotlib (x, −z, y): a proper rotation (no mirroring), Z up."""
    return np.stack([points[..., 0], -points[..., 2], points[..., 1]], axis=-1)


def plot_3d(joints, path: str | os.PathLike, layout: SkeletonLayout = T2M22, num: int = 5,
            azimuth: float = 35.0, elevation: float = 15.0, title: str | None = None, fps: float = 20.0,
            max_frames: int = 200, figsize: float = 5.0, dpi: int = 80, style: RenderStyle | None = None) -> Path:
    """A matplotlib (Agg) 3D view of the motion.

    * ``path`` ending in ``.gif``: an animation (every frame, or every k-th frame when the motion is longer
      than ``max_frames``; the GIF's frame rate is lowered accordingly so it plays in real time).
    * otherwise (``.png``, ``.pdf``, ``.svg``...): ``num`` evenly spaced poses drawn in one axes, earlier ones
      fainter, plus the root's ground trajectory.

    ``azimuth``/``elevation`` follow :func:`view_direction` (0° = in front of a body facing +Z).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    style = style or RenderStyle()
    joints = check_joints(joints, layout.num_joints)
    P = _to_plot(joints)  # (T, J, 3) in plot axes
    bones = layout.bones
    colors = [tuple(c / 255 for c in col) for col in bone_colors(layout, style)]
    path = Path(path)

    fig = plt.figure(figsize=(figsize, figsize), dpi=dpi)
    try:
        ax = fig.add_subplot(projection="3d")
        lo, hi = P.reshape(-1, 3).min(0), P.reshape(-1, 3).max(0)
        span = max(float((hi - lo).max()), 1e-3)
        centre = (lo + hi) / 2
        ax.set_xlim(centre[0] - span / 2, centre[0] + span / 2)
        ax.set_ylim(centre[1] - span / 2, centre[1] + span / 2)
        ax.set_zlim(lo[2], lo[2] + span)
        ax.set_box_aspect((1, 1, 1))
        ax.view_init(elev=elevation, azim=azimuth - 90.0)
        ax.set_xlabel("x")
        ax.set_ylabel("-z")
        ax.set_zlabel("y")
        if title:
            ax.set_title(title, fontsize=9)
        floor = lo[2]
        ax.plot(P[:, 0, 0], P[:, 0, 1], np.full(len(P), floor), color="0.6", lw=1)

        if path.suffix.lower() == ".gif":
            step = max(1, -(-len(P) // max_frames))
            lines = [ax.plot(*np.zeros((3, 2)), color=c, lw=2)[0] for c in colors]
            frames = []
            for f in range(0, len(P), step):
                for line, (a, b) in zip(lines, bones, strict=True):
                    line.set_data_3d(P[f, [a, b], 0], P[f, [a, b], 1], P[f, [a, b], 2])
                fig.canvas.draw()
                frames.append(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
            return save_gif(np.stack(frames), path, fps=fps / step)

        picks = np.unique(np.round(np.linspace(0, len(P) - 1, max(1, min(num, len(P))))).astype(int))
        for i, f in enumerate(picks):
            alpha = 0.25 + 0.75 * (i + 1) / len(picks)
            for (a, b), c in zip(bones, colors, strict=True):
                ax.plot(P[f, [a, b], 0], P[f, [a, b], 1], P[f, [a, b], 2], color=c, lw=2, alpha=alpha)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix.lstrip(".").lower() or "png")
        return path
    finally:
        plt.close(fig)


__all__ = [
    "RenderStyle", "BODY_PARTS", "check_joints", "fit_camera", "follow_root_cameras", "view_direction",
    "bone_part", "bone_colors",
    "render_frames", "plot_3d", "save_gif", "save_png_strip", "save_mp4", "save_png", "save_video", "frame_strip",
]
