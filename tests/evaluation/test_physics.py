"""Physics metrics: GMD's foot-skate ratio, PhysDiff-style floating/penetration, bone-length variation."""

from __future__ import annotations

import numpy as np
import pytest

from unimotion.errors import InputError
from unimotion.evaluation.physics import (
    PhysicsConfig,
    bone_length_std,
    floating_penetration,
    foot_skate,
    physics_metrics,
)


def _standing(frames: int = 40, toe_height: float = 0.0) -> np.ndarray:
    """A still figure: joints spread upwards from the floor, toes (10, 11) at ``toe_height``."""
    j = np.zeros((frames, 22, 3))
    j[:, :, 1] = np.linspace(0.1, 1.6, 22)[None]
    j[:, :, 0] = np.linspace(-0.2, 0.2, 22)[None]
    j[:, [10, 11], 1] = toe_height
    j[:, [7, 8], 1] = toe_height + 0.08
    return j


def test_still_feet_do_not_skate_and_sliding_planted_feet_do():
    still = _standing()
    assert foot_skate(still) == {"skate_ratio": 0.0, "skate_per_contact": 0.0, "contact_ratio": 1.0}
    slide = still.copy()
    slide[:, 10, 0] += np.arange(40) * (1.0 / 20)  # the left toe slides at 1 m/s on the floor
    assert foot_skate(slide)["skate_ratio"] == 1.0
    slower = still.copy()
    slower[:, 10, 0] += np.arange(40) * (0.8 / 20)  # 0.8 m/s: the zero-padded 5-frame average at the
    # first and last transition is 0.8 * 3/5 = 0.48 < 0.5, so those two do not count
    assert foot_skate(slower)["skate_ratio"] == pytest.approx(37 / 39)
    slow = still.copy()
    slow[:, 10, 0] += np.arange(40) * (0.3 / 20)  # 0.3 m/s: below GMD's 0.5 m/s
    assert foot_skate(slow)["skate_ratio"] == 0.0
    lifted = slide.copy()
    lifted[:, 10, 1] = 0.2  # moving in the air is a step, not a skate
    assert foot_skate(lifted)["skate_ratio"] == 0.0


def test_floating_and_penetration_in_mm():
    assert floating_penetration(_standing(toe_height=0.1)) == pytest.approx({"float_mm": 95.0, "penetration_mm": 0.0})
    assert floating_penetration(_standing(toe_height=-0.02)) == pytest.approx({"float_mm": 0.0, "penetration_mm": 20.0})
    assert floating_penetration(_standing(toe_height=0.003))["float_mm"] == 0.0  # within PhysDiff's 5 mm
    cfg = PhysicsConfig(float_tolerance=0.0)
    assert floating_penetration(_standing(toe_height=0.003), cfg)["float_mm"] == pytest.approx(3.0)


def test_bone_length_std():
    still = _standing()
    assert bone_length_std(still) == pytest.approx({"bone_std_mm": 0.0, "bone_std_max_mm": 0.0}, abs=1e-9)
    stretch = still.copy()
    stretch[::2, 21, 1] += 0.01  # joint 21 (a leaf) moves up 1 cm on every other frame: one bone changes
    a = np.linalg.norm(stretch[0, 21] - stretch[0, 19])
    b = np.linalg.norm(stretch[1, 21] - stretch[1, 19])
    out = bone_length_std(stretch)
    assert out["bone_std_max_mm"] == pytest.approx(1000 * abs(a - b) / 2)  # std of two equally frequent values
    assert out["bone_std_mm"] == pytest.approx(1000 * abs(a - b) / 2 / 21)


def test_physics_metrics_average_and_errors():
    out = physics_metrics([_standing(toe_height=0.1), _standing(toe_height=-0.02)])
    assert out["n"] == 2 and out["float_mm"] == pytest.approx(47.5) and out["penetration_mm"] == pytest.approx(10.0)
    with pytest.raises(InputError, match="at least one"):
        physics_metrics([])
    with pytest.raises(InputError, match="shape"):
        foot_skate(np.zeros((10, 21, 3)))
    with pytest.raises(InputError, match="2 frames"):
        foot_skate(np.zeros((1, 22, 3)))
    bad = _standing()
    bad[3, 3, 1] = np.inf
    with pytest.raises(InputError, match="NaN"):
        bone_length_std(bad)
