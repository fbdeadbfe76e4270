"""The one training harness (BasicSR's ``BaseModel`` idea, kept small): every ``python -m train.*`` recipe supplies
its network, optimiser and four callables, and :func:`fit` does the rest.

* :func:`train.runtime.start`: CPU threads, seed, ``--device`` (first, before any data is read).
* :class:`Run`: the run folder (``args.json``, ``log.jsonl`` of JSON lines, ``last.pt``, ``best.pt``).
* :class:`Recipe`: ``batch(step)`` -> a batch, ``loss(batch, step)`` -> ``{"loss": tensor, other terms}``,
  ``validate()`` -> numbers, ``score(numbers)`` -> higher is better; optional learning rate by step, scheduler,
  gradient clip, modules trained beside the model, the data sampler's state (for an exact resume), a hook after
  each step (an EMA).
* :func:`fit`: the loop: resume from ``last.pt`` in the one checkpoint format (:mod:`train.checkpoint`, older
  formats load), averaged loss terms every ``log_every`` steps, validation every ``val_every`` steps -> ``best.pt``
  when the score improves, ``last.pt`` at each validation (and every ``ckpt_every``), a time limit for this
  invocation that validates, saves and stops.
* :func:`export`: ``weights/ID.safetensors`` in fp16 only where quality holds: the recipe's validation is run on the
  fp32 weights and on the weights rounded to fp16, and fp16 is written only when the number moves by at most the
  tolerance (else fp32, or a refusal with ``half=True``); the two numbers go into the metadata, ``export.json`` and
  the card (:func:`precision_note`, :func:`write_card`).

bf16 autocast and channels_last (``--bf16``) stay in the recipes' ``loss`` (:func:`train.runtime.mixed_precision`,
:func:`channels_last`): only they know which inputs are images.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from train.checkpoint import read_best, resume_run, save_best, save_run


class Run:
    """A run folder. ``resume`` and a ``last.pt`` there: go on (the log is kept); else a fresh log."""

    def __init__(self, folder: str | Path, resume: bool = False):
        self.dir = Path(folder)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.last, self.best, self.log_path = self.dir / "last.pt", self.dir / "best.pt", self.dir / "log.jsonl"
        self.resuming = bool(resume) and self.last.is_file()
        if not self.resuming:
            self.log_path.unlink(missing_ok=True)

    def log(self, row: dict) -> None:
        with open(self.log_path, "a") as fh:
            fh.write(json.dumps(row) + "\n")

    def rows(self) -> list[dict]:
        if not self.log_path.is_file():
            return []
        return [json.loads(x) for x in self.log_path.read_text().splitlines() if x.strip()]

    def write_args(self, args) -> None:
        (self.dir / "args.json").write_text(json.dumps(vars(args) if not isinstance(args, dict) else args, indent=1,
                                                      default=str))

    def read_args(self) -> dict:
        return json.loads((self.dir / "args.json").read_text())


@dataclass
class Recipe:
    """What a training command supplies to :func:`fit` (see the module docstring)."""
    model: torch.nn.Module
    opt: torch.optim.Optimizer
    batch: Callable[[int], Any]
    loss: Callable[[Any, int], dict]
    validate: Callable[[], dict]
    score: Callable[[dict], float] = lambda v: v["psnr"]
    sched: Any = None
    lr: Callable[[int], float] | None = None
    clip: float | None = None
    extra: dict = field(default_factory=dict)
    data_state: Callable[[], dict] | None = None
    load_data_state: Callable[[dict, int], None] | None = None
    after_step: Callable[[int], None] | None = None
    params: list | None = None  # what ``clip`` clips (default: the model's parameters)


@dataclass
class Result:
    step: int
    best: float
    best_step: int
    wall_s: float
    stopped: bool  # by the time limit


class DataRNG:
    """The numpy generator a recipe draws its batches from (``.gen``), carried in ``last.pt`` for an exact resume
    (``Recipe(data_state=rng.state, load_data_state=rng.load)``); a checkpoint without it (the older formats)
    restarts it from ``seed_at(step)``, as the recipes did before."""

    def __init__(self, seed_at: Callable[[int], Any]):
        self.seed_at, self.gen = seed_at, None

    def state(self) -> dict:
        return {"numpy": self.gen.bit_generator.state}

    def load(self, data: dict, step: int) -> None:
        self.gen = np.random.default_rng(self.seed_at(step))
        if data.get("numpy"):
            self.gen.bit_generator.state = data["numpy"]


def _numbers(v: dict) -> dict:
    return {k: x for k, x in v.items() if isinstance(x, (int, float)) and not isinstance(x, bool)}


def fit(run: Run, r: Recipe, steps: int, *, log_every: int = 25, val_every: int = 250, ckpt_every: int = 0,
        time_limit: float = 0.0, validate_first: bool = True, first_row: dict | None = None, desc: str = "train",
        echo: Callable[[str], None] = print, clock: Callable[[], float] = time.time) -> Result:
    """Train ``r`` to ``steps`` (see the module docstring). ``time_limit``: minutes of this invocation (0: none).
    ``validate_first``: a fresh run validates the untrained model at step 0 (logged, kept as ``best.pt``), with
    ``first_row`` added to that log row. Returns where it ended."""
    from tqdm import tqdm

    step, best, best_step, wall = 0, -math.inf, 0, 0.0
    if run.resuming:
        step, best, best_step, wall, data = resume_run(run.last, r.model, r.opt, r.sched, steps, r.extra)
        if r.load_data_state is not None:
            r.load_data_state(data, step)
        echo(f"resumed at step {step} (best {best:.4f} at step {best_step})")
    else:
        if r.load_data_state is not None:
            r.load_data_state({}, 0)
        if validate_first:
            v = r.validate()
            best = r.score(v)
            run.log({"step": 0, **v, **(first_row or {})})
            save_best(run.best, r.model, 0, best, _numbers(v))
            echo(f"step 0: {v}")
    session, t0 = clock(), clock() - wall

    def save_last():
        save_run(run.last, r.model, r.opt, r.sched, step, best, best_step, clock() - t0, r.extra,
                 r.data_state() if r.data_state is not None else None)

    r.model.train()
    bar = tqdm(total=steps, initial=min(step, steps), desc=desc, mininterval=30, disable=steps <= step)
    sums: dict[str, float] = {}
    n, stopped = 0, False
    while step < steps:
        if r.lr is not None:
            for g in r.opt.param_groups:
                g["lr"] = r.lr(step)
        terms = r.loss(r.batch(step), step)
        r.opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        if r.clip:
            torch.nn.utils.clip_grad_norm_(r.params if r.params is not None else r.model.parameters(), r.clip)
        r.opt.step()
        if r.sched is not None:
            r.sched.step()
        step += 1
        if r.after_step is not None:
            r.after_step(step)
        bar.update(1)
        for k, x in terms.items():
            sums[k] = sums.get(k, 0.0) + (x.item() if isinstance(x, torch.Tensor) else float(x))
        n += 1
        if step % log_every == 0 or step == steps:
            run.log({"step": step, **{k: s / n for k, s in sums.items()}, "lr": r.opt.param_groups[0]["lr"],
                     "wall_s": round(clock() - t0, 1)})
            sums, n = {}, 0
        stopped = bool(time_limit) and (clock() - session) / 60 >= time_limit
        if step % val_every == 0 or step == steps or stopped:
            v = r.validate()
            r.model.train()
            run.log({"step": step, **v, "wall_s": round(clock() - t0, 1)})
            echo(f"step {step}: {v}")
            if r.score(v) > best:
                best, best_step = r.score(v), step
                save_best(run.best, r.model, step, best, _numbers(v))
            save_last()
        elif ckpt_every and step % ckpt_every == 0:
            save_last()
        if stopped:
            echo(f"time limit of {time_limit} min reached at step {step}; go on with --resume")
            break
    bar.close()
    return Result(step, best, best_step, clock() - t0, stopped)


def channels_last(x: torch.Tensor, on: bool) -> torch.Tensor:
    """``x`` in channels_last memory order when ``on`` (``--bf16`` runs), else as it is."""
    return x.contiguous(memory_format=torch.channels_last) if on and x.dim() == 4 else x


def fp16_rounded(state: dict) -> dict:
    """The state_dict as an fp16 file would give it back (floating tensors rounded to fp16, kept in fp32)."""
    return {k: v.half().float() if v.is_floating_point() else v for k, v in state.items()}


def export(state: dict, dst: str | Path, evaluate: Callable[[dict], dict], number: Callable[[dict], float],
           tolerance: float, half: bool | str = "auto", metadata: dict | None = None) -> dict:
    """Write ``state`` as safetensors at ``dst``, fp16 only where quality holds.

    ``evaluate(state_dict)`` validates the weights (a dict of numbers); ``number`` picks the one compared. fp16 is
    written when |number(fp32) - number(fp16-rounded)| <= ``tolerance``; otherwise fp32 (``half="auto"``) or a
    ValueError (``half=True``); ``half=False`` always fp32. Returns ``{"dtype", "val_fp32", "val_fp16",
    "number_fp32", "number_fp16", "fp16_delta", "tolerance"}``; the two numbers also go into the metadata."""
    from models.weights import save_safetensors

    if half not in ("auto", True, False):
        raise ValueError(f"half must be 'auto', True or False, not {half!r}")
    full = evaluate(state)
    rounded = evaluate(fp16_rounded(state))
    delta = abs(number(full) - number(rounded))
    holds = delta <= tolerance
    if half is True and not holds:
        raise ValueError(f"fp16 export refused: the validation number moves by {delta:.4g} with fp16 weights "
                         f"(tolerance {tolerance:g}; fp32 {number(full):.4f}, fp16 {number(rounded):.4f}); export in "
                         "fp32 or train on")
    use_half = holds if half == "auto" else bool(half)
    info = {"dtype": "fp16" if use_half else "fp32", "val_fp32": full, "val_fp16": rounded,
            "number_fp32": number(full), "number_fp16": number(rounded), "fp16_delta": delta, "tolerance": tolerance}
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    meta = {**{k: str(v) for k, v in (metadata or {}).items()}, "dtype": info["dtype"],
            "val_fp32": f"{number(full):.4f}", "val_fp16": f"{number(rounded):.4f}"}
    save_safetensors(state, dst, half=use_half, metadata=meta)
    return info


def precision_note(info: dict, unit: str = "dB") -> str:
    """The card's sentence about the file's precision and the check behind it."""
    n32, n16 = info["number_fp32"], info["number_fp16"]
    if info["dtype"] == "fp16":
        return (f"fp16: the validation number moves by {info['fp16_delta']:.4f} {unit} (at most {info['tolerance']:g} "
                f"allowed; fp32 {n32:.3f}, fp16 {n16:.3f})")
    return (f"fp32: fp16 weights would move the validation number by {info['fp16_delta']:.4f} {unit}, more than the "
            f"{info['tolerance']:g} allowed (fp32 {n32:.3f}, fp16 {n16:.3f})")


def write_card(path: str | Path, title: str, facts: list[str], sections: dict[str, str] | None = None) -> Path:
    """A model card: ``# title``, the facts as bullets (each may span lines), then ``## heading`` sections."""
    text = f"# {title}\n\n" + "\n".join(f"* {f}" for f in facts) + "\n"
    for head, body in (sections or {}).items():
        text += f"\n## {head}\n{body.rstrip()}\n"
    path = Path(path)
    path.write_text(text)
    return path


def best_weights(run_dir: str | Path) -> dict:
    """``best.pt`` of a run folder (any format): ``{"model": state_dict, "step": int, ...}``."""
    return read_best(Path(run_dir) / "best.pt")
