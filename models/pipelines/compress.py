"""The Compression tab's lab: prune a generator, optionally refine it with SVS, compare samples, save it.

``compress(teacher, ratio, method, svs)`` prunes a copy of a diffusers ``UNet2DModel`` (``models.svs.pruning``:
each ResNet block's inner channels, Taylor or L1 importance) or of a StyleGAN2 generator (``models.svs.stylegan2``:
every styled conv's channels, filter L1), applies Singular Value Scaling when asked (``models.svs.apply_svs``, the
model's rule) and writes the result zipped for download (a pruned-model folder, or a rosinality-layout safetensors). Taylor importance needs data: the lab uses digits drawn from the teacher itself
(``CALIBRATION`` DDIM samples), so it works for any model without its training set. ``sample_grids`` draws the same
seeds from several models for a side-by-side view; ``convergence_plot`` draws bench.svs curves.
"""
from __future__ import annotations

import copy
import json
import math
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.imageio import to_uint8
from models.svs import SVSReport, apply_svs
from models.svs.generators import BUNDLED, BUNDLED_STYLEGAN2, count_params, from_folder, frozen
from models.svs.pruning import METHODS, PruneReport, prune_unet, save_pruned
from models.svs.stylegan2 import Generator, prune_generator

#: Teacher samples used as Taylor calibration data, and their DDIM steps.
CALIBRATION = 16
CALIBRATION_STEPS = 10
#: Ratios the lab accepts (a block keeps at least one GroupNorm group anyway).
MIN_RATIO, MAX_RATIO = 0.05, 0.9


@dataclass
class CompressResult:
    model: nn.Module                  # the compressed model (pruned, then SVS when asked)
    pruned: nn.Module                 # the pruned model before SVS (the same object as model without SVS)
    prune: PruneReport
    svs: SVSReport | None
    archive: Path

    def stats(self) -> dict:
        p = self.prune
        return {"method": p.method, "ratio": p.ratio, "svs": self.svs is not None,
                "params_before": p.params_before, "params_after": p.params_after,
                "macs_before": p.macs_before, "macs_after": p.macs_after,
                "widths_before": p.widths_before, "widths_after": p.widths_after}


#: The bundled generators by source name: registered models.
BUNDLED_IDS = {BUNDLED: "ddpm_mnist", BUNDLED_STYLEGAN2: "stylegan2_mnist"}


def load_generator(source: str = BUNDLED, roots=None) -> nn.Module:
    """A generator for the compression lab, on the CPU, float32, frozen, in eval mode.

    ``source`` is ``"bundled"`` (the tiny MNIST DDPM, registry id ``ddpm_mnist``), ``"bundled-stylegan2"`` (the 32 px
    MNIST StyleGAN2, ``stylegan2_mnist``): both through ``registry.create`` like every model; else a folder inside
    one of ``roots`` or a Hub id (:func:`models.svs.generators.from_folder`, which says why one does not load)."""
    name = source.strip() if isinstance(source, str) else source
    model_id = BUNDLED_IDS.get(name.lower()) if isinstance(name, str) else None
    if model_id is not None:
        from models import registry

        return frozen(registry.create(model_id))
    return from_folder(name, roots)


def check_ratio(ratio) -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not math.isfinite(float(ratio)):
        raise ValueError(f"pruning ratio must be a number, got {ratio!r}")
    ratio = float(ratio)
    if not MIN_RATIO <= ratio <= MAX_RATIO:
        raise ValueError(f"pruning ratio must be between {MIN_RATIO} and {MAX_RATIO}, got {ratio}")
    return ratio


def calibration_images(teacher: nn.Module, n: int = CALIBRATION, steps: int = CALIBRATION_STEPS,
                       seed: int = 1234) -> torch.Tensor:
    """Taylor calibration data drawn from the teacher itself (DDIM, eta 0)."""
    from models.svs.generators import sample

    return sample(teacher, n=n, steps=steps, seed=seed)


def is_stylegan2(model: nn.Module) -> bool:
    return isinstance(model, Generator)


