"""Speed of softmax splatting (``models.ops.softsplat.splat_two_frames``, the space-time heads' fusion) against the
scatter-add formulation it replaced, in the same run.

    python -m bench.splat_speed [--size 362] [--channels 64] [--repeats 5] [--threads 1] [--json PATH]

Both anchors of one tile (2 x C x size x size, channels-last as the heads' payload is) splatted with random flows
(std 3 px) and importances; forward alone and forward + backward (gradients in the values and the flow), the median
of ``repeats`` timed calls after a warm-up. The baseline is the definition as one ``scatter_add`` over the
4·HW·C corner products per output (values times bilinear weights, materialised), the implementation the heads used
before the sparse-product one; the two outputs are checked to agree before timing.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench import common

RESULTS = Path(__file__).resolve().parent / "results"


def scatter_two_frames(x, flow, z, count_of):
    """The baseline: splat_two_frames by scatter-adds of the materialised corner products."""
    import torch

    from models.ops.softsplat import corners, splat_count, splat_max

    n2, c, h, w = x.shape
    cor = corners(flow)

    def scatter(v):  # (N2, C', HW) -> Σ over corners of v·weight at the targets
        vals = v.unsqueeze(2).expand(-1, -1, 4, -1).reshape(n2, v.shape[1], -1) * cor.weight.unsqueeze(1)
        out = v.new_zeros(n2, v.shape[1], h * w)
        return out.scatter_add(2, cor.index.unsqueeze(1).expand(-1, v.shape[1], -1), vals)

    ez = z.exp()
    both = scatter(torch.cat([x * ez, ez], 1).reshape(n2, c + 1, h * w)).view(2, n2 // 2, c + 1, h, w).sum(0)
    zsum = both[:, -1:]
    zsum = torch.where(zsum == 0, torch.ones_like(zsum), zsum)
    z_max = splat_max(ez, flow).view(2, n2 // 2, 1, h, w).amax(0)
    count = splat_count(count_of, flow).view(2, n2 // 2, -1, h, w).sum(0)
    return both[:, :-1] / zsum, zsum, z_max, count


def measure(fn, x, flow, z, repeats: int, backward: bool) -> float:
    import torch

    def once():
        xs, fs = (x.detach().requires_grad_(), flow.detach().requires_grad_()) if backward else (x, flow)
        with torch.set_grad_enabled(backward):
            out = fn(xs, fs, z, torch.ones_like(z))
            if backward:
                out[0].sum().backward()

    once()
    return common.median([common.timed(once)[1] for _ in range(repeats)])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=362, help="tile side in pixels")
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=str(RESULTS / "splat_speed.json"))
    args = ap.parse_args(argv)
    if args.size < 2 or args.channels < 1 or args.repeats < 1:
        print("error: --size >= 2, --channels >= 1 and --repeats >= 1", file=sys.stderr)
        return 2
    common.set_threads(args.threads)
    import torch

    from models.ops.softsplat import splat_two_frames

    g = torch.Generator().manual_seed(0)
    s = args.size
    x = torch.randn(2, args.channels, s, s, generator=g).contiguous(memory_format=torch.channels_last)
    flow, z = torch.randn(2, 2, s, s, generator=g) * 3, torch.rand(2, 1, s, s, generator=g)
    for a, b in zip(splat_two_frames(x, flow, z, torch.ones_like(z)), scatter_two_frames(x, flow, z, torch.ones_like(z))):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    rows = []
    for backward in (False, True):
        row = {"pass": "forward + backward" if backward else "forward"}
        for name, fn in (("scatter_add_s", scatter_two_frames), ("sparse_product_s", splat_two_frames)):
            row[name] = measure(fn, x, flow, z, args.repeats, backward)
        row["speed_up"] = row["scatter_add_s"] / row["sparse_product_s"]
        rows.append(row)
        print(f"{row['pass']}: scatter-add {row['scatter_add_s'] * 1000:.0f} ms, sparse product "
              f"{row['sparse_product_s'] * 1000:.0f} ms ({row['speed_up']:.2f}x)", flush=True)
    common.write_json(args.json, {"machine": common.machine(), "threads": args.threads, "size": s,
                                  "channels": args.channels, "repeats": args.repeats, "results": rows,
                                  "protocol": __doc__.split("\n\n")[2].strip()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
