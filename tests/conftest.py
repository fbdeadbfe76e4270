"""Shared pytest fixtures: the repo root on sys.path, ../shared data (or a skip), small synthetic videos."""
from __future__ import annotations

import os
import sys
from pathlib import Path

# No test reaches the network: huggingface_hub reads this when it is first imported, so it is set before anything
# imports it (a variable set inside a test comes too late).
os.environ["HF_HUB_OFFLINE"] = "1"
# The suite's stored numbers are fp32 on every CPU: networks that ask for bf16 (models.device.autocast) would move them
# on a CPU with native bf16 and not elsewhere. Tests of the bf16 paths turn it on themselves (test_cpu_fast,
# test_vfi_aligned).
os.environ.setdefault("FRAMEFORGE_CPU_BF16", "0")
# Gradio files made in this process (uploads, caches of components built by tests) go to a folder of the test
# session, removed at its end, not to <temp>/gradio or the app's <temp>/frameforge_gradio.
if "GRADIO_TEMP_DIR" not in os.environ:
    import atexit
    import shutil
    import tempfile

    os.environ["GRADIO_TEMP_DIR"] = tempfile.mkdtemp(prefix="frameforge_tests_gradio_")
    atexit.register(shutil.rmtree, os.environ["GRADIO_TEMP_DIR"], True)

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `pytest` run from anywhere can import `models`, `bench`, `demos`
    sys.path.insert(0, str(ROOT))
TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:  # `from video_factory import make_test_video`
    sys.path.insert(0, str(TESTS))

SHARED = ROOT.parent / "shared"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: starts the app server, a browser or Ray, runs a benchmark or training command, or takes "
                   "more than a few seconds; `pytest -m \"not slow\"` leaves these out (./run.sh test and .ci/run "
                   "run everything)")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repo; skips the test when it is absent."""
    data = SHARED / "data"
    if not data.is_dir():
        pytest.skip(f"shared data not found at {data}")
    return data


@pytest.fixture(scope="session")
def train_frames(shared_data):
    """``train_frames(i, n)`` -> (name, the first ``n`` frames as uint8 RGB) of the i-th DAVIS-2016 *training*
    sequence (``video_train/davis2016/<seq>/NNNNN.jpg``, 854x480, sorted by name): real motion for the tests. Tests
    never read an ``*_eval`` folder; those are the benchmarks' alone."""
    import numpy as np
    from PIL import Image

    root = shared_data / "video_train" / "davis2016"
    seqs = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not seqs:
        pytest.skip(f"no training sequences in {root}")

    def frames(i: int, n: int) -> tuple[str, list]:
        files = sorted(seqs[i].glob("*.jpg"))[:n]
        return seqs[i].name, [np.asarray(Image.open(f).convert("RGB")) for f in files]

    return frames


@pytest.fixture
def small_video(tmp_path) -> Path:
    """A 64x48, 12-frame, 25 fps mp4 with a 440 Hz AAC tone (see tests/video_factory.py)."""
    from video_factory import make_test_video

    return make_test_video(tmp_path / "small.mp4", n_frames=12, size=(48, 64), fps=25, audio=True)


@pytest.fixture(autouse=True)
def _fresh_settings():
    """Each test sees the settings of its own environment (a test that sets FRAMEFORGE_* calls settings.reload());
    what a test changed is read back afterwards."""
    from models import settings

    settings.reload()
    yield
    settings._SETTINGS = None


@pytest.fixture
def one_thread():
    """torch on one thread for the test (known-answer comparisons that must not depend on the thread count)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
