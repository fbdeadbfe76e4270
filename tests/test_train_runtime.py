"""train.runtime: the training commands' --device and bf16 autocast."""
import pytest
import torch

from train.runtime import mixed_precision, training_device


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("FRAMEFORGE_DEVICE", "cuda")  # restored (removed) after the test; training_device overwrites it


def test_auto_is_the_cpu_without_a_gpu_and_validation_follows(no_gpu):
    from models.device import inference_device

    assert training_device("auto") == torch.device("cpu")
    assert inference_device() == torch.device("cpu")  # the inference code validation runs through: same device
    assert training_device("CPU ") == torch.device("cpu")


@pytest.mark.parametrize("name, reason", [("cuda", "no CUDA GPU is visible"), ("cuda:1", "no CUDA GPU is visible"),
                                          ("tpu", "use auto, cpu, cuda or cuda:N"),
                                          ("meta", "use auto, cpu, cuda or cuda:N")])
def test_unusable_device_stops_with_the_reason(no_gpu, name, reason):
    with pytest.raises(SystemExit, match=reason):
        training_device(name)


def test_bf16_autocast_on_the_device_of_the_data():
    conv = torch.nn.Conv2d(3, 4, 3)
    x = torch.rand(1, 3, 8, 8)
    with mixed_precision(x.device, True):
        assert conv(x).dtype == torch.bfloat16
    with mixed_precision(x.device, False):
        assert conv(x).dtype == torch.float32


@pytest.mark.parametrize("command", ["face", "vfi_aligned", "stvsr_trunk"])
def test_training_commands_take_the_device_first(no_gpu, tmp_path, command):
    """Each training command resolves --device before it reads data or makes its run folder: --device cuda on a
    machine without a GPU stops at once with the reason."""
    out = tmp_path / "run"
    with pytest.raises(SystemExit, match="no CUDA GPU is visible"):
        if command == "face":
            from train.face import parse, train

            train(parse(["--device", "cuda", "--out", str(out)]))
        elif command == "vfi_aligned":
            from train.vfi_aligned import parse, train

            train(parse(["--device", "cuda", "--out", str(out)]))
        else:
            from train.stvsr_trunk import main

            main(["train", "--device", "cuda", "--out", str(out)])
    assert not out.exists()
