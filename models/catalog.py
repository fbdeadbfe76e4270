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
from .modelspec import ModelSpec
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
#: Ids that are not offered (README, *Retired*): left out of the tabs, the API, the CLI and `frameforge models`.
#: Their code stays: each builds untrained for training (``registry.create(id, pretrained=False)``), and the two
#: whose weights ship still load by id for the benchmarks whose numbers the README quotes.
_NO_WEIGHTS = "never shipped, so no weights file exists"
RETIRED = {
    "sf_adacof": "trained from scratch on the CPU, below dis_flow on both VFI sets; kept for bench.vfi, whose table "
                 "quotes it; the official checkpoint loads as sf_adacof_official",
    "lanczos+sf_adacof": "Lanczos + the from-scratch sf_adacof, below lanczos+dis; kept for bench.stvsr",
    "adacof": f"{_NO_WEIGHTS}: the from-scratch CPU run stayed near blend; the official checkpoint loads as "
              "adacof_official",
    "sf_adacof_aligned": f"{_NO_WEIGHTS}: CPU runs stayed at or below RIFE; sf_adacof_aligned_cond ships",
    "adacof_aligned": f"{_NO_WEIGHTS}: CPU runs stayed at or below RIFE; adacof_aligned_cond ships",
    "bfstvsr_scratch": f"{_NO_WEIGHTS}: a 400-step CPU run was 4-12 dB below lanczos+dis; bfstvsr (a head on "
                       "basicvsr+rife) ships and bfstvsr_official loads the official checkpoint",
    "face_blind_student": "renamed face_student (the same weights); kept for bench.face",
    "face_blind_student_nokd": "renamed face_student_nokd (the same weights); kept for bench.face",
    "face_teacher": "equal to face_basicvsr, its base, on faces_eval/ffhq (x4 34.00 dB / SSIM 0.9056 / FD 166.1 / "
                    "identity 0.0143 vs 34.00 / 0.9055 / 166.2 / 0.0141; x8 30.20 dB both): adds nothing; kept for "
                    "bench.face and as the teacher of python -m train.face",
    "face_sft_student": "the SFT student over BasicVSR (until issue 30 face_student), equal to face_basicvsr (+0.002 "
                        "dB at x4): its weights went when face_student became the blind student; builds untrained for "
                        "python -m train.face",
    "face_sft_student_nokd": "the SFT student's ablation (until issue 30 face_student_nokd), equal to face_basicvsr: "
                             "its weights went with face_sft_student's; builds untrained for python -m train.face",
}


def specs() -> list[ModelSpec]:
    """Every entry, in registration order, its default / CPU default / retired marks set (``models.registry``
    registers them on first use; this module imports no registry)."""
    out = [*baseline_specs(), *backbone_specs(), *clean_specs(), *vfi_specs(), *aligned_specs(), *stvsr_specs(),
           *cascade_specs(), *face_specs(), *svs_specs()]
    for s in out:
        s.default = DEFAULTS.get(s.task) == s.id
        s.cpu_default = CPU_DEFAULTS.get(s.task) == s.id
        s.retired = RETIRED.get(s.id, "")
    return out
