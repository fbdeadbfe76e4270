"""DFDNet (Li et al., ECCV 2020) in the official layout (csxmli2016/DFDNet ``UNetDictFace``), so that its
checkpoint ``latest_net_G.pth`` and its 16 dictionary files load strictly.

For an aligned 512x512 face x in [-1, 1] and the part boxes (left eye, right eye, nose, mouth; [x1, y1, x2, y2] at 512):

  F_s = VGG19(x) at s = 256, 128, 64, 32 (conv2_2, conv3_4, conv4_4, conv5_4; ImageNet-normalised input)
  for each part p and scale s:  R = F_s[box_p // (512 / s)]                                        (the degraded part)
      D_k = AdaIN(D_k; R~),  R~ = bilinear(R, dictionary size)    (each entry given R~'s per-channel mean and std)
      k*  = argmax_k <R~, D_k>                                      (the confidence score; softmax keeps the argmax)
      S   = nearest(D_k*, size of R);   R <- R + A_{p,s}(S - R) ⊙ S                   (attention-weighted injection)
  y = up4( up3( up2( up1( up0( MSDilate(F_32); F'_32 ); F'_64 ); F'_128 ); F'_256 ) )      (SFT decoder, tanh)
  StyledUp(h; c) = convup( LReLU(conv1(h)) ⊙ Scale(c) + Shift(c) )                    (conv1 = blur, conv, LReLU)

As the official code runs it: torchvision's VGG ReLUs are in place, so the ReLU that opens each next slice rectifies
the first three feature maps (conv2_2, conv3_4, conv4_4) in place; conv5_4 stays pre-ReLU. An input narrower than
224 px is resized to 224 first (never the case at 512). The official forward serves batch 1 (box ``b = 0``); here
each image of a batch gets its own boxes.

Layout: every conv of the attention blocks, MSDilate, the up blocks and to_rgb is spectral-normalised with torch's
``spectral_norm`` (keys ``weight_orig``, ``weight_u``, ``weight_v``; in eval W = W_orig / (u · W v), no power
iteration); Blur buffers ``weight`` / ``weight_flip``; the whole torchvision VGG19, classifier included, under
``VggExtract.model.*`` and aliased by slice as ``VggExtract.features.<slice>.<index>.*``; ``RGB_mean`` / ``RGB_std``
are parameters; ``to_rgb0..3`` are unused. 240.1 M parameters, 96.45 M without VGG19.
"""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

PARTS = ("left_eye", "right_eye", "nose", "mouth")
PREFIX = {"left_eye": "le", "right_eye": "re", "nose": "no", "mouth": "mo"}
PART_SIZES = {"left_eye": 80, "right_eye": 80, "nose": 50, "mouth": 110}  # at 512
SCALES = (256, 128, 64, 32)  # feature map sizes of the four VGG slices at a 512 input
CHANNELS = (128, 256, 512, 512)
VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
SLICES = ((0, 8), (8, 17), (17, 26), (26, 35))


def sn(conv: nn.Conv2d) -> nn.Conv2d:
    return nn.utils.spectral_norm(conv)


def sn_pair(cin: int, cout: int, dilation: int = 1) -> nn.Sequential:
    """SN conv -> LReLU(0.2) -> SN conv (attention blocks, to_rgb, MSDilate branches)."""
    return nn.Sequential(sn(nn.Conv2d(cin, cin, 3, 1, dilation, dilation)), nn.LeakyReLU(0.2),
                         sn(nn.Conv2d(cin, cout, 3, 1, dilation, dilation)))


class VGG19(nn.Module):
    """torchvision's VGG19 layout (features, avgpool, classifier) in plain PyTorch."""

    def __init__(self):
        super().__init__()
        layers, cin = [], 3
        for v in VGG19_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=True)]
                cin = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(),
                                        nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(), nn.Linear(4096, 1000))


