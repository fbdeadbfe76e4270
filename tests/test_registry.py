"""The model registry and the weight loader: lazy, cached, thread-safe, safe formats, clear failures."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch
from torch import nn

from models import registry
from models.registry import ModelSpec
from models.weights import WeightSource, WeightsUnavailable, load_state_dict, save_safetensors


class Tiny(nn.Module):
    builds = 0

    def __init__(self):
        super().__init__()
        Tiny.builds += 1
        self.conv = nn.Conv2d(3, 4, 3)


@pytest.fixture
def tiny_spec(tmp_path, monkeypatch):
    """A registered model whose weights come from a local file named by an environment variable."""
    path = tmp_path / "tiny.safetensors"
    ref = Tiny()
    save_safetensors(ref.state_dict(), path, half=False)
    monkeypatch.setenv("FRAMEFORGE_TEST_TINY", str(path))
    spec = ModelSpec(id="test_tiny", task="test", build=Tiny, weights=WeightSource(env_var="FRAMEFORGE_TEST_TINY"))
    registry.register(spec)
    yield spec, ref
    registry.unload("test_tiny")
    registry._SPECS.pop("test_tiny")


def test_every_task_has_models_and_baselines_need_no_weights():
    for task in ("sr", "vfi", "stvsr", "face"):
        assert registry.ids(task, available_only=True), task
    assert registry.ids("vfi", available_only=True)[0] == "rife"  # the default first
    assert registry.default_id("vfi") == "rife"
    with pytest.raises(KeyError, match="unknown model"):
        registry.spec("no_such_model")


def test_loading_is_lazy_cached_and_thread_safe(tiny_spec):
    spec, ref = tiny_spec
    before = Tiny.builds
    assert not registry.is_loaded("test_tiny") and Tiny.builds == before  # registering builds nothing
    got = []
    threads = [threading.Thread(target=lambda: got.append(registry.get("test_tiny"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Tiny.builds == before + 1 and all(g is got[0] for g in got)
    assert torch.equal(got[0].conv.weight, ref.conv.weight) and not got[0].training


def test_missing_weights_name_every_place_looked(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("FRAMEFORGE_TEST_NONE", raising=False)
    spec = ModelSpec(id="test_offline", task="test", build=Tiny, label="Offline model",
                     weights=WeightSource(env_var="FRAMEFORGE_TEST_NONE", bundled="nope.safetensors",
                                          hub_repo="nobody/nothing", hub_filename="w.safetensors"))
    registry.register(spec)
    try:
        with pytest.raises(WeightsUnavailable) as err:
            registry.get("test_offline")
        message = str(err.value)
        assert "Offline model" in message and "nope.safetensors" in message
        assert "nobody/nothing/w.safetensors" in message
        assert not registry.is_loaded("test_offline")
    finally:
        registry._SPECS.pop("test_offline")


def test_official_checkpoints_are_offered_only_when_configured(monkeypatch, tmp_path):
    monkeypatch.delenv("FRAMEFORGE_BFSTVSR_CKPT", raising=False)
    monkeypatch.delenv("FRAMEFORGE_BFSTVSR_CKPT_REPO", raising=False)
    assert "bfstvsr_official" in registry.ids("stvsr")
    assert "bfstvsr_official" not in registry.ids("stvsr", available_only=True)
    monkeypatch.setenv("FRAMEFORGE_BFSTVSR_CKPT", str(tmp_path / "bfstvsr.pth"))
    assert "bfstvsr_official" in registry.ids("stvsr", available_only=True)


class Payload:
    def __reduce__(self):
        return (print, ("pickled code ran",))


def test_checkpoints_are_read_without_unpickling_code(tmp_path):
    plain = tmp_path / "plain.pth"
    torch.save({"epoch": 3, "state_dict": {"module.w": torch.ones(2)}}, plain)
    assert list(load_state_dict(plain)) == ["w"]  # official wrappers and DataParallel prefixes are unwrapped
    evil = tmp_path / "evil.pth"
    torch.save({"w": torch.ones(1), "x": Payload()}, evil)
    with pytest.raises(ValueError, match="weights-only"):
        load_state_dict(evil)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="safetensors"):
        load_state_dict(broken)


def _point_weights_at_random(monkeypatch, tmp_path, model_id: str, state: dict, var: str) -> None:
    """Make ``model_id`` load ``state`` from a local file (as a user with their own weights would)."""
    path = tmp_path / f"{model_id}.safetensors"
    save_safetensors(state, path, half=False)
    monkeypatch.setenv(var, str(path))
    monkeypatch.setattr(registry.spec(model_id), "weights", WeightSource(env_var=var))


def test_cascade_is_available_with_its_interpolator_and_uses_it(monkeypatch, tmp_path):
    """lanczos+sf_adacof (retired: benchmarks only) is available only when sf_adacof's weights are, and its anchors
    are the Lanczos frames."""
    import numpy as np

    from models.baselines.resize import Lanczos
    from models.vfi.sf_adacof import build_sf_adacof

    monkeypatch.setattr(registry.spec("sf_adacof"), "weights", WeightSource(env_var="FRAMEFORGE_TEST_NONE"))
    monkeypatch.delenv("FRAMEFORGE_TEST_NONE", raising=False)
    assert "lanczos+sf_adacof" in registry.ids("stvsr", retired=True)
    assert "lanczos+sf_adacof" not in registry.ids("stvsr", available_only=True, retired=True)
    torch.manual_seed(0)
    _point_weights_at_random(monkeypatch, tmp_path, "sf_adacof", build_sf_adacof(width=0.5).state_dict(),
                             "FRAMEFORGE_TEST_SF")
    assert "lanczos+sf_adacof" in registry.ids("stvsr", available_only=True, retired=True)
    assert "lanczos+sf_adacof" not in registry.ids("stvsr", available_only=True)  # never offered
    try:
        model = registry.get("lanczos+sf_adacof")
        assert model.interpolator is registry.get("sf_adacof")
        rng = np.random.default_rng(0)
        f0 = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
        f1 = np.roll(f0, 2, axis=1)
        out = model.upscale_pair(f0, f1, [0.0, 0.5, 1.0], (48, 80))
        assert [o.shape for o in out] == [(48, 80, 3)] * 3
        np.testing.assert_array_equal(out[0], Lanczos().upscale(f0, (48, 80)))
        np.testing.assert_array_equal(out[2], Lanczos().upscale(f1, (48, 80)))
    finally:
        registry.unload("lanczos+sf_adacof")
        registry.unload("sf_adacof")


RETIRED_NO_WEIGHTS = ("adacof", "sf_adacof_aligned", "adacof_aligned", "bfstvsr_scratch")


def test_retired_ids_are_not_offered_and_say_why(capsys, tmp_path):
    """The retired ids (README, Retired) are in no tab, API or CLI choice; asking for one names the reason; the
    ones without weights still build untrained for training; the from-scratch sf_adacof still loads by id for the
    benchmarks; the official-checkpoint loaders stay offered."""
    import gradio as gr

    from bench.common import load_model as bench_load, resolve_models
    from demos.common import load_model, model_choices
    from frameforge.__main__ import main as cli

    offered = set(registry.ids())
    for mid in (*RETIRED_NO_WEIGHTS, "sf_adacof", "lanczos+sf_adacof", "bfstvsr_vfi"):
        assert mid not in offered
    assert {"sf_adacof_official", "adacof_official", "bfstvsr_official", "videoinr_official",
            "motif_official"} <= offered  # official layouts: offered once a checkpoint is given
    assert "sf_adacof" not in {i for _, i in model_choices("vfi")}
    assert "lanczos+sf_adacof" not in {i for _, i in model_choices("stvsr")}
    with pytest.raises(gr.Error, match="'sf_adacof' is retired .*below dis_flow"):
        load_model("vfi", "sf_adacof")
    videos = str(Path(__file__).resolve().parents[1] / "examples" / "videos")
    assert cli(["interpolate", videos, "-o", str(tmp_path / "out"), "--model", "adacof"]) == 2
    assert "'adacof' is retired" in capsys.readouterr().err
    for gone in ("bfstvsr_vfi", "bfstvsr_concat_scratch"):  # removed: nothing builds or loads them any more
        with pytest.raises(KeyError):
            registry.spec(gone)
    for mid in RETIRED_NO_WEIGHTS:
        assert not registry.spec(mid).available()
        with pytest.raises(WeightsUnavailable, match=f"{mid} is retired .*never shipped"):
            registry.create(mid)
        assert bench_load(mid, registry.spec(mid).task) is None
        assert "is retired" in capsys.readouterr().out  # the benchmark skips it and says why
    net = registry.create("adacof", pretrained=False, width=0.25)  # training still builds it
    assert sum(p.numel() for p in net.net.parameters()) > 0
    if registry.spec("sf_adacof").available():  # bench-only: bench.vfi's table quotes it
        assert "sf_adacof" in resolve_models(None, "vfi")
        assert registry.create("sf_adacof") is not None


def test_tab_defaults_follow_the_hardware(monkeypatch):
    """The Video SR tab opens on basicvsr+rife with an accelerator and on the fast lanczos+rife on a CPU."""
    from models import settings

    monkeypatch.setenv("FRAMEFORGE_DEVICE", "cpu")
    settings.reload()
    assert registry.default_id("stvsr") == "lanczos+rife" and registry.default_id("vfi") == "rife"
    monkeypatch.setenv("FRAMEFORGE_DEVICE", "cuda")
    settings.reload()
    assert registry.default_id("stvsr") == "basicvsr+rife"
    monkeypatch.delenv("FRAMEFORGE_DEVICE")
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")  # a ZeroGPU Space: the GPU comes with each call
    settings.reload()
    assert registry.default_id("stvsr") == "basicvsr+rife"
