"""Kernel-based frame interpolation: AdaCoF and SF-AdaCoF (official layouts), the tiled interpolator, specs."""
from .adacof import build_adacof
from .interpolator import KernelInterpolator
from .sf_adacof import build_sf_adacof
from .specs import vfi_specs

__all__ = ["build_adacof", "build_sf_adacof", "KernelInterpolator", "vfi_specs"]
