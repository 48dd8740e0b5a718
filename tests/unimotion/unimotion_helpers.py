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


# ---------------------------------------------------------------------------------------------- training / pipeline
FEATURE_DIM = 269


def tiny_vae(input_dim: int = FEATURE_DIM, latent_dim: int = LATENT_DIM, max_frames: int = 64, seed: int = 0):
    """A random temporal-latent CMA-VAE (rate 4, no vision branch) with unit feature statistics."""
    import numpy as np

    from unimotion.models.autoencoders import CMAVAE, CMAVAEConfig
    from unimotion.models.blocks.skip_transformer import SkipTransformerConfig
    from unimotion.motion.stats import NormStats

    st = SkipTransformerConfig(num_layers=1, num_heads=2, ff_dim=16, dropout=0.0)
    cfg = CMAVAEConfig(input_dim=input_dim, max_frames=max_frames, latent_dim=latent_dim, width=16, encoder=st,
                       decoder=st, fused_encoder=st, vision_branch=False, decoder_arch="conv_upsample")
    torch.manual_seed(seed)
    vae = CMAVAE(cfg).eval()
    vae.stats = NormStats(np.zeros(input_dim), np.ones(input_dim))
    return vae


def tiny_pipeline(tokenizer, max_frames: int = 64, notice: str | None = "NON-COMMERCIAL test notice"):
    """A random UniMotionPipeline (tiny model + tiny VAE) with non-trivial latent statistics."""
    import numpy as np

    from unimotion.motion.stats import NormStats
    from unimotion.pipelines.unimotion import UniMotionPipeline

    torch.manual_seed(0)
    model = UniMotionModel(tiny_config(max_latent_len=max_frames // 4), tokenizer=tokenizer)
    perturb_zero_init(model)
    model.stats = NormStats(np.linspace(-0.1, 0.1, LATENT_DIM), np.linspace(0.5, 1.5, LATENT_DIM))
    model.notice = notice
    vae = tiny_vae(max_frames=max_frames)
    return UniMotionPipeline(model, vae)


def walk_joints(frames: int = 40):
    """A procedural walk (T, 22, 3) in metres at 20 fps."""
    from unimotion.data.synthetic import make_motion

    return make_motion("walk", frames, seed=0).joints
