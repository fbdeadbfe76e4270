"""The compression lab: structured pruning of a diffusers UNet (known answers, save/load round trips through the
registry), the FD metric, one fine-tuning step, the lab pipeline and tab, and the bundled teacher and students on
real digits (those skip without ../shared)."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from models import registry
from models.svs import apply_svs, spectrum
from models.svs import pruning as P
from bench.metrics import frechet_distance
from models.svs.mnist_net import MnistNet, features

torch.set_num_threads(1)
MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "gen" / "mnist" / "t10k-images-idx3-ubyte.gz"


def small_unet(time_embedding_norm: str = "default"):
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    return UNet2DModel(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16),
                       layers_per_block=1, down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                       up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=4, attention_head_dim=8,
                       resnet_time_scale_shift=time_embedding_norm).eval()


def run(model, x, t):
    with torch.no_grad():
        return model(x, t).sample


X = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(1))
T = torch.tensor([3, 700])


# -------------------------------------------------------------------------------------------------- pruning
def test_ratio_zero_keeps_the_function_and_widths_follow_the_groups():
    unet = small_unet()
    same, report = P.prune_unet(unet, 0.0, "l1")
    assert torch.equal(run(same, X, T), run(unet, X, T))
    assert report.params_after == report.params_before
    assert P.kept_width(64, 0.5, 8) == 32 and P.kept_width(64, 0.3, 8) == 48 and P.kept_width(32, 0.9, 8) == 8
    with pytest.raises(ValueError, match="ratio"):
        P.kept_width(64, 1.0, 8)


@pytest.mark.parametrize("norm", ["default", "scale_shift"])
def test_prune_save_load_round_trip_through_the_registry(tmp_path, norm):
    unet = small_unet(norm)
    pruned, report = P.prune_unet(unet, 0.5, "l1")
    assert all(w == report.widths_before[k] // 2 for k, w in report.widths_after.items())
    assert report.params_after < report.params_before and report.macs_after < report.macs_before
    assert P.count_params(unet) == report.params_before  # the input is not changed
    P.save_pruned(pruned, tmp_path / "p", {"ratio": 0.5}, half=False)
    config = json.loads((tmp_path / "p" / "config.json").read_text())
    assert config["_class_name"] == P.CLASS_NAME and config["resnet_widths"] == report.widths_after
    back = registry.create("ddpm_pruned", folder=tmp_path / "p")
    assert torch.equal(run(back, X, T), run(pruned, X, T))
    assert not any(p.suffix in (".pkl", ".bin", ".pt") for p in (tmp_path / "p").iterdir())


def test_pruned_folder_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        P.load_pruned(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        P.load_pruned(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"_class_name": "UNet2DModel"}))
    with pytest.raises(ValueError, match="not a FrameForge pruned UNet"):
        P.load_pruned(tmp_path)
    cfg = dict(small_unet().config)
    with pytest.raises(ValueError, match="multiple of 4"):
        P.build_pruned(cfg, {"down_blocks.0.resnets.0": 6})
    with pytest.raises(ValueError, match="does not have"):
        P.build_pruned(cfg, {"down_blocks.9.resnets.0": 4})


def _zero_channels(unet, dead_per_block: dict):
    """Zero every parameter of the given channels' groups (conv1 filter and bias, time_emb_proj rows, norm2
    weight and bias, conv2 input slice)."""
    with torch.no_grad():
        for name, block in P.resnet_blocks(unet).items():
            c = dead_per_block[name]
            for p in (block.conv1.weight, block.conv1.bias, block.norm2.weight, block.norm2.bias,
                      block.time_emb_proj.weight, block.time_emb_proj.bias):
                p[c] = 0
            block.conv2.weight[:, c] = 0


@pytest.mark.parametrize("method", ["taylor", "l1"])
def test_channels_with_zero_weights_score_zero_and_are_pruned_first(method):
    unet = small_unet()
    blocks = P.resnet_blocks(unet)
    dead = {n: list(range(1, b.conv1.out_channels, 2)) for n, b in blocks.items()}  # every odd channel
    _zero_channels(unet, dead)
    images = torch.rand(4, 1, 8, 8) * 2 - 1
    if method == "taylor":  # |w * dL/dw| is 0 wherever w is 0, whatever the gradient
        scores = P.taylor_importance(unet, images, timesteps=3, batch=4)
    else:
        scores = P.l1_importance(unet)
    for name, s in scores.items():
        assert torch.all(s[dead[name]] == 0), name
        alive = [c for c in range(len(s)) if c not in dead[name]]
        assert torch.all(s[alive] > 0), name
    _, report = P.prune_unet(unet, 0.5, method, images=images, timesteps=3, batch=4)
    assert all(report.kept[n] == [c for c in range(blocks[n].conv1.out_channels) if c not in dead[n]]
               for n in blocks)


def test_svs_on_a_pruned_model_takes_square_roots():
    pruned, _ = P.prune_unet(small_unet(), 0.5, "l1")
    w = P.resnet_blocks(pruned)["down_blocks.1.resnets.0"].conv1.weight.detach().clone()
    apply_svs(pruned, "ddpm")
    w2 = P.resnet_blocks(pruned)["down_blocks.1.resnets.0"].conv1.weight
    np.testing.assert_allclose(spectrum(w2), np.sqrt(spectrum(w)), rtol=1e-4)


def test_one_finetuning_step_lowers_the_loss():
    from train.svs_finetune import ddpm_scheduler, training_step

    unet = small_unet().train()
    pruned, _ = P.prune_unet(unet, 0.5, "l1")
    pruned.train()
    x0 = torch.rand(8, 1, 8, 8) * 2 - 1
    sched = ddpm_scheduler()

    def loss_on_fixed_batch():
        g = torch.Generator().manual_seed(5)
        noise = torch.randn(x0.shape, generator=g)
        t = torch.randint(0, 1000, (8,), generator=g)
        with torch.no_grad():
            return torch.nn.functional.mse_loss(pruned(sched.add_noise(x0, noise, t), t).sample, noise).item()

    before = loss_on_fixed_batch()
    opt = torch.optim.AdamW(pruned.parameters(), lr=1e-3)
    for _ in range(3):
        training_step(pruned, opt, x0, torch.Generator().manual_seed(5), sched)
    assert loss_on_fixed_batch() < before


# -------------------------------------------------------------------------------------------------- metric
def test_frechet_distance_known_answers():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 6))
    assert abs(frechet_distance(a, a)) < 1e-6
    shift = np.array([1.0, -2.0, 0, 0, 0.5, 0])
    assert frechet_distance(a, a + shift) == pytest.approx((shift ** 2).sum(), abs=1e-6)  # same covariance
    assert frechet_distance(a, 2 * a) > frechet_distance(a, 1.1 * a)
    with pytest.raises(ValueError, match="feature sets"):
        frechet_distance(a, a[:, :3])
    f = features(MnistNet(), torch.zeros(3, 1, 32, 32))
    assert f.shape == (3, 128) and f.dtype == np.float64


# -------------------------------------------------------------------------------------------------- the lab
def test_lab_compress_writes_a_loadable_zip_and_the_tab_reports(tmp_path, monkeypatch):
    pytest.importorskip("gradio")
    from models.pipelines import compress as lab

    unet = small_unet()
    result = lab.compress(unet, 0.5, "taylor", svs=True, archive=tmp_path / "m_p50.zip")
    assert result.svs is not None and result.model is not result.pruned
    with zipfile.ZipFile(result.archive) as zf:
        assert sorted(zf.namelist()) == ["m_p50/config.json", "m_p50/diffusion_pytorch_model.safetensors"]
        zf.extractall(tmp_path / "x")
    back = registry.create("ddpm_pruned", folder=tmp_path / "x" / "m_p50")
    assert torch.allclose(run(back, X, T), run(result.model, X, T), atol=2e-2)  # fp16 file
    for bad in (0.0, 0.95, "half", float("nan"), True):
        with pytest.raises(ValueError, match="ratio"):
            lab.check_ratio(bad)
    grids = lab.sample_grids({"a": unet, "b": result.pruned}, n=4, steps=2)
    assert grids["a"].shape == (2 + 1 * 10, 2 + 4 * 10, 3)  # one row of four 8x8 digits, 2-px gaps
    assert lab.labelled_row(grids).shape[1] > 2 * grids["a"].shape[1]

    monkeypatch.setenv("FRAMEFORGE_OUTPUT_DIR", str(tmp_path / "out"))
    monkeypatch.setenv("FRAMEFORGE_MODELS_DIRS", str(tmp_path))
    from demos import compression
    from models import settings

    settings.reload()
    unet.save_pretrained(tmp_path / "gen")
    stats, samples, spectra, archive, students = compression.compress(str(tmp_path / "gen"), 0.5, "l1", False)
    assert "| parameters |" in stats and "(no SVS)" in stats and students == []
    assert Path(samples).is_file() and Path(spectra).is_file() and zipfile.is_zipfile(archive)
    assert Path(archive).name.startswith("gen_pruned50_")
    import gradio as gr

    with pytest.raises(gr.Error, match="ratio"):
        compression.compress(str(tmp_path / "gen"), 2.0, "l1", False)
    with pytest.raises(gr.Error, match="method"):
        compression.compress(str(tmp_path / "gen"), 0.5, "random", False)


# ------------------------------------------------------------------------------------ bundled, on real digits
needs_mnist = pytest.mark.skipif(not MNIST.is_file(), reason="needs ../shared/data/gen/mnist")


@pytest.mark.slow  # sampling the bundled teachers
@needs_mnist
def test_bundled_classifier_and_teacher_draw_recognisable_digits():
    from bench.svs import load_digits
    from models.svs.generators import sample

    train, held = load_digits()
    net = registry.create("mnist_net")
    from train.mnist_net import read_idx_labels

    labels = torch.from_numpy(read_idx_labels(MNIST.with_name("t10k-labels-idx1-ubyte.gz")))[-500:]
    with torch.no_grad():
        assert (net(held).argmax(1) == labels).float().mean() >= 0.97
    teacher = registry.create("ddpm_mnist")
    digits = sample(teacher, n=32, steps=20, seed=0)
    with torch.no_grad():
        confidence = net(digits).softmax(1).max(1).values
    assert confidence.median() > 0.9  # the classifier is sure these are digits
    noise = torch.rand(32, 1, 32, 32) * 2 - 1
    ref = features(net, train[:2000])
    assert frechet_distance(features(net, digits), ref) < 0.2 * frechet_distance(features(net, noise), ref)


@pytest.mark.slow  # the SVS benchmark
@needs_mnist
def test_bench_svs_runs_end_to_end(tmp_path):
    from bench import svs

    out = tmp_path / "svs.json"
    assert svs.main(["--ratios", "0.5", "--steps", "2", "--eval-steps", "0,2", "--samples", "16",
                     "--ddim-steps", "2", "--calibration", "8", "--heldout", "50", "--threads", "1", "--json", str(out),
                     "--save", str(tmp_path / "students")]) == 0
    report = json.loads(out.read_text())
    assert report["lower_is_better"] is True and report["metric"].startswith("FD-MNISTNet, 16 samples")
    assert [(r["ratio"], r["init"]) for r in report["runs"]] == [(0.5, "plain"), (0.5, "svs")]
    assert all([s for s, _ in r["curve"]] == [0, 2] for r in report["runs"])
    # step 0: the same pruned weights, so only SVS differs
    assert report["runs"][0]["curve"][0][1] != report["runs"][1]["curve"][0][1]
    student = P.load_pruned(tmp_path / "students" / "ddpm_mnist_p50_svs")
    assert P.count_params(student) == report["runs"][1]["params"]


def test_bench_svs_summary_finds_when_svs_reaches_the_plain_final_value():
    from bench.svs import markdown, summarize

    report = {"runs": [
        {"ratio": 0.5, "init": "plain", "params": 10, "curve": [[0, 9.0], [100, 6.0], [200, 5.0], [400, 4.0]]},
        {"ratio": 0.5, "init": "svs", "params": 10, "curve": [[0, 12.0], [100, 5.0], [200, 3.9], [400, 3.5]]},
        {"ratio": 0.7, "init": "plain", "params": 8, "curve": [[0, 9.0], [100, 7.0], [200, 6.0], [400, 5.0]]},
        {"ratio": 0.7, "init": "svs", "params": 8, "curve": [[0, 9.5], [100, 8.0], [200, 7.0], [400, 6.0]]}]}
    rows = summarize(report)
    assert rows[0]["svs_steps_to_plain_final"] == 200 and rows[0]["fraction"] == 0.5
    assert rows[1]["svs_steps_to_plain_final"] is None and rows[1]["svs_final"] == 6.0
    table = markdown(report)
    assert "| 50% | 4.00 | 3.50 | step 200 | 50% |" in table
    assert "| 70% | 5.00 | 6.00 | never | — |" in table
    assert "| 50% | svs | 10 | 12.00 | 5.00 | 3.90 | 3.50 |" in table
