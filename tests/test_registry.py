"""The model registry and the weight loader: lazy, cached, thread-safe, safe formats, clear failures."""
from __future__ import annotations

import threading

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
    assert registry.ids("vfi", available_only=True)[0] == "dis_flow"
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
