"""Every FrameForge model, registered once. Importing this module reads no weights.

Order matters: within a task, ``registry.ids`` lists the default first, then models in registration order, so the
weight-free baselines (registered first) are the fallback when a trained model's weights are not available.
The defaults are chosen here, from the measured numbers in bench/results/ (see README, *Measured*).
"""
from __future__ import annotations

from .baselines.specs import baseline_specs
from .face.specs import face_specs
from .registry import register
from .stvsr.specs import stvsr_specs
from .vfi.specs import cascade_specs, vfi_specs

#: The model each tab opens with (when its weights are available): the best measured one. The bundled sf_adacof
#: beats blend but is 2.5-3.7 dB below dis_flow (weights/sf_adacof.md), so dis_flow stays the interpolation default.
DEFAULTS = {"vfi": "dis_flow", "stvsr": "lanczos+dis", "face": "face_bicubic"}

for _spec in [*baseline_specs(), *vfi_specs(), *stvsr_specs(), *cascade_specs(), *face_specs()]:
    _spec.default = DEFAULTS.get(_spec.task) == _spec.id
    register(_spec)
