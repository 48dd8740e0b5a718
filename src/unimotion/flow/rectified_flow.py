"""Rectified flow (flow matching on straight paths): time sampling, interpolation, loss, Euler + CFG.

Convention (UniMotion spec §4.8, same as Show-o2 / SiT's linear path)::

    x_t = t · x1 + (1 − t) · x0,     x1 = data, x0 ~ N(0, I)
    u_t = dx_t/dt = x1 − x0           (the velocity target)

so ``t = 0`` is pure noise and ``t = 1`` is data, and sampling integrates from 0 to 1.

Time sampling during training is logit-normal by default (``t = sigmoid(m + s·ε)``, ε ~ N(0, 1)), which puts
more samples at intermediate times; Show-o2 uses m = 0, s = 1 (``snr_type: lognorm``), the UniMotion paper does
not give its values. Sampling uses a fixed Euler grid on [0, 1], optionally warped by Show-o2's time shift
``t' = t / (t + s − s·t)`` (s > 1 spends more steps near the noise end; s = 1 is the identity). Whether UniMotion
uses the shift is unknown (spec §10.8), so the default is 1.0 and Show-o2's value 3.0 is one setting away.

Classifier-free guidance combines the two velocities as ``v = v_u + w·(v_c − v_u)`` (Show-o2's form), where
``w = 1`` gives the conditional velocity and ``w = 0`` the unconditional one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch

from ..errors import ConfigError, InputError

__all__ = [
    "FlowConfig",
    "sample_time",
    "interpolate",
    "velocity_target",
    "flow_matching_loss",
    "shift_time",
    "time_grid",
    "cfg_combine",
    "euler_sample",
]


@dataclass
class FlowConfig:
    """Every hyper-parameter of training and sampling the rectified flow.

    Attributes:
        time_sampling: ``"logit_normal"`` (default, Show-o2 ``lognorm``) or ``"uniform"`` on (0, 1).
        logit_mean: mean m of the normal before the sigmoid (paper silent; Show-o2: 0).
        logit_std: std s of the normal before the sigmoid (paper silent; Show-o2: 1).
        t_eps: training times are clamped to [t_eps, 1 − t_eps] (keeps both endpoints out of the loss).
        lambda_flow: weight of the flow loss in ``L = λ_ntp·L_NTP + λ_flow·L_flow`` (paper: 0.8).
        lambda_ntp: weight of the next-token loss (paper: 1.0).
        cond_dropout: probability of replacing a training example's condition with the null condition, which
            trains the unconditional branch used by classifier-free guidance (paper silent; Show-o2: 0.1).
        cfg_scale: guidance weight w at sampling (paper: 3.0). 1.0 disables guidance (one branch only).
        num_steps: Euler steps at sampling (paper: 50).
        time_shift: Show-o2 time-shift factor s at sampling; 1.0 = no shift (UniMotion unknown; Show-o2: 3.0).
    """

    time_sampling: Literal["logit_normal", "uniform"] = "logit_normal"
    logit_mean: float = 0.0
    logit_std: float = 1.0
    t_eps: float = 1e-5
    lambda_flow: float = 0.8
    lambda_ntp: float = 1.0
    cond_dropout: float = 0.1
    cfg_scale: float = 3.0
    num_steps: int = 50
    time_shift: float = 1.0

    def __post_init__(self) -> None:
        if self.logit_std <= 0:
            raise ConfigError(f"flow.logit_std must be > 0, got {self.logit_std}")
        if not 0 <= self.t_eps < 0.5:
            raise ConfigError(f"flow.t_eps must be in [0, 0.5), got {self.t_eps}")
        if not 0 <= self.cond_dropout <= 1:
            raise ConfigError(f"flow.cond_dropout must be in [0, 1], got {self.cond_dropout}")
        if self.num_steps < 1:
            raise ConfigError(f"flow.num_steps must be >= 1, got {self.num_steps}")
        if self.time_shift <= 0:
            raise ConfigError(f"flow.time_shift must be > 0, got {self.time_shift}")
        if self.lambda_flow < 0 or self.lambda_ntp < 0:
            raise ConfigError("flow.lambda_flow and flow.lambda_ntp must be >= 0")


def sample_time(
    n: int,
    config: FlowConfig,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Training times, one per example. Returns (n,) float32 in [t_eps, 1 − t_eps]."""
    if config.time_sampling == "logit_normal":
        eps = torch.randn(n, generator=generator, device=device)
        t = torch.sigmoid(config.logit_mean + config.logit_std * eps)
    elif config.time_sampling == "uniform":
        t = torch.rand(n, generator=generator, device=device)
    else:  # pragma: no cover - guarded by the Literal type in from_dict
        raise ConfigError(f"unknown time_sampling {config.time_sampling!r}")
    return t.clamp(config.t_eps, 1.0 - config.t_eps)


def _expand_time(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B,) or scalar time → broadcastable to ``like`` (B, ...)."""
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    if t.ndim == 0:
        return t
    return t.reshape(t.shape[0], *([1] * (like.ndim - 1)))


def interpolate(x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t = t·x1 + (1 − t)·x0. ``x0``/``x1``: (B, ...); ``t``: (B,) or scalar."""
    tt = _expand_time(t, x1)
    return tt * x1 + (1.0 - tt) * x0


def velocity_target(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    """u = x1 − x0, the constant velocity of the straight path."""
    return x1 - x0


def flow_matching_loss(v_pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error over valid tokens and all channels.

    Args:
        v_pred, target: (B, T, D).
        mask: (B, T) bool, True = valid token. None = every token counts.
    Returns:
        scalar: Σ_valid ‖v − u‖² / (#valid tokens · D); 0 (with a graph) when no token is valid.
    """
    err = (v_pred - target).pow(2)
    if mask is None:
        return err.mean()
    m = mask.to(err.dtype).unsqueeze(-1)  # (B, T, 1)
    denom = m.sum() * err.shape[-1]
    return (err * m).sum() / denom.clamp_min(1.0)


def shift_time(t: torch.Tensor, shift: float) -> torch.Tensor:
    """Show-o2 / Lumina time shift ``t / (t + s − s·t)`` (identity for s = 1; keeps 0 and 1 fixed)."""
    if shift == 1.0:
        return t
    return t / (t + shift - shift * t)


def time_grid(num_steps: int, shift: float = 1.0, device: torch.device | str = "cpu") -> torch.Tensor:
    """The Euler grid: ``num_steps + 1`` increasing times from 0 to 1 (after the optional shift)."""
    if num_steps < 1:
        raise InputError(f"num_steps must be >= 1, got {num_steps}")
    grid = torch.linspace(0.0, 1.0, num_steps + 1, device=device, dtype=torch.float64)
    return shift_time(grid, shift).to(torch.float32)


def cfg_combine(v_cond: torch.Tensor, v_uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance: v_u + w·(v_c − v_u)."""
    return v_uncond + scale * (v_cond - v_uncond)


def euler_sample(
    velocity_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    num_steps: int,
    shift: float = 1.0,
) -> torch.Tensor:
    """Integrate dx/dt = v(x, t) from t = 0 (noise ``x0``) to t = 1 with explicit Euler steps.

    ``velocity_fn(x (B, ...), t (B,)) -> (B, ...)``; returns x at t = 1. A constant velocity field is integrated
    exactly (the property rectified flow relies on).
    """
    grid = time_grid(num_steps, shift, device=x0.device)
    x = x0
    for i in range(num_steps):
        t = grid[i].expand(x.shape[0])
        x = x + (grid[i + 1] - grid[i]).to(x.dtype) * velocity_fn(x, t)
    return x
