"""FrameForge: four research demos as tabs of one Gradio app (a Hugging Face Space and a local app).

    python app.py            # http://127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT are honoured)
    python app.py --share    # also a public share link
"""
import spaces  # noqa: F401  # must come before torch is imported (ZeroGPU)

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("GRADIO_TEMP_DIR", str(Path(tempfile.gettempdir()) / "frameforge_gradio"))

import gradio as gr  # noqa: E402

from demos import compression, face_sr, interpolation, video_sr  # noqa: E402

TABS = (video_sr, interpolation, face_sr, compression)
QUEUE_MAX_SIZE = int(os.environ.get("FRAMEFORGE_QUEUE_SIZE", "20"))
# Every model-running event shares the concurrency group "gpu": one job on the accelerator at a time.
GPU_CONCURRENCY = int(os.environ.get("FRAMEFORGE_GPU_CONCURRENCY", "1"))

HEADER = """# FrameForge
Video super-resolution at any scale in space and time, frame interpolation, face super-resolution and generative
model compression with Singular Value Scaling — on your own files. Models load on first use."""


def build_app() -> gr.Blocks:
    with gr.Blocks(title="FrameForge", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(HEADER)
        for tab in TABS:
            with gr.Tab(tab.TITLE):
                tab.build()
    demo.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=GPU_CONCURRENCY)
    return demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--share", action="store_true", help="create a public share link")
    args = parser.parse_args()
    Path(os.environ["GRADIO_TEMP_DIR"]).mkdir(parents=True, exist_ok=True)
    build_app().launch(share=args.share, max_file_size="500mb")


if __name__ == "__main__":
    main()
