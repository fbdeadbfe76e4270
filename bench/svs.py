"""The SVS experiment: ``python -m bench.svs [--model ddpm|stylegan2] [--ratios 0.3,0.5,0.7] [--steps N] [--json P]``.

For each pruning ratio the teacher is pruned once, then two copies are fine-tuned with the same seed, data, steps
and learning rate: ``plain`` (the pruned weights as they are) and ``svs`` (Singular Value Scaling applied once
first, ``models.svs.apply_svs``). Every ``--eval-steps`` step the EMA model draws ``--samples`` digits from fixed
seeds, scored by the Frechet distance of their FD-MNISTNet features to the 14,500 training digits' features
(``models.svs.mnist_net``; lower is better).

* ``ddpm`` (teacher: the bundled tiny MNIST DDPM): structured pruning of each ResNet block's inner channels by
  Taylor importance (|w*g| over 10 uniform timesteps on ``--calibration`` training digits,
  ``models.svs.pruning``); SVS with the DDPM rule (norms reset); fine-tuning with eps-MSE, AdamW, EMA 0.995, bf16
  (``train.svs_finetune``); samples by DDIM (eta 0, ``--ddim-steps``). The held-out eps-MSE of the EMA model (500
  digits never trained on, fixed noise and timesteps) is recorded beside the FD (``loss_curve``).
* ``stylegan2`` (teacher: the bundled 32 px StyleGAN2, ``train.stylegan2_mnist``): every styled conv keeps
  ceil((1 - r) C) output channels by filter L1 (``models.svs.stylegan2.prune_generator``); SVS with the StyleGAN2
  rule (synthesis weights, affines and biases; mapping, const, noise and to-RGB untouched); fine-tuning with output
  distillation L1 x3, plus ``--adv-weight`` x the adversarial loss against the teacher's discriminator with R1
  (``finetune_student``; default 0: in a probe at weight 1 the adversarial term, ~6 against ~0.6, held the pruned
  student's FD at ~2,100 for 100 steps); samples from fixed z and the stored noise.

JSON (``bench/results/svs_<model>.json``): ``{"metric", "lower_is_better", "runs": [{"model", "ratio", "init",
"curve": [[step, value], ...], "params", ...}], "teacher": {...}, "real_floor", "protocol", "machine",
"command"}``; the curves are drawn beside it (``svs_<model>.png``). With ``--save DIR`` the final students are
written to DIR (DDPM: pruned-model folders ``ddpm_mnist_p50_svs/``; StyleGAN2: ``stylegan2_mnist_p50_svs.safetensors``)
with sample grids.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from . import common

MODELS = ("ddpm", "stylegan2")
PROTOCOLS = {
    "ddpm": ("svs ddpm: teacher = bundled tiny MNIST DDPM; structured pruning of each ResNet block's inner channels "
             "by Taylor importance (|w*g| over 10 uniform timesteps, training digits); fine-tune eps-MSE, AdamW, "
             "batch 48, EMA 0.995, bf16 autocast, same seed for plain and svs; metric = Frechet distance of "
             "FD-MNISTNet features (bundled classifier, 128-d) of N DDIM samples (eta 0, fixed seeds) to the "
             "14,500 training digits"),
    "stylegan2": ("svs stylegan2: teacher = bundled 32 px StyleGAN2 (g_ema); every styled conv keeps ceil((1-r)C) "
                  "channels by filter L1; SVS StyleGAN2 rule without to-RGB; fine-tune L1 output distillation x3 "
                  "(same z and noise as the teacher) + adv-weight x non-saturating adversarial vs the teacher's D "
                  "(R1 0.1, lazy every 4; from step adv-start, weight ramped over adv-ramp steps), Adam 0.002 "
                  "betas (0, 0.99), batch 32, G EMA (half-life 10k images, warm-up), same seed for plain and svs; metric = FD-MNISTNet of N samples (fixed z, stored noise) "
                  "vs the 14,500 training digits"),
}


def load_digits(holdout: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`train.tiny_ddpm.load_digits` (the training / held-out split of every MNIST model here)."""
    from train.tiny_ddpm import load_digits as split

    try:
        return split(holdout)
    except FileNotFoundError as exc:
        raise common.DataError(str(exc)) from exc


def draw_ddpm(ddim_steps: int):
    from models.svs.generators import sample

    return lambda model, n, seed: sample(model, n=n, steps=ddim_steps, seed=seed)


def draw_stylegan2(model, n, seed):
    from train.stylegan2_mnist import sample

    return sample(model, n=n, seed=seed)


