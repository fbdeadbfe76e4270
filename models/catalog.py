"""Every FrameForge model, registered once. Importing this module reads no weights.

Order matters: within a task, ``registry.ids`` lists the default first, then models in registration order, so the
weight-free baselines (registered first) are the fallback when a trained model's weights are not available.
The defaults are chosen here, from the measured numbers in bench/results/ (see README, *Measured*).
"""
from __future__ import annotations

from .backbones.specs import backbone_specs
from .baselines.specs import baseline_specs
from .clean.specs import clean_specs
from .face.specs import face_specs
from .registry import register
from .stvsr.specs import stvsr_specs
from .svs.specs import svs_specs
from .vfi.specs import aligned_specs, cascade_specs, vfi_specs

#: The model each tab opens with (when its weights are available): the best measured one (README, *Measured*):
#: rife beats dis_flow on both VFI sets; basicvsr+rife beats lanczos+dis by 2.5 dB (x4 / x2) and 1.2-2.5 dB elsewhere;
#: face_basicvsr beats bicubic by 2.4 dB (x4) and 2.3 dB (x8) on faces_eval/ffhq.
#: face_realesrgan (at its default fidelity 0.7) beats face_basicvsr on blurred, noisy, JPEG'd faces (bench.face
#: --degrade jpeg, x4: FD-EffNetLite0 0.33x, identity distance 0.173 vs 0.189, +0.8 dB), the photos people bring.
DEFAULTS = {"vfi": "rife", "stvsr": "basicvsr+rife", "face": "face_realesrgan"}
#: Without an accelerator: BasicVSR costs about 1.4 s per output frame of 854x480 at x4 on 2 CPU cores (and grows
#: with the input size), so the Video SR tab opens on lanczos+rife, the best of the fast pipelines.
CPU_DEFAULTS = {"stvsr": "lanczos+rife"}

for _spec in [*baseline_specs(), *backbone_specs(), *clean_specs(), *vfi_specs(), *aligned_specs(), *stvsr_specs(),
              *cascade_specs(), *face_specs(), *svs_specs()]:
    _spec.default = DEFAULTS.get(_spec.task) == _spec.id
    _spec.cpu_default = CPU_DEFAULTS.get(_spec.task) == _spec.id
    register(_spec)
