"""Property-based fuzzing (Hypothesis) of the BVH reader + retargeter, the motion-file loaders and the video
reader: whatever the mutation, a reader raises only library errors (``UnimotionError``), returns within a
bounded time, and whatever it returns is finite (and, for the retargeter, within MOTION_MAX_ABS metres).

The mutation operators live in ``mutators.py`` (shared with ``benchmarks/fuzz.py``, which runs the 10,000+
input campaign out of process with memory accounting). Bounded examples keep this file to well under a minute.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutators import (
    BVH_BASES,
    BVH_OPS,
    IMAGE_OPS,
    NPY_OPS,
    base_image,
    base_npy,
    mutate_bvh,
    mutate_image,
    mutate_npy,
    npy_bytes,
    npz_bytes,
)

from unimotion import limits
from unimotion.errors import UnimotionError

TIME_LIMIT_S = 5.0  # per example, on a loaded 2-core machine (the campaign enforces 10 s out of process)
SETTINGS = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow,
                                                                         HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.data_too_large])


def _ops(num_ops: int):
    op = st.tuples(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6),
                   st.floats(allow_nan=True, allow_infinity=True))
    return st.lists(op, min_size=1, max_size=num_ops)


def _run(fn):
    """(result or None, elapsed s); raw (non-library) exceptions propagate and fail the test."""
    start = time.perf_counter()
    try:
        out = fn()
    except UnimotionError as exc:
        assert str(exc) and "\n" not in str(exc)
        out = None
    elapsed = time.perf_counter() - start
    assert elapsed < TIME_LIMIT_S, f"took {elapsed:.1f} s"
    return out


@pytest.fixture(scope="module", autouse=True)
def _imports():
    import unimotion.cli.generate  # noqa: F401
    import unimotion.cli.render  # noqa: F401
    import unimotion.io.render  # noqa: F401


# ------------------------------------------------------------------------------------------ BVH
@settings(max_examples=80, **SETTINGS)
@given(base=st.sampled_from(sorted(BVH_BASES)), ops=_ops(3),
       focus=st.sampled_from([None, "frame_time", "frames", "nest_deeper", "many_joints", "scale_offsets",
                              "scale_values", "extreme_number"]))
def test_bvh_reader_and_retargeter(base, ops, focus):
    from unimotion.io.bvh import read_bvh
    from unimotion.io.retarget import retarget_to_t2m

    if focus is not None:  # make sure the limit-stressing operators are well represented
        ops = [(BVH_OPS.index(focus), *ops[0][1:])] + ops[1:]
    text = mutate_bvh(BVH_BASES[base], ops)
    motion = _run(lambda: read_bvh(text.encode("utf-8", "surrogatepass")))
    if motion is None:
        return
    pos = motion.joint_positions()
    assert np.isfinite(pos).all()
    joints = _run(lambda: retarget_to_t2m(motion))
    if joints is not None:
        assert np.isfinite(joints).all() and np.abs(joints).max() <= limits.get("MOTION_MAX_ABS")


# ------------------------------------------------------------------------------------------ motion files
@settings(max_examples=120, **SETTINGS)
@given(kind=st.integers(0, 30), ops=_ops(3), container=st.sampled_from(["npy", "npz"]),
       loader=st.sampled_from(["generate", "render"]))
def test_motion_loaders(tmp_path_factory, kind, ops, container, loader):
    from unimotion.cli.generate import read_motion
    from unimotion.cli.render import load_motion

    data = mutate_npy(npy_bytes(base_npy(kind)), [(o[0] % len(NPY_OPS), *o[1:]) for o in ops])
    folder = tmp_path_factory.mktemp("motion")
    path = folder / f"m.{container}"
    path.write_bytes(data if container == "npy" else npz_bytes({"joints" if kind % 3 == 0 else "features": data}))
    if loader == "generate":
        out = _run(lambda: read_motion(path, fps=20.0)[0])
    else:
        out = _run(lambda: load_motion(path).joints)
    if out is not None:
        assert np.isfinite(out).all() and np.abs(out).max() <= limits.get("MOTION_MAX_ABS")


# ------------------------------------------------------------------------------------------ video
@settings(max_examples=120, **SETTINGS)
@given(kind=st.integers(0, 40), ops=_ops(3), fps=st.sampled_from([None, 20.0, 1000.0]))
def test_video_reader(tmp_path_factory, kind, ops, fps):
    from unimotion.io.video import read_video

    data, suffix = base_image(kind)
    data = mutate_image(data, [(o[0] % len(IMAGE_OPS), *o[1:]) for o in ops])
    path = tmp_path_factory.mktemp("video") / f"v{suffix}"
    path.write_bytes(data)
    frames = _run(lambda: read_video(path, fps=fps))
    if frames is not None:
        assert frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[-1] == 3
        assert len(frames) <= limits.get("VIDEO_MAX_FRAMES")
        assert frames.size // 3 <= limits.get("VIDEO_MAX_PIXELS")