class Evaluator:
    """FD-MNISTNet of ``samples`` draws (fixed seeds) and, for a DDPM, the held-out eps-MSE."""

    def __init__(self, train: torch.Tensor, held: torch.Tensor | None, samples: int, draw, seed: int = 0):
        from models import registry
        from models.svs.mnist_net import features

        self.net = registry.create("mnist_net")
        self.ref = features(self.net, train)
        self.held, self.samples, self.draw, self.seed = held, samples, draw, seed

    def __call__(self, model) -> dict:
        from models.metrics import frechet_distance
        from models.svs.mnist_net import features

        imgs = torch.cat([self.draw(model, min(128, self.samples - i), self.seed + i)
                          for i in range(0, self.samples, 128)])
        out = {"fd": round(frechet_distance(features(self.net, imgs), self.ref), 3)}
        if self.held is not None:
            from train.svs_finetune import ddpm_scheduler
            from train.tiny_ddpm import heldout_loss

            out["heldout_loss"] = round(heldout_loss(model, ddpm_scheduler(), self.held), 5)
        return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="ddpm", choices=MODELS)
    ap.add_argument("--teacher", default="bundled",
                    help="ddpm: generator source (models.svs.generators.load_generator); stylegan2: registry id")
    ap.add_argument("--ratios", default=None, help="default 0.3,0.5,0.7 (ddpm), 0.5,0.7 (stylegan2)")
    ap.add_argument("--inits", default="plain,svs")
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--eval-steps", default="0,50,100,200,300,400,500")
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--ddim-steps", type=int, default=20)
    ap.add_argument("--lr", type=float, default=None, help="default 5e-4 (ddpm), 0.002 (stylegan2)")
    ap.add_argument("--batch", type=int, default=None, help="default 48 (ddpm), 32 (stylegan2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--adv-weight", type=float, default=0.0,
                    help="stylegan2: weight of the adversarial term against the teacher's D (0: distillation only)")
    ap.add_argument("--adv-start", type=int, default=0,
                    help="stylegan2: the adversarial term (and D's updates) begin after this step")
    ap.add_argument("--adv-ramp", type=int, default=0,
                    help="stylegan2: steps over which the adversarial weight rises linearly to --adv-weight")
    ap.add_argument("--heldout", type=int, default=500, help="held-out digits for the eps-MSE column (ddpm)")
    ap.add_argument("--calibration", type=int, default=256, help="training digits for the Taylor importance")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None, help="default bench/results/svs_<model>.json")
    ap.add_argument("--save", default=None, help="folder for the fine-tuned students")
    args = ap.parse_args(argv)
    common.set_threads(args.threads)
    ddpm = args.model == "ddpm"
    ratios = [float(r) for r in (args.ratios or ("0.3,0.5,0.7" if ddpm else "0.5,0.7")).split(",")]
    lr = args.lr or (5e-4 if ddpm else 0.002)
    batch = args.batch or (48 if ddpm else 32)
    json_path = args.json or f"bench/results/svs_{args.model}.json"

    from models.metrics import frechet_distance
    from models.svs.generators import count_params
    from models.svs.mnist_net import METRIC, features
    from train.svs_students import student_run  # the students are trained in train/, measured here

    try:
        train, held = load_digits()
    except common.DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if ddpm:
        from models.pipelines.compress import load_generator
        from models.svs.pruning import prune_unet

        teacher = load_generator(args.teacher)
        evaluate = Evaluator(train, held[:args.heldout], args.samples, draw_ddpm(args.ddim_steps), args.seed)
        sampler = f"DDIM-{args.ddim_steps} (eta 0)"
    else:
        from models import registry
        from models.svs.stylegan2 import prune_generator
        from train.stylegan2_mnist import Discriminator

        teacher = registry.create("stylegan2_mnist" if args.teacher == "bundled" else args.teacher)
        disc = Discriminator()
        from models.weights import WEIGHTS_DIR, load_state_dict

        disc.load_state_dict({k: v.float() for k, v in load_state_dict(
            WEIGHTS_DIR / "stylegan2_mnist" / "discriminator.safetensors").items()})
        evaluate = Evaluator(train, None, args.samples, draw_stylegan2, args.seed)
        sampler = "fixed z, stored noise"

    eval_steps = sorted({int(s) for s in args.eval_steps.split(",") if s.strip()} | {args.steps})
    metric = f"{METRIC}, {args.samples} samples, {sampler}, sample seeds {args.seed}+"
    t0 = time.time()
    floor_idx = torch.randperm(len(held), generator=torch.Generator().manual_seed(args.seed))[:args.samples]
    report = {"metric": metric, "lower_is_better": True, "model": args.model, "protocol": PROTOCOLS[args.model],
              **({} if ddpm else {"adv_weight": args.adv_weight, "adv_start": args.adv_start,
                                  "adv_ramp": args.adv_ramp}),
              "steps": args.steps, "lr": lr, "batch": batch, "seed": args.seed,
              "teacher": {"source": args.teacher, "params": count_params(teacher), **evaluate(teacher)},
              "real_floor": round(frechet_distance(features(evaluate.net, held[floor_idx]), evaluate.ref), 3),
              "runs": [], "machine": common.machine(),
              "command": "python -m bench.svs " + " ".join(argv if argv is not None else sys.argv[1:])}
    print(f"teacher {report['teacher']}; {len(floor_idx)} held-out real digits: {report['real_floor']}", flush=True)
    calib = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(args.seed))[:args.calibration]]
    for ratio in ratios:
        if ddpm:
            pruned, prep = prune_unet(teacher, ratio, "taylor", images=calib)
            print(prep.summary(), flush=True)
        else:
            pruned, _ = prune_generator(teacher, ratio)
            print(f"stylegan2 pruned {ratio:.0%}: widths {pruned.config['conv_widths']}, "
                  f"{count_params(pruned):,} params", flush=True)
        for init in args.inits.split(","):
            def log(s, ratio=ratio, init=init):
                print(f"  {ratio:.0%} {init}: {s}", flush=True)

            ema, records = student_run(args.model, pruned, init, train, args.steps, evaluate, eval_steps, lr, batch,
                                       args.seed, log, teacher=None if ddpm else teacher,
                                       disc=None if ddpm else disc, adv_weight=args.adv_weight,
                                       adv_start=args.adv_start, adv_ramp=args.adv_ramp)
            run = {"model": args.model, "ratio": ratio, "init": init, "curve": [[s, r["fd"]] for s, r in records],
                   "params": count_params(ema)}
            if ddpm:
                run["loss_curve"] = [[s, r["heldout_loss"]] for s, r in records]
                run["macs"] = prep.macs_after
                run["method"] = "taylor"
            report["runs"].append(run)
            common.write_json(json_path, {**report, "wall_seconds": round(time.time() - t0, 1)})
            if args.save:
                _save_student(ema, Path(args.save), args, ratio, init, records, lr, batch)
    report["wall_seconds"] = round(time.time() - t0, 1)
    report["summary"] = summarize(report)
    common.write_json(json_path, report)
    print(markdown(report), flush=True)
    from models.pipelines.compress import convergence_plot

    convergence_plot(report, Path(json_path).with_suffix(".png"))
    print(json.dumps({f"{r['init']}@{r['ratio']}": r["curve"][-1] for r in report["runs"]}), flush=True)
    return 0


