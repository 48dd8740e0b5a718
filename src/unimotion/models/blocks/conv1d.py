"""1D convolution blocks of the T2M-GPT motion autoencoders, shared by the VQ-VAE and the CMA-VAE decoder.

``Resnet1D``: ``depth`` residual blocks ``x + Conv1x1(act(Conv3_dilated(act(x))))`` with dilations
growth^(depth−1), …, growth, 1 (T2M-GPT's ``reverse_dilation=True``); every block output is multiplied by
the validity mask of its resolution (B, 1, T), so padded steps stay zero.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ResBlock1D", "Resnet1D", "activation_module"]

def activation_module(name: str) -> nn.Module:
    return nn.GELU() if name == "gelu" else nn.ReLU()


class ResBlock1D(nn.Module):
    """x + Conv1x1(act(Conv3_dilated(act(x)))), masked."""

    def __init__(self, width: int, dilation: int, activation: str):
        super().__init__()
        self.act = activation_module(activation)
        self.conv1 = nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(width, width, 1)

    def forward(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """x (B, W, T), m (B, 1, T) float mask → (B, W, T)."""
        return (x + self.conv2(self.act(self.conv1(self.act(x))))) * m


class Resnet1D(nn.Module):
    def __init__(self, width: int, depth: int, growth: int, activation: str):
        super().__init__()
        dilations = [growth**d for d in range(depth)][::-1]  # reverse_dilation=True
        self.blocks = nn.ModuleList(ResBlock1D(width, d, activation) for d in dilations)

    def forward(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, m)
        return x
