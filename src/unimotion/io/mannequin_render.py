"""Person-like renders of SMPL-X body parameters: a skinned ``mannequin-x`` mesh rasterised by ``pyrender``.

Two pieces, both thin wrappers around maintained packages (no rasteriser of our own):

* :class:`BodyMesh` poses the *wooden* (linear-blend-skinned, 24k vertices) or *convex* (rigid links)
  mannequin of ``mannequin-x`` (Apache-2.0) from the project's 79-channel SMPL-X parameters
  (:mod:`unimotion.motion.smplx_params`). The two packages pivot the global rotation differently: SMPL-X
  (and this project) rotate the body about the pelvis, mannequin-x about the body-model origin, so the
  translation handed to mannequin-x is ``J₀ + transl − R J₀``; with it the mannequin's 22 body joints equal
  :func:`~unimotion.motion.smplx_params.smplx_forward_kinematics` to float precision (tested), which is
  what makes the projected keypoints land on the rendered body. Every vertex is labelled with a clothing
  *region* (skin, shirt, sleeve, trousers, shin, shoes) by its nearest bone in the rest pose, using the
  package's public API only; a seeded outfit colours the regions.
* :class:`MannequinRenderer` rasterises one frame with ``pyrender`` (MIT) in an off-screen OpenGL
  context: EGL by default (Mesa's llvmpipe on a machine without a GPU), or OSMesa with
  ``PYOPENGL_PLATFORM=osmesa``. Cameras are the project's OpenCV-style pinhole
  :class:`~unimotion.motion.camera.Camera` (x right, y down, z forward) and are converted to OpenGL's
  axes here, with the principal point kept at the image centre so that pyrender's and OpenCV's pixel
  conventions coincide. The scene has a checkered floor, a key and a fill directional light plus
  ambient light; the background is a procedural gradient with soft blobs, composited under the
  (anti-aliased, premultiplied) RGBA render in NumPy.

``PYOPENGL_PLATFORM`` must be chosen before PyOpenGL is first imported, so this module sets it to ``egl``
(unless the user set it) before importing pyrender, which it does lazily: importing this module is cheap.
Same inputs → same pixels on one machine and Mesa build (llvmpipe is deterministic); other GPUs or Mesa
versions may differ in the last bits of a few pixels.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError, UnimotionError
from ..motion.camera import Camera

#: clothing regions of the mesh, in the order of :attr:`Outfit.colors`
REGIONS = ("skin", "shirt", "sleeve", "trousers", "shin", "shoes")
MIN_SIZE, MAX_SIZE = 16, 2048  # render resolution bounds (pixels, square)


class RendererUnavailableError(UnimotionError):
    """The off-screen OpenGL renderer cannot start (pyrender, PyOpenGL or an EGL/OSMesa driver is missing)."""


def check_size(size: int) -> int:
    """Validate a square render resolution (pixels); returns it as an int."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not MIN_SIZE <= int(size) <= MAX_SIZE:
        raise InputError(f"render resolution must be an integer between {MIN_SIZE} and {MAX_SIZE} pixels, got {size!r}")
    return int(size)


def _import_pyrender() -> Any:
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    try:
        import pyrender
    except Exception as exc:  # ImportError, or PyOpenGL failing to load the platform's libraries
        raise RendererUnavailableError(
            f"the mannequin renderer needs pyrender with an off-screen OpenGL platform "
            f"(PYOPENGL_PLATFORM={os.environ['PYOPENGL_PLATFORM']}): {type(exc).__name__}: {exc}; run "
            "scripts/setup_env.sh (it installs pyrender and Debian's libegl1 + libgl1-mesa-dri)"
        ) from exc
    return pyrender


@functools.lru_cache(maxsize=1)
def renderer_info() -> dict[str, str]:
    """Versions and the OpenGL implementation of the renderer (starts a tiny context once; cached).

    Raises :class:`RendererUnavailableError` with the reason when no off-screen context can be made.
    """
    pyrender = _import_pyrender()
    try:
        r = pyrender.OffscreenRenderer(MIN_SIZE, MIN_SIZE)
        try:
            from OpenGL import GL

            gl_renderer = GL.glGetString(GL.GL_RENDERER)
            gl_version = GL.glGetString(GL.GL_VERSION)
        finally:
            r.delete()
    except Exception as exc:
        raise RendererUnavailableError(
            f"cannot create an off-screen OpenGL context with PYOPENGL_PLATFORM="
            f"{os.environ.get('PYOPENGL_PLATFORM')}: {type(exc).__name__}: {str(exc)[:300]}; install Mesa's EGL "
            "driver (Debian: libegl1 libgl1-mesa-dri, or libosmesa6 with PYOPENGL_PLATFORM=osmesa)"
        ) from exc
    import OpenGL

    def text(s: Any) -> str:
        return s.decode() if isinstance(s, bytes) else str(s)

    return {
        "pyrender": str(pyrender.__version__),
        "pyopengl": str(OpenGL.__version__),
        "platform": str(os.environ.get("PYOPENGL_PLATFORM")),
        "gl_renderer": text(gl_renderer),
        "gl_version": text(gl_version),
    }


