"""Procedural motions (unimotion.data.synthetic): determinism, physical plausibility, semantics, captions,
and the HumanML3D-format writer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from unimotion.data import synthetic as S
from unimotion.errors import InputError
from unimotion.motion.skeletons import T2M22

FOOT_JOINTS = {7, 8, 10, 11}
GROUNDED = ("walk", "walk_backward", "turn_left", "turn_right", "wave_left", "wave_right", "raise_both_hands",
            "squat", "kick", "bow")
NORMAL = {"speed": 1.0, "amplitude": 1.0, "style": "normal"}


@pytest.fixture(scope="module")
def motions() -> dict[str, S.SyntheticMotion]:
    return {kind: S.make_motion(kind, 120, seed=3) for kind in S.KINDS}


def _facing(joints: np.ndarray) -> np.ndarray:
    """(T, 3) unit forward directions from hips and shoulders (computed here, independently of the codec)."""
    across = (joints[:, 2] - joints[:, 1]) + (joints[:, 17] - joints[:, 16])  # right - left
    forward = np.cross(np.array([0.0, 1.0, 0.0]), across)
    return forward / np.linalg.norm(forward, axis=-1, keepdims=True)


def _yaw_deg(forward: np.ndarray) -> np.ndarray:
    """Heading angle from +Z towards +X (the body's left), degrees."""
    return np.degrees(np.arctan2(forward[..., 0], forward[..., 2]))


# ------------------------------------------------------------------------------------------ determinism
def test_same_seed_same_motion_other_seed_other_motion():
    a = S.make_motion("walk", 60, seed=11)
    b = S.make_motion("walk", 60, seed=11)
    c = S.make_motion("walk", 60, seed=12)
    np.testing.assert_array_equal(a.joints, b.joints)
    assert a.captions == b.captions and a.params == b.params
    assert not np.allclose(a.joints, c.joints)
    # a given variation does not change the other draws
    d = S.make_motion("walk", 60, seed=11, style=a.params["style"])
    np.testing.assert_array_equal(a.joints, d.joints)


def test_shapes_dtype_and_params(motions):
    for kind, m in motions.items():
        assert m.kind == kind
        assert m.joints.shape == (120, 22, 3) and m.joints.dtype == np.float32
        assert np.isfinite(m.joints).all()
        assert m.fps == 20.0
        json.dumps(m.params)  # JSON-serialisable


# ------------------------------------------------------------------------------------------ plausibility
def test_bone_lengths_are_constant_and_match_the_rest_skeleton(motions):
    parents = T2M22.parents
    rest = np.linalg.norm(S.REST_OFFSETS[1:], axis=-1)
    for kind, m in motions.items():
        bones = np.linalg.norm(m.joints[:, 1:] - m.joints[:, parents[1:]], axis=-1)  # (T, 21)
        np.testing.assert_allclose(bones, np.broadcast_to(rest, bones.shape), atol=1e-5, err_msg=kind)


def test_rest_skeleton_proportions():
    from unimotion.motion.skeleton import forward_kinematics

    quat = np.zeros((22, 4))
    quat[:, 0] = 1
    pos, _ = forward_kinematics(quat, np.zeros(3), S.REST_OFFSETS, T2M22.parents.tolist())
    pos -= pos[:, 1].min() * np.array([0, 1, 0])
    assert pos[10, 1] == pytest.approx(0.0) and pos[11, 1] == pytest.approx(0.0)  # toes on the floor
    assert 1.5 < pos[15, 1] < 1.65  # head joint of a ~1.68 m adult
    assert pos[16, 0] > 0.15 and pos[17, 0] < -0.15  # left shoulder on +X
    assert pos[10, 2] > pos[7, 2]  # feet point forward (+Z)


@pytest.mark.parametrize("kind", GROUNDED)
def test_grounded_kinds_stand_on_the_floor(kind, motions):
    j = motions[kind].joints
    lowest = j[..., 1].min(axis=1)
    np.testing.assert_allclose(lowest, 0.0, atol=1e-5)
    assert set(np.argmin(j[..., 1], axis=1).tolist()) <= FOOT_JOINTS  # only feet touch the floor


@pytest.mark.parametrize("kind", ["run", "jump"])
def test_airborne_kinds_leave_and_touch_the_floor(kind):
    m = S.make_motion(kind, 120, seed=3, **NORMAL)
    lowest = m.joints[..., 1].min(axis=1)
    assert lowest.min() > -1e-5 and lowest.min() < 1e-4  # never below, sometimes on the floor
    assert lowest.max() > (0.005 if kind == "run" else 0.15)  # flight phases
    assert lowest.max() < 0.7


def test_first_frame_faces_plus_z_at_the_origin(motions):
    for kind, m in motions.items():
        j = m.joints
        assert abs(_yaw_deg(_facing(j[:1]))[0]) < 10, kind
        np.testing.assert_allclose(j[0, 0, [0, 2]], 0.0, atol=1e-6)
        assert j[0, 1, 0] > j[0, 2, 0]  # left hip on +X


def test_supporting_foot_does_not_slide_when_walking():
    for kind in ("walk", "walk_backward", "turn_left", "run"):
        j = S.make_motion(kind, 160, seed=5, **NORMAL).joints
        toes = j[:, [10, 11]]
        speed = np.linalg.norm(np.diff(toes[..., [0, 2]], axis=0), axis=-1) * S.FPS  # (T-1, 2) m/s
        on_floor = (toes[1:, :, 1] < 0.003) & (toes[:-1, :, 1] < 0.003)
        assert on_floor.sum() > 40, kind
        assert np.median(speed[on_floor]) < 0.05, kind
        assert np.percentile(speed[on_floor], 90) < 0.5, kind


# ------------------------------------------------------------------------------------------ semantics
def test_locomotion_directions_and_speeds():
    walk = S.make_motion("walk", 120, seed=1, **NORMAL).joints
    back = S.make_motion("walk_backward", 120, seed=1, **NORMAL).joints
    run = S.make_motion("run", 120, seed=1, **NORMAL).joints
    slow = S.make_motion("walk", 120, seed=1, speed=0.6, amplitude=1.0, style="normal").joints
    d = {name: j[-1, 0] - j[0, 0] for name, j in (("walk", walk), ("back", back), ("run", run), ("slow", slow))}
    duration = 120 / S.FPS
    assert 0.6 < d["walk"][2] / duration < 1.8 and abs(d["walk"][0]) < 0.3  # forward along +Z
    assert d["back"][2] / duration < -0.3 and abs(d["back"][0]) < 0.3
    assert d["run"][2] > 1.6 * d["walk"][2]
    assert d["slow"][2] < 0.8 * d["walk"][2]
    # walking backwards keeps facing +Z
    assert np.abs(_yaw_deg(_facing(back))).max() < 25


@pytest.mark.parametrize("kind, sign", [("turn_left", 1), ("turn_right", -1)])
def test_turns(kind, sign):
    m = S.make_motion(kind, 140, seed=2, turn_angle=90.0, **NORMAL)
    heading = _yaw_deg(_facing(m.joints[-10:])).mean()
    assert sign * heading == pytest.approx(90.0, abs=15)  # turned left = towards +X
    path = m.joints[-1, 0] - m.joints[0, 0]
    assert sign * path[0] > 0.3 and path[2] > 0.3  # walked forward and curved to that side
    assert all(kind.split("_")[1] in c for c in m.captions)


@pytest.mark.parametrize("kind, side", [("wave_left", 0), ("wave_right", 1)])
def test_waves(kind, side):
    j = S.make_motion(kind, 100, seed=4, **NORMAL).joints
    wrist, other = (20, 21) if side == 0 else (21, 20)
    shoulder = 16 if side == 0 else 17
    head_y = j[:, 15, 1]
    assert (j[:, wrist, 1] > head_y).mean() > 0.4  # the waving hand is up above the head much of the time
    assert (j[:, other, 1] < j[:, 17 - side, 1] - 0.2).all()  # the other hand stays down
    lateral = (j[:, wrist, 0] - j[:, shoulder, 0])[j[:, wrist, 1] > head_y]
    sign_changes = np.count_nonzero(np.diff(np.sign(np.diff(lateral))) != 0)
    assert sign_changes >= 4  # the forearm swings side to side
    assert (np.sign(j[:, wrist, 0]) == (1 if side == 0 else -1)).all()  # on the body's own side


def test_raise_both_hands():
    for plane in ("front", "side"):
        j = S.make_motion("raise_both_hands", 100, seed=1, plane=plane, **NORMAL).joints
        mid = slice(40, 60)
        assert (j[mid, 20, 1] > j[mid, 15, 1] + 0.1).all() and (j[mid, 21, 1] > j[mid, 15, 1] + 0.1).all()
        assert (j[:3, 20, 1] < 1.0).all() and (j[-2:, 21, 1] < 1.0).all()  # down at start and end


def test_jump_squat_kick_bow():
    jump = S.make_motion("jump", 100, seed=1, reps=1, forward=0.0, **NORMAL).joints
    assert jump[:, 0, 1].max() - jump[0, 0, 1] > 0.12  # the pelvis rises
    assert jump[:, 0, 1].min() < jump[0, 0, 1] - 0.1  # after crouching
    assert np.linalg.norm(jump[-1, 0, [0, 2]]) < 0.1  # in place
    leap = S.make_motion("jump", 100, seed=1, reps=1, forward=0.6, **NORMAL).joints
    assert leap[-1, 0, 2] == pytest.approx(0.6, abs=0.15)

    squat = S.make_motion("squat", 100, seed=1, reps=1, **NORMAL).joints
    assert squat[0, 0, 1] - squat[:, 0, 1].min() > 0.25
    assert abs(squat[-1, 0, 1] - squat[0, 0, 1]) < 0.03

    for side, ankle, other in (("left", 7, 8), ("right", 8, 7)):
        m = S.make_motion("kick", 60, seed=1, side=side, reps=1, **NORMAL)
        kick = m.joints
        assert kick[:, ankle, 1].max() > 0.45 and kick[:, other, 1].max() < 0.1
        assert (kick[:, ankle, 2] - kick[:, 0, 2]).max() > 0.5  # the foot goes forward
        assert all(side in c for c in m.captions)

    bow = S.make_motion("bow", 80, seed=1, reps=1, **NORMAL).joints
    drop = bow[0, 15, 1] - bow[:, 15, 1].min()
    assert drop > 0.3 and (bow[:, 15, 2] - bow[:, 0, 2]).max() > 0.3  # the head goes down and forward
    assert abs(bow[-1, 15, 1] - bow[0, 15, 1]) < 0.05


def test_styles_change_the_motion():
    normal = S.make_motion("walk", 80, seed=1, speed=1.0, amplitude=1.0, style="normal").joints
    tired = S.make_motion("walk", 80, seed=1, speed=1.0, amplitude=1.0, style="tired").joints
    # tired: slower and the head hangs lower in front of the body
    assert tired[-1, 0, 2] < normal[-1, 0, 2]
    assert tired[:, 15, 1].mean() < normal[:, 15, 1].mean() - 0.02


# ------------------------------------------------------------------------------------------ captions
def test_captions_and_tokens(motions):
    for m in motions.values():
        assert 2 <= len(m.captions) <= 3 and len(set(m.captions)) == len(m.captions)
        assert len(m.tokens) == len(m.captions)
        for caption, tokens in zip(m.captions, m.tokens, strict=True):
            assert caption == caption.strip() and "  " not in caption and "{" not in caption
            words, toks = caption.split(" "), tokens.split(" ")
            assert len(words) == len(toks)
            for word, tok in zip(words, toks, strict=True):
                lemma, pos = tok.split("/")
                assert pos in S.POS_TAGS
                assert lemma == S.LEMMAS.get(word.lower(), word.lower())
        for line in m.text_lines():
            parts = line.split("#")
            assert len(parts) == 4 and parts[2:] == ["0.0", "0.0"]


def test_caption_words_follow_the_variation():
    slow = S.make_motion("walk", 60, seed=1, speed=0.5, style="normal")
    assert "slowly" in slow.captions[0]
    fast = S.make_motion("run", 60, seed=1, speed=1.6, style="normal")
    assert any(w in fast.captions[0] for w in ("quickly", "fast"))
    plain = S.make_motion("walk", 60, seed=1, speed=1.0, style="normal")
    assert not any(w in " ".join(plain.captions) for w in ("slowly", "quickly", "fast"))
    twice = S.make_motion("squat", 120, seed=1, reps=2)
    assert all("twice" in c for c in twice.captions)
    assert "walk" in plain.captions[0] or "steps" in plain.captions[0]
    happy = S.make_motion("bow", 60, seed=2, style="happy")
    assert all(any(w in c for w in ("happy", "happily", "cheerfully")) for c in happy.captions)


# ------------------------------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"kind": "dance"}, "unknown motion kind"),
        ({"kind": "walk", "num_frames": 5}, "num_frames"),
        ({"kind": "walk", "num_frames": 40.5}, "num_frames"),
        ({"kind": "walk", "reps": 2}, "unknown variation"),
        ({"kind": "walk", "style": "sleepy"}, "unknown style"),
        ({"kind": "walk", "speed": 0.0}, "speed"),
        ({"kind": "squat", "reps": 0}, "reps"),
        ({"kind": "kick", "side": "middle"}, "side"),
        ({"kind": "raise_both_hands", "plane": "back"}, "plane"),
    ],
)
def test_bad_arguments(kwargs, match):
    kwargs = dict(kwargs)
    kind = kwargs.pop("kind")
    num_frames = kwargs.pop("num_frames", 40)
    with pytest.raises(InputError, match=match):
        S.make_motion(kind, num_frames, 0, **kwargs)


