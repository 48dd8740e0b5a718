"""Retargeting BVH rigs onto the 22-joint layout (unimotion.io.retarget).

The hand-made rigs in tests/fixtures/bvh are in a T-pose in their first frame, so the expected joint
positions there are sums of OFFSETs, written out below by hand.
"""

from __future__ import annotations

import math
import re
import tarfile
from pathlib import Path

import numpy as np
import pytest

from unimotion.errors import RetargetError
from unimotion.io.bvh import BVHMotion, parse_bvh, read_bvh
from unimotion.io.bvh_export import joints_to_bvh
from unimotion.io.retarget import (
    PRESETS,
    SPINE_FRACTIONS,
    Along,
    EndSite,
    resample_local,
    resample_motion,
    resolve_mapping,
    retarget_bvh,
    retarget_to_t2m,
)
from unimotion.motion.skeleton import forward_kinematics
from unimotion.motion.skeletons import T2M22

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bvh"
NAMES = T2M22.joint_names


def rig(name: str) -> BVHMotion:
    return read_bvh(FIXTURES / f"{name}.bvh")


def as_dict(joints_frame: np.ndarray) -> dict[str, np.ndarray]:
    return {n: joints_frame[i] for i, n in enumerate(NAMES)}


def mirror(points: dict[str, tuple]) -> dict[str, tuple]:
    out = dict(points)
    for k, (x, y, z) in points.items():
        if k.startswith("left_"):
            out["right_" + k[5:]] = (-x, y, z)
    return out


# Rest positions (frame 0) in file units, by hand from the OFFSETs of the fixtures.
CMU_REST = mirror({
    "pelvis": (0, 36, 0), "left_hip": (3, 34, 0), "left_knee": (3, 18, 0), "left_ankle": (3, 2, 0),
    "left_foot": (3, 0, 5), "spine3": (0, 47, 0), "neck": (0, 53, 0), "head": (0, 58, 0),
    "left_collar": (1, 51, 0), "left_shoulder": (6, 51, 0), "left_elbow": (17, 51, 0), "left_wrist": (26, 51, 0),
    # Hips → LowerBack (2) → Spine (4) → Spine1: two real joints between pelvis and spine3
    "spine1": (0, 38, 0), "spine2": (0, 42, 0),
})
MIXAMO_REST = mirror({
    "pelvis": (0, 97, 0), "left_hip": (9, 90, 0), "left_knee": (9, 48, 0), "left_ankle": (9, 7, 0),
    "left_foot": (9, 0, 11), "spine1": (0, 107, 0), "spine2": (0, 119, 0), "spine3": (0, 132, 0),
    "neck": (0, 148, 0), "head": (0, 157, 2), "left_collar": (4, 144, 0), "left_shoulder": (15, 144, 0),
    "left_elbow": (42, 144, 0), "left_wrist": (67, 144, 0),
})
BANDAI_REST = mirror({
    "pelvis": (0, 95, 0), "left_hip": (9, 89, 0), "left_knee": (9, 49, 0), "left_ankle": (9, 7, 0),
    "left_foot": (9, 1, 12), "spine3": (0, 119, 0), "neck": (0, 139, 0), "head": (0, 147, 0),
    "left_collar": (3, 136, 0), "left_shoulder": (15, 136, 0), "left_elbow": (41, 136, 0), "left_wrist": (65, 136, 0),
    # Hips → Spine (15) → Chest (9): Spine (at 62.5 %) is spine2; spine1 at 37 % of 24 cm = 8.88 (on Hips → Spine)
    "spine1": (0, 95 + 8.88, 0), "spine2": (0, 110, 0),
})


@pytest.mark.parametrize("fixture, preset, rest, unit, metres", [
    ("cmu_style", "cmu", CMU_REST, "inch", 0.0254),
    ("mixamo_style", "mixamo", MIXAMO_REST, "cm", 0.01),
    ("bandai_style", "bandai", BANDAI_REST, "cm", 0.01),
])
def test_presets_on_hand_made_rigs(fixture, preset, rest, unit, metres):
    result = retarget_bvh(rig(fixture), mapping=preset, target_fps=None)
    assert result.units == unit and result.units_to_metres == metres and result.up_axis == "Y"
    got = as_dict(result.joints[0])
    for name in NAMES:
        np.testing.assert_allclose(got[name], np.array(rest[name]) * metres, atol=1e-12, err_msg=name)
    assert set(result.mapping) == set(NAMES)


def test_auto_mapping_matches_presets():
    for fixture, preset in (("cmu_style", "cmu"), ("mixamo_style", "mixamo"), ("bandai_style", "bandai")):
        auto = retarget_bvh(rig(fixture), "auto", target_fps=None)
        ref = retarget_bvh(rig(fixture), preset, target_fps=None)
        assert auto.mapping == ref.mapping, fixture
        np.testing.assert_array_equal(auto.joints, ref.joints)
    mapping = retarget_bvh(rig("cmu_style"), "cmu", target_fps=None).mapping
    assert mapping["spine1"] == "LowerBack" and mapping["spine2"] == "Spine"  # filled by the automatic rule
    mapping = retarget_bvh(rig("bandai_style"), "bandai", target_fps=None).mapping
    assert mapping["spine1"] == "Along(Hips→Chest, 0.37)" and mapping["spine2"] == "Spine"


