"""FrameForge: four research demos as tabs of one Gradio app (a Hugging Face Space and a local app).

    python app.py            # http://127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT are honoured)
    python app.py --share    # also a public share link
"""
import spaces  # noqa: F401  # must come before torch is imported (ZeroGPU)

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("GRADIO_TEMP_DIR", str(Path(tempfile.gettempdir()) / "frameforge_gradio"))
os.environ.setdefault("GRADIO_EXAMPLES_CACHE", str(Path(os.environ["GRADIO_TEMP_DIR"]) / "cached_examples"))
# results go inside Gradio's cache folder, so Gradio serves them as they are instead of copying each one
os.environ.setdefault("FRAMEFORGE_OUTPUT_DIR", str(Path(os.environ["GRADIO_TEMP_DIR"]) / "results"))

import gradio as gr  # noqa: E402

from demos import common, compression, face_sr, interpolation, video_sr  # noqa: E402
from models import settings  # noqa: E402

TABS = (video_sr, interpolation, face_sr, compression)

HEADER = """# FrameForge
Video super-resolution at any scale in space and time, frame interpolation, face super-resolution and generative
model compression with Singular Value Scaling — on your own files. Models load on first use."""


def build_app() -> gr.Blocks:
    cfg = settings.get()
    with gr.Blocks(title="FrameForge", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(HEADER)
        for tab in TABS:
            with gr.Tab(tab.TITLE):
                tab.build()
    # Every model-running event shares the concurrency group "gpu": FRAMEFORGE_GPU_CONCURRENCY jobs at a time.
    demo.queue(max_size=cfg.queue_size, default_concurrency_limit=cfg.gpu_concurrency)
    return common.explain_request_errors(demo)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--share", action="store_true", help="create a public share link")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from models.device import log_cpu_once

    log_cpu_once()  # the CPU's model, ISA flags and compiler: what the CPU forms of the networks are chosen from
    try:
        cfg = settings.get()
    except settings.SettingsError as exc:
        sys.exit(f"FrameForge settings: {exc}")
    temp = Path(os.environ["GRADIO_TEMP_DIR"])
    temp.mkdir(parents=True, exist_ok=True)
    cfg.output_dir.mkdir(parents=True, exist_ok=True)
    common.start_temp_sweeper(temp, cfg.temp_max_age, keep=(Path(os.environ["GRADIO_EXAMPLES_CACHE"]),))
    build_app().launch(share=args.share, max_file_size="500mb", allowed_paths=[str(cfg.output_dir)],
                       mcp_server=cfg.mcp)


if __name__ == "__main__":
    main()
