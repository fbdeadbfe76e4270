"""Weight-free baselines every learned model is measured against (see ``bench/results/baselines.md``).

* :class:`Lanczos`, :class:`Bicubic` — PIL resizing (task ``sr``)
* :class:`Blend` — linear cross-fade (task ``vfi``)
* :class:`DISFlowInterpolator` — OpenCV DIS flow + backward warp + consistency blend (task ``vfi``)
* :class:`TwoStage` — any upscaler then any interpolator (task ``stvsr``, e.g. ``lanczos+dis``)
"""
from .blend import Blend
from .dis_flow import DISFlowInterpolator
from .resize import Bicubic, Lanczos
from .two_stage import TwoStage

__all__ = ["Bicubic", "Blend", "DISFlowInterpolator", "Lanczos", "TwoStage"]
