"""FrameForge from the command line: the tabs' pipelines over many files, with a progress bar.

    python -m frameforge video-sr IN... -o OUT [--scale 2] [--time-factor 2 | --fps 60] [--model ID] [OUTPUT]
    python -m frameforge interpolate IN... -o OUT [--factor 2 | --fps 60] [--loop] [--model ID] [OUTPUT]
    python -m frameforge interpolate A.png B.png -o OUT [--frames 3] [--model ID]      (an image pair)
      OUTPUT: [--codec h264|h265|vp9|ffv1|png-zip|png-folder] [--crf 18] [--preset fast] [--bit-depth 8|10]
              [--hdr keep|tonemap] [--dedup auto|on|off] [--input-fps FPS (zip / folder of PNG frames)]
    python -m frameforge face-sr IN... -o OUT [--upscale 2] [--aligned] [--model ID] [--background lanczos|basicvsr]
                                              [--fidelity 0-1] [--faces 1,3] [--min-face PX] [--min-score 0.9-1]
                                              [--max-yaw DEG] [--restore-large-faces]
    python -m frameforge svs-spectrum SOURCE -o OUT [--layers a,b]
    python -m frameforge compress SOURCE -o OUT [--ratio 0.5] [--method taylor|l1] [--no-svs]
    python -m frameforge models [TASK]

IN may be files or folders (every video / image file inside, sorted). Results go to the folder OUT, named after
their input. video-sr and interpolate take --ray local|ADDRESS [--ray-workers 2] [--segment-seconds 120]: the files,
and segments of long videos, run on Ray workers (pip install -r requirements-ray.txt) with the same results. Exit codes: 0 all done, 1 some inputs failed (each one's reason on stderr; the others are processed),
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


def gather_videos(inputs: list[str]) -> list[Path]:
    """Videos and PNG sequences: video files and .zip files of PNG frames, from files and folders; a folder with no
    video or zip inside but PNG files is itself one PNG sequence."""
    out = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            inside = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in VIDEO_EXTS + (".zip",))
            if not inside and any(f.suffix.lower() == ".png" for f in p.iterdir() if f.is_file()):
                inside = [p]
            out += inside
        elif p.is_file():
            out.append(p)
        else:
            raise UsageError(f"{item}: no such file or folder")
    if not out:
        raise UsageError(f"no input files found (looked for {', '.join(VIDEO_EXTS)}, .zip or a folder of .png)")
    return out


def video_options(args) -> dict:
    """The output, HDR, duplicate and PNG-input options of video-sr / interpolate, for the pipelines (checked
    there; a bad value is reported per input). ``png-folder`` writes the PNG frames into a folder."""
    opts = dict(codec="png-zip" if args.codec == "png-folder" else args.codec, crf=args.crf, preset=args.preset,
                bit_depth=args.bit_depth, hdr=args.hdr, dedup=args.dedup)
    if args.input_fps:
        opts["input_fps"] = args.input_fps
    if getattr(args, "loop", False):
        opts["loop"] = True
    return opts


def result_suffix(args) -> str:
    from models import video_io

    return "" if args.codec == "png-folder" else video_io.CODECS[args.codec].suffix


def check_ray_options(args) -> None:
    if getattr(args, "ray", None) and (args.codec != "h264" or args.crf != 18 or args.preset != "fast"
                                       or args.bit_depth != 8 or args.hdr != "keep" or args.dedup != "auto"
                                       or args.input_fps or getattr(args, "loop", False)):
        raise UsageError("--ray runs the default output settings only (no --codec/--crf/--preset/--bit-depth/--hdr/"
                         "--dedup/--input-fps/--loop)")


def report_text(report) -> str:
    """What was written, duplicates, HDR: the report's words for one input."""
    text = f"; {report.output}; {report.dedup}"
    return text + (f"; {report.hdr}" if report.hdr else "")


class Failures(list):
    """Reasons of the inputs that failed (the others were processed)."""


#: Longest file name most file systems take, in bytes.
MAX_NAME_BYTES = 255


def clean_stem(stem: str, default: str = "input") -> str:
    """A file stem without control or format characters (a right-to-left override would make a result's name read
    backwards; a newline would break listings)."""
    import unicodedata

    text = "".join(c for c in stem if unicodedata.category(c) not in ("Cc", "Cf")).strip()
    return text or default


