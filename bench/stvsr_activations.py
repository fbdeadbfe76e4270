"""Activation and gradient scales of BF-STVSR / the concat ablation on one real training batch.

    python -m bench.stvsr_activations [--model bfstvsr|concat] [--checkpoint runs/NAME/last.pt] [--json PATH]

This is the check behind ``bench/results/stvsr_training.md``. For every SIREN sine layer it reports the std of the
input, of the pre-activation ω0·(Wx+b) and of the sine output. It also reports the std of the RGB output against
the target, and the gradient norm of each part (encoder, Fourier mapper ``imnet``, motion mapper ``flow_imnet``,
decoder ``synth_net``) after one Charbonnier backward. A SIREN in its designed regime has sine outputs of about
0.7 and pre-activations spanning a few periods. Starved layers (std << 1) would learn as slowly as the kernel
heads did with the default init (``vfi_training.md``).
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from bench import common
from models.ops.siren import SineLayer

PARTS = ("encoder", "imnet", "flow_imnet", "synth_net")


def activation_stats(model: torch.nn.Module, lr: torch.Tensor, gt: torch.Tensor, ts: torch.Tensor) -> dict:
    """lr (B, 2, 3, h, w), gt (N, B, 3, H, W), ts (B, N): per sine layer {in, preact, out} stds; output and
    target std; loss; gradient norm per part (the model's grads are left set)."""
    from train.stvsr import charbonnier

    layers: dict[str, dict[str, float]] = {}

    def hook(name):
        def record(mod, inputs, out):
            x = inputs[0].detach()
            layers[name] = {"in": x.std().item(), "preact": (mod.omega_0 * mod.linear(x)).std().item(),
                            "out": out.detach().std().item()}
        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if isinstance(m, SineLayer)]
    try:
        model.zero_grad()
        pred = model(lr[:, 0], lr[:, 1], ts, gt.shape[-2:])
        loss = charbonnier(pred, gt)
        loss.backward()
    finally:
        for h in handles:
            h.remove()
    grads = {}
    for part in PARTS:
        sq = [p.grad.pow(2).sum().item() for n, p in model.named_parameters()
              if n.startswith(part + ".") and p.grad is not None]
        grads[part] = float(np.sqrt(sum(sq)))
    return {"loss": loss.item(), "pred_std": pred.std().item(), "target_std": gt.std().item(),
            "sine_layers": layers, "grad_norm": grads}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=["bfstvsr", "concat"], default="bfstvsr")
    ap.add_argument("--checkpoint", help="a train.stvsr checkpoint (last.pt / best.pt); default: fresh init")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the numbers here")
    args = ap.parse_args(argv)
    from train.data_stvsr import WindowSampler, build_cache
    from train.stvsr import CACHE, build, make_batch

    torch.manual_seed(args.seed)
    model = build(args.model)
    if args.checkpoint:
        model.load_state_dict(torch.load(args.checkpoint, map_location="cpu", weights_only=True)["model"])
    build_cache(CACHE)
    lr, gt, ts, _ = make_batch(WindowSampler(CACHE, "train"), np.random.default_rng(args.seed), args.batch, 24, 4.0,
                               3, False)
    stats = activation_stats(model, lr, gt, ts)
    stats.update(model=args.model, checkpoint=args.checkpoint)
    print(f"{args.model} ({args.checkpoint or 'init'}): loss {stats['loss']:.4f}, RGB std {stats['pred_std']:.3f} "
          f"(target {stats['target_std']:.3f})")
    print("| sine layer | input std | pre-activation std | output std |\n|---|---|---|---|")
    for name, s in stats["sine_layers"].items():
        print(f"| {name} | {s['in']:.3f} | {s['preact']:.2f} | {s['out']:.3f} |")
    print("grad norm: " + ", ".join(f"{k} {v:.3g}" for k, v in stats["grad_norm"].items()))
    if args.json:
        common.write_json(args.json, stats)


if __name__ == "__main__":
    main()
