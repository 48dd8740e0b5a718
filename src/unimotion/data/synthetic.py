"""Procedural human motions with captions, for tests and demos that must run without real data.

Every motion is deterministic in its arguments (same kind, length, seed and variation → bit-identical
arrays) and lives on the 22-joint HumanML3D/SMPL layout :data:`~unimotion.motion.skeletons.T2M22`: metres,
Y up, the body facing +Z at frame 0 with its left on +X, the root's ground position at the origin at frame 0,
the lowest joint on the floor (y = 0), 20 fps.

How a motion is made
--------------------
1. A kind-specific generator writes parent-relative **joint rotations** (Euler "YZX": yaw about Y, roll about
   Z, pitch about X per joint) as smooth functions of time: gait cycles for locomotion, eased envelopes and
   oscillations for gestures, timelines for jumps, squats, kicks and bows.
2. :func:`unimotion.motion.skeleton.forward_kinematics` poses the rest skeleton :data:`REST_OFFSETS`.
3. The root is placed so that the body is physically plausible: its height puts the lowest joint on the
   floor (plus a ballistic lift in flight phases), and its ground position is integrated so that the
   **supporting foot does not slide** (the foot lower to the ground anchors the body; in flight the
   body keeps its take-off velocity). Walking speed, hip sway, the pivot of a turn and the hips moving back
   in a squat all follow from the joint rotations this way instead of being scripted.

Rest skeleton (:data:`REST_OFFSETS`, metres, a ~1.68 m adult standing with arms hanging)
-------------------------------------------------------------------------------------
Heights above the floor: toes (``*_foot``) 0.00, ankles 0.07, knees 0.48, hips 0.88, pelvis 0.96,
spine1/2/3 1.07/1.20/1.26, collars 1.38, shoulders 1.395, neck 1.46, head joint 1.56 (crown ≈ 1.68),
elbows 1.125, wrists 0.875. Half-widths: hips 0.09, collars 0.07, shoulders 0.19. Segment lengths:
thigh 0.40, shin 0.41 (plus 0.02 back), foot 0.07 down / 0.12 forward, upper arm 0.27, forearm 0.25.
These are rounded adult proportions (roughly those of the SMPL neutral body), written by hand.

Kinds (:data:`KINDS`) and variations
------------------------------------
walk, run, walk_backward, turn_left, turn_right, wave_left, wave_right, raise_both_hands, jump, squat,
kick, bow. Variations (keyword arguments of :func:`make_motion`; drawn from the seed when omitted):
``speed`` (tempo multiplier), ``amplitude`` (range-of-motion multiplier), ``style`` (one of
:data:`STYLES`: posture, tempo, arm swing and bounce modifiers that also appear in the captions), and per kind
``turn_angle`` (degrees, turns), ``side`` ("left"/"right", kick), ``reps`` (jumps, squats, kicks, bows),
``forward`` (metres, jump distance), ``plane`` ("front"/"side", raise_both_hands).
Each motion gets 2–3 different captions from hand-written templates; every word is tagged with its
(lemma, universal POS) so the captions can be written in HumanML3D's ``texts/`` format without a tagger.

:func:`write_humanml3d` lays a set out in the HumanML3D folder format (``new_joints/``, ``new_joint_vecs/``,
``texts/``, ``Mean.npy``/``Std.npy``, split files) using the 263-dim codec of :mod:`unimotion.motion.hml3d`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError, UnimotionError
from ..motion.rotations import euler_to_quat
from ..motion.skeleton import forward_kinematics
from ..motion.skeletons import T2M22

FPS = 20.0
LAYOUT = T2M22
MIN_FRAMES = 20
GRAVITY = 9.81

# Joint indices of T2M22 (left, right pairs where relevant).
PELVIS, SPINE1, SPINE2, SPINE3, NECK, HEAD = 0, 3, 6, 9, 12, 15
HIP, KNEE, ANKLE, FOOT = (1, 2), (4, 5), (7, 8), (10, 11)
COLLAR, SHOULDER, ELBOW, WRIST = (13, 14), (16, 17), (18, 19), (20, 21)
LEFT, RIGHT = 0, 1
_MIRROR = (1.0, -1.0)  # right-side yaw/roll angles are the left side's mirrored across the X = 0 plane

REST_OFFSETS = np.array(
    [
        [0.0, 0.0, 0.0],  # 0 pelvis (root; its height is set by the floor contact)
        [0.09, -0.08, 0.0],  # 1 left_hip
        [-0.09, -0.08, 0.0],  # 2 right_hip
        [0.0, 0.11, -0.02],  # 3 spine1
        [0.0, -0.40, 0.0],  # 4 left_knee
        [0.0, -0.40, 0.0],  # 5 right_knee
        [0.0, 0.13, 0.01],  # 6 spine2
        [0.0, -0.41, -0.02],  # 7 left_ankle
        [0.0, -0.41, -0.02],  # 8 right_ankle
        [0.0, 0.06, 0.01],  # 9 spine3
        [0.0, -0.07, 0.12],  # 10 left_foot
        [0.0, -0.07, 0.12],  # 11 right_foot
        [0.0, 0.20, -0.01],  # 12 neck
        [0.07, 0.12, -0.01],  # 13 left_collar
        [-0.07, 0.12, -0.01],  # 14 right_collar
        [0.0, 0.10, 0.04],  # 15 head
        [0.12, 0.015, 0.0],  # 16 left_shoulder
        [-0.12, 0.015, 0.0],  # 17 right_shoulder
        [0.0, -0.27, 0.0],  # 18 left_elbow
        [0.0, -0.27, 0.0],  # 19 right_elbow
        [0.0, -0.25, 0.0],  # 20 left_wrist
        [0.0, -0.25, 0.0],  # 21 right_wrist
    ],
    dtype=np.float64,
)

KINDS = (
    "walk", "run", "walk_backward", "turn_left", "turn_right", "wave_left", "wave_right",
    "raise_both_hands", "jump", "squat", "kick", "bow",
)


@dataclass(frozen=True)
class Style:
    """Modifiers a style applies on top of a kind (multipliers are relative to "normal")."""

    speed: float = 1.0  # tempo
    amplitude: float = 1.0  # range of motion
    lean: float = 0.0  # forward trunk pitch, radians (negative = upright / chest out)
    arms: float = 1.0  # arm swing
    bounce: float = 1.0  # vertical bounce of the gait
    head: float = 0.0  # head pitch, radians (positive = looking down)
    subjects: tuple[str, ...] = ()  # tagged subject phrases for captions
    adverbs: tuple[str, ...] = ()  # tagged adverbial phrases for captions


STYLES: dict[str, Style] = {
    "normal": Style(),
    "happy": Style(1.1, 1.15, -0.04, 1.4, 1.8, -0.1, ("a/DET happy/ADJ person/NOUN",),
                   ("happily/ADV", "cheerfully/ADV")),
    "tired": Style(0.75, 0.7, 0.22, 0.5, 0.6, 0.35, ("a/DET tired/ADJ person/NOUN",),
                   ("wearily/ADV", "in/ADP a/DET tired/ADJ way/NOUN")),
    "energetic": Style(1.25, 1.3, 0.05, 1.5, 1.5, 0.0, ("an/DET energetic/ADJ person/NOUN",),
                       ("energetically/ADV", "with/ADP a/DET lot/NOUN of/ADP energy/NOUN")),
    "cautious": Style(0.75, 0.75, 0.1, 0.7, 0.5, 0.15, ("a/DET cautious/ADJ person/NOUN",),
                      ("carefully/ADV", "cautiously/ADV")),
    "proud": Style(0.95, 1.0, -0.12, 1.1, 1.0, -0.15, ("a/DET proud/ADJ person/NOUN",),
                   ("proudly/ADV", "with/ADP the/DET chest/NOUN out/ADV")),
}

SUBJECTS = ("a/DET person/NOUN", "someone/PRON", "a/DET man/NOUN", "a/DET woman/NOUN", "the/DET person/NOUN")

# Templates: space-separated "word/POS" tokens; {S} subject, {M} modifiers (speed/style adverbs), {N} a
# repetition phrase, {SIDE} "left"/"right" (its POS follows it). Empty placeholders disappear.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "walk": ("{S} walks/VERB forward/ADV {M}", "{S} walks/VERB straight/ADV ahead/ADV {M}",
             "{S} takes/VERB several/ADJ steps/NOUN forward/ADV {M}", "{S} is/AUX walking/VERB forward/ADV {M}"),
    "run": ("{S} runs/VERB forward/ADV {M}", "{S} jogs/VERB straight/ADV ahead/ADV {M}",
            "{S} is/AUX running/VERB forward/ADV {M}"),
    "walk_backward": ("{S} walks/VERB backwards/ADV {M}", "{S} takes/VERB several/ADJ steps/NOUN backwards/ADV {M}",
                      "{S} moves/VERB backward/ADV {M}"),
    "turn": ("{S} walks/VERB forward/ADV and/CCONJ turns/VERB {SIDE}/ADV {M}",
             "{S} turns/VERB to/ADP the/DET {SIDE}/NOUN while/SCONJ walking/VERB {M}",
             "{S} walks/VERB in/ADP a/DET curve/NOUN to/ADP the/DET {SIDE}/NOUN {M}"),
    "turn_around": ("{S} walks/VERB and/CCONJ turns/VERB around/ADV to/ADP the/DET {SIDE}/NOUN {M}",
                    "{S} walks/VERB forward/ADV and/CCONJ turns/VERB back/ADV via/ADP the/DET {SIDE}/NOUN {M}",
                    "{S} makes/VERB a/DET u/NOUN turn/NOUN to/ADP the/DET {SIDE}/NOUN {M}"),
    "wave": ("{S} waves/VERB the/DET {SIDE}/ADJ hand/NOUN {M}",
             "{S} raises/VERB the/DET {SIDE}/ADJ hand/NOUN and/CCONJ waves/VERB {M}",
             "{S} waves/VERB hello/INTJ with/ADP the/DET {SIDE}/ADJ arm/NOUN {M}"),
    "raise_both_hands": ("{S} raises/VERB both/DET hands/NOUN above/ADP the/DET head/NOUN {M}",
                         "{S} lifts/VERB both/DET arms/NOUN up/ADP {M}",
                         "{S} puts/VERB both/DET hands/NOUN up/ADV in/ADP the/DET air/NOUN {M}"),
    "jump": ("{S} jumps/VERB up/ADP {N} {M}", "{S} jumps/VERB in/ADP place/NOUN {N} {M}",
             "{S} bends/VERB the/DET knees/NOUN and/CCONJ jumps/VERB up/ADP {N} {M}"),
    "jump_forward": ("{S} jumps/VERB forward/ADV {N} {M}", "{S} leaps/VERB forward/ADV {N} {M}",
                     "{S} bends/VERB the/DET knees/NOUN and/CCONJ jumps/VERB forward/ADV {N} {M}"),
    "squat": ("{S} squats/VERB down/ADP {N} {M}", "{S} does/VERB a/DET squat/NOUN {N} {M}",
              "{S} bends/VERB the/DET knees/NOUN and/CCONJ stands/VERB back/ADV up/ADP {N} {M}"),
    "kick": ("{S} kicks/VERB with/ADP the/DET {SIDE}/ADJ leg/NOUN {N} {M}",
             "{S} kicks/VERB forward/ADV with/ADP the/DET {SIDE}/ADJ foot/NOUN {N} {M}",
             "{S} lifts/VERB the/DET {SIDE}/ADJ leg/NOUN and/CCONJ kicks/VERB {N} {M}"),
    "bow": ("{S} bows/VERB {N} {M}", "{S} bends/VERB forward/ADV at/ADP the/DET waist/NOUN and/CCONJ bows/VERB {N} {M}",
            "{S} bows/VERB politely/ADV {N} {M}"),
}
REPS_PHRASES = {1: "", 2: "twice/ADV", 3: "three/NUM times/NOUN"}
MANY_REPS = "several/ADJ times/NOUN"
SPEED_PHRASES = {"slow": ("slowly/ADV",), "fast": ("quickly/ADV", "fast/ADV")}

# Lemmas of inflected words used above (HumanML3D's token lists hold lemmas: "kick/VERB", not "kicks/VERB").
LEMMAS = {
    "walks": "walk", "walking": "walk", "runs": "run", "running": "run", "jogs": "jog", "takes": "take",
    "steps": "step", "is": "be", "moves": "move", "turns": "turn", "waves": "wave", "raises": "raise",
    "lifts": "lift", "arms": "arm", "hands": "hand", "puts": "put", "jumps": "jump", "leaps": "leap",
    "bends": "bend", "knees": "knee", "squats": "squat", "does": "do", "stands": "stand", "kicks": "kick",
    "bows": "bow", "makes": "make", "times": "time", "an": "a",
}
POS_TAGS = frozenset("ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X".split())


@dataclass
class SyntheticMotion:
    """One procedural motion: joints (T, 22, 3) float32 metres, its captions, and how it was made."""

    joints: np.ndarray  # (T, 22, 3)
    captions: list[str]
    kind: str
    tokens: list[str] = field(default_factory=list)  # per caption: "lemma/POS lemma/POS ..."
    params: dict = field(default_factory=dict)  # the variation actually used (JSON-serialisable)
    fps: float = FPS

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])

    def text_lines(self) -> list[str]:
        """Captions in HumanML3D's ``texts/<id>.txt`` line format ``caption#tokens#0.0#0.0``."""
        return [f"{c}#{t}#0.0#0.0" for c, t in zip(self.captions, self.tokens, strict=True)]


