"""Tab 4 — Compression lab: prune a generator, refine it with Singular Value Scaling, compare, download; the spectra
view and the measured fine-tuning curves of ``python -m bench.svs``.

Pick a generator (the bundled tiny MNIST DDPM, a diffusers folder under FRAMEFORGE_MODELS_DIRS or a Hub id such as
google/ddpm-cifar10-32), a pruning ratio and method: the tab reports parameters and MACs before and after, draws the
same seeds from the teacher, the pruned model and the pruned model after SVS (and, for the bundled teacher at 30, 50
or 70 %, the students fine-tuned by bench.svs), shows the spectra of the pruned weights before and after SVS, and
offers the compressed model (config.json + safetensors) for download.
"""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import gradio as gr

from models.pipelines import compress as lab
from models.pipelines import svs_spectrum as spectrum
from models.pipelines.svs_spectrum import COLUMNS, default_layers, list_layers
from models.svs.generators import BUNDLED, BUNDLED_STYLEGAN2
from models.svs.pruning import METHODS

from .common import endpoint, image_file, output_path, progress_checker
from .components import Checkbox, Radio, SourceDropdown, Slider

TITLE = "Compression (SVS)"
RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results" / "svs_ddpm.json"
STUDENTS = Path(__file__).resolve().parent.parent / "weights" / "svs_ddpm"
SG2_STUDENTS = STUDENTS.with_name("svs_stylegan2")
SG2_RESULTS = RESULTS.with_name("svs_stylegan2.json")
SG2_ADV_RESULTS = RESULTS.with_name("svs_stylegan2_adv.json")  # distillation + adversarial with R1, 50 %
INTRO = (
    "**Prune, then refine with Singular Value Scaling** (AAAI 2025). Pruning keeps, in every ResNet block, the inner "
    "channels with the highest importance (*taylor*: |w·∂L/∂w| of the denoising loss over timesteps, as in "
    "Diff-Pruning, on digits drawn from the teacher itself; *l1*: weight magnitude). SVS then keeps each pruned "
    "weight's singular vectors and replaces every singular value s by √s (biases b → b/√‖b‖, norm layers reset to "
    "(1, 0)), once, before fine-tuning. The paper's claim: the pruned weights' dominant singular values slow "
    "fine-tuning, and SVS makes it converge faster. The curves below are what `python -m bench.svs` measured here.")
_CACHE: "OrderedDict[str, object]" = OrderedDict()


