"""Tab 4 — Compression (SVS): what Singular Value Scaling does to a generator's weight spectra.

Pick a generator (the bundled tiny MNIST DDPM, a diffusers folder under FRAMEFORGE_MODELS_DIRS or a Hub id such as
google/ddpm-cifar10-32),
pick layers, and see each layer's singular values before and after W' = U diag(sqrt s) V^T, with a table of
sigma_max, Frobenius norm and effective rank. The model itself is never changed.
"""
from __future__ import annotations

from collections import OrderedDict

import gradio as gr

from models.pipelines import svs_spectrum as spectrum
from models.pipelines.svs_spectrum import COLUMNS, default_layers, list_layers
from models.svs.generators import BUNDLED

from .common import endpoint, output_path

TITLE = "Compression (SVS)"
INTRO = (
    "**Singular Value Scaling** (AAAI 2025) refines pruned generator weights once, before fine-tuning: every "
    "weight, flattened to C_out × C_in·k·k, keeps its singular vectors while each singular value s becomes √s "
    "(no renormalisation); biases become b / √‖b‖. DDPM rule: every conv / linear layer, norm layers reset to "
    "(1, 0). This tab shows the spectra before and after on a copy of the model. The bundled generator is a "
    "1.1M-parameter DDPM trained here for 15 minutes on MNIST; pruning is not applied here, so *before* is "
    "the generator as loaded."
)
_CACHE: "OrderedDict[str, object]" = OrderedDict()


def _model(source: str):
    """Load (and keep the two most recent) generators by source string."""
    from models.svs.generators import load_generator

    key = (source or BUNDLED).strip() or BUNDLED
    if key not in _CACHE:
        _CACHE[key] = load_generator(key)
        while len(_CACHE) > 2:
            _CACHE.popitem(last=False)
    _CACHE.move_to_end(key)
    return _CACHE[key]


@endpoint("load_layers")
def load_layers(source: str):
    """Fill the layer picker from the chosen generator: all Conv2d/Linear layers, a representative default set."""
    model = _model(source)
    return gr.Dropdown(choices=list_layers(model), value=default_layers(model))


@endpoint("svs_spectrum")
def svs_spectrum(source: str, layers):
    """Singular-value spectra of a generator's layers before and after Singular Value Scaling (on a copy).

    Args:
        source: "bundled" (the tiny MNIST DDPM), a diffusers UNet2DModel folder under FRAMEFORGE_MODELS_DIRS, or a
            Hugging Face Hub id such as "google/ddpm-cifar10-32".
        layers: layer names (a list, or one comma-separated string); empty picks a representative set.

    Returns:
        A PNG plot of the spectra, a per-layer table (sigma_max, Frobenius norm, effective rank before and after)
        and a parameter summary.
    """
    if not isinstance(source, str):
        raise ValueError(f"the generator source must be text, got {type(source).__name__}")
    model = _model(source)
    if isinstance(layers, (list, tuple)) and len(layers) == 1 and "," in str(layers[0]):
        layers = str(layers[0])
    result = spectrum.svs_spectrum(model, layers or None, figure_path=output_path(".png", "svs_spectrum"))
    summary = f"**{(source or BUNDLED).strip() or BUNDLED}**: {result.summary}"
    return str(result.figure_path), [list(r) for r in result.rows], summary


def build() -> None:
    gr.Markdown(INTRO)
    with gr.Row():
        with gr.Column(scale=1):
            source = gr.Dropdown([BUNDLED], value=BUNDLED, allow_custom_value=True, label="Generator",
                                 info="'bundled' (tiny MNIST DDPM), a diffusers folder under "
                                      "FRAMEFORGE_MODELS_DIRS, or a Hub id (e.g. google/ddpm-cifar10-32; needs "
                                      "network)")
            load = gr.Button("Load layers")
            layers = gr.Dropdown([], value=[], multiselect=True, allow_custom_value=True, label="Layers",
                                 info="Conv2d / Linear layers; empty = a representative set")
            go = gr.Button("Show spectra", variant="primary")
        with gr.Column(scale=2):
            plot = gr.Image(label="Singular values before / after SVS (log scale)", type="filepath", format="png")
            summary = gr.Markdown()
    table = gr.Dataframe(headers=COLUMNS, label="Per-layer statistics", interactive=False, wrap=True)
    load.click(load_layers, [source], [layers], api_visibility="private")
    go.click(svs_spectrum, [source, layers], [plot, table, summary], api_name="svs_spectrum", concurrency_id="gpu")
    gr.Examples([[BUNDLED, []]], [source, layers], [plot, table, summary], fn=svs_spectrum, cache_examples=True,
                cache_mode="lazy")