def result_name(stem: str, tail: str, extra: str = "") -> str:
    """``<stem><extra><tail>`` with the stem cleaned (:func:`clean_stem`) and shortened so the whole name fits in
    :data:`MAX_NAME_BYTES` bytes of UTF-8."""
    stem = clean_stem(stem)
    budget = MAX_NAME_BYTES - len((extra + tail).encode())
    while stem and len(stem.encode()) > budget:
        stem = stem[:-1]
    return f"{stem}{extra}{tail}"


def plan_results(files: list[Path], output, tail: str) -> dict[Path, Path]:
    """{input: result path} in ``output``: each result named ``<input stem><tail>``; inputs with the same stem get
    ``_2``, ``_3`` ... (none overwrites another's result); an input that is itself the result of another input
    of this run (``-o`` is an input folder, run again) is left out, with a note on stderr."""
    out = Path(output)
    plan, taken = {}, set()
    for src in files:
        extra, k = "", 2
        name = result_name(src.stem, tail)
        while name in taken:
            extra, k = f"_{k}", k + 1
            name = result_name(src.stem, tail, extra)
        taken.add(name)
        plan[src] = out / name
    results = {dst.resolve(): src for src, dst in plan.items()}
    for src in list(plan):
        made_by = results.get(src.resolve())
        if made_by is not None and made_by != src:
            print(f"note: skipping {src}: it is the result of {made_by.name} (the output folder is an input folder)",
                  file=sys.stderr)
            del plan[src]
    return plan


def number_arg(minimum: float | None, maximum: float | None, zero_means_off: bool = False):
    """An argparse ``type`` for a number in [minimum, maximum] (:func:`models.checks.number`, the app's rule): a
    bad value ("nan", "inf", "two", out of range) exits with code 2 while the arguments are parsed, before any
    model loads. ``zero_means_off``: 0 is accepted too (e.g. ``--fps 0`` = use the factor)."""
    import argparse

    def parse(text: str):
        from models import checks

        try:
            if zero_means_off and checks.number(text, "value") == 0:
                return 0.0
            return checks.number(text, "value", minimum, maximum)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("value ").rstrip(".")) from None

    return parse


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
        why = registry.retired_reason(model_id)
        head = f"{model_id!r} is retired ({why})" if why else f"unknown {TASKS[task]} model {model_id!r}"
        raise UsageError(f"{head}; choose one of {', '.join(registry.ids(TASKS[task], available_only=True))}")
    return model_id, registry.get(model_id)


def _on_ray(args, task: str, model_id: str, model, plan: dict, params: dict, cost) -> list[str]:
    """The files of ``plan`` over Ray (frameforge/ray_jobs.py; Ray is imported only here)."""
    try:
        from . import ray_jobs
    except ImportError as exc:
        raise UsageError(f"--ray needs Ray ({exc}): pip install -r requirements-ray.txt") from None
    for src, dst in plan.items():
        dst.parent.mkdir(parents=True, exist_ok=True)
    out = ray_jobs.run(task, model_id, model, dict(plan), params, address=args.ray, workers=args.ray_workers,
                       segment_seconds=args.segment_seconds, cost=cost)
    if out.failed:
        return Failures(out.lines + [f"{len(out.failed)} of {len(plan)} input(s) failed"])
    return out.lines


def _frame_bar(desc: str):
    from tqdm import tqdm

    bar = tqdm(total=1000, desc=desc, unit="‰", leave=False)

    def progress(fraction: float, desc: str | None = None) -> None:
        bar.n = int(1000 * min(max(fraction, 0.0), 1.0))
        bar.refresh()

    return bar, progress


