"""Rectified flow: time sampling, interpolation, loss, time grid/shift, CFG, Euler."""

from __future__ import annotations

import math

import pytest
import torch

from unimotion.errors import ConfigError, InputError
from unimotion.flow.rectified_flow import (
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


def test_logit_normal_time_statistics():
    cfg = FlowConfig(logit_mean=0.5, logit_std=0.7, t_eps=0.0)
    g = torch.Generator().manual_seed(0)
    t = sample_time(20000, cfg, generator=g)
    assert t.shape == (20000,) and (t > 0).all() and (t < 1).all()
    logit = torch.log(t / (1 - t))
    assert abs(logit.mean().item() - 0.5) < 0.03
    assert abs(logit.std().item() - 0.7) < 0.03


def test_uniform_time_and_clamp():
    cfg = FlowConfig(time_sampling="uniform", t_eps=0.1)
    t = sample_time(5000, cfg, generator=torch.Generator().manual_seed(1))
    assert t.min() >= 0.1 and t.max() <= 0.9
    assert abs(t.mean().item() - 0.5) < 0.02


def test_interpolation_endpoints_and_target():
    x0, x1 = torch.randn(3, 4, 2), torch.randn(3, 4, 2)
    assert torch.allclose(interpolate(x0, x1, torch.zeros(3)), x0)
    assert torch.allclose(interpolate(x0, x1, torch.ones(3)), x1)
    t = torch.tensor([0.25, 0.5, 0.75])
    mid = interpolate(x0, x1, t)
    assert torch.allclose(mid[1], 0.5 * x0[1] + 0.5 * x1[1])
    assert torch.allclose(mid[0], 0.75 * x0[0] + 0.25 * x1[0])
    # the target is the time derivative of the path
    h = 1e-3
    num = (interpolate(x0, x1, t + h) - interpolate(x0, x1, t)) / h
    assert torch.allclose(num, velocity_target(x0, x1), atol=1e-2)


def test_masked_loss_matches_manual():
    v, u = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    manual = sum(((v[b, i] - u[b, i]) ** 2).sum() for b, i in [(0, 0), (0, 1), (1, 0)]) / (3 * 4)
    assert torch.allclose(flow_matching_loss(v, u, mask), manual)
    assert torch.allclose(flow_matching_loss(v, u), ((v - u) ** 2).mean())
    assert flow_matching_loss(v, u, torch.zeros(2, 3, dtype=torch.bool)).item() == 0.0


def test_time_grid_and_shift():
    g = time_grid(10)
    assert g.shape == (11,) and g[0] == 0 and g[-1] == 1
    assert torch.allclose(g, torch.linspace(0, 1, 11))
    s = time_grid(10, shift=3.0)
    assert s[0] == 0 and abs(s[-1].item() - 1) < 1e-6 and (s[1:] > s[:-1]).all()
    # shifted values by the closed form, and more time near the noise end
    assert math.isclose(s[5].item(), 0.5 / (0.5 + 3 - 1.5), rel_tol=1e-6)
    assert (s[1:-1] < g[1:-1]).all()
    assert torch.equal(shift_time(g, 1.0), g)
    with pytest.raises(InputError):
        time_grid(0)


def test_cfg_combination():
    c, u = torch.tensor([2.0]), torch.tensor([1.0])
    assert cfg_combine(c, u, 1.0).item() == 2.0
    assert cfg_combine(c, u, 0.0).item() == 1.0
    assert cfg_combine(c, u, 3.0).item() == 4.0


def test_euler_exact_for_constant_velocity_and_first_order_for_linear_field():
    x0 = torch.randn(4, 3)
    v = torch.randn(4, 3)
    out = euler_sample(lambda x, t: v, x0, num_steps=7, shift=2.0)
    assert torch.allclose(out, x0 + v, atol=1e-6)
    # dx/dt = x → x(1) = e·x0; Euler with n steps gives (1 + 1/n)^n
    out = euler_sample(lambda x, t: x, torch.ones(1, 1), num_steps=50)
    assert math.isclose(out.item(), (1 + 1 / 50) ** 50, rel_tol=1e-5)


def test_config_validation():
    with pytest.raises(ConfigError):
        FlowConfig(logit_std=0)
    with pytest.raises(ConfigError):
        FlowConfig(cond_dropout=1.5)
    with pytest.raises(ConfigError):
        FlowConfig(num_steps=0)
