"""The face teacher (FrameForge configuration of the JBE 2021 / DFDNet-style dictionary teacher): component
dictionaries of high-quality face features, matched and injected into the degraded face's features, which condition
an SFT decoder that predicts a residual over the pretrained upscaler.

    B = BasicVSR(LR) at the output size                                   (the base, as for the student)
    F_s = EfficientNet-Lite0(B) at s = 2, 4, 8                            (frozen: the "VGG" slot)
    for each part p (left eye, right eye, nose, mouth) and scale s, with R = F_s[box_p / s]:
        R~ = bilinear(R, dictionary size);  D_k = AdaIN(D_k; R~)          (the entries given R~'s channel statistics)
        k* = argmax_k <R~, D_k>                                            (confidence-score selection)
        S  = bilinear(D_k*, size of R);  R <- R + A_{p,s}(S - R) ⊙ S      (attention-weighted injection)
    I = B + SFTUNet_wide(B; F'_2, F'_4, F'_8)                              (conv_out and every A start at zero: I = B)

The dictionaries D are K-means centres (``kmeans``) of the part features of the high-quality training faces (and their
mirror images: the template is symmetric, so a flipped face is one more face), built by ``python -m train.face --model face_teacher``
and stored as buffers, so they travel in the weights file. Part boxes come from the FFHQ five-point template
(``models.face.dfdnet.TEMPLATE_BOXES_512``) scaled to the crop, not from 68 landmarks.

Departures from the paper (named in the model card): EfficientNet-Lite0 features (16 / 24 / 40 channels at strides
2 / 4 / 8) replace VGG19's four scales; K = 16 entries per part and scale from the 62 training faces instead of
DFDNet's 256 / 512 from thousands of FFHQ faces; bilinear instead of nearest resizing of the chosen entry; the
decoder is the student's SFT U-Net at twice its widths, making a residual over BasicVSR.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.backbones.efficientnet_lite import FEATURE_CHANNELS
from models.imageio import to_tensor

from .dfdnet import PART_SIZES, PARTS, select_entry, template_boxes
from .student import STRIDES, FaceStudent

TEACHER_WIDTHS = (64, 128, 192)
ENTRIES = 16


def dictionary_size(part: str, stride: int) -> int:
    """Side of a part's dictionary entry at ``stride`` (the part's size on a 512 crop / stride)."""
    return max(2, PART_SIZES[part] // stride)


def kmeans(x: torch.Tensor, k: int, iters: int = 50, seed: int = 0) -> torch.Tensor:
    """Lloyd's K-means with k-means++ seeding: ``x`` (N, D) -> (k, D) centres (an empty cluster keeps its centre)."""
    if x.ndim != 2 or len(x) < k:
        raise ValueError(f"kmeans needs an (N, D) array with N >= k = {k}, got {tuple(x.shape)}")
    g = torch.Generator().manual_seed(seed)
    x = x.float()
    centres = [x[torch.randint(len(x), (1,), generator=g)].squeeze(0)]
    for _ in range(1, k):
        d2 = torch.cdist(x, torch.stack(centres)).pow(2).min(1).values
        centres.append(x[torch.multinomial(d2 + 1e-12, 1, generator=g)].squeeze(0))
    c = torch.stack(centres)
    for _ in range(iters):
        assign = torch.cdist(x, c).argmin(1)
        new = c.clone()
        for j in range(k):
            members = x[assign == j]
            if len(members):
                new[j] = members.mean(0)
        if torch.allclose(new, c):
            break
        c = new
    return c


def _part_windows(boxes: torch.Tensor, stride: int, size: tuple[int, int]):
    """(part, (x1, y1, x2, y2)) on a feature map of ``size`` (h, w) at ``stride`` for each part box (pixels, (4, 4))
    that lies wholly inside it and is at least 2 feature pixels a side; the others are skipped."""
    for part, box in zip(PARTS, boxes):
        x1, y1, x2, y2 = (box / stride).round().int().tolist()
        if x1 >= 0 and y1 >= 0 and x2 <= size[1] and y2 <= size[0] and x2 - x1 >= 2 and y2 - y1 >= 2:
            yield part, (x1, y1, x2, y2)