def run_video_sr(args) -> list[str]:
    from models.pipelines.video_sr import upscale_video

    files = gather_videos(args.inputs)
    check_ray_options(args)
    model_id, model = _model("video-sr", args.model)
    plan = plan_results(files, args.output, f"_x{args.scale:g}_{model_id.replace('+', '-')}{result_suffix(args)}")
    if getattr(args, "ray", None):
        from models.pipelines.estimate import estimate_video_sr

        def cost(info) -> float:  # estimated seconds on the reference CPU, decides which files go in segments
            est = estimate_video_sr(model_id, info.frame_count, (info.width, info.height), args.scale,
                                    args.fps or 0, args.time_factor, info.fps)
            return est["cpu_seconds"] if est else float(info.frame_count)

        return _on_ray(args, "video_sr", model_id, model, plan,
                       dict(scale=args.scale, fps=args.fps or None, time_factor=args.time_factor), cost)

    def work(src: Path) -> str:
        dst = plan[src]
        bar, progress = _frame_bar(src.name)
        try:
            report = upscale_video(model, str(src), str(dst), args.scale, fps=args.fps or None,
                                   time_factor=args.time_factor, progress=progress, **video_options(args))
        finally:
            bar.close()
        for w in report.warnings:
            print(f"{src.name}: warning: {w}", file=sys.stderr)
        return (f"{dst}  ({report.out_size[0]}x{report.out_size[1]} @ {report.out_fps:.4g} fps, "
                f"{report.out_frames} frames{report_text(report)})")

    return each(list(plan), work)


def run_interpolate(args) -> list[str]:
    from models.pipelines.interpolate import interpolate_video

    if image_pair(args.inputs):
        return run_image_pair(args)
    files = gather_videos(args.inputs)
    check_ray_options(args)
    model_id, model = _model("interpolate", args.model)
    tag = f"{args.fps:g}fps" if args.fps else f"x{args.factor:g}"
    plan = plan_results(files, args.output, f"_{tag}{'_loop' if args.loop else ''}_{model_id}{result_suffix(args)}")
    if getattr(args, "ray", None):
        from models.pipelines.estimate import estimate_interpolation

        def cost(info) -> float:
            factor = (args.fps / info.fps) if args.fps else args.factor
            est = estimate_interpolation(model_id, info.frame_count, (info.width, info.height), factor)
            return est["cpu_seconds"] if est else float(info.frame_count)

        return _on_ray(args, "interpolate", model_id, model, plan,
                       {"fps": args.fps} if args.fps else {"factor": args.factor}, cost)

    def work(src: Path) -> str:
        dst = plan[src]
        bar, progress = _frame_bar(src.name)
        try:
            rate = {"fps": args.fps} if args.fps else {"factor": args.factor}
            report = interpolate_video(model, str(src), str(dst), progress=progress, **rate, **video_options(args))
        finally:
            bar.close()
        for w in report.warnings:
            print(f"{src.name}: warning: {w}", file=sys.stderr)
        return f"{dst}  ({report.out_fps:.4g} fps, {report.out_frames} frames{report_text(report)})"

    return each(list(plan), work)


def image_pair(inputs: list[str]) -> bool:
    """Two image files (not videos): interpolate the pair, as the tab's Image pair view."""
    return len(inputs) == 2 and all(Path(i).is_file() and Path(i).suffix.lower() in IMAGE_EXTS for i in inputs)


def run_image_pair(args) -> list[str]:
    """``--frames`` in-between frames of two images, written as PNGs named with their t, plus a preview mp4 (the
    pair and its in-betweens at 8 fps)."""
    from PIL import Image

    from models import video_io
    from models.imageio import read_image
    from models.pipelines.interpolate import interpolate_pair

    model_id, model = _model("interpolate", args.model)
    a, b = (Path(i) for i in args.inputs)
    result = interpolate_pair(model, read_image(str(a), a.name), read_image(str(b), b.name), args.frames)
    stem = clean_stem(f"{a.stem}_{b.stem}")
    lines = []
    for image, t in zip(result.frames, result.times):
        dst = Path(args.output) / result_name(stem, f"_t{t:.4f}_{model_id}.png")
        Image.fromarray(image).save(dst)
        lines.append(f"{dst}  (t = {t:.4g})")
    preview = Path(args.output) / result_name(stem, f"_{args.frames}frames_{model_id}.mp4")
    with video_io.VideoWriter(preview, 8) as writer:
        for frame in result.sequence():
            writer.write(frame)
    return lines + [f"{preview}  (preview: the pair and {len(result.frames)} in-between frames at 8 fps)"]


