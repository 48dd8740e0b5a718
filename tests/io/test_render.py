"""Stick-figure renderer and frame writers (unimotion.io.render / unimotion.io.video)."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from unimotion.errors import InputError, MotionError, UnimotionError
from unimotion.io import render as R
from unimotion.io import video as V
from unimotion.motion.camera import Camera, intrinsics, look_at
from unimotion.motion.skeletons import KIT21, T2M22

WHITE = (255, 255, 255)


def _walking_joints(T: int = 30, speed: float = 1.0) -> np.ndarray:
    """A hand-made 22-joint figure (metres, Y up, facing +Z) translating along +Z with swinging limbs."""
    base = np.zeros((22, 3))
    # x (left +), y (up), z: a rough standing body
    coords = {
        0: (0, 0.95, 0), 1: (0.09, 0.87, 0), 2: (-0.09, 0.87, 0), 3: (0, 1.07, 0), 4: (0.09, 0.48, 0),
        5: (-0.09, 0.48, 0), 6: (0, 1.2, 0), 7: (0.09, 0.07, 0), 8: (-0.09, 0.07, 0), 9: (0, 1.26, 0),
        10: (0.09, 0.0, 0.12), 11: (-0.09, 0.0, 0.12), 12: (0, 1.46, 0), 13: (0.07, 1.38, 0), 14: (-0.07, 1.38, 0),
        15: (0, 1.56, 0.03), 16: (0.19, 1.39, 0), 17: (-0.19, 1.39, 0), 18: (0.2, 1.12, 0), 19: (-0.2, 1.12, 0),
        20: (0.21, 0.87, 0), 21: (-0.21, 0.87, 0),
    }
    for j, c in coords.items():
        base[j] = c
    t = np.arange(T)[:, None] / 20.0
    joints = np.repeat(base[None], T, axis=0)
    joints[..., 2] += speed * t
    swing = 0.2 * np.sin(2 * np.pi * t)
    joints[:, [7, 10], 2] += swing
    joints[:, [8, 11], 2] -= swing
    joints[:, 20, 2] -= swing[:, 0]
    joints[:, 21, 2] += swing[:, 0]
    return joints


def _plain_style(**kw) -> R.RenderStyle:
    return R.RenderStyle(floor="none", **kw)


# ------------------------------------------------------------------------------------------ frames
def test_render_frames_shape_dtype_and_content():
    joints = _walking_joints(12)
    frames = R.render_frames(joints, size=(48, 32))
    assert frames.shape == (12, 32, 48, 3) and frames.dtype == np.uint8
    # Something other than the background is drawn in every frame, and consecutive frames differ.
    assert all((f != 255).any() for f in frames)
    assert (frames[0] != frames[6]).any()


def test_single_pose_and_torch_input():
    joints = _walking_joints(3)
    one = R.render_frames(joints[0], size=40)
    assert one.shape == (1, 40, 40, 3)
    from_torch = R.render_frames(torch.as_tensor(joints, dtype=torch.float32), size=40)
    from_numpy = R.render_frames(joints.astype(np.float32), size=40)
    np.testing.assert_array_equal(from_torch, from_numpy)


def _scattered_points(T: int, rng) -> np.ndarray:
    """(T, 22, 3) points on a jittered grid in front of the camera, well apart in the image."""
    gx, gy = np.meshgrid(np.linspace(-0.8, 0.8, 6), np.linspace(0.2, 1.8, 4))
    grid = np.stack([gx.ravel(), gy.ravel(), np.zeros(gx.size)], axis=-1)[:22]
    return grid[None] + rng.uniform(-0.03, 0.03, size=(T, 22, 3))


def _dot_centres(frame: np.ndarray, colors) -> np.ndarray:
    """Centroid (continuous pixel coordinates, pixel i covers [i, i+1)) of each colour's pixels."""
    out = []
    for col in colors:
        ys, xs = np.nonzero((frame == np.asarray(col, dtype=np.uint8)).all(axis=-1))
        assert len(xs) > 0, f"colour {col} not drawn"
        out.append([xs.mean() + 0.5, ys.mean() + 0.5])
    return np.asarray(out)


def _camera(W: int = 160, H: int = 120) -> Camera:
    R_, t_ = look_at(np.array([0.4, 1.2, 3.5]), np.array([0.0, 1.0, 0.0]))
    return Camera(intrinsics(50.0, W, H), R_, t_, W, H)


