"""The Compression tab's pipeline: apply SVS to a copy of a generator and show what it does to the spectra.

For each chosen layer (a Conv2d / Linear weight flattened to C_out x C_in*k*k) it plots the singular values
before and after W' = U diag(sqrt s) V^T on a log scale and tabulates sigma_max, the Frobenius norm and the
effective rank (exp of the entropy of s / sum s, Roy & Vetterli 2007) before and after. The caller's model is
never modified.
"""
from __future__ import annotations

import copy
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch import nn

from models.svs.scaling import _as_matrix, apply_svs, spectrum

#: Columns of :attr:`SpectrumResult.rows`.
COLUMNS = ["layer", "shape", "params", "sigma_max before", "sigma_max after",
           "frobenius before", "frobenius after", "eff. rank before", "eff. rank after"]
#: Most layers one figure shows.
MAX_LAYERS = 12


@dataclass
class SpectrumResult:
    figure_path: Path
    rows: list[list] = field(default_factory=list)  # one per layer, in COLUMNS order
    total_params: int = 0
    scaled_params: int = 0
    summary: str = ""


def list_layers(model: nn.Module) -> list[str]:
    """Names of the layers with a weight matrix (Conv2d / Linear, and StyleGAN2's modulated convs and equalised
    linears: any module with its own >= 2-D ``weight`` parameter that is not a norm), in model order."""
    names = []
    for name, mod in model.named_modules():
        w = mod._parameters.get("weight")
        if w is not None and w.ndim >= 2 and w.numel() > 0 and "norm" not in type(mod).__name__.lower():
            names.append(name)
    return names


def default_layers(model: nn.Module, count: int = 6) -> list[str]:
    """A handful of representative layers: the first and last convs, a time-embedding Linear, an attention
    projection, and the largest convs in between (at most ``count``, in model order; layers whose flattened
    weight has fewer than 4 rows or columns are left out when others exist)."""
    mods = dict(model.named_modules())
    every = list_layers(model)
    # a layer with one output channel (e.g. conv_out of a grey-image UNet) has a single singular value
    names = [n for n in every if min(_as_matrix(mods[n].weight).shape) >= 4] or every
    if not names:
        return []
    picks = [names[0], names[-1]]
    for key in ("time_embedding.linear_1", "to_q", "to_out"):
        hit = next((n for n in names if key in n), None)
        if hit:
            picks.append(hit)
    picks += sorted(names, key=lambda n: mods[n].weight.numel(), reverse=True)
    chosen = set(list(dict.fromkeys(picks))[:count])
    return [n for n in names if n in chosen]


def effective_rank(s: np.ndarray) -> float:
    """exp(H(p)) with p = s / sum(s): 1 for a rank-one matrix, r for r equal singular values."""
    s = np.asarray(s, dtype=np.float64)
    s = s[s > 0]
    if s.size == 0:
        return 0.0
    p = s / s.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def _parse_layers(model: nn.Module, layers) -> list[str]:
    available = list_layers(model)
    if layers is None or (isinstance(layers, (str, list, tuple)) and len(layers) == 0):
        return default_layers(model)
    if not isinstance(layers, (str, list, tuple)) or not all(isinstance(n, str) for n in layers):
        raise ValueError(f"layers must be layer names (a list of names or one comma-separated string), got "
                         f"{layers!r}"[:200])
    if isinstance(layers, str):
        text = layers
        layers = [x.strip() for x in layers.split(",") if x.strip()]
        if not layers:
            raise ValueError(f"no layer name in {text!r}: give names separated by commas, or nothing for a "
                             "representative set")
    layers = list(dict.fromkeys(layers))
    unknown = [n for n in layers if n not in available]
    if unknown:
        raise ValueError(f"unknown layer(s) {unknown}; choose Conv2d/Linear layers such as {available[:5]}")
    if len(layers) > MAX_LAYERS:
        raise ValueError(f"{len(layers)} layers chosen; pick at most {MAX_LAYERS}")
    return layers


def _plot(names, before, after, top_k, path: Path, before_label: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(names)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, name, sb, sa in zip(axes.flat, names, before, after):
        k = len(sb) if top_k is None else min(top_k, len(sb))
        idx = np.arange(1, k + 1)
        ax.semilogy(idx, np.maximum(sb[:k], 1e-12), "o-", ms=2.5, lw=1.2, label=before_label)
        ax.semilogy(idx, np.maximum(sa[:k], 1e-12), "s-", ms=2.5, lw=1.2, label="after SVS (sqrt s)")
        ax.axhline(1.0, color="grey", lw=0.6, ls=":")
        ax.set_title(name if len(name) <= 42 else "…" + name[-41:], fontsize=8)
        ax.set_xlabel("index", fontsize=8)
        ax.set_ylabel("singular value", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, which="both", lw=0.3, alpha=0.5)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("Singular Value Scaling: spectra before vs after (log scale)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)


def svs_spectrum(model: nn.Module, layers: list[str] | str | None = None, top_k: int | None = None,
                 rule: str = "ddpm", figure_path: str | Path | None = None,
                 before_label: str = "before (as loaded)") -> SpectrumResult:
    """Apply SVS (``rule``) to a deep copy of ``model`` and compare the chosen layers' spectra.

    ``layers``: module names from :func:`list_layers` (a list or a comma-separated string; ``None`` or empty picks
    :func:`default_layers`). ``top_k``: plot only the k largest singular values. Returns a
    :class:`SpectrumResult` with a PNG figure (at ``figure_path``, else in a fresh temporary folder), one table row
    per layer, the model's parameter count and how many parameters SVS rescaled. ``before_label`` is the
    legend of the unscaled curve (say what the model is: as loaded, pruned by ...).
    """
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    names = _parse_layers(model, layers)
    if not names:
        raise ValueError("the model has no Conv2d or Linear layer to analyse")
    scaled = copy.deepcopy(model)
    report = apply_svs(scaled, rule=rule)
    before_mods, after_mods = dict(model.named_modules()), dict(scaled.named_modules())
    rows, before, after = [], [], []
    for name in names:
        w0, w1 = before_mods[name].weight, after_mods[name].weight
        s0, s1 = spectrum(w0), spectrum(w1)
        before.append(s0)
        after.append(s1)
        rows.append([name, "x".join(str(d) for d in w0.shape), int(w0.numel()),
                     round(float(s0[0]), 4), round(float(s1[0]), 4),
                     round(float(np.sqrt((s0 ** 2).sum())), 4), round(float(np.sqrt((s1 ** 2).sum())), 4),
                     round(effective_rank(s0), 2), round(effective_rank(s1), 2)])
    if figure_path is None:
        figure_path = Path(tempfile.mkdtemp(prefix="svs_spectrum_")) / "svs_spectrum.png"
    fig_path = Path(figure_path)
    fig_path.parent.mkdir(parents=True, exist_ok=True)
    _plot(names, before, after, top_k, fig_path, before_label)
    summary = (f"{report.total_params:,} parameters; SVS ({rule}) rescaled {report.scaled_params:,} "
               f"({100 * report.scaled_params / max(report.total_params, 1):.1f}%) in "
               f"{len(report.scaled_weights)} weights + {len(report.scaled_biases)} biases; "
               f"{len(report.reset_norms)} norm layers reset to (1, 0).")
    return SpectrumResult(fig_path, rows, report.total_params, report.scaled_params, summary)
