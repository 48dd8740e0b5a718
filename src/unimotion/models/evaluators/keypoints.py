"""A small 2D keypoint network for the rendered BandaiML views (an HRNet stand-in), trained in this repo.

Two jobs:

1. **Frozen visual feature extractor** of the CMA-VAE's Dual-Posterior KL Alignment (spec §3.2, "HRNet").
   The contract of :mod:`unimotion.models.autoencoders.vision_features`:
   ``forward(images (N, 3, H, W) float in [0, 1]) -> (N, C, h, w)`` feature maps that cover the image edge to
   edge (stride-s convolutions with "same" padding on an input divisible by s), ``C = feature_dim``
   (48 by default, the width of HRNet-W48's high-resolution branch, and the CMA-VAE's default
   ``feature_dim``). :meth:`KeypointNet.forward` *is* :meth:`KeypointNet.feature_maps`, so a checkpoint
   directory can be given to the CMA-VAE as ``feature_network_path`` (loaded with ``load_pretrained``).
2. **Pose judge**: :meth:`KeypointNet.keypoints` predicts the 22 T2M joints (N, 22, 2) in the renderer's
   pixel convention (:meth:`unimotion.motion.camera.Camera.project`: u right, v down, the image spans
   [0, W] × [0, H], pixel column i covers [i, i + 1)), e.g. to check that an edited image shows the
   requested pose, or that generated video frames agree with the generated motion.

Architecture (HRNet-like, small; every choice is a config field):

- stem: ``Conv3x3(3 → stem_channels, stride 2)`` → H/2 (+ ``blocks_high`` residual blocks);
- ``Conv3x3 stride 2`` → H/4 with ``mid_channels`` (+ ``blocks_mid`` blocks), and again → H/8 with
  ``low_channels`` (+ ``blocks_low`` blocks) for context (the whole 64-px figure fits its receptive field);
- top-down fusion: 1×1 projection, bilinear ×2 upsampling, sum with the finer map, one residual block per
  level, up to the output resolution H/``output_stride`` (2 → 32×32 maps, 4 → 16×16 for 64-px images);
- ``feature head``: Conv3x3 → BN → ReLU to ``feature_dim`` channels = the feature maps;
- ``heatmap head``: Conv1x1(``feature_dim`` → 22) logits; a softmax over each map and its expectation
  over the cell centres (soft-argmax / integral regression, Sun et al. 2018) gives sub-cell coordinates.

Input normalisation happens inside (``(x - input_mean) / input_std``); uint8 images are accepted and
divided by 255. Training (:meth:`KeypointNet.training_step`): L1 on the soft-argmax coordinates (pixels)
+ ``heatmap_weight`` × cross-entropy between each softmax map and a Gaussian target of ``heatmap_sigma``
cells at the true joint, with random horizontal flips (image mirrored, u → W − u, left/right joints
swapped) and random colour-channel permutations (the renders use random colours per body part).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError, InputError
from ...motion.skeletons import T2M22_MIRROR, mirror_joints_2d
from ..modeling_utils import ModelOutput, PretrainedModel


@dataclass
class KeypointNetConfig:
    """Hyper-parameters of :class:`KeypointNet`.

    Attributes:
        num_joints: keypoints predicted (22 = the T2M/SMPL-X body joints of the renders).
        feature_dim: channels C of the feature maps returned by ``forward`` (CMA-VAE ``feature_dim``).
        stem_channels: channels at stride 2.
        mid_channels: channels at stride 4.
        low_channels: channels at stride 8.
        blocks_high, blocks_mid, blocks_low: residual blocks at strides 2, 4, 8 (before fusion).
        output_stride: resolution of the feature and heatmaps (2 → H/2, 4 → H/4).
        input_mean, input_std: per-channel normalisation applied inside the model to [0, 1] images.
        heatmap_sigma: standard deviation (heatmap cells) of the Gaussian target of the heatmap loss.
        heatmap_weight: weight of the heatmap cross-entropy next to the coordinate L1 (pixels).
        flip_prob: probability of a horizontal flip per training image.
        channel_shuffle: permute the RGB channels of each training image at random.
        mirror: the left/right joint permutation used with flips (T2M22's by default).
    """

    num_joints: int = 22
    feature_dim: int = 48
    stem_channels: int = 24
    mid_channels: int = 48
    low_channels: int = 96
    blocks_high: int = 1
    blocks_mid: int = 2
    blocks_low: int = 2
    output_stride: int = 2
    input_mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    input_std: tuple[float, float, float] = (0.25, 0.25, 0.25)
    heatmap_sigma: float = 1.0
    heatmap_weight: float = 0.5
    flip_prob: float = 0.5
    channel_shuffle: bool = True
    mirror: tuple[int, ...] = field(default_factory=lambda: T2M22_MIRROR)

    def __post_init__(self) -> None:
        for name in ("num_joints", "feature_dim", "stem_channels", "mid_channels", "low_channels"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("blocks_high", "blocks_mid", "blocks_low"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.output_stride not in (2, 4):
            raise ConfigError(f"output_stride must be 2 or 4, got {self.output_stride}")
        if len(self.input_mean) != 3 or len(self.input_std) != 3 or min(self.input_std) <= 0:
            raise ConfigError("input_mean and input_std need 3 values each, std > 0")
        if self.heatmap_sigma <= 0 or self.heatmap_weight < 0:
            raise ConfigError("heatmap_sigma must be > 0 and heatmap_weight >= 0")
        if not 0.0 <= self.flip_prob <= 1.0:
            raise ConfigError(f"flip_prob must be in [0, 1], got {self.flip_prob}")
        mirror = tuple(int(i) for i in self.mirror)
        if sorted(mirror) != list(range(self.num_joints)) or any(mirror[mirror[i]] != i for i in range(len(mirror))):
            raise ConfigError(f"mirror must be an involutive permutation of the {self.num_joints} joints, got {mirror}")
        self.mirror = mirror


def _conv_bn_relu(cin: int, cout: int, stride: int = 1, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class _ResBlock(nn.Module):
    """Basic residual block: Conv3x3-BN-ReLU-Conv3x3-BN + identity, ReLU."""

    def __init__(self, channels: int):
        super().__init__()
        self.a = _conv_bn_relu(channels, channels)
        self.b = nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.b(self.a(x)))


def _blocks(channels: int, n: int) -> nn.Sequential:
    return nn.Sequential(*(_ResBlock(channels) for _ in range(n)))


@dataclass
class KeypointOutput(ModelOutput):
    """Outputs of :meth:`KeypointNet.predict_all`."""

    keypoints: torch.Tensor | None = None  # (N, J, 2) pixel coordinates (u, v)
    heatmap_logits: torch.Tensor | None = None  # (N, J, h, w)
    features: torch.Tensor | None = None  # (N, C, h, w)


class KeypointNet(PretrainedModel):
    """Small HRNet-like 2D keypoint network (see the module docstring). ``forward`` returns feature maps."""

    config_class = KeypointNetConfig
    model_type = "keypoint_net"
    #: total down-sampling of the deepest branch: H and W must be multiples of it.
    input_multiple = 8

    def __init__(self, config: KeypointNetConfig):
        super().__init__(config)
        c = config
        self.stem = nn.Sequential(_conv_bn_relu(3, c.stem_channels, 2), _blocks(c.stem_channels, c.blocks_high))
        self.down_mid = nn.Sequential(_conv_bn_relu(c.stem_channels, c.mid_channels, 2), _blocks(c.mid_channels, c.blocks_mid))
        self.down_low = nn.Sequential(_conv_bn_relu(c.mid_channels, c.low_channels, 2), _blocks(c.low_channels, c.blocks_low))
        self.lateral_mid = nn.Conv2d(c.low_channels, c.mid_channels, 1)
        self.fuse_mid = _ResBlock(c.mid_channels)
        if c.output_stride == 2:
            self.lateral_high = nn.Conv2d(c.mid_channels, c.stem_channels, 1)
            self.fuse_high = _ResBlock(c.stem_channels)
            out_channels = c.stem_channels
        else:
            out_channels = c.mid_channels
        self.feature_head = _conv_bn_relu(out_channels, c.feature_dim)
        self.heatmap_head = nn.Conv2d(c.feature_dim, c.num_joints, 1)
        self.register_buffer("input_mean", torch.tensor(c.input_mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("input_std", torch.tensor(c.input_std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    # ------------------------------------------------------------------ tensors in, tensors out
    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        """Validate (N, 3, H, W) images (float in [0, 1] or uint8) and normalise them."""
        if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
            raise InputError(f"images must be a (N, 3, H, W) tensor, got {getattr(images, 'shape', type(images))}")
        h, w = images.shape[-2:]
        if h % self.input_multiple or w % self.input_multiple or h == 0 or w == 0:
            raise InputError(f"image height and width must be positive multiples of {self.input_multiple}, got {h}×{w}")
        if images.dtype == torch.uint8:
            images = images.float() / 255.0
        elif not images.is_floating_point():
            raise InputError(f"images must be float in [0, 1] or uint8, got {images.dtype}")
        return (images.float() - self.input_mean) / self.input_std

    def _trunk(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images (N, 3, H, W) → fused map at the output stride (N, C_out, H/s, W/s)."""
        high = self.stem(x)
        mid = self.down_mid(high)
        low = self.down_low(mid)
        mid = self.fuse_mid(mid + F.interpolate(self.lateral_mid(low), size=mid.shape[-2:], mode="bilinear", align_corners=False))
        if self.config.output_stride == 4:
            return mid
        return self.fuse_high(high + F.interpolate(self.lateral_high(mid), size=high.shape[-2:], mode="bilinear", align_corners=False))

    def feature_maps(self, images: torch.Tensor) -> torch.Tensor:
        """Images (N, 3, H, W) in [0, 1] → feature maps (N, feature_dim, H/s, W/s), s = output_stride."""
        return self.feature_head(self._trunk(self._prepare(images)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The CMA-VAE feature-network contract: images (N, 3, H, W) in [0, 1] → (N, C, h, w)."""
        return self.feature_maps(images)

    def predict_all(self, images: torch.Tensor) -> KeypointOutput:
        """Images (N, 3, H, W) → keypoints (N, J, 2), heatmap logits (N, J, h, w) and features (N, C, h, w)."""
        feats = self.feature_maps(images)
        logits = self.heatmap_head(feats)
        return KeypointOutput(keypoints=soft_argmax(logits, tuple(images.shape[-2:])), heatmap_logits=logits, features=feats)

    def keypoints(self, images: torch.Tensor) -> torch.Tensor:
        """Images (N, 3, H, W) → (N, J, 2) pixel coordinates (Camera.project convention)."""
        return self.predict_all(images).keypoints

    @torch.no_grad()
    def predict(self, images: np.ndarray | torch.Tensor, batch_size: int = 256) -> np.ndarray:
        """Keypoints of images given as (N, H, W, 3) uint8 arrays (as stored in the renders) or
        (N, 3, H, W) tensors; returns (N, J, 2) float32 in pixels. Runs in eval mode, in chunks."""
        if isinstance(images, np.ndarray):
            if images.ndim != 4 or images.shape[-1] != 3:
                raise InputError(f"image arrays must be (N, H, W, 3), got {images.shape}")
            tensor = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
        else:
            tensor = images
        was_training = self.training
        self.eval()
        try:
            out = [
                self.keypoints(tensor[i : i + batch_size].to(self.device)).float().cpu()
                for i in range(0, tensor.shape[0], batch_size)
            ]
        finally:
            self.train(was_training)
        if not out:
            return np.zeros((0, self.config.num_joints, 2), np.float32)
        return torch.cat(out).numpy()

    # ------------------------------------------------------------------ training
    def loss(self, images: torch.Tensor, joints_2d: torch.Tensor) -> dict[str, torch.Tensor]:
        """Coordinate L1 (px) + heatmap_weight × Gaussian-target cross-entropy. images (N, 3, H, W), joints (N, J, 2)."""
        out = self.predict_all(images)
        h, w = out.heatmap_logits.shape[-2:]
        size = tuple(images.shape[-2:])
        l1 = (out.keypoints - joints_2d).abs().sum(-1).mean()
        target = gaussian_targets(joints_2d, size, (h, w), self.config.heatmap_sigma)  # (N, J, h*w)
        logp = F.log_softmax(out.heatmap_logits.flatten(2).float(), dim=-1)
        ce = -(target * logp).sum(-1).mean()
        err = (out.keypoints.detach() - joints_2d).norm(dim=-1).mean()
        return {"loss": l1 + self.config.heatmap_weight * ce, "l1": l1.detach(), "heatmap_ce": ce.detach(), "err_px": err}

    def augment(self, images: torch.Tensor, joints_2d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Random flips (image, u → W − u, mirror joints) and RGB permutations; uses the torch RNG."""
        n, _, _, w = images.shape
        images, joints_2d = images.clone(), joints_2d.clone()
        flip = torch.rand(n, device=images.device) < self.config.flip_prob
        if flip.any():
            images[flip] = images[flip].flip(-1)
            joints_2d[flip] = mirror_joints_2d(joints_2d[flip], w, self.config.mirror)
        if self.config.channel_shuffle:
            perms = torch.argsort(torch.rand(n, 3, device=images.device), dim=1)  # (N, 3)
            images = torch.gather(images, 1, perms[:, :, None, None].expand_as(images))
        return images, joints_2d

    def training_step(self, batch: dict[str, Any], step: int) -> dict[str, torch.Tensor]:
        """``batch``: ``images`` (B, 3, H, W) uint8 or float in [0, 1], ``joints_2d`` (B, J, 2) pixels."""
        images = batch["images"]
        if images.dtype == torch.uint8:
            images = images.float() / 255.0
        images, joints = self.augment(images, batch["joints_2d"].float())
        return self.loss(images, joints)


def cell_centres(image_size: tuple[int, int], map_size: tuple[int, int], device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel coordinates of the heatmap cell centres: u_j = (j + 0.5)·W/w (w,), v_i = (i + 0.5)·H/h (h,)."""
    (hh, ww), (h, w) = image_size, map_size
    u = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) * (ww / w)
    v = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) * (hh / h)
    return u, v


def soft_argmax(logits: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
    """Heatmap logits (N, J, h, w) → expected cell-centre position (N, J, 2) in image pixels (u, v).

    The maps are assumed to tile the image edge to edge (cell j covers [j·W/w, (j+1)·W/w)).
    """
    n, j, h, w = logits.shape
    prob = F.softmax(logits.flatten(2).float(), dim=-1).view(n, j, h, w)
    u, v = cell_centres(image_size, (h, w), logits.device)
    return torch.stack([(prob.sum(2) * u).sum(-1), (prob.sum(3) * v).sum(-1)], dim=-1)


def gaussian_targets(joints_2d: torch.Tensor, image_size: tuple[int, int], map_size: tuple[int, int],
                     sigma_cells: float) -> torch.Tensor:
    """Normalised Gaussian target distributions (N, J, h·w) centred at the joints (sigma in cells)."""
    u, v = cell_centres(image_size, map_size, joints_2d.device)
    (hh, ww), (h, w) = image_size, map_size
    du = (u[None, None, :] - joints_2d[..., 0:1]) / (ww / w)  # (N, J, w) in cells
    dv = (v[None, None, :] - joints_2d[..., 1:2]) / (hh / h)  # (N, J, h)
    g = torch.exp(-0.5 * (dv[..., :, None] ** 2 + du[..., None, :] ** 2) / sigma_cells**2)  # (N, J, h, w)
    g = g.flatten(2)
    return g / g.sum(-1, keepdim=True).clamp(min=1e-12)


def keypoint_metrics(pred: np.ndarray, gt: np.ndarray, thresholds: Sequence[float] = (2.0, 4.0),
                     mirror: Sequence[int] | None = T2M22_MIRROR) -> dict[str, float]:
    """2D keypoint errors: mean Euclidean error (px) over all joints, PCK@t (fraction of joints within t px).

    With ``mirror``, also ``err_px_lr_tolerant``: per image the smaller mean error of the prediction against
    the ground truth and against its left/right-swapped copy (how much error is left/right confusion).

    Args:
        pred, gt: (N, J, 2) pixel coordinates.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != 2:
        raise InputError(f"pred and gt must both be (N, J, 2), got {pred.shape} and {gt.shape}")
    if pred.shape[0] == 0:
        raise InputError("no keypoints to score")
    if not (np.isfinite(pred).all() and np.isfinite(gt).all()):
        raise InputError("keypoints contain NaN or Inf")
    err = np.linalg.norm(pred - gt, axis=-1)  # (N, J)
    out = {"images": int(pred.shape[0]), "err_px": float(err.mean())}
    for t in thresholds:
        out[f"PCK@{t:g}"] = float((err <= t).mean())
    if mirror is not None:
        if len(mirror) != gt.shape[1]:
            raise InputError(f"mirror has {len(mirror)} entries for {gt.shape[1]} joints")
        err_m = np.linalg.norm(pred - gt[:, list(mirror)], axis=-1).mean(-1)
        out["err_px_lr_tolerant"] = float(np.minimum(err.mean(-1), err_m).mean())
    return out