def test_make_dataset():
    data = S.make_dataset(26, seed=4, min_frames=40, max_frames=60)
    assert len(data) == 26
    assert {m.kind for m in data[:12]} == set(S.KINDS)  # every kind once per round
    assert all(40 <= m.num_frames <= 60 for m in data)
    again = S.make_dataset(26, seed=4, min_frames=40, max_frames=60)
    assert all(np.array_equal(a.joints, b.joints) and a.captions == b.captions for a, b in zip(data, again, strict=True))
    other = S.make_dataset(26, seed=5, min_frames=40, max_frames=60)
    assert any(a.kind != b.kind or a.num_frames != b.num_frames for a, b in zip(data, other, strict=True))
    assert {m.kind for m in S.make_dataset(4, seed=0, kinds=["bow", "kick"])} == {"bow", "kick"}
    with pytest.raises(InputError):
        S.make_dataset(2, kinds=["fly"])
    with pytest.raises(InputError):
        S.make_dataset(2, min_frames=50, max_frames=40)


# ------------------------------------------------------------------------------------------ writer
@pytest.fixture(scope="module")
def hml_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("hml") / "synthetic"
    return S.write_humanml3d(root, 10, seed=1, with_269=True)


def test_writer_layout_and_contents(hml_dir):
    from unimotion.motion import hml3d

    ids = [f"{i:06d}" for i in range(10)]
    assert (hml_dir / "all.txt").read_text().split() == ids
    train, val, test = ((hml_dir / f"{s}.txt").read_text().split() for s in ("train", "val", "test"))
    assert len(train) == 8 and len(val) == 1 and len(test) == 1
    assert sorted(train + val + test) == ids
    assert (hml_dir / "train_val.txt").read_text().split() == sorted(train + val)
    mean, std = np.load(hml_dir / "Mean.npy"), np.load(hml_dir / "Std.npy")
    assert mean.shape == std.shape == (263,) and (std > 0).all()
    vecs_train = np.concatenate([np.load(hml_dir / "new_joint_vecs" / f"{i}.npy") for i in train])
    np.testing.assert_allclose(mean, vecs_train.mean(0), rtol=1e-4, atol=1e-5)  # train-split statistics
    assert np.load(hml_dir / "new_joint_vecs_269" / "Mean.npy").shape == (269,)
    meta = json.loads((hml_dir / "synthetic.json").read_text())
    for mid in ids:
        vecs = np.load(hml_dir / "new_joint_vecs" / f"{mid}.npy")
        joints = np.load(hml_dir / "new_joints" / f"{mid}.npy")
        assert vecs.dtype == np.float32 and vecs.shape[1] == 263
        assert 40 <= vecs.shape[0] <= 196  # HumanML3D loaders keep 40 <= T < 200
        assert joints.shape == (vecs.shape[0], 22, 3)
        np.testing.assert_allclose(joints, hml3d.features_to_joints(vecs), atol=1e-5)  # as HumanML3D stores them
        assert np.load(hml_dir / "new_joint_vecs_269" / f"{mid}.npy").shape == (vecs.shape[0], 269)
        assert meta["motions"][mid]["num_frames"] == vecs.shape[0] + 1
        lines = (hml_dir / "texts" / f"{mid}.txt").read_text().splitlines()
        assert 2 <= len(lines) <= 3
        for line in lines:
            caption, tokens, start, end = line.split("#")
            assert start == end == "0.0" and len(caption.split()) == len(tokens.split())