# ------------------------------------------------------------------------------------------ small helpers
def smoothstep(x):
    """0 below 0, 1 above 1, C¹ cubic in between (element-wise)."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _window(t, start: float, end: float, ramp: float):
    """Eased envelope: rises over [start, start+ramp], holds, falls over [end-ramp, end]."""
    ramp = max(ramp, 1e-6)
    return smoothstep((t - start) / ramp) * (1 - smoothstep((t - (end - ramp)) / ramp))


def _smooth_noise(rng: np.random.Generator, t: np.ndarray, shape: tuple[int, ...], freq=(0.2, 0.8)) -> np.ndarray:
    """Band-limited noise (sum of 3 random sinusoids), shape (T, *shape), unit-ish amplitude."""
    out = np.zeros((len(t), *shape))
    for _ in range(3):
        f = rng.uniform(*freq, size=shape)
        phase = rng.uniform(0, 2 * np.pi, size=shape)
        out += np.sin(2 * np.pi * f * t.reshape(-1, *([1] * len(shape))) + phase) / 3
    return out


class _Body:
    """Per-frame joint angles (Euler YZX per joint) plus the root's lift and flight state."""

    def __init__(self, t: np.ndarray):
        self.t = t
        T = len(t)
        self.angles = np.zeros((T, LAYOUT.num_joints, 3))  # [..., 0] yaw (Y), [1] roll (Z), [2] pitch (X)
        self.lift = np.zeros(T)  # extra root height above the floor contact (flight), metres
        self.flight = np.zeros(T, dtype=bool)  # True: no foot anchors the body (take-off velocity kept)
        self.flight_speed: float | None = None  # m/s along the heading in flight; None: keep take-off velocity

    # All angles in radians. "forward" angles are measured in the sagittal plane of the pelvis.
    def heading(self, yaw) -> None:
        self.angles[:, PELVIS, 0] += yaw

    def pelvis_pitch(self, pitch) -> None:
        """Tilt the pelvis (and everything above it) forward; legs are compensated by :meth:`leg`."""
        self.angles[:, PELVIS, 2] += pitch

    def spine_pitch(self, pitch) -> None:
        """Bend the spine forward, spread over spine1..3."""
        for j in (SPINE1, SPINE2, SPINE3):
            self.angles[:, j, 2] += pitch / 3

    def spine_yaw(self, yaw) -> None:
        for j in (SPINE1, SPINE2, SPINE3):
            self.angles[:, j, 0] += yaw / 3

    def neck_pitch(self, pitch) -> None:
        self.angles[:, NECK, 2] += pitch

    def leg(self, side: int, thigh, shin, toe=0.0) -> None:
        """Sagittal leg pose from *pelvis-independent* forward angles (radians from straight down, towards +Z
        of the heading frame): ``thigh`` of the hip→knee bone, ``shin`` of the knee→ankle bone. The foot stays
        level with the ground unless ``toe`` (plantar flexion, toes down) is given."""
        pitch = self.angles[:, PELVIS, 2]
        self.angles[:, HIP[side], 2] = -thigh - pitch
        self.angles[:, KNEE[side], 2] = thigh - shin
        self.angles[:, ANKLE[side], 2] = shin + toe

    def hip_roll(self, side: int, abduct) -> None:
        self.angles[:, HIP[side], 1] += _MIRROR[side] * abduct

    def arm(self, side: int, flex=0.0, abduct=0.0, elbow=0.0, elbow_roll=0.0) -> None:
        """Shoulder flexion (arm forward/up), abduction (arm sideways/up), elbow flexion (forearm forward) and
        elbow roll (forearm swings in the plane of the raised upper arm, towards the head for > 0)."""
        m = _MIRROR[side]
        self.angles[:, SHOULDER[side], 2] += -flex
        self.angles[:, SHOULDER[side], 1] += m * abduct
        self.angles[:, ELBOW[side], 2] += -elbow
        self.angles[:, ELBOW[side], 1] += m * elbow_roll


