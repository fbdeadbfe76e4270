"""Quality metrics, one module for training (validation) and the benchmarks (see ../shared/docs/protocol.md).

Pixel metrics:

* :func:`psnr` — on uint8 RGB (or Y) arrays, data range 255, whole frame.
* :func:`ssim` — ``skimage.metrics.structural_similarity`` (7x7 uniform window, data_range 255), the protocol's
  reference; ``channel_axis=2`` for RGB.
* :func:`rgb_to_y` — BT.601 luma: Y = 16 + (65.481 R + 128.553 G + 24.966 B) with RGB in [0, 1], on 0–255;
  :func:`psnr_y` the PSNR of that luma for float [0, 1] images with channels on axis -3 (training validation).
* :func:`charbonnier` — the training loss mean(sqrt((x - y)^2 + eps^2)) (eps 1e-3), on tensors.

Distribution and identity metrics:

* :func:`frechet_distance` — FD between two feature sets with means mu_1, mu_2 and covariances S_1, S_2 (Heusel et
  al., 2017):  FD = ||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^{1/2}). Named after its feature network
  ("FD-MNISTNet", "FD-EffNetLite0"), never "FID".

Face metrics of ``bench.face`` (and of ``train.face --quality``), beside PSNR / SSIM:

* **FD-EffNetLite0** (:func:`fd_effnet`): the Frechet distance (:func:`frechet_distance`) between the
  restored faces and their ground truths, on EfficientNet-Lite0's stride-16 features (112-d), every spatial
  position of every face one sample: a 512 face gives 32 x 32 = 1,024 samples, so 11 faces give 11,264 and the
  112 x 112 covariances are well determined. (The pooled 1,280-d embedding would give one sample per face: 11
  samples cannot fix a 1,280-d covariance.) Lower is better; 0 for identical sets. The features are ImageNet
  features, not Inception's: the number is never an FID and is not comparable with published ones.
* **Identity** (:class:`DlibIdentity`, :func:`identity_scores`): dlib's ResNet face descriptor (128-d; the
  ``face_recognition_models`` package, whose model files are CC0) of each restored face and of its ground truth,
  both computed on the ground truth's 5 landmarks (dlib's HOG detector and 5-point shape predictor on the ground
  truth), so only the appearance differs. Reported as the mean cosine similarity (``identity``, 1 is the same
  descriptor) and the mean Euclidean descriptor distance (``identity_dist``; dlib calls two faces one person below
  0.6). Optional: ``pip install dlib-bin face-recognition-models``; without them the fields are null and the reason
  is recorded.
"""
from __future__ import annotations

