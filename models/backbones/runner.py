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
        """Load into the network, fp16 files upcast to fp32 (a CPU copy is made again from the new weights)."""
        self.__dict__.pop("_cpu_copy", None)
        return self.net.load_state_dict({k: v.float() for k, v in state.items()}, strict=strict)

    def _precision(self, device: torch.device):
        return autocast(device, self.cpu_bf16)

    def _net_on(self, device: torch.device, mode: str, parts=(), name: str = "network") -> torch.nn.Module:
        """``self.net`` moved to ``device``; on the CPU its inference copy in ``mode`` (models.backbones.cpu_fast:
        plain = the network itself), made once per mode and weights."""
        from . import cpu_fast

        self.net.to(device)
        if device.type != "cpu":
            return self.net
        mode = cpu_fast.resolve(mode, name)
        cached = self.__dict__.get("_cpu_copy")
        if cached is None or cached[0] != mode or cached[1] is not self.net:
            cached = (mode, self.net, cpu_fast.prepare(self.net, mode, parts))
            self.__dict__["_cpu_copy"] = cached
        return cached[2]