def test_spine_rule_single_joint_closer_to_spine1():
    """Hips → Spine (short) → Chest: the one real joint becomes spine1, spine2 is virtual on Spine → Chest."""
    text = (FIXTURES / "bandai_style.bvh").read_text()
    motion = parse_bvh(text)
    spine = motion.index("Spine")
    motion.offsets[spine] = [0, 6, 0]
    motion.values[:, motion.channel_starts[spine] + 1] = 6.0  # position channel = offset (Bandai style)
    result = retarget_bvh(motion, "auto", target_fps=None)
    assert result.mapping["spine1"] == "Spine" and result.mapping["spine2"] == "Along(Hips→Chest, 0.8)"
    got = as_dict(result.joints[0])
    np.testing.assert_allclose(got["spine2"], [0, 0.95 + 0.8 * 0.15, 0], atol=1e-12)


def _renamed(text: str, left_names: dict[str, str], center: dict[str, str]) -> str:
    """The CMU fixture with other naming conventions (left names given; right names derived)."""
    names = dict(center)
    for cmu, other in left_names.items():
        names[cmu] = other
        right = other.replace("Left", "Right").replace("_L_", "_R_").replace("L_", "R_")
        names[cmu.replace("Left", "Right").replace("LHip", "RHip")] = right[0].replace("l", "r") + right[1:]
    return "\n".join(
        re.sub(r"^(\s*(?:ROOT|JOINT) )(\S+)$", lambda m: m.group(1) + names.get(m.group(2), m.group(2)), line)
        for line in text.split("\n")
    )


NAMING_STYLES = {
    "daz": ({"LHipJoint": "lHipJoint", "LeftUpLeg": "lThigh", "LeftLeg": "lShin", "LeftFoot": "lFoot",
             "LeftToeBase": "lToe", "LeftShoulder": "lCollar", "LeftArm": "lShldrBend", "LeftForeArm": "lForearmBend",
             "LeftHand": "lHand"},
            {"Hips": "hip", "LowerBack": "abdomenLower", "Spine": "abdomenUpper", "Spine1": "chestLower",
             "Neck": "neckLower", "Neck1": "neckUpper", "Head": "head"}),
    "vrm": ({"LHipJoint": "J_Adj_L_Hip", "LeftUpLeg": "J_Bip_L_UpperLeg", "LeftLeg": "J_Bip_L_LowerLeg",
             "LeftFoot": "J_Bip_L_Foot", "LeftToeBase": "J_Bip_L_ToeBase", "LeftShoulder": "J_Bip_L_Shoulder",
             "LeftArm": "J_Bip_L_UpperArm", "LeftForeArm": "J_Bip_L_LowerArm", "LeftHand": "J_Bip_L_Hand"},
            {"Hips": "J_Bip_C_Hips", "LowerBack": "J_Bip_C_Spine", "Spine": "J_Bip_C_Chest",
             "Spine1": "J_Bip_C_UpperChest", "Neck": "J_Bip_C_Neck", "Neck1": "J_Sec_C_Neck2", "Head": "J_Bip_C_Head"}),
    "smpl": ({"LHipJoint": "L_HipHelper", "LeftUpLeg": "L_Hip", "LeftLeg": "L_Knee", "LeftFoot": "L_Ankle",
              "LeftToeBase": "L_Foot", "LeftShoulder": "L_Collar", "LeftArm": "L_Shoulder", "LeftForeArm": "L_Elbow",
              "LeftHand": "L_Wrist"},
             {"Hips": "Pelvis", "LowerBack": "Spine1", "Spine": "Spine2", "Spine1": "Spine3", "Neck": "Neck",
              "Neck1": "Neck_Upper", "Head": "Head"}),
}


@pytest.mark.parametrize("style", list(NAMING_STYLES))
def test_auto_mapping_understands_other_naming_conventions(style):
    left, center = NAMING_STYLES[style]
    text = _renamed((FIXTURES / "cmu_style.bvh").read_text(), left, center)
    motion = parse_bvh(text)
    assert "LeftArm" not in motion.names  # really renamed
    result = retarget_bvh(motion, "auto", target_fps=None)
    reference = retarget_bvh(rig("cmu_style"), "cmu", target_fps=None)
    np.testing.assert_allclose(result.joints, reference.joints, atol=1e-12)
    assert result.mapping["left_wrist"] == left["LeftHand"] and result.mapping["pelvis"] == center["Hips"]
    assert result.mapping["neck"] == center["Neck"] and result.mapping["left_collar"] == left["LeftShoulder"]