class VGGFeat(nn.Module):
    """The four VGG19 slices of DFDNet's encoder: (B, 3, H, W) in [-1, 1] -> maps at H/2, H/4, H/8, H/16."""

    def __init__(self):
        super().__init__()
        self.model = VGG19()
        # the slices share the modules, under their global indices (keys VggExtract.features.<i>.<j>.*)
        self.features = nn.ModuleList(
            nn.Sequential(OrderedDict((str(j), self.model.features[j]) for j in range(a, b))) for a, b in SLICES)
        self.RGB_mean = nn.Parameter(torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.RGB_std = nn.Parameter(torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = ((x + 1) / 2 - self.RGB_mean) / self.RGB_std
        if x.shape[3] < 224:
            x = F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False)
        feats = []
        for k, m in enumerate(self.features):
            x = m(x.clone() if k else x)  # no in-place ReLU on a kept map; rectified explicitly below
            feats.append(x)
        return [F.relu(f) for f in feats[:3]] + feats[3:]


class MSDilateBlock(nn.Module):
    """Four dilated SN conv pairs (dilations 4, 3, 2, 1), concatenated, fused by an SN conv, plus the input."""

    def __init__(self, channels: int, dilations=(4, 3, 2, 1)):
        super().__init__()
        for i, d in enumerate(dilations, 1):
            setattr(self, f"conv{i}", sn_pair(channels, channels, d))
        self.convi = sn(nn.Conv2d(channels * 4, channels, 3, 1, 1))

    def forward(self, x):
        return self.convi(torch.cat([self.conv1(x), self.conv2(x), self.conv3(x), self.conv4(x)], 1)) + x


class Blur(nn.Module):
    """Depthwise 3x3 [1 2 1]^T [1 2 1] / 16 blur (buffers as the official ones; ``weight_flip`` is for its backward)."""

    def __init__(self, channels: int):
        super().__init__()
        k = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]).view(1, 1, 3, 3) / 16
        self.register_buffer("weight", k.repeat(channels, 1, 1, 1))
        self.register_buffer("weight_flip", torch.flip(k, [2, 3]).repeat(channels, 1, 1, 1))

    def forward(self, x):
        return F.conv2d(x, self.weight, padding=1, groups=x.shape[1])


class StyledUpBlock(nn.Module):
    """conv1 (blur, SN conv, LReLU), a second LReLU(0.2), SFT by the condition (Scale: SN conv-LReLU-SN conv; Shift:
    the same ending in a sigmoid), then convup (bilinear x2, SN conv, LReLU)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = nn.Sequential(Blur(cin), sn(nn.Conv2d(cin, cout, 3, padding=1)), nn.LeakyReLU(0.2))
        self.convup = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                    sn(nn.Conv2d(cout, cout, 3, padding=1)), nn.LeakyReLU(0.2))
        self.lrelu1 = nn.LeakyReLU(0.2)
        self.ScaleModel1 = nn.Sequential(sn(nn.Conv2d(cin, cout, 3, 1, 1)), nn.LeakyReLU(0.2),
                                         sn(nn.Conv2d(cout, cout, 3, 1, 1)))
        self.ShiftModel1 = nn.Sequential(sn(nn.Conv2d(cin, cout, 3, 1, 1)), nn.LeakyReLU(0.2),
                                         sn(nn.Conv2d(cout, cout, 3, 1, 1)), nn.Sigmoid())

    def sft(self, h, cond):
        """The SFT output before convup (the distillation tap)."""
        return self.lrelu1(self.conv1(h)) * self.ScaleModel1(cond) + self.ShiftModel1(cond)

    def forward(self, h, cond):
        return self.convup(self.sft(h, cond))


class UpResBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.Model = nn.Sequential(nn.Conv2d(dim, dim, 3, 1, 1), nn.LeakyReLU(0.2, True), nn.Conv2d(dim, dim, 3, 1, 1))

    def forward(self, x):
        return x + self.Model(x)


def adain(entries: torch.Tensor, target: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Each entry (K, C, h, w) given the per-channel mean and std (unbiased variance + eps) of ``target``
    (1, C, h, w)."""
    def stats(t):
        flat = t.flatten(2)
        return flat.mean(2)[..., None, None], (flat.var(2) + eps).sqrt()[..., None, None]

    m_e, s_e = stats(entries)
    m_t, s_t = stats(target)
    return (entries - m_e) / s_e * s_t + m_t