def test_pixels_agree_with_camera_project():
    """Each joint's dot (a unique colour) is centred on the pixel that contains camera.project(joint)."""
    joints = _scattered_points(6, np.random.default_rng(0))
    camera = _camera()
    colors = [(10 + 10 * j, 200 - 7 * j, (37 * j) % 256) for j in range(22)]
    style = _plain_style(bone_colors=[WHITE] * len(T2M22.bones), joint_colors=colors, joint_radius=1,
                         head_scale=0, line_width=1)
    frames = R.render_frames(joints, camera=camera, style=style)
    expected = camera.project(joints)  # (T, 22, 2) — the camera's own projection, not the renderer's
    errors = np.concatenate([np.abs(_dot_centres(frames[f], colors) - expected[f]) for f in range(len(frames))])
    assert errors.max() <= 0.5 + 1e-6  # the centre of the containing pixel
    assert errors.mean() < 0.35  # ~0.25 for uniformly distributed sub-pixel positions


@pytest.mark.parametrize("supersample", [1, 2, 3])
def test_supersampled_dots_are_centred_more_precisely(supersample):
    joints = _scattered_points(4, np.random.default_rng(1))
    camera = _camera()
    style = _plain_style(bone_colors=[WHITE] * 21, joint_colors=[(0, 0, 0)] * 22, joint_radius=1, head_scale=0,
                         supersample=supersample)
    frames = R.render_frames(joints, camera=camera, style=style)
    expected = camera.project(joints)
    errors = []
    for f in range(len(frames)):
        dark = 255.0 - frames[f, ..., 0]
        for u, v in expected[f]:
            x0, y0 = int(u) - 4, int(v) - 4
            win = dark[y0:y0 + 9, x0:x0 + 9]
            ys, xs = np.mgrid[y0:y0 + 9, x0:x0 + 9]
            centre = np.array([(win * (xs + 0.5)).sum(), (win * (ys + 0.5)).sum()]) / win.sum()
            errors.append(np.abs(centre - (u, v)))
    assert np.max(errors) <= 0.5 / supersample + 0.02


def test_per_frame_cameras_and_size_checks():
    rng = np.random.default_rng(1)
    joints = _scattered_points(2, rng)
    W = H = 96
    cams = []
    for eye in ([0.0, 1.0, 3.0], [1.5, 1.5, 2.5]):
        Rm, t = look_at(np.array(eye), np.array([0.0, 1.0, 0.0]))
        cams.append(Camera(intrinsics(55.0, W, H), Rm, t, W, H))
    colors = [(5 * j + 20, 3 * j + 40, 250 - 9 * j) for j in range(22)]
    style = _plain_style(bone_colors=[WHITE] * 21, joint_colors=colors, joint_radius=1, head_scale=0)
    frames = R.render_frames(joints, camera=cams, style=style)
    for f, cam in enumerate(cams):
        np.testing.assert_allclose(_dot_centres(frames[f], colors), cam.project(joints[f]), atol=0.75)
    with pytest.raises(InputError, match="cameras for 2 frames"):
        R.render_frames(joints, camera=cams[:1] * 3)
    with pytest.raises(InputError, match="differs from the camera"):
        R.render_frames(joints, camera=cams[0], size=50)


def test_fit_camera_keeps_every_joint_in_view_and_fills_the_image():
    joints = _walking_joints(60, speed=2.0)
    for az, el in ((0, 10), (35, 15), (90, 0), (200, 40)):
        cam = R.fit_camera(joints, 128, 96, azimuth=az, elevation=el, margin=0.05)
        uv = cam.project(joints)
        assert (uv[..., 0] >= 0).all() and (uv[..., 0] < 128).all()
        assert (uv[..., 1] >= 0).all() and (uv[..., 1] < 96).all()
        extent = max((uv[..., 0].max() - uv[..., 0].min()) / 128, (uv[..., 1].max() - uv[..., 1].min()) / 96)
        assert extent > 0.8, f"azimuth {az}: the motion only spans {extent:.2f} of the image"


def test_left_limbs_appear_on_the_viewers_right_when_seen_from_the_front():
    joints = _walking_joints(1)
    style = _plain_style(left_color=(255, 0, 0), right_color=(0, 0, 255), line_width=2)
    frame = R.render_frames(joints, size=128, azimuth=0, elevation=0, style=style)[0]
    left = np.nonzero((frame == (255, 0, 0)).all(-1))[1]
    right = np.nonzero((frame == (0, 0, 255)).all(-1))[1]
    assert len(left) > 20 and len(right) > 20
    # The body faces +Z = towards a camera at azimuth 0, so its left (+X) is on the image's right.
    assert left.mean() > right.mean() + 10
    # From behind (azimuth 180) it is mirrored.
    frame = R.render_frames(joints, size=128, azimuth=180, elevation=0, style=style)[0]
    assert np.nonzero((frame == (255, 0, 0)).all(-1))[1].mean() < np.nonzero((frame == (0, 0, 255)).all(-1))[1].mean()


