"""Vision features for the CMA-VAE's vision-fused encoder: frozen feature maps sampled at 2D joints.

Spec §3.2: f_vis = VisionEnc(GridSample(HRNet(v), j_2d(m))). The pieces:

1. a **frozen** image feature network ``forward(images (N, 3, H, W) in [0, 1]) -> (N, C, h, w)`` (the real
   one, a small keypoint network, is trained separately; any ``nn.Module`` with that contract works and
   does its own input normalisation);
2. :func:`sample_joint_features`: bilinear ``grid_sample`` of the maps at the motion's 2D joints;
3. :class:`JointFeatureEncoder`: per-joint MLP (+ a learned joint-identity embedding) and pooling over
   the joints that fall inside the image (``mean``, or ``attention`` with one learned query);
4. :func:`images_to_latent_steps`: images are sparse in time; each pooled image feature is placed on the
   latent step of the motion frame it shows (``image_frame_index // rate``) and the other steps get a
   learned "no image" token (``scatter``), or every step takes the feature of the temporally nearest
   image of its sample (``nearest``).

Pixel convention of ``joints_2d``: continuous pixel coordinates (u right, v down) in which the image spans
[0, W] × [0, H], i.e. pixel column i covers [i, i+1) and its centre is at i + 0.5. This is the convention
of :meth:`unimotion.motion.camera.Camera.project` (principal point at (W/2, H/2) for a centred camera).
``pixel_origin="center"`` selects the other common convention (OpenCV/COCO keypoints: pixel i's centre at
u = i, image spanning [-0.5, W - 0.5]). Coordinates are mapped to grid_sample's [-1, 1] with
``align_corners=False``, in which −1 and +1 are the outer edges of the border pixels: the feature map is
then assumed to cover the image edge to edge, whatever its resolution h × w (true for stride-s conv nets
on a W × H input with W, H divisible by s). Joints outside the image get zero features and are left out
of the pooling.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

PixelOrigin = Literal["corner", "center"]
JointPooling = Literal["mean", "attention"]
ImageToLatent = Literal["scatter", "nearest"]


def pixel_to_grid(joints_2d: torch.Tensor, image_size: tuple[int, int],
                  pixel_origin: PixelOrigin = "corner") -> torch.Tensor:
    """(..., 2) pixel (u, v) → (..., 2) grid_sample coordinates (x, y) for ``align_corners=False``.

    ``image_size`` is (H, W). corner: x = 2u/W − 1; center: x = (2u + 1)/W − 1 (same for v with H).
    """
    h, w = image_size
    scale = joints_2d.new_tensor([2.0 / w, 2.0 / h])
    shift = 0.5 if pixel_origin == "center" else 0.0
    return (joints_2d + shift) * scale - 1.0


def sample_joint_features(feature_maps: torch.Tensor, joints_2d: torch.Tensor, image_size: tuple[int, int],
                          pixel_origin: PixelOrigin = "corner") -> tuple[torch.Tensor, torch.Tensor]:
    """Bilinearly sample ``feature_maps`` (N, C, h, w) at ``joints_2d`` (N, J, 2) pixel coordinates.

    Returns (features (N, J, C), inside (N, J) bool — the joint lies inside the image).
    """
    grid = pixel_to_grid(joints_2d.to(feature_maps.dtype), image_size, pixel_origin)  # (N, J, 2)
    sampled = F.grid_sample(feature_maps, grid[:, None], mode="bilinear", padding_mode="zeros",
                            align_corners=False)  # (N, C, 1, J)
    inside = (grid.abs() <= 1.0).all(-1)
    return sampled[:, :, 0].transpose(1, 2), inside


class JointFeatureEncoder(nn.Module):
    """(N, J, C) joint features + (N, J) inside mask → (N, out_dim) pooled image feature (VisionEnc).

    Per joint: Linear(C → out) + joint embedding → GELU → Linear(out → out). Pooling over the joints
    inside the image: ``mean``, or ``attention`` (softmax of ⟨q, h_j⟩/√out with a learned query q). An
    image with no joint inside pools to the zero vector.
    """

    def __init__(self, in_dim: int, out_dim: int, num_joints: int, pooling: JointPooling = "mean"):
        super().__init__()
        if pooling not in ("mean", "attention"):
            raise ValueError(f"unknown joint pooling {pooling!r}; expected 'mean' or 'attention'")
        self.pooling = pooling
        self.proj_in = nn.Linear(in_dim, out_dim)
        self.joint_embed = nn.Parameter(torch.randn(num_joints, out_dim) * 0.02)
        self.proj_out = nn.Linear(out_dim, out_dim)
        self.query = nn.Parameter(torch.randn(out_dim) * 0.02) if pooling == "attention" else None

    def forward(self, features: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
        """features (N, J, C), inside (N, J) bool → (N, out_dim)."""
        h = self.proj_out(F.gelu(self.proj_in(features) + self.joint_embed))  # (N, J, out)
        w = inside.to(h.dtype)
        if self.pooling == "attention":
            scores = (h @ self.query) / h.shape[-1] ** 0.5  # (N, J)
            scores = scores.masked_fill(~inside, float("-inf"))
            w = torch.softmax(scores, dim=-1).nan_to_num(0.0) * w  # rows without a visible joint → 0
        else:
            w = w / w.sum(-1, keepdim=True).clamp(min=1)
        return (h * w[..., None]).sum(1)


def images_to_latent_steps(pooled: torch.Tensor, rows: torch.Tensor, steps: torch.Tensor, batch_size: int,
                           num_steps: int, missing: torch.Tensor, mode: ImageToLatent = "scatter") -> torch.Tensor:
    """Place per-image features on the latent time axis.

    Args:
        pooled: (N, C) one feature per image.
        rows: (N,) batch row of each image; steps: (N,) latent step of each image.
        batch_size, num_steps: B, T_z of the output.
        missing: (C,) learned token for steps (or samples) without an image.
        mode: ``scatter`` — steps with images get the mean of their images, the others ``missing``;
            ``nearest`` — every step takes the image whose step is nearest (ties: the earlier image);
            samples without any image get ``missing`` everywhere.

    Returns (B, T_z, C).
    """
    c = pooled.shape[-1]
    out = missing.to(pooled.dtype).expand(batch_size, num_steps, c).clone()
    if pooled.shape[0] == 0:
        return out
    if mode == "scatter":
        flat = rows * num_steps + steps
        sums = pooled.new_zeros(batch_size * num_steps, c).index_add(0, flat, pooled)
        counts = pooled.new_zeros(batch_size * num_steps).index_add(0, flat, torch.ones_like(flat, dtype=pooled.dtype))
        hit = counts > 0
        out = out.reshape(-1, c)
        out = torch.where(hit[:, None], sums / counts.clamp(min=1)[:, None], out)
        return out.view(batch_size, num_steps, c)
    if mode == "nearest":
        b_idx = torch.arange(batch_size, device=rows.device)
        j_idx = torch.arange(num_steps, device=rows.device)
        dist = (steps[None, None, :] - j_idx[None, :, None]).abs().to(torch.float32)  # (1, T_z, N)
        same = rows[None, None, :] == b_idx[:, None, None]  # (B, 1, N)
        dist = torch.where(same, dist, torch.full_like(dist, float("inf")))  # (B, T_z, N)
        # ties → the earlier image: add a tiny step-ordered offset smaller than any distance gap
        dist = dist + steps.to(torch.float32)[None, None, :] * 1e-6
        pick = dist.argmin(-1)  # (B, T_z)
        has_any = same.any(-1)  # (B, 1)
        chosen = pooled[pick]  # (B, T_z, C)
        return torch.where(has_any[..., None], chosen, out)
    raise ValueError(f"unknown image_to_latent mode {mode!r}; expected 'scatter' or 'nearest'")


def freeze(module: nn.Module) -> nn.Module:
    """Put ``module`` in eval mode with every parameter frozen (returns it)."""
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module
