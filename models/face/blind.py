"""Blind face restoration with Real-ESRGAN x4plus (``face_realesrgan``) and its fidelity control.

``restore(face, out_size, fidelity)``: the aligned crop through RRDBNet (x4; a crop larger than out_size / 4 is first
reduced to that with an antialiased box filter, the network's native ratio), then Lanczos to ``out_size``. The
network was trained on blur, noise, resizing and JPEG, so it removes compression blocks and noise that a bicubic-
trained upscaler keeps, at the price of inventing texture.

``fidelity`` (1 = fully restored, 0 = faithful to the input; CodeFormer's ``w`` turned round) blends the restored
face with the faithful path, the pretrained bicubic-trained BasicVSR (``face_basicvsr``) on the same (reduced) crop,
pixel by pixel:
out = fidelity * restored + (1 - fidelity) * faithful. The faithful path runs only when fidelity < 1.

The default, :data:`DEFAULT_FIDELITY` = 0.7, was chosen on training faces (``faces_train/celebamask_hq``, 15 faces,
``python -m bench.face_fidelity ... --degrade jpeg``,
``bench/results/face_realesrgan_fidelity_train_jpeg_x4.json``): the largest of 0.5, 0.6, ..., 1 whose dlib identity
distance stays at or below the faithful path's (0.228 vs 0.232; 0.8 gave 0.236), with FD-EffNetLite0 at 0.49x the
faithful path's.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

from ..imageio import PIXELS, check_frame, lanczos, to_tensor, to_uint8

#: the fidelity the tab, the API, the CLI and ``restore`` use unless told otherwise (chosen on training faces)
DEFAULT_FIDELITY = 0.7


def check_fidelity(fidelity) -> float:
    """``fidelity`` as a float in [0, 1], or ValueError with the reason."""
    if isinstance(fidelity, bool):
        raise ValueError(f"fidelity must be a number between 0 and 1, got {fidelity!r}")
    try:
        f = float(fidelity)
    except (TypeError, ValueError):
        raise ValueError(f"fidelity must be a number between 0 and 1, got {fidelity!r}") from None
    if not math.isfinite(f) or not 0.0 <= f <= 1.0:
        raise ValueError(f"fidelity must be between 0 and 1, got {fidelity!r}")
    return f


class RealESRGANFaceRestorer:
    """:class:`~models.interfaces.FaceRestorer` with Real-ESRGAN x4plus and a ``fidelity`` blend with BasicVSR."""

    supports_fidelity = True

    def __init__(self, upscaler=None, faithful=None, load_upscaler=None, load_faithful=None):
        """``upscaler`` (Real-ESRGAN x4plus) and ``faithful`` (the BasicVSR face restorer), or zero-argument loaders
        of them called on first use (what ``registry.create`` passes)."""
        self.upscaler, self.faithful = upscaler, faithful
        self.load_upscaler, self.load_faithful = load_upscaler, load_faithful

    def _models(self):
        for name in ("upscaler", "faithful"):
            if getattr(self, name) is None:
                load = getattr(self, f"load_{name}")
                if load is None:
                    raise ValueError(f"RealESRGANFaceRestorer needs its {name}: pass {name}= or load_{name}= "
                                     "(registry.create builds it with the registered parts)")
                setattr(self, name, load())
        return self.upscaler, self.faithful

    def restore(self, face: np.ndarray, out_size: int, fidelity: float = DEFAULT_FIDELITY) -> np.ndarray:
        """The aligned crop (S, S, 3) uint8 restored to (out_size, out_size, 3) uint8; ``fidelity`` in [0, 1]."""
        check_frame(face, "face crop")
        if out_size < 1:
            raise ValueError(f"out_size must be positive, got {out_size}")
        f = check_fidelity(fidelity)
        upscaler, faithful = self._models()
        side = max(1, math.ceil(out_size / 4))
        lr = face
        if max(face.shape[:2]) > side:  # more input pixels than the output can show: the network's 1:4 ratio
            h, w = face.shape[:2]
            lr = np.asarray(Image.fromarray(face).resize((max(1, round(w * side / max(h, w))),
                                                          max(1, round(h * side / max(h, w)))),
                                                         Image.Resampling.BOX))
        restored = upscaler.upscale(lr, (out_size, out_size)) if f > 0 else None
        if f >= 1.0:
            return restored
        base = faithful.restore(lr, out_size)  # the same pixels: a large crop costs BasicVSR no more than 128 px
        return base if restored is None else blend(restored, base, f)


def blend(restored: np.ndarray, faithful: np.ndarray, fidelity: float) -> np.ndarray:
    """uint8 fidelity * restored + (1 - fidelity) * faithful, rounded."""
    out = fidelity * restored.astype(np.float32) + (1.0 - fidelity) * faithful.astype(np.float32)
    return to_uint8(out, PIXELS)


class _AtFidelity:
    """A fidelity-aware restorer bound to one fidelity: a plain :class:`~models.interfaces.FaceRestorer`."""

    def __init__(self, restorer, fidelity: float):
        self.restorer, self.fidelity = restorer, fidelity

    def restore(self, face: np.ndarray, out_size: int) -> np.ndarray:
        return self.restorer.restore(face, out_size, fidelity=self.fidelity)


def at_fidelity(restorer, fidelity=DEFAULT_FIDELITY):
    """``restorer`` bound to ``fidelity`` (checked, in [0, 1]; None = :data:`DEFAULT_FIDELITY`) when it has the
    control (``supports_fidelity``), for the pipelines that call ``restore(face, out_size)``; a restorer without it
    is returned as it is."""
    f = check_fidelity(DEFAULT_FIDELITY if fidelity is None else fidelity)
    return _AtFidelity(restorer, f) if getattr(restorer, "supports_fidelity", False) else restorer


# ------------------------------------------------------------------------------------------ distilled student --
def _student_modules():
    import torch
    from torch import nn

    class ResBlock(nn.Module):
        def __init__(self, nf: int):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(nf, nf, 3, 1, 1), nn.Conv2d(nf, nf, 3, 1, 1)

        def forward(self, x):
            return x + self.conv2(torch.relu(self.conv1(x)))

    return nn, ResBlock


def BlindStudent(nf: int = 64, nb: int = 10):  # noqa: N802  (a module factory, used like a class)
    """The light student of Real-ESRGAN x4plus (``train/face_blind.py``): every residual block at the low
    resolution, two pixel-shuffle x2 steps, a bicubic x4 skip. (B, 3, h, w) in [0, 1] -> (B, 3, 4h, 4w); nf = 64,
    nb = 10: 1.18 M parameters."""
    import torch
    import torch.nn.functional as F

    nn, ResBlock = _student_modules()

    class _Student(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = nn.Conv2d(3, nf, 3, 1, 1)
            self.body = nn.Sequential(*[ResBlock(nf) for _ in range(nb)], nn.Conv2d(nf, nf, 3, 1, 1))
            self.up1, self.up2 = nn.Conv2d(nf, 4 * nf, 3, 1, 1), nn.Conv2d(nf, 4 * 32, 3, 1, 1)
            self.tail = nn.Conv2d(32, 3, 3, 1, 1)
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)  # step 0 is the bicubic skip

        def forward(self, x):
            f = self.head(x)
            f = f + self.body(f)
            f = F.leaky_relu(F.pixel_shuffle(self.up1(f), 2), 0.2)
            f = F.leaky_relu(F.pixel_shuffle(self.up2(f), 2), 0.2)
            skip = F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False)
            return skip + self.tail(f)

    return _Student()


class BlindStudentRestorer:
    """:class:`~models.interfaces.FaceRestorer` with :func:`BlindStudent`: the crop (reduced to out_size / 4 when
    larger, as the teacher's restorer does) x4 by the network, Lanczos to ``out_size``; bf16 autocast on a CPU with
    native bf16, fp16 on CUDA."""

    def __init__(self, **kw):
        self.net = BlindStudent(**kw)

    def eval(self):
        self.net.eval()
        return self

    def load_state_dict(self, state: dict, strict: bool = True):
        return self.net.load_state_dict({k: v.float() for k, v in state.items()}, strict=strict)

    def restore(self, face: np.ndarray, out_size: int) -> np.ndarray:
        import torch

        from models.device import autocast, inference_device

        check_frame(face, "face crop")
        if out_size < 1:
            raise ValueError(f"out_size must be positive, got {out_size}")
        side = max(1, math.ceil(out_size / 4))
        lr = face
        if max(face.shape[:2]) > side:
            h, w = face.shape[:2]
            lr = np.asarray(Image.fromarray(face).resize((max(1, round(w * side / max(h, w))),
                                                          max(1, round(h * side / max(h, w)))),
                                                         Image.Resampling.BOX))
        device = inference_device()
        self.net.to(device)
        x = to_tensor(lr, device)
        with torch.no_grad(), autocast(device, True):
            y = self.net(x)
        out = to_uint8(y[0])
        if out.shape[:2] == (out_size, out_size):
            return out
        return lanczos(out, (out_size, out_size))
