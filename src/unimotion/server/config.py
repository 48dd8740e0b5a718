"""Settings and limits of the web server (one dataclass; ``unimotion serve`` fills it from its options)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO_CHECKPOINTS = Path(__file__).resolve().parents[3] / "checkpoints"

#: upload types by extension: motion files (caption / continue / edit) and videos or images (UniMo)
MOTION_SUFFIXES = (".bvh", ".npy", ".npz")
VIDEO_SUFFIXES = (".gif", ".png", ".jpg", ".jpeg", ".webp", ".bmp", ".npy")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")


@dataclass
class ServerConfig:
    """Everything the server needs; the limits keep one process alive under any input.

    Attributes:
        unimotion_checkpoint / unimo_checkpoint / evaluator_checkpoint / keypoints_checkpoint: pipeline / model
            directories (default: the repository's ``checkpoints/unimotion_bandaiml``, ``unimo_bandaiml``,
            ``evaluator_bandaiml``, ``keypoints_bandaiml``). Each is loaded once, on first use (the UniMotion
            pipeline at start-up with ``preload``).
        device: torch device of the models.
        max_prompt_chars: longest prompt or editing instruction (characters, after collapsing spaces).
        max_seconds: longest motion generated, predicted or edited (also capped by the model's own limit).
        max_upload_bytes: largest request body (checked before it is read, answered with 413).
        max_motion_upload_bytes / max_video_upload_bytes: largest motion file / video or image file.
        max_video_frames / max_frame_pixels / max_video_pixels: a video or image upload is refused before
            it is decoded when it has more frames, more pixels in one frame, or more pixels in all frames.
        max_unpacked_npz_bytes: an uploaded ``.npz`` whose members unpack to more is refused unread.
        max_pending: jobs running + waiting; one more is answered 503 "busy" at once.
        job_timeout_s: per-request time limit; a request still waiting or running then gets 504 (a job that
            has not started by then is dropped; a running one finishes in the background, holding its slot).
        max_results: results kept in memory for downloads (oldest dropped first).
        gif_size: height in pixels of GIF downloads.
        torch_threads: torch intra-op threads of the process (set once at start-up; None leaves it).
        preload: load the UniMotion pipeline at start-up instead of on the first request.
    """

    unimotion_checkpoint: Path = field(default_factory=lambda: REPO_CHECKPOINTS / "unimotion_bandaiml")
    unimo_checkpoint: Path = field(default_factory=lambda: REPO_CHECKPOINTS / "unimo_bandaiml")
    evaluator_checkpoint: Path = field(default_factory=lambda: REPO_CHECKPOINTS / "evaluator_bandaiml")
    keypoints_checkpoint: Path = field(default_factory=lambda: REPO_CHECKPOINTS / "keypoints_bandaiml")
    device: str = "cpu"
    max_prompt_chars: int = 300
    max_seconds: float = 10.0
    max_upload_bytes: int = 16 * 2**20
    max_motion_upload_bytes: int = 8 * 2**20
    max_video_upload_bytes: int = 16 * 2**20
    max_video_frames: int = 400
    max_frame_pixels: int = 2048 * 2048
    max_video_pixels: int = 64 * 2**20
    max_unpacked_npz_bytes: int = 64 * 2**20
    max_pending: int = 4
    job_timeout_s: float = 60.0
    max_results: int = 32
    gif_size: int = 256
    torch_threads: int | None = 1
    preload: bool = False

    def __post_init__(self) -> None:
        for name in ("unimotion_checkpoint", "unimo_checkpoint", "evaluator_checkpoint", "keypoints_checkpoint"):
            setattr(self, name, Path(getattr(self, name)))
        positive = ("max_prompt_chars", "max_seconds", "max_upload_bytes", "max_motion_upload_bytes",
                    "max_video_upload_bytes", "max_video_frames", "max_frame_pixels", "max_video_pixels",
                    "max_unpacked_npz_bytes", "max_pending", "job_timeout_s", "max_results", "gif_size")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"ServerConfig.{name} must be > 0, got {getattr(self, name)!r}")

    def public_limits(self) -> dict[str, Any]:
        """The limits a client may want to know (no paths)."""
        keys = ("max_prompt_chars", "max_seconds", "max_motion_upload_bytes", "max_video_upload_bytes",
                "max_video_frames", "max_pending", "job_timeout_s", "max_results")
        d = asdict(self)
        return {k: d[k] for k in keys} | {"motion_types": list(MOTION_SUFFIXES), "video_types": list(VIDEO_SUFFIXES),
                                         "image_types": list(IMAGE_SUFFIXES)}
