"""Helpers for the UniMotion tests: tiny configurations (each forward+backward well under 1 s)."""

from __future__ import annotations

import torch

from unimotion.models.unimotion.backbone import BackboneConfig
from unimotion.models.unimotion.embedders import EmbedderConfig
from unimotion.models.unimotion.flow_head import FlowHeadConfig
from unimotion.models.unimotion.model import UniMotionConfig, UniMotionModel
from unimotion.models.unimotion.routed_lora import LoRAConfig

LATENT_DIM = 8
TINY_BACKBONE = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                     num_key_value_heads=2)


def tiny_config(**kwargs) -> UniMotionConfig:
    base = dict(
        latent_dim=LATENT_DIM,
        max_latent_len=16,
        backbone=BackboneConfig(overrides=dict(TINY_BACKBONE)),
        embedder=EmbedderConfig(semantic_width=16, semantic_layers=1, semantic_heads=2),
        flow_head=FlowHeadConfig(num_blocks=1, num_heads=2),
        lora=LoRAConfig(rank=4, alpha=8.0, dropout=0.0),
    )
    base.update(kwargs)
    return UniMotionConfig(**base)


def perturb_zero_init(model: UniMotionModel, scale: float = 0.05, seed: int = 1) -> None:
    """Give the zero-initialised parts (LoRA B, flow-head gates/output) non-zero values, as after training."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name or name.startswith("flow_head."):
                p.add_(torch.randn(p.shape, generator=g) * scale)
