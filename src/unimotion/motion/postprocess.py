"""Post-processing of generated motion: a rigid skeleton, planted feet, no floor penetration, smooth joins.

:func:`finish_motion` is what the pipeline applies to every generated motion (each step switchable):

1. **rigid skeleton** — the decoded joints are put on the training data's skeleton (:func:`.rigid.rigidify`):
   constant bone lengths, so the BVH export (rotations only) reproduces the joints exactly;
2. **foot-skate clean-up** (:func:`remove_foot_skate`) and **floor** (:func:`lift_above_floor`), below;
3. the features' position channels are rewritten from the final joints
   (:func:`.hml3d.features_with_joints`), so features and joints describe the same motion.

For a continuation (prediction), :func:`blend_join` first removes the pose jump at the join with the
observed motion, and steps 1–2 only touch the generated frames.

Contact clean-up (:func:`remove_foot_skate`):

Generated motions (a VAE decoder's output) move the root with one set of channels and the feet with
another, so a foot that is on the ground often slides while the body walks ("foot skating"). The fix
here is the classical one for root-driven motion: the body is moved, not the leg. For every frame
transition in which a foot is planted — its contact flag is on (the features' foot-contact channels, or
its height when no flags are given) and the foot is below ``contact_height`` — the horizontal slide of
that foot is taken out of the whole body's translation from then on (the mean over the planted feet;
smoothed over ``smooth_sigma`` frames so that contacts switching on and off do not jerk the body). The
pose is not touched, so bone lengths and joint angles stay as they are. The body is also moved
vertically so that, while both feet are planted, the lower one touches the floor (no floating while
standing; frames in between follow smoothly). Then every
frame whose lowest joint is below the floor (y < 0) is lifted onto it (ground penetration).

Choices and their reasons (the papers generate without a clean-up; this is a documented post-process,
switchable in the pipeline): the translation-only correction cannot break the skeleton, needs no IK and
leaves real motion almost unchanged (a planted real foot hardly slides); its cost is that a motion whose
legs barely step is slowed down to what its feet do.
"""

from __future__ import annotations

import numpy as np

from ..errors import MotionError
from .hml3d import feature_slices, features_to_joints, features_with_joints
from .rigid import rigidify
from .skeletons import T2M22, SkeletonLayout

__all__ = ["remove_foot_skate", "lift_above_floor", "blend_join", "finish_motion"]


