"""A small MNIST classifier trained here (``python -m train.mnist_net``) whose features give the offline
sample-quality metric of the compression lab ("FD-MNISTNet": :func:`bench.metrics.frechet_distance` on them).

Inception (FID) weights are not available offline, so the features are the 128-d activations of this
network (its penultimate layer), and every number says so ("FD-MNISTNet, N samples"); they are not comparable with published FIDs.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

#: The metric's name in bench.svs JSON and the tab.
METRIC = "FD-MNISTNet"
FEATURES = 128


class MnistNet(nn.Module):
    """(B, 1, 32, 32) digits in [-1, 1] -> 10 logits; :meth:`embed` gives the 128-d penultimate features (ReLU of fc1)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)     # 32x32 -> pool 16x16
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)    # 16x16 -> pool 8x8
        self.conv3 = nn.Conv2d(64, 128, 3, padding=1)   # 8x8 -> pool 4x4
        self.fc1 = nn.Linear(128 * 4 * 4, FEATURES)
        self.fc = nn.Linear(FEATURES, 10)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)
        return F.relu(self.fc1(x.flatten(1)))          # (B, 128)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.embed(x))


@torch.no_grad()
def features(net: MnistNet, images: torch.Tensor, batch: int = 500) -> np.ndarray:
    """(N, 1, 32, 32) in [-1, 1] -> (N, 128) float64."""
    net.eval()
    rows = [net.embed(images[i:i + batch].float()).double() for i in range(0, len(images), batch)]
    return torch.cat(rows).numpy()
