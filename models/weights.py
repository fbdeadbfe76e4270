"""The one weight loader of FrameForge.

A model's weights come from, in this order:

1. a local file named by an environment variable (``WeightSource.env_var``), e.g. an official checkpoint;
2. a file bundled with the app under ``weights/`` (``WeightSource.bundled``);
3. a Hugging Face Hub repo/filename (``WeightSource.hub_repo`` / ``hub_filename``), fetched with ``huggingface_hub``
   (its cache, ``HF_HUB_OFFLINE`` and tokens apply). ``<ENV_VAR>_REPO`` overrides the repo id.

Only safe formats are read: safetensors, or ``torch.load(weights_only=True)`` for ``.pth``/``.pt``/``.ckpt``
(pickled code is refused). Official checkpoints wrapped as ``{'state_dict': ...}`` or ``{'params': ...}`` and
DataParallel ``module.`` prefixes are unwrapped.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


class WeightsUnavailable(RuntimeError):
    """No weights could be found; the message lists every place that was looked at."""


@dataclass(frozen=True)
class WeightSource:
    bundled: str | None = None  # file name under weights/
    env_var: str | None = None  # environment variable holding a local path
    hub_repo: str | None = None
    hub_filename: str | None = None

    def describe(self) -> list[str]:
        places = []
        if self.env_var:
            places.append(f"${self.env_var} (local file; now {os.environ.get(self.env_var) or 'unset'})")
        if self.bundled:
            places.append(f"bundled file {WEIGHTS_DIR / self.bundled}")
        repo = self.repo()
        if repo and self.hub_filename:
            places.append(f"Hugging Face Hub {repo}/{self.hub_filename}")
        return places

    def repo(self) -> str | None:
        if self.env_var and os.environ.get(f"{self.env_var}_REPO"):
            return os.environ[f"{self.env_var}_REPO"]
        return self.hub_repo

    def configured(self) -> bool:
        """True when some source could plausibly provide weights without a network round trip failing."""
        if self.env_var and os.environ.get(self.env_var):
            return True
        if self.bundled and (WEIGHTS_DIR / self.bundled).is_file():
            return True
        return bool(self.repo() and self.hub_filename)


def resolve(source: WeightSource) -> Path:
    """Return a local path for ``source`` or raise :class:`WeightsUnavailable` naming where it looked."""
    errors = []
    if source.env_var and os.environ.get(source.env_var):
        path = Path(os.environ[source.env_var]).expanduser()
        if path.is_file():
            return path
        errors.append(f"${source.env_var} points to {path}, which is not a file")
    if source.bundled:
        path = WEIGHTS_DIR / source.bundled
        if path.is_file():
            return path
        errors.append(f"no bundled file {path}")
    repo = source.repo()
    if repo and source.hub_filename:
        try:
            from huggingface_hub import hf_hub_download

            return Path(hf_hub_download(repo_id=repo, filename=source.hub_filename))
        except Exception as exc:  # offline, missing repo, auth...
            errors.append(f"Hub download of {repo}/{source.hub_filename} failed: {type(exc).__name__}: {exc}")
    if not errors:
        errors.append("no weight source is configured")
    raise WeightsUnavailable("weights not found; looked at: " + "; ".join(errors))


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state_dict from safetensors or a weights-only torch checkpoint, unwrapping common containers."""
    path = Path(path)
    if not path.is_file():
        raise WeightsUnavailable(f"weights file {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as exc:
            raise ValueError(f"{path} is not a valid safetensors file: {exc}") from exc
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ValueError(
                f"{path} could not be read as a weights-only checkpoint (pickled code is refused): {exc}"
            ) from exc
    for key in ("state_dict", "params", "params_ema", "model"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a state_dict of tensors")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


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
