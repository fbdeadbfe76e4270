"""What the backbones' wrappers share: the network they run, its precision on each device, loading a state_dict."""
from __future__ import annotations

import torch

from models.device import autocast


class NetRunner:
    """Holds ``self.net``; fp16 autocast on CUDA, fp32 on the CPU, or bf16 there with ``cpu_bf16`` (models.device)."""

    net: torch.nn.Module
    cpu_bf16: bool = False

    def eval(self):
        self.net.eval()
        return self

    def load_state_dict(self, state: dict, strict: bool = True):
        """Load into the network, fp16 files upcast to fp32."""
        return self.net.load_state_dict({k: v.float() for k, v in state.items()}, strict=strict)

    def _precision(self, device: torch.device):
        return autocast(device, self.cpu_bf16)
