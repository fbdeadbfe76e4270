"""Start-up time of the app and wall time of each endpoint on the bundled examples, through gradio_client.

    python -m bench.app [--repeats 3] [--json bench/results/app_timings.json]

Starts ``python app.py`` in a subprocess (as a user would), measures the time until the port answers and until the
first API call can be made, then calls every endpoint ``repeats`` times (the first call also loads the model) and
reports the first and the median of the others.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common import machine, write_json

ROOT = Path(__file__).resolve().parents[1]
EX = ROOT / "examples"


def calls():
    from gradio_client import handle_file

    dog = handle_file(str(EX / "videos" / "dog_480x270.mp4"))
    juggle = handle_file(str(EX / "videos" / "juggle_12fps_320.mp4"))
    pair = EX / "pairs" / "juggle"
    return {
        "video_sr (dog 480x270, 105 frames, x2 space, x2 time, lanczos+dis)":
            ("/video_sr", (dog, 2.0, 0, 2, "lanczos+dis")),
        "interpolate_pair (320x180, 3 frames, dis_flow)":
            ("/interpolate_pair", (handle_file(str(pair / "frame0.png")), handle_file(str(pair / "frame1.png")), 3,
                                   "dis_flow", 8)),
        "interpolate_video (juggle 320x180, 48 frames, 12 -> 30 fps, dis_flow)":
            ("/interpolate_video", (juggle, "target fps", 2, 30, "dis_flow")),
        "face_sr (astronaut_pair, x2, face_bicubic)":
            ("/face_sr", (handle_file(str(EX / "faces" / "astronaut_pair.jpg")), "face_bicubic", 2, False)),
        "svs_spectrum (bundled tiny DDPM, default layers)": ("/svs_spectrum", ("bundled", "")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--port", type=int, default=7899)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    from gradio_client import Client

    env = dict(os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(args.port))
    started = time.perf_counter()
    app = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                socket.create_connection(("127.0.0.1", args.port), timeout=1).close()
                break
            except OSError:
                if app.poll() is not None or time.perf_counter() - started > 300:
                    sys.exit("the app did not start")
                time.sleep(0.2)
        port_s = time.perf_counter() - started
        client = Client(f"http://127.0.0.1:{args.port}", verbose=False)
        ready_s = time.perf_counter() - started
        rows = []
        for name, (api, inputs) in calls().items():
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                client.predict(*inputs, api_name=api)
                times.append(time.perf_counter() - t0)
            rows.append({"endpoint": name, "first_s": round(times[0], 2),
                         "median_s": round(statistics.median(times[1:] or times), 2)})
    finally:
        app.terminate()
        app.wait(timeout=30)
    result = {"machine": machine(), "load_average": os.getloadavg(), "startup_port_s": round(port_s, 2),
              "startup_client_ready_s": round(ready_s, 2), "results": rows}
    print(f"start-up: port answers after {port_s:.1f} s, client ready after {ready_s:.1f} s")
    print(f"{'endpoint':80s} {'first s':>8s} {'median s':>9s}")
    for r in rows:
        print(f"{r['endpoint']:80s} {r['first_s']:8.2f} {r['median_s']:9.2f}")
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    main()