def _place_root(rel: np.ndarray, body: _Body, fps: float) -> np.ndarray:
    """Root positions (T, 3) for root-relative joints ``rel`` (T, J, 3) (already rotated by the heading).

    Height: the lowest joint touches the floor, plus ``body.lift``. Ground position: each step moves the
    root opposite to the supporting foot's motion relative to the root (so the support does not slide); the
    support is a soft choice of the lower foot; in flight the body moves at ``body.flight_speed`` along its
    heading, or keeps its last grounded velocity when that is None.
    """
    T = rel.shape[0]
    foot_h = np.minimum(rel[:, ANKLE, 1], rel[:, FOOT, 1])  # (T, 2) lowest point of each foot
    w_left = 1.0 / (1.0 + np.exp(np.clip((foot_h[:, 0] - foot_h[:, 1]) / 0.003, -50, 50)))  # (T,)
    # Each foot is anchored at its lower point (ankle, or toes when the heel is up), softly blended.
    toe_w = 1.0 / (1.0 + np.exp(np.clip((rel[:, FOOT, 1] - rel[:, ANKLE, 1]) / 0.01, -50, 50)))  # (T, 2)
    vel = np.diff(rel[..., [0, 2]], axis=0)  # (T-1, J, 2)
    tw = 0.5 * (toe_w[1:] + toe_w[:-1])[..., None]
    delta = tw * vel[:, FOOT] + (1 - tw) * vel[:, ANKLE]  # (T-1, 2 feet, 2 xz)
    w = 0.5 * (w_left[1:] + w_left[:-1])
    step = -(w[:, None] * delta[:, 0] + (1 - w[:, None]) * delta[:, 1])  # (T-1, 2)
    flight = body.flight[1:] | body.flight[:-1]
    if body.flight_speed is not None:
        yaw = body.angles[1:, PELVIS, 0]
        forward = np.stack([np.sin(yaw), np.cos(yaw)], axis=-1)
        step = np.where(flight[:, None], forward * body.flight_speed / fps, step)
    else:  # in flight keep the mean velocity of the preceding grounded stretch
        grounded_sum, grounded_n = np.zeros(2), 0
        for i in range(len(step)):
            if flight[i]:
                step[i] = grounded_sum / max(grounded_n, 1)
            else:
                if i > 0 and flight[i - 1]:
                    grounded_sum, grounded_n = np.zeros(2), 0
                grounded_sum, grounded_n = grounded_sum + step[i], grounded_n + 1
    root = np.zeros((T, 3))
    root[1:, [0, 2]] = np.cumsum(step, axis=0)
    # Height: lowest joint on the floor when grounded; in flight a straight line between the take-off and
    # landing heights (the legs' changing shape must not move the body) plus the ballistic ``lift``.
    height = -rel[..., 1].min(axis=1)
    grounded = ~body.flight
    if grounded.any() and not grounded.all():
        idx = np.arange(T)
        height = np.where(grounded, height, np.interp(idx, idx[grounded], height[grounded]))
    root[:, 1] = np.maximum(height + body.lift, -rel[..., 1].min(axis=1))  # never below the floor
    return root


