"""A training run's checkpoints, one format for every recipe (read with ``torch.load(weights_only=True)``).

``last.pt`` (resumable, :func:`save_run` / :func:`load_run`)::

    {"format": 2, "model": state_dict, "optim": optimiser state, "sched": scheduler state or None,
     "extra": {name: state_dict} (modules trained beside the model, e.g. train.face's distillation adapters),
     "step", "best", "best_step", "wall": numbers, "rng": torch's CPU generator state,
     "data": the recipe's own data-sampling state (plain numbers, lists and dicts)}

``best.pt`` (:func:`save_best`): ``{"model": state_dict, "step": int, "score": float, **the validation numbers}``.

Older runs load too: ``last.pt`` of ``train.vfi`` / ``train.vfi_aligned`` / ``train.face`` (optimiser under
``opt``, no scheduler, no best step, ``train.face``'s adapters under ``kd``), of ``train.cleaner`` /
``train.stvsr_trunk`` (``optim`` and ``sched``, no format number), and ``best.pt`` files that are a bare state_dict
(``train.face_blind``). Anything else stops with the keys it has.
"""
from __future__ import annotations

from pathlib import Path

import torch

FORMAT = 2


def save_run(path: str | Path, model, opt, sched, step: int, best: float, best_step: int, wall: float,
             extra: dict | None = None, data: dict | None = None) -> None:
    """Write ``last.pt`` atomically (a killed run never leaves half a file)."""
    path = Path(path)
    state = {"format": FORMAT, "model": model.state_dict(), "optim": opt.state_dict(),
             "sched": sched.state_dict() if sched is not None else None,
             "extra": {k: m.state_dict() for k, m in (extra or {}).items()},
             "step": int(step), "best": float(best), "best_step": int(best_step), "wall": float(wall),
             "rng": torch.get_rng_state(), "data": data or {}}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def read_run(path: str | Path) -> dict:
    """``last.pt`` of any format as the current one's dict (missing parts None); a clear ValueError otherwise."""
    ck = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ck, dict) or "model" not in ck or "step" not in ck or not ({"optim", "opt"} & set(ck)):
        keys = sorted(ck) if isinstance(ck, dict) else type(ck).__name__
        raise ValueError(f"{path}: not a resumable training checkpoint (it has {keys}; expected model, optim or opt, "
                         "step): resume from a run's last.pt")
    if int(ck.get("format", 1)) > FORMAT:
        raise ValueError(f"{path}: checkpoint format {int(ck['format'])} is newer than this code's ({FORMAT})")
    extra = ck.get("extra")
    if extra is None:
        extra = {"kd": ck["kd"]} if ck.get("kd") else {}  # train.face before the common format
    return {"model": ck["model"], "optim": ck.get("optim", ck.get("opt")), "sched": ck.get("sched"), "extra": extra,
            "step": int(ck["step"]), "best": float(ck.get("best", float("-inf"))),
            "best_step": int(ck["best_step"]) if "best_step" in ck else None, "wall": float(ck.get("wall", 0.0)),
            "rng": ck.get("rng"), "data": ck.get("data") or {}}


def resume_run(path: str | Path, model, opt, sched, steps: int | None = None,
               extra: dict | None = None) -> tuple[int, float, int, float, dict]:
    """Load a ``last.pt`` (any format) into model, optimiser, scheduler and ``extra`` modules ->
    (step, best, best_step, wall, data). A cosine scheduler's T_max becomes ``steps``: a longer resumed run keeps
    one cosine. The torch CPU generator is restored when the checkpoint has it."""
    ck = read_run(path)
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optim"])
    if sched is not None:
        if ck["sched"] is None:
            raise ValueError(f"{path}: this run has a learning-rate scheduler but the checkpoint has none (written "
                             "by another recipe?)")
        sched.load_state_dict(ck["sched"])
        if steps is not None and hasattr(sched, "T_max"):
            sched.T_max = steps
    for name, module in (extra or {}).items():
        if name not in ck["extra"]:
            raise ValueError(f"{path}: no state for {name!r} (it has {sorted(ck['extra'])})")
        module.load_state_dict(ck["extra"][name])
    if ck["rng"] is not None:
        torch.set_rng_state(ck["rng"])
    best_step = ck["best_step"]
    if best_step is None:  # older formats: the step recorded in best.pt beside it
        best_path = Path(path).with_name("best.pt")
        best_step = int(torch.load(best_path, map_location="cpu", weights_only=True).get("step", 0)) \
            if best_path.is_file() else 0
    return ck["step"], ck["best"], best_step, ck["wall"], ck["data"]


def save_best(path: str | Path, model, step: int, score: float, numbers: dict | None = None) -> None:
    """``best.pt``: the weights and the step, score and validation numbers they were kept for."""
    path = Path(path)
    nums = {k: v for k, v in (numbers or {}).items() if isinstance(v, (int, float)) and k not in ("model", "step")}
    tmp = path.with_name(path.name + ".tmp")
    torch.save({**nums, "model": model.state_dict(), "step": int(step), "score": float(score)}, tmp)
    tmp.replace(path)


def read_best(path: str | Path) -> dict:
    """``best.pt`` (or ``last.pt``) of any format -> a dict with at least ``model`` and ``step`` (-1 when a bare
    state_dict does not say)."""
    ck = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(ck, dict) and "model" in ck:
        return {**ck, "step": int(ck.get("step", -1))}
    if isinstance(ck, dict) and ck and all(isinstance(v, torch.Tensor) for v in ck.values()):
        return {"model": ck, "step": -1}  # a bare state_dict (train.face_blind before the common format)
    raise ValueError(f"{path}: neither a checkpoint with 'model' nor a state_dict")
