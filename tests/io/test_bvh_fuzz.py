"""Property-based tests of the BVH parser (hypothesis).

1. Mutated valid files (lines/tokens deleted, duplicated, swapped, replaced; truncation; numbers changed;
   random characters inserted) either parse — and then write and re-read identically — or raise
   ``BVHError`` with a sensible line number. Never any other exception.
2. Randomly generated valid files (random trees, channel subsets and orders, whitespace styles, number
   formats) parse to exactly the structure and values they were generated from.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unimotion.errors import BVHError
from unimotion.io.bvh import CHANNEL_NAMES, format_bvh, parse_bvh

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bvh"
BASES = [(FIXTURES / name).read_text() for name in ("simple.bvh", "mixed.bvh", "bandai_style.bvh")]
TOKENS = ["{", "}", "JOINT", "ROOT", "End", "Site", "End Site", "OFFSET", "CHANNELS", "MOTION", "HIERARCHY",
          "Frames:", "Frame", "Time:", "Frame Time:", "Xrotation", "Yposition", "zrotation", "0", "-1", "3", "6",
          "7", "1e999", "-1e-999", "nan", "inf", "-", ".", "e", "1.2.3", "+.5", "x", "", " ", "\t", "\n", "\r",
          "\r\n", "\x0b", "\x00", "\u00e9", "\u2028", "9" * 5000, "1" + "0" * 400]
SETTINGS = settings(max_examples=400, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_SPLIT = re.compile(r"(\s+)")
_NUMBER = re.compile(r"-?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?")


def _mutate(text: str, op: str, i: int, j: int, s: str, x: float) -> str:
    lines = text.split("\n")
    if op == "delete_line":
        del lines[i % len(lines)]
        return "\n".join(lines)
    if op == "duplicate_line":
        k = i % len(lines)
        lines.insert(k, lines[k])
        return "\n".join(lines)
    if op == "swap_lines":
        a, b = i % len(lines), j % len(lines)
        lines[a], lines[b] = lines[b], lines[a]
        return "\n".join(lines)
    if op == "replace_line":
        lines[i % len(lines)] = s
        return "\n".join(lines)
    parts = _SPLIT.split(text)
    words = [k for k, p in enumerate(parts) if p and not p.isspace()]
    if op in ("delete_token", "duplicate_token", "replace_token") and words:
        k = words[i % len(words)]
        parts[k] = {"delete_token": "", "duplicate_token": parts[k] + " " + parts[k], "replace_token": s}[op]
        return "".join(parts)
    if op == "change_number":
        nums = [m for m in _NUMBER.finditer(text)]
        if nums:
            m = nums[i % len(nums)]
            return text[: m.start()] + repr(x) + text[m.end():]
        return text
    if op == "insert":
        k = i % (len(text) + 1)
        return text[:k] + s + text[k:]
    if op == "truncate":
        return text[: i % (len(text) + 1)]
    return text


_OPS = st.sampled_from(["delete_line", "duplicate_line", "swap_lines", "replace_line", "delete_token",
                        "duplicate_token", "replace_token", "change_number", "insert", "truncate"])
_STRINGS = st.one_of(st.sampled_from(TOKENS), st.text(max_size=6))
_FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6).map(float))
_MUTATION = st.tuples(_OPS, st.integers(0, 10**6), st.integers(0, 10**6), _STRINGS, _FLOATS)


def _check(text: str) -> None:
    """Either a valid motion that survives write → read, or a BVHError with a plausible line."""
    try:
        motion = parse_bvh(text)
    except BVHError as err:
        num_lines = text.replace("\r\n", "\n").replace("\r", "\n").count("\n") + 1
        assert err.line is None or 1 <= err.line <= num_lines + 2, (err.line, num_lines)
        assert str(err)
        return
    again = parse_bvh(format_bvh(motion))
    assert again.names == motion.names and again.channels == motion.channels
    np.testing.assert_array_equal(again.values, motion.values)
    np.testing.assert_array_equal(again.offsets, motion.offsets)
    if motion.num_frames <= 10_000:
        with np.errstate(all="ignore"):
            pos = motion.joint_positions()
        assert pos.shape == (motion.num_frames, motion.num_joints, 3)


@SETTINGS
@given(base=st.sampled_from(range(len(BASES))), mutations=st.lists(_MUTATION, min_size=1, max_size=4))
def test_mutated_files_parse_or_raise_bvh_error(base, mutations):
    text = BASES[base]
    for op, i, j, s, x in mutations:
        text = _mutate(text, op, i, j, s, x)
    _check(text)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.text(max_size=300))
def test_arbitrary_text_raises_only_bvh_error(text):
    _check(text)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_after_header_raise_only_bvh_error(data):
    text = BASES[0].split("MOTION")[0] + "MOTION\nFrames: 1\nFrame Time: 0.1\n" + data.decode("latin-1")
    _check(text)


# ------------------------------------------------------------------------------------ valid files
@st.composite
def bvh_spec(draw):
    num_joints = draw(st.integers(1, 8))
    parents = [-1]
    for j in range(1, num_joints):
        parents.append(draw(st.integers(0, j - 1)))
    # depth-first relabelling so that file order == our order
    children = {j: [c for c in range(num_joints) if parents[c] == j] for j in range(num_joints)}
    order, stack = [], [0]
    while stack:
        j = stack.pop()
        order.append(j)
        stack.extend(reversed(children[j]))
    relabel = {old: new for new, old in enumerate(order)}
    parents = [-1] + [relabel[parents[old]] for old in order[1:]]
    channels = []
    for _ in range(num_joints):
        chosen = draw(st.lists(st.sampled_from(CHANNEL_NAMES), unique=True, max_size=6))
        channels.append(tuple(chosen))
    offsets = draw(st.lists(st.tuples(*[st.floats(-1e3, 1e3, allow_nan=False)] * 3),
                            min_size=num_joints, max_size=num_joints))
    end_sites = {j: draw(st.tuples(*[st.floats(-10, 10)] * 3)) for j in range(num_joints)
                 if draw(st.booleans())}
    num_frames = draw(st.integers(0, 5))
    num_channels = sum(len(c) for c in channels)
    values = draw(st.lists(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=num_channels,
                                    max_size=num_channels), min_size=num_frames, max_size=num_frames))
    frame_time = draw(st.floats(1e-4, 10.0))
    style = draw(st.fixed_dictionaries({
        "indent": st.sampled_from(["\t", "  ", " ", ""]),
        "sep": st.sampled_from([" ", "\t", "  ", " \t "]),
        "newline": st.sampled_from(["\n", "\r\n", "\r"]),
        "case": st.sampled_from(["upper", "lower", "canonical"]),
        "fmt": st.sampled_from(["repr", "sci", "fixed"]),
        "brace_on_name_line": st.booleans(),
    }))
    return parents, channels, offsets, end_sites, values, frame_time, style


def _fmt(x: float, how: str) -> str:
    return {"repr": repr(x), "sci": f"{x:.17e}", "fixed": f"{x:.12f}"}[how]


def _render(spec) -> str:
    parents, channels, offsets, end_sites, values, frame_time, style = spec
    ind, sep, fmt = style["indent"], style["sep"], style["fmt"]

    def kw(word: str) -> str:
        return word.lower() if style["case"] == "lower" else word.upper() if style["case"] == "upper" else word

    def chan(c: str) -> str:
        return c.lower() if style["case"] == "lower" else c.upper() if style["case"] == "upper" else c

    lines = [kw("HIERARCHY")]
    children = {j: [c for c in range(len(parents)) if parents[c] == j] for j in range(len(parents))}

    def emit(j: int, depth: int) -> None:
        pad = ind * depth
        head = f"{pad}{kw('ROOT') if j == 0 else kw('JOINT')} joint_{j}"
        if style["brace_on_name_line"]:
            lines.append(head + " {")
        else:
            lines.extend([head, pad + "{"])
        lines.append(pad + ind + kw("OFFSET") + sep + sep.join(_fmt(v, fmt) for v in offsets[j]))
        lines.append(pad + ind + kw("CHANNELS") + sep + str(len(channels[j]))
                     + "".join(sep + chan(c) for c in channels[j]))
        for c in children[j]:
            emit(c, depth + 1)
        if j in end_sites:
            lines.extend([pad + ind + "End Site", pad + ind + "{",
                          pad + ind * 2 + kw("OFFSET") + sep + sep.join(_fmt(v, fmt) for v in end_sites[j]),
                          pad + ind + "}"])
        lines.append(pad + "}")

    emit(0, 0)
    lines += [kw("MOTION"), f"Frames:{sep}{len(values)}", f"Frame Time:{sep}{_fmt(frame_time, fmt)}"]
    lines += [sep.join(_fmt(v, fmt) for v in row) for row in values]
    return style["newline"].join(lines) + style["newline"]


@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(bvh_spec())
def test_generated_valid_files_parse_exactly(spec):
    parents, channels, offsets, end_sites, values, frame_time, style = spec
    motion = parse_bvh(_render(spec))
    assert motion.names == tuple(f"joint_{j}" for j in range(len(parents)))
    assert motion.parents.tolist() == parents
    assert motion.channels == tuple(channels)
    tol = 0 if style["fmt"] == "repr" else 1e-9
    np.testing.assert_allclose(motion.offsets, np.array(offsets, dtype=float).reshape(-1, 3), rtol=tol, atol=tol)
    np.testing.assert_allclose(motion.values, np.array(values, dtype=float).reshape(len(values), sum(map(len, channels))),
                               rtol=tol, atol=tol)
    assert math.isclose(motion.frame_time, frame_time, rel_tol=1e-9)
    assert sorted(motion.end_sites) == sorted(end_sites)
    again = parse_bvh(format_bvh(motion))
    np.testing.assert_array_equal(again.values, motion.values)
    np.testing.assert_array_equal(again.offsets, motion.offsets)
    assert again.frame_time == motion.frame_time