def rule(model: nn.Module) -> str:
    """The SVS rule of a generator: "stylegan2" for the StyleGAN2 generator, else "ddpm"."""
    return "stylegan2" if is_stylegan2(model) else "ddpm"


def stylegan2_macs(g: Generator) -> int:
    """Multiply-accumulates of one StyleGAN2 sample: every modulated conv at its resolution (the 1x1 to-RGBs
    included; the upsampling conv counted at its output size, the mapping's linears once)."""
    total = sum(l.weight.numel() for l in g.style if hasattr(l, "weight"))
    res = 4
    for i, sc in enumerate(g.styled_convs()):
        if sc.conv.upsample:
            res *= 2
        total += sc.conv.weight.numel() * res * res
    total += g.to_rgb1.conv.weight.numel() * 16
    total += sum(t.conv.weight.numel() * (8 * 2 ** j) ** 2 for j, t in enumerate(g.to_rgbs))
    return int(total)


def _prune_stylegan2(teacher: Generator, ratio: float) -> tuple[Generator, PruneReport]:
    pruned, kept = prune_generator(teacher, ratio)
    names = ["conv1", *[f"convs.{i}" for i in range(len(teacher.convs))]]
    report = PruneReport(method="l1", ratio=ratio,
                         widths_before=dict(zip(names, teacher.config["conv_widths"])),
                         widths_after=dict(zip(names, pruned.config["conv_widths"])),
                         params_before=count_params(teacher), params_after=count_params(pruned),
                         macs_before=stylegan2_macs(teacher), macs_after=stylegan2_macs(pruned),
                         kept=dict(zip(names, kept)))
    return pruned, report


def compress(teacher: nn.Module, ratio: float, method: str = "taylor", svs: bool = True,
             archive: str | Path = "pruned.zip", meta: dict | None = None,
             images: torch.Tensor | None = None) -> CompressResult:
    """Prune a copy of ``teacher`` at ``ratio`` (+ SVS) and write it as a zip.

    A diffusers UNet is pruned by ``method`` (each ResNet block's inner channels) and saved as one pruned-model
    folder named after the archive (``<stem>/config.json`` + ``<stem>/diffusion_pytorch_model.safetensors``); a
    StyleGAN2 generator is pruned by filter L1 (``method`` must then be "l1") and saved as ``<stem>.safetensors`` in
    rosinality's layout (its widths are read back from the shapes: ``FRAMEFORGE_STYLEGAN2=<file>`` and
    ``registry.create("stylegan2_official")``)."""
    ratio = check_ratio(ratio)
    if method not in METHODS:
        raise ValueError(f"pruning method must be one of {METHODS}, got {method!r}")
    archive = Path(archive)
    info = {**(meta or {}), "ratio": ratio, "method": method, "svs": bool(svs)}
    if is_stylegan2(teacher):
        if method != "l1":
            raise ValueError("a StyleGAN2 generator is pruned by filter L1: choose method 'l1'")
        pruned, report = _prune_stylegan2(teacher, ratio)
    else:
        if method == "taylor" and images is None:
            images = calibration_images(teacher)
        pruned, report = prune_unet(teacher, ratio, method, images=images, batch=CALIBRATION)
        if method == "taylor":
            info["calibration"] = f"{len(images)} teacher samples, DDIM-{CALIBRATION_STEPS}"
    final = copy.deepcopy(pruned) if svs else pruned
    svs_report = apply_svs(final, rule(final), include_torgb=False) if svs else None
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        if is_stylegan2(final):
            from models.weights import save_safetensors

            path = Path(tmp) / f"{archive.stem}.safetensors"
            save_safetensors(final.state_dict(), path, half=True,
                             metadata={"config": json.dumps(final.config), "pruning": json.dumps(info)})
            zf.write(path, path.name)
        else:
            folder = save_pruned(final, Path(tmp) / archive.stem, info)
            for f in sorted(folder.iterdir()):
                zf.write(f, f"{archive.stem}/{f.name}")
    return CompressResult(final.eval(), pruned.eval(), report, svs_report, archive)


