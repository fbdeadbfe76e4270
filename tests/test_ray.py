"""``python -m frameforge ... --ray local`` (frameforge/ray_jobs.py) on a local Ray cluster of 2 workers: the same
files as the plain command for a folder of 4 clips and a long clip cut into segments, also when a worker is killed
in the middle of the job. Skipped without Ray (it is optional: requirements-ray.txt)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # a Ray cluster (conftest.py)

from models import video_io  # noqa: E402
from segment_clips import make_shots_video  # noqa: E402

ARGS = ["--model", "lanczos+rife", "--time-factor", "2"]


def run(*argv) -> int:
    from frameforge.__main__ import main

    return main([str(a) for a in argv])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """4 short clips (2 with audio) and a long one of 3 shots, and the plain command's results for them."""
    root = tmp_path_factory.mktemp("ray")
    src = root / "in"
    src.mkdir()
    for i in range(4):
        make_shots_video(src / f"clip{i}.mp4", shots=2, per_shot=4, size=(64, 96), audio=i % 2 == 0)
    make_shots_video(src / "long.mp4", shots=3, per_shot=8, size=(64, 96))
    # the plain command as a user runs it: a fresh process on one thread, as each Ray worker (one CPU each), so no
    # state left in this process by earlier tests (cached models, torch settings) can make its frames differ
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "frameforge", "video-sr", str(src), "-o", str(root / "plain"), *ARGS]
    done = subprocess.run(cmd, env=env, cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    yield root
    ray.shutdown()


def frames_and_audio(path: Path):
    with av.open(str(path)) as c:
        audio = [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size] if c.streams.audio else []
    return video_io.read_frames(path), audio


def assert_same_files(plain: Path, other: Path) -> None:
    names = sorted(p.name for p in plain.iterdir())
    assert names == sorted(p.name for p in other.iterdir()) and len(names) == 5
    for name in names:
        (a, sound_a), (b, sound_b) = frames_and_audio(plain / name), frames_and_audio(other / name)
        assert len(a) == len(b) > 0 and sound_a == sound_b, name
        assert all(np.array_equal(x, y) for x, y in zip(a, b)), name


def test_ray_folder_and_segments_give_the_plain_commands_files(folder, capsys):
    out = folder / "ray"
    assert run("video-sr", folder / "in", "-o", out, *ARGS, "--ray", "local", "--ray-workers", 2,
               "--segment-seconds", 0.2) == 0
    printed = capsys.readouterr()
    assert "long.mp4: 3 segments" in printed.err and "long_x2_lanczos-rife.mp4  (3 segments, 47 frames)" in printed.out
    assert_same_files(folder / "plain", out)


def _busy_workers() -> list[int]:
    """PIDs of Ray worker processes running a FrameWorker task now (Ray names the process after the task)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            except OSError:
                continue
            if title.startswith(("ray::FrameWorker.whole", "ray::FrameWorker.segment")):
                pids.append(int(entry.name))
    return pids


def test_a_killed_worker_has_its_task_run_again(folder, capsys):
    out = folder / "killed"
    killed = []

    def killer():
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            busy = _busy_workers()
            if busy:
                os.kill(busy[0], signal.SIGKILL)
                killed.append(busy[0])
            time.sleep(0.01)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    code = run("video-sr", folder / "in", "-o", out, *ARGS, "--ray", "local", "--segment-seconds", 0.2)
    thread.join(timeout=5)
    err = capsys.readouterr().err
    assert killed, "no busy worker was seen"
    assert code == 0 and "its worker died" in err and "running it again" in err
    assert_same_files(folder / "plain", out)