def _model(source: str):
    """Load (and keep the two most recent) generators by source string."""
    from models.pipelines.compress import load_generator

    if not isinstance(source, str):
        raise ValueError(f"the generator source must be text, got {type(source).__name__}")
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
        source: "bundled", a diffusers folder under FRAMEFORGE_MODELS_DIRS, or a Hub id (e.g. google/ddpm-cifar10-32).
            "bundled" is the tiny MNIST DDPM; a folder holds a diffusers UNet2DModel (config.json + safetensors).
        layers: layer names (a list, or one comma-separated string); empty picks a representative set.

    Returns:
        A PNG plot of the spectra, a per-layer table (sigma_max, Frobenius norm, effective rank before and after)
        and a parameter summary.
    """
    model = _model(source)
    if isinstance(layers, (list, tuple)) and len(layers) == 1 and "," in str(layers[0]):
        layers = str(layers[0])
    result = spectrum.svs_spectrum(model, layers or None, figure_path=output_path(".png", "svs_spectrum"),
                                   rule=lab.rule(model), before_label="before (the generator as loaded)")
    summary = f"**{(source or BUNDLED).strip() or BUNDLED}**: {result.summary}"
    return str(result.figure_path), [list(r) for r in result.rows], summary


def _students(source: str, ratio: float) -> dict:
    """Sample grids of the students bench.svs fine-tuned from a bundled teacher at this ratio."""
    key = (source or BUNDLED).strip().lower() or BUNDLED
    pct = round(ratio * 100)
    if key == BUNDLED:
        pngs = {init: STUDENTS / f"ddpm_mnist_p{pct}_{init}" / "samples.png" for init in ("plain", "svs")}
    elif key == BUNDLED_STYLEGAN2:
        pngs = {init: SG2_STUDENTS / f"stylegan2_mnist_p{pct}_{init}.png" for init in ("plain", "svs")}
    else:
        return {}
    names = {"plain": "fine-tuned without SVS (plain)", "svs": "fine-tuned after SVS"}
    return {f"{pct} % pruned, {names[init]}": str(p) for init, p in pngs.items() if p.is_file()}


#: Why the samples right after pruning look like noise (shown under every result).
PRUNED_NOTE = ("The pruned samples come straight from pruning, before any fine-tuning: removing a block's channels "
               "breaks what the generator learnt, so they look like noise (with or without SVS, which only rescales "
               "the weights). Fine-tuning recovers them — SVS is meant to make that faster: see the measured curves "
               "below (`python -m bench.svs`).")


def sampler_text(model) -> str:
    """How the side-by-side samples are drawn for this generator."""
    return "fixed z, stored noise" if lab.is_stylegan2(model) else "DDIM-20, eta 0"


def _stats_markdown(source: str, result: lab.CompressResult) -> str:
    p = result.prune
    rows = [f"**{(source or BUNDLED).strip() or BUNDLED}**, {p.method} pruning at {p.ratio:.0%}"
            + (" + SVS" if result.svs else " (no SVS)"),
            "", "| | before | after | kept |", "|---|---|---|---|",
            f"| parameters | {p.params_before:,} | {p.params_after:,} | {p.params_after / p.params_before:.1%} |",
            f"| MACs per sample | {p.macs_before / 1e6:,.1f} M | {p.macs_after / 1e6:,.1f} M | "
            f"{p.macs_after / p.macs_before:.1%} |"]
    widths = ", ".join(f"{p.widths_before[k]}→{p.widths_after[k]}" for k in p.widths_before)
    rows += ["", f"ResNet-block inner widths: {widths}"]
    if result.svs:
        rows += ["", result.svs.summary()]
    rows += ["", f"Samples above: the same seeds ({sampler_text(result.pruned)}). {PRUNED_NOTE}"]
    return "\n".join(rows)


@endpoint("compress")
def compress(source: str, ratio: float, method: str, svs: bool, progress=gr.Progress()):
    """Prune a generator (structured, each ResNet block's inner channels), optionally refine it with Singular Value
    Scaling, and return it with its statistics.

    Args:
        source: "bundled", "bundled-stylegan2", a folder under FRAMEFORGE_MODELS_DIRS or a Hub id (owner/name).
            "bundled" is the tiny MNIST DDPM, "bundled-stylegan2" the 32 px MNIST StyleGAN2; a folder holds a
            diffusers UNet2DModel; a Hub id such as "google/ddpm-cifar10-32" is downloaded.
        ratio: fraction of each block's inner channels to remove, 0.05 to 0.9.
        method: channel importance, "taylor" (Diff-Pruning's first-order score on teacher samples) or "l1"
            (a StyleGAN2 generator always uses filter L1).
        svs: apply Singular Value Scaling to the pruned weights (what the paper does before fine-tuning).

    Returns:
        A markdown table of parameters and MACs before/after, an image of samples with the same seeds from the
        teacher, the pruned model and the pruned model after SVS, the spectra of the pruned weights before and after
        SVS, and a zip of the compressed model (config.json + fp16 safetensors, loadable with
        models.registry.create("ddpm_pruned", folder=...)).
    """
    check = progress_checker(progress)
    ratio = lab.check_ratio(ratio)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    check(0.05, desc="loading the generator")
    teacher = _model(source)
    if lab.is_stylegan2(teacher):
        method = "l1"  # StyleGAN2 channels are ranked by filter L1 (Taylor over timesteps is the DDPM's score)
    check(0.15, desc=f"{method} importance and pruning")
    archive = output_path(".zip", source, f"pruned{round(ratio * 100)}" + ("_svs" if svs else ""),
                          default="generator")
    result = lab.compress(teacher, ratio, method, svs=bool(svs), archive=archive,
                          meta={"source": (source or BUNDLED).strip() or BUNDLED})
    check(0.5, desc="sampling teacher and pruned models")
    models = {"teacher": teacher, f"pruned {ratio:.0%}": result.pruned}
    if svs:
        models["pruned + SVS"] = result.model
    grids = lab.sample_grids(models, n=16, steps=20, seed=0)
    samples = image_file(lab.labelled_row(grids), source, "samples", default="generator")
    check(0.85, desc="spectra")
    spectra = spectrum.svs_spectrum(result.pruned, None, figure_path=output_path(".png", source, "spectra"),
                                    rule=lab.rule(result.pruned),
                                    before_label=f"pruned {ratio:.0%} ({method}), before SVS")
    stats = _stats_markdown(source, result)
    students = _students(source, ratio)
    if students:
        stats += ("\n\nBelow: the students `python -m bench.svs` fine-tuned from this teacher at this ratio "
                  "(32 digits, fixed seeds): " + ", ".join(students))
    return stats, samples, str(spectra.figure_path), str(result.archive), [(p, name) for name, p in students.items()]


def _samples_label(source: str) -> str:
    gan = (source or "").strip().lower() == BUNDLED_STYLEGAN2
    how = "fixed z, stored noise" if gan else ("DDIM-20" if (source or "").strip().lower() == BUNDLED else
                                                "DDIM-20 for a DDPM, fixed z for a StyleGAN2")
    return f"Same seeds ({how}): teacher | pruned, before fine-tuning | pruned + SVS, before fine-tuning"


def follow_source(source, method):
    """The importance choice and the samples' caption for the chosen generator: a StyleGAN2 is always pruned by
    filter L1 (Taylor is the DDPM's score), so the choice shows "l1" and cannot be changed."""
    gan = (source or "").strip().lower() == BUNDLED_STYLEGAN2
    radio = (gr.update(value="l1", interactive=False, info="StyleGAN2: channels are ranked by filter L1")
             if gan else gr.update(interactive=True, info="taylor: DDPMs only; StyleGAN2 channels are always "
                                                         "ranked by filter L1"))
    return radio, gr.update(label=_samples_label(source))


def build() -> None:
    gr.Markdown(INTRO)
    with gr.Row():
        with gr.Column(scale=1):
            source = SourceDropdown([BUNDLED, BUNDLED_STYLEGAN2], value=BUNDLED, allow_custom_value=True,
                                 label="Generator",
                                 info="'bundled' (tiny MNIST DDPM), 'bundled-stylegan2' (32 px StyleGAN2 on "
                                      "MNIST), a diffusers folder under "
                                      "FRAMEFORGE_MODELS_DIRS, or a Hub id (e.g. google/ddpm-cifar10-32; needs "
                                      "network)")
            ratio = Slider(lab.MIN_RATIO, lab.MAX_RATIO, value=0.5, step=0.05, label="Pruning ratio",
                           info="fraction of each ResNet block's inner channels removed")
            method = Radio(list(METHODS), value="taylor", label="Importance",
                           info="taylor: DDPMs only; StyleGAN2 channels are always ranked by filter L1")
            use_svs = Checkbox(value=True, label="Singular Value Scaling after pruning")
            go = gr.Button("Compress", variant="primary")
        with gr.Column(scale=2):
            stats = gr.Markdown()
            samples = gr.Image(label=_samples_label(BUNDLED), type="filepath", format="png")
            download = gr.File(label="Compressed model (config.json + safetensors)")
    with gr.Row():
        spectra = gr.Image(label="Spectra of the pruned weights before / after SVS", type="filepath", format="png")
        students = gr.Gallery(label="Students fine-tuned by bench.svs (bundled teacher, 30/50/70 %)", columns=2,
                              height=300, show_label=True)
    go.click(compress, [source, ratio, method, use_svs], [stats, samples, spectra, download, students],
             api_name="compress", concurrency_id="gpu")
    source.change(follow_source, [source, method], [method, samples], api_visibility="private",
                  show_progress="hidden")
    with gr.Accordion("Measured: fine-tuning with and without SVS (bench.svs)", open=True):
        shown = False
        for path in (RESULTS, SG2_RESULTS, SG2_ADV_RESULTS):
            results = lab.read_results(path)
            if results and path.with_suffix(".png").is_file():
                gr.Image(str(path.with_suffix(".png")), label=results.get("metric", ""), type="filepath")
                gr.Markdown(f"`{results.get('command', 'python -m bench.svs')}` — {results.get('protocol', '')}")
                shown = True
        if not shown:
            gr.Markdown("No bench.svs results yet: run `python -m bench.svs --save weights/svs_ddpm`.")
    with gr.Accordion("Spectra of any generator as loaded", open=False):
        with gr.Row():
            with gr.Column(scale=1):
                load = gr.Button("Load layers")
                layers = SourceDropdown([], value=[], multiselect=True, allow_custom_value=True, label="Layers",
                                     info="Conv2d / Linear layers; empty = a representative set")
                show = gr.Button("Show spectra")
            with gr.Column(scale=2):
                plot = gr.Image(label="Singular values before / after SVS (log scale)", type="filepath",
                                format="png")
                summary = gr.Markdown()
        table = gr.Dataframe(headers=COLUMNS, label="Per-layer statistics", interactive=False, wrap=True)
    load.click(load_layers, [source], [layers], api_visibility="private")
    show.click(svs_spectrum, [source, layers], [plot, table, summary], api_name="svs_spectrum", concurrency_id="gpu")
