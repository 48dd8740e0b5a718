"""CMA-VAE: Cross-Modal Aligned motion VAE with Dual-Posterior KL Alignment (UniMotion spec §3).

Architecture (``width`` W, latent width d, rate r = ``downsample_rate``)::

    motion (B,T,D), mask ──► shared front-end: Linear(D→W) per frame, temporal downsampling ×r,
                             latent positional encoding  ──► h (B, T_z, W), mask_z,  T_z = ⌈T/r⌉
      motion encoder q_φ:   SkipTransformer(h) → Linear(W→2d) → (μ_φ, log σ²_φ) ──► z_motion
      vision-fused q_ψ      frozen feature net(images) → grid-sample at joints_2d → JointFeatureEncoder
      (training only):      → per-latent-step tokens (B, T_z, d_v) ; cat[h, tokens] → Linear(W+d_v→W)
                            → own SkipTransformer → Linear(W→2d) → (μ_ψ, log σ²_ψ) ──► z_fused
      decoder:              z (B, T_z, d) → LatentDecoder (decoder_arch) → (B, T, D)

Losses (spec §3.4): L = λ_rec L_recon + λ_vel L_vel + λ_KL (KL(q_φ‖N(0,I)) + KL(q_ψ‖N(0,I))) + λ_align(step) L_align

* L_recon is computed on the reconstruction decoded from z_fused for samples with an image and from
  z_motion otherwise (``recon_motion_for_image_samples=True`` additionally decodes z_motion for them);
* L_align = KL(q_φ ‖ sg[q_ψ]) (reverse KL, the motion-only posterior is the student, the vision-fused one
  a detached teacher), closed form for diagonal Gaussians, averaged over the valid latent steps of the
  samples that have an image; batches without images contribute no alignment term;
* λ_align(step) = lambda_align · min(1, step / align_warmup_steps) (linear warm-up, spec: 10k steps).

Choices the paper leaves open (spec §10) and the defaults taken here — all configurable:

* T_z = ⌈T/4⌉ through two strided convolutions in the shared front-end (``downsample="conv"``) or masked
  average pooling (``"avgpool"``); the positional encoding is added after downsampling (latent steps).
* d = 256, W = 256, encoders/decoder 9 layers / 4 heads / FF 1024 / dropout 0.1 (MLD's VAE sizes).
* decoder: T positional queries cross-attending to the latent steps (``decoder_arch="cross_attention"``;
  ``"concat"`` = MLD's all-encoder decoder; ``"upsample"`` = nearest upsampling + SkipTransformer;
  ``"conv_upsample"`` = SkipTransformer over the T_z latent steps + nearest/conv upsampling, the mirror of
  the front-end and ~rate× cheaper — the BandaiML configs in ``configs/vae/`` use it).
* λ_KL = 1e-4 with ``kl_reduction="mean"`` (MLD's scale); λ_align = 0.05 (inside the spec's 1e-2..1e-1).
* log σ² is clamped to [logvar_min, logvar_max] = [−30, 20] for numerical safety.
* vision branch: features of C = ``feature_dim`` channels sampled bilinearly (``align_corners=False``,
  see :mod:`.vision_features` for the pixel convention); VisionEnc = per-joint MLP with a joint-identity
  embedding and mean pooling over joints inside the image (``joint_pooling="attention"`` available);
  images are placed on the latent step of the frame they show and the other steps get a learned
  "no image" token (``image_to_latent="scatter"``; ``"nearest"`` broadcasts the nearest image);
  fusion = concatenation + linear projection, as the spec describes.

Batch format (``training_step``): ``motion`` (B, T, D) normalised; ``mask`` (B, T) bool; optional
``images`` (B, V, 3, H, W) float in [0, 1]; ``image_frame_index`` (B, V) integer, the motion frame each
image shows; ``joints_2d`` (B, V, J, 2) the pixel coordinates of the J joints of that frame, precomputed
by the dataset by projecting the motion's joints with the saved camera (see
:meth:`unimotion.motion.camera.Camera.project`; the 269-dim features are not decoded to joints here);
``has_image`` (B,) bool; ``image_mask`` (B, V) bool, which image slots are real (default: all slots of
samples with ``has_image``).

The frozen feature network is not part of the checkpoint: attach it with :meth:`attach_feature_network`
or set ``feature_network_path`` to a unimotion checkpoint directory that :func:`load_pretrained` opens
(loaded lazily, only when images are encoded). At inference only :meth:`encode` (motion-only) is used;
:meth:`strip_vision_branch` removes the fused encoder for a slimmer export.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ...errors import ConfigError, InputError
from ..blocks.positional import PositionalKind
from ..blocks.skip_transformer import SkipTransformer, SkipTransformerConfig
from .base import (
    AutoencoderConfig,
    AutoencoderOutput,
    KLReduction,
    LatentOutput,
    MotionAutoencoder,
    gaussian_kl,
    reduce_latent_kl,
    reparameterize,
)
from .components import DecoderArch, DownsampleKind, LatentDecoder, MotionFrontEnd
from .vision_features import (
    ImageToLatent,
    JointFeatureEncoder,
    JointPooling,
    PixelOrigin,
    freeze,
    images_to_latent_steps,
    sample_joint_features,
)


@dataclass
class CMAVAEConfig(AutoencoderConfig):
    """CMA-VAE hyper-parameters (see the module docstring for the reasoning behind the defaults)."""

    latent_dim: int = 256  # d: width of each latent step z_t
    width: int = 256  # W: transformer width
    downsample_rate: int = 4  # r: T_z = ceil(T / r)
    downsample: DownsampleKind = "conv"  # conv (strided Conv1d stages, r a power of 2) | avgpool
    positional: PositionalKind = "learned"  # learned (spec §3.1) | sinusoidal
    encoder: SkipTransformerConfig = field(default_factory=SkipTransformerConfig)
    decoder: SkipTransformerConfig = field(default_factory=SkipTransformerConfig)
    decoder_arch: DecoderArch = "cross_attention"
    logvar_min: float = -30.0
    logvar_max: float = 20.0
    lambda_kl: float = 1e-4  # weight of each encoder's KL to N(0, I)
    kl_reduction: KLReduction = "mean"  # over the latent width: mean (MLD) | sum (the paper's formula)
    # ---- vision-fused encoder (training only) and DPA
    vision_branch: bool = True  # build the vision-fused encoder (False: plain temporal-latent VAE)
    fused_encoder: SkipTransformerConfig = field(default_factory=SkipTransformerConfig)
    feature_dim: int = 48  # C: channels of the frozen feature maps (HRNet-W48's high-resolution branch)
    vision_dim: int = 256  # d_v: width of the pooled per-image feature
    num_joints: int = 22  # J of joints_2d (HumanML3D / T2M22 skeleton)
    joint_pooling: JointPooling = "mean"
    image_to_latent: ImageToLatent = "scatter"
    pixel_origin: PixelOrigin = "corner"  # pixel convention of joints_2d (see vision_features)
    lambda_align: float = 0.05  # final DPA weight
    align_warmup_steps: int = 10_000  # linear warm-up of the DPA weight from 0 (spec [PN])
    recon_motion_for_image_samples: bool = False  # also decode z_motion for samples with images
    feature_network_path: str | None = None  # checkpoint of the frozen feature network (not saved here)

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("latent_dim", "width", "downsample_rate", "feature_dim", "vision_dim", "num_joints"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.lambda_kl < 0 or self.lambda_align < 0:
            raise ConfigError("lambda_kl and lambda_align must be >= 0")
        if self.align_warmup_steps < 0:
            raise ConfigError(f"align_warmup_steps must be >= 0, got {self.align_warmup_steps}")
        if not self.logvar_min < self.logvar_max:
            raise ConfigError(f"logvar_min ({self.logvar_min}) must be < logvar_max ({self.logvar_max})")


class CMAVAE(MotionAutoencoder):
    """Cross-Modal Aligned motion VAE: latent sequence z ∈ R^{T_z×d}, T_z = ⌈T/r⌉."""

    config_class = CMAVAEConfig
    model_type = "cma_vae"
    batch_extras = ("images", "image_frame_index", "joints_2d", "has_image", "image_mask")
    config: CMAVAEConfig

    def __init__(self, config: CMAVAEConfig):
        super().__init__(config)
        c = config
        self.temporal_rate = c.downsample_rate
        max_latents = math.ceil(c.max_frames / c.downsample_rate)
        self.front_end = MotionFrontEnd(c.input_dim, c.width, c.downsample_rate, c.downsample, c.positional,
                                        c.max_frames)
        self.motion_encoder = SkipTransformer(c.width, c.encoder)
        self.motion_head = nn.Linear(c.width, 2 * c.latent_dim)
        self.decoder = LatentDecoder(c.latent_dim, c.width, c.input_dim, c.decoder_arch, c.decoder, c.positional,
                                     c.max_frames, max_latents, c.downsample_rate)
        if c.vision_branch:
            self._build_vision_branch()
        # the frozen feature network is deliberately not a sub-module: not saved, not trained, not moved
        self.__dict__["_feature_network"] = None

    def _build_vision_branch(self) -> None:
        c = self.config
        self.joint_encoder = JointFeatureEncoder(c.feature_dim, c.vision_dim, c.num_joints, c.joint_pooling)
        self.missing_image = nn.Parameter(torch.randn(c.vision_dim) * 0.02)
        self.fuse = nn.Linear(c.width + c.vision_dim, c.width)
        self.fused_encoder = SkipTransformer(c.width, c.fused_encoder)
        self.fused_head = nn.Linear(c.width, 2 * c.latent_dim)

    def max_input_frames(self) -> int | None:
        return self.config.max_frames if self.config.positional == "learned" else None

    # ------------------------------------------------------------------ feature network
    def attach_feature_network(self, network: nn.Module) -> None:
        """Use ``network`` (forward(images (N,3,H,W) in [0,1]) → (N, C, h, w)) as the frozen feature net.

        It is put in eval mode with frozen parameters and kept outside the module tree (never saved in
        this model's checkpoint, ignored by ``parameters()``); it follows the images' device when used.
        """
        if not isinstance(network, nn.Module):
            raise ConfigError(f"the feature network must be an nn.Module, got {type(network).__name__}")
        self.__dict__["_feature_network"] = freeze(network)

    @property
    def feature_network(self) -> nn.Module:
        """The attached frozen feature network (loaded from ``feature_network_path`` on first use)."""
        net = self.__dict__.get("_feature_network")
        if net is None and self.config.feature_network_path:
            from ..modeling_utils import load_pretrained

            self.attach_feature_network(load_pretrained(self.config.feature_network_path))
            net = self.__dict__["_feature_network"]
        if net is None:
            raise ConfigError(
                "the vision-fused encoder needs a frozen feature network: call attach_feature_network(net) "
                "or set feature_network_path in the CMAVAE config"
            )
        return net

    def strip_vision_branch(self) -> CMAVAE:
        """Delete the vision-fused encoder (inference export); sets ``config.vision_branch = False``."""
        if self.config.vision_branch:
            for name in ("joint_encoder", "missing_image", "fuse", "fused_encoder", "fused_head"):
                delattr(self, name)
            self.config.vision_branch = False
        return self

    def _vision_params(self) -> list[nn.Parameter]:
        if not self.config.vision_branch:
            return []
        mods = (self.joint_encoder, self.fuse, self.fused_encoder, self.fused_head)
        return [self.missing_image, *(p for m in mods for p in m.parameters())]

    # ------------------------------------------------------------------ encoders
    def _posterior(self, h: torch.Tensor, mask_z: torch.Tensor, transformer: SkipTransformer, head: nn.Linear,
                   sample: bool, generator: torch.Generator | None) -> LatentOutput:
        """h (B, T_z, W) → LatentOutput with mean/logvar (B, T_z, d), zero at padded steps."""
        stats = head(transformer(h, mask_z))
        mean, logvar = stats.chunk(2, dim=-1)
        logvar = logvar.clamp(self.config.logvar_min, self.config.logvar_max)
        keep = mask_z[..., None].to(mean.dtype)
        mean, logvar = mean * keep, logvar * keep
        z = reparameterize(mean, logvar, generator) * keep if sample else mean
        return LatentOutput(z=z, mask_z=mask_z, mean=mean, logvar=logvar)

    def encode(self, motion: torch.Tensor, mask: torch.Tensor | None = None, sample: bool | None = None,
               generator: torch.Generator | None = None) -> LatentOutput:
        """Motion-only posterior q_φ(z | m): motion (B, T, D), mask (B, T) → z (B, ⌈T/r⌉, d)."""
        motion, mask = self.validate_motion(motion, mask)
        h, mask_z = self.front_end(motion, mask)
        return self._posterior(h, mask_z, self.motion_encoder, self.motion_head,
                               self.training if sample is None else sample, generator)

    def encode_fused(self, motion: torch.Tensor, mask: torch.Tensor | None, images: torch.Tensor,
                     image_frame_index: torch.Tensor, joints_2d: torch.Tensor, image_mask: torch.Tensor | None = None,
                     sample: bool | None = None, generator: torch.Generator | None = None) -> LatentOutput:
        """Vision-fused posterior q_ψ(z | m, v) for samples that all have at least one image.

        motion (B, T, D), mask (B, T), images (B, V, 3, H, W), image_frame_index (B, V),
        joints_2d (B, V, J, 2), image_mask (B, V) → LatentOutput (B, T_z, d).
        """
        motion, mask = self.validate_motion(motion, mask)
        has_image = torch.ones(motion.shape[0], dtype=torch.bool, device=motion.device)
        vis = self._validate_images(motion, mask, images, image_frame_index, joints_2d, has_image, image_mask)
        if vis is None:
            raise ConfigError("this CMAVAE has no vision branch (vision_branch=False)")
        h, mask_z = self.front_end(motion, mask)
        return self._fused_posterior(h, mask_z, vis, self.training if sample is None else sample, generator)

    def _fused_posterior(self, h: torch.Tensor, mask_z: torch.Tensor, vis: dict[str, torch.Tensor], sample: bool,
                         generator: torch.Generator | None) -> LatentOutput:
        """h (B', T_z, W) of the rows ``vis["rows"]`` refer to (in order) → fused posterior of those rows."""
        tokens = self._vision_tokens(vis, h.shape[0], h.shape[1])  # (B', T_z, d_v)
        fused = self.fuse(torch.cat([h, tokens.to(h.dtype)], dim=-1))
        return self._posterior(fused, mask_z, self.fused_encoder, self.fused_head, sample, generator)

    def _vision_tokens(self, vis: dict[str, torch.Tensor], batch_size: int, num_steps: int) -> torch.Tensor:
        """Frozen features at the joints → pooled per image → placed on the latent axis: (B', T_z, d_v)."""
        images = vis["images"]  # (N, 3, H, W)
        net = self.feature_network
        first = next(net.parameters(), None)
        if first is not None and first.device != images.device:
            net.to(images.device)
        with torch.no_grad():
            net.eval()
            maps = net(images)
        if maps.dim() != 4 or maps.shape[0] != images.shape[0] or maps.shape[1] != self.config.feature_dim:
            raise ConfigError(
                f"the feature network returned {tuple(maps.shape)}; expected (N={images.shape[0]}, "
                f"C={self.config.feature_dim}, h, w) (feature_dim in the CMAVAE config)"
            )
        feats, inside = sample_joint_features(maps.float(), vis["joints_2d"].float(), tuple(images.shape[-2:]),
                                              self.config.pixel_origin)
        pooled = self.joint_encoder(feats, inside)  # (N, d_v)
        steps = vis["frame_index"] // self.config.downsample_rate
        return images_to_latent_steps(pooled, vis["local_rows"], steps, batch_size, num_steps, self.missing_image,
                                      self.config.image_to_latent)

    def _validate_images(self, motion: torch.Tensor, mask: torch.Tensor, images: Any, frame_index: Any,
                         joints_2d: Any, has_image: Any, image_mask: Any) -> dict[str, torch.Tensor] | None:
        """Check the optional image inputs; returns the flattened valid images or None (no image used).

        Returned dict: rows (B',) batch rows with an image; images (N, 3, H, W); frame_index (N,);
        joints_2d (N, J, 2); local_rows (N,) index of each image's row within ``rows``.
        """
        b, t = mask.shape
        if has_image is not None:
            if not isinstance(has_image, torch.Tensor) or has_image.dtype != torch.bool or tuple(has_image.shape) != (b,):
                raise InputError(f"has_image must be a bool tensor of shape ({b},), got "
                                 f"{getattr(has_image, 'shape', type(has_image))}")
        if images is None:
            if has_image is not None and bool(has_image.any()):
                raise InputError("has_image is True for some samples but no images were given")
            return None
        if not self.config.vision_branch:
            return None  # a model without the vision branch ignores images (like MLD-VAE / VQ-VAE)
        if not isinstance(images, torch.Tensor) or images.dim() != 5 or images.shape[0] != b or images.shape[2] != 3:
            raise InputError(f"images must have shape (B={b}, V, 3, H, W), got {getattr(images, 'shape', type(images))}")
        v = images.shape[1]
        if not images.is_floating_point():
            raise InputError(f"images must be float in [0, 1], got {images.dtype}")
        if not isinstance(frame_index, torch.Tensor) or tuple(frame_index.shape) != (b, v) or frame_index.is_floating_point():
            raise InputError(f"image_frame_index must be an integer tensor of shape {(b, v)}, got "
                             f"{getattr(frame_index, 'shape', type(frame_index))}")
        j = self.config.num_joints
        if not isinstance(joints_2d, torch.Tensor) or tuple(joints_2d.shape) != (b, v, j, 2):
            raise InputError(f"joints_2d must have shape {(b, v, j, 2)} (pixel coordinates of the {j} joints "
                             f"of each image's frame), got {getattr(joints_2d, 'shape', type(joints_2d))}")
        if has_image is None:
            has_image = image_mask.any(1) if isinstance(image_mask, torch.Tensor) else torch.ones(
                b, dtype=torch.bool, device=mask.device)
        if image_mask is None:
            image_mask = has_image[:, None].expand(b, v)
        if not isinstance(image_mask, torch.Tensor) or image_mask.dtype != torch.bool or tuple(image_mask.shape) != (b, v):
            raise InputError(f"image_mask must be a bool tensor of shape {(b, v)}")
        used = image_mask & has_image[:, None]  # (B, V)
        lonely = (has_image & ~used.any(1)).nonzero().flatten()
        if lonely.numel():
            raise InputError(f"samples {lonely.tolist()[:10]} have has_image=True but no valid image slot")
        if not bool(used.any()):
            return None
        img = images[used]
        if not torch.isfinite(img).all():
            raise InputError("images contain NaN/Inf")
        lo, hi = float(img.min()), float(img.max())
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise InputError(f"images must be in [0, 1], got values in [{lo:.3g}, {hi:.3g}]")
        idx = frame_index[used].long()
        if ((idx < 0) | (idx >= t)).any():
            raise InputError(f"image_frame_index out of range [0, {t}): {idx.tolist()[:10]}")
        row_of = torch.arange(b, device=mask.device)[:, None].expand(b, v)[used]
        if not mask[row_of, idx].all():
            raise InputError("image_frame_index points at a padded (invalid) motion frame")
        joints = joints_2d[used]
        if not torch.isfinite(joints).all():
            raise InputError("joints_2d contains NaN/Inf")
        rows = has_image.nonzero().flatten()
        local = torch.full((b,), -1, dtype=torch.long, device=mask.device)
        local[rows] = torch.arange(rows.numel(), device=mask.device)
        return {"rows": rows, "images": img, "frame_index": idx, "joints_2d": joints, "local_rows": local[row_of]}

    # ------------------------------------------------------------------ decoder
    def decode(self, z: torch.Tensor, mask_z: torch.Tensor | None = None, mask: torch.Tensor | None = None,
               lengths: torch.Tensor | list[int] | None = None) -> torch.Tensor:
        """z (B, T_z, d), mask_z (B, T_z), target mask (B, T) or lengths (B,) → (B, T, D) (zero at padding).

        Without mask/lengths, T = r·T_z and the frames of valid latent steps are valid.
        """
        if z.dim() == 3 and z.shape[-1] != self.config.latent_dim:
            raise InputError(f"z has width {z.shape[-1]}, expected latent_dim={self.config.latent_dim}")
        mask_z, mask = self._decode_target(z, mask_z, mask, lengths)
        return self.pin_constant_channels(self.decoder(z, mask_z, mask))

    # ------------------------------------------------------------------ training
    def align_weight(self, step: int | None) -> float:
        """λ_align at ``step``: linear warm-up from 0 over ``align_warmup_steps`` (full weight if step is None)."""
        c = self.config
        if step is None or c.align_warmup_steps == 0:
            return c.lambda_align
        return c.lambda_align * min(1.0, max(0, step) / c.align_warmup_steps)

    def forward(self, motion: torch.Tensor, mask: torch.Tensor | None = None, images: torch.Tensor | None = None,
                image_frame_index: torch.Tensor | None = None, joints_2d: torch.Tensor | None = None,
                has_image: torch.Tensor | None = None, image_mask: torch.Tensor | None = None,
                step: int | None = None, sample: bool | None = None,
                generator: torch.Generator | None = None) -> AutoencoderOutput:
        """Encode (both posteriors where images exist), decode, and compute every loss term."""
        c = self.config
        motion, mask = self.validate_motion(motion, mask)
        vis = self._validate_images(motion, mask, images, image_frame_index, joints_2d, has_image, image_mask)
        sample = self.training if sample is None else sample
        h, mask_z = self.front_end(motion, mask)
        lat_m = self._posterior(h, mask_z, self.motion_encoder, self.motion_head, sample, generator)
        kl_motion = reduce_latent_kl(gaussian_kl(lat_m.mean, lat_m.logvar), mask_z, c.kl_reduction)
        zero = motion.new_zeros(())
        kl_fused, align = zero, zero
        lat_f, rows, z = None, None, lat_m.z
        if vis is not None:
            rows = vis["rows"]
            lat_f = self._fused_posterior(h[rows], mask_z[rows], vis, sample, generator)
            z = lat_m.z.index_copy(0, rows, lat_f.z)  # z_fused where an image exists (spec §3.4)
            kl_fused = reduce_latent_kl(gaussian_kl(lat_f.mean, lat_f.logvar), mask_z[rows], c.kl_reduction)
            # DPA: KL(q_φ ‖ sg[q_ψ]) — the teacher is detached, so no alignment gradient reaches q_ψ
            align = reduce_latent_kl(
                gaussian_kl(lat_m.mean[rows], lat_m.logvar[rows], lat_f.mean.detach(), lat_f.logvar.detach()),
                mask_z[rows], c.kl_reduction,
            )
        recon = self.pin_constant_channels(self.decoder(z, mask_z, mask))
        parts = self.reconstruction_losses(recon, motion, mask)
        loss = c.lambda_recon * parts["recon"] + c.lambda_vel * parts["vel"]
        if c.recon_motion_for_image_samples and rows is not None:
            recon_m = self.pin_constant_channels(self.decoder(lat_m.z[rows], mask_z[rows], mask[rows]))
            parts["recon_motion"] = self.reconstruction_losses(recon_m, motion[rows], mask[rows])["recon"]
            loss = loss + c.lambda_recon * parts["recon_motion"]
        w_align = self.align_weight(step)
        loss = loss + c.lambda_kl * (kl_motion + kl_fused) + w_align * align
        if self.training and c.vision_branch:
            # Touch every vision-branch parameter with weight 0 so DistributedDataParallel (without
            # find_unused_parameters) also works on batches without images.
            loss = loss + 0.0 * sum(p.reshape(-1)[0] for p in self._vision_params())
        n_img = 0 if rows is None else rows.numel()
        losses = {
            **parts,
            "kl": kl_motion + kl_fused,
            "kl_motion": kl_motion,
            "kl_fused": kl_fused,
            "align": align,
            "align_weight": motion.new_tensor(w_align),
            "image_fraction": motion.new_tensor(n_img / motion.shape[0]),
        }
        latent = LatentOutput(z=z, mask_z=mask_z,
                              mean=lat_m.mean if lat_f is None else lat_m.mean.index_copy(0, rows, lat_f.mean),
                              logvar=lat_m.logvar if lat_f is None else lat_m.logvar.index_copy(0, rows, lat_f.logvar))
        return AutoencoderOutput(recon=recon, latent=latent, loss=loss, losses=losses, latent_motion=lat_m,
                                 latent_fused=lat_f, fused_rows=rows)
