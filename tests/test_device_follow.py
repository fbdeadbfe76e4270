"""Every network a model uses runs on the inference device, including the ones it borrows (the registry's shared
IFNet, BasicVSR, EfficientNet-Lite0): checked without a GPU by making PyTorch's "meta" device the inference device.

Meta tensors have shapes and no data. Where the pipelines bring a tensor back to the CPU (``.cpu()``, ``.numpy()``,
``.item()``) the test hands them zeros of that shape, so a whole pipeline runs; a network left on the CPU fails with
"Tensor on device cpu is not on the expected device meta", as it would on CUDA. (This found the aligned interpolators
running IFNet on the CPU, and the face networks' EfficientNet-Lite0 left behind.)
"""
import contextlib
import importlib
import pkgutil

import numpy as np
import pytest
import torch

from models import registry

META = torch.device("meta")


@pytest.fixture
def meta_device(monkeypatch):
    """inference_device() -> meta in models.device and in every module of models/ that imported it by name."""
    import models
    from models import device

    real = device.inference_device
    modules = [importlib.import_module(info.name) for info in pkgutil.walk_packages(models.__path__, "models.")]
    for module in modules:  # all imported first: a module imported after the patch would keep the meta function
        if getattr(module, "inference_device", None) is real:
            monkeypatch.setattr(module, "inference_device", lambda: META)
    monkeypatch.setattr(registry, "_LOADED", {})  # shared networks moved to meta must not outlive the test
    real_autocast = torch.autocast
    monkeypatch.setattr(torch, "autocast", lambda device_type, *a, **k: contextlib.nullcontext()
                        if device_type == "meta" else real_autocast(device_type, *a, **k))
    T = torch.Tensor
    zeros = lambda x: torch.zeros(x.shape, dtype=x.dtype)  # noqa: E731
    for name in ("cpu", "numpy", "item", "tolist", "__bool__"):
        real = getattr(T, name)
        monkeypatch.setattr(T, name, lambda self, *a, _real=real, **k: _real(zeros(self) if self.is_meta else self,
                                                                              *a, **k))
    real_to = T.to

    def to(self, *a, **k):
        target = k.get("device", a[0] if a and isinstance(a[0], (str, torch.device)) else None)
        if self.is_meta and target is not None and torch.device(target).type == "cpu":
            return real_to(zeros(self), *a, **k)
        return real_to(self, *a, **k)

    monkeypatch.setattr(T, "to", to)
    # the softmax splat's sparse product has no meta kernel: on meta rows it returns meta zeros of the same shape
    from models.ops import softsplat

    real_splat = softsplat._SplatRows.apply
    monkeypatch.setattr(softsplat._SplatRows, "apply", lambda rows, index, weight: torch.zeros_like(rows)
                        if rows.is_meta else real_splat(rows, index, weight))


def _models():
    """Every offered model with weights, and the retired face models that still load for bench.face (face_teacher,
    the face_blind_student aliases)."""
    return [(task, mid) for task in ("vfi", "stvsr", "face")
            for mid in registry.ids(task, available_only=True, retired=task == "face")]


@pytest.mark.parametrize("task, model_id", _models())
def test_every_network_follows_the_inference_device(meta_device, task, model_id):
    rng = np.random.default_rng(0)
    f0 = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    f1 = np.roll(f0, 2, axis=1)
    model = registry.create(model_id)
    if task == "vfi":
        assert model.interpolate(f0, f1, [0.5])[0].shape == (64, 96, 3)
    elif task == "stvsr":
        assert model.upscale_pair(f0, f1, [0.5], (128, 192))[0].shape == (128, 192, 3)
    else:
        assert model.restore(f0[:32, :32], 128).shape == (128, 128, 3)


def _step(params, loss, opt_cls) -> None:
    loss.backward()
    grads = [p.grad for p in params if p.grad is not None]
    assert loss.is_meta and grads and all(g.is_meta for g in grads)
    opt_cls(params, lr=1e-4).step()
    assert all(p.is_meta for p in params)


@pytest.mark.slow  # training steps of every recipe
def test_training_steps_run_on_the_training_device(meta_device):
    """One step of train.vfi_aligned (with distillation) and of train.face (student distilled from the teacher) with
    every network and batch on the training device, as the commands put them there with --device."""
    from models.face.teacher import template_boxes
    from train.face import Distillation
    from train.face import loss_terms as face_terms
    from train.vfi_aligned import build, prepare
    from train.vfi_aligned import loss_terms as vfi_terms

    interp, net = build("sf_adacof_aligned_cond", 0.25)
    prepare(net)
    net.to(META)  # IFNet is not moved here: it follows the frames, as in the command
    f = torch.rand(2, 3, 64, 64, device=META)
    t = torch.full((2,), 0.5, device=META)
    terms = vfi_terms(net, interp.rife, (f, f, f, t), (f, f, t), 32, True, 0.1)
    _step(list(net.parameters()), terms["loss"], torch.optim.Adamax)

    student = registry.create("face_sft_student", pretrained=False).net
    teacher = registry.create("face_teacher", pretrained=False).net
    kd = Distillation(teacher, student.decoder.widths, teacher.decoder.widths)
    for m in (student, kd, teacher):
        m.to(META)
    base = torch.rand(2, 3, 64, 64, device=META)
    boxes = template_boxes(64)[None].expand(2, 4, 4)  # slice bounds: they stay on the CPU
    terms = face_terms(student, base, base, True, w_perceptual=20.0, boxes=boxes, kd=kd)
    _step(list(student.parameters()) + list(kd.parameters()), terms["loss"], torch.optim.Adam)
