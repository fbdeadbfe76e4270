"""Shared pytest fixtures: the repo root on sys.path, ../shared data (or a skip), small synthetic videos."""
from __future__ import annotations

import os
import sys
from pathlib import Path

# No test reaches the network: huggingface_hub reads this when it is first imported, so it is set before anything
# imports it (a variable set inside a test comes too late).
os.environ["HF_HUB_OFFLINE"] = "1"
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


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repo; skips the test when it is absent."""
    data = SHARED / "data"
    if not data.is_dir():
        pytest.skip(f"shared data not found at {data}")
    return data


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
