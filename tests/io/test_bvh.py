"""BVH parser, writer and forward kinematics (unimotion.io.bvh).

Expected values are computed by hand (fixture comments) or with explicit rotation matrices written here,
never with the library's own Euler code.
"""

from __future__ import annotations

import io
import math
import time
from pathlib import Path

import numpy as np
import pytest

from unimotion.errors import BVHError
from unimotion.io.bvh import BVHMotion, format_bvh, parse_bvh, read_bvh, write_bvh

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bvh"
SIMPLE = (FIXTURES / "simple.bvh").read_text()


def rx(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def ry(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rz(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


AXIS = {"X": rx, "Y": ry, "Z": rz}


def quat_to_mat(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


# ------------------------------------------------------------------------------------------- parsing
def test_parse_simple_structure():
    m = parse_bvh(SIMPLE)
    assert m.names == ("Hips", "Chest", "Head", "Leg")
    assert m.parents.tolist() == [-1, 0, 1, 0]
    np.testing.assert_array_equal(m.offsets, [[0, 0, 0], [0, 10, 0], [0, 5, 0], [3, -2, 0]])
    assert m.channels[0] == ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")
    assert m.channels[1] == ("Zrotation", "Xrotation", "Yrotation")
    assert set(m.end_sites) == {2, 3}
    np.testing.assert_array_equal(m.end_sites[2], [0, 2, 0])
    np.testing.assert_array_equal(m.end_sites[3], [0, -8, 0])
    assert m.frame_time == 0.05 and m.fps == pytest.approx(20.0)
    assert m.values.shape == (3, 15) and m.num_frames == 3 and m.num_channels == 15
    assert m.duration == pytest.approx(0.15)
    assert m.rotation_order(0) == "ZXY" and m.channel_starts.tolist() == [0, 6, 9, 12, 15]
    assert m.children(0) == [1, 3] and m.index("Leg") == 3
    with pytest.raises(BVHError, match="no joint named 'Arm'"):
        m.index("Arm")


def test_forward_kinematics_hand_computed():
    m = parse_bvh(SIMPLE)
    pos = m.joint_positions()
    # frame 0: root at (0, 90, 0), no rotation
    np.testing.assert_allclose(pos[0], [[0, 90, 0], [0, 100, 0], [0, 105, 0], [3, 88, 0]], atol=1e-12)
    # frame 1: root at (1, 90, 2) turned 90° about Z: (x, y) -> (-y, x)
    np.testing.assert_allclose(pos[1], [[1, 90, 2], [-9, 90, 2], [-14, 90, 2], [3, 93, 2]], atol=1e-12)
    # frame 2: Chest turned 90° about Z: the head bone (0, 5, 0) -> (-5, 0, 0)
    np.testing.assert_allclose(pos[2], [[0, 90, 0], [0, 100, 0], [-5, 100, 0], [3, 88, 0]], atol=1e-12)
    ends = m.end_site_positions()
    np.testing.assert_allclose(ends[2], [[-7, 100, 0], [3, 80, 0]], atol=1e-12)
    np.testing.assert_allclose(m.joint_positions(["Leg", "Hips"])[1], [[3, 93, 2], [1, 90, 2]], atol=1e-12)


@pytest.mark.parametrize("order", ["ZXY", "XYZ", "YZX", "ZYX", "XZY", "YXZ"])
def test_rotation_channels_compose_in_listed_order(order):
    rng = np.random.default_rng(abs(hash(order)) % 2**32)
    angles = rng.uniform(-170, 170, size=(4, 3))
    chans = " ".join(f"{a}rotation" for a in order)
    text = (
        "HIERARCHY\nROOT A\n{\n OFFSET 0 0 0\n CHANNELS 3 " + chans + "\n JOINT B\n {\n  OFFSET 1 2 3\n"
        "  CHANNELS 0\n }\n}\nMOTION\nFrames: 4\nFrame Time: 0.1\n"
        + "\n".join(" ".join(repr(float(v)) for v in row) for row in angles) + "\n"
    )
    m = parse_bvh(text)
    rots = m.rotations()
    for t in range(4):
        expected = AXIS[order[0]](angles[t, 0]) @ AXIS[order[1]](angles[t, 1]) @ AXIS[order[2]](angles[t, 2])
        np.testing.assert_allclose(quat_to_mat(rots[t, 0]), expected, atol=1e-12)
        np.testing.assert_allclose(m.joint_positions()[t, 1], expected @ [1, 2, 3], atol=1e-9)
    np.testing.assert_allclose(rots[:, 1], np.tile([1, 0, 0, 0], (4, 1)))  # no rotation channels


MIXED = (FIXTURES / "mixed.bvh")


def test_mixed_layout_fixture():
    """Braces beside names, names with spaces, lower-case keywords, a named End Site, scientific
    notation, blank lines, partial and reordered position channels, a joint without channels."""
    m = read_bvh(MIXED)
    assert m.names == ("Root Node", "Body", "Fixed", "Slider")
    assert m.channels[0] == ("Xposition", "Zposition", "Yposition")
    assert m.channels[2] == () and m.channels[3] == ("Yposition", "Yrotation")
    np.testing.assert_array_equal(m.offsets[2], [0, 0, -2.5])
    assert m.frame_time == pytest.approx(1 / 30, rel=1e-6)
    pos = m.joint_positions()
    # frame 0 (hand computed): root (0.5, 2.5, 1.5); Body Rx(90); Fixed = Body + Rx(90)(0, 0, -2.5)
    np.testing.assert_allclose(pos[0], [[0.5, 2.5, 1.5], [0.5, 12.5, 1.5], [0.5, 15.0, 1.5], [4.5, 1.5, 1.5]],
                               atol=1e-12)
    # frame 1: root (0.1, 3, -2); Body position channel (0, 20, 0) replaces its offset; Rz(90)
    np.testing.assert_allclose(pos[1], [[0.1, 3, -2], [0.1, 23, -2], [0.1, 23, -4.5], [4.1, 5.5, -2]],
                               atol=1e-12)
    np.testing.assert_allclose(m.end_site_positions()[:, 0], [[0.5, 16, 1.5], [0.1, 23, -5.5]], atol=1e-12)
    # Slider: Yrotation 30 then -45
    np.testing.assert_allclose(quat_to_mat(m.rotations()[1, 3]), ry(-45), atol=1e-12)


def test_position_channels_replace_offset_like_bandai():
    text = (
        "HIERARCHY\nROOT R\n{\nOFFSET 0 0 0\nCHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n"
        "JOINT C\n{\nOFFSET 10 0 0\nCHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n"
        "End Site\n{\nOFFSET 1 0 0\n}\n}\n}\nMOTION\nFrames: 2\nFrame Time: 0.0333333\n"
        "0 0 0 90 0 0 10 0 0 0 0 0\n0 0 0 90 0 0 7 0 0 0 0 0\n"
    )
    m = parse_bvh(text)
    pos = m.joint_positions()
    # the channel (10, 0, 0) is the whole local translation (not offset + channel = 20)
    np.testing.assert_allclose(pos[:, 1], [[0, 10, 0], [0, 7, 0]], atol=1e-12)
    np.testing.assert_allclose(m.local_translations()[:, 1], [[10, 0, 0], [7, 0, 0]])
    np.testing.assert_allclose(m.root_positions(), np.zeros((2, 3)))


# -------------------------------------------------------------------------------------- whitespace
def _variants(text: str) -> dict[str, str]:
    return {
        "lf": text,
        "crlf": text.replace("\n", "\r\n"),
        "cr": text.replace("\n", "\r"),
        "tabs": text.replace(" ", "\t"),
        "spaces": text.replace("\t", "    ").replace(" ", "  "),
        "blank_lines": text.replace("\n", "\n\n"),
        "bom": "\ufeff" + text,
        "no_final_newline": text.rstrip("\n"),
        "scientific": text.replace("Frame Time: 0.05", "Frame Time: 5e-2").replace(
            "OFFSET 3.0 -2.0 0.0", "OFFSET 3.0E+00 -2e0 0.0e-10"),
    }


@pytest.mark.parametrize("variant", list(_variants(SIMPLE)))
def test_whitespace_and_number_variants_parse_identically(variant):
    ref = parse_bvh(SIMPLE)
    m = parse_bvh(_variants(SIMPLE)[variant])
    assert m.names == ref.names
    np.testing.assert_array_equal(m.parents, ref.parents)
    np.testing.assert_allclose(m.offsets, ref.offsets, atol=1e-9)
    np.testing.assert_array_equal(m.values, ref.values)
    assert m.frame_time == ref.frame_time


def test_error_line_numbers_survive_crlf():
    bad = SIMPLE.replace("0 90 0 0 0 0 90", "0 90 0 0 zero 0 90").replace("\n", "\r\n")
    with pytest.raises(BVHError) as exc:
        parse_bvh(bad)
    assert exc.value.line == 35 and "'zero' is not a number" in str(exc.value)


# ------------------------------------------------------------------------------------------- sources
def test_read_bvh_from_every_kind_of_source(tmp_path):
    path = tmp_path / "a.bvh"
    path.write_text(SIMPLE)
    ref = parse_bvh(SIMPLE)
    for source in (path, str(path), SIMPLE, SIMPLE.encode(), ("\ufeff" + SIMPLE).encode("utf-8"),
                   io.StringIO(SIMPLE), io.BytesIO(SIMPLE.encode()), open(path, "rb"), open(path)):
        m = read_bvh(source)
        np.testing.assert_array_equal(m.values, ref.values)
        assert m.names == ref.names
        if hasattr(source, "close"):
            source.close()
    with pytest.raises(FileNotFoundError):
        read_bvh(tmp_path / "missing.bvh")
    with pytest.raises(BVHError, match="expects a path"):
        read_bvh(12)  # type: ignore[arg-type]
    with pytest.raises(BVHError, match="expects text"):
        parse_bvh(b"HIERARCHY")  # type: ignore[arg-type]


def test_errors_carry_the_file_path(tmp_path):
    path = tmp_path / "broken.bvh"
    path.write_text(SIMPLE.replace("Frames: 3", "Frames: 4"))
    with pytest.raises(BVHError) as exc:
        read_bvh(path)
    assert exc.value.path == str(path) and exc.value.line == 31
    assert str(exc.value).startswith(f"{path}:31: ")


def test_latin1_joint_name(tmp_path):
    path = tmp_path / "latin.bvh"
    path.write_bytes(SIMPLE.replace("Chest", "Br\u00fcst").encode("latin-1"))
    assert read_bvh(path).names[1] == "Br\u00fcst"


# ------------------------------------------------------------------------------------------- errors
def _replace_line(text: str, number: int, new: str | None) -> str:
    lines = text.split("\n")
    if new is None:
        del lines[number - 1]
    else:
        lines[number - 1] = new
    return "\n".join(lines)


ERROR_CASES = [
    # (id, text, expected line, message fragment)
    ("empty", "", 1, "empty file"),
    ("whitespace_only", "  \n\t\n", 1, "empty file"),
    ("not_hierarchy", _replace_line(SIMPLE, 1, "HIERARCHYX"), 1, "expected 'HIERARCHY'"),
    ("no_root", _replace_line(SIMPLE, 2, "JOINT Hips"), 2, "expected 'ROOT'"),
    ("root_without_name", _replace_line(SIMPLE, 2, "ROOT"), 2, "expected a joint name after ROOT"),
    ("missing_open_brace", _replace_line(SIMPLE, 3, None), 3, "expected '{' after ROOT Hips"),
    ("unknown_keyword", _replace_line(SIMPLE, 8, "\t\tOFFSETS 0 10 0"), 8, "unknown keyword 'OFFSETS'"),
    ("offset_two_numbers", _replace_line(SIMPLE, 8, "\t\tOFFSET 0.0 10.0"), 9, "found 'CHANNELS'"),
    ("offset_not_number", _replace_line(SIMPLE, 8, "\t\tOFFSET 0.0 ten 0.0"), 8, "found 'ten'"),
    ("offset_nan", _replace_line(SIMPLE, 8, "\t\tOFFSET 0.0 nan 0.0"), 8, "found 'nan'"),
    ("offset_overflow", _replace_line(SIMPLE, 8, "\t\tOFFSET 0.0 1e999 0.0"), 8, "not finite"),
    ("duplicate_offset", _replace_line(SIMPLE, 9, "\t\tOFFSET 0 0 0"), 9, "second OFFSET"),
    ("channel_count_word", _replace_line(SIMPLE, 9, "\t\tCHANNELS three Zrotation"), 9, "number of channels"),
    ("channel_count_negative", _replace_line(SIMPLE, 9, "\t\tCHANNELS -3 Zrotation"), 9, "number of channels"),
    ("too_many_channels", _replace_line(SIMPLE, 9, "\t\tCHANNELS 7 Zrotation"), 9, "at most 6"),
    ("fewer_channel_names", _replace_line(SIMPLE, 9, "\t\tCHANNELS 4 Zrotation Xrotation Yrotation"), 10,
     "expected channel name 4 of 4"),
    ("more_channel_names", _replace_line(SIMPLE, 9, "\t\tCHANNELS 2 Zrotation Xrotation Yrotation"), 9,
     "unknown keyword 'Yrotation'"),
    ("bad_channel_name", _replace_line(SIMPLE, 9, "\t\tCHANNELS 3 Zrotation Wrotation Yrotation"), 9, "'Wrotation'"),
    ("duplicate_channel", _replace_line(SIMPLE, 9, "\t\tCHANNELS 3 Zrotation Zrotation Yrotation"), 9,
     "listed twice"),
    ("duplicate_channels_line", _replace_line(SIMPLE, 12, "\t\t\tCHANNELS 0"), 13, "second CHANNELS"),
    ("duplicate_joint_name", _replace_line(SIMPLE, 20, "\tJOINT Chest"), 20, "duplicate joint name 'Chest'"),
    ("missing_close_brace", _replace_line(SIMPLE, 29, None), 29, "'Hips' opened at line 2 is not closed"),
    ("extra_close_brace", _replace_line(SIMPLE, 29, "}\n}"), 30, "unexpected '}' after the ROOT block"),
    ("second_root", _replace_line(SIMPLE, 29, "}\nROOT Other"), 30, "second ROOT"),
    ("root_inside_joint", _replace_line(SIMPLE, 20, "\tROOT Leg"), 20, "only one ROOT"),
    ("joint_without_offset", _replace_line(SIMPLE, 22, None), 27, "has no OFFSET"),
    ("end_sight", _replace_line(SIMPLE, 14, "\t\t\tEnd Sight"), 14, "expected 'Site'"),
    ("end_site_without_offset", _replace_line(SIMPLE, 16, "\t\t\t\t"), 17, "expected OFFSET inside the End Site"),
    ("end_site_unclosed", _replace_line(SIMPLE, 17, "\t\t\tJOINT Eye"), 17, "closing the End Site of 'Head', found 'JOINT'"),
    ("end_site_brace_missing", _replace_line(SIMPLE, 17, None), 29, "'Hips' opened at line 2 is not closed"),
    ("two_end_sites", _replace_line(SIMPLE, 17, "\t\t\t}\n\t\t\tEnd Site\n\t\t\t{\n\t\t\t\tOFFSET 0 1 0\n\t\t\t}"),
     18, "more than one End Site"),
    ("stray_open_brace", _replace_line(SIMPLE, 9, "\t\t{"), 9, "unexpected '{'"),
    ("truncated_hierarchy", "\n".join(SIMPLE.split("\n")[:12]), 12, "unexpected end of the HIERARCHY"),
    ("missing_motion", "\n".join(SIMPLE.split("\n")[:29]), 29, "missing 'MOTION'"),
    ("motion_then_nothing", "\n".join(SIMPLE.split("\n")[:30]), 31, "expected 'Frames: N'"),
    ("frames_word", _replace_line(SIMPLE, 31, "Frames: three"), 31, "non-negative integer"),
    ("frames_negative", _replace_line(SIMPLE, 31, "Frames: -3"), 31, "non-negative integer"),
    ("frames_missing", _replace_line(SIMPLE, 31, None), 31, "expected 'Frames: N'"),
    ("frame_time_missing", _replace_line(SIMPLE, 32, None), 32, "expected 'Frame Time: seconds'"),
    ("frame_time_zero", _replace_line(SIMPLE, 32, "Frame Time: 0"), 32, "positive number"),
    ("frame_time_negative", _replace_line(SIMPLE, 32, "Frame Time: -0.05"), 32, "positive number"),
    ("frame_time_word", _replace_line(SIMPLE, 32, "Frame Time: fast"), 32, "positive number"),
    ("fewer_values", _replace_line(SIMPLE, 34, "1 90 2 90 0 0 0 0 0 0 0 0 0 0"), 34,
     "frame 2 has 14 values, expected 15"),
    ("more_values", _replace_line(SIMPLE, 34, "1 90 2 90 0 0 0 0 0 0 0 0 0 0 0 0"), 34,
     "frame 2 has 16 values, expected 15"),
    ("non_numeric_value", _replace_line(SIMPLE, 33, "0 90 0 0 0 0 0 0 0 0 0 0 0 0 x"), 33, "'x' is not a number"),
    ("nan_value", _replace_line(SIMPLE, 35, "0 90 0 0 0 0 90 0 0 0 0 0 0 0 NaN"), 35, "'NaN' is not a number"),
    ("inf_value", _replace_line(SIMPLE, 35, "0 90 0 0 0 0 90 0 0 0 0 0 0 0 -inf"), 35, "is not a number"),
    ("overflow_value", _replace_line(SIMPLE, 35, "0 90 0 0 0 0 90 0 0 0 0 0 0 0 1e400"), 35, "not finite"),
    ("bad_number_syntax", _replace_line(SIMPLE, 35, "0 90 0 0 0 0 90 0 0 0 0 0 0 0 1.2.3"), 35, "'1.2.3'"),
    ("comma_separated", _replace_line(SIMPLE, 33, "0,90,0,0,0,0,0,0,0,0,0,0,0,0,0"), 33, "is not a number"),
    ("vertical_tab", _replace_line(SIMPLE, 33, "0 90 0 0 0 0 0 0 0 0 0 0 0 0\x0b0"), 33, "unexpected character"),
    ("frames_too_many", _replace_line(SIMPLE, 31, "Frames: 4"), 31, "'Frames: 4' is declared but 3"),
    ("frames_too_few", _replace_line(SIMPLE, 31, "Frames: 2"), 35, "more frame lines than 'Frames: 2'"),
    ("values_without_channels", "HIERARCHY\nROOT A\n{\nOFFSET 0 0 0\nCHANNELS 0\n}\nMOTION\nFrames: 1\n"
     "Frame Time: 0.1\n1 2 3\n", 10, "declares no channels"),
]


@pytest.mark.parametrize("case", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_malformed_input_raises_bvh_error_with_line(case):
    _, text, line, fragment = case
    with pytest.raises(BVHError) as exc:
        parse_bvh(text, source="case.bvh")
    assert fragment in str(exc.value), str(exc.value)
    assert exc.value.line == line, str(exc.value)
    assert exc.value.path == "case.bvh"


# ------------------------------------------------------------------------------------------- lenient
def test_joint_without_channels_and_zero_frames():
    text = "HIERARCHY\nROOT A\n{\nOFFSET 0 0 0\nJOINT B\n{\nOFFSET 0 1 0\nCHANNELS 0\n}\n}\nMOTION\nFrames: 0\nFrame Time: 1\n"
    m = parse_bvh(text)
    assert m.channels == ((), ()) and m.values.shape == (0, 0) and m.num_frames == 0
    assert m.joint_positions().shape == (0, 2, 3)
    again = parse_bvh(format_bvh(m))
    assert again.names == m.names and again.num_frames == 0


def test_zero_channels_many_frames_roundtrip():
    text = "HIERARCHY\nROOT A\n{\nOFFSET 1 2 3\nCHANNELS 0\n}\nMOTION\nFrames: 4\nFrame Time: 0.5\n"
    m = parse_bvh(text)
    assert m.values.shape == (4, 0)
    np.testing.assert_allclose(m.joint_positions(), np.tile([1.0, 2, 3], (4, 1, 1)))


# ------------------------------------------------------------------------------------------- writer
def _assert_same_motion(a: BVHMotion, b: BVHMotion, exact: bool = True) -> None:
    assert a.names == b.names and a.channels == b.channels
    np.testing.assert_array_equal(a.parents, b.parents)
    cmp = np.testing.assert_array_equal if exact else (lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-9))
    cmp(a.offsets, b.offsets)
    cmp(a.values, b.values)
    assert a.end_sites.keys() == b.end_sites.keys()
    for j in a.end_sites:
        cmp(a.end_sites[j], b.end_sites[j])
    assert a.frame_time == b.frame_time if exact else math.isclose(a.frame_time, b.frame_time, rel_tol=1e-6)


@pytest.mark.parametrize("name", ["simple.bvh", "mixed.bvh", "cmu_style.bvh", "mixamo_style.bvh", "bandai_style.bvh"])
def test_read_write_read_is_exact(tmp_path, name):
    m = read_bvh(FIXTURES / name)
    rng = np.random.default_rng(3)
    m.values = m.values + rng.normal(size=m.values.shape) * 1e-3  # digits that need full precision
    path = write_bvh(m, tmp_path / "out.bvh")
    again = read_bvh(path)
    _assert_same_motion(m, again)
    assert format_bvh(again) == path.read_text()  # writing is deterministic
    rounded = read_bvh(format_bvh(m, precision=9))
    _assert_same_motion(m, rounded, exact=False)
    with pytest.raises(BVHError, match="precision"):
        format_bvh(m, precision=0)


def test_writer_layout_is_importer_friendly():
    text = format_bvh(read_bvh(FIXTURES / "mixed.bvh"))
    lines = text.split("\n")
    assert lines[:4] == ["HIERARCHY", "ROOT Root Node", "{", "\tOFFSET 1.0 2.0 3.0"]
    assert "\tCHANNELS 3 Xposition Zposition Yposition" in lines
    assert "\t\t\tCHANNELS 0" in lines and "\t\t\tEnd Site" in lines
    assert lines[lines.index("MOTION") + 1 :][:2] == ["Frames: 2", "Frame Time: 0.0333333333"]


def test_writer_emits_depth_first_for_any_topological_order():
    # joints listed breadth-first: A, B, C (child of A), D (child of B)
    m = BVHMotion(names=("A", "B", "C", "D"), parents=np.array([-1, 0, 0, 1]),
                  offsets=np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1.0]]),
                  channels=(("Xposition", "Yposition", "Zposition"), ("Zrotation",), ("Xrotation",), ("Yrotation",)),
                  values=np.array([[1, 2, 3, 10, 20, 30.0]]), frame_time=0.1)
    again = parse_bvh(format_bvh(m))
    assert again.names == ("A", "B", "D", "C")
    assert again.values.tolist() == [[1, 2, 3, 10, 30, 20]]
    np.testing.assert_allclose(again.joint_positions(["A", "B", "C", "D"]), m.joint_positions(), atol=1e-12)


def test_write_bvh_rejects_other_objects(tmp_path):
    with pytest.raises(BVHError, match="expects a BVHMotion"):
        write_bvh("not a motion", tmp_path / "x.bvh")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------- model
def test_from_local_roundtrip_rotations_and_translations():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(50, 3, 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    trans = rng.normal(size=(50, 3, 3))
    offsets = np.array([[0, 0, 0], [0, 1, 0], [1, 0, 0.0]])
    for order, positions in (("ZXY", "root"), ("XYZ", "all"), (["ZYX", "YXZ", ""], [0, 2])):
        m = BVHMotion.from_local(["a", "b", "c"], [-1, 0, 1], offsets, q, trans, frame_time=0.05,
                                 rotation_order=order, position_joints=positions)
        again = parse_bvh(format_bvh(m))
        got = again.rotations()
        for j in range(3):
            if isinstance(order, list) and not order[j]:
                np.testing.assert_allclose(got[:, j], np.tile([1, 0, 0, 0], (50, 1)))
                continue
            dots = np.abs(np.sum(got[:, j] * q[:, j], axis=-1))  # same rotation up to sign
            np.testing.assert_allclose(dots, 1.0, atol=1e-9)
        lt = again.local_translations()
        pos_joints = {"root": [0], "all": [0, 1, 2]}.get(positions, positions) if isinstance(positions, str) else positions
        for j in range(3):
            np.testing.assert_allclose(lt[:, j], trans[:, j] if j in pos_joints else np.tile(offsets[j], (50, 1)),
                                       atol=1e-12)
    root_only = BVHMotion.from_local(["a", "b", "c"], [-1, 0, 1], offsets, q, trans[:, 0])
    np.testing.assert_allclose(root_only.root_positions(), trans[:, 0])


def test_from_local_unwraps_angle_jumps():
    angles = np.array([170.0, 179.0, -179.0, -170.0])  # a turn about Y crossing ±180°
    q = np.stack([np.cos(np.radians(angles) / 2), 0 * angles, np.sin(np.radians(angles) / 2), 0 * angles], -1)
    m = BVHMotion.from_local(["a"], [-1], np.zeros((1, 3)), q[:, None], None, rotation_order="ZXY",
                             position_joints="none")
    np.testing.assert_allclose(m.values[:, 2], [170, 179, 181, 190], atol=1e-9)
    raw = BVHMotion.from_local(["a"], [-1], np.zeros((1, 3)), q[:, None], None, position_joints="none", unwrap=False)
    assert np.abs(np.diff(raw.values[:, 2])).max() > 300


@pytest.mark.parametrize("kwargs, fragment", [
    ({"names": ()}, "at least one joint"),
    ({"names": ("A", "A")}, "duplicate joint name"),
    ({"names": ("A", "B{")}, "invalid joint name"),
    ({"parents": np.array([0, 0])}, "parents must be -1"),
    ({"parents": np.array([-1, 1])}, "earlier joint"),
    ({"parents": np.array([-1.0, 0.0])}, "integers"),
    ({"offsets": np.zeros((2, 2))}, "offsets must have shape"),
    ({"offsets": np.array([[0, 0, 0], [np.nan, 0, 0]])}, "NaN"),
    ({"channels": (("Xposition",),)}, "channels must list 2"),
    ({"channels": (("Xposition",), "Zrotation")}, "sequence of names"),
    ({"channels": (("Xposition",), ("Wrotation",))}, "unknown channel"),
    ({"channels": (("Xposition",), ("Zrotation", "zrotation"))}, "listed twice"),
    ({"values": np.zeros((3, 3))}, "values must have shape"),
    ({"values": np.array([[0.0, np.inf]])}, "NaN or Inf"),
    ({"frame_time": 0.0}, "frame_time"),
    ({"end_sites": {5: np.zeros(3)}}, "does not exist"),
    ({"end_sites": {1: np.zeros(2)}}, "3 finite numbers"),
])
def test_bvh_motion_validation(kwargs, fragment):
    base = dict(names=("A", "B"), parents=np.array([-1, 0]), offsets=np.zeros((2, 3)),
                channels=(("Xposition",), ("Zrotation",)), values=np.zeros((1, 2)), frame_time=0.1)
    base.update(kwargs)
    with pytest.raises(BVHError, match=fragment):
        BVHMotion(**base)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"rotations": np.zeros((2, 3, 4))}, "rotations must have shape"),
    ({"rotation_order": ["ZXY"]}, "lists 1 orders"),
    ({"rotation_order": "ZZY"}, "permutation"),
    ({"position_joints": "some"}, "position_joints"),
    ({"translations": None}, "translations are required"),
    ({"translations": np.zeros((2, 5))}, "translations must have shape"),
])
def test_from_local_validation(kwargs, fragment):
    base = dict(names=("A", "B"), parents=[-1, 0], offsets=np.zeros((2, 3)),
                rotations=np.tile([1.0, 0, 0, 0], (2, 2, 1)), translations=np.zeros((2, 3)))
    base.update(kwargs)
    with pytest.raises(BVHError, match=fragment):
        BVHMotion.from_local(**base)