def test_follow_root_keeps_the_figure_in_place():
    joints = _walking_joints(40, speed=3.0)  # 6 m along +Z
    style = _plain_style(center_color=(0, 0, 0), left_color=(0, 0, 0), right_color=(0, 0, 0))

    def centroid_x(frames):
        return np.array([np.nonzero((f == 0).all(-1))[1].mean() for f in frames])

    fixed = centroid_x(R.render_frames(joints, size=96, azimuth=90, style=style))
    follow = centroid_x(R.render_frames(joints, size=96, azimuth=90, style=style, follow_root=True))
    assert np.ptp(fixed) > 40  # the figure crosses the image
    assert np.ptp(follow) < 8  # only the limbs' swing moves it


def test_floor_grid_and_background():
    joints = _walking_joints(2)
    grid = R.render_frames(joints, size=64, style=R.RenderStyle(floor_color=(1, 2, 3), background=(9, 9, 9)))
    plain = R.render_frames(joints, size=64, style=R.RenderStyle(floor="none", background=(9, 9, 9)))
    assert (grid[0] == (1, 2, 3)).all(-1).sum() > 30
    assert not (plain[0] == (1, 2, 3)).all(-1).any()
    assert (plain[0] == (9, 9, 9)).all(-1).mean() > 0.5


def test_part_colors_and_appearance_dict():
    joints = _walking_joints(1)
    parts = {"left_arm": (1, 200, 3), "right_leg": (4, 5, 190), "head": (200, 6, 7)}
    style = R.RenderStyle.from_appearance({"background": (0, 0, 0), "part_colors": parts, "thickness": 2,
                                           "joint_radius": 0, "floor": "none"})
    assert style.line_width == 2
    frame = R.render_frames(joints, size=128, azimuth=0, elevation=0, style=style)[0]
    for col in parts.values():
        assert (frame == col).all(-1).sum() > 5, col
    # left arm pixels lie right of the image centre (the body faces the camera)
    xs = np.nonzero((frame == (1, 200, 3)).all(-1))[1]
    assert xs.mean() > 64
    assert R.bone_part(T2M22, T2M22.index("left_wrist")) == "left_arm"
    assert R.bone_part(T2M22, T2M22.index("right_foot")) == "right_leg"
    assert R.bone_part(T2M22, T2M22.index("spine2")) == "torso"
    with pytest.raises(InputError, match="unknown body parts"):
        R.RenderStyle(part_colors={"tail": (0, 0, 0)})
    with pytest.raises(InputError, match="unknown appearance settings"):
        R.RenderStyle.from_appearance({"colour_scheme": 1})


def test_kit_layout_renders():
    rng = np.random.default_rng(0)
    joints = rng.normal(size=(3, 21, 3)) * 0.3 + np.array([0, 1.0, 0])
    frames = R.render_frames(joints, layout=KIT21, size=32)
    assert frames.shape == (3, 32, 32, 3)


def test_titles():
    joints = _walking_joints(2)
    camera = R.fit_camera(joints, 96, 96)
    plain = R.render_frames(joints, camera=camera, style=_plain_style())
    titled = R.render_frames(joints, camera=camera, style=_plain_style(), titles=["a person walks", ""])
    assert (plain[0] != titled[0]).any() and (plain[1] == titled[1]).all()
    with pytest.raises(InputError, match="titles"):
        R.render_frames(joints, titles=["one"])
    # Without a camera, the motion is framed below the title line: no figure pixel in the text band.
    red = _plain_style(left_color=(255, 0, 0), right_color=(255, 0, 0), center_color=(255, 0, 0))
    frames = R.render_frames(_walking_joints(1), size=128, style=red, titles="title", elevation=0)
    rows = np.nonzero((frames[0] == (255, 0, 0)).all(-1))[0]
    assert rows.min() >= 12
    untitled = R.render_frames(_walking_joints(1), size=128, style=red, elevation=0)
    assert np.nonzero((untitled[0] == (255, 0, 0)).all(-1))[0].min() < 12


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((5, 22, 2)), "shape"),
        (np.zeros((0, 22, 3)), "no frames"),
        (np.zeros((5, 20, 3)), "20 joints but the layout has 22"),
        (np.full((5, 22, 3), np.nan), "NaN"),
        (np.where(np.arange(5)[:, None, None] == 3, np.inf, np.zeros((5, 22, 3))), r"NaN or Inf \(first bad frames: \[3\]"),
        (np.array([["a"] * 3] * 22), "numeric"),
    ],
)
def test_bad_joints_raise_motion_error(bad, match):
    with pytest.raises(MotionError, match=match):
        R.render_frames(bad)