class FaceTeacher(FaceStudent):
    """The student's network at ``TEACHER_WIDTHS`` whose SFT conditions pass through the component dictionaries."""

    def __init__(self, entries: int = ENTRIES, widths: tuple[int, int, int] = TEACHER_WIDTHS, load_features=None):
        super().__init__(widths=widths, load_features=load_features)
        self.entries = entries
        for s in STRIDES:
            c = FEATURE_CHANNELS[s]
            for part in PARTS:
                n = dictionary_size(part, s)
                self.register_buffer(f"dict_{part}_{s}", torch.zeros(entries, c, n, n))
                att = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(c, c, 3, 1, 1))
                nn.init.zeros_(att[-1].weight)
                nn.init.zeros_(att[-1].bias)
                self.add_module(f"att_{part}_{s}", att)

    def dictionary(self, part: str, stride: int) -> torch.Tensor:
        return getattr(self, f"dict_{part}_{stride}")

    @property
    def has_dictionaries(self) -> bool:
        return bool(self.dictionary(PARTS[0], STRIDES[0]).abs().sum() > 0)

    def inject(self, feat: torch.Tensor, boxes: torch.Tensor, stride: int) -> torch.Tensor:
        """feat (B, C, h, w), boxes (B, 4, 4) in pixels -> feat with each part R replaced by R + A(S - R) ⊙ S."""
        out = feat.clone()
        for b in range(feat.shape[0]):
            for part, (x1, y1, x2, y2) in _part_windows(boxes[b], stride, feat.shape[-2:]):
                region = feat[b:b + 1, :, y1:y2, x1:x2]
                entries = self.dictionary(part, stride).to(region.dtype)
                small = F.interpolate(region, entries.shape[-2:], mode="bilinear", align_corners=False)
                k, normed = select_entry(small.float(), entries.float())
                swap = F.interpolate(normed[k:k + 1].to(region.dtype), region.shape[-2:], mode="bilinear",
                                     align_corners=False)
                att = getattr(self, f"att_{part}_{stride}")(swap - region)
                out[b:b + 1, :, y1:y2, x1:x2] = region + att * swap
        return out

    def conditions(self, base: torch.Tensor, boxes: torch.Tensor | None = None) -> list[torch.Tensor]:
        feats = self.features(base)
        if not self.has_dictionaries:
            return feats
        if boxes is None:  # a whole aligned crop
            boxes = template_boxes(base.shape[-1])[None].expand(base.shape[0], 4, 4)
        return [self.inject(f, boxes, s) for f, s in zip(feats, STRIDES)]

    @torch.no_grad()
    def build_dictionaries(self, faces: list[np.ndarray], log=print) -> None:
        """K-means dictionaries from high-quality aligned faces (uint8 RGB, square, any size; 32 | size): each part's
        feature region at each stride, resized to the entry size, from the face and its mirror image."""
        samples = {(p, s): [] for p in PARTS for s in STRIDES}
        for face in faces:
            x = to_tensor(face)
            boxes = template_boxes(face.shape[0])  # the template is mirror-symmetric: a flipped face is a face
            for feats in (self.features(x), self.features(x.flip(-1))):
                for f, s in zip(feats, STRIDES):
                    for part, (x1, y1, x2, y2) in _part_windows(boxes, s, f.shape[-2:]):
                        n = dictionary_size(part, s)
                        samples[(part, s)].append(F.interpolate(f[:, :, y1:y2, x1:x2], (n, n), mode="bilinear",
                                                                align_corners=False)[0])
        for (part, s), rows in samples.items():
            x = torch.stack(rows)
            centres = kmeans(x.flatten(1), min(self.entries, len(x)))
            d = self.dictionary(part, s)
            d.zero_()
            d[:len(centres)] = centres.reshape(-1, *x.shape[1:])
            log(f"dictionary {part} stride {s}: {len(x)} samples -> {len(centres)} entries {tuple(x.shape[1:])}")