def run_face_sr(args) -> list[str]:
    from functools import partial

    from PIL import Image

    from models import registry
    from models.face.blind import at_fidelity
    from models.imageio import read_image
    from models.pipelines.face_photo import background_upscaler, restore_photo

    model_id, restorer = _model("face-sr", args.model)
    try:
        restorer = at_fidelity(restorer, args.fidelity)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    background = background_upscaler(args.background, partial(registry.get, "basicvsr"))
    from models.face.pose import Selection

    try:
        faces = None if args.faces is None else tuple(int(v) for v in args.faces.split(",") if v.strip())
        selection = Selection(faces=faces, min_size=args.min_face, min_score=args.min_score, max_yaw=args.max_yaw,
                              large_faces=args.restore_large_faces)
    except ValueError as exc:
        raise UsageError(f"face selection: {exc}") from None

    def work(src: Path) -> str:
        result = restore_photo(read_image(str(src), src.name, min_side=16), restorer, upscale=args.upscale,
                               aligned=args.aligned, background_upscaler=background, selection=selection)
        dst = plan[src]
        Image.fromarray(result.image).save(dst)
        for note in result.notes:
            print(f"{src.name}: {note}", file=sys.stderr)
        left = f", {len(result.skipped)} left alone" if result.skipped else ""
        return f"{dst}  ({len(result.faces)} face(s){left})"

    plan = plan_results(gather(args.inputs, IMAGE_EXTS), args.output, f"_faces_x{args.upscale:g}.png")
    return each(list(plan), work)


def run_svs_spectrum(args) -> list[str]:
    from models.pipelines.svs_spectrum import svs_spectrum
    from models.pipelines.compress import load_generator

    model = load_generator(args.source)
    dst = Path(args.output) / result_name(Path(args.source).name or "generator", "_svs_spectrum.png")
    result = svs_spectrum(model, args.layers or None, figure_path=str(dst))
    table = Path(args.output) / f"{dst.stem}.csv"
    import csv

    from models.pipelines.svs_spectrum import COLUMNS

    with open(table, "w", newline="") as fh:
        csv.writer(fh).writerows([COLUMNS, *result.rows])
    return [f"{dst}", f"{table}  ({result.summary})"]


def run_compress(args) -> list[str]:
    from models.pipelines.compress import compress
    from models.pipelines.compress import load_generator

    teacher = load_generator(args.source)
    from models.pipelines.compress import is_stylegan2

    if is_stylegan2(teacher):
        args.method = "l1"  # StyleGAN2 channels are ranked by filter L1
    tail = f"_pruned{round(args.ratio * 100)}" + ("" if args.no_svs else "_svs") + ".zip"
    result = compress(teacher, args.ratio, args.method, svs=not args.no_svs,
                      archive=Path(args.output) / result_name(Path(args.source).name or "generator", tail),
                      meta={"source": args.source})
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
        retired = [mid for mid in registry.ids(task, retired=True) if registry.retired_reason(mid)]
        if retired:
            rows.append(f"  {task:8s} retired (not offered; README, Retired): {', '.join(retired)}")
    return rows


