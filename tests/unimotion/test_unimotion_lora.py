"""Modality-routed LoRA: zero init, per-token routing, frozen base, parameter counts, merging, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from unimotion.errors import ConfigError
from unimotion.models.unimotion.routed_lora import (
    LoRAConfig,
    LoRARouter,
    RoutedLoRALinear,
    apply_routed_lora,
    parameter_report,
    unwrap_routed_lora,
)


def _layer(rank=3, alpha=6.0):
    torch.manual_seed(0)
    base = nn.Linear(5, 4)
    base.requires_grad_(False)
    router = LoRARouter(2, default_branch=0)
    return RoutedLoRALinear(base, router, rank=rank, alpha=alpha), router


def test_new_layer_equals_base_and_b_is_zero():
    layer, router = _layer()
    x = torch.randn(2, 6, 5)
    assert torch.equal(layer.lora_B, torch.zeros_like(layer.lora_B))
    assert torch.allclose(layer(x), layer.base(x))
    with router.routing(torch.randint(0, 2, (2, 6))):
        assert torch.allclose(layer(x), layer.base(x))


def test_each_token_uses_its_branch():
    layer, router = _layer(rank=3, alpha=6.0)
    with torch.no_grad():
        layer.lora_B.normal_()
    x = torch.randn(2, 6, 5)
    route = torch.tensor([[0, 1, 1, 0, 0, 1], [1, 1, 0, 0, 1, 0]])
    with router.routing(route):
        y = layer(x)
    W, b = layer.base.weight, layer.base.bias
    for i in range(2):
        for j in range(6):
            k = int(route[i, j])
            delta = (layer.lora_B[k] @ layer.lora_A[k] @ x[i, j]) * (6.0 / 3)
            assert torch.allclose(y[i, j], W @ x[i, j] + b + delta, atol=1e-5)
    # without a route every token takes the default (text) branch
    y0 = layer(x)
    expect = layer.base(x) + (x @ layer.lora_A[0].t() @ layer.lora_B[0].t()) * 2.0
    assert torch.allclose(y0, expect, atol=1e-5)


def test_uniform_route_shortcut_matches_the_routed_computation():
    layer, router = _layer()
    with torch.no_grad():
        layer.lora_B.normal_()
    x = torch.randn(2, 5, 5)
    route = torch.ones(2, 5, dtype=torch.long)
    with router.routing(route):
        assert router.uniform_branch == 1
        with torch.no_grad():
            fast = layer(x)  # single-branch path
        full = layer(x)  # grad enabled: routed path over both branches
    assert torch.allclose(fast, full, atol=1e-6)
    with router.routing(torch.tensor([[0, 1, 1, 1, 1]] * 2)):
        assert router.uniform_branch is None


def test_routing_isolates_branches_in_gradients():
    layer, router = _layer()
    with torch.no_grad():
        layer.lora_B.normal_()
    x = torch.randn(1, 4, 5)
    with router.routing(torch.zeros(1, 4, dtype=torch.long)):  # all text
        layer(x).sum().backward()
    assert layer.lora_A.grad[0].abs().sum() > 0 and layer.lora_B.grad[0].abs().sum() > 0
    assert layer.lora_A.grad[1].abs().sum() == 0 and layer.lora_B.grad[1].abs().sum() == 0
    assert layer.base.weight.grad is None  # frozen


def test_route_shape_mismatch_raises_and_nesting_restores():
    layer, router = _layer()
    with router.routing(torch.zeros(1, 3, dtype=torch.long)):
        with pytest.raises(RuntimeError, match="route"):
            layer(torch.randn(1, 4, 5))
        inner = torch.ones(1, 4, dtype=torch.long)
        with router.routing(inner):
            assert router.route is inner
        assert router.route.shape == (1, 3)
    assert router.route is None


class _Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.ModuleDict({n: nn.Linear(8, 8) for n in ("q_proj", "k_proj", "v_proj", "o_proj")})
        self.mlp = nn.Linear(8, 8)


def test_apply_counts_merge_and_unwrap():
    torch.manual_seed(0)
    model = _Toy()
    model.requires_grad_(False)
    cfg = LoRAConfig(rank=2, alpha=4.0, dropout=0.0)
    router = LoRARouter(2)
    names = apply_routed_lora(model, cfg, router)
    assert sorted(names) == ["attn.k_proj", "attn.o_proj", "attn.q_proj", "attn.v_proj"]
    assert isinstance(model.mlp, nn.Linear)
    rep = parameter_report(model)
    assert rep["lora"] == 4 * 2 * 2 * (8 + 8)  # 4 layers x 2 branches x rank 2 x (in + out)
    assert rep["trainable"] == rep["lora"]
    assert rep["total"] == 5 * (64 + 8) + rep["lora"]
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, RoutedLoRALinear):
                m.lora_B.normal_()
    x = torch.randn(1, 3, 8)
    with router.routing(torch.ones(1, 3, dtype=torch.long)):
        routed = model.attn["q_proj"](x)
    assert unwrap_routed_lora(model, branch=1) == 4
    assert isinstance(model.attn["q_proj"], nn.Linear)
    assert torch.allclose(model.attn["q_proj"](x), routed, atol=1e-5)


def test_config_validation():
    with pytest.raises(ConfigError):
        LoRAConfig(rank=0)
    with pytest.raises(ConfigError):
        LoRAConfig(modality_branch={"text": "text", "motion": "nope", "image": "text"})
    with pytest.raises(ConfigError):
        LoRAConfig(modality_branch={"text": "text"})
    assert LoRAConfig().branch_of_modality() == [0, 1, 0]  # text, motion, image
    shared = LoRAConfig(branches=["shared"], modality_branch={"text": "shared", "motion": "shared", "image": "shared"})
    assert shared.branch_of_modality() == [0, 0, 0]
    with pytest.raises(ConfigError):
        apply_routed_lora(nn.Sequential(nn.Linear(2, 2)), LoRAConfig(), LoRARouter(2))