@pytest.mark.parametrize("fixture", ["cmu_style", "mixamo_style", "bandai_style"])
def test_directly_mapped_bones_keep_source_directions(fixture):
    motion = rig(fixture)
    result = retarget_bvh(motion, "auto", target_fps=None)
    src = motion.joint_positions()
    checked = 0
    for j, p in enumerate(T2M22.parents):
        if p < 0:
            continue
        a, b = result.mapping[NAMES[p]], result.mapping[NAMES[j]]
        if a not in motion.names or b not in motion.names:
            continue  # virtual joint or End Site
        source_bone = src[:, motion.index(b)] - src[:, motion.index(a)]
        target_bone = result.joints[:, j] - result.joints[:, p]
        cos = np.sum(source_bone * target_bone, -1) / np.linalg.norm(source_bone, axis=-1) / np.linalg.norm(target_bone, axis=-1)
        assert cos.min() > 0.999999, (NAMES[j], cos.min())
        checked += 1
    assert checked >= 17


def test_virtual_spine_joint_lies_on_a_source_bone_and_bones_stay_rigid():
    motion = rig("bandai_style")
    result = retarget_bvh(motion, "bandai", target_fps=None)
    src = motion.joint_positions() * 0.01
    hips, spine = (src[:, motion.index(n)] for n in ("Hips", "Spine"))
    spine1 = result.joints[:, NAMES.index("spine1")]
    np.testing.assert_allclose(spine1, hips + 8.88 / 15 * (spine - hips), atol=1e-12)  # every frame
    bones = result.joints[:, 1:] - result.joints[:, T2M22.parents[1:]]
    lengths = np.linalg.norm(bones, axis=-1)
    np.testing.assert_allclose(lengths, np.broadcast_to(lengths[0], lengths.shape), atol=1e-12)
    assert SPINE_FRACTIONS == (0.37, 0.80)


MINI_RIG = """HIERARCHY
ROOT Pelvis
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT L_Thigh
  {
    OFFSET 0.1 -0.05 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT L_Knee
    {
      OFFSET 0 -0.4 0
      CHANNELS 3 Zrotation Xrotation Yrotation
      JOINT L_Ankle
      {
        OFFSET 0 -0.4 0
        CHANNELS 3 Zrotation Xrotation Yrotation
        End Site
        {
          OFFSET 0 -0.05 0.12
        }
      }
    }
  }
  JOINT R_Thigh
  {
    OFFSET -0.1 -0.05 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT R_Knee
    {
      OFFSET 0 -0.4 0
      CHANNELS 3 Zrotation Xrotation Yrotation
      JOINT R_Ankle
      {
        OFFSET 0 -0.4 0
        CHANNELS 3 Zrotation Xrotation Yrotation
        End Site
        {
          OFFSET 0 -0.05 0.12
        }
      }
    }
  }
  JOINT Torso
  {
    OFFSET 0 0.4 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT Head
    {
      OFFSET 0 0.3 0
      CHANNELS 3 Zrotation Xrotation Yrotation
    }
    JOINT L_UpperArm
    {
      OFFSET 0.2 0.1 0
      CHANNELS 3 Zrotation Xrotation Yrotation
      JOINT L_Elbow
      {
        OFFSET 0.3 0 0
        CHANNELS 3 Zrotation Xrotation Yrotation
        JOINT L_Wrist
        {
          OFFSET 0.25 0 0
          CHANNELS 3 Zrotation Xrotation Yrotation
        }
      }
    }
    JOINT R_UpperArm
    {
      OFFSET -0.2 0.1 0
      CHANNELS 3 Zrotation Xrotation Yrotation
      JOINT R_Elbow
      {
        OFFSET -0.3 0 0
        CHANNELS 3 Zrotation Xrotation Yrotation
        JOINT R_Wrist
        {
          OFFSET -0.25 0 0
          CHANNELS 3 Zrotation Xrotation Yrotation
        }
      }
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.1
0 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
0 1 0 0 0 90 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
"""


def test_auto_mapping_creates_virtual_neck_collars_spine_and_uses_end_sites():
    """No neck, no collars, no toes, a single torso joint: all made virtual, documented fractions."""
    motion = parse_bvh(MINI_RIG)
    result = retarget_bvh(motion, "auto", target_fps=None, units="m")
    got = as_dict(result.joints[0])
    assert result.mapping["left_foot"] == "EndSite(L_Ankle)"
    np.testing.assert_allclose(got["left_foot"], [0.1, 1 - 0.05 - 0.8 - 0.05, 0.12], atol=1e-12)
    assert result.mapping["neck"].startswith("Along(Torso→Head")
    np.testing.assert_allclose(got["neck"], [0, 1.4 + 0.15, 0], atol=1e-12)  # half-way Torso → Head
    collar = np.array([0.0, 1.4, 0]) + 0.42 * np.array([0.2, 0.1, 0])
    np.testing.assert_allclose(got["left_collar"], collar, atol=1e-12)
    np.testing.assert_allclose(got["spine1"], [0, 1 + 0.37 * 0.4, 0], atol=1e-12)
    np.testing.assert_allclose(got["spine3"], [0, 1.4, 0], atol=1e-12)
    assert result.mapping["left_hip"] == "L_Thigh" and result.mapping["left_knee"] == "L_Knee"
    # frame 1: pelvis yawed 90° about Y → the End-Site toe turns with the ankle: (0.12 forward → +X)
    np.testing.assert_allclose(as_dict(result.joints[1])["left_foot"], [0.12, 0.1, -0.1], atol=1e-12)