def select_entry(region: torch.Tensor, entries: torch.Tensor) -> tuple[int, torch.Tensor]:
    """DFDNet's confidence-score selection: ``region`` (1, C, h, w) at the dictionary size, ``entries`` (K, C, h, w)
    -> (k*, the AdaIN'd entries): k* = argmax_k <region, AdaIN(D_k; region)> (the official softmax does not move
    the argmax)."""
    normed = adain(entries, region)
    scores = (normed * region).flatten(1).sum(1)  # = F.conv2d(region, normed) at the dictionary size
    return int(scores.argmax()), normed


class DFDNet(nn.Module):
    """``UNetDictFace(ngf=64)``: 512x512 aligned face in [-1, 1] + part boxes -> 512x512 in [-1, 1]."""

    def __init__(self, ngf: int = 64):
        super().__init__()
        for f, c in zip(SCALES, CHANNELS):
            for part in PARTS:
                setattr(self, f"{PREFIX[part]}_{f}", sn_pair(c, c))
        self.VggExtract = VGGFeat()
        self.MSDilate = MSDilateBlock(ngf * 8)
        self.up0 = StyledUpBlock(ngf * 8, ngf * 8)
        self.up1 = StyledUpBlock(ngf * 8, ngf * 4)
        self.up2 = StyledUpBlock(ngf * 4, ngf * 2)
        self.up3 = StyledUpBlock(ngf * 2, ngf)
        self.up4 = nn.Sequential(sn(nn.Conv2d(ngf, ngf, 3, 1, 1)), nn.LeakyReLU(0.2), UpResBlock(ngf),
                                 UpResBlock(ngf), nn.Conv2d(ngf, 3, 3, 1, 1), nn.Tanh())
        for i, c in enumerate((ngf * 8, ngf * 4, ngf * 2, ngf)):
            setattr(self, f"to_rgb{i}", sn_pair(c, 3))  # unused, in the checkpoint
        self.dictionaries: dict[int, dict[str, torch.Tensor]] = {}  # not in the state_dict: 16 .npy files

    # -- files ---------------------------------------------------------------------------------------------------
    @staticmethod
    def dictionary_shape(part: str, f: int, k: int) -> tuple[int, int, int, int]:
        s = PART_SIZES[part] // (512 // f)
        return k, CHANNELS[SCALES.index(f)], s, s

    def load_dictionaries(self, folder: str | Path) -> None:
        """``<part>_<f>_center.npy`` (K, C·s·s) for the 4 parts and 4 scales (read without pickle)."""
        folder = Path(folder)
        dicts: dict[int, dict[str, torch.Tensor]] = {}
        for f in SCALES:
            for part in PARTS:
                path = folder / f"{part}_{f}_center.npy"
                if not path.is_file():
                    raise FileNotFoundError(f"DFDNet dictionary {path.name} is missing in {folder}")
                arr = np.load(path, allow_pickle=False)
                shape = self.dictionary_shape(part, f, arr.shape[0])
                if arr.ndim != 2 or arr.shape[1] != int(np.prod(shape[1:])):
                    raise ValueError(f"{path.name}: shape {arr.shape}, expected (K, {int(np.prod(shape[1:]))})")
                dicts.setdefault(f, {})[part] = torch.from_numpy(arr.astype(np.float32)).reshape(shape)
        self.dictionaries = dicts

    def load_official(self, state: dict[str, torch.Tensor]) -> None:
        """The flat ``latest_net_G.pth`` state_dict (a ``module.`` prefix is dropped), strict."""
        state = {k[7:] if k.startswith("module.") else k: v for k, v in state.items()}
        self.load_state_dict(state, strict=True)

    # -- forward -------------------------------------------------------------------------------------------------
    def inject(self, feat: torch.Tensor, boxes: torch.Tensor, f: int) -> torch.Tensor:
        """One image's map (1, C, f, f) with the four parts replaced by R + A(S - R) ⊙ S."""
        out = feat.clone()
        for part, box in zip(PARTS, boxes):
            x1, y1, x2, y2 = (box // (512 / f)).int().tolist()
            region = feat[:, :, y1:y2, x1:x2]
            entries = self.dictionaries[f][part].to(feat)
            small = F.interpolate(region, entries.shape[-2:], mode="bilinear", align_corners=False)
            k, normed = select_entry(small, entries)
            swap = F.interpolate(normed[k:k + 1], region.shape[-2:])  # nearest
            att = getattr(self, f"{PREFIX[part]}_{f}")(swap - region)
            out[:, :, y1:y2, x1:x2] = region + att * swap
        return out

    def forward(self, x: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """x (B, 3, 512, 512) in [-1, 1], boxes (B, 4, 4) [x1, y1, x2, y2] at 512 inside the image."""
        if x.shape[-2:] != (512, 512):
            raise ValueError(f"DFDNet takes 512x512 aligned faces, got {tuple(x.shape[-2:])}")
        if not self.dictionaries:
            raise RuntimeError("DFDNet needs its 16 dictionary files: call load_dictionaries(folder)")
        boxes = torch.as_tensor(boxes, dtype=torch.float32).reshape(x.shape[0], 4, 4)
        if (boxes < 0).any() or (boxes > 512).any() or (boxes[..., 2:] <= boxes[..., :2]).any():
            raise ValueError("part boxes must lie inside [0, 512] with x2 > x1 and y2 > y1")
        feats = self.VggExtract(x)
        outs = []
        for b in range(x.shape[0]):
            cond = [self.inject(fm[b:b + 1], boxes[b], f) for fm, f in zip(feats, SCALES)]
            h = self.MSDilate(feats[3][b:b + 1])
            for up, c in zip((self.up0, self.up1, self.up2, self.up3), cond[::-1]):
                h = up(h, c)
            outs.append(self.up4(h))
        return torch.cat(outs)


#: Part boxes [x1, y1, x2, y2] on a 512 crop aligned to the FFHQ five-point template (models.face.align): each box
#: is centred where the template puts the part (the eye points; the nose between the eye line and its tip; the
#: mouth between its corners) and is as large as the part's dictionary at 512 (80 / 80 / 50 / 110). DFDNet itself
#: takes them from 68 FAN landmarks on the crop; a crop aligned to the template has its parts near these places.
TEMPLATE_BOXES_512 = ((153, 200, 233, 280), (279, 200, 359, 280), (232, 265, 282, 315), (202, 316, 312, 426))


def template_boxes(size: int, offset: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """(4, 4) part boxes [x1, y1, x2, y2] in pixels on a ``size`` x ``size`` aligned crop whose pixel (y, x) =
    ``offset`` is the image's origin (a training crop); boxes may then lie partly outside the image."""
    oy, ox = offset
    return torch.tensor(TEMPLATE_BOXES_512, dtype=torch.float32) * (size / 512) - torch.tensor([ox, oy, ox, oy])


class DFDNetRestorer:
    """The face-restorer interface over :class:`DFDNet`: an aligned crop (S, S, 3) uint8 -> bicubic to 512 ->
    DFDNet with the template's part boxes -> ``out_size`` (bicubic when it is not 512)."""

    def __init__(self, model: DFDNet, boxes=TEMPLATE_BOXES_512):
        self.model = model.eval()
        self.boxes = torch.tensor(boxes, dtype=torch.float32)

    @torch.no_grad()
    def restore(self, face: np.ndarray, out_size: int) -> np.ndarray:
        from PIL import Image

        from ..imageio import check_frame, to_tensor, to_uint8

        check_frame(face, "face crop")
        if out_size < 1:
            raise ValueError(f"out_size must be positive, got {out_size}")
        big = np.array(Image.fromarray(face).resize((512, 512), Image.Resampling.BICUBIC))  # writable
        x = to_tensor(big, value_range=(-1.0, 1.0))
        param = next(self.model.parameters())
        y = self.model(x.to(param), self.boxes[None].to(param.device))[0].float().clamp(-1, 1)
        out = to_uint8(y, value_range=(-1.0, 1.0))
        if out_size != 512:
            out = np.asarray(Image.fromarray(out).resize((out_size, out_size), Image.Resampling.BICUBIC))
        return out