def draw(model: nn.Module, n: int, seed: int, steps: int = 20) -> torch.Tensor:
    """``n`` samples from fixed seeds: DDIM (eta 0, ``steps``) for a DDPM, fixed z and stored noise for StyleGAN2."""
    if is_stylegan2(model):
        with torch.no_grad():
            z = torch.randn(n, model.style_dim, generator=torch.Generator().manual_seed(seed))
            return model(z, randomize_noise=False).clamp(-1, 1)
    from models.svs.generators import sample

    return sample(model, n=n, steps=steps, seed=seed)


def grid(images: torch.Tensor, nrow: int = 4) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> an RGB uint8 grid with 2-pixel gaps."""
    n, c, h, w = images.shape
    rows = math.ceil(n / nrow)
    out = np.full((rows * (h + 2) + 2, nrow * (w + 2) + 2, 3), 255, np.uint8)
    arr = to_uint8(images, value_range=(-1.0, 1.0))
    if c == 1:
        arr = np.repeat(arr, 3, axis=3)
    for i in range(n):
        r, col = divmod(i, nrow)
        out[2 + r * (h + 2):2 + r * (h + 2) + h, 2 + col * (w + 2):2 + col * (w + 2) + w] = arr[i, ..., :3]
    return out


def sample_grids(models: dict[str, nn.Module], n: int = 16, steps: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    """The same seeds drawn from every model (:func:`draw`): name -> grid."""
    return {name: grid(draw(m, n, seed, steps)) for name, m in models.items()}


def labelled_row(grids: dict[str, np.ndarray], scale: int = 3) -> np.ndarray:
    """Grids side by side (nearest-enlarged by ``scale``) with their names above: one RGB image."""
    from PIL import Image, ImageDraw

    tiles = [np.kron(g, np.ones((scale, scale, 1), np.uint8)) for g in grids.values()]
    h = max(t.shape[0] for t in tiles)
    gap, head = 12, 22
    width = sum(t.shape[1] for t in tiles) + gap * (len(tiles) - 1)
    canvas = Image.new("RGB", (width, h + head), "white")
    draw = ImageDraw.Draw(canvas)
    x = 0
    for name, t in zip(grids, tiles):
        canvas.paste(Image.fromarray(t), (x, head))
        draw.text((x + 2, 4), name, fill=(0, 0, 0))
        x += t.shape[1] + gap
    return np.asarray(canvas)


def convergence_plot(results: dict, path: str | Path, ratios: tuple[float, ...] | None = None) -> Path:
    """Plot bench.svs curves (metric vs fine-tuning step, plain dashed, SVS solid, one colour per ratio)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    colours = {}
    for run in results.get("runs", []):
        if ratios and run["ratio"] not in ratios:
            continue
        colour = colours.setdefault(run["ratio"], f"C{len(colours)}")
        steps, values = zip(*run["curve"])
        svs = run["init"] == "svs"  # SVS: solid line, filled circles; plain: dashed line, open squares
        ax.plot(steps, values, ls="-" if svs else (0, (4, 2)), marker="o" if svs else "s", ms=4 if svs else 4.5,
                mfc=colour if svs else "white", color=colour, lw=1.6 if svs else 1.2,
                label=f"{run['ratio']:.0%} pruned, {'SVS (solid)' if svs else 'plain (dashed)'}")
    teacher = results.get("teacher", {}).get("fd")
    if teacher is not None:
        ax.axhline(teacher, color="black", lw=0.8, ls=":", label="teacher")
    ax.set_xlabel("fine-tuning step")
    ax.set_ylabel(results.get("metric", "metric").split(",")[0] + (" (lower is better)"
                  if results.get("lower_is_better") else ""))
    ax.set_yscale("log")
    ax.set_title(results.get("metric", ""), fontsize=8)
    ax.grid(True, which="both", lw=0.3, alpha=0.5)
    ax.legend(fontsize=7, ncol=2, handlelength=4)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)
    return path


def read_results(path: str | Path) -> dict:
    """A bench.svs JSON, or {} when absent or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
