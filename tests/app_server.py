"""Start the real app (``python app.py``) in a subprocess for the end-to-end tests, and stop it again."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(log: Path, **env_overrides):
    """Yield the app's URL while it runs with the environment ``env_overrides``; the log goes to ``log``."""
    import pytest

    port = free_port()
    env = dict(os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), HF_HUB_OFFLINE="1",
               **{k: str(v) for k, v in env_overrides.items()})
    started = time.time()
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"app exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.time() - started > 180:
                    pytest.fail(f"app did not start in 180 s:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        print(f"app start-up: {time.time() - started:.1f} s")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
