"""Mutation operators for the property-based fuzz tests and ``benchmarks/fuzz.py``.

Every mutator is a pure function of its input and a list of integer/float *choices*, so Hypothesis can drive
the choices (shrinking them) and the campaign can draw them from a seeded NumPy generator; a failure is
reproduced from (seed, case) alone. Three families:

* BVH text (from the fixtures: Bandai-, CMU- and Mixamo-style rigs): line and token edits, extreme numbers
  (±1e308, 1e30, subnormals, NaN, Inf), absurd ``Frames``/``Frame Time``, deeper nesting, many joints, scaled
  offsets and channels, truncation, random characters.
* ``.npy`` / ``.npz`` bytes: rewritten headers (random shapes, dtypes, Fortran order), truncation, junk,
  NaN/Inf/huge data, flipped bytes.
* GIF / PNG bytes: flipped bytes, truncation, forged sizes (GIF screen and frame descriptors, PNG IHDR with
  a valid CRC), forged GIF frame delays, duplicated chunks.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bvh"
BVH_BASES = {name: (FIXTURES / name).read_text() for name in ("bandai_style.bvh", "cmu_style.bvh", "mixamo_style.bvh",
                                                               "simple.bvh")}
EXTREME = ["1e308", "-1e308", "1e30", "-1e30", "1e7", "4e-320", "1e-300", "nan", "inf", "-inf", "0", "-0",
           "999999999999", "1e6", "-1e6", "0.0001", "10", "3.5e-5", "1000", "1e-9"]
TOKENS = ["{", "}", "JOINT", "ROOT", "End Site", "OFFSET", "CHANNELS", "MOTION", "HIERARCHY", "Frames:",
          "Frame Time:", "Xrotation", "Yposition", "6", "7", "0", "-", ".", "e", "\x00", "\t", "\r", "\u2028",
          "é", "9" * 300, "CHANNELS 999999"]
_NUMBER = re.compile(r"-?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?")
_SPLIT = re.compile(r"(\s+)")

BVH_OPS = ("delete_line", "duplicate_line", "swap_lines", "replace_token", "extreme_number", "frame_time", "frames",
           "nest_deeper", "many_joints", "scale_offsets", "scale_values", "insert", "truncate", "extreme_all_values")


def _pick(seq, i: int):
    return seq[i % len(seq)]


def mutate_bvh(text: str, ops: list[tuple[int, int, int, float]]) -> str:
    """Apply ``ops`` = [(op index, i, j, x)] to BVH text (see the module docstring)."""
    for op_i, i, j, x in ops:
        text = _bvh_op(text, _pick(BVH_OPS, op_i), i, j, x)
    return text


def _bvh_op(text: str, op: str, i: int, j: int, x: float) -> str:
    lines = text.split("\n")
    if op == "delete_line" and lines:
        del lines[i % len(lines)]
        return "\n".join(lines)
    if op == "duplicate_line" and lines:
        k = i % len(lines)
        lines[k:k] = [lines[k]] * (1 + j % 3)
        return "\n".join(lines)
    if op == "swap_lines" and lines:
        a, b = i % len(lines), j % len(lines)
        lines[a], lines[b] = lines[b], lines[a]
        return "\n".join(lines)
    if op == "replace_token":
        parts = _SPLIT.split(text)
        words = [k for k, p in enumerate(parts) if p and not p.isspace()]
        if words:
            parts[_pick(words, i)] = _pick(TOKENS, j)
        return "".join(parts)
    if op == "extreme_number":
        nums = list(_NUMBER.finditer(text))
        if nums:
            m = _pick(nums, i)
            return text[: m.start()] + _pick(EXTREME, j) + text[m.end():]
        return text
    if op == "frame_time":
        return re.sub(r"(?im)^(\s*Frame\s+Time\s*:\s*)\S*", lambda m: m.group(1) + _pick(EXTREME, i), text, count=1)
    if op == "frames":
        value = _pick(["0", "1", "2", "100000000", "500001", "999999999", "-1", "1e3", str(i % 10**7)], j)
        return re.sub(r"(?im)^(\s*Frames\s*:\s*)\S*", lambda m: m.group(1) + value, text, count=1)
    if op == "nest_deeper":  # wrap the first JOINT line's block in (i % 400) more joints
        depth = i % 400
        m = re.search(r"(?m)^\s*JOINT[^\n]*\n", text)
        if not m:
            return text
        opening = "".join(f"JOINT deep{k}\n{{\nOFFSET 0 1 0\nCHANNELS 3 Zrotation Xrotation Yrotation\n" for k in range(depth))
        text = text[: m.start()] + opening + text[m.start():]
        # every added joint brings 3 channels and one '}' after the hierarchy's last brace
        head, sep, tail = text.partition("MOTION")
        head = head.rstrip() + "\n" + "}\n" * depth
        rows = tail.split("\n")
        rows = [r + " 0 0 0" * depth if k >= 3 and r.strip() else r for k, r in enumerate(rows)]
        return head + sep + "\n".join(rows)
    if op == "many_joints":  # (i % 3000) extra channel-less leaf joints under the root
        count = i % 3000
        m = re.search(r"(?m)^\s*CHANNELS[^\n]*\n", text)
        if not m:
            return text
        extra = "".join(f"JOINT leaf{k} {{ OFFSET 0 0 0 }}\n" for k in range(count))
        return text[: m.end()] + extra + text[m.end():]
    if op == "scale_offsets":
        factor = _pick([1e3, 1e6, 1e9, 1e-9, -1.0, 1e300], i)

        def scale(m):
            try:
                vals = [float(v) * factor for v in m.group(2).split()]
            except ValueError:  # an earlier mutation broke this line: leave it
                return m.group(0)
            return m.group(1) + " ".join(repr(v) for v in vals)

        return re.sub(r"(?im)^(\s*OFFSET\s+)([^\n]*)$", scale, text)
    if op == "scale_values":
        factor = _pick([1e3, 1e6, 1e9, -1.0, 1e-300, 1e300], i)
        head, sep, tail = text.partition("MOTION")
        rows = tail.split("\n")
        for k in range(3, len(rows)):
            try:
                rows[k] = " ".join(repr(float(v) * factor) for v in rows[k].split())
            except ValueError:
                pass
        return head + sep + "\n".join(rows)
    if op == "extreme_all_values":
        head, sep, tail = text.partition("MOTION")
        rows = tail.split("\n")
        rows = [" ".join(_pick(EXTREME, i + n) for n in range(len(r.split()))) if k >= 3 and r.strip() else r
                for k, r in enumerate(rows)]
        return head + sep + "\n".join(rows)
    if op == "insert":
        k = i % (len(text) + 1)
        return text[:k] + _pick(TOKENS, j) + text[k:]
    if op == "truncate":
        return text[: i % (len(text) + 1)]
    return text


# ------------------------------------------------------------------------------------------ .npy / .npz
NPY_OPS = ("header", "truncate", "junk", "bad_values", "flip", "random")
_DTYPES = ["<f4", "<f8", "<f2", ">f4", "<i8", "|u1", "|b1", "<c8", "|O", "<U3", "|V8", "<M8[s]", "[('a','<f4')]"]


def base_npy(kind: int) -> np.ndarray:
    """A plausible input: joints (T, 22, 3) or features (T, 263 | 269)."""
    rng = np.random.default_rng(kind)
    t = 8 + kind % 20
    if kind % 3 == 0:
        return (rng.normal(0, 0.3, (t, 22, 3)) + [0, 1, 0]).astype(np.float32)
    return rng.normal(0, 0.5, (t, 263 if kind % 3 == 1 else 269)).astype(np.float32)


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _header(descr: str, fortran: bool, shape: tuple) -> bytes:
    shown = descr if descr.startswith("[") else repr(descr)
    text = f"{{'descr': {shown}, 'fortran_order': {fortran}, 'shape': {tuple(shape)!r}, }}"
    text += " " * (64 - (10 + len(text) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin-1")


def mutate_npy(data: bytes, ops: list[tuple[int, int, int, float]]) -> bytes:
    """Apply ``ops`` = [(op index, i, j, x)] to .npy bytes."""
    for op_i, i, j, _x in ops:
        op = _pick(NPY_OPS, op_i)
        if op == "header":
            dims = i % 6
            shape = tuple(_pick([0, 1, 3, 22, 263, 10**6, 10**12, 2**62, -1], (j >> (3 * d)) + d) for d in range(dims))
            body = data[data.find(b"\n", 10) + 1:] if b"\n" in data[10:400] else b""
            data = _header(_pick(_DTYPES, j + i), bool(j % 2), shape) + body
        elif op == "truncate":
            data = data[: i % (len(data) + 1)]
        elif op == "junk":
            data = data + bytes((i * 7 + k) % 256 for k in range(j % 512))
        elif op == "bad_values":
            try:
                arr = np.load(io.BytesIO(data), allow_pickle=False)
                if arr.dtype.kind == "f" and arr.size:
                    arr = arr.copy()
                    arr.reshape(-1)[i % arr.size] = _pick([np.nan, np.inf, -np.inf, 1e30, 1e4, -3e38], j)
                    data = npy_bytes(arr)
            except Exception:  # noqa: BLE001 - an already broken array stays broken
                pass
        elif op == "flip" and data:
            k = i % len(data)
            data = data[:k] + bytes([(data[k] ^ (1 + j % 255)) & 0xFF]) + data[k + 1:]
        elif op == "random":
            rng = np.random.default_rng(i)
            data = rng.integers(0, 256, j % 2048, dtype=np.uint8).tobytes()
    return data


def npz_bytes(members: dict[str, bytes], compress: bool = True) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------ GIF / PNG
IMAGE_OPS = ("flip", "truncate", "gif_screen", "gif_delay", "png_size", "duplicate_chunk", "random", "gif_frames")


def base_image(kind: int) -> tuple[bytes, str]:
    """A small valid GIF (animated) or PNG: (bytes, suffix)."""
    from PIL import Image

    rng = np.random.default_rng(kind)
    w, h = 8 + kind % 24, 8 + (kind // 3) % 24
    buf = io.BytesIO()
    if kind % 2 == 0:
        frames = [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).convert("P") for _ in range(1 + kind % 4)]
        frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=[50] * len(frames), loop=0)
        return buf.getvalue(), ".gif"
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue(), ".png"


def _png_with_ihdr(data: bytes, width: int, height: int) -> bytes:
    if not data.startswith(b"\x89PNG\r\n\x1a\n") or len(data) < 33:
        return data
    ihdr = struct.pack(">II", width, height) + data[24:29]
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return data[:16] + ihdr + crc + data[33:]


def mutate_image(data: bytes, ops: list[tuple[int, int, int, float]]) -> bytes:
    """Apply ``ops`` = [(op index, i, j, x)] to GIF/PNG bytes."""
    sizes = [0, 1, 2, 255, 4096, 8192, 40000, 65535, 2**31 - 1, 2**32 - 1]
    for op_i, i, j, _x in ops:
        op = _pick(IMAGE_OPS, op_i)
        if op == "flip" and data:
            k = i % len(data)
            data = data[:k] + bytes([(data[k] ^ (1 + j % 255)) & 0xFF]) + data[k + 1:]
        elif op == "truncate":
            data = data[: i % (len(data) + 1)]
        elif op == "gif_screen" and data[:3] == b"GIF" and len(data) >= 10:
            data = data[:6] + struct.pack("<HH", _pick(sizes, i) & 0xFFFF, _pick(sizes, j) & 0xFFFF) + data[10:]
        elif op == "gif_delay" and data[:3] == b"GIF":
            k = data.find(b"\x21\xf9\x04", i % max(1, len(data)))
            if k < 0:
                k = data.find(b"\x21\xf9\x04")
            if k >= 0 and k + 6 <= len(data):
                data = data[: k + 4] + struct.pack("<H", _pick([0, 1, 2, 65535, 30000, 10], j)) + data[k + 6:]
        elif op == "gif_frames" and data[:3] == b"GIF":  # repeat the last image block many times
            k = data.rfind(b"\x21\xf9\x04")
            if k > 0 and data.endswith(b";"):
                data = data[:-1] + data[k:-1] * (i % 200) + b";"
        elif op == "png_size":
            data = _png_with_ihdr(data, _pick(sizes, i), _pick(sizes, j))
        elif op == "duplicate_chunk" and len(data) > 40:
            k = 8 + i % (len(data) - 8)
            data = data[:k] + data[8: 8 + j % 200] + data[k:]
        elif op == "random":
            data = np.random.default_rng(i).integers(0, 256, j % 4096, dtype=np.uint8).tobytes()
    return data
