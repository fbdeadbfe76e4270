"""The face benchmark's FD-EffNetLite0 and dlib identity metrics: they live in :mod:`models.metrics` (one module for
training and benchmarks); this name stays for the benchmarks' imports."""
from models.metrics import (FD_STRIDE, DlibIdentity, MetricUnavailable, dlib_pair_embedder,  # noqa: F401
                            effnet_patch_features, fd_effnet, identity_model, identity_scores, quality_metrics)