def summarize(report: dict) -> list[dict]:
    """Per ratio: both final values, and the first evaluated step at which the SVS run is at or below (better than)
    the plain run's final value, as a fraction of the steps (the paper's "converges faster")."""
    rows = []
    for ratio in sorted({r["ratio"] for r in report["runs"]}):
        runs = {r["init"]: r for r in report["runs"] if r["ratio"] == ratio}
        if not {"plain", "svs"} <= set(runs):
            continue
        plain, svs = runs["plain"]["curve"], runs["svs"]["curve"]
        target = plain[-1][1]
        reach = next((step for step, v in svs if v <= target), None)
        plain_reach = next((step for step, v in plain if v <= target), None)
        rows.append({"ratio": ratio, "plain_final": target, "svs_final": svs[-1][1],
                     "plain_best": min(v for _, v in plain), "svs_best": min(v for _, v in svs),
                     "svs_steps_to_plain_final": reach, "plain_steps_to_plain_final": plain_reach,
                     "fraction": None if reach is None else round(reach / plain[-1][0], 3)})
    return rows


def markdown(report: dict) -> str:
    """The curves as a table (one row per run, one column per evaluated step) and the summary."""
    steps = [s for s, _ in report["runs"][0]["curve"]] if report["runs"] else []
    head = "| ratio | init | params | " + " | ".join(f"step {s}" for s in steps) + " |"
    lines = [head, "|" + "---|" * (3 + len(steps))]
    for r in report["runs"]:
        lines.append(f"| {r['ratio']:.0%} | {r['init']} | {r['params']:,} | "
                     + " | ".join(f"{v:.2f}" for _, v in r["curve"]) + " |")
    lines += ["", "| ratio | plain final | SVS final | SVS reaches plain's final at | fraction of the steps |",
              "|---|---|---|---|---|"]
    for row in summarize(report):
        reach = "never" if row["svs_steps_to_plain_final"] is None else f"step {row['svs_steps_to_plain_final']}"
        frac = "—" if row["fraction"] is None else f"{row['fraction']:.0%}"
        lines.append(f"| {row['ratio']:.0%} | {row['plain_final']:.2f} | {row['svs_final']:.2f} | {reach} | {frac} |")
    return "\n".join(lines)


def _save_student(ema, folder: Path, args, ratio, init, records, lr, batch) -> None:
    from train.svs_students import save_student

    meta = {"teacher": args.teacher, "ratio": ratio, "init": init, "finetune_steps": args.steps, "lr": lr,
            "batch": batch, "seed": args.seed, "final": records[-1][1]}
    save_student(ema, folder, args.model, ratio, init, meta)


if __name__ == "__main__":
    raise SystemExit(main())
