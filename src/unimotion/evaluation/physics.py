"""Physical plausibility of joint motions: foot skating, floating, ground penetration, bone lengths.

All functions read joint positions (T, J, 3) in metres, Y up, the floor at y = 0 (HumanML3D's
convention: the processing puts the lowest foot joint of a clip on the floor; generated motions inherit
it through the root-height channel), T2M22 joint order unless ``layout`` says otherwise.

Definitions (from the literature, adapted to joints where the papers use mesh vertices):

* **foot-skate ratio** — GMD (Karunratanakul et al., "Guided Motion Diffusion for Controllable Human
  Motion Synthesis", ICCV 2023), also used by OmniControl and MoMask's successors: the fraction of frame
  transitions in which a foot (the toe joints, 10 and 11) is in contact with the ground — its height is
  below ``contact_height`` (5 cm) in both frames — and slides: its horizontal speed exceeds
  ``skate_speed`` (0.5 m/s, i.e. 2.5 cm per frame at 20 fps) both instantaneously and averaged over a
  window of ``speed_window`` (5) frames. ``skate_per_contact`` is the same count over the transitions with
  a foot in contact only (how often a planted foot slides).
* **floating** and **ground penetration** — PhysDiff (Yuan et al., "PhysDiff: Physics-Guided Human Motion
  Diffusion Model", ICCV 2023): per frame, the height of the lowest body point above the ground beyond a
  tolerance (``float_tolerance``, 5 mm), and its depth below the ground; averaged over frames, in mm.
  PhysDiff measures the lowest mesh vertex; here it is the lowest joint (the toes and ankles), so Real
  motion is the reference to compare against, not zero.
* **bone-length variation** — the standard deviation of each bone's length over the frames of a clip
  (mm), averaged over bones (``bone_std_mm``) and its largest bone (``bone_std_max_mm``). A rigid
  skeleton has 0; HumanML3D-processed data (one fixed target skeleton) has ~0.

:func:`physics_metrics` averages these per motion over a list of motions (each motion weighs the same).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..motion.skeletons import T2M22, SkeletonLayout

__all__ = ["PhysicsConfig", "foot_skate", "floating_penetration", "bone_length_std", "physics_metrics"]


@dataclass(frozen=True)
class PhysicsConfig:
    """Thresholds of the metrics (see the module docstring for their sources)."""

    fps: float = 20.0
    contact_height: float = 0.05  # m: a toe below this height touches the ground (GMD)
    skate_speed: float = 0.5  # m/s horizontal toe speed above which a planted foot slides (GMD)
    speed_window: int = 5  # frames of the moving average of the toe speed (GMD)
    float_tolerance: float = 0.005  # m above the ground that does not count as floating (PhysDiff)
    feet: tuple[int, ...] = (10, 11)  # T2M22 toes (GMD uses the same two joints)


def _check(joints, layout: SkeletonLayout) -> np.ndarray:
    arr = np.asarray(joints, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[1:] != (layout.num_joints, 3):
        raise InputError(f"joints must have shape (T, {layout.num_joints}, 3), got {arr.shape}")
    if arr.shape[0] < 2:
        raise InputError(f"physics metrics need at least 2 frames, got {arr.shape[0]}")
    if not np.isfinite(arr).all():
        raise InputError("joints contain NaN/Inf")
    return arr


def _moving_average(x: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average along the last axis, zero-padded at both ends (as ``uniform_filter1d``'s
    ``mode="constant"``)."""
    if window <= 1:
        return x
    kernel = np.ones(window) / window
    left = window // 2
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(left, window - 1 - left)])
    return np.apply_along_axis(lambda row: np.convolve(row, kernel, mode="valid"), -1, padded)


def foot_skate(joints, config: PhysicsConfig = PhysicsConfig(), layout: SkeletonLayout = T2M22) -> dict[str, float]:
    """GMD's foot-skate ratio of one motion (T, J, 3) → {"skate_ratio", "skate_per_contact", "contact_ratio"}."""
    arr = _check(joints, layout)
    feet = arr[:, list(config.feet)]  # (T, F, 3)
    speed = np.linalg.norm(np.diff(feet[..., [0, 2]], axis=0), axis=-1).T * config.fps  # (F, T-1)
    avg = _moving_average(speed, config.speed_window)
    height = feet[..., 1].T  # (F, T)
    contact = (height[:, :-1] < config.contact_height) & (height[:, 1:] < config.contact_height)  # (F, T-1)
    sliding = contact & (speed > config.skate_speed) & (avg > config.skate_speed)
    any_contact = contact.any(0)
    any_sliding = sliding.any(0)
    n_contact = int(any_contact.sum())
    return {
        "skate_ratio": float(any_sliding.mean()),
        "skate_per_contact": float(any_sliding.sum() / n_contact) if n_contact else 0.0,
        "contact_ratio": float(any_contact.mean()),
    }


def floating_penetration(joints, config: PhysicsConfig = PhysicsConfig(),
                         layout: SkeletonLayout = T2M22) -> dict[str, float]:
    """PhysDiff-style floating and penetration (mm, averaged over frames) of one motion (T, J, 3)."""
    arr = _check(joints, layout)
    lowest = arr[..., 1].min(axis=1)  # (T,)
    return {
        "float_mm": 1000.0 * float(np.maximum(lowest - config.float_tolerance, 0.0).mean()),
        "penetration_mm": 1000.0 * float(np.maximum(-lowest, 0.0).mean()),
    }


def bone_length_std(joints, layout: SkeletonLayout = T2M22) -> dict[str, float]:
    """Per-bone standard deviation of the length over the frames (mm): mean over bones and the largest."""
    arr = _check(joints, layout)
    parents = np.asarray(layout.parents)
    child = np.flatnonzero(parents >= 0)
    lengths = np.linalg.norm(arr[:, child] - arr[:, parents[child]], axis=-1)  # (T, B)
    std = lengths.std(axis=0) * 1000.0
    return {"bone_std_mm": float(std.mean()), "bone_std_max_mm": float(std.max())}


def physics_metrics(motions: Sequence[np.ndarray], config: PhysicsConfig = PhysicsConfig(),
                    layout: SkeletonLayout = T2M22) -> dict[str, float]:
    """Every metric above, averaged over ``motions`` (each (T_i, J, 3)); also ``n`` (motions)."""
    if len(motions) == 0:
        raise InputError("physics_metrics needs at least one motion")
    per = [{**foot_skate(m, config, layout), **floating_penetration(m, config, layout), **bone_length_std(m, layout)}
           for m in motions]
    out = {k: float(np.mean([p[k] for p in per])) for k in per[0]}
    out["n"] = len(per)
    return out