import hashlib
import importlib.util
import math
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    if a.shape != b.shape:
        raise ValueError(f"psnr: shapes differ {a.shape} vs {b.shape}")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    if mse == 0:
        return float("inf")
    return 10.0 * math.log10(data_range ** 2 / mse)


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    from skimage.metrics import structural_similarity

    if a.shape != b.shape:
        raise ValueError(f"ssim: shapes differ {a.shape} vs {b.shape}")
    if a.ndim == 3:
        return float(structural_similarity(a, b, channel_axis=2, data_range=data_range))
    return float(structural_similarity(a, b, data_range=data_range))


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> float64 Y (H, W) on the 16–235 scale (BT.601), not rounded."""
    x = img.astype(np.float64) / 255.0
    return 16.0 + 65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]


def psnr_y(pred: np.ndarray, gt: np.ndarray) -> float:
    """PSNR of the BT.601 luma (0-255 scale) of two float RGB images in [0, 1] with channels on axis -3
    (``(..., 3, H, W)``); the MSE is floored at 1e-10 (identical images: 148.1 dB)."""
    w = np.array([65.481, 128.553, 24.966]).reshape(3, 1, 1)
    yp = 16 + (pred * w).sum(-3)
    yg = 16 + (gt * w).sum(-3)
    mse = float(((yp - yg) ** 2).mean())
    return 10 * math.log10(255 ** 2 / max(mse, 1e-10))


def charbonnier(x: torch.Tensor, y: torch.Tensor | None = None, eps: float = 1e-3) -> torch.Tensor:
    """mean(sqrt((x - y)^2 + eps^2)); ``y`` None: of ``x`` itself (a difference already taken)."""
    d = x if y is None else x - y
    return torch.sqrt(d * d + eps * eps).mean()


def feature_l1(effnet, out: torch.Tensor, target: torch.Tensor, strides) -> torch.Tensor:
    """The perceptual term of the face trainers: mean over ``strides`` of
    L1(EffNet(out) - EffNet(target)) / mean |EffNet(target)| (EfficientNet-Lite0 features; no gradient to the target).
    """
    with torch.no_grad():
        ft = effnet.features(target, strides)
    fo = effnet.features(out, strides)
    return sum((fo[k].float() - ft[k].float()).abs().mean() / (ft[k].float().abs().mean() + 1e-6)
               for k in strides) / len(strides)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """FD between two feature sets (N, D) and (M, D), from their means and covariances."""
    from scipy import linalg

    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"FD needs two (N, D) feature sets with N >= 2, got {a.shape} and {b.shape}")
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():  # near-singular product: regularise as the reference FID code does
        eps = np.eye(len(s1)) * 1e-6
        covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


FD_STRIDE = 16


class MetricUnavailable(RuntimeError):
    """A metric's optional dependency is missing; the message says what to install."""


@torch.no_grad()
def effnet_patch_features(images: Sequence[np.ndarray], net, stride: int = FD_STRIDE, batch: int = 4) -> np.ndarray:
    """uint8 (H, W, 3) images of one size -> (N * H/stride * W/stride, C) float64 features of ``net``
    (EfficientNet-Lite0, ``registry.get("efficientnet_lite0")``: the caller hands it in)."""
    net.eval()
    device = next(net.parameters()).device  # the shared network may have been moved to a GPU by a restorer
    rows = []
    for i in range(0, len(images), batch):
        x = torch.from_numpy(np.stack(images[i:i + batch])).permute(0, 3, 1, 2).float().div_(255.0).to(device)
        f = net.features(x, strides=(stride,))[stride]  # (B, C, H / stride, W / stride)
        rows.append(f.permute(0, 2, 3, 1).reshape(-1, f.shape[1]).double().cpu())
    return torch.cat(rows).numpy()


def fd_effnet(outs: Sequence[np.ndarray], gts: Sequence[np.ndarray], net) -> float:
    """FD-EffNetLite0 between the restored faces and their ground truths (lower is better)."""
    if len(outs) != len(gts) or not outs:
        raise ValueError(f"FD needs as many outputs as ground truths (>= 1), got {len(outs)} and {len(gts)}")
    return frechet_distance(effnet_patch_features(outs, net), effnet_patch_features(gts, net))


