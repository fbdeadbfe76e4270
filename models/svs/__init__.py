"""Singular Value Scaling (SVS, AAAI 2025) and the generators it is shown on.

``scaling``: the op (W' = U diag(sqrt s) V^T, b' = b / sqrt(||b|| + 1e-8)) and the per-model rules.
``generators``: the bundled tiny MNIST DDPM and loading diffusers UNets from a folder or the Hub.
"""
from models.svs.scaling import SVSReport, apply_svs, scale_bias, singular_value_scale, spectrum

__all__ = ["SVSReport", "apply_svs", "scale_bias", "singular_value_scale", "spectrum"]
