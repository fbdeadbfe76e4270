"""SIREN (Sitzmann et al. 2020): y = sin(ω0 · (W x + b)) layers with ω0 = 30 and the paper's initialisation.

* first layer: W ~ U(-1/in, 1/in)
* later sine layers: W ~ U(-sqrt(6/in)/ω0, sqrt(6/in)/ω0)
* the final Linear of :class:`Siren` (``outermost_linear``): the same bound as later sine layers

State-dict keys match the official code: ``net.<i>.linear.weight`` for sine layers, ``net.<last>.weight`` for the
final Linear.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn as nn


def siren_bound(in_features: int, omega_0: float = 30.0) -> float:
    return math.sqrt(6.0 / in_features) / omega_0


class SineLayer(nn.Module):
    def __init__(self, in_features: int, out_features: int, bias: bool = True, is_first: bool = False,
                 omega_0: float = 30.0):
        super().__init__()
        self.omega_0, self.is_first, self.in_features = omega_0, is_first, in_features
        self.linear = nn.Linear(in_features, out_features, bias=bias)
        bound = 1.0 / in_features if is_first else siren_bound(in_features, omega_0)
        with torch.no_grad():
            self.linear.weight.uniform_(-bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.omega_0 * self.linear(x))


def sine_stack(in_features: int, hidden: Sequence[int], omega_0: float = 30.0) -> list[nn.Module]:
    """SineLayer(in, h0, first), SineLayer(h0, h1), ... : the shared trunk of SIREN, the mappers and the decoder."""
    layers: list[nn.Module] = [SineLayer(in_features, hidden[0], is_first=True, omega_0=omega_0)]
    for a, b in zip(hidden[:-1], hidden[1:]):
        layers.append(SineLayer(a, b, omega_0=omega_0))
    return layers


def siren_linear(in_features: int, out_features: int, omega_0: float = 30.0) -> nn.Linear:
    """A Linear with the SIREN hidden-layer bound (the mappers' intermediate layer, the decoder's last layer)."""
    lin = nn.Linear(in_features, out_features)
    with torch.no_grad():
        lin.weight.uniform_(-siren_bound(in_features, omega_0), siren_bound(in_features, omega_0))
    return lin


class Siren(nn.Module):
    """in -> hidden[0] -> ... -> hidden[-1] (all sine) -> Linear(out) (``outermost_linear``) or a sine layer."""

    def __init__(self, in_features: int, hidden_features: Sequence[int], out_features: int,
                 outermost_linear: bool = True, omega_0: float = 30.0):
        super().__init__()
        layers = sine_stack(in_features, hidden_features, omega_0)
        if outermost_linear:
            layers.append(siren_linear(hidden_features[-1], out_features, omega_0))
        else:
            layers.append(SineLayer(hidden_features[-1], out_features, omega_0=omega_0))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
