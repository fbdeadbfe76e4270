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


class AppURL(str):
    """The app's URL (a str, as before) that also knows the server's process id (``.pid``), for memory checks."""

    def __new__(cls, url: str, pid: int):
        self = super().__new__(cls, url)
        self.pid = pid
        return self


def peak_rss_kb(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM, kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc status")


def reset_peak_rss(pid: int) -> bool:
    """Reset the process's VmHWM to its current RSS (Linux: write 5 to clear_refs); False where not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(log: Path, **env_overrides):
    """Yield the app's URL while it runs with the environment ``env_overrides``; the log goes to ``log``."""
    import pytest

    port = free_port()
    # Uploads and Gradio's caches go beside the log (pytest's temporary folder), not into the app's temp folder
    # (<temp>/frameforge_gradio), where every test run left its upload folders behind.
    env_overrides.setdefault("GRADIO_TEMP_DIR", Path(log).parent / "gradio_temp")
    env = dict(os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), HF_HUB_OFFLINE="1",
               **{k: str(v) for k, v in env_overrides.items()})
    env.pop("GRADIO_EXAMPLES_CACHE", None)  # app.py puts it inside GRADIO_TEMP_DIR
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
        yield AppURL(f"http://127.0.0.1:{port}", proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