def ray_args(p: argparse.ArgumentParser) -> None:
    """--ray and its settings (video commands)."""
    p.add_argument("--ray", metavar="local|ADDRESS",
                   help="run on Ray: 'local' starts a cluster on this machine, else the address of a running one "
                        "(e.g. ray://head:10001 or auto); needs requirements-ray.txt")
    p.add_argument("--ray-workers", type=int, default=2, metavar="N",
                   help="workers (CPUs) of a local cluster (default 2; each loads the model once)")
    p.add_argument("--segment-seconds", type=float, default=120.0, metavar="S",
                   help="with --ray, a video estimated to take longer than this (reference CPU seconds) is cut "
                        "into segments of about that much work, spread over the workers (default 120)")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m frameforge", description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:]))
    sub = ap.add_subparsers(dest="command", required=True)

    def output_args(p):
        from models import video_io

        p.add_argument("--codec", default="h264", choices=[*video_io.available_codecs(), "png-folder"],
                       help="output: h264 (default, mp4), h265 (mp4), vp9 (webm), ffv1 (lossless mkv), png-zip or "
                            "png-folder (lossless PNG frames)")
        p.add_argument("--crf", type=int, default=18, help="constant quality, 0-51 (VP9 0-63; default 18)")
        p.add_argument("--preset", default="fast", choices=video_io.PRESETS, help="encoder speed (default fast)")
        p.add_argument("--bit-depth", type=int, default=8, choices=(8, 10), help="bits per sample (default 8)")
        p.add_argument("--hdr", default="keep", choices=("keep", "tonemap"),
                       help="HDR (PQ/HLG) input: keep it 10-bit with its tags (default) or tone-map to SDR")
        p.add_argument("--dedup", default="auto", choices=("auto", "on", "off"),
                       help="drop duplicate frames and re-time (auto: when the frame rate goes up)")
        p.add_argument("--input-fps", type=number_arg(0.001, 240), default=0.0,
                       help="frame rate of a PNG-sequence input (a .zip or a folder of .png frames)")

    def files(p, what):
        p.add_argument("inputs", nargs="+", metavar="IN", help=f"{what} files or folders")
        p.add_argument("-o", "--output", required=True, help="output folder (created)")
        p.add_argument("--model", help="model id (default: the tab's default; see `python -m frameforge models`)")

    p = sub.add_parser("video-sr", help="space-time video super-resolution")
    files(p, "video")
    p.add_argument("--scale", type=number_arg(1, 8), default=2.0, help="spatial scale, 1-8 (default 2)")
    p.add_argument("--time-factor", type=number_arg(1, 16), default=2.0,
                   help="output fps = input fps x this (default 2, as the tab)")
    p.add_argument("--fps", type=number_arg(1, 240, zero_means_off=True), default=0.0,
                   help="target fps, 1-240 (overrides --time-factor)")
    output_args(p)
    ray_args(p)
    p.set_defaults(run=run_video_sr)
    p = sub.add_parser("interpolate", help="frame interpolation of videos")
    files(p, "video")
    p.add_argument("--factor", type=number_arg(1, 16), default=2.0, help="x2, x4, x8 (default 2; 1 keeps the rate)")
    p.add_argument("--fps", type=number_arg(1, 240, zero_means_off=True), default=0.0,
                   help="target fps, 1-240 (overrides --factor; below the input's reduces the rate, e.g. 30 -> 25)")
    p.add_argument("--loop", action="store_true", help="close the clip seamlessly: the last frame is interpolated "
                                                       "into the first")
    p.add_argument("--frames", type=int, default=3, choices=range(1, 32), metavar="1-31",
                   help="in-between frames for an image pair (two image files as IN; default 3)")
    output_args(p)
    ray_args(p)
    p.set_defaults(run=run_interpolate)
    p = sub.add_parser("face-sr", help="restore the faces of photos (--model face_realesrgan, the default; "
                                        "face_student, its distilled student, ~10x faster; face_basicvsr, faithful)")
    files(p, "image")
    p.add_argument("--upscale", type=number_arg(1, 4), default=2.0, help="1-4 (default 2)")
    p.add_argument("--aligned", action="store_true", help="inputs are aligned face crops (no detection)")
    p.add_argument("--background", choices=("lanczos", "basicvsr"), default="lanczos",  # face_photo.BACKGROUNDS
                   help="upscale the background with Lanczos (default) or the pretrained BasicVSR (photos up to 1 MP)")
    p.add_argument("--fidelity", type=float, default=None,
                   help="0-1, models with the control (face_realesrgan): 1 = fully restored, 0 = faithful to the "
                        "input (face_basicvsr), between = a blend (default 0.7, models.face.blind.DEFAULT_FIDELITY)")
    p.add_argument("--faces", default=None, help="comma-separated face numbers to restore (1 = the largest face); "
                                                 "default: every face that passes the filters below")
    p.add_argument("--min-face", type=float, default=0.0, help="leave faces smaller than this (px, box side) alone")
    p.add_argument("--min-score", type=float, default=0.9, help="leave faces detected below this confidence alone "
                                                                "(0.9 = MTCNN's own threshold)")
    p.add_argument("--max-yaw", type=float, default=45.0, help="leave profiles turned more than this (degrees, "
                                                               "estimated from the landmarks) alone (default 45)")
    p.add_argument("--restore-large-faces", action="store_true",
                   help="also restore faces already large enough (aligned crop above 512 px in the output; softer "
                        "than the plain resize), left alone by default")
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
    p.add_argument("--ratio", type=number_arg(0.05, 0.9), default=0.5,
                   help="fraction of each ResNet block's inner channels (0.05-0.9)")
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
        out = Path(args.output)
        if out.exists() and not out.is_dir():
            print(f"error: -o {args.output}: is a file; give a folder (it is created if missing)", file=sys.stderr)
            return 2
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            print(f"error: -o {args.output}: cannot create the folder ({exc.strerror or exc})", file=sys.stderr)
            return 2
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