class DlibIdentity:
    """dlib's 128-d face descriptor on 5 landmarks: ``landmarks(gt)`` once, then ``descriptor(img, landmarks)``.
    :meth:`truth` caches a ground truth's landmarks and descriptor, so that one instance scores many models."""

    FILES = ("shape_predictor_5_face_landmarks.dat", "dlib_face_recognition_resnet_model_v1.dat")

    def __init__(self, model_dir: str | Path | None = None):
        try:
            import dlib
        except ImportError as exc:
            raise MetricUnavailable("identity needs dlib: pip install dlib-bin face-recognition-models") from exc
        if model_dir is None:  # the package's own __init__ needs pkg_resources: find its folder without importing it
            spec = importlib.util.find_spec("face_recognition_models")
            if spec is None or not spec.submodule_search_locations:
                raise MetricUnavailable("identity needs the dlib model files: pip install face-recognition-models")
            model_dir = Path(spec.submodule_search_locations[0]) / "models"
        paths = [Path(model_dir) / f for f in self.FILES]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise MetricUnavailable(f"identity model files missing: {', '.join(missing)}")
        self._dlib = dlib
        self._detect = dlib.get_frontal_face_detector()
        self._shape = dlib.shape_predictor(str(paths[0]))
        self._encode = dlib.face_recognition_model_v1(str(paths[1]))
        self.detected = 0  # ground truths where the detector found the face (else the central box was used)
        self._truths: dict[tuple, tuple] = {}

    def landmarks(self, img: np.ndarray):
        """5-point landmarks of the largest detected face; on an aligned face the detector may miss, then the
        central box (aligned faces fill it) is used."""
        img = np.ascontiguousarray(img)
        boxes = sorted(self._detect(img, 1), key=lambda r: r.area(), reverse=True)
        if boxes:
            self.detected += 1
            box = boxes[0]
        else:
            h, w = img.shape[:2]
            box = self._dlib.rectangle(int(0.2 * w), int(0.2 * h), int(0.8 * w), int(0.85 * h))
        return self._shape(img, box)

    def descriptor(self, img: np.ndarray, landmarks) -> np.ndarray:
        return np.asarray(self._encode.compute_face_descriptor(np.ascontiguousarray(img), landmarks), np.float64)

    def truth(self, gt: np.ndarray) -> tuple:
        """(landmarks, descriptor, detected) of a ground truth, computed once per distinct image."""
        gt = np.ascontiguousarray(gt)
        key = (gt.shape, hashlib.blake2b(gt.tobytes(), digest_size=16).digest())
        if key not in self._truths:
            before = self.detected
            marks = self.landmarks(gt)
            self._truths[key] = (marks, self.descriptor(gt, marks), self.detected > before)
        return self._truths[key]


def identity_scores(outs: Sequence[np.ndarray], gts: Sequence[np.ndarray],
                    embed: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]) -> dict:
    """Mean cosine similarity and mean Euclidean distance of (restored, truth) descriptor pairs;
    ``embed(out, gt)`` returns the two descriptors."""
    if len(outs) != len(gts) or not outs:
        raise ValueError(f"identity needs as many outputs as ground truths (>= 1), got {len(outs)} and {len(gts)}")
    cos, dist = [], []
    for out, gt in zip(outs, gts):
        a, b = embed(out, gt)
        cos.append(float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12)))
        dist.append(float(np.linalg.norm(a - b)))
    return {"identity": float(np.mean(cos)), "identity_dist": float(np.mean(dist))}


def dlib_pair_embedder(model: DlibIdentity) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``embed(out, gt)`` for :func:`identity_scores`: both descriptors on the ground truth's landmarks."""
    def embed(out: np.ndarray, gt: np.ndarray):
        marks, truth, _ = model.truth(gt)
        return model.descriptor(out, marks), truth

    return embed


def identity_model() -> DlibIdentity | str:
    """A :class:`DlibIdentity`, or the reason it is unavailable (for ``identity_note``)."""
    try:
        return DlibIdentity()
    except MetricUnavailable as exc:
        return str(exc)


def quality_metrics(outs: Sequence[np.ndarray], gts: Sequence[np.ndarray],
                    identity: bool | DlibIdentity | str = True, *, net) -> dict:
    """The fields ``bench.face`` adds to each model: ``fd_effnet`` and, when dlib is installed, ``identity`` /
    ``identity_dist`` (else null with ``identity_note`` saying why). ``identity``: False to skip it, True to load
    dlib here, or what :func:`identity_model` returned (one instance reused across models keeps the truths'
    descriptors); ``net``: EfficientNet-Lite0 for the FD."""
    out = {"fd_effnet": fd_effnet(outs, gts, net)}
    if identity is False:
        return {**out, "identity": None, "identity_dist": None, "identity_note": "not requested (--no-identity)"}
    model = identity_model() if identity is True else identity
    if isinstance(model, str):
        return {**out, "identity": None, "identity_dist": None, "identity_note": model}
    scores = identity_scores(outs, gts, dlib_pair_embedder(model))
    return {**out, **scores, "identity_detected": sum(model.truth(gt)[2] for gt in gts)}