def test_writer_output_is_read_by_the_humanml3d_reader(hml_dir):
    from unimotion.data.humanml3d import HumanML3DReader

    reader = HumanML3DReader(hml_dir, "train")
    assert len(reader) == 8 and reader.feature_dim == 263
    assert all(2 <= len(r.captions) <= 3 for r in reader.records)
    assert reader.stats().dim == 263
    assert HumanML3DReader(hml_dir, "test", feature_dir="new_joint_vecs_269").stats().dim == 269


def test_writer_is_deterministic_and_refuses_to_overwrite(hml_dir, tmp_path):
    again = S.write_humanml3d(tmp_path / "again", 10, seed=1, with_269=True)
    for name in ("Mean.npy", "Std.npy", "train.txt", "synthetic.json", "texts/000003.txt", "new_joint_vecs/000004.npy"):
        assert (again / name).read_bytes() == (hml_dir / name).read_bytes(), name
    with pytest.raises(InputError, match="exists"):
        S.write_humanml3d(again, 3)
    S.write_humanml3d(again, 3, seed=2, overwrite=True)
    assert (again / "all.txt").read_text().split() == ["000000", "000001", "000002"]


def test_writer_joints_only(tmp_path):
    motions = [S.make_motion("walk", 30, seed=0), S.make_motion("bow", 25, seed=0)]
    out = S.write_humanml3d(tmp_path / "j", motions, features=False, splits=(1, 0, 0))
    assert not (out / "new_joint_vecs").exists() and not (out / "Mean.npy").exists()
    np.testing.assert_array_equal(np.load(out / "new_joints" / "000001.npy"), motions[1].joints)
    assert (out / "train.txt").read_text().split() == ["000000", "000001"]
    assert (out / "val.txt").read_text() == ""
    with pytest.raises(InputError):
        S.write_humanml3d(tmp_path / "k", [])
    with pytest.raises(InputError):
        S.write_humanml3d(tmp_path / "k", motions, features=False, with_269=True)