def _idle(body: _Body, rng: np.random.Generator, st: Style) -> None:
    """Standing posture shared by every kind: breathing, slight sway, relaxed arms, the style's posture."""
    t = body.t
    body.spine_pitch(st.lean + 0.02 * np.sin(2 * np.pi * 0.25 * t + rng.uniform(0, 2 * np.pi)))
    body.neck_pitch(st.head + 0.04 * _smooth_noise(rng, t, ())[:])
    rest_abduct = rng.uniform(0.08, 0.16)
    for side in (LEFT, RIGHT):
        body.arm(side, abduct=rest_abduct, elbow=rng.uniform(0.05, 0.2))
    # Individual, smooth micro-motion on every joint (different per seed, tiny).
    body.angles += 0.015 * _smooth_noise(rng, t, (LAYOUT.num_joints, 3))


def _legs_standing(body: _Body) -> None:
    for side in (LEFT, RIGHT):
        body.leg(side, 0.0, 0.0)


def _hermite(s, p0, p1, m0, m1):
    """Cubic Hermite curve on s ∈ [0, 1] from p0 (slope m0) to p1 (slope m1)."""
    s2, s3 = s * s, s * s * s
    return (2 * s3 - 3 * s2 + 1) * p0 + (s3 - 2 * s2 + s) * m0 + (-2 * s3 + 3 * s2) * p1 + (s3 - s2) * m1


def _gait(body: _Body, rng: np.random.Generator, st: Style, v: dict, direction: float, run: bool) -> None:
    """Walking / running cycle (``direction`` −1 walks backwards).

    Each leg spends the fraction ``duty`` of a stride in stance, sweeping its thigh linearly from +A to −A
    (the foot moves backwards at a steady pace relative to the pelvis), then swings back along a C¹ Hermite
    curve with a knee-flexion bump. Because both legs sweep at the same angular rate in stance, the moment
    the landing foot becomes the lower one (where the two thigh angles are opposite, so the feet are level)
    both feet move at the same speed relative to the pelvis: the contact hand-over is free of slip. Walking
    has double support (duty 0.6); running has flight phases (duty 0.35) with a ballistic lift.
    """
    t = body.t
    speed, amp = v["speed"] * st.speed, v["amplitude"] * st.amplitude
    freq = (1.35 if run else 0.9) * speed  # strides (two steps) per second
    duty = 0.35 if run else 0.6
    start = smoothstep(t / max(0.4, 0.5 / freq))  # the first half-stride eases in from standing
    hip_amp = (0.5 if run else 0.36 if direction > 0 else 0.28) * amp * start
    knee_amp = (1.6 if run else 1.05) * min(amp, 1.3) * start
    stance_knee = (0.35 if run else 0.08 * st.bounce) * start
    u = (freq * t + rng.choice([0.0, 0.5])) % 1.0  # stride phase of the left leg; which leg leads is random
    thighs = []
    for side in (LEFT, RIGHT):
        us = (u + 0.5 * side) % 1.0
        in_stance = us < duty
        s_st = np.clip(us / duty, 0, 1)
        s_sw = np.clip((us - duty) / (1 - duty), 0, 1)
        slope = -2 * hip_amp / duty * (1 - duty) * 0.6  # swing starts/ends moving backwards (retraction), damped
        thigh = np.where(in_stance, hip_amp * (1 - 2 * s_st), _hermite(s_sw, -hip_amp, hip_amp, slope, slope))
        bend = np.where(in_stance, stance_knee * np.sin(np.pi * s_st), knee_amp * np.sin(np.pi * s_sw) ** 2)
        # Stance knee flexion is shared between thigh and shin so that it lowers the hips without moving
        # the foot along the ground relative to them (which would change the speed within a step).
        thigh = direction * thigh + np.where(in_stance, 0.5 * bend, 0.0) + (0.12 * start if run else 0.0)
        toe = np.where(in_stance, 0.0, -0.2 * np.sin(np.pi * s_sw) ** 2)  # toes up in swing (clearance)
        body.leg(side, thigh, thigh - bend, toe=toe * start)
        thighs.append(thigh)
    swing_l = thighs[1] - thighs[0]  # > 0 when the right leg is forward: the left arm swings forward then
    for side, sign in ((LEFT, 0.5), (RIGHT, -0.5)):
        arm = (1.1 if run else 0.9) * st.arms * sign * swing_l
        body.arm(side, flex=arm, elbow=(1.3 if run else 0.15) * start + 0.3 * np.maximum(0, arm))
    body.spine_pitch((0.15 if run else 0.03 * direction) * start)
    body.heading(0.08 * swing_l)  # the pelvis turns with the forward leg...
    body.spine_yaw(-0.2 * swing_l)  # ...and the shoulders counter-rotate
    if run:  # flight between the stance phases: no foot anchors the body, it follows a parabola
        flight_frac = 0.5 - duty
        s_fl = ((u - duty) % 0.5) / flight_frac
        body.flight |= (s_fl < 1.0) & (start > 0.99)
        t_flight = flight_frac / freq
        height = GRAVITY * t_flight**2 / 8 * st.bounce
        body.lift += np.where(body.flight, 4 * height * s_fl * (1 - s_fl), 0.0)