def test_dict_mapping_overrides_and_fills_the_rest():
    motion = rig("bandai_style")
    result = retarget_bvh(motion, {"spine1": "Spine", "spine2": Along("Spine", "Chest", 0.5),
                                   "left_foot": EndSite("Toes_L")}, target_fps=None)
    got = as_dict(result.joints[0])
    np.testing.assert_allclose(got["spine1"], [0, 1.10, 0], atol=1e-12)
    np.testing.assert_allclose(got["spine2"], [0, 1.145, 0], atol=1e-12)
    np.testing.assert_allclose(got["left_foot"], [0.09, 0.01, 0.12], atol=1e-12)  # Toes_L End Site (0, 0, 0)
    assert result.mapping["spine3"] == "Chest" and result.mapping["left_knee"] == "LowerLeg_L"
    full = {name: value for name, value in PRESETS["bandai"].items()}
    np.testing.assert_array_equal(retarget_to_t2m(motion, full, None), retarget_to_t2m(motion, "bandai", None))


@pytest.mark.parametrize("mapping, fragment", [
    ("vicon", "unknown mapping 'vicon'"),
    (42, "must be 'auto', a preset name or a dict"),
    ({"left_toe": "Toes_L"}, "unknown target joint(s) ['left_toe']"),
    ({"left_knee": "Knee_L"}, "'Knee_L' is not in the skeleton"),
    ({"left_knee": 3}, "unsupported value"),
    ({"spine1": Along("Chest", "Hips", 0.5)}, "needs 'Chest' to be an ancestor of 'Hips'"),
    ({"spine1": Along("Hips", "Chest", 1.5)}, "fraction 1.5 must be in [0, 1]"),
    ({"left_foot": EndSite("Hips")}, "EndSite(Hips) is not in the skeleton"),
])
def test_mapping_errors(mapping, fragment):
    with pytest.raises(RetargetError) as exc:
        resolve_mapping(rig("bandai_style"), mapping)
    assert fragment in str(exc.value)


def test_missing_required_joint_is_named():
    with pytest.raises(RetargetError) as exc:
        retarget_bvh(rig("cmu_style"), "mixamo")
    assert "'spine3'" in str(exc.value) and "'Spine2'" in str(exc.value)
    with pytest.raises(RetargetError) as exc:
        retarget_bvh(rig("mixamo_style"), "bandai")
    assert "'left_hip'" in str(exc.value) and "UpperLeg_L" in str(exc.value)
    no_hand = parse_bvh(MINI_RIG.replace("L_Wrist", "L_Prop"))
    with pytest.raises(RetargetError) as exc:
        retarget_bvh(no_hand, "auto")
    assert "required joint 'left_wrist'" in str(exc.value) and "left side" in str(exc.value)
    no_head = parse_bvh(MINI_RIG.replace("JOINT Head", "JOINT Skull"))
    with pytest.raises(RetargetError, match="required joint 'head'"):
        retarget_bvh(no_head, "auto")
    no_toe = parse_bvh(MINI_RIG.replace("""        End Site
        {
          OFFSET 0 -0.05 0.12
        }
""", "", 1))
    with pytest.raises(RetargetError, match="required joint 'left_foot'"):
        retarget_bvh(no_toe, "auto")


# ------------------------------------------------------------------------------------------ units, axes
def test_units_options():
    motion = rig("mixamo_style")
    base = retarget_to_t2m(motion, target_fps=None)  # auto → cm
    np.testing.assert_allclose(retarget_to_t2m(motion, target_fps=None, units="cm"), base)
    np.testing.assert_allclose(retarget_to_t2m(motion, target_fps=None, units="m"), base * 100)
    np.testing.assert_allclose(retarget_to_t2m(motion, target_fps=None, units="inches"), base * 2.54)
    np.testing.assert_allclose(retarget_to_t2m(motion, target_fps=None, units=0.001), base * 0.1)
    for bad in ("furlong", -1.0, float("nan")):
        with pytest.raises(RetargetError, match="units"):
            retarget_to_t2m(motion, units=bad)
    # the same rig in metres and millimetres is detected as such
    assert retarget_bvh(motion.scaled(0.01), target_fps=None).units == "m"
    assert retarget_bvh(motion.scaled(10), target_fps=None).units == "mm"


