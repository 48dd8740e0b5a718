"""Frames ↔ files: GIF, PNG strips, MP4 (when an encoder is installed), folders of images.

Frames are uint8 arrays of shape (T, H, W, 3) (RGB; (T, H, W) grey is accepted on input). Every writer goes
through :func:`unimotion.utils.io.atomic_path`, so a failed or interrupted write never leaves a truncated
file under the final name.

Encoders
--------
* GIF and PNG need only Pillow (a core dependency).
* MP4 (H.264, ``yuv420p``) uses the first backend that is present, in this order: ``imageio-ffmpeg`` (a
  Python package bundling an ffmpeg binary, 165 MB, deliberately *not* a dependency), PyAV (``av``), or an
  ``ffmpeg`` executable on ``PATH``. With none of them :func:`save_mp4` raises
  :class:`~unimotion.errors.UnimotionError` saying how to get one; GIF/PNG keep working.

GIF caveat: Pillow merges *identical consecutive* frames into one frame with the summed duration (the
animation's timing is unchanged). :func:`read_video` expands such frames back to the base frame rate, so a
write → read round trip returns the original number of frames.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import struct
import subprocess
import warnings
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from .. import limits
from ..errors import FileAccessError, InputError, LimitError, MissingFileError, UnimotionError
from ..utils.io import atomic_path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
MP4_INSTALL_HINT = (
    "no MP4 encoder is installed: install one of `pip install imageio-ffmpeg` (bundles ffmpeg, ~165 MB), "
    "`pip install av` (PyAV), or a system `ffmpeg` on PATH (e.g. `apt-get install ffmpeg`); "
    "GIF and PNG output need nothing extra"
)


# ------------------------------------------------------------------------------------------ validation
def check_frames(frames, name: str = "frames") -> np.ndarray:
    """Validate and return frames as a C-contiguous uint8 array (T, H, W, 3).

    Accepts (T, H, W, 3) RGB or (T, H, W) grey (expanded to RGB). Floats are rejected rather than guessed at
    (is 1.0 white or almost black?): convert with ``(x * 255).round().astype(np.uint8)`` yourself.
    """
    if isinstance(frames, Sequence) and not isinstance(frames, np.ndarray):
        if len(frames) == 0:
            raise InputError(f"{name} is empty: need at least one frame")
        frames = np.stack([np.asarray(f) for f in frames])
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = np.repeat(frames[..., None], 3, axis=-1)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise InputError(f"{name} must have shape (T, H, W, 3) or (T, H, W), got {frames.shape}")
    if frames.dtype != np.uint8:
        raise InputError(f"{name} must be uint8 (0..255), got dtype {frames.dtype}")
    if min(frames.shape[:3]) == 0:
        raise InputError(f"{name} is empty: shape {frames.shape}")
    return np.ascontiguousarray(frames)


def _check_fps(fps: float) -> float:
    fps = float(fps)
    if not np.isfinite(fps) or fps <= 0:
        raise InputError(f"fps must be a positive number, got {fps}")
    return fps


# ------------------------------------------------------------------------------------------ writers
def save_gif(frames, path: str | os.PathLike, fps: float = 20.0, loop: int = 0) -> Path:
    """Write an animated GIF (Pillow). ``loop=0`` repeats forever. Returns the path.

    GIF stores delays in 1/100 s, so frame rates whose period is not a multiple of 10 ms are rounded
    (30 fps plays at ~30.3 fps).
    """
    from PIL import Image

    frames = check_frames(frames)
    fps = _check_fps(fps)
    images = [Image.fromarray(f) for f in frames]
    path = Path(path)
    with atomic_path(path) as tmp:
        images[0].save(
            tmp, format="GIF", save_all=True, append_images=images[1:], duration=1000.0 / fps, loop=loop,
            optimize=False, disposal=1,
        )
    return path


def frame_strip(frames, num: int = 8, columns: int | None = None, gap: int = 2,
                gap_color: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """Pick ``num`` evenly spaced frames (first and last included) and tile them into one image.

    Returns uint8 (rows·H + gaps, columns·W + gaps, 3); ``columns=None`` puts every frame in one row.
    """
    frames = check_frames(frames)
    if num < 1:
        raise InputError(f"num must be >= 1, got {num}")
    count = min(num, frames.shape[0])
    idx = np.unique(np.round(np.linspace(0, frames.shape[0] - 1, count)).astype(int))
    picked = frames[idx]
    cols = len(idx) if columns is None else max(1, min(int(columns), len(idx)))
    rows = -(-len(idx) // cols)
    _, h, w, _ = picked.shape
    out = np.empty((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, 3), dtype=np.uint8)
    out[:] = np.asarray(gap_color, dtype=np.uint8)
    for k, frame in enumerate(picked):
        r, c = divmod(k, cols)
        out[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = frame
    return out


def save_png(image, path: str | os.PathLike) -> Path:
    """Write one uint8 (H, W, 3) image as PNG."""
    from PIL import Image

    image = check_frames(np.asarray(image)[None], name="image")[0]
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")
    return path


def save_png_strip(frames, path: str | os.PathLike, num: int = 8, columns: int | None = None) -> Path:
    """Write ``num`` evenly spaced frames side by side (or in ``columns`` per row) as one PNG."""
    return save_png(frame_strip(frames, num=num, columns=columns), path)


def mp4_backend() -> str | None:
    """The MP4 encoder that :func:`save_mp4` would use: 'imageio-ffmpeg', 'pyav', 'ffmpeg' or None."""
    if importlib.util.find_spec("imageio_ffmpeg") is not None:
        return "imageio-ffmpeg"
    if importlib.util.find_spec("av") is not None:
        return "pyav"
    if shutil.which("ffmpeg") is not None:
        return "ffmpeg"
    return None


def _even_pad(frames: np.ndarray) -> np.ndarray:
    """H.264 with yuv420p needs even width and height: pad by repeating the last row/column."""
    _, h, w, _ = frames.shape
    if h % 2 == 0 and w % 2 == 0:
        return frames
    return np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def save_mp4(frames, path: str | os.PathLike, fps: float = 20.0, crf: int = 18) -> Path:
    """Write an H.264 MP4 with the first available encoder (see the module docstring).

    Odd frame sizes are padded by one pixel (yuv420p needs even sizes). Raises
    :class:`~unimotion.errors.UnimotionError` when no encoder is installed.
    """
    frames = _even_pad(check_frames(frames))
    fps = _check_fps(fps)
    backend = mp4_backend()
    if backend is None:
        raise UnimotionError(MP4_INSTALL_HINT)
    path = Path(path)
    _, h, w, _ = frames.shape
    with atomic_path(path) as tmp:
        if backend == "imageio-ffmpeg":
            import imageio_ffmpeg

            writer = imageio_ffmpeg.write_frames(
                str(tmp), (w, h), fps=fps, codec="libx264", pix_fmt_out="yuv420p", quality=None,
                output_params=["-crf", str(crf)], macro_block_size=1,
            )
            writer.send(None)
            for frame in frames:
                writer.send(frame)
            writer.close()
        elif backend == "pyav":
            import av

            with av.open(str(tmp), mode="w", format="mp4") as container:
                stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
                stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
                stream.options = {"crf": str(crf)}
                for frame in frames:
                    for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                        container.mux(packet)
                for packet in stream.encode():
                    container.mux(packet)
        else:
            _ffmpeg_pipe(frames, tmp, fps, crf)
    return path


def _ffmpeg_pipe(frames: np.ndarray, out: Path, fps: float, crf: int) -> None:
    """Pipe raw RGB frames into a system ``ffmpeg`` executable."""
    _, h, w, _ = frames.shape
    cmd = [
        shutil.which("ffmpeg") or "ffmpeg", "-y", "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", f"{fps:g}", "-i", "-",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", str(crf), "-f", "mp4", str(out),
    ]
    proc = subprocess.run(cmd, input=frames.tobytes(), capture_output=True, check=False)
    if proc.returncode != 0:
        raise UnimotionError(
            f"ffmpeg failed (exit {proc.returncode}) writing {out}: {proc.stderr.decode(errors='replace').strip()}"
        )


def save_video(frames, path: str | os.PathLike, fps: float = 20.0) -> Path:
    """Write by suffix: ``.gif``, ``.mp4``, ``.png`` (a strip), or a folder (no suffix: numbered PNGs)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".gif":
        return save_gif(frames, path, fps)
    if suffix == ".mp4":
        return save_mp4(frames, path, fps)
    if suffix == ".png":
        return save_png_strip(frames, path)
    if suffix == "":
        return write_frames(frames, path)
    raise InputError(f"unsupported video output {path.name!r}: use .gif, .mp4, .png or a folder")


