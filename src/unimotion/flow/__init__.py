"""Rectified flow: time sampling, interpolation, loss, Euler sampler, classifier-free guidance."""

from .rectified_flow import (
    FlowConfig,
    cfg_combine,
    euler_sample,
    flow_matching_loss,
    interpolate,
    sample_time,
    shift_time,
    time_grid,
    velocity_target,
)

__all__ = [
    "FlowConfig",
    "cfg_combine",
    "euler_sample",
    "flow_matching_loss",
    "interpolate",
    "sample_time",
    "shift_time",
    "time_grid",
    "velocity_target",
]