def _tilted(motion: BVHMotion, x_degrees: float) -> BVHMotion:
    """Bandai-style rig with the whole body turned about X via joint_Root's Xrotation channel."""
    out = motion.copy()
    out.values[:, motion.channels[0].index("Xrotation")] = x_degrees
    return out


@pytest.mark.parametrize("degrees, detected", [(90.0, "Z"), (-90.0, "-Z"), (180.0, "-Y")])
def test_up_axis_conversion(degrees, detected):
    motion = rig("bandai_style")
    upright = retarget_to_t2m(motion, target_fps=None)
    tilted = _tilted(motion, degrees)
    result = retarget_bvh(tilted, target_fps=None)
    assert result.up_axis == detected
    np.testing.assert_allclose(result.joints, upright, atol=1e-12)
    np.testing.assert_allclose(retarget_to_t2m(tilted, target_fps=None, up_axis=detected.lower()), upright,
                               atol=1e-12)
    assert np.isclose(np.linalg.det(result.axis_rotation), 1.0)


def test_up_axis_x_and_errors():
    motion = rig("bandai_style")
    out = motion.copy()
    out.values[:, motion.channels[0].index("Zrotation")] = -90.0  # body up → +X
    result = retarget_bvh(out, target_fps=None)
    assert result.up_axis == "X"
    np.testing.assert_allclose(result.joints, retarget_to_t2m(motion, target_fps=None), atol=1e-12)
    with pytest.raises(RetargetError, match="up_axis"):
        retarget_to_t2m(motion, up_axis="W")


# ------------------------------------------------------------------------------------------ resampling
@pytest.mark.parametrize("num_frames, source, target", [(213, 30, 20), (121, 120, 20), (50, 24, 20), (40, 20, 20),
                                                        (37, 25, 30), (7, 60, 20)])
def test_resampling_keeps_duration(num_frames, source, target):
    rot = np.tile([1.0, 0, 0, 0], (num_frames, 2, 1))
    trans = np.zeros((num_frames, 2, 3))
    r, t = resample_local(rot, trans, source, target)
    assert len(r) == len(t) == round(num_frames * target / source)
    assert abs(len(r) / target - num_frames / source) <= 0.5 / target + 1e-12


def test_resampling_linear_translation_and_constant_rate_slerp():
    num_frames, source, target = 31, 30.0, 20.0
    time_s = np.arange(num_frames) / source
    angle = np.radians(40.0) * time_s * source / 3  # ~13° per frame about Y
    rot = np.stack([np.cos(angle / 2), 0 * angle, np.sin(angle / 2), 0 * angle], -1)[:, None]
    trans = np.stack([2.0 * time_s, 1 + 0 * time_s, -time_s], -1)[:, None]
    r, t = resample_local(rot, trans, source, target)
    new_time = np.minimum(np.arange(len(r)) / target, (num_frames - 1) / source)
    np.testing.assert_allclose(t[:, 0], np.stack([2.0 * new_time, 1 + 0 * new_time, -new_time], -1), atol=1e-12)
    expect = np.radians(40.0) * new_time * source / 3
    got = 2 * np.arctan2(r[:, 0, 2], r[:, 0, 0])
    np.testing.assert_allclose(np.angle(np.exp(1j * (got - expect))), 0.0, atol=1e-12)  # equal modulo 2π
    with pytest.raises(RetargetError, match="positive"):
        resample_local(rot, trans, 0, 20)
    with pytest.raises(RetargetError, match="no frames"):
        resample_local(rot[:0], trans[:0], 30, 20)
    single_r, single_t = resample_local(rot[:1], trans[:1], 30, 60)
    assert len(single_r) == 2 and np.allclose(single_t, trans[:1])


def test_retarget_30_to_20_fps_keeps_duration_and_samples_source():
    motion = rig("mixamo_style")  # 3 frames at 30 fps (frame time 0.0333333)
    many = motion.copy()
    rng = np.random.default_rng(0)
    many.values = np.repeat(motion.values, 30, axis=0)[:90] + rng.normal(size=(90, motion.num_channels)) * 2
    result = retarget_bvh(many, "mixamo", target_fps=20)
    assert result.source_fps == 30.0 and result.fps == 20.0
    assert len(result.joints) == 60 and math.isclose(len(result.joints) / 20, 90 / 30)
    # every second target frame is a source frame (times 0, 0.1, 0.2 s ↔ frames 0, 3, 6)
    same_rate = retarget_bvh(many, "mixamo", target_fps=None)
    np.testing.assert_allclose(result.joints[::2], same_rate.joints[::3], atol=1e-12)
    # the exposed local rotations/translations give the joints back through FK
    pos, _ = forward_kinematics(result.local_rotations, result.local_translations[:, 0],
                                result.local_translations, many.parents.tolist())
    direct = [many.index(result.mapping[n]) for n in ("pelvis", "left_knee", "head")]
    np.testing.assert_allclose(pos[:, direct] @ result.axis_rotation.T,
                               result.joints[:, [NAMES.index(n) for n in ("pelvis", "left_knee", "head")]],
                               atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(result.local_rotations, axis=-1), 1.0, atol=1e-12)