def write_frames(frames, directory: str | os.PathLike, pattern: str = "{:05d}.png") -> Path:
    """Write every frame as its own image file (``pattern`` formatted with the 0-based frame index)."""
    from PIL import Image

    frames = check_frames(frames)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        with atomic_path(directory / pattern.format(i)) as tmp:
            Image.fromarray(frame).save(tmp)
    return directory


# ------------------------------------------------------------------------------------------ readers
class VideoLimitError(InputError, LimitError):
    """An image or video exceeds a limit of :mod:`unimotion.limits` (pixels, frames, total pixels)."""


def _pil_errors() -> tuple[type[BaseException], ...]:
    """What Pillow's decoders raise on corrupt, truncated or hostile files."""
    from PIL import Image

    return (OSError, EOFError, SyntaxError, ValueError, TypeError, struct.error, IndexError, KeyError,
            ZeroDivisionError, OverflowError, Image.DecompressionBombError)


def _image_error(path: Path, exc: BaseException, what: str) -> Exception:
    from PIL import Image

    if isinstance(exc, Image.DecompressionBombError):
        return limits.exceeded("IMAGE_MAX_PIXELS", f"{what} {path} declares a decompression bomb ({exc})",
                               error=VideoLimitError)
    if isinstance(exc, FileAccessError | LimitError | InputError):
        return exc  # type: ignore[return-value]
    reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
    if type(exc).__name__ == "UnidentifiedImageError":
        reason = "not an image Pillow can identify"
    return InputError(f"{what} {path} cannot be read: {reason}")


