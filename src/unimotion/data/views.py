"""Seeded cameras and figure appearances for the rendered views of a motion (BandaiML ``renders/``).

Every random choice derives from a string key (the clip id) and a seed, so a rebuild renders the same
pixels. Cameras are pinhole (:class:`unimotion.motion.camera.Camera`); they look at the body from a
random azimuth around it, slightly above, at a distance that keeps the whole figure in view.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from ..motion.camera import Camera, intrinsics, look_at


def rng_for(key: str, seed: int, purpose: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}:{purpose}:{key}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


@dataclass(frozen=True)
class CameraRange:
    fov_deg: tuple[float, float] = (40.0, 55.0)
    elevation_deg: tuple[float, float] = (0.0, 25.0)
    distance_m: tuple[float, float] = (2.3, 3.2)  # from the look-at point, for a single frame
    target_height_m: tuple[float, float] = (0.8, 1.0)
    target_jitter_m: float = 0.1


def sample_camera(
    rng: np.random.Generator,
    center_xz: np.ndarray,
    size: int,
    extent_m: float = 0.0,
    ranges: CameraRange = CameraRange(),
) -> Camera:
    """A camera looking at ``center_xz`` (root position on the ground plane) from a random direction.

    ``extent_m``: how far the figure travels in view (for clips); the distance grows to keep it framed.
    """
    fov = rng.uniform(*ranges.fov_deg)
    azimuth = rng.uniform(-np.pi, np.pi)
    elevation = np.deg2rad(rng.uniform(*ranges.elevation_deg))
    distance = rng.uniform(*ranges.distance_m) + 1.2 * extent_m
    target = np.array(
        [center_xz[0], rng.uniform(*ranges.target_height_m), center_xz[1]], dtype=np.float64
    ) + rng.uniform(-ranges.target_jitter_m, ranges.target_jitter_m, size=3) * np.array([1.0, 0.5, 1.0])
    eye = target + distance * np.array(
        [np.cos(elevation) * np.sin(azimuth), np.sin(elevation), np.cos(elevation) * np.cos(azimuth)]
    )
    R, t = look_at(eye, target)
    return Camera(intrinsics(fov, size, size), R, t, size, size)


def sample_appearance(rng: np.random.Generator, size: int) -> dict:
    """Background and per-part colours, limb thickness and joint size for one figure (renderer kwargs)."""

    def colour(lo: int, hi: int) -> tuple[int, int, int]:
        return tuple(int(c) for c in rng.integers(lo, hi, size=3))

    dark_background = rng.random() < 0.5
    background = colour(0, 90) if dark_background else colour(150, 256)
    limb_lo, limb_hi = (110, 256) if dark_background else (0, 140)
    scale = size / 64.0
    return {
        "background": background,
        "part_colors": {
            part: colour(limb_lo, limb_hi)
            for part in ("torso", "head", "left_arm", "right_arm", "left_leg", "right_leg")
        },
        "thickness": max(1, int(round(rng.uniform(1.0, 2.2) * scale))),
        "joint_radius": max(1, int(round(rng.uniform(0.6, 1.4) * scale))),
    }