def _gen_walk(body, rng, st, v):
    _gait(body, rng, st, v, 1.0, run=False)


def _gen_run(body, rng, st, v):
    _gait(body, rng, st, v, 1.0, run=True)


def _gen_walk_backward(body, rng, st, v):
    _gait(body, rng, st, v, -1.0, run=False)


def _gen_turn(body, rng, st, v, sign: float):
    _gait(body, rng, st, v, 1.0, run=False)
    duration = body.t[-1] + 1 / FPS
    yaw = sign * np.deg2rad(v["turn_angle"]) * smoothstep((body.t - 0.2 * duration) / (0.6 * duration))
    body.heading(yaw)


def _gen_turn_left(body, rng, st, v):
    _gen_turn(body, rng, st, v, 1.0)  # positive yaw about +Y turns +Z towards +X, the body's left


def _gen_turn_right(body, rng, st, v):
    _gen_turn(body, rng, st, v, -1.0)


def _gen_wave(body, rng, st, v, side: int):
    _legs_standing(body)
    t, duration = body.t, body.t[-1] + 1 / FPS
    speed, amp = v["speed"] * st.speed, v["amplitude"] * st.amplitude
    ramp = min(0.6 / speed, 0.22 * duration)
    env = _window(t, 0.08 * duration, 0.95 * duration, ramp)
    wave = np.sin(2 * np.pi * 1.8 * speed * (t - 0.08 * duration))
    wave_env = _window(t, 0.08 * duration + 0.6 * ramp, 0.95 * duration - 0.6 * ramp, ramp)
    body.arm(side, flex=0.35 * env, abduct=1.75 * env, elbow_roll=env * 1.35 + 0.45 * amp * wave_env * wave)
    body.spine_yaw(_MIRROR[side] * 0.05 * env)
    body.angles[:, SPINE2, 1] -= _MIRROR[side] * 0.04 * env  # lean slightly away from the raised arm


def _gen_wave_left(body, rng, st, v):
    _gen_wave(body, rng, st, v, LEFT)


def _gen_wave_right(body, rng, st, v):
    _gen_wave(body, rng, st, v, RIGHT)


def _gen_raise_both_hands(body, rng, st, v):
    _legs_standing(body)
    t, duration = body.t, body.t[-1] + 1 / FPS
    speed, amp = v["speed"] * st.speed, v["amplitude"] * st.amplitude
    ramp = min(0.9 / speed, 0.3 * duration)
    env = _window(t, 0.1 * duration, 0.92 * duration, ramp)
    angle = (2.55 + 0.35 * min(amp, 1.0)) * env  # up to ~165° overhead
    for side in (LEFT, RIGHT):
        if v["plane"] == "front":
            body.arm(side, flex=angle, abduct=0.1 * env, elbow=0.1 * env)
        else:
            body.arm(side, abduct=angle, flex=0.15 * env)
    body.spine_pitch(-0.08 * env)  # the back arches slightly
    body.neck_pitch(-0.2 * env)  # and the head looks up


def _event_times(duration: float, reps: int, cycle: float, lead: float = 0.15) -> tuple[list[float], float]:
    """Start times of ``reps`` repetitions of a ``cycle``-second action, spread over the clip, and the
    time scale (< 1 when the actions have to be sped up to fit)."""
    usable = duration * (1 - 2 * lead)
    scale = min(1.0, usable / (reps * cycle))
    gap = (usable - reps * cycle * scale) / reps
    starts = [duration * lead + gap / 2 + i * (cycle * scale + gap) for i in range(reps)]
    return starts, scale


def _gen_jump(body, rng, st, v):
    t, duration = body.t, body.t[-1] + 1 / FPS
    amp = v["amplitude"] * st.amplitude
    height = 0.12 + 0.18 * min(amp, 1.4)  # metres of flight apex
    t_flight = 2 * np.sqrt(2 * height / GRAVITY)
    crouch_t, push_t, land_t, recover_t = 0.45 / v["speed"], 0.12, 0.15, 0.45 / v["speed"]
    cycle = crouch_t + push_t + t_flight + land_t + recover_t
    starts, scale = _event_times(duration, v["reps"], cycle)
    crouch = np.zeros_like(t)
    arms = np.zeros_like(t)
    toe = np.zeros_like(t)
    for s in starts:
        tau = (t - s) / scale
        up = smoothstep(tau / crouch_t) * (1 - smoothstep((tau - crouch_t) / push_t))
        t_off = crouch_t + push_t
        in_air = (tau >= t_off) & (tau < t_off + t_flight)
        landing = smoothstep((tau - t_off - t_flight) / land_t) * (1 - smoothstep(
            (tau - t_off - t_flight - land_t) / recover_t))
        crouch = crouch + up + 0.7 * landing
        swing_up = smoothstep((tau - crouch_t + 0.1) / (push_t + 0.1)) * (1 - smoothstep(
            (tau - t_off - t_flight) / (land_t + recover_t)))
        arms = arms - 0.7 * up + 2.4 * min(amp, 1.2) * swing_up
        toe = toe + 0.6 * smoothstep((tau - crouch_t) / push_t) * (1 - smoothstep((tau - t_off - t_flight + 0.05) / 0.1))
        s_air = np.clip((tau - t_off) / t_flight, 0, 1)
        body.lift += np.where(in_air, 4 * height * s_air * (1 - s_air), 0.0)
        body.flight |= in_air
    body.flight_speed = v["forward"] / (t_flight * scale)
    depth = np.clip(crouch, 0, 1) * min(amp, 1.2)
    body.pelvis_pitch(0.45 * depth)
    for side in (LEFT, RIGHT):
        body.leg(side, 1.0 * depth, -0.55 * depth, toe=toe)
        body.arm(side, flex=arms, elbow=0.3 * np.abs(arms) / 2.4)