@contextlib.contextmanager
def _reading_image(path: Path, what: str) -> Iterator[None]:
    """Map Pillow's (and the OS's) failures while decoding ``path`` onto the library's errors."""
    try:
        yield
    except (FileAccessError, LimitError, InputError):
        raise
    except OSError as exc:
        if exc.errno is not None and type(exc).__name__ != "UnidentifiedImageError":  # the file system's failure
            raise FileAccessError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
        raise _image_error(path, exc, what) from None
    except _pil_errors() as exc:
        raise _image_error(path, exc, what) from None


def _check_image_size(size: tuple[int, int], path: Path, what: str) -> None:
    w, h = int(size[0]), int(size[1])
    if w < 1 or h < 1:
        raise InputError(f"{what} {path} has no pixels ({w}×{h})")
    limits.check("IMAGE_MAX_PIXELS", w * h, f"{what} {path} is {w}×{h}", error=VideoLimitError)


def open_image(path: str | os.PathLike, what: str = "image"):
    """Open an image with Pillow (lazily: only the header is read) after checking that it exists, and
    check its pixel count against ``IMAGE_MAX_PIXELS``; failures raise the library's errors."""
    from PIL import Image

    path = Path(path)
    _check_input_file(path, what)
    bound = int(limits.get("IMAGE_MAX_PIXELS"))
    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < bound:
        Image.MAX_IMAGE_PIXELS = bound  # Pillow's own bomb check must not be stricter than ours
    with _reading_image(path, what), warnings.catch_warnings():
        # Pillow warns between its two bomb thresholds; IMAGE_MAX_PIXELS below decides instead
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        im = Image.open(path)
    try:
        _check_image_size(im.size, path, what)
    except Exception:
        im.close()
        raise
    return im


