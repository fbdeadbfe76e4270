"""Every FrameForge model, registered once. Importing this module reads no weights."""
from __future__ import annotations

from .registry import ModelSpec, register

# Weight-free baselines -------------------------------------------------------------------------------------------
