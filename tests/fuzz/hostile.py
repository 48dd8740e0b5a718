"""Hand-made hostile inputs for every reader, generated (never downloaded), and the readers they go through.

Each :class:`Case` names one attack or accident from the robustness campaign of issue 22 (deep BVH
nesting, absurd frame times, decompression bombs, truncated arrays, pickles, checkpoints whose config
disagrees with their weights, ...) and writes its file(s) deterministically. ``tests/fuzz/corpus/`` holds
the files as committed (regenerate with ``python tests/fuzz/hostile.py --write``); the tests check that the
committed corpus equals what this module generates, and that every case gives a library error (or, for
``expect="ok"``, a finite result) quickly. ``benchmarks/fuzz.py`` runs them in its campaign too.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
REPO = HERE.parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "bvh"


@dataclass(frozen=True)
class Case:
    name: str  # file or folder name in the corpus
    reader: str  # key of READERS
    build: Callable[[Path], None]  # writes the input at the given path
    expect: str = "error"  # "error": a UnimotionError; "ok": a finite result
    limit: str | None = None  # the unimotion.limits name the error must carry, if any


# ------------------------------------------------------------------------------------------ BVH
def _bvh_text(joints: list[str], frames: list[str], frame_time: str = "0.033333", offsets: str = "0 1 0",
              header_frames: str | None = None) -> str:
    """A chain ROOT j0 → j1 → ... with 3 rotation channels each (root also 3 positions)."""
    lines = ["HIERARCHY"]
    for i, name in enumerate(joints):
        lines += [f"{'ROOT' if i == 0 else 'JOINT'} {name}", "{", f"OFFSET {offsets}",
                  "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation" if i == 0
                  else "CHANNELS 3 Zrotation Xrotation Yrotation"]
    lines += ["End Site", "{", "OFFSET 0 1 0", "}"] + ["}"] * len(joints)
    lines += ["MOTION", f"Frames: {header_frames if header_frames is not None else len(frames)}",
              f"Frame Time: {frame_time}"] + frames
    return "\n".join(lines) + "\n"


def _zeros_frame(num_joints: int, first: str = "0 90 0") -> str:
    return " ".join([first] + ["0 0 0"] * num_joints)


def _write(path: Path, data: bytes | str) -> None:
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


def _fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def _replace_frame_time(text: str, value: str) -> str:
    lines = text.split("\n")
    i = next(k for k, line in enumerate(lines) if line.strip().lower().startswith("frame time"))
    lines[i] = f"Frame Time: {value}"
    return "\n".join(lines)


def _bvh_deep(path: Path) -> None:
    n = 300
    _write(path, _bvh_text([f"j{i}" for i in range(n)], [_zeros_frame(n)] * 2))


def _bvh_many_joints(path: Path) -> None:
    lines = ["HIERARCHY", "ROOT r {", "OFFSET 0 0 0", "CHANNELS 0"]
    lines += [f"JOINT j{i} {{ OFFSET 0 0 0 }}" for i in range(1100)]
    lines += ["}", "MOTION", "Frames: 1", "Frame Time: 0.1", ""]
    _write(path, "\n".join(lines))


def _bvh_frame_time(value: str) -> Callable[[Path], None]:
    return lambda path: _write(path, _replace_frame_time(_fixture("cmu_style.bvh"), value))


def _bvh_two_frames_long(path: Path) -> None:
    text = _fixture("bandai_style.bvh")
    head, body = text.split("MOTION", 1)
    rows = [line for line in body.strip().split("\n")[2:] if line.strip()][:2]
    _write(path, head + "MOTION\nFrames: 2\nFrame Time: 1000\n" + "\n".join(rows) + "\n")


def _bvh_declared_frames(path: Path) -> None:
    _write(path, _bvh_text(["Hips"], [_zeros_frame(0)] * 2, header_frames="999999999"))


def _bvh_long_duration(path: Path) -> None:
    _write(path, _bvh_text(["Hips"], [_zeros_frame(0)] * 2, frame_time="9.5", header_frames="2000"))


def _bvh_offset(value: str) -> Callable[[Path], None]:
    return lambda path: _write(path, _bvh_text(["Hips", "Spine"], [_zeros_frame(2)] * 2, offsets=f"{value} 0 0"))


def _bvh_position(value: str) -> Callable[[Path], None]:
    return lambda path: _write(path, _bvh_text(["Hips", "Spine"], [_zeros_frame(2, first=f"{value} 90 0")] * 2))


def _bvh_angle(path: Path) -> None:
    _write(path, _bvh_text(["Hips", "Spine"], ["0 90 0 1e300 0 0 0 0 0"] * 2))


def _bvh_long_token(path: Path) -> None:
    _write(path, "HIERARCHY\nROOT " + "A" * 2_000 + "\n{\nOFFSET 0 0 0\n}\nMOTION\nFrames: 0\nFrame Time: 0.1\n")


def _bvh_many_channels(path: Path) -> None:
    _write(path, "HIERARCHY\nROOT a\n{\nOFFSET 0 0 0\nCHANNELS 999999999999 Xrotation\n}\nMOTION\nFrames: 0\n"
                 "Frame Time: 0.1\n")


def _bvh_binary(path: Path) -> None:
    _write(path, bytes(np.random.default_rng(22).integers(0, 256, 4096, dtype=np.uint8)))


def _bvh_utf16(path: Path) -> None:
    _write(path, _fixture("simple.bvh").encode("utf-16"))


def _bvh_nul(path: Path) -> None:
    _write(path, _fixture("simple.bvh").replace("OFFSET", "OFF\x00SET", 1))


def _bvh_values_count_mismatch(path: Path) -> None:
    _write(path, _bvh_text(["Hips"], ["0 0 0 0 0 0 " * 50] * 3))


# ------------------------------------------------------------------------------------------ .npy / .npz
def _npy_bytes(header: dict, data: bytes = b"") -> bytes:
    """A .npy (format 1.0) with the given header dict written verbatim."""
    text = repr(header)
    pad = 64 - (10 + len(text) + 1) % 64
    text = text + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin-1") + data


def _npy_array(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _npy_pickle(path: Path) -> None:
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}, [2, 3]], dtype=object), allow_pickle=True)  # a harmless pickle
    _write(path, buf.getvalue())


def _npy_from(arr_fn: Callable[[], np.ndarray]) -> Callable[[Path], None]:
    return lambda path: _write(path, _npy_array(arr_fn()))


def _walk(t: int = 30) -> np.ndarray:
    """A plausible (T, 22, 3) motion: the T2M rest pose walking forward."""
    from unimotion.motion.skeletons import T2M22  # noqa: F401 - the layout the joints follow

    rest = np.zeros((22, 3))
    rest[:, 1] = np.linspace(0.05, 1.7, 22)
    rest[:, 0] = np.sin(np.arange(22)) * 0.2
    out = np.repeat(rest[None], t, axis=0)
    out[:, :, 2] += np.arange(t)[:, None] * 0.05
    return out.astype(np.float32)


def _nan_walk() -> np.ndarray:
    x = _walk()
    x[5, 3, 1] = np.nan
    return x


def _far_walk() -> np.ndarray:
    x = _walk()
    x[7, 0, 0] = 1e30
    return x


def _npz_bytes(members: dict[str, bytes], compress: bool = True) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
            zf.writestr(info, data)
    return buf.getvalue()


def _npz_member_huge(path: Path) -> None:
    _write(path, _npz_bytes({"joints": _npy_bytes({"descr": "<f8", "fortran_order": False, "shape": (10**9, 22, 3)})}))


def _npz_member_truncated(path: Path) -> None:
    _write(path, _npz_bytes({"joints": _npy_array(_walk())[:-100]}))


def _npz_many_members(path: Path) -> None:
    small = _npy_array(np.zeros(1, np.float32))
    _write(path, _npz_bytes({f"m{i}": small for i in range(300)}, compress=False))


def _npz_bomb(path: Path) -> None:
    """A member whose header declares 2 GB of float64 zeros, stored as a short deflate stream."""
    header = _npy_bytes({"descr": "<f8", "fortran_order": False, "shape": (250_000_000,)})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo("features.npy", date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, header + b"\x00" * 200_000)  # only the start of the data: the header is what matters
    _write(path, buf.getvalue())


# ------------------------------------------------------------------------------------------ images / video
def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_bomb(path: Path) -> None:
    """A PNG header declaring 100,000 × 100,000 pixels with almost no data."""
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    _write(path, b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
           + _png_chunk(b"IEND", b""))


def _png(size: tuple[int, int], truncate: int | None = None) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        from PIL import Image

        rng = np.random.default_rng(size[0] * 7 + size[1])
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(buf, format="PNG")
        data = buf.getvalue()
        _write(path, data if truncate is None else data[:truncate])

    return build


def _gif(frames: int, size: tuple[int, int], durations: list[int], truncate: int | None = None) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        from PIL import Image

        ims = [Image.new("P", size, color=i % 2) for i in range(frames)]
        for im in ims:
            im.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
        buf = io.BytesIO()
        ims[0].save(buf, format="GIF", save_all=True, append_images=ims[1:], duration=durations, loop=0,
                    optimize=False, disposal=1)
        data = buf.getvalue()
        _write(path, data if truncate is None else data[:truncate])

    return build


def _gif_huge_canvas(path: Path) -> None:
    """A GIF whose logical screen is 65,535 × 65,535 (a 1×1 image inside)."""
    _gif(1, (1, 1), [100])(path)
    data = bytearray(path.read_bytes())
    data[6:10] = struct.pack("<HH", 65535, 65535)
    for k in range(len(data) - 10):  # the image descriptor's size too
        if data[k] == 0x2C and data[k + 5: k + 9] == struct.pack("<HH", 1, 1):
            data[k + 5: k + 9] = struct.pack("<HH", 65535, 65535)
            break
    _write(path, bytes(data))


def _text(content: str) -> Callable[[Path], None]:
    return lambda path: _write(path, content)


def _video_folder_mixed(path: Path) -> None:
    path.mkdir()
    _png((16, 16))(path / "0001.png")
    _png((20, 16))(path / "0002.png")


def _video_npy_float(path: Path) -> None:
    _write(path, _npy_array(np.full((2, 8, 8, 3), 0.5, np.float32)))


# ------------------------------------------------------------------------------------------ checkpoints
def tiny_checkpoint(path: Path) -> None:
    """A small valid KeypointNet checkpoint (deterministic weights)."""
    import torch

    from unimotion.models.evaluators.keypoints import KeypointNet, KeypointNetConfig

    torch.manual_seed(0)
    model = KeypointNet(KeypointNetConfig(feature_dim=4, stem_channels=4, mid_channels=4, low_channels=4,
                                          blocks_high=1, blocks_mid=1, blocks_low=1))
    model.notice = "generated for the robustness tests"
    model.save_pretrained(path)


def _ckpt_config(changes: dict) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        tiny_checkpoint(path)
        cfg = json.loads((path / "config.json").read_text())
        cfg.update(changes)
        (path / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")

    return build


def _ckpt_nan(path: Path) -> None:
    from safetensors.torch import load_file, save_file

    tiny_checkpoint(path)
    tensors = load_file(str(path / "model.safetensors"))
    key = sorted(k for k, v in tensors.items() if v.is_floating_point())[0]
    tensors[key][0] = float("nan")
    save_file(tensors, str(path / "model.safetensors"), metadata={"format": "pt"})


def _ckpt_weights_bytes(edit: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        tiny_checkpoint(path)
        w = path / "model.safetensors"
        w.write_bytes(edit(w.read_bytes()))

    return build


def _header_len_huge(data: bytes) -> bytes:
    return struct.pack("<Q", 2**62) + data[8:]


def _header_garbage(data: bytes) -> bytes:
    n = struct.unpack("<Q", data[:8])[0]
    return data[:8] + b"{" + b"\xff" * (n - 1) + data[8 + n:]


def _header_offsets(data: bytes) -> bytes:
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8: 8 + n])
    key = sorted(k for k in header if k != "__metadata__")[0]
    header[key]["data_offsets"] = [0, 10**12]
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data[8 + n:]


def _ckpt_notice_binary(path: Path) -> None:
    tiny_checkpoint(path)
    (path / "NOTICE").write_bytes(b"\xff\xfe\x00licence\x80\x81")


# ------------------------------------------------------------------------------------------ the cases
CASES: list[Case] = [
    # BVH (read_bvh + retarget_to_t2m)
    Case("bvh_deep_nesting.bvh", "bvh", _bvh_deep, limit="BVH_MAX_DEPTH"),
    Case("bvh_many_joints.bvh", "bvh", _bvh_many_joints, limit="BVH_MAX_JOINTS"),
    Case("bvh_frame_time_1000_two_frames.bvh", "bvh", _bvh_two_frames_long, limit="BVH_MAX_FRAME_TIME"),
    Case("bvh_frame_time_1e6.bvh", "bvh", _bvh_frame_time("1e6"), limit="BVH_MAX_FRAME_TIME"),
    Case("bvh_frame_time_1e-300.bvh", "bvh", _bvh_frame_time("1e-300"), limit="BVH_MIN_FRAME_TIME"),
    Case("bvh_frame_time_denormal.bvh", "bvh", _bvh_frame_time("4e-320"), limit="BVH_MIN_FRAME_TIME"),
    Case("bvh_frames_declared_999999999.bvh", "bvh", _bvh_declared_frames, limit="BVH_MAX_FRAMES"),
    Case("bvh_duration_5_hours.bvh", "bvh", _bvh_long_duration, limit="BVH_MAX_SECONDS"),
    Case("bvh_offset_-1e308.bvh", "bvh", _bvh_offset("-1e308"), limit="BVH_MAX_COORDINATE"),
    Case("bvh_offset_1e30.bvh", "bvh", _bvh_offset("1e30"), limit="BVH_MAX_COORDINATE"),
    Case("bvh_position_1e30.bvh", "bvh", _bvh_position("1e30"), limit="BVH_MAX_COORDINATE"),
    Case("bvh_angle_1e300.bvh", "bvh", _bvh_angle, limit="BVH_MAX_ANGLE"),
    Case("bvh_joint_name_2000_chars.bvh", "bvh", _bvh_long_token),
    Case("bvh_channels_999999999999.bvh", "bvh", _bvh_many_channels),
    Case("bvh_random_bytes.bvh", "bvh", _bvh_binary),
    Case("bvh_utf16.bvh", "bvh", _bvh_utf16),
    Case("bvh_nul_byte.bvh", "bvh", _bvh_nul),
    Case("bvh_empty.bvh", "bvh", _text("")),
    Case("bvh_extra_values.bvh", "bvh", _bvh_values_count_mismatch),
    Case("bvh_cmu_style_valid.bvh", "bvh", lambda p: _write(p, _fixture("cmu_style.bvh")), expect="ok"),
    # motion files (`unimotion caption/predict/edit` and `unimotion render` inputs)
    Case("npy_object_pickle.npy", "motion", _npy_pickle),
    Case("npy_truncated.npy", "motion", lambda p: _write(p, _npy_array(_walk())[:-37])),
    Case("npy_shape_10^12.npy", "motion", lambda p: _write(p, _npy_bytes({"descr": "<f4", "fortran_order": False,
                                                                          "shape": (10**12, 22, 3)})),
         limit="NPY_MAX_BYTES"),
    Case("npy_negative_shape.npy", "motion", lambda p: _write(p, _npy_bytes({"descr": "<f4", "fortran_order": False,
                                                                              "shape": (-5, 22, 3)}))),
    Case("npy_header_garbage.npy", "motion", lambda p: _write(p, b"\x93NUMPY\x01\x00\x10\x00{'descr': __import__}\n")),
    Case("npy_structured.npy", "motion", _npy_from(lambda: np.zeros(4, dtype=[("a", "<f4"), ("b", "<i4")]))),
    Case("npy_complex.npy", "motion", _npy_from(lambda: np.zeros((4, 22, 3), np.complex64))),
    Case("npy_nine_dims.npy", "motion", _npy_from(lambda: np.zeros((1,) * 9, np.float32)), limit="NPY_MAX_DIMS"),
    Case("npy_nan_joints.npy", "motion", _npy_from(_nan_walk)),
    Case("npy_joints_1e30.npy", "motion", _npy_from(_far_walk), limit="MOTION_MAX_ABS"),
    Case("npy_empty_file.npy", "motion", _text("")),
    Case("npy_valid_walk.npy", "motion", _npy_from(_walk), expect="ok"),
    Case("npz_text_file.npz", "motion", _text("this is not a zip archive\n")),
    Case("npz_member_10^9_frames.npz", "motion", _npz_member_huge, limit="NPY_MAX_BYTES"),
    Case("npz_member_truncated.npz", "motion", _npz_member_truncated),
    Case("npz_300_members.npz", "render", _npz_many_members),
    Case("npz_bomb_2GB.npz", "render", _npz_bomb, limit="NPY_MAX_BYTES"),
    Case("render_npy_joints_1e30.npy", "render", _npy_from(_far_walk), limit="MOTION_MAX_ABS"),
    # images and videos (`unimotion capture` / `animate` inputs)
    Case("text_named.gif", "video", _text("GIF89a? no, just text\n")),
    Case("zero_bytes.gif", "video", _text("")),
    Case("zero_bytes.png", "video", _text("")),
    Case("text_named.png", "video", _text("hello\n")),
    Case("png_bomb_100000x100000.png", "video", _png_bomb, limit="IMAGE_MAX_PIXELS"),
    Case("png_truncated.png", "video", _png((32, 32), truncate=120)),
    Case("gif_truncated.gif", "video", _gif(3, (16, 16), [50, 50, 50], truncate=40)),
    Case("gif_long_durations.gif", "video", _gif(2, (8, 8), [10, 655350]), limit="VIDEO_MAX_FRAMES"),
    Case("gif_canvas_65535.gif", "video", _gif_huge_canvas, limit="IMAGE_MAX_PIXELS"),
    Case("video_npy_float.npy", "video", _video_npy_float),
    Case("video_folder_mixed_sizes", "video", _video_folder_mixed),
    Case("one_pixel.png", "capture", _png((1, 1))),
    Case("gif_valid.gif", "video", _gif(3, (16, 16), [50, 50, 100]), expect="ok"),
    # checkpoints (untrusted folders)
    Case("ckpt_config_huge_channels", "checkpoint", _ckpt_config({"stem_channels": 60000, "mid_channels": 60000,
                                                                  "low_channels": 60000, "feature_dim": 60000})),
    Case("ckpt_config_many_blocks", "checkpoint", _ckpt_config({"blocks_low": 10_000_000})),
    Case("ckpt_config_wrong_type", "checkpoint", _ckpt_config({"stem_channels": "many"})),
    Case("ckpt_config_unknown_type", "checkpoint", _ckpt_config({"_model_type": "evil"})),
    Case("ckpt_nan_weights", "checkpoint", _ckpt_nan),
    Case("ckpt_header_length_2^62", "checkpoint", _ckpt_weights_bytes(_header_len_huge),
         limit="SAFETENSORS_MAX_HEADER_BYTES"),
    Case("ckpt_header_not_json", "checkpoint", _ckpt_weights_bytes(_header_garbage)),
    Case("ckpt_header_offsets_beyond_file", "checkpoint", _ckpt_weights_bytes(_header_offsets)),
    Case("ckpt_weights_truncated", "checkpoint", _ckpt_weights_bytes(lambda d: d[: len(d) // 2])),
    Case("ckpt_weights_empty", "checkpoint", _ckpt_weights_bytes(lambda d: b"")),
    Case("ckpt_notice_not_utf8", "checkpoint", _ckpt_notice_binary),
    Case("ckpt_valid", "checkpoint", tiny_checkpoint, expect="ok"),
]
CASES_BY_NAME = {c.name: c for c in CASES}


# ------------------------------------------------------------------------------------------ readers
def _read_bvh(path: Path):
    from unimotion.io.bvh import read_bvh
    from unimotion.io.retarget import retarget_to_t2m

    return retarget_to_t2m(read_bvh(path))


def _read_motion(path: Path):
    from unimotion.cli.generate import read_motion

    return read_motion(path, fps=20.0)[0]


def _read_render(path: Path):
    from unimotion.cli.render import load_motion

    return load_motion(path).joints


def _read_video(path: Path):
    from unimotion.io.video import read_video

    return read_video(path)


def _read_capture(path: Path):
    """read_video, then the checks UniMo applies to capture/animate frames (minimum size)."""
    from unimotion.errors import InputError
    from unimotion.io.video import read_video
    from unimotion.pipelines.unimo import MIN_FRAME_SIDE

    frames = read_video(path)
    if min(frames.shape[1:3]) < MIN_FRAME_SIDE:
        raise InputError(f"frames are {frames.shape[2]}×{frames.shape[1]} pixels; at least {MIN_FRAME_SIDE} needed")
    return frames


def _read_checkpoint(path: Path):
    from unimotion.models.modeling_utils import load_pretrained

    model = load_pretrained(path)
    return np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])


READERS: dict[str, Callable[[Path], object]] = {
    "bvh": _read_bvh, "motion": _read_motion, "render": _read_render, "video": _read_video,
    "capture": _read_capture, "checkpoint": _read_checkpoint,
}


def build_case(case: Case, folder: Path) -> Path:
    path = folder / case.name
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    case.build(path)
    return path


def write_corpus(folder: Path = CORPUS) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        if old.name not in CASES_BY_NAME and old.name != "README.md":
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    return [build_case(c, folder) for c in CASES]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="write the hostile-input corpus")
    parser.add_argument("--write", action="store_true", help=f"(re)generate {CORPUS.relative_to(REPO)}")
    parser.add_argument("--out", default=str(CORPUS), help="folder to write")
    args = parser.parse_args(argv)
    if not args.write:
        parser.print_help()
        return 0
    paths = write_corpus(Path(args.out))
    size = sum(p.stat().st_size if p.is_file() else sum(q.stat().st_size for q in p.rglob("*") if q.is_file())
               for p in paths)
    print(f"wrote {len(paths)} hostile inputs ({size / 1024:.0f} KiB) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "src"))
    sys.exit(main())