def _gaussian_smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along axis 0 (edge-replicated); identity for sigma <= 0."""
    if sigma <= 0 or len(x) < 2:
        return x
    radius = int(np.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k /= k.sum()
    padded = np.concatenate([np.repeat(x[:1], radius, 0), x, np.repeat(x[-1:], radius, 0)], axis=0)
    return np.stack([np.convolve(padded[:, i], k, mode="valid") for i in range(x.shape[1])], axis=1)


def remove_foot_skate(joints, contacts=None, layout: SkeletonLayout = T2M22, contact_height: float = 0.05,
                      smooth_sigma: float = 1.0, ground: bool = True) -> np.ndarray:
    """Joints (T, J, 3) with the planted feet's horizontal slide removed from the body's translation
    (and, with ``ground``, the lowest planted foot put on the floor).

    Args:
        joints: (T, J, 3) metres, Y up, floor at 0.
        contacts: optional (T, 4) foot-contact flags in the features' order (left ankle, left foot, right
            ankle, right foot); a side is planted at a frame when either of its flags is > 0.5. ``None``:
            every foot below ``contact_height`` counts as planted.
        contact_height: a foot joint above this height (m) is never planted.
        smooth_sigma: Gaussian sigma (frames) of the per-transition correction.
        ground: also move the body vertically so that, in every frame with both feet planted, the lower
            foot is at height 0 (other frames interpolate the shift of their neighbours).
    Returns:
        (T, J, 3) float64.
    """
    arr = np.asarray(joints, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[1:] != (layout.num_joints, 3):
        raise MotionError(f"joints must have shape (T, {layout.num_joints}, 3), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise MotionError("joints contain NaN/Inf")
    num_frames = arr.shape[0]
    if num_frames < 2:
        return arr.copy()
    sides = [layout.foot_left, layout.foot_right]  # (ankle, foot) per side
    foot = [s[1] for s in sides]
    low = arr[:, foot, 1] < contact_height  # (T, 2)
    if contacts is not None:
        flags = np.asarray(contacts, dtype=np.float64)
        if flags.shape != (num_frames, 4):
            raise MotionError(f"contacts must have shape ({num_frames}, 4), got {flags.shape}")
        planted = low & np.stack([flags[:, :2].max(1) > 0.5, flags[:, 2:].max(1) > 0.5], axis=1)
    else:
        planted = low
    both = planted[:-1] & planted[1:]  # (T-1, 2): planted across the transition
    step = np.diff(arr[:, foot][..., [0, 2]], axis=0)  # (T-1, 2, 2) horizontal foot displacement
    count = both.sum(1, keepdims=True)
    slide = (step * both[..., None]).sum(1) / np.maximum(count, 1)  # (T-1, 2)
    slide = _gaussian_smooth(slide, smooth_sigma)
    shift = np.zeros((num_frames, 3))
    shift[1:, [0, 2]] = -np.cumsum(slide, axis=0)
    if ground and planted.all(axis=1).any():
        standing = planted.all(axis=1)  # both feet planted: the body's weight is on the floor
        heights = np.where(standing, arr[:, foot, 1].min(axis=1), np.inf)  # (T,) lower foot while standing
        have = np.isfinite(heights)
        frames = np.arange(num_frames)
        drop = np.interp(frames, frames[have], -heights[have])
        shift[:, 1] = _gaussian_smooth(drop[:, None], smooth_sigma)[:, 0]
    return arr + shift[:, None, :]


def lift_above_floor(joints) -> np.ndarray:
    """Joints (T, J, 3) with every frame whose lowest joint is below y = 0 raised onto the floor."""
    arr = np.asarray(joints, dtype=np.float64)
    lift = np.maximum(-arr[..., 1].min(axis=1), 0.0)  # (T,)
    out = arr.copy()
    out[..., 1] += lift[:, None]
    return out


#: Feature groups holding poses (blended at a join); velocities, contacts and heading are left alone.
_POSE_GROUPS = ("root_y", "ric", "rot", "root_orient")


def blend_join(features, observed: int, frames: int = 10) -> np.ndarray:
    """Features (T, D) whose first ``observed`` frames are given and the rest generated, with the pose
    channels of the first ``frames`` generated frames pulled onto the observed motion's continuation.

    The target of the first generated frame is the last observed pose moved on at its last velocity
    (``2·x[o−1] − x[o−2]``); the offset between that and the generated frame is added in full to the
    first generated frame and decays linearly to 0 over ``frames`` frames, so the join has neither a pose
    jump nor a stop, and the continuation keeps its own motion after the blend.
    """
    x = np.array(features, dtype=np.float64)
    if not 0 < observed < len(x) or frames < 1:
        return x.astype(np.float32)
    sl = feature_slices(x.shape[1])
    cols = np.concatenate([np.arange(sl[g].start, sl[g].stop) for g in _POSE_GROUPS if g in sl])
    last = x[observed - 1, cols]
    target = 2 * last - x[observed - 2, cols] if observed >= 2 else last
    offset = target - x[observed, cols]
    k = np.arange(min(frames, len(x) - observed))
    weight = 1.0 - k / frames
    x[observed + k[:, None], cols[None, :]] += weight[:, None] * offset[None, :]
    return x.astype(np.float32)


def finish_motion(features, skeleton: np.ndarray | None, *, clean_contacts: bool = True, observed: int = 0,
                  join_frames: int = 10, contacts: str = "height") -> tuple[np.ndarray, np.ndarray]:
    """Generated features (T, D ≥ 263) → (features, joints (T, 22, 3)) after the steps of the module docs.

    ``skeleton``: (22, 3) bone offsets of the training data (None: no rigidifying). ``observed``: leading
    frames that are given (prediction); they are kept as they are and the rest is blended onto them.
    ``contacts``: what plants a foot in the clean-up — ``"height"`` (below 5 cm) or ``"flags"`` (the
    features' foot-contact channels and below 5 cm). Measured on 116 val prompts of the demo checkpoint
    (``docs/results/postprocess_bandaiml.md``): "flags" leaves fewer skating frames and keeps the
    locomotion's speed, "height" slows locomotion down (a foot near the floor is held even mid-swing).
    """
    feats = np.asarray(features, dtype=np.float32)
    if observed:
        feats = blend_join(feats, observed, join_frames)
    joints = np.asarray(features_to_joints(feats.astype(np.float64)), dtype=np.float64)
    start = observed
    gen = joints[start:]
    if skeleton is not None:
        gen = rigidify(gen, skeleton)
    if clean_contacts:
        if contacts not in ("height", "flags"):
            raise MotionError(f"contacts must be 'height' or 'flags', got {contacts!r}")
        flags = feats[start:, feature_slices(feats.shape[1])["foot_contact"]] if contacts == "flags" else None
        gen = lift_above_floor(remove_foot_skate(gen, flags))  # frame 0 keeps its place: no jump
    joints = np.concatenate([joints[:start], gen], axis=0)
    out = features_with_joints(feats, joints)
    out[:start] = feats[:start]  # the observation is returned as given (its positions did not change)
    return out, joints.astype(np.float32)
