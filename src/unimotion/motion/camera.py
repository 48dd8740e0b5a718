"""Pinhole cameras: intrinsics K, extrinsics (R, t) mapping world → camera, projection to pixels.

Camera frame: x right, y down, z forward (OpenCV). ``x_cam = R @ x_world + t``; pixel = K @ x_cam / z.
World frame of our motions: metres, Y up, the body initially facing +Z.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Camera:
    K: np.ndarray  # (3, 3) intrinsics in pixels
    R: np.ndarray  # (3, 3) world → camera rotation
    t: np.ndarray  # (3,) world → camera translation
    width: int
    height: int

    def __post_init__(self) -> None:
        self.K = np.asarray(self.K, dtype=np.float64).reshape(3, 3)
        self.R = np.asarray(self.R, dtype=np.float64).reshape(3, 3)
        self.t = np.asarray(self.t, dtype=np.float64).reshape(3)

    @property
    def position(self) -> np.ndarray:
        """Camera centre in world coordinates."""
        return -self.R.T @ self.t

    def to_dict(self) -> dict:
        return {"K": self.K.tolist(), "R": self.R.tolist(), "t": self.t.tolist(), "width": self.width, "height": self.height}

    @classmethod
    def from_dict(cls, d: dict) -> Camera:
        return cls(np.array(d["K"]), np.array(d["R"]), np.array(d["t"]), int(d["width"]), int(d["height"]))

    def world_to_camera(self, points):
        """(..., 3) world → (..., 3) camera coordinates (NumPy or torch)."""
        if isinstance(points, torch.Tensor):
            R = torch.as_tensor(self.R, dtype=points.dtype, device=points.device)
            t = torch.as_tensor(self.t, dtype=points.dtype, device=points.device)
            return points @ R.T + t
        return np.asarray(points) @ self.R.T + self.t

    def project(self, points):
        """(..., 3) world points → (..., 2) pixel coordinates (u right, v down)."""
        cam = self.world_to_camera(points)
        if isinstance(cam, torch.Tensor):
            K = torch.as_tensor(self.K, dtype=cam.dtype, device=cam.device)
            z = cam[..., 2:3].clamp(min=1e-6)
        else:
            K = self.K
            z = np.maximum(cam[..., 2:3], 1e-6)
        uv1 = (cam / z) @ K.T
        return uv1[..., :2]


_Y_UP = np.array([0.0, 1.0, 0.0])


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = _Y_UP) -> tuple[np.ndarray, np.ndarray]:
    """World → camera (R, t) for a camera at ``eye`` looking at ``target`` (OpenCV axes)."""
    eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
    forward = target - eye
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-8:
        right = np.cross(forward, np.array([0.0, 0.0, 1.0]))
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    R = np.stack([right, down, forward])  # rows: camera axes in world coordinates
    return R, -R @ eye


def intrinsics(fov_deg: float, width: int, height: int) -> np.ndarray:
    """K for a horizontal field of view ``fov_deg`` and the principal point at the image centre."""
    f = 0.5 * width / np.tan(np.deg2rad(fov_deg) / 2)
    return np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]], dtype=np.float64)