def read_image(path: str | os.PathLike, what: str = "image") -> np.ndarray:
    """One image as uint8 (H, W, 3) RGB (the first frame of an animation)."""
    path = Path(path)
    im = open_image(path, what)
    with im, _reading_image(path, what):
        return np.asarray(im.convert("RGB"))


def _check_input_file(path: Path, what: str) -> None:
    if not path.exists():
        raise MissingFileError(f"{what} not found: {path}")
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder, not a file")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise FileAccessError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if size == 0:
        raise InputError(f"{what} {path} is an empty file (0 bytes)")


class _FrameBudget:
    """Counts frames and pixels of a video being decoded against VIDEO_MAX_FRAMES / VIDEO_MAX_PIXELS."""

    def __init__(self, path: Path):
        self.path = path
        self.frames = 0
        self.pixels = 0

    def add(self, height: int, width: int, count: int = 1) -> None:
        self.frames += count
        self.pixels += count * int(height) * int(width)
        limits.check("VIDEO_MAX_FRAMES", self.frames, f"video {self.path} has more frames", error=VideoLimitError)
        limits.check("VIDEO_MAX_PIXELS", self.pixels, f"video {self.path} has more pixels (frames × height × width)",
                     error=VideoLimitError)


_GIF_BLOCK_RE = re.compile(rb"[!,;]")  # extension, image descriptor, trailer


def gif_layout(data: bytes) -> tuple[int, int, int]:
    """(canvas width, canvas height, number of frames) of GIF bytes from its block structure alone — no
    decompression, linear in the file size. The canvas covers the logical screen and every frame's extent;
    unknown bytes between blocks are skipped as Pillow skips them; a truncated file counts the frames seen."""
    if len(data) < 13 or data[:3] != b"GIF":
        return 0, 0, 0
    width, height = struct.unpack("<HH", data[6:10])
    packed = data[10]
    pos = 13 + (3 * 2 ** ((packed & 7) + 1) if packed & 0x80 else 0)
    frames = 0

    def skip_sub_blocks(p: int) -> int:
        while p < len(data):
            size = data[p]
            p += 1 + size
            if size == 0:
                break
        return p

    while pos < len(data):
        kind = data[pos]
        if kind == 0x21 and pos + 1 < len(data):  # extension: label, then data sub-blocks
            pos = skip_sub_blocks(pos + 2)
        elif kind == 0x2C and pos + 10 <= len(data):  # image descriptor
            x, y, w, h = struct.unpack("<HHHH", data[pos + 1: pos + 9])
            width, height = max(width, x + w), max(height, y + h)
            flags = data[pos + 9]
            pos += 10 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0) + 1  # + LZW minimum code size
            pos = skip_sub_blocks(pos)
            frames += 1
        elif kind == 0x3B:  # trailer
            break
        else:  # Pillow skips bytes it does not recognise and reads on: jump to the next block introducer
            found = _GIF_BLOCK_RE.search(data, pos + 1)
            if found is None:
                break
            pos = found.start()
    return width, height, frames


