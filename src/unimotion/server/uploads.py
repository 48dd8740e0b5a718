"""Upload checks and server-owned temporary files.

An upload is accepted only when its extension is on the endpoint's list *and* its first bytes are those of
that format; it is read into memory up to the endpoint's byte limit (one byte more is refused). Nothing the
client sends becomes part of a path: a file the readers need on disk is written into the server's own
temporary folder under a random name with the checked extension, and deleted after the job. Before a video,
image or ``.npz`` is decoded its header is inspected, so that a small file that unpacks to gigabytes
(many frames, huge frames, a zip bomb) is refused unread.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import ServerConfig
from .http_errors import ApiError

_MAGIC: dict[str, tuple[bytes, ...]] = {
    ".npy": (b"\x93NUMPY",),
    ".npz": (b"PK\x03\x04", b"PK\x05\x06"),
    ".gif": (b"GIF87a", b"GIF89a"),
    ".png": (b"\x89PNG\r\n\x1a\n",),
    ".jpg": (b"\xff\xd8\xff",),
    ".jpeg": (b"\xff\xd8\xff",),
    ".bmp": (b"BM",),
}


@dataclass
class Upload:
    """A checked upload: its bytes, its (allowed) extension and a printable name for messages."""

    data: bytes
    suffix: str
    name: str


def display_name(filename: str | None) -> str:
    """The client's file name reduced to a short printable base name (used in messages only)."""
    base = re.split(r"[\\/]", filename or "")[-1]
    base = "".join(ch for ch in base if ch.isprintable())[:80]
    return base or "upload"


def content_matches(data: bytes, suffix: str) -> bool:
    """Whether ``data`` starts like a file of type ``suffix``."""
    if suffix == ".bvh":
        head = data[:256].lstrip(b"\xef\xbb\xbf \t\r\n")
        return head[:9].upper() == b"HIERARCHY"
    if suffix == ".webp":
        return data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    return any(data.startswith(m) for m in _MAGIC.get(suffix, ()))


def check_upload(data: bytes, filename: str | None, allowed: tuple[str, ...], max_bytes: int, what: str) -> Upload:
    """Check type (extension and content) and size; raises :class:`ApiError` (415 / 413 / 422)."""
    name = display_name(filename)
    suffix = Path(name).suffix.lower()
    if suffix not in allowed:
        raise ApiError(415, "unsupported_type", f"{what} {name!r}: unsupported file type {suffix or '(none)'!r}; "
                                                f"use one of {', '.join(allowed)}")
    if len(data) > max_bytes:
        raise ApiError(413, "too_large", f"{what} {name!r} is larger than the limit of {max_bytes / 2**20:g} MiB")
    if not data:
        raise ApiError(422, "invalid_file", f"{what} {name!r} is empty")
    if not content_matches(data, suffix):
        raise ApiError(415, "unsupported_type", f"{what} {name!r} does not look like a {suffix} file")
    return Upload(data=data, suffix=suffix, name=name)


async def read_upload(file, allowed: tuple[str, ...], max_bytes: int, what: str) -> Upload:
    """Read a FastAPI ``UploadFile`` (at most ``max_bytes`` + 1 bytes) and check it."""
    if file is None:
        raise ApiError(422, "invalid_request", f"no {what} was uploaded")
    data = await file.read(max_bytes + 1)
    return check_upload(data, file.filename, allowed, max_bytes, what)


# --------------------------------------------------------------------------------- pre-decode inspection
def check_npz(data: bytes, cfg: ServerConfig, name: str) -> None:
    """Refuse an ``.npz`` whose members unpack to more than ``cfg.max_unpacked_npz_bytes``."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            total = sum(i.file_size for i in z.infolist())
    except zipfile.BadZipFile as exc:
        raise ApiError(422, "invalid_file", f"{name}: not a readable .npz ({exc})") from exc
    if total > cfg.max_unpacked_npz_bytes:
        raise ApiError(413, "too_large", f"{name}: its arrays unpack to {total / 2**20:.0f} MiB; at most "
                                         f"{cfg.max_unpacked_npz_bytes / 2**20:g} MiB are accepted")


def _check_video_size(frames: int, height: int, width: int, cfg: ServerConfig, name: str) -> None:
    if frames > cfg.max_video_frames:
        raise ApiError(413, "too_large", f"{name} has {frames} frames; at most {cfg.max_video_frames} are accepted")
    if height * width > cfg.max_frame_pixels:
        raise ApiError(413, "too_large", f"{name}: frames of {width}×{height} pixels are larger than the limit of "
                                         f"{cfg.max_frame_pixels} pixels")
    if frames * height * width > cfg.max_video_pixels:
        raise ApiError(413, "too_large", f"{name}: {frames} frames of {width}×{height} are more than the limit of "
                                         f"{cfg.max_video_pixels} pixels in all")


def check_video(upload: Upload, cfg: ServerConfig) -> None:
    """Inspect a video / image upload's header (frames, size) before it is decoded."""
    if upload.suffix == ".npy":
        try:
            f = io.BytesIO(upload.data)
            version = np.lib.format.read_magic(f)  # the header only; no data is read
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(f)
        except Exception as exc:  # any malformed header
            raise ApiError(422, "invalid_file", f"{upload.name}: not a readable .npy array ({exc})") from exc
        if dtype != np.uint8 or len(shape) not in (3, 4):
            raise ApiError(422, "invalid_file", f"{upload.name}: a video .npy must be uint8 (T, H, W, 3) or (T, H, W), "
                                                f"got {dtype} {tuple(shape)}")
        _check_video_size(int(shape[0]), int(shape[1]), int(shape[2]), cfg, upload.name)
        return
    from PIL import Image

    try:
        with Image.open(io.BytesIO(upload.data)) as im:
            width, height = im.size
            frames = int(getattr(im, "n_frames", 1))
    except Exception as exc:  # PIL raises several types for broken files
        raise ApiError(422, "invalid_file", f"{upload.name}: not a readable image ({type(exc).__name__}: {exc})") from exc
    _check_video_size(frames, height, width, cfg, upload.name)


# --------------------------------------------------------------------------------- temporary files
@contextlib.contextmanager
def temp_file(folder: Path, upload: Upload) -> Iterator[Path]:
    """Write the upload to ``folder/<random hex><suffix>`` (never a client-chosen name); delete it after."""
    path = folder / f"{uuid.uuid4().hex}{upload.suffix}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(upload.data)
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def reading_error(exc: BaseException, path: Path, name: str) -> ApiError:
    """A reader's exception as a 422 answer, with the temporary path replaced by the upload's name."""
    msg = str(exc).replace(str(path), name).replace(path.name, name)
    if not msg.startswith(name):
        msg = f"{name}: {msg}"
    return ApiError(422, "invalid_file", msg)
