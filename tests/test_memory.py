"""models/memory.py, the one peak-memory measure: the benchmarks and the Ray workers report through it."""
from __future__ import annotations

import numpy as np

from models import memory


def test_peak_memory_sees_an_allocation_and_the_process_peak_bounds_the_resident_set():
    with memory.PeakMemory() as mem:
        block = np.ones(64 * 2**20, np.uint8)  # 64 MiB, touched
        del block
    if mem.method == "VmHWM":  # the peak was reset before the block: the growth is the block
        assert 56 < mem.growth_mb < 160, mem.growth_mb
    else:  # ru_maxrss is never reset: an upper bound that cannot be below what was allocated on top of the start
        assert mem.growth_mb >= 0
    rss = memory.status_mb("VmRSS")
    peak = memory.process_peak_mb()
    assert rss is None or peak >= rss - 1
    from bench.common import rss_peak_mb

    assert abs(rss_peak_mb() - memory.process_peak_mb()) < 1  # the benchmarks' number is this one