# ------------------------------------------------------------------------------------------ the body mesh
# Region of the bone (parent → child) nearest to a vertex in the rest pose, keyed by the child joint.
_BONE_REGION = {
    "Spine1": "shirt", "Spine2": "shirt", "Spine3": "shirt", "Neck": "shirt", "L_Collar": "shirt",
    "R_Collar": "shirt", "L_Shoulder": "shirt", "R_Shoulder": "shirt", "L_Elbow": "shirt", "R_Elbow": "shirt",
    "L_Wrist": "sleeve", "R_Wrist": "sleeve", "Head": "skin",
    "L_Hip": "trousers", "R_Hip": "trousers", "L_Knee": "trousers", "R_Knee": "trousers",
    "L_Ankle": "shin", "R_Ankle": "shin", "L_Foot": "shoes", "R_Foot": "shoes",
}


class BodyMesh:
    """A ``mannequin-x`` body posed from the project's SMPL-X parameters (β = the clip's betas).

    ``kind``: ``"wooden"`` (skinned, smooth; the default) or ``"convex"`` (rigid convex links, lod 0).
    """

    def __init__(self, kind: str = "wooden") -> None:
        from mannequin import Mannequin

        from ..motion import smplx_params as sp

        if kind not in ("wooden", "convex"):
            raise InputError(f"body kind must be 'wooden' or 'convex', got {kind!r}")
        self.kind = kind
        self._model = Mannequin(kind) if kind == "wooden" else Mannequin(kind, lod=0)
        names = self._model.joint_names
        if tuple(n.lower() for n in names[: sp.NUM_BODY_JOINTS]) != tuple(
            n.replace("left_", "l_").replace("right_", "r_") for n in sp.SMPLX_BODY.joint_names
        ):
            raise RendererUnavailableError(f"mannequin-x's joints do not start with the SMPL-X body joints: {names[:22]}")
        self._body_model = sp.default_body_model()
        self.faces = np.ascontiguousarray(np.asarray(self._model.faces, dtype=np.uint32))  # (F, 3)
        self.regions = self._label_regions()  # (V,) index into REGIONS

    @property
    def num_vertices(self) -> int:
        return int(self._model.num_vertices)

    def _pose(self, params: np.ndarray) -> dict[str, np.ndarray]:
        """mannequin-x pose arguments for one frame of (79,) parameters (rotation about the pelvis)."""
        from ..motion import smplx_params as sp
        from ..motion.rotations import axis_angle_to_matrix

        p = sp.unpack_params(np.asarray(params, dtype=np.float64))
        betas = np.asarray(p.betas, dtype=np.float64)
        if not np.allclose(betas, self._model.shape):
            self._model.reshape(betas.astype(np.float32))
        j0 = self._body_model.rest_joints(betas)[0]  # (3,) pelvis at rest
        rot = axis_angle_to_matrix(np.asarray(p.global_orient, dtype=np.float64))
        pose = self._model.rest_pose()
        pose["shape"] = betas.astype(np.float32)
        pose["body_pose"] = np.asarray(p.body_pose, dtype=np.float32).reshape(21, 3)
        pose["global_rotation"] = np.asarray(p.global_orient, dtype=np.float32)
        pose["global_translation"] = (j0 + p.transl - rot @ j0).astype(np.float32)
        return pose

    def vertices(self, params: np.ndarray) -> np.ndarray:
        """(79,) parameters of one frame → (V, 3) world vertices (metres, Y up). One frame at a time: the
        package's batched skinning materialises (T, V, 4, 4, 4) transforms and is slower per frame."""
        return np.asarray(self._model.vertices(self._pose(params)), dtype=np.float64)

    def body_joints(self, params: np.ndarray) -> np.ndarray:
        """(79,) → (22, 3) the mannequin's body joints (= SMPL-X FK of the parameters)."""
        return np.asarray(self._model.joint_transforms(self._pose(params))[:22, :3, 3], dtype=np.float64)

    def _label_regions(self) -> np.ndarray:
        rest = self._model.rest_pose()
        verts = np.asarray(self._model.vertices(rest), dtype=np.float64)  # (V, 3)
        joints = np.asarray(self._model.joint_transforms(rest)[:, :3, 3], dtype=np.float64)  # (J, 3)
        names, parents = self._model.joint_names, self._model.parents
        best = np.full(len(verts), np.inf)
        label = np.zeros(len(verts), dtype=np.int64)
        for child, parent in enumerate(parents):
            if parent < 0:
                continue
            region = REGIONS.index(_BONE_REGION.get(names[child], "skin"))  # fingers and hands: skin
            a, b = joints[parent], joints[child]
            ab = b - a
            s = np.clip((verts - a) @ ab / max(float(ab @ ab), 1e-12), 0.0, 1.0)
            dist = np.linalg.norm(verts - (a + s[:, None] * ab), axis=1)
            closer = dist < best
            best[closer] = dist[closer]
            label[closer] = region
        # the neck (nearest to spine3 → neck) above the collars is skin; the belly below the navel, trousers
        neck, pelvis = joints[names.index("Neck")], joints[names.index("Pelvis")]
        label[(label == REGIONS.index("shirt")) & (verts[:, 1] > neck[1] - 0.02)] = REGIONS.index("skin")
        label[(label == REGIONS.index("shirt")) & (verts[:, 1] < pelvis[1] + 0.06)] = REGIONS.index("trousers")
        return label


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals: (V, 3), (F, 3) → (V, 3)."""
    tri = vertices[faces]  # (F, 3, 3)
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # (F, 3), length = 2 × area
    n = len(vertices)
    normals = np.zeros((n, 3))
    for corner in range(3):
        for axis in range(3):
            normals[:, axis] += np.bincount(faces[:, corner], weights=fn[:, axis], minlength=n)
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


# ------------------------------------------------------------------------------------------ the scene
@dataclass(frozen=True)
class Light:
    direction: tuple[float, float, float]  # world direction the light travels (unit)
    color: tuple[float, float, float]  # linear RGB in [0, 1]
    intensity: float


@dataclass(frozen=True)
class SceneStyle:
    """Everything that decides a frame's look besides the pose and the camera (seeded per clip)."""

    outfit: tuple[tuple[float, float, float], ...]  # one RGB in [0, 1] per REGIONS entry
    roughness: float = 0.7
    lights: tuple[Light, ...] = ()
    ambient: tuple[float, float, float] = (0.25, 0.25, 0.25)
    floor_colors: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None  # checker; None: no floor
    floor_tile_m: float = 0.5
    background_top: tuple[float, float, float] = (0.6, 0.7, 0.8)
    background_bottom: tuple[float, float, float] = (0.3, 0.3, 0.3)
    # soft blobs added to the gradient: (u, v, radius, r, g, b) in image fractions and [−1, 1] colour shifts
    background_blobs: tuple[tuple[float, ...], ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def procedural_background(style: SceneStyle, size: int) -> np.ndarray:
    """(S, S, 3) float in [0, 1]: a vertical gradient plus a few soft colour blobs."""
    v = (np.arange(size) + 0.5) / size  # (S,) top → bottom
    u = v.copy()
    top, bottom = np.asarray(style.background_top), np.asarray(style.background_bottom)
    image = top[None, None, :] * (1.0 - v)[:, None, None] + bottom[None, None, :] * v[:, None, None]
    image = np.broadcast_to(image, (size, size, 3)).copy()
    for bu, bv, radius, *rgb in style.background_blobs:
        weight = np.exp(-(((u[None, :] - bu) ** 2 + (v[:, None] - bv) ** 2) / (2 * radius**2)))  # (S, S)
        image += weight[:, :, None] * np.asarray(rgb)[None, None, :]
    return np.clip(image, 0.0, 1.0)


def _camera_pose_gl(camera: Camera) -> np.ndarray:
    """OpenGL camera-to-world (4, 4) of an OpenCV world→camera (R, t): flip the camera's y and z axes."""
    c2w = np.eye(4)
    c2w[:3, :3] = camera.R.T
    c2w[:3, 3] = -camera.R.T @ camera.t
    return c2w @ np.diag([1.0, -1.0, -1.0, 1.0])


def _light_pose(direction: np.ndarray) -> np.ndarray:
    """Pose whose −Z axis points along ``direction`` (pyrender's directional lights shine along −Z)."""
    d = np.asarray(direction, dtype=np.float64)
    z = -d / np.linalg.norm(d)
    helper = np.array([0.0, 1.0, 0.0]) if abs(z[1]) < 0.95 else np.array([1.0, 0.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([x, np.cross(z, x), z], axis=1)
    return pose


def floor_mesh(center_xz: np.ndarray, height: float, style: SceneStyle, half_size_m: float = 10.0
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A checkered square floor (y = ``height``) around ``center_xz``: positions (4N, 3), colours (4N, 3),
    triangle indices (2N, 3); every tile has its own four vertices so its colour does not bleed."""
    assert style.floor_colors is not None
    tile = style.floor_tile_m
    n = int(np.ceil(half_size_m / tile))
    # snap the grid to world multiples of the tile so that the pattern is fixed in the world
    ix = np.arange(-n, n) + int(np.floor(center_xz[0] / tile))
    iz = np.arange(-n, n) + int(np.floor(center_xz[1] / tile))
    gx, gz = np.meshgrid(ix, iz, indexing="ij")
    gx, gz = gx.ravel(), gz.ravel()  # (N,)
    corners = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float64)  # (4, 2)
    xz = (np.stack([gx, gz], axis=1)[:, None, :] + corners[None]) * tile  # (N, 4, 2)
    positions = np.stack([xz[..., 0], np.full(xz.shape[:2], height), xz[..., 1]], axis=-1).reshape(-1, 3)
    palette = np.asarray(style.floor_colors, dtype=np.float64)  # (2, 3)
    colors = np.repeat(palette[(gx + gz) % 2], 4, axis=0)  # (4N, 3)
    base = (np.arange(len(gx)) * 4)[:, None]
    faces = np.concatenate([base + np.array([0, 3, 2]), base + np.array([0, 2, 1])], axis=0)  # CCW seen from +Y
    return positions, colors, faces.astype(np.uint32)


class MannequinRenderer:
    """Off-screen renderer of one square resolution; reuse it for every frame (the GL context is costly).

    Call :meth:`close` (or use it as a context manager) to free the context.
    """

    def __init__(self, size: int) -> None:
        self.size = check_size(size)
        renderer_info()  # fails early, with the reason, when no context can be made
        self._pyrender = _import_pyrender()
        self._renderer = self._pyrender.OffscreenRenderer(self.size, self.size)

    def __enter__(self) -> MannequinRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.delete()
            self._renderer = None

    def render(
        self,
        vertices: np.ndarray,
        faces: np.ndarray,
        vertex_colors: np.ndarray,
        camera: Camera,
        style: SceneStyle,
        background: np.ndarray,
        floor: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """One frame: (V, 3) vertices, (F, 3) faces, (V, 3) colours in [0, 1], a camera, the style,
        the (S, S, 3) background from :func:`procedural_background` and an optional :func:`floor_mesh`.

        Returns (S, S, 3) uint8 RGB.
        """
        pr = self._pyrender
        if camera.width != self.size or camera.height != self.size:
            raise InputError(f"camera is {camera.width}x{camera.height}, the renderer {self.size}x{self.size}")
        scene = pr.Scene(bg_color=np.zeros(4), ambient_light=np.asarray(style.ambient))
        body = pr.MetallicRoughnessMaterial(
            baseColorFactor=np.ones(4), metallicFactor=0.0, roughnessFactor=float(style.roughness))
        ones = np.ones((len(vertices), 1))
        scene.add(pr.Mesh([pr.Primitive(
            positions=vertices.astype(np.float32), normals=vertex_normals(vertices, faces).astype(np.float32),
            color_0=np.concatenate([vertex_colors, ones], axis=1).astype(np.float32),
            indices=faces, material=body, mode=pr.constants.GLTF.TRIANGLES)]))
        if floor is not None:
            positions, colors, tris = floor
            ground = pr.MetallicRoughnessMaterial(baseColorFactor=np.ones(4), metallicFactor=0.0, roughnessFactor=1.0)
            normals = np.tile(np.array([[0.0, 1.0, 0.0]], dtype=np.float32), (len(positions), 1))
            scene.add(pr.Mesh([pr.Primitive(
                positions=positions.astype(np.float32), normals=normals,
                color_0=np.concatenate([colors, np.ones((len(colors), 1))], axis=1).astype(np.float32),
                indices=tris, material=ground, mode=pr.constants.GLTF.TRIANGLES)]))
        for light in style.lights:
            scene.add(pr.DirectionalLight(color=np.asarray(light.color), intensity=float(light.intensity)),
                      pose=_light_pose(np.asarray(light.direction)))
        K = camera.K
        depth = float(np.linalg.norm(camera.position))
        cam = pr.IntrinsicsCamera(fx=K[0, 0], fy=K[1, 1], cx=K[0, 2], cy=K[1, 2], znear=0.05, zfar=depth + 100.0)
        scene.add(cam, pose=_camera_pose_gl(camera))
        rgba, _ = self._renderer.render(scene, flags=pr.RenderFlags.RGBA)  # (S, S, 4) uint8, premultiplied
        rgba = rgba.astype(np.float64) / 255.0
        out = rgba[..., :3] + background * (1.0 - rgba[..., 3:4])
        return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)