def read_gif(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Frames (T, H, W, 3) uint8 and per-frame durations in ms (T,) of a GIF, as stored.

    Before anything is decoded, the canvas size and frame count read from the file's block structure
    (:func:`gif_layout`) are checked against ``IMAGE_MAX_PIXELS``, ``VIDEO_MAX_FRAMES`` and ``GIF_MAX_PIXELS``
    (frames × canvas: decoding time grows with it); the decoded frames are counted again while decoding.
    Corrupt files raise :class:`InputError`.
    """
    path = Path(path)
    frames, durations = _decode_gif(_open_gif(path), path)
    return np.stack(frames), np.asarray(durations)


def _open_gif(path: Path):
    """Open a GIF after checking its layout (canvas, frames, frames × canvas) from the raw bytes."""
    im = open_image(path, "GIF")
    try:
        with open(path, "rb") as f:
            data = f.read(int(limits.get("GIF_MAX_BYTES")) + 1)
        limits.check("GIF_MAX_BYTES", len(data), f"GIF {path} is larger", error=VideoLimitError)
        width, height, count = gif_layout(data)
        _check_image_size((max(width, 1), max(height, 1)), path, "GIF")
        limits.check("VIDEO_MAX_FRAMES", count, f"GIF {path} holds more frames", error=VideoLimitError)
        limits.check("GIF_MAX_PIXELS", count * width * height,
                     f"GIF {path} holds {count} frames of {width}×{height} (frames × canvas)", error=VideoLimitError)
    except Exception:
        im.close()
        raise
    return im


def _decode_gif(im, path: Path) -> tuple[list[np.ndarray], list[float]]:
    """Decode the frames of an opened GIF: [(H, W, 3) uint8], [duration ms]; frames × canvas is counted
    against GIF_MAX_PIXELS (and the frame count against VIDEO_MAX_FRAMES) before each frame is converted."""
    from PIL import ImageSequence

    frames: list[np.ndarray] = []
    durations: list[float] = []
    pixels = 0
    with im, _reading_image(path, "GIF"):
        for frame in ImageSequence.Iterator(im):
            w, h = frame.size
            pixels += w * h
            limits.check("VIDEO_MAX_FRAMES", len(frames) + 1, f"GIF {path} has more frames", error=VideoLimitError)
            limits.check("GIF_MAX_PIXELS", pixels, f"GIF {path} decodes to more pixels (frames × canvas)",
                         error=VideoLimitError)
            frames.append(np.asarray(frame.convert("RGB")))
            duration = frame.info.get("duration", 0) or 0
            durations.append(float(duration) if isinstance(duration, (int, float)) else 0.0)
    shapes = {f.shape for f in frames}
    if len(shapes) != 1:
        raise InputError(f"GIF {path}: frames differ in size {sorted(shapes)}")
    return frames, durations


def _expand_gif(frames: list[np.ndarray], durations: list[float], fps: float | None, path: Path) -> np.ndarray:
    """Repeat merged GIF frames back to the base frame rate (see :func:`read_video`), within the limits:
    the expanded size is checked first, then written into one array (no intermediate stack)."""
    delays = np.asarray(durations, dtype=np.float64)
    if (delays > 0).all() and (fps is not None or len(frames) > 1):
        base = 1000.0 / _check_fps(fps) if fps is not None else float(delays.min())
        repeats = np.maximum(1, np.round(np.minimum(delays / base, 1e12))).astype(np.int64)
        rate = f" (frame delays at {1000.0 / base:g} fps)"
    else:
        repeats, rate = np.ones(len(frames), dtype=np.int64), ""
    total = int(repeats.sum())
    h, w, _ = frames[0].shape
    limits.check("VIDEO_MAX_FRAMES", total, f"GIF {path} expands{rate} to more frames", error=VideoLimitError)
    limits.check("VIDEO_MAX_PIXELS", total * h * w, f"GIF {path} expands{rate} to more pixels", error=VideoLimitError)
    out = np.empty((total, h, w, 3), dtype=np.uint8)
    pos = 0
    for frame, r in zip(frames, repeats.tolist(), strict=True):
        out[pos: pos + r] = frame
        pos += r
    return out


def read_video(path: str | os.PathLike, fps: float | None = None) -> np.ndarray:
    """Read a video into uint8 (T, H, W, 3).

    Supported: ``.gif`` (frames the writer merged are expanded back: to ``fps`` when given, else to the
    shortest frame duration in the file — which cannot recover repeats when *every* frame was merged),
    ``.npy`` (a stored uint8 array), a folder of images (sorted by name), a single image (T = 1), and
    ``.mp4``/``.mov``/``.avi``/``.webm``/``.mkv`` when imageio-ffmpeg or PyAV is installed.

    Every reader checks sizes against :mod:`unimotion.limits` (``IMAGE_MAX_PIXELS``, ``VIDEO_MAX_FRAMES``
    after expansion, ``VIDEO_MAX_PIXELS``, ``NPY_MAX_BYTES``) before it allocates, and every failure —
    missing, empty, truncated or corrupt files, files that are not images — is a library error
    (:class:`~unimotion.errors.MissingFileError`, :class:`InputError`, :class:`VideoLimitError`).
    """
    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"video not found: {path}")
    if path.is_dir():
        return _read_folder(path)
    suffix = path.suffix.lower()
    if suffix == ".gif":
        im = _open_gif(path)
        frames, durations = _decode_gif(im, path)
        return _expand_gif(frames, durations, fps, path)
    if suffix == ".npy":
        from ..utils.io import load_npy

        _check_input_file(path, "video")
        mapped = load_npy(path, what="video", mmap=True)  # header checked; nothing copied yet
        if mapped.ndim in (3, 4) and mapped.dtype == np.uint8:
            t, h, w = mapped.shape[:3]
            _check_image_size((w, h), path, "video")
            _FrameBudget(path).add(h, w, t)
        return check_frames(np.array(mapped), name=str(path))
    if suffix in IMAGE_SUFFIXES:
        return read_image(path)[None]
    if suffix in (".mp4", ".mov", ".avi", ".webm", ".mkv"):
        _check_input_file(path, "video")
        return _read_with_decoder(path)
    raise InputError(f"unsupported video file {path.name!r}: use .gif, .npy, an image "
                     f"({', '.join(IMAGE_SUFFIXES)}), a folder of images or .mp4/.mov/.avi/.webm/.mkv")


def _read_folder(path: Path) -> np.ndarray:
    try:
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    except OSError as exc:
        raise FileAccessError(f"cannot list the folder {path}: {exc.strerror or exc}") from None
    if not files:
        raise InputError(f"folder {path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    limits.check("VIDEO_MAX_FRAMES", len(files), f"folder {path} holds more images", error=VideoLimitError)
    budget = _FrameBudget(path)
    out: np.ndarray | None = None
    for i, f in enumerate(files):
        im = open_image(f, "frame")
        w, h = im.size
        if out is not None and out.shape[1:3] != (h, w):
            im.close()
            raise InputError(f"images in {path} differ in size: {f.name} is {w}×{h}, the first is "
                             f"{out.shape[2]}×{out.shape[1]}")
        budget.add(h, w)
        if out is None:  # every frame has the first one's size: allocate the whole video once
            limits.check("VIDEO_MAX_PIXELS", len(files) * h * w, f"folder {path} holds more pixels",
                         error=VideoLimitError)
            out = np.empty((len(files), h, w, 3), dtype=np.uint8)
        with im, _reading_image(f, "frame"):
            out[i] = np.asarray(im.convert("RGB"))
    assert out is not None
    return out


def _read_with_decoder(path: Path) -> np.ndarray:
    budget = _FrameBudget(path)
    if importlib.util.find_spec("imageio_ffmpeg") is not None:
        import imageio_ffmpeg

        try:
            reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
            meta = reader.__next__()
            w, h = meta["size"]
            _check_image_size((w, h), path, "video")
            frames = []
            for buf in reader:
                budget.add(h, w)
                frames.append(np.frombuffer(buf, dtype=np.uint8).reshape(h, w, 3))
        except (InputError, FileAccessError):
            raise
        except (OSError, RuntimeError, ValueError, KeyError, StopIteration) as exc:
            raise InputError(f"video {path} cannot be decoded: {str(exc).splitlines()[0][:160] if str(exc) else exc!r}") from None
        if not frames:
            raise InputError(f"video {path} holds no frames")
        return np.stack(frames)
    if importlib.util.find_spec("av") is not None:
        import av

        try:
            with av.open(str(path)) as container:
                frames = []
                for f in container.decode(video=0):
                    _check_image_size((f.width, f.height), path, "video")
                    budget.add(f.height, f.width)
                    frames.append(f.to_ndarray(format="rgb24"))
        except (InputError, FileAccessError):
            raise
        except Exception as exc:  # PyAV's errors (av.error.*) derive from OSError / ValueError / its own base
            raise InputError(f"video {path} cannot be decoded: {str(exc).splitlines()[0][:160] if str(exc) else exc!r}") from None
        if not frames:
            raise InputError(f"video {path} holds no frames")
        return np.stack(frames)
    raise UnimotionError(
        f"cannot decode {path.name}: no video decoder is installed (`pip install imageio-ffmpeg` or `pip install av`)"
    )