def test_resample_motion_keeps_layout_and_matches_retarget():
    motion = rig("mixed")
    out = resample_motion(motion, 15)
    assert out.frame_time == pytest.approx(1 / 15) and out.num_frames == 1
    big = rig("bandai_style")
    big.values = np.repeat(big.values, 10, axis=0)
    res = resample_motion(big, 20)
    assert res.channels == big.channels and res.num_frames == round(20 * 20 / 30)
    rot, trans = resample_local(big.rotations(), big.local_translations(), 30.0, 20.0)
    ref, _ = forward_kinematics(rot, trans[:, 0], trans, big.parents.tolist())
    np.testing.assert_allclose(res.joint_positions(), ref, atol=1e-9)


def test_retarget_input_validation():
    with pytest.raises(RetargetError, match="expects a BVHMotion"):
        retarget_bvh("file.bvh")  # type: ignore[arg-type]
    empty = rig("simple")
    empty.values = empty.values[:0]
    with pytest.raises(RetargetError, match="no frames"):
        retarget_bvh(empty)
    with pytest.raises(RetargetError, match="target_fps"):
        retarget_bvh(rig("bandai_style"), target_fps=0)


# ------------------------------------------------------------------------------------------ round trip
@pytest.mark.parametrize("scale", [100.0, 1.0])
def test_export_then_retarget_is_identity(scale):
    """Our own export uses SMPL joint names: auto mapping finds every joint and gives the motion back."""
    rng = np.random.default_rng(1)
    from test_bvh_export import rigid_motion

    joints = rigid_motion(num_frames=30, seed=int(rng.integers(100)))
    motion = joints_to_bvh(joints, scale=scale)
    result = retarget_bvh(motion, "auto", target_fps=20, up_axis="Y")  # random poses: body not upright
    assert result.mapping == {n: n for n in NAMES}
    assert result.units == ("cm" if scale == 100 else "m")
    np.testing.assert_allclose(result.joints, joints, atol=1e-9)


# ------------------------------------------------------------------------------------------ real data
BANDAI_CLIP = "dataset-1_walk_happy_001.bvh"


@pytest.fixture(scope="module")
def bandai_texts(bandai_dir) -> dict[str, str]:
    texts = {}
    with tarfile.open(bandai_dir / "Bandai-Namco-Research-Motiondataset-1.tar.gz", "r:gz") as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".bvh"):
                texts[Path(member.name).name] = tar.extractfile(member).read().decode("utf-8")
    return texts


@pytest.mark.bandai
def test_bandai_retarget_preserves_bone_directions_and_duration(bandai_texts):
    motion = parse_bvh(bandai_texts[BANDAI_CLIP], source=BANDAI_CLIP)
    assert motion.fps == pytest.approx(30, rel=1e-5) and motion.num_joints == 22
    src = motion.joint_positions()  # (T, 22, 3) cm at 30 fps
    for fps in (None, 20):
        result = retarget_bvh(motion, "bandai", target_fps=fps)
        assert result.units == "cm" and result.up_axis == "Y"
        if fps is None:
            reference = src
        else:  # source positions at the target times, linearly interpolated
            assert len(result.joints) == round(motion.num_frames * 20 / 30)
            assert abs(len(result.joints) / 20 - motion.num_frames / 30) <= 0.5 / 20
            t = np.minimum(np.arange(len(result.joints)) * 1.5, motion.num_frames - 1)
            i0 = np.minimum(np.floor(t).astype(int), motion.num_frames - 2)
            w = (t - i0)[:, None, None]
            reference = src[i0] * (1 - w) + src[i0 + 1] * w
        worst = 1.0
        for j, p in enumerate(T2M22.parents):
            if p < 0:
                continue
            a, b = result.mapping[NAMES[p]], result.mapping[NAMES[j]]
            if a not in motion.names or b not in motion.names:
                continue
            ref = reference[:, motion.index(b)] - reference[:, motion.index(a)]
            got = result.joints[:, j] - result.joints[:, p]
            cos = np.sum(ref * got, -1) / np.linalg.norm(ref, axis=-1) / np.linalg.norm(got, axis=-1)
            worst = min(worst, float(cos.min()))
        assert worst >= 0.99, worst
        if fps is None:
            assert worst > 0.999999
            direct = [i for i, n in enumerate(NAMES) if result.mapping[n] in motion.names]
            source_idx = [motion.index(result.mapping[NAMES[i]]) for i in direct]
            np.testing.assert_allclose(result.joints[:, direct], src[:, source_idx] * 0.01, atol=1e-12)
        else:  # even target frames coincide with source frames 0, 3, 6, ...
            full = retarget_bvh(motion, "bandai", target_fps=None).joints
            np.testing.assert_allclose(result.joints[::2], full[::3][: len(result.joints[::2])], atol=1e-9)


