"""Train the face models (``models/face/teacher.py``, ``models/face/student.py``) on ``../shared/data/faces_train``.

    python -m train.face --model face_teacher --no-utk --bf16 --out runs/face_teacher --export face_teacher
    python -m train.face --model face_sft_student --teacher runs/face_teacher --no-utk --bf16 \
        --out runs/face_sft_student --export face_sft_student
    python -m train.face --model face_sft_student_nokd --no-utk --bf16 --out runs/face_sft_student_nokd \
        --export face_sft_student_nokd

The SFT students were ``face_student`` / ``face_student_nokd`` until issue 30 gave those ids to the blind student
(``python -m train.face_blind``); ``face_sft_student``, ``face_sft_student_nokd`` and ``face_teacher`` are retired
from the tabs (equal to their base) and build untrained here; ``face_student_perceptual`` is ``face_sft_student_nokd``
trained with ``--w-perceptual 20 --select fd`` (its card).

Data: every face of ``faces_train`` (CelebA-HQ, CelebAMask-HQ, FFHQ and UTKFace chips). The 512 px and larger HQ
faces are used at 512 (random crops), the others resized to 256 (UTKFace: 600 of its 1,500 chips; ``--no-utk`` leaves
them out, ``--utk-native N`` adds N others at their own 192 px). For each face and scale (x4 and x8, as the benchmark
degrades: PIL bicubic down) the pretrained base ``face_basicvsr`` is computed once and cached (``runs/face_cache``).
Five 512 px HQ faces are held out for validation (never the ``*_eval`` folders).

The teacher first builds its component dictionaries (K-means over the HQ training faces' part features). Loss:
100 MSE + 20 perceptual (L1 of EfficientNet-Lite0 features at strides 2-16, each map divided by its mean absolute
value on the target; ``--w-perceptual``), plus for ``face_sft_student`` ``--w-kd`` x the L2 between its SFT maps (1x1
adapters) and the frozen teacher's (:class:`Distillation`). Adam, betas (0.9, 0.999); bf16 autocast + channels_last
with ``--bf16``; on a GPU when one is visible (``--device``, :mod:`train.runtime`). Every decoder's last conv starts
at zero: step 0 is the base. Validation PSNR at 512 (whole faces,
x4 and x8) against the base and bicubic, every ``--val-every`` steps (``--quality``: FD-EffNetLite0 and the dlib
identity distance too); ``best.pt`` keeps the best (``--select psnr``, or ``fd`` for the lowest FD); ``--resume``
continues from ``last.pt``; the log records the base's MSE on every batch beside the model's.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from train.loop import DataRNG, Recipe, Run, best_weights, fit, precision_note
from train.loop import export as export_weights
from train.runtime import add_device_argument, mixed_precision, start

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "faces_train"
CACHE = REPO / "runs" / "face_cache"
SCALES = (4, 8)
VAL_COUNT = 5
MODELS = ("face_sft_student_nokd", "face_sft_student", "face_teacher")
UTK_COUNT = 600


def _is_utk(name) -> bool:
    """A UTKFace chip (by its path under ``faces_train``)."""
    return "utkface" in str(name)


def _image_paths() -> list[Path]:
    return sorted(p for p in DATA.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))


def _utk_split(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """(the UTK_COUNT UTKFace chips used at 256 px, evenly spaced; the other chips)."""
    utk = [p for p in paths if _is_utk(p)]
    used = utk[::max(1, 1500 // UTK_COUNT)][:UTK_COUNT]
    return used, [p for p in utk if p not in set(used)]


def _faces() -> tuple[list[tuple[str, np.ndarray]], list[tuple[str, np.ndarray]]]:
    """(train, validation) faces as uint8 RGB at their training size (512 or 256)."""
    from PIL import Image

    if not DATA.is_dir():
        raise SystemExit(f"training faces not found at {DATA}")
    big, small = [], []
    paths = _image_paths()
    for p in [p for p in paths if not _is_utk(p)] + _utk_split(paths)[0]:
        im = Image.open(p).convert("RGB")
        name = str(p.relative_to(DATA))
        if min(im.size) >= 512:
            big.append((name, np.asarray(im.resize((512, 512), Image.BICUBIC))))
        else:
            small.append((name, np.asarray(im.resize((256, 256), Image.BICUBIC))))
    return big[VAL_COUNT:] + small, big[:VAL_COUNT]


def build_cache(log=print) -> Path:
    """GT, LR and base (face_basicvsr) of every face and scale, computed once (``runs/face_cache/*.npz``)."""
    from models import registry

    CACHE.mkdir(parents=True, exist_ok=True)
    base = registry.get("face_basicvsr")
    train, val = _faces()
    for split, faces in (("train", train), ("val", val)):
        for i, (name, gt) in enumerate(faces):
            dst = CACHE / f"{split}_{i:04d}.npz"
            if dst.is_file():
                continue
            _cache_rows(dst, name, gt, base)
            if i % 50 == 0:
                log(f"cached {split} {i + 1}/{len(faces)}")
    return CACHE


def _cache_rows(dst: Path, name: str, gt: np.ndarray, base) -> None:
    from PIL import Image

    size = gt.shape[0]
    rows = {"gt": gt}
    for s in SCALES:
        lr = np.asarray(Image.fromarray(gt).resize((size // s, size // s), Image.BICUBIC))
        rows[f"lr{s}"], rows[f"base{s}"] = lr, base.restore(lr, size)
    np.savez(dst, name=name, **rows)


def build_utk_native(count: int, log=print) -> list[dict]:
    """``count`` UTKFace chips at their own resolution (the central 192 px of the 200 px chip, never resampled:
    the 256 px versions above are soft upscales), with their bases (``runs/face_cache/utk192_*.npz``); the chips
    already among the 256 px ones are left out."""
    from PIL import Image

    from models import registry

    CACHE.mkdir(parents=True, exist_ok=True)
    paths = _utk_split(_image_paths())[1][:count]
    base = None
    for i, p in enumerate(paths):
        dst = CACHE / f"utk192_{i:04d}.npz"
        if dst.is_file():
            continue
        base = base or registry.get("face_basicvsr")
        im = np.asarray(Image.open(p).convert("RGB"))
        y, x = (im.shape[0] - 192) // 2, (im.shape[1] - 192) // 2
        _cache_rows(dst, str(p.relative_to(DATA)), np.ascontiguousarray(im[y:y + 192, x:x + 192]), base)
        if i % 100 == 0:
            log(f"cached native UTKFace {i + 1}/{len(paths)}")
    return load_cache("utk192")[:count]


def load_cache(split: str) -> list[dict]:
    return [dict(np.load(p)) for p in sorted(CACHE.glob(f"{split}_*.npz"))]


def batch(rows: list[dict], size: int, rng: np.random.Generator, crop: int = 256, with_boxes: bool = False):
    """(base, gt) float (B, 3, crop, crop): random faces and scales, 256 crops of the 512 faces, random flips; with
    ``with_boxes`` also the template part boxes (B, 4, 4) in each crop's pixels (the teacher's input)."""
    from models.face.teacher import template_boxes

    bases, gts, boxes = [], [], []
    for _ in range(size):
        r = rows[rng.integers(len(rows))]
        s = SCALES[rng.integers(len(SCALES))]
        gt, b = r["gt"], r[f"base{s}"]
        n = gt.shape[0]
        y, x = (int(rng.integers(0, n - crop + 1)), int(rng.integers(0, n - crop + 1))) if n > crop else (0, 0)
        gt, b = gt[y:y + crop, x:x + crop], b[y:y + crop, x:x + crop]
        if rng.random() < 0.5:  # the flipped crop is the crop of the flipped face at x' = n - crop - x; the
            gt, b = gt[:, ::-1], b[:, ::-1]  # template is mirror-symmetric, so its boxes are the same
            x = n - min(crop, n) - x
        boxes.append(template_boxes(n, (y, x)))
        gts.append(gt)
        bases.append(b)
    to = lambda a: torch.from_numpy(np.ascontiguousarray(np.stack(a))).permute(0, 3, 1, 2).float() / 255  # noqa
    return (to(bases), to(gts), torch.stack(boxes)) if with_boxes else (to(bases), to(gts))


def perceptual(net, out: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Mean over strides 2..16 of L1(EffNet(out) - EffNet(gt)) / mean |EffNet(gt)| (:func:`models.metrics.feature_l1`
    on the network's own feature extractor)."""
    from models.face.student import STRIDES
    from models.metrics import feature_l1

    return feature_l1(net._features[0], out, gt, STRIDES)


class Distillation(torch.nn.Module):
    """The frozen teacher and 1x1 adapters from the student's SFT maps to the teacher's (coarse to fine):
    L_kd = mean over taps of ||A(s) - t||^2 / mean(t^2)."""

    def __init__(self, teacher, student_widths, teacher_widths):
        super().__init__()
        teacher.eval()
        for q in teacher.parameters():
            q.requires_grad_(False)
        self.teacher = [teacher]  # frozen: not in this module's parameters or state_dict
        self.adapters = torch.nn.ModuleList(torch.nn.Conv2d(cs, ct, 1) for cs, ct in
                                            zip(student_widths[::-1], teacher_widths[::-1]))

    def forward(self, taps, base, boxes):
        with torch.no_grad():
            _, t_taps = self.teacher[0](base, with_taps=True, boxes=boxes)
        return sum(F.mse_loss(a(s).float(), t.float()) / (t.float().pow(2).mean() + 1e-6)
                   for a, s, t in zip(self.adapters, taps, t_taps)) / len(taps)


def loss_terms(net, base, gt, bf16: bool, w_mse: float = 100.0, w_perceptual: float = 20.0, boxes=None,
               kd: Distillation | None = None, w_kd: float = 1.0) -> dict[str, torch.Tensor]:
    """100 MSE + 20 perceptual (+ w_kd * feature L2 against the teacher's SFT maps when ``kd`` is given)."""
    zero = torch.zeros((), device=base.device)
    with mixed_precision(base.device, bf16):
        out, taps = net(base, with_taps=True, boxes=boxes)
        per = perceptual(net, out, gt) if w_perceptual else zero
        feat = kd(taps, base, boxes) if kd is not None else zero
    mse = F.mse_loss(out.float(), gt)
    return {"mse": mse, "base_mse": F.mse_loss(base, gt).detach(), "perceptual": per.float(), "kd": feat.float(),
            "loss": w_mse * mse + w_perceptual * per.float() + w_kd * feat.float()}


@torch.no_grad()
def validate(net, rows: list[dict], quality: bool = False, base_quality: dict | None = None) -> dict[str, float]:
    """PSNR at 512 (whole faces) of the network, its base and bicubic, per scale; with ``quality`` also
    FD-EffNetLite0 and the dlib identity distance of the network and its base (:mod:`models.metrics`). The base's
    do not change during a run: pass one dict as ``base_quality`` to every call to compute them once."""
    from PIL import Image

    from models import registry
    from models.metrics import psnr, quality_metrics
    from models.face.student import FaceNetRestorer

    was = net.training
    net.eval()
    restorer = FaceNetRestorer(net)
    res = {}
    gts = [r["gt"] for r in rows]
    for s in SCALES:
        outs = []
        for r in rows:
            restorer.base = _CachedBase(r[f"base{s}"])
            outs.append(restorer.restore(r[f"lr{s}"], 512))
        bases = [r[f"base{s}"] for r in rows]
        bic = [np.asarray(Image.fromarray(r[f"lr{s}"]).resize((512, 512), Image.BICUBIC)) for r in rows]
        res.update({f"{k}_x{s}": float(np.mean([psnr(o, g) for o, g in zip(v, gts)]))
                    for k, v in (("psnr", outs), ("base", bases), ("bicubic", bic))})
        if quality:
            cache = {} if base_quality is None else base_quality
            effnet = registry.get("efficientnet_lite0")
            if s not in cache:
                cache[s] = quality_metrics(bases, gts, net=effnet)
            for k, q in (("", quality_metrics(outs, gts, net=effnet)), ("base_", cache[s])):
                res[f"{k}fd_x{s}"] = q["fd_effnet"]
                if q["identity_dist"] is not None:
                    res[f"{k}id_dist_x{s}"] = q["identity_dist"]
    res["psnr"] = float(np.mean([res[f"psnr_x{s}"] for s in SCALES]))
    if quality:
        res["fd"] = float(np.mean([res[f"fd_x{s}"] for s in SCALES]))
    net.train(was)
    return res


def selection_score(v: dict, select: str) -> float:
    """Higher is better: the validation PSNR, or minus the mean FD-EffNetLite0 (``--select fd``)."""
    return v["psnr"] if select == "psnr" else -v["fd"]


class _CachedBase:
    def __init__(self, image):
        self.image = image

    def restore(self, face, out_size):
        return self.image


def load_teacher(source: str = ""):
    """The frozen teacher network from a run folder (``best.pt``), a .safetensors file or the registry."""
    from models import registry
    from models.weights import load_state_dict

    if not source:
        return registry.get("face_teacher").net
    net = registry.create("face_teacher", pretrained=False).net
    path = Path(source)
    if path.is_dir():
        state = best_weights(path)["model"]
    else:
        state = load_state_dict(path)
    net.load_state_dict({k: v.float() for k, v in state.items()})
    return net.eval()


def train(args) -> Path:
    from models import registry

    if args.utk_native and args.crop > 192:
        raise SystemExit("--utk-native adds 192 px faces: use --crop 192 or less")
    device = start(args.threads, args.seed, args.device)
    args.device = str(device)  # args.json records where the run computed
    run = Run(args.out, args.resume)
    build_cache(log=lambda m: print(m, flush=True))
    rows, val = load_cache("train"), load_cache("val")
    if args.hq_only:  # the 512 px faces only: the scale the benchmark and the app restore at
        rows = [r for r in rows if r["gt"].shape[0] >= 512]
    if args.no_utk:  # the aligned CelebA-HQ / FFHQ faces (512 and 256 px), not the soft UTKFace chips
        rows = [r for r in rows if not _is_utk(r["name"])]
    if args.utk_native:
        rows += build_utk_native(args.utk_native, log=lambda m: print(m, flush=True))
    net = registry.create(args.model, pretrained=False).net
    net.attach_features(registry.get("efficientnet_lite0"))
    if args.model == "face_teacher" and not run.resuming:  # the dictionaries: K-means over the HQ training faces
        net.build_dictionaries([r["gt"] for r in rows if not _is_utk(r["name"])],  # (not UTKFace), on the CPU
                               log=lambda m: print(m, flush=True))
    base_quality: dict = {}  # the base's FD / identity on the validation faces, computed at the first validation
    kd = None
    if args.model == "face_sft_student":
        teacher = load_teacher(args.teacher)
        kd = Distillation(teacher, net.decoder.widths, teacher.decoder.widths)
    for m in [net] + ([kd, kd.teacher[0]] if kd is not None else []):
        m.to(device)  # the shared EfficientNet-Lite0 follows the data (FaceStudent.features)
    if args.bf16:
        net = net.to(memory_format=torch.channels_last)
    params = list(net.parameters()) + (list(kd.parameters()) if kd is not None else [])
    opt = torch.optim.Adam(params, lr=args.lr, betas=(0.9, 0.999))
    run.write_args(args)
    print(f"{len(rows)} training faces, {len(val)} validation", flush=True)
    rng = DataRNG(lambda step: [args.seed, step])

    def batch_at(step):
        base, gt, boxes = batch(rows, args.batch, rng.gen, crop=args.crop, with_boxes=True)
        return base.to(device), gt.to(device), boxes  # the part boxes stay on the CPU: they are slice bounds

    def loss(b, step):
        return loss_terms(net, b[0], b[1], args.bf16, args.w_mse, args.w_perceptual, b[2], kd, args.w_kd)

    recipe = Recipe(model=net, opt=opt, batch=batch_at, loss=loss,
                    validate=lambda: validate(net, val, args.quality, base_quality),
                    score=lambda v: selection_score(v, args.select), extra={"kd": kd} if kd is not None else {},
                    data_state=rng.state, load_data_state=rng.load)
    fit(run, recipe, args.steps, log_every=args.log_every, val_every=args.val_every, time_limit=args.time_limit,
        desc="face")
    return run.dir


def export(args) -> Path:
    """best.pt as weights/<ID>.safetensors (or FILE), fp16 when validation PSNR moves <= 0.01 dB."""
    from models import registry
    from models.weights import WEIGHTS_DIR

    start(args.threads, args.seed, args.device)
    out = Path(args.out)
    best = best_weights(out)
    net = registry.create(args.model, pretrained=False).net
    val = load_cache("val")

    def evaluate(state):
        net.load_state_dict(state)
        return validate(net, val, quality=args.quality)

    dst = Path(args.export) if args.export.endswith(".safetensors") else WEIGHTS_DIR / f"{args.export}.safetensors"
    info = export_weights(best["model"], dst, evaluate, lambda v: v["psnr"], tolerance=0.01,
                          metadata={"step": best["step"]})
    v = info["val_fp16"] if info["dtype"] == "fp16" else info["val_fp32"]
    (out / "export.json").write_text(json.dumps({"step": best["step"], "dtype": info["dtype"], "val_fp16": v,
                                                 "precision": precision_note(info)}, indent=1))
    print(json.dumps({"export": str(dst), "step": best["step"], "dtype": info["dtype"], "val": v,
                      "val_rows": len(Run(out, resume=True).rows())}, indent=1))
    return dst


def parse(argv=None):
    ap = argparse.ArgumentParser(prog="python -m train.face", description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--w-mse", type=float, default=100.0)
    ap.add_argument("--w-perceptual", type=float, default=20.0)
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast + channels_last")
    add_device_argument(ap)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-limit", type=float, default=0)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--val-every", type=int, default=250)
    ap.add_argument("--model", default="face_sft_student_nokd", choices=MODELS,
                    help="face_teacher (dictionaries built first), face_sft_student (distilled from --teacher) or "
                         "face_sft_student_nokd (no teacher; with --w-perceptual 20 --select fd: "
                         "face_student_perceptual's recipe). The blind face_student: python -m train.face_blind")
    ap.add_argument("--teacher", default="", help="the teacher's run folder (its best.pt) or a .safetensors file; "
                                                  "empty: the bundled face_teacher weights")
    ap.add_argument("--w-kd", type=float, default=1.0, help="weight of the feature L2 against the teacher")
    ap.add_argument("--out", default="runs/face_sft_student_nokd")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--hq-only", action="store_true", help="train on the 512 px HQ faces only")
    ap.add_argument("--no-utk", action="store_true", help="leave out the UTKFace chips (200 px, soft)")
    ap.add_argument("--utk-native", type=int, default=0, metavar="N",
                    help="add N more UTKFace chips at their own resolution (192 px centres; needs --crop 192 or less)")
    ap.add_argument("--crop", type=int, default=256, help="training crop side (default 256)")
    ap.add_argument("--cache-only", action="store_true", help="build runs/face_cache and stop")
    ap.add_argument("--quality", action="store_true",
                    help="validate FD-EffNetLite0 and the dlib identity distance too (models.metrics; "
                         "implied by --select fd)")
    ap.add_argument("--select", default="psnr", choices=("psnr", "fd"),
                    help="what best.pt keeps: the highest validation PSNR or the lowest FD-EffNetLite0")
    ap.add_argument("--export", metavar="ID|FILE", help="write best.pt as fp16 weights/<ID>.safetensors, or to FILE "
                    "(*.safetensors; load it with FRAMEFORGE_<MODEL>_CKPT)")
    args = ap.parse_args(argv)
    args.quality = args.quality or args.select == "fd"  # selecting by FD needs it measured
    return args


def main(argv=None) -> None:
    args = parse(argv)
    if args.cache_only:
        build_cache()
        return
    if args.steps > 0:
        train(args)
    if args.export:
        export(args)


if __name__ == "__main__":
    main()
