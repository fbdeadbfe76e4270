"""The face benchmark's FD-EffNetLite0 and dlib identity metrics: they live in :mod:`models.metrics` (one module for
training and benchmarks); here the FD takes the registry's EfficientNet-Lite0 unless given one (the metrics module
stays below the registry)."""
from models import metrics as _m
from models.metrics import (FD_STRIDE, DlibIdentity, MetricUnavailable, dlib_pair_embedder,  # noqa: F401
                            identity_model, identity_scores)


def _effnet(net=None):
    if net is None:
        from models import registry

        net = registry.get("efficientnet_lite0")
    return net


def effnet_patch_features(images, net=None, stride: int = FD_STRIDE, batch: int = 4):
    return _m.effnet_patch_features(images, _effnet(net), stride, batch)


def fd_effnet(outs, gts, net=None) -> float:
    return _m.fd_effnet(outs, gts, _effnet(net))


def quality_metrics(outs, gts, identity=True) -> dict:
    """:func:`models.metrics.quality_metrics` with the registry's EfficientNet-Lite0."""
    return _m.quality_metrics(outs, gts, identity, net=_effnet())