@pytest.mark.bandai
def test_bandai_dataset1_every_clip_parses_round_trips_and_auto_maps(bandai_texts):
    assert len(bandai_texts) == 174
    for name, text in sorted(bandai_texts.items()):
        motion = parse_bvh(text, source=name)
        assert motion.num_joints == 22 and all(len(c) == 6 for c in motion.channels)
        again = parse_bvh(motion.to_text())
        np.testing.assert_array_equal(again.values, motion.values)
        assert resolve_mapping(motion, "auto") == resolve_mapping(motion, "bandai"), name


# ------------------------------------------------------------------------------------------ CMU rigs
CMU_UNIT = 0.0254 / 0.45  # metres per unit of the CMU ASF/AMC files and their BVH conversions


def _bvh_text(tree: tuple, num_frames: int, seed: int, unit: float) -> str:
    """A BVH file (Y up, ZYX rotation channels, positions on the root) of ``tree`` = (name, offset in metres,
    children) with random joint rotations after a rest frame, in file units of ``unit`` metres."""
    lines, count = ["HIERARCHY"], [0]

    def emit(node, depth, root=False):
        name, offset, children = node
        pad = "\t" * depth
        lines.append(f"{pad}{'ROOT' if root else 'JOINT'} {name}")
        lines.append(pad + "{")
        lines.append(f"{pad}\tOFFSET " + " ".join(f"{v / unit:.6f}" for v in offset))
        chans = "6 Xposition Yposition Zposition" if root else "3"
        lines.append(f"{pad}\tCHANNELS {chans} Zrotation Yrotation Xrotation")
        count[0] += 6 if root else 3
        for child in children:
            if child[0] == "End Site":
                lines.append(f"{pad}\tEnd Site\n{pad}\t{{\n{pad}\t\tOFFSET "
                             + " ".join(f"{v / unit:.6f}" for v in child[1]) + f"\n{pad}\t}}")
            else:
                emit(child, depth + 1)
        lines.append(pad + "}")

    emit(tree, 0, root=True)
    rng = np.random.default_rng(seed)
    values = rng.normal(0, 15, (num_frames, count[0]))
    values[:, :3] = np.array([0.1, 0.95, 0.2]) / unit + rng.normal(0, 0.02, (num_frames, 3)) / unit
    values[0, 3:] = 0.0  # rest pose first
    lines += ["MOTION", f"Frames: {num_frames}", "Frame Time: 0.008333"]
    lines += [" ".join(f"{v:.6f}" for v in row) for row in values]
    return "\n".join(lines) + "\n"


def _leg(side: str, names: tuple[str, ...], x: float) -> tuple:
    hip, knee, ankle, toe = names
    return (hip, (x, -0.05, 0.0), [(knee, (0.0, -0.41, 0.0), [(ankle, (0.0, -0.42, 0.0), [
        (toe, (0.0, -0.06, 0.13), [("End Site", (0.0, 0.0, 0.05))])])])])


def _arm(names: tuple[str, ...], s: float, collar_offset) -> tuple:
    collar, shoulder, elbow, wrist = names
    return (collar, collar_offset, [(shoulder, (s * 0.15, 0.0, 0.0), [(elbow, (s * 0.28, 0.0, 0.0), [
        (wrist, (s * 0.25, 0.0, 0.0), [("End Site", (s * 0.08, 0.0, 0.0))])])])])


