"""Registry entries of the compression lab: the bundled teacher DDPM, its pruned and fine-tuned students, any pruned
model folder, and the MNIST classifier behind FD-MNISTNet. ``models/catalog.py`` registers ``svs_specs()``."""
from __future__ import annotations

from ..modelspec import ModelSpec
from ..weights import WeightSource

#: Folder under weights/ of the students written by ``python -m bench.svs --save weights/svs_ddpm``.
STUDENTS_DIR = "svs_ddpm"
RATIOS = (30, 50, 70)
INITS = ("plain", "svs")
SG2_STUDENTS_DIR = "svs_stylegan2"
SG2_RATIOS = (50, 70)
MNIST_TERMS = "trained here by FrameForge on MNIST (use under MNIST's terms)"


def student_id(ratio: int, init: str) -> str:
    return f"ddpm_mnist_p{ratio}_{init}"


def _teacher():
    from .generators import tiny_unet

    return tiny_unet()


def _pruned(block_widths=None):
    from .generators import tiny_unet_config
    from .pruning import build_pruned

    return build_pruned(tiny_unet_config(), block_widths or {})


def _widths(state) -> dict:
    from .pruning import widths_from_state

    return {"block_widths": widths_from_state(state)}


def _pruned_folder(folder):
    """Any pruned-model folder (config.json + safetensors, as the Compression tab and bench.svs write them)."""
    from .pruning import load_pruned

    return load_pruned(folder)


def _stylegan2(**config):
    from .stylegan2 import Generator

    return Generator(**config)


def _stylegan2_config(state) -> dict:
    from .stylegan2 import generator_config

    return generator_config(state)


def _mnist_net():
    from .mnist_net import MnistNet

    return MnistNet()


def svs_specs() -> list[ModelSpec]:
    specs = [
        ModelSpec(id="ddpm_mnist", task="svs", build=_teacher,
                  weights=WeightSource(bundled="tiny_ddpm_mnist/diffusion_pytorch_model.safetensors"),
                  license=MNIST_TERMS, card="tiny_ddpm_mnist/README.md", label="Tiny MNIST DDPM (teacher)",
                  description="1.1M-parameter eps-prediction UNet2DModel for 32x32 digits, the SVS teacher."),
        ModelSpec(id="ddpm_pruned", task="svs", build=_pruned_folder, license="that of the pruned model",
                  label="Pruned DDPM (a folder)",
                  description="A pruned UNet folder written by the Compression tab, the CLI or bench.svs: "
                              "create('ddpm_pruned', folder=PATH)."),
        ModelSpec(id="stylegan2_official", task="svs", build=_stylegan2, config=_stylegan2_config,
                  weights=WeightSource(env_var="FRAMEFORGE_STYLEGAN2"),
                  license="that of the checkpoint (NVIDIA's StyleGAN2 weights: Nvidia Source Code License-NC)",
                  label="StyleGAN2 generator (rosinality checkpoint)",
                  description="A rosinality stylegan2-pytorch checkpoint's g_ema (size, widths read from it), "
                              "from the file named by FRAMEFORGE_STYLEGAN2."),
        ModelSpec(id="stylegan2_mnist", task="svs", build=_stylegan2, config=_stylegan2_config,
                  weights=WeightSource(bundled="stylegan2_mnist/stylegan2_mnist.safetensors"),
                  license=MNIST_TERMS, card="stylegan2_mnist/README.md", label="StyleGAN2 32 px digits (teacher)",
                  description="StyleGAN2 generator (rosinality layout) trained here on MNIST, the SVS teacher."),
        ModelSpec(id="mnist_net", task="metric", build=_mnist_net,
                  weights=WeightSource(bundled="mnist_net.safetensors"), license=MNIST_TERMS, card="mnist_net.md",
                  label="MNIST classifier (FD-MNISTNet features)",
                  description="Small CNN whose 128-d penultimate features define FD-MNISTNet."),
    ]
    for ratio in RATIOS:
        for init in INITS:
            how = "pruned weights as they are" if init == "plain" else "pruned weights refined by SVS"
            specs.append(ModelSpec(
                id=student_id(ratio, init), task="svs", build=_pruned, config=_widths,
                weights=WeightSource(bundled=f"{STUDENTS_DIR}/{student_id(ratio, init)}/"
                                             "diffusion_pytorch_model.safetensors"),
                license=MNIST_TERMS, card=f"{STUDENTS_DIR}/README.md",
                label=f"Tiny DDPM pruned {ratio}% + fine-tuned ({init})",
                description=f"ddpm_mnist with {ratio}% of each ResNet block's inner channels pruned (Taylor), "
                            f"fine-tuned from the {how}.", tags=("student",)))
    for ratio in SG2_RATIOS:
        for init in INITS:
            specs.append(ModelSpec(
                id=f"stylegan2_mnist_p{ratio}_{init}", task="svs", build=_stylegan2, config=_stylegan2_config,
                weights=WeightSource(bundled=f"{SG2_STUDENTS_DIR}/stylegan2_mnist_p{ratio}_{init}.safetensors"),
                license=MNIST_TERMS, card=f"{SG2_STUDENTS_DIR}/README.md",
                label=f"StyleGAN2 pruned {ratio}% + fine-tuned ({init})",
                description=f"stylegan2_mnist with {ratio}% of every styled conv's channels pruned (L1), fine-tuned "
                            f"by distillation + adversarial from the {init} pruned weights.", tags=("student",)))
    return specs
