"""Motion autoencoders sharing one interface (see :mod:`.base`).

* :class:`CMAVAE` (``"cma_vae"``) — UniMotion's Cross-Modal Aligned VAE with Dual-Posterior KL Alignment;
* :class:`MLDVAE` (``"mld_vae"``) — MLD's SkipTransformer VAE with a few global latent tokens;
* :class:`VQVAE` (``"vq_vae"``) — T2M-GPT's convolutional VQ-VAE (EMA codebook, optional residual VQ).
"""

from .base import AutoencoderConfig, AutoencoderOutput, LatentOutput, MotionAutoencoder
from .cma_vae import CMAVAE, CMAVAEConfig
from .mld_vae import MLDVAE, MLDVAEConfig
from .vq_vae import VQVAE, VQVAEConfig

__all__ = [
    "AutoencoderConfig",
    "AutoencoderOutput",
    "LatentOutput",
    "MotionAutoencoder",
    "CMAVAE",
    "CMAVAEConfig",
    "MLDVAE",
    "MLDVAEConfig",
    "VQVAE",
    "VQVAEConfig",
]
