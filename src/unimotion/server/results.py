"""Results kept for the page and for downloads: a bounded in-memory store and the BVH / GIF / NPZ exports.

A result is addressed by a random 32-hex id that the server made; the store is a dictionary (no file
names), holds at most ``max_results`` results and drops the oldest first, so memory stays bounded however
many requests come. Downloads are made on demand with the project's own writers
(:func:`unimotion.io.bvh_export.save_bvh`, :mod:`unimotion.io.render` + :func:`unimotion.io.video.save_gif`,
:func:`unimotion.utils.io.save_npz`) into the server's temporary folder, read back and cached on the result.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..motion.skeletons import SkeletonLayout
from .http_errors import ApiError

ID_PATTERN = r"^[0-9a-f]{32}$"
_ID_RE = re.compile(ID_PATTERN)
FORMATS = {"bvh": "application/octet-stream", "gif": "image/gif", "npz": "application/octet-stream"}


@dataclass
class StoredResult:
    """One motion shown on the page (generated, predicted, edited, captioned input, captured, animated).

    Attributes:
        joints: (T, J, 3) float32 joint positions in metres, Y up, in ``layout``.
        arrays: what the NPZ download holds.
        video: (T, h, w, 3) uint8 frames shown beside the motion (UniMo: the input as the model saw it, or the
            generated video), else None.
        features: (T, D) features for the evaluator score (None: computed from the joints).
        titles: per-frame titles of the GIF download.
    """

    task: str
    model: str
    joints: np.ndarray
    fps: float
    layout: SkeletonLayout
    arrays: dict[str, np.ndarray]
    prompt: str | None = None
    caption: str | None = None
    observed_frames: int = 0
    video: np.ndarray | None = None
    features: np.ndarray | None = None
    titles: Any = None
    notes: list[str] = field(default_factory=list)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created: float = field(default_factory=time.time)
    cache: dict[str, bytes] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])

    def filename(self, ext: str) -> str:
        return f"unimotion-{self.task}-{self.id[:8]}.{ext}"

    def to_json(self, include_joints: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "task": self.task, "model": self.model, "prompt": self.prompt, "caption": self.caption,
            "fps": float(self.fps), "num_frames": self.num_frames, "seconds": round(self.num_frames / self.fps, 3),
            "observed_frames": int(self.observed_frames),
            "skeleton": {"name": self.layout.name, "joint_names": list(self.layout.joint_names),
                         "parents": [int(p) for p in self.layout.parents]},
            "downloads": {ext: f"/api/motions/{self.id}/{ext}" for ext in FORMATS},
            "video": f"/api/motions/{self.id}/video.gif" if self.video is not None else None,
            "notes": list(self.notes),
        }
        if include_joints:
            out["joints"] = np.round(self.joints.astype(np.float64), 4).tolist()
        return out


class ResultStore:
    """At most ``max_items`` results, oldest dropped first (thread-safe)."""

    def __init__(self, max_items: int = 32):
        self.max_items = int(max_items)
        self._items: OrderedDict[str, StoredResult] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def add(self, result: StoredResult) -> StoredResult:
        with self._lock:
            self._items[result.id] = result
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return result

    def get(self, result_id: str) -> StoredResult:
        if not isinstance(result_id, str) or not _ID_RE.match(result_id):
            raise ApiError(404, "not_found", "no such result (ids are 32 hexadecimal digits)")
        with self._lock:
            item = self._items.get(result_id)
        if item is None:
            raise ApiError(404, "not_found", f"result {result_id} not found (the server keeps the last "
                                             f"{self.max_items} results)")
        return item


# ------------------------------------------------------------------------------------------------ exports
def _read_back(path: Path) -> bytes:
    try:
        return path.read_bytes()
    finally:
        path.unlink(missing_ok=True)


def export(result: StoredResult, fmt: str, folder: Path, gif_size: int = 256) -> bytes:
    """The result as ``fmt`` ("bvh", "gif", "npz", or "video.gif"), cached on the result."""
    if fmt in result.cache:
        return result.cache[fmt]
    path = folder / f"{uuid.uuid4().hex}.{fmt.rsplit('.', 1)[-1]}"
    if fmt == "bvh":
        from ..io.bvh_export import save_bvh

        save_bvh(path, result.joints.astype(np.float64), fps=result.fps, layout=result.layout)
    elif fmt == "npz":
        from ..utils.io import save_npz

        save_npz(path, **result.arrays)
    elif fmt == "gif":
        from ..io.video import save_gif

        save_gif(_gif_frames(result, gif_size), path, fps=result.fps)
    elif fmt == "video.gif":
        from ..io.video import save_gif

        if result.video is None:
            raise ApiError(404, "not_found", "this result has no video")
        save_gif(result.video, path, fps=result.fps)
    else:
        raise ApiError(404, "not_found", f"unknown format {fmt!r}; use bvh, gif or npz")
    data = _read_back(path)
    result.cache[fmt] = data
    return data


def _gif_frames(result: StoredResult, size: int) -> np.ndarray:
    """Stick-figure frames (the model's video beside them for UniMo results), as the CLI renders them."""
    if result.video is not None:
        from ..cli.unimo import side_by_side

        left = "input" if result.task == "capture" else "generated video"
        return side_by_side(result.video, result.joints.astype(np.float64), size, (left, f"{result.task}d motion"))
    from ..io.render import render_frames

    return render_frames(result.joints.astype(np.float64), result.layout, size=size, follow_root=True,
                         titles=result.titles)