def test_bad_style_and_size():
    with pytest.raises(InputError, match="floor"):
        R.RenderStyle(floor="checkerboard")
    with pytest.raises(InputError, match="supersample"):
        R.RenderStyle(supersample=0)
    with pytest.raises(InputError, match="bone_colors has 2 entries"):
        R.render_frames(_walking_joints(1), style=R.RenderStyle(bone_colors=[(0, 0, 0)] * 2))
    with pytest.raises(InputError, match="size"):
        R.render_frames(_walking_joints(1), size=0)
    with pytest.raises(InputError, match="fov"):
        R.fit_camera(_walking_joints(1), fov=0)


def test_points_behind_the_camera_are_skipped():
    joints = _walking_joints(1)
    Rm, t = look_at(np.array([0.0, 1.0, 0.05]), np.array([0.0, 1.0, 5.0]))  # inside the body, looking away
    cam = Camera(intrinsics(60.0, 32, 32), Rm, t, 32, 32)
    frame = R.render_frames(joints, camera=cam, style=R.RenderStyle(floor="grid"))
    assert frame.shape == (1, 32, 32, 3)  # no crash; the grid in front is still drawn


@pytest.mark.parametrize("follow_root", [False, True])
def test_render_speed_64px(follow_root):
    """The renderer also makes training images: thousands of frames/s at 64×64 (asserted loosely, > 1000,
    because the test machine is shared)."""
    joints = _walking_joints(200, speed=2.0)
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        R.render_frames(joints, size=64, follow_root=follow_root)
        best = max(best, 200 / (time.perf_counter() - start))
    assert best > 1000, f"{best:.0f} frames/s"


def test_clip_to_box():
    seg = np.array([
        [1.0, 1.0, 5.0, 7.0],  # inside: unchanged
        [-10.0, 5.0, 20.0, 5.0],  # crosses both vertical sides
        [-5.0, -5.0, -1.0, -1.0],  # outside
        [3.0, 3.0, 3.0, 1e9],  # vertical, leaves through the bottom
    ])
    out, inside = R._clip_to_box(seg, 0.0, 10.0, 8.0)
    assert inside.tolist() == [True, True, False, True]
    np.testing.assert_array_equal(out[0], seg[0])
    np.testing.assert_allclose(out[1], [0.0, 5.0, 10.0, 5.0])
    np.testing.assert_allclose(out[3], [3.0, 3.0, 3.0, 8.0])


# ------------------------------------------------------------------------------------------ files
def test_save_gif_round_trip(tmp_path):
    frames = R.render_frames(_walking_joints(16), size=(40, 30))
    path = R.save_gif(frames, tmp_path / "a.gif", fps=20)
    with Image.open(path) as im:
        assert im.size == (40, 30) and im.n_frames == 16
        assert im.info["duration"] == 50
    back = V.read_video(path)
    assert back.shape == (16, 30, 40, 3)
    assert np.abs(back.astype(int) - frames.astype(int)).mean() < 3  # GIF palette: nearly lossless here
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_gif_identical_frames_are_expanded_on_read(tmp_path):
    frames = R.render_frames(_walking_joints(6), size=24)
    frames = np.concatenate([frames[:2], frames[1:2], frames[1:2], frames[2:]])  # 3 repeats of frame 1
    path = R.save_gif(frames, tmp_path / "b.gif", fps=10)
    with Image.open(path) as im:
        assert im.n_frames == 6  # Pillow merged the repeats into one longer frame
    assert V.read_video(path).shape[0] == 8


def test_save_gif_replaces_existing_file(tmp_path):
    path = tmp_path / "c.gif"
    path.write_bytes(b"old")
    R.save_gif(np.zeros((2, 8, 8, 3), np.uint8), path)
    assert path.read_bytes()[:3] == b"GIF"


def test_png_strip(tmp_path):
    frames = np.stack([np.full((10, 12, 3), 20 * i, np.uint8) for i in range(10)])
    strip = V.frame_strip(frames, num=4, gap=2)
    assert strip.shape == (10, 4 * 12 + 3 * 2, 3)
    # first and last frames included, evenly spaced: 0, 3, 6, 9
    assert [int(strip[0, k * 14, 0]) for k in range(4)] == [0, 60, 120, 180]
    grid = V.frame_strip(frames, num=6, columns=3, gap=0)
    assert grid.shape == (20, 36, 3)
    path = R.save_png_strip(frames, tmp_path / "s.png", num=4)
    assert np.asarray(Image.open(path)).shape == strip.shape
    assert V.frame_strip(frames[:2], num=8).shape[1] == 2 * 12 + 2  # fewer frames than asked