# the naming of the most common public CMU conversion (helper hip joints, LowerBack/Spine/Spine1, Neck1)
CMU_UPLEG = ("Hips", (0.0, 0.0, 0.0), [
    ("LHipJoint", (0.0, 0.0, 0.0), [_leg("L", ("LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase"), 0.09)]),
    ("RHipJoint", (0.0, 0.0, 0.0), [_leg("R", ("RightUpLeg", "RightLeg", "RightFoot", "RightToeBase"), -0.09)]),
    ("LowerBack", (0.0, 0.02, 0.0), [("Spine", (0.0, 0.12, 0.0), [("Spine1", (0.0, 0.13, 0.0), [
        ("Neck", (0.0, 0.14, 0.0), [("Neck1", (0.0, 0.05, 0.0), [("Head", (0.0, 0.05, 0.0), [("End Site", (0.0, 0.1, 0.0))])])]),
        _arm(("LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand"), 1.0, (0.03, 0.1, 0.0)),
        _arm(("RightShoulder", "RightArm", "RightForeArm", "RightHand"), -1.0, (-0.03, 0.1, 0.0)),
    ])])]),
])
# the other common naming (LeftHip/LeftKnee/LeftAnkle/LeftToe, Chest…Chest4, LeftCollar/LeftShoulder/LeftElbow)
CMU_HIP = ("Hips", (0.0, 0.0, 0.0), [
    _leg("L", ("LeftHip", "LeftKnee", "LeftAnkle", "LeftToe"), 0.09),
    _leg("R", ("RightHip", "RightKnee", "RightAnkle", "RightToe"), -0.09),
    ("Chest", (0.0, 0.1, 0.0), [("Chest2", (0.0, 0.1, 0.0), [("Chest3", (0.0, 0.06, 0.0), [("Chest4", (0.0, 0.06, 0.0), [
        ("Neck", (0.0, 0.14, 0.0), [("Head", (0.0, 0.09, 0.0), [("End Site", (0.0, 0.1, 0.0))])]),
        _arm(("LeftCollar", "LeftShoulder", "LeftElbow", "LeftWrist"), 1.0, (0.03, 0.08, 0.0)),
        _arm(("RightCollar", "RightShoulder", "RightElbow", "RightWrist"), -1.0, (-0.03, 0.08, 0.0)),
    ])])])]),
])
CMU_NAMINGS = {
    "upleg": (CMU_UPLEG, {"left_hip": "LeftUpLeg", "left_knee": "LeftLeg", "left_ankle": "LeftFoot",
                          "left_foot": "LeftToeBase", "left_collar": "LeftShoulder", "left_shoulder": "LeftArm",
                          "left_elbow": "LeftForeArm", "left_wrist": "LeftHand", "spine3": "Spine1"}),
    "hip": (CMU_HIP, {"left_hip": "LeftHip", "left_knee": "LeftKnee", "left_ankle": "LeftAnkle",
                      "left_foot": "LeftToe", "left_collar": "LeftCollar", "left_shoulder": "LeftShoulder",
                      "left_elbow": "LeftElbow", "left_wrist": "LeftWrist", "spine3": "Chest4"}),
}


def _rest_position(tree: tuple, name: str, origin=(0.0, 0.0, 0.0)):
    """World rest position (metres) of joint ``name`` relative to the root, from the OFFSETs."""
    here = np.asarray(origin) + np.asarray(tree[1])
    if tree[0] == name:
        return here
    for child in tree[2]:
        if child[0] != "End Site":
            found = _rest_position(child, name, here)
            if found is not None:
                return found
    return None


@pytest.mark.parametrize("naming", list(CMU_NAMINGS))
def test_cmu_rigs_in_cmu_units_with_both_namings(naming):
    """CMU BVH conversions are in the CMU unit (1/0.45 inch): detected as such (not inches, which made a
    0.6 m figure), and the ``cmu`` preset reads both namings like the automatic mapping."""
    tree, expected = CMU_NAMINGS[naming]
    motion = parse_bvh(_bvh_text(tree, 12, seed=len(naming), unit=CMU_UNIT))
    auto = retarget_bvh(motion, "auto", target_fps=None)
    preset = retarget_bvh(motion, "cmu", target_fps=None)
    assert auto.units == preset.units == "cmu"
    assert preset.units_to_metres == pytest.approx(CMU_UNIT)
    for target, source in expected.items():
        assert preset.mapping[target] == source, target
        if target.startswith("left_"):
            assert preset.mapping["right_" + target[5:]] == source.replace("Left", "Right"), target
    np.testing.assert_allclose(preset.joints, auto.joints, atol=1e-12)
    # the rest frame in metres: the OFFSETs written above, root at its position channels
    root = motion.values[0, :3] * CMU_UNIT
    for target in ("left_wrist", "right_ankle", "head", "left_shoulder"):
        source = preset.mapping[target]
        np.testing.assert_allclose(preset.joints[0, NAMES.index(target)],
                                   root + _rest_position(tree, source), atol=1e-5, err_msg=target)
    height = preset.joints[0, NAMES.index("head"), 1] - preset.joints[0, NAMES.index("left_ankle"), 1]
    assert 1.2 < height < 1.8
    # read as inches the same file is a 0.6 m figure: the CMU unit is what "auto" must pick
    small = retarget_to_t2m(motion, "cmu", target_fps=None, units="inch")
    np.testing.assert_allclose(small, preset.joints * 0.45, atol=1e-9)


def test_cmu_unit_option_and_inch_rigs_stay_inches():
    motion = parse_bvh(_bvh_text(CMU_HIP, 3, seed=0, unit=CMU_UNIT))
    np.testing.assert_allclose(retarget_to_t2m(motion, target_fps=None, units="cmu"),
                               retarget_to_t2m(motion, target_fps=None), atol=0)
    inch = parse_bvh(_bvh_text(CMU_HIP, 3, seed=0, unit=0.0254))
    result = retarget_bvh(inch, "cmu", target_fps=None)
    assert result.units == "inch"
    np.testing.assert_allclose(result.joints, retarget_bvh(motion, "cmu", target_fps=None).joints, atol=1e-5)