def test_scaled_scales_every_length():
    m = read_bvh(FIXTURES / "mixed.bvh")
    s = m.scaled(0.01)
    np.testing.assert_allclose(s.joint_positions(), m.joint_positions() * 0.01, atol=1e-12)
    np.testing.assert_allclose(s.end_site_positions(), m.end_site_positions() * 0.01, atol=1e-12)
    np.testing.assert_array_equal(s.rotations(), m.rotations())
    np.testing.assert_array_equal(m.offsets, read_bvh(FIXTURES / "mixed.bvh").offsets)  # original untouched


def test_no_end_sites_positions_shape():
    m = read_bvh(FIXTURES / "mixed.bvh")
    m.end_sites = {}
    assert m.end_site_positions().shape == (2, 0, 3)


# ------------------------------------------------------------------------------------------- speed
def test_parse_speed_3000_frames_22_joints():
    m = read_bvh(FIXTURES / "bandai_style.bvh")  # 22 joints × 6 channels
    rng = np.random.default_rng(0)
    big = BVHMotion(m.names, m.parents, m.offsets, m.channels, rng.normal(size=(3000, 132)) * 50,
                    m.frame_time, m.end_sites)
    text = format_bvh(big, precision=6)  # the digits mocap files carry
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        parsed = parse_bvh(text)
        best = min(best, time.perf_counter() - start)
    assert parsed.values.shape == (3000, 132)
    print(f"parse 3000x132: {best * 1000:.1f} ms")
    assert best < 0.25  # ~40 ms on an idle core; generous for a shared CI machine


def test_from_local_is_exact_near_gimbal_lock():
    """Middle Euler angle within 3e-4 rad of 90°: the written angles still give the exact rotation."""
    rows = []
    for delta in (1e-3, 3e-4, 1e-5, 0.0):
        for order in ("ZXY", "XYZ", "ZYX"):
            m = AXIS[order[0]](30.0) @ AXIS[order[1]](90.0 - math.degrees(delta)) @ AXIS[order[2]](20.0)
            rows.append((order, m))
    for order, mat in rows:
        w = math.sqrt(max(0.0, 1 + np.trace(mat))) / 2
        q = np.array([w, (mat[2, 1] - mat[1, 2]) / (4 * w), (mat[0, 2] - mat[2, 0]) / (4 * w),
                      (mat[1, 0] - mat[0, 1]) / (4 * w)])
        motion = BVHMotion.from_local(["a"], [-1], np.zeros((1, 3)), q[None, None], None, rotation_order=order,
                                      position_joints="none")
        np.testing.assert_allclose(quat_to_mat(parse_bvh(format_bvh(motion)).rotations()[0, 0]), mat, atol=1e-9)