@pytest.mark.parametrize(
    "frames, match",
    [
        (np.zeros((2, 8, 8, 3), np.float32), "uint8"),
        (np.zeros((2, 8, 8, 4), np.uint8), "shape"),
        (np.zeros((0, 8, 8, 3), np.uint8), "empty"),
        ([], "empty"),
    ],
)
def test_bad_frames(tmp_path, frames, match):
    with pytest.raises(InputError, match=match):
        R.save_gif(frames, tmp_path / "x.gif")
    assert not (tmp_path / "x.gif").exists()


def test_grey_frames_accepted(tmp_path):
    R.save_gif(np.zeros((3, 8, 8), np.uint8), tmp_path / "g.gif", fps=20)
    # Three identical frames are stored as one 150 ms frame; the frame rate recovers them.
    assert V.read_video(tmp_path / "g.gif", fps=20).shape == (3, 8, 8, 3)


def test_save_mp4_without_encoder_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setattr(V, "mp4_backend", lambda: None)
    with pytest.raises(UnimotionError, match="imageio-ffmpeg"):
        R.save_mp4(np.zeros((2, 8, 8, 3), np.uint8), tmp_path / "v.mp4")
    assert list(tmp_path.iterdir()) == []


def test_save_mp4_through_an_ffmpeg_executable(tmp_path, monkeypatch):
    """The system-ffmpeg path: a stand-in executable records its arguments and the piped bytes."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "ffmpeg"
    fake.write_text('#!/bin/sh\nfor last; do :; done\necho "$@" > "$FAKE_FFMPEG_ARGS"\ncat > "$last"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_FFMPEG_ARGS", str(tmp_path / "args.txt"))
    monkeypatch.setattr(V, "mp4_backend", lambda: "ffmpeg")
    frames = np.random.default_rng(0).integers(0, 255, size=(3, 7, 9, 3), dtype=np.uint8)  # odd sizes
    out = R.save_mp4(frames, tmp_path / "v.mp4", fps=25)
    args = (tmp_path / "args.txt").read_text()
    assert "-s 10x8" in args and "-r 25" in args and "libx264" in args and "yuv420p" in args
    raw = np.frombuffer(out.read_bytes(), np.uint8).reshape(3, 8, 10, 3)  # padded to even sizes
    np.testing.assert_array_equal(raw[:, :7, :9], frames)
    np.testing.assert_array_equal(raw[:, 7, :9], frames[:, 6])  # edge-replicated padding


@pytest.mark.skipif(V.mp4_backend() is None, reason="no MP4 encoder installed (imageio-ffmpeg, PyAV or ffmpeg)")
def test_save_mp4_real_encoder(tmp_path):
    frames = R.render_frames(_walking_joints(10), size=32)
    out = R.save_mp4(frames, tmp_path / "v.mp4")
    assert out.stat().st_size > 100


def test_read_video_folder_and_errors(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, size=(3, 6, 5, 3), dtype=np.uint8)
    V.write_frames(frames, tmp_path / "seq")
    np.testing.assert_array_equal(V.read_video(tmp_path / "seq"), frames)  # PNG is lossless
    np.save(tmp_path / "f.npy", frames)
    np.testing.assert_array_equal(V.read_video(tmp_path / "f.npy"), frames)
    with pytest.raises(FileNotFoundError):
        V.read_video(tmp_path / "missing.gif")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images"):
        V.read_video(tmp_path / "empty")
    with pytest.raises(InputError, match="unsupported"):
        V.save_video(frames, tmp_path / "x.avi")


def test_plot_3d_png_and_gif(tmp_path):
    joints = _walking_joints(30)
    png = R.plot_3d(joints, tmp_path / "p.png", num=4, title="walk")
    assert np.asarray(Image.open(png)).ndim == 3
    gif = R.plot_3d(joints, tmp_path / "p.gif", max_frames=10, dpi=40, figsize=3)
    with Image.open(gif) as im:
        assert im.n_frames == 10  # every 3rd of 30 frames
        assert im.info["duration"] == pytest.approx(150, abs=10)  # slowed down to real time
    with pytest.raises(MotionError):
        R.plot_3d(np.zeros((3, 5, 3)), tmp_path / "bad.png")
    assert not Path(tmp_path / "bad.png").exists()