def _gen_squat(body, rng, st, v):
    t, duration = body.t, body.t[-1] + 1 / FPS
    amp = v["amplitude"] * st.amplitude
    down, hold, up = 0.9 / v["speed"], 0.35, 0.9 / v["speed"]
    starts, scale = _event_times(duration, v["reps"], down + hold + up)
    depth = np.zeros_like(t)
    for s in starts:
        tau = (t - s) / scale
        depth += smoothstep(tau / down) * (1 - smoothstep((tau - down - hold) / up))
    depth *= 0.55 + 0.45 * min(amp, 1.2)  # a low amplitude still squats visibly
    body.pelvis_pitch(0.55 * depth)
    body.spine_pitch(0.1 * depth)
    for side in (LEFT, RIGHT):
        body.leg(side, 1.35 * depth, -0.55 * depth)
        body.arm(side, flex=1.45 * depth, elbow=0.05 * depth)
    body.neck_pitch(-0.4 * depth)  # keeps looking ahead


def _gen_kick(body, rng, st, v):
    t, duration = body.t, body.t[-1] + 1 / FPS
    amp = v["amplitude"] * st.amplitude
    side = LEFT if v["side"] == "left" else RIGHT
    support = 1 - side
    chamber, extend, retract, lower = 0.3 / v["speed"], 0.14 / v["speed"], 0.2 / v["speed"], 0.35 / v["speed"]
    starts, scale = _event_times(duration, v["reps"], chamber + extend + retract + lower + 0.1)
    lifted = np.zeros_like(t)  # 0 → 1: knee raised
    straight = np.zeros_like(t)  # 0 → 1: leg extended
    for s in starts:
        tau = (t - s) / scale
        lifted += smoothstep(tau / chamber) * (1 - smoothstep((tau - chamber - extend - retract) / lower))
        straight += smoothstep((tau - chamber) / extend) * (1 - smoothstep((tau - chamber - extend) / retract))
    thigh = (1.2 + 0.25 * straight) * lifted * min(amp, 1.3)
    shin = thigh - (1.7 * lifted) * (1 - straight)
    body.pelvis_pitch(-0.12 * lifted)
    body.leg(side, thigh, shin, toe=0.6 * lifted)
    body.leg(support, 0.0, -0.08 * lifted)  # support knee softens
    body.spine_pitch(-0.1 * lifted)
    body.arm(side, abduct=0.5 * lifted, flex=-0.2 * lifted)
    body.arm(support, abduct=0.4 * lifted, flex=0.5 * lifted, elbow=0.4 * lifted)


def _gen_bow(body, rng, st, v):
    t, duration = body.t, body.t[-1] + 1 / FPS
    amp = v["amplitude"] * st.amplitude
    down, hold, up = 0.7 / v["speed"], 0.5, 0.7 / v["speed"]
    starts, scale = _event_times(duration, v["reps"], down + hold + up)
    bend = np.zeros_like(t)
    for s in starts:
        tau = (t - s) / scale
        bend += smoothstep(tau / down) * (1 - smoothstep((tau - down - hold) / up))
    bend *= 0.5 + 0.5 * min(amp, 1.3)
    body.pelvis_pitch(0.75 * bend)  # a hinge at the hips (about 60° in all with the spine)...
    body.spine_pitch(0.3 * bend)  # ...with a slightly rounded back
    body.neck_pitch(0.15 * bend)
    for side in (LEFT, RIGHT):
        body.leg(side, 0.0, 0.0)  # re-solve: legs stay vertical under the tilted pelvis
        body.arm(side, flex=0.15 * bend)


_GENERATORS = {
    "walk": _gen_walk, "run": _gen_run, "walk_backward": _gen_walk_backward, "turn_left": _gen_turn_left,
    "turn_right": _gen_turn_right, "wave_left": _gen_wave_left, "wave_right": _gen_wave_right,
    "raise_both_hands": _gen_raise_both_hands, "jump": _gen_jump, "squat": _gen_squat, "kick": _gen_kick,
    "bow": _gen_bow,
}
# Variation keys beyond speed/amplitude/style each kind accepts.
_EXTRA_KEYS = {
    "turn_left": ("turn_angle",), "turn_right": ("turn_angle",), "raise_both_hands": ("plane",),
    "jump": ("reps", "forward"), "squat": ("reps",), "kick": ("side", "reps"), "bow": ("reps",),
}
# Seconds one repetition takes at speed 1 (used to draw how many fit into the clip).
_REP_SECONDS = {"jump": 1.8, "squat": 2.4, "kick": 1.3, "bow": 2.2}


# ------------------------------------------------------------------------------------------ variation
def _resolve_variation(kind: str, num_frames: int, rng: np.random.Generator, given: dict) -> dict:
    allowed = {"speed", "amplitude", "style", *(_EXTRA_KEYS.get(kind, ()))}
    unknown = set(given) - allowed
    if unknown:
        raise InputError(f"unknown variation {sorted(unknown)} for kind {kind!r}; allowed: {sorted(allowed)}")
    duration = num_frames / FPS
    # Draw every default in a fixed order (so a given value does not shift the other draws).
    drawn = {
        "speed": float(rng.uniform(0.75, 1.3)),
        "amplitude": float(rng.uniform(0.75, 1.2)),
        "style": str(rng.choice(list(STYLES))) if rng.uniform() < 0.5 else "normal",
        "turn_angle": float(rng.uniform(60.0, 180.0)),
        "plane": str(rng.choice(["front", "side"])),
        "side": str(rng.choice(["left", "right"])),
        "forward": float(rng.choice([0.0, rng.uniform(0.3, 0.7)])),
        "reps_draw": float(rng.uniform()),
    }
    v = {k: given.get(k, drawn[k]) for k in ("speed", "amplitude", "style")}
    if "reps" in allowed:
        max_reps = max(1, int(duration * v["speed"] / _REP_SECONDS[kind]))
        v["reps"] = given.get("reps", 1 + int(drawn["reps_draw"] * min(max_reps, 3)))
    for key in _EXTRA_KEYS.get(kind, ()):
        if key != "reps":
            v[key] = given.get(key, drawn[key])
    # Validation of user-given values.
    if v["style"] not in STYLES:
        raise InputError(f"unknown style {v['style']!r}; choose from {sorted(STYLES)}")
    for key, lo, hi in (("speed", 0.2, 4.0), ("amplitude", 0.0, 2.0), ("turn_angle", 0.0, 360.0),
                        ("forward", 0.0, 3.0)):
        if key in v and not (lo <= float(v[key]) <= hi):
            raise InputError(f"{key} must be in [{lo}, {hi}], got {v[key]}")
    if "reps" in v and not (isinstance(v["reps"], (int, np.integer)) and 1 <= v["reps"] <= 20):
        raise InputError(f"reps must be an integer in [1, 20], got {v['reps']!r}")
    if v.get("side", "left") not in ("left", "right"):
        raise InputError(f"side must be 'left' or 'right', got {v['side']!r}")
    if v.get("plane", "front") not in ("front", "side"):
        raise InputError(f"plane must be 'front' or 'side', got {v['plane']!r}")
    return {k: (float(x) if isinstance(x, (float, np.floating)) else int(x) if isinstance(x, (int, np.integer))
                else x) for k, x in v.items()}


