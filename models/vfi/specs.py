"""Registry entries of the kernel-based interpolators (AdaCoF family). ``models/catalog.py`` registers
``vfi_specs()``; nothing here reads weights.

* ``sf_adacof`` / ``adacof``: FrameForge's own compact weights (width 0.5, trained on the CPU here, ``fast``
  sampling as in training), bundled under ``weights/``: only ``sf_adacof`` ships (``weights/sf_adacof.md``).
* ``sf_adacof_official`` / ``adacof_official``: the official checkpoints (``{'epoch', 'state_dict'}``, width 1.0,
  ``exact`` sampling that reproduces the CUDA kernel), from a local file named by ``FRAMEFORGE_SF_ADACOF_CKPT`` /
  ``FRAMEFORGE_ADACOF_CKPT``, or a Hub repo named by ``<VAR>_REPO`` holding ``model50.pth`` / ``ckpt.pth``.

The network width of any checkpoint is read from its tensor shapes before the network is built (``ModelSpec.config``),
so a retrained bundle with another width loads without a code change, and each checkpoint builds its network once.
"""
from __future__ import annotations

from models.modelspec import ModelSpec
from models.weights import WeightSource

from .adacof import build_adacof
from .interpolator import KernelInterpolator
from .sf_adacof import build_sf_adacof

BUNDLED_WIDTH = 0.5


def infer_width(model: str, state: dict) -> float:
    """Width multiplier of a state_dict from its first conv (AdaCoF: 32*w outputs; SF-AdaCoF: 16*w - 2)."""
    key = "get_kernel.moduleConv1.0.weight"
    if key not in state:
        raise ValueError(f"not an {model} checkpoint: no tensor {key!r}")
    out = state[key].shape[0]
    return out / 32.0 if model == "adacof" else (out + 2) / 16.0


def _builder(model: str, width: float, mode: str):
    def build(width: float = width, mode: str = mode, **kw) -> KernelInterpolator:
        build_net = build_adacof if model == "adacof" else build_sf_adacof
        return KernelInterpolator(build_net(width=width, mode=mode, **kw))

    return build


def _load(interp: KernelInterpolator, state: dict) -> None:
    interp.net.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)


def _spec(id_: str, model: str, width: float, mode: str, weights: WeightSource, **kw) -> ModelSpec:
    return ModelSpec(id=id_, task="vfi", build=_builder(model, width, mode), weights=weights, load=_load,
                     config=lambda state: {"width": infer_width(model, state)}, tags=("midpoint", "kernel"), **kw)


def vfi_specs() -> list[ModelSpec]:
    return [
        _spec("sf_adacof", "sf_adacof", BUNDLED_WIDTH, "fast",
              WeightSource(bundled="sf_adacof.safetensors"),
              license="FrameForge weights (Apache-2.0 code); trained on DAVIS-2016 + SA-V/CC BY and other research "
                      "clips: research use, see the card",
              card="sf_adacof.md", label="SF-AdaCoF (compact, CPU-trained preview)",
              description="Shared two-direction U-Net with feature-map differencing (KIPS 2024); midpoint only. "
                          "The bundled weights (5 k CPU steps) beat frame averaging but not DIS flow: see the card."),
        _spec("adacof", "adacof", BUNDLED_WIDTH, "fast",
              WeightSource(bundled="adacof.safetensors"),
              license="FrameForge weights (Apache-2.0 code); trained on DAVIS-2016 + SA-V/CC BY and other research "
                      "clips: research use, see the card",
              card="adacof.md", label="AdaCoF (FrameForge, compact)",
              description="Adaptive Collaboration of Flows (CVPR 2020), F = 5; midpoint only."),
        _spec("sf_adacof_official", "sf_adacof", 1.0, "exact",
              WeightSource(env_var="FRAMEFORGE_SF_ADACOF_CKPT", hub_filename="model50.pth"),
              license="official SF-AdaCoF checkpoint (Go-MinSeong/SF-AdaCoF; no licence file: user-supplied)",
              label="SF-AdaCoF (official checkpoint)",
              description="Official model50.pth (Vimeo-90K, 50 epochs), exact AdaCoF sampling."),
        _spec("adacof_official", "adacof", 1.0, "exact",
              WeightSource(env_var="FRAMEFORGE_ADACOF_CKPT", hub_filename="ckpt.pth"),
              license="MIT (HyeongminLEE/AdaCoF-pytorch checkpoint/kernelsize_5/ckpt.pth)",
              label="AdaCoF (official checkpoint)",
              description="Official F = 5 checkpoint (Vimeo-90K), exact AdaCoF sampling."),
    ]


def _lanczos_sf_adacof(interpolator):
    from models.baselines.resize import Lanczos
    from models.baselines.two_stage import TwoStage

    return TwoStage(Lanczos(), interpolator())


def cascade_specs() -> list[ModelSpec]:
    """Space-time cascades built on the bundled interpolator (offered once its weights are there)."""
    return [
        ModelSpec(id="lanczos+sf_adacof", task="stvsr", build=_lanczos_sf_adacof, parts={"interpolator": "sf_adacof"},
                  license="as sf_adacof", card="sf_adacof.md", label="Lanczos + SF-AdaCoF",
                  description="Lanczos in space, then SF-AdaCoF midpoints at the output size (other times by "
                              "recursion, to the nearest eighth)", tags=("midpoint", "cascade")),
    ]


def _aligned_builder(model: str, width: float, extra_inputs: int):
    def build(rife, width: float = width, **kw):
        """The kernel network at ``width`` on RIFE's motion (``rife``: the part's loader, called on first use)."""
        from .aligned import AlignedKernelInterpolator

        build_net = build_adacof if model == "adacof" else build_sf_adacof
        net = build_net(width=width, mode="fast", extra_inputs=extra_inputs, **kw)
        return AlignedKernelInterpolator(net, load_rife=rife)

    return build


def aligned_specs() -> list[ModelSpec]:
    """The kernel networks on RIFE's motion (models/vfi/aligned.py): any t; offered once trained weights exist.
    ``*_aligned`` is the paper's network on the aligned frames; ``*_aligned_cond`` also sees IFNet's mask and t."""
    from .aligned import COND_INPUTS

    rows = []
    for model, label in (("sf_adacof", "SF-AdaCoF"), ("adacof", "AdaCoF")):
        for suffix, extra, more, measured in (
                ("", 0, "", ""),
                ("_cond", COND_INPUTS, ", told IFNet's mask and t",
                 " Within 0.1 dB of RIFE alone at 2-4x its time (see the card).")):
            rows.append(ModelSpec(
                id=f"{model}_aligned{suffix}", task="vfi", build=_aligned_builder(model, BUNDLED_WIDTH, extra),
                load=_load, config=lambda state, m=model: {"width": infer_width(m, state)},
                weights=WeightSource(bundled=f"{model}_aligned{suffix}.safetensors"), parts={"rife": "rife"},
                license="FrameForge weights (Apache-2.0 code) on RIFE 4.25 (MIT); trained on research clips: see "
                        "the card",
                card=f"{model}_aligned{suffix}.md", label=f"{label} on RIFE motion{more} (any t)",
                description=f"{label} kernels refining frames aligned to t by the pretrained IFNet{more}; any t."
                            f"{measured}",
                tags=("kernel", "pretrained-prior", "arbitrary-t")))
    return rows
