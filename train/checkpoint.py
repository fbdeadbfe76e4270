"""A training run's resumable checkpoint (``last.pt`` / ``best.pt``): model, optimiser and scheduler state, the step,
the best validation score and its step, and the wall time so far; plain tensors, read with ``weights_only=True``."""
from __future__ import annotations

from pathlib import Path

import torch


def save_run(path: str | Path, model, opt, sched, step: int, best: float, best_step: int, wall: float) -> None:
    torch.save({"model": model.state_dict(), "optim": opt.state_dict(), "sched": sched.state_dict(),
                "step": torch.tensor(step), "best": torch.tensor(best), "best_step": torch.tensor(best_step),
                "wall": torch.tensor(wall)}, path)


def resume_run(path: str | Path, model, opt, sched, steps: int) -> tuple[int, float, int, float]:
    """Load a :func:`save_run` checkpoint into model, optimiser and (cosine) scheduler -> (step, best, best_step,
    wall). The scheduler's T_max becomes ``steps``: a longer resumed run keeps one cosine."""
    ck = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optim"])
    sched.load_state_dict(ck["sched"])
    sched.T_max = steps
    return int(ck["step"]), float(ck["best"]), int(ck["best_step"]), float(ck["wall"])