# ------------------------------------------------------------------------------------------ captions
def _fill(template: str, subject: str, modifiers: str, reps: str, side: str) -> str:
    text = template.replace("{S}", subject).replace("{M}", modifiers).replace("{N}", reps)
    return " ".join(text.replace("{SIDE}", side).split())


def _untag(tagged: str) -> tuple[str, str]:
    """'a/DET person/NOUN' → ('a person', 'a/DET person/NOUN' with lemmas)."""
    words, tokens = [], []
    for item in tagged.split():
        word, _, pos = item.rpartition("/")
        words.append(word)
        tokens.append(f"{LEMMAS.get(word.lower(), word.lower())}/{pos}")
    return " ".join(words), " ".join(tokens)


def _captions(kind: str, v: dict, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    st = STYLES[v["style"]]
    key = {"turn_left": "turn", "turn_right": "turn", "wave_left": "wave", "wave_right": "wave"}.get(kind, kind)
    if key == "turn" and v["turn_angle"] >= 150:
        key = "turn_around"
    if kind == "jump" and v["forward"] > 0:
        key = "jump_forward"
    templates = TEMPLATES[key]
    side = {"turn_left": "left", "wave_left": "left", "turn_right": "right", "wave_right": "right"}.get(
        kind, v.get("side", ""))
    reps = REPS_PHRASES.get(v.get("reps", 1), MANY_REPS)
    tempo = v["speed"] * st.speed
    speed_words = SPEED_PHRASES["slow"] if tempo < 0.85 else SPEED_PHRASES["fast"] if tempo > 1.2 else ()
    count = int(rng.integers(2, 4))
    picks = rng.permutation(len(templates))[:count]
    captions, tokens = [], []
    for i, idx in enumerate(picks):
        mods = []
        subject = str(rng.choice(SUBJECTS))
        if st.subjects and rng.uniform() < 0.4:
            subject = st.subjects[0]
        elif st.adverbs:
            mods.append(st.adverbs[int(rng.integers(len(st.adverbs)))])
        if speed_words and (i == 0 or rng.uniform() < 0.5):  # the first caption always names the tempo
            mods.insert(0, speed_words[int(rng.integers(len(speed_words)))])
        modifiers = " and/CCONJ ".join(mods)
        text, toks = _untag(_fill(templates[idx], subject, modifiers, reps, side))
        captions.append(text)
        tokens.append(toks)
    return captions, tokens


# ------------------------------------------------------------------------------------------ public API
def make_motion(kind: str, num_frames: int = 80, seed: int = 0, **variation) -> SyntheticMotion:
    """One procedural motion of ``kind`` (see :data:`KINDS`), deterministic in all arguments.

    Args:
        kind: e.g. "walk", "wave_left", "jump".
        num_frames: T ≥ :data:`MIN_FRAMES` (20 fps).
        seed: drives every unspecified variation, the template choice and the micro-motion noise.
        **variation: ``speed``, ``amplitude``, ``style`` and the kind's own keys (module docstring).

    Returns:
        :class:`SyntheticMotion` with joints (T, 22, 3) float32.
    """
    if kind not in _GENERATORS:
        raise InputError(f"unknown motion kind {kind!r}; choose from {', '.join(KINDS)}")
    if not isinstance(num_frames, (int, np.integer)) or num_frames < MIN_FRAMES:
        raise InputError(f"num_frames must be an integer >= {MIN_FRAMES}, got {num_frames!r}")
    num_frames = int(num_frames)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed) % (2**63), KINDS.index(kind)]))
    v = _resolve_variation(kind, num_frames, rng, variation)
    st = STYLES[v["style"]]
    t = np.arange(num_frames) / FPS
    body = _Body(t)
    _idle(body, np.random.default_rng(rng.integers(2**63)), st)
    _GENERATORS[kind](body, np.random.default_rng(rng.integers(2**63)), st, v)

    local = euler_to_quat(body.angles, "YZX")  # (T, 22, 4)
    rel, _ = forward_kinematics(local, np.zeros((num_frames, 3)), REST_OFFSETS, LAYOUT.parents.tolist())
    root = _place_root(rel, body, FPS)
    joints = (rel + root[:, None, :]).astype(np.float32)  # (T, 22, 3)
    captions, tokens = _captions(kind, v, np.random.default_rng(rng.integers(2**63)))
    return SyntheticMotion(joints=joints, captions=captions, kind=kind, tokens=tokens, params=v)


def make_dataset(n: int, seed: int = 0, min_frames: int = 40, max_frames: int = 196,
                 kinds: Sequence[str] | None = None) -> list[SyntheticMotion]:
    """``n`` motions with lengths uniform in [min_frames, max_frames]; kinds cycle through ``kinds`` (all
    by default) in a seeded order so that every kind appears once per ``len(kinds)`` motions."""
    kinds = tuple(KINDS if kinds is None else kinds)
    if not kinds or any(k not in _GENERATORS for k in kinds):
        raise InputError(f"kinds must be a non-empty subset of {KINDS}, got {kinds}")
    if n < 0:
        raise InputError(f"n must be >= 0, got {n}")
    if not (MIN_FRAMES <= min_frames <= max_frames):
        raise InputError(f"need {MIN_FRAMES} <= min_frames <= max_frames, got {min_frames}, {max_frames}")
    root = np.random.SeedSequence(int(seed) % (2**63))
    rng = np.random.default_rng(root)
    motions = []
    order: list[str] = []
    children = root.spawn(n)
    for i in range(n):
        if not order:
            order = [kinds[j] for j in rng.permutation(len(kinds))]
        kind = order.pop(0)
        length = int(rng.integers(min_frames, max_frames + 1))
        motions.append(make_motion(kind, length, seed=int(children[i].generate_state(1, np.uint64)[0] >> 1)))
    return motions


