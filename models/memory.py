"""Peak memory of a block of work: the one measure the benchmarks and the app's comparisons share.

    with PeakMemory(device) as mem:
        run()
    mem.growth_mb  # peak above the start, MiB

On CUDA it is ``torch.cuda.max_memory_allocated`` after a reset. On the CPU it is the process's peak resident set:
freed heap is returned to the OS (``malloc_trim``) and the peak reset (``/proc/self/clear_refs`` 5, Linux >= 4.0),
then ``VmHWM`` is read; where that cannot be done, ``ru_maxrss`` (never reset: an upper bound over the process's
life). The CPU number covers the whole process, so other work running at the same time adds to it.
"""
from __future__ import annotations

import resource
from pathlib import Path

import torch


def status_mb(field: str) -> float | None:
    """A ``/proc/self/status`` field (VmRSS, VmHWM, ...) in MiB, or None where it cannot be read."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0  # kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def process_peak_mb() -> float:
    """This process's peak resident set over its whole life (``ru_maxrss``, never reset), in MiB: the benchmarks'
    child processes and the Ray workers report it."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _reset_cpu_peak() -> tuple[float, str]:
    """(the resident set now, MiB; method) after returning freed heap and resetting the peak."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
        Path("/proc/self/clear_refs").write_text("5")
        rss = status_mb("VmRSS")
        if rss is not None:
            return rss, "VmHWM"
    except (OSError, AttributeError, TypeError):
        pass
    return process_peak_mb(), "ru_maxrss"


def _cpu_peak(method: str) -> float:
    peak = status_mb("VmHWM") if method == "VmHWM" else None
    return peak if peak is not None else process_peak_mb()


class PeakMemory:
    """Context manager: ``start_mb``, ``peak_mb`` and ``growth_mb`` (peak - start, >= 0) of the block, ``method``
    ("cuda", "VmHWM" or "ru_maxrss")."""

    def __init__(self, device: torch.device | str | None = None):
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.start_mb = self.peak_mb = self.growth_mb = 0.0
        self.method = ""

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start_mb, self.method = torch.cuda.memory_allocated(self.device) / 2**20, "cuda"
        else:
            self.start_mb, self.method = _reset_cpu_peak()
        return self

    def __exit__(self, *exc) -> None:
        if self.method == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_mb = torch.cuda.max_memory_allocated(self.device) / 2**20
        else:
            self.peak_mb = _cpu_peak(self.method)
        self.growth_mb = max(0.0, self.peak_mb - self.start_mb)
