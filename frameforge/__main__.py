"""FrameForge from the command line: the tabs' pipelines over many files, with a progress bar.

    python -m frameforge video-sr IN... -o OUT [--scale 2] [--time-factor 2 | --fps 60] [--model ID]
    python -m frameforge interpolate IN... -o OUT [--factor 2 | --fps 60] [--model ID]
    python -m frameforge face-sr IN... -o OUT [--upscale 2] [--aligned] [--model ID] [--background lanczos|basicvsr]
                                              [--fidelity 0-1]
    python -m frameforge svs-spectrum SOURCE -o OUT [--layers a,b]
    python -m frameforge compress SOURCE -o OUT [--ratio 0.5] [--method taylor|l1] [--no-svs]
    python -m frameforge models [TASK]

IN may be files or folders (every video / image file inside, sorted). Results go to the folder OUT, named after
their input. Exit codes: 0 all done, 1 some inputs failed (each one's reason on stderr; the others are processed),
2 bad arguments or no input found.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

VIDEO_EXTS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
TASKS = {"video-sr": "stvsr", "interpolate": "vfi", "face-sr": "face"}


class UsageError(Exception):
    """Bad arguments or inputs: exit code 2."""


def gather(inputs: list[str], exts: tuple[str, ...]) -> list[Path]:
    """Files from files and folders (a folder gives its files with ``exts``, sorted)."""
    out = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in exts)
        elif p.is_file():
            out.append(p)
        else:
            raise UsageError(f"{item}: no such file or folder")
    if not out:
        raise UsageError(f"no input files found (looked for {', '.join(exts)})")
    return out


class Failures(list):
    """Reasons of the inputs that failed (the others were processed)."""


def each(files: list[Path], work) -> list[str]:
    """``work(file)`` for every file under a progress bar; a file that fails is reported and skipped."""
    from tqdm import tqdm

    from models.weights import WeightsUnavailable

    lines, failed = [], Failures()
    for src in tqdm(files, desc="files", unit="file", disable=len(files) < 2):
        try:
            lines.append(work(src))
        except (ValueError, WeightsUnavailable, FileNotFoundError) as exc:
            print(f"error: {src}: {exc}", file=sys.stderr)
            failed.append(str(src))
    if failed:
        lines.append(f"{len(failed)} of {len(files)} input(s) failed")
    return Failures(lines) if failed else lines


def _model(task: str, model_id: str | None):
    from models import registry

    model_id = model_id or registry.default_id(TASKS[task])
    if model_id not in registry.ids(TASKS[task]):
        raise UsageError(f"unknown {TASKS[task]} model {model_id!r}; choose one of "
                         f"{', '.join(registry.ids(TASKS[task], available_only=True))}")
    return model_id, registry.get(model_id)


def _frame_bar(desc: str):
    from tqdm import tqdm

    bar = tqdm(total=1000, desc=desc, unit="‰", leave=False)

    def progress(fraction: float, desc: str | None = None) -> None:
        bar.n = int(1000 * min(max(fraction, 0.0), 1.0))
        bar.refresh()

    return bar, progress


def run_video_sr(args) -> list[str]:
    from models.pipelines.video_sr import upscale_video

    model_id, model = _model("video-sr", args.model)

    def work(src: Path) -> str:
        dst = Path(args.output) / f"{src.stem}_x{args.scale:g}_{model_id.replace('+', '-')}.mp4"
        bar, progress = _frame_bar(src.name)
        try:
            report = upscale_video(model, str(src), str(dst), args.scale, fps=args.fps or None,
                                   time_factor=args.time_factor, progress=progress)
        finally:
            bar.close()
        for w in report.warnings:
            print(f"{src.name}: warning: {w}", file=sys.stderr)
        return (f"{dst}  ({report.out_size[0]}x{report.out_size[1]} @ {report.out_fps:.4g} fps, "
                f"{report.out_frames} frames)")

    return each(gather(args.inputs, VIDEO_EXTS), work)


def run_interpolate(args) -> list[str]:
    from models.pipelines.interpolate import interpolate_video

    model_id, model = _model("interpolate", args.model)

    def work(src: Path) -> str:
        tag = f"{args.fps:g}fps" if args.fps else f"x{args.factor:g}"
        dst = Path(args.output) / f"{src.stem}_{tag}_{model_id}.mp4"
        bar, progress = _frame_bar(src.name)
        try:
            rate = {"fps": args.fps} if args.fps else {"factor": args.factor}
            report = interpolate_video(model, str(src), str(dst), progress=progress, **rate)
        finally:
            bar.close()
        for w in report.warnings:
            print(f"{src.name}: warning: {w}", file=sys.stderr)
        return f"{dst}  ({report.out_fps:.4g} fps, {report.out_frames} frames)"

    return each(gather(args.inputs, VIDEO_EXTS), work)


def run_face_sr(args) -> list[str]:
    from PIL import Image

    from models.face.blind import at_fidelity
    from models.imageio import read_image
    from models.pipelines.face_photo import background_upscaler, restore_photo

    model_id, restorer = _model("face-sr", args.model)
    try:
        restorer = at_fidelity(restorer, args.fidelity)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    background = background_upscaler(args.background)

    def work(src: Path) -> str:
        result = restore_photo(read_image(str(src), src.name, min_side=16), restorer, upscale=args.upscale,
                               aligned=args.aligned, background_upscaler=background)
        dst = Path(args.output) / f"{src.stem}_faces_x{args.upscale:g}.png"
        Image.fromarray(result.image).save(dst)
        return f"{dst}  ({len(result.faces)} face(s))"

    return each(gather(args.inputs, IMAGE_EXTS), work)


def run_svs_spectrum(args) -> list[str]:
    from models.pipelines.svs_spectrum import svs_spectrum
    from models.svs.generators import load_generator

    model = load_generator(args.source)
    dst = Path(args.output) / f"{Path(args.source).name or 'generator'}_svs_spectrum.png"
    result = svs_spectrum(model, args.layers or None, figure_path=str(dst))
    table = Path(args.output) / f"{dst.stem}.csv"
    import csv

    from models.pipelines.svs_spectrum import COLUMNS

    with open(table, "w", newline="") as fh:
        csv.writer(fh).writerows([COLUMNS, *result.rows])
    return [f"{dst}", f"{table}  ({result.summary})"]


def run_compress(args) -> list[str]:
    from models.pipelines.compress import compress
    from models.svs.generators import load_generator

    teacher = load_generator(args.source)
    from models.pipelines.compress import is_stylegan2

    if is_stylegan2(teacher):
        args.method = "l1"  # StyleGAN2 channels are ranked by filter L1
    stem = f"{Path(args.source).name or 'generator'}_pruned{round(args.ratio * 100)}" + ("" if args.no_svs else "_svs")
    result = compress(teacher, args.ratio, args.method, svs=not args.no_svs,
                      archive=Path(args.output) / f"{stem}.zip", meta={"source": args.source})
    return [f"{result.archive}  ({result.prune.summary()}" + (f"; {result.svs.summary()})" if result.svs else ")")]


def list_models(args) -> list[str]:
    from models import registry

    rows = []
    for task in ([args.task] if args.task else ["stvsr", "vfi", "face", "sr", "features", "svs", "metric"]):
        for mid in registry.ids(task):
            s = registry.spec(mid)
            mark = "*" if mid == registry.default_id(task) else " "
            avail = "" if s.available() else "  [weights not available]"
            rows.append(f"{mark} {task:8s} {mid:22s} {s.origin()} · {s.license.split(' (')[0]}{avail}")
    return rows


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m frameforge", description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:]))
    sub = ap.add_subparsers(dest="command", required=True)

    def files(p, what):
        p.add_argument("inputs", nargs="+", metavar="IN", help=f"{what} files or folders")
        p.add_argument("-o", "--output", required=True, help="output folder (created)")
        p.add_argument("--model", help="model id (default: the tab's default; see `python -m frameforge models`)")

    p = sub.add_parser("video-sr", help="space-time video super-resolution")
    files(p, "video")
    p.add_argument("--scale", type=float, default=2.0, help="spatial scale, 1-8 (default 2)")
    p.add_argument("--time-factor", type=float, default=1.0, help="output fps = input fps x this (default 1)")
    p.add_argument("--fps", type=float, default=0.0, help="target fps (overrides --time-factor)")
    p.set_defaults(run=run_video_sr)
    p = sub.add_parser("interpolate", help="frame interpolation of videos")
    files(p, "video")
    p.add_argument("--factor", type=float, default=2.0, help="x2, x4, x8 (default 2)")
    p.add_argument("--fps", type=float, default=0.0, help="target fps (overrides --factor)")
    p.set_defaults(run=run_interpolate)
    p = sub.add_parser("face-sr", help="restore the faces of photos")
    files(p, "image")
    p.add_argument("--upscale", type=float, default=2.0, help="1-4 (default 2)")
    p.add_argument("--aligned", action="store_true", help="inputs are aligned face crops (no detection)")
    p.add_argument("--background", choices=("lanczos", "basicvsr"), default="lanczos",  # face_photo.BACKGROUNDS
                   help="upscale the background with Lanczos (default) or the pretrained BasicVSR (photos up to 1 MP)")
    p.add_argument("--fidelity", type=float, default=1.0,
                   help="0-1, models with the control (face_realesrgan): 1 = fully restored (default), 0 = faithful "
                        "to the input (face_basicvsr), between = a blend")
    p.set_defaults(run=run_face_sr)
    p = sub.add_parser("svs-spectrum", help="singular-value spectra of a generator before/after SVS")
    p.add_argument("source", help="'bundled', a diffusers folder under FRAMEFORGE_MODELS_DIRS, or a Hub id")
    p.add_argument("-o", "--output", required=True, help="output folder (created)")
    p.add_argument("--layers", help="comma-separated layer names (default: a representative set)")
    p.set_defaults(run=run_svs_spectrum)
    p = sub.add_parser("compress", help="prune a generator (+ SVS) and save it as config.json + safetensors (zip)")
    p.add_argument("source", help="'bundled' (DDPM), 'bundled-stylegan2', a diffusers folder under "
                                   "FRAMEFORGE_MODELS_DIRS, or a Hub id")
    p.add_argument("-o", "--output", required=True, help="output folder (created)")
    p.add_argument("--ratio", type=float, default=0.5, help="fraction of each ResNet block's inner channels (0.05-0.9)")
    p.add_argument("--method", default="taylor", choices=["taylor", "l1"],
                   help="channel importance (DDPM; StyleGAN2 always uses filter L1)")
    p.add_argument("--no-svs", action="store_true", help="skip Singular Value Scaling after pruning")
    p.set_defaults(run=run_compress)
    p = sub.add_parser("models", help="list the models, their weights and licences (* = default)")
    p.add_argument("task", nargs="?", choices=["stvsr", "vfi", "face", "sr", "features", "svs", "metric"])
    p.set_defaults(run=list_models)
    return ap


def main(argv=None) -> int:
    from models.weights import WeightsUnavailable

    args = parser().parse_args(argv)
    if getattr(args, "output", None):
        Path(args.output).mkdir(parents=True, exist_ok=True)
    try:
        lines = args.run(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, WeightsUnavailable, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    return 1 if isinstance(lines, Failures) else 0


if __name__ == "__main__":
    sys.exit(main())