def write_humanml3d(directory: str | os.PathLike, motions: Sequence[SyntheticMotion] | int, seed: int = 0,
                    splits: tuple[float, float, float] = (0.8, 0.1, 0.1), overwrite: bool = False,
                    features: bool = True, with_269: bool = False) -> Path:
    """Write motions as a folder in the HumanML3D layout (what every HumanML3D reader expects)::

        new_joints/<id>.npy       (T-1, 22, 3) float32: joints decoded from the features (as HumanML3D does)
        new_joint_vecs/<id>.npy   (T-1, 263) float32: the 263-dim features
        texts/<id>.txt            "caption#lemma/POS ...#0.0#0.0", one line per caption
        Mean.npy, Std.npy         HumanML3D-style (group-averaged) stats of the *train* split
        train.txt val.txt test.txt train_val.txt all.txt   one id per line
        synthetic.json            kind and variation of every id (not part of the HumanML3D format)

        new_joint_vecs_269/       with ``with_269=True``: UniMotion's 269-dim variant, its own Mean.npy/Std.npy

    ``features=False`` writes only ``new_joints`` (the original T frames), texts and splits (no codec needed).
    ``motions`` may be a count: then ``make_dataset(motions, seed, min_frames=41, max_frames=197)`` is written,
    so that the feature clips have 40–196 frames, the range HumanML3D loaders keep. Ids are ``000000``,
    ``000001``... Splits are a seeded shuffle of the ids in the given proportions (each non-empty when there
    are at least three motions). Written to a temporary folder and renamed (``overwrite=False`` refuses an
    existing ``directory``).
    """
    from ..utils.io import atomic_dir, save_npy, write_json, write_text

    if isinstance(motions, (int, np.integer)):
        motions = make_dataset(int(motions), seed=seed, min_frames=41, max_frames=197)
    motions = list(motions)
    if not motions:
        raise InputError("no motions to write")
    if len(splits) != 3 or min(splits) < 0 or sum(splits) <= 0:
        raise InputError(f"splits must be three non-negative fractions (train, val, test), got {splits}")
    ids = [f"{i:06d}" for i in range(len(motions))]
    split_ids = _split(ids, splits, seed)

    if with_269 and not features:
        raise InputError("with_269=True needs features=True")
    feats: dict[str, np.ndarray] = {}
    feats269: dict[str, np.ndarray] = {}
    decoded: dict[str, np.ndarray] = {}
    stats = stats269 = None
    if features:
        try:
            from ..motion import hml3d
        except ImportError as exc:  # pragma: no cover - only before the codec exists
            raise UnimotionError(f"writing new_joint_vecs needs unimotion.motion.hml3d ({exc})") from exc
        for mid, m in zip(ids, motions, strict=True):
            f = np.asarray(hml3d.joints_to_features(m.joints), dtype=np.float32)
            feats[mid] = f
            decoded[mid] = np.asarray(hml3d.features_to_joints(f), dtype=np.float32)
            if with_269:
                feats269[mid] = np.asarray(hml3d.joints_to_features(m.joints, dim=269), dtype=np.float32)
        train = split_ids["train"] or ids
        stats = hml3d.humanml3d_stats([feats[i] for i in train])
        if with_269:
            stats269 = hml3d.humanml3d_stats([feats269[i] for i in train])

    if Path(directory).exists() and not overwrite:
        raise InputError(f"{directory} exists; pass overwrite=True to replace it")
    with atomic_dir(directory, overwrite=True) as tmp:
        for mid, m in zip(ids, motions, strict=True):
            save_npy(tmp / "new_joints" / f"{mid}.npy", decoded.get(mid, m.joints))
            if features:
                save_npy(tmp / "new_joint_vecs" / f"{mid}.npy", feats[mid])
            if with_269:
                save_npy(tmp / "new_joint_vecs_269" / f"{mid}.npy", feats269[mid])
            write_text(tmp / "texts" / f"{mid}.txt", "\n".join(m.text_lines()) + "\n")
        if stats is not None:
            stats.save(tmp)
        if stats269 is not None:
            stats269.save(tmp / "new_joint_vecs_269")
        for name, members in split_ids.items():
            write_text(tmp / f"{name}.txt", "".join(f"{i}\n" for i in members))
        write_json(tmp / "synthetic.json", {
            "generator": "unimotion.data.synthetic", "seed": seed, "fps": FPS,
            "motions": {mid: {"kind": m.kind, "num_frames": m.num_frames, **m.params} for mid, m in zip(ids, motions, strict=True)},
        })
    return Path(directory)


def _split(ids: list[str], fractions: tuple[float, float, float], seed: int) -> dict[str, list[str]]:
    rng = np.random.default_rng(np.random.SeedSequence([int(seed) % (2**63), 7]))
    shuffled = [ids[i] for i in rng.permutation(len(ids))]
    total = float(sum(fractions))
    n = len(ids)
    n_val = int(round(n * fractions[1] / total))
    n_test = int(round(n * fractions[2] / total))
    if n >= 3:  # keep every requested split non-empty
        n_val = max(n_val, 1 if fractions[1] > 0 else 0)
        n_test = max(n_test, 1 if fractions[2] > 0 else 0)
    n_train = max(0, n - n_val - n_test)
    train = sorted(shuffled[:n_train])
    val = sorted(shuffled[n_train:n_train + n_val])
    test = sorted(shuffled[n_train + n_val:])
    return {"train": train, "val": val, "test": test, "train_val": sorted(train + val), "all": sorted(ids)}


def load_json_meta(directory: str | os.PathLike) -> dict:
    """The ``synthetic.json`` written by :func:`write_humanml3d`."""
    return json.loads((Path(directory) / "synthetic.json").read_text(encoding="utf-8"))
