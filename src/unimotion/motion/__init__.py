"""Motion math: rotations, skeleton layouts, kinematics, the HumanML3D codec and normalisation stats.

Pure NumPy/torch functions, no ``nn.Module``:

* :mod:`~unimotion.motion.rotations` — quaternions (w, x, y, z), matrices, axis-angle, 6D, BVH Euler.
* :mod:`~unimotion.motion.skeletons` — layouts ``T2M22`` (HumanML3D), ``KIT21``, ``SMPLX_BODY``.
* :mod:`~unimotion.motion.skeleton` — joint-rotation FK (:func:`forward_kinematics`) and HumanML3D's chain
  IK/FK (:func:`hml3d_inverse_kinematics`, :func:`hml3d_forward_kinematics`, :func:`offsets_from_joints`).
* :mod:`~unimotion.motion.hml3d` — the 263/251-dim HumanML3D representation and the 269-dim UniMotion
  variant: :func:`joints_to_features`, :func:`features_to_joints`, :func:`features_to_root_orientation`,
  :func:`hml3d_norm_stats`.
* :mod:`~unimotion.motion.stats` — :class:`NormStats` (``Mean.npy``/``Std.npy``).

The names below are importable from ``unimotion.motion`` directly; they load their module on first use so
that ``import unimotion.motion.rotations`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "T2M22": "skeletons",
    "KIT21": "skeletons",
    "SMPLX_BODY": "skeletons",
    "SkeletonLayout": "skeletons",
    "get_layout": "skeletons",
    "forward_kinematics": "skeleton",
    "offsets_from_joints": "skeleton",
    "face_direction": "skeleton",
    "hml3d_inverse_kinematics": "skeleton",
    "hml3d_forward_kinematics": "skeleton",
    "NormStats": "stats",
    "joints_to_features": "hml3d",
    "features_to_joints": "hml3d",
    "features_to_root": "hml3d",
    "features_to_root_orientation": "hml3d",
    "canonical_joints": "hml3d",
    "pelvis_orientation": "hml3d",
    "hml3d_chain_joints": "hml3d",
    "uniform_skeleton": "hml3d",
    "default_target_offsets": "hml3d",
    "target_offsets_from_joints": "hml3d",
    "feature_dim": "hml3d",
    "feature_slices": "hml3d",
    "hml3d_norm_stats": "hml3d",
    "apply_feat_bias": "hml3d",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
