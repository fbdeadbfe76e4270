"""The face metrics FD-EffNetLite0 and identity (models/metrics.py; bench/face_metrics.py re-exports them)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models import metrics as fm

# aligned 512 px training faces (tests never read an *_eval folder)
FACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces_train" / "celebahq_b"


def _resample(img: np.ndarray, factor: int) -> np.ndarray:
    """Bicubic down by ``factor`` and back up: the degradation the benchmark restores from."""
    h, w = img.shape[:2]
    small = Image.fromarray(img).resize((w // factor, h // factor), Image.Resampling.BICUBIC)
    return np.asarray(small.resize((w, h), Image.Resampling.BICUBIC))


@pytest.fixture(scope="module")
def crops() -> list[np.ndarray]:
    skdata = pytest.importorskip("skimage.data")
    img = skdata.astronaut()  # 512 x 512
    return [np.ascontiguousarray(img[y:y + 256, x:x + 256]) for y in (0, 256) for x in (0, 256)]


@pytest.fixture(scope="module")
def effnet():
    from models import registry

    return registry.get("efficientnet_lite0")  # the network is handed in: models.metrics stays below the registry


def test_fd_effnet_is_zero_for_the_truth_and_grows_with_the_loss_of_detail(crops, effnet):
    feats = fm.effnet_patch_features(crops, effnet)
    assert feats.shape == (4 * 16 * 16, 112) and feats.dtype == np.float64  # stride 16, 112 channels
    assert abs(fm.fd_effnet(crops, crops, effnet)) < 1e-6
    x2 = fm.fd_effnet([_resample(c, 2) for c in crops], crops, effnet)
    x8 = fm.fd_effnet([_resample(c, 8) for c in crops], crops, effnet)
    assert 0 < x2 < x8
    with pytest.raises(ValueError, match="as many outputs"):
        fm.fd_effnet(crops[:2], crops, effnet)


def test_identity_scores_known_answers():
    vectors = {1: np.array([1.0, 0.0]), 2: np.array([0.0, 2.0]), 3: np.array([3.0, 0.0])}
    embed = lambda out, gt: (vectors[int(out[0, 0, 0])], vectors[int(gt[0, 0, 0])])  # noqa: E731
    img = lambda k: np.full((4, 4, 3), k, np.uint8)  # noqa: E731
    same = fm.identity_scores([img(1)], [img(3)], embed)  # parallel: cosine 1, distance 2
    assert same == pytest.approx({"identity": 1.0, "identity_dist": 2.0})
    both = fm.identity_scores([img(1), img(2)], [img(2), img(2)], embed)  # orthogonal pair + identical pair
    assert both == pytest.approx({"identity": 0.5, "identity_dist": (np.sqrt(5) + 0) / 2})
    with pytest.raises(ValueError, match="as many outputs"):
        fm.identity_scores([img(1)], [], embed)


def test_quality_metrics_without_dlib_reports_why(crops, monkeypatch, effnet):
    def unavailable(*a, **k):
        raise fm.MetricUnavailable("identity needs dlib: pip install dlib-bin face-recognition-models")

    monkeypatch.setattr(fm, "DlibIdentity", unavailable)
    out = fm.quality_metrics(crops[:2], crops[:2], net=effnet)
    assert out["identity"] is None and out["identity_dist"] is None and "dlib" in out["identity_note"]
    assert abs(out["fd_effnet"]) < 1e-6
    skipped = fm.quality_metrics(crops[:2], crops[:2], identity=False, net=effnet)
    assert skipped["identity_note"].startswith("not requested")


@pytest.mark.slow  # dlib on real faces
def test_dlib_identity_tells_a_degraded_face_from_another_person(effnet):
    pytest.importorskip("dlib")
    if not FACES.is_dir():
        pytest.skip(f"training faces not found at {FACES}")
    from bench.face import load_pairs

    try:
        model = fm.DlibIdentity()
    except fm.MetricUnavailable as exc:
        pytest.skip(str(exc))
    gts = [gt for _, gt, _ in load_pairs(str(FACES), 8, limit=3)]
    embed = fm.dlib_pair_embedder(model)
    assert fm.identity_scores(gts, gts, embed) == pytest.approx({"identity": 1.0, "identity_dist": 0.0})
    degraded = fm.identity_scores([_resample(g, 8) for g in gts], gts, embed)
    others = fm.identity_scores(gts[1:] + gts[:1], gts, embed)  # each truth against another person
    assert degraded["identity_dist"] < 0.6 < others["identity_dist"]  # dlib's same-person threshold
    assert degraded["identity"] > others["identity"]
    assert model.detected >= 1
    n = model.detected
    assert model.truth(gts[0]) is model.truth(gts[0]) and model.detected == n  # cached: detected once per truth
    again = fm.quality_metrics(gts, gts, model, net=effnet)  # one instance reused, as bench.face does across models
    assert again["identity_dist"] == pytest.approx(0.0) and again["identity_detected"] == n
