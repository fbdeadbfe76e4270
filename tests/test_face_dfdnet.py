"""DFDNet in the official layout (``models/face/dfdnet.py``): the checkpoint's key names and shapes, written here
from the official module definitions (csxmli2016/DFDNet ``models/networks.py`` UNetDictFace), load strictly; the
confidence-score selection has a known answer; the dictionaries load from the 16 ``.npy`` files without pickle."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.face.dfdnet import PARTS, SCALES, DFDNet, adain, select_entry

pytestmark = pytest.mark.usefixtures("one_thread")


def _sn(p, cin, cout, k=3):
    """torch.nn.utils.spectral_norm(nn.Conv2d): bias, weight_orig, and the power-iteration vectors u, v."""
    return [(f"{p}.bias", (cout,)), (f"{p}.weight_orig", (cout, cin, k, k)), (f"{p}.weight_u", (cout,)),
            (f"{p}.weight_v", (cin * k * k,))]


def _conv(p, cin, cout, k=3):
    return [(f"{p}.weight", (cout, cin, k, k)), (f"{p}.bias", (cout,))]


VGG_CONVS = [(0, 3, 64), (2, 64, 64), (5, 64, 128), (7, 128, 128), (10, 128, 256), (12, 256, 256), (14, 256, 256),
             (16, 256, 256), (19, 256, 512), (21, 512, 512), (23, 512, 512), (25, 512, 512), (28, 512, 512),
             (30, 512, 512), (32, 512, 512), (34, 512, 512)]  # torchvision vgg19().features conv indices


def official_layout() -> list[tuple[str, tuple]]:
    """UNetDictFace(ngf=64) as its state_dict: 16 AttentionBlocks, VGGFeat (the whole torchvision VGG19 with its
    classifier, the four slices aliasing its convs, RGB_mean / RGB_std parameters), MSDilateBlock(512, [4,3,2,1]),
    StyledUpBlock x4 (Blur buffers, SN convs), up4 (SN conv, two UpResBlocks of plain convs, a plain conv to RGB),
    and the unused ToRGB x4."""
    keys = []
    for f, c in zip((256, 128, 64, 32), (128, 256, 512, 512)):
        for p in ("le", "re", "no", "mo"):
            keys += _sn(f"{p}_{f}.0", c, c) + _sn(f"{p}_{f}.2", c, c)
    v = "VggExtract"
    keys += [(f"{v}.RGB_mean", (1, 3, 1, 1)), (f"{v}.RGB_std", (1, 3, 1, 1))]
    for i, cin, cout in VGG_CONVS:
        keys += _conv(f"{v}.model.features.{i}", cin, cout)
        if i < 35:
            keys += _conv(f"{v}.features.{0 if i < 8 else 1 if i < 17 else 2 if i < 26 else 3}.{i}", cin, cout)
    keys += [(f"{v}.model.classifier.0.weight", (4096, 25088)), (f"{v}.model.classifier.0.bias", (4096,)),
             (f"{v}.model.classifier.3.weight", (4096, 4096)), (f"{v}.model.classifier.3.bias", (4096,)),
             (f"{v}.model.classifier.6.weight", (1000, 4096)), (f"{v}.model.classifier.6.bias", (1000,))]
    for i in range(1, 5):
        keys += _sn(f"MSDilate.conv{i}.0", 512, 512) + _sn(f"MSDilate.conv{i}.2", 512, 512)
    keys += _sn("MSDilate.convi", 2048, 512)
    for i, (cin, cout) in enumerate(((512, 512), (512, 256), (256, 128), (128, 64))):
        p = f"up{i}"
        keys += [(f"{p}.conv1.0.weight", (cin, 1, 3, 3)), (f"{p}.conv1.0.weight_flip", (cin, 1, 3, 3))]
        keys += _sn(f"{p}.conv1.1", cin, cout) + _sn(f"{p}.convup.1", cout, cout)
        for m in ("ScaleModel1", "ShiftModel1"):
            keys += _sn(f"{p}.{m}.0", cin, cout) + _sn(f"{p}.{m}.2", cout, cout)
    keys += _sn("up4.0", 64, 64)
    for j in (2, 3):
        keys += _conv(f"up4.{j}.Model.0", 64, 64) + _conv(f"up4.{j}.Model.2", 64, 64)
    keys += _conv("up4.4", 64, 3)
    for i, c in enumerate((512, 256, 128, 64)):
        keys += _sn(f"to_rgb{i}.0", c, c) + _sn(f"to_rgb{i}.2", c, 3)
    return keys


def _params(layout):
    """Parameters as the checkpoint counts them: no u / v vectors, no Blur buffers, each VGG tensor once."""
    return sum(int(np.prod(s)) for k, s in layout if not k.endswith(("_u", "_v", "conv1.0.weight", "weight_flip"))
               and not k.startswith("VggExtract.features."))


def test_official_layout_loads_strictly():
    layout = official_layout()
    assert len({k for k, _ in layout}) == len(layout) == 386
    total = _params(layout)
    without_vgg = _params([(k, s) for k, s in layout if not k.startswith("VggExtract")])
    assert round(total / 1e6, 1) == 240.1 and round(without_vgg / 1e6, 2) == 96.45  # algorithms.md §5
    with torch.device("meta"):
        model = DFDNet()
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == dict(layout)
    assert sum(p.numel() for p in model.parameters()) == total
    state = {"module." + k: torch.empty(s, device="meta") for k, s in layout}  # a DataParallel save
    model.load_state_dict({k[7:]: v for k, v in state.items()}, strict=True, assign=True)
    model.load_official(state)
    del state["module.up4.4.weight"]
    with pytest.raises(RuntimeError, match="up4.4.weight"):
        model.load_official(state)


def test_vgg_slices_alias_one_network():
    with torch.device("meta"):
        model = DFDNet()
    vgg = model.VggExtract
    assert vgg.features[1]._modules["10"] is vgg.model.features[10]
    assert vgg.features[3]._modules["34"] is vgg.model.features[34]
    assert not any(p.requires_grad for p in vgg.parameters())


def test_confidence_selection_known_answer():
    """An entry that is the region up to a per-channel affine map becomes the region itself under AdaIN, so it has
    the largest inner product with it (Cauchy-Schwarz: every AdaIN'd entry has the region's per-channel norms)."""
    g = torch.Generator().manual_seed(0)
    region = torch.randn(1, 8, 5, 6, generator=g)
    entries = torch.randn(6, 8, 5, 6, generator=g)
    scale = torch.rand(1, 8, 1, 1, generator=g) + 0.5
    entries[4] = (region * scale + 3.0)[0]
    k, normed = select_entry(region, entries)
    assert k == 4
    torch.testing.assert_close(normed[4:5], region, atol=1e-4, rtol=1e-4)
    # AdaIN gives every entry the region's per-channel mean and std
    m = adain(entries, region)
    torch.testing.assert_close(m.mean((2, 3)), region.mean((2, 3)).expand(6, -1), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(m.flatten(2).std(2), region.flatten(2).std(2).expand(6, -1), atol=1e-3, rtol=1e-3)


def _write_dictionaries(folder, k=2):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for f in SCALES:
        for part in PARTS:
            shape = DFDNet.dictionary_shape(part, f, k)
            np.save(folder / f"{part}_{f}_center.npy", rng.standard_normal((k, int(np.prod(shape[1:])))).astype(
                np.float32))


def test_dictionaries_load_from_the_16_files_without_pickle(tmp_path):
    """Official sizes: eyes 80, nose 50, mouth 110 at 512, divided by 512 / f (eyes 40/20/10/5 ...)."""
    with torch.device("meta"):
        model = DFDNet()
    _write_dictionaries(tmp_path / "d")
    model.load_dictionaries(tmp_path / "d")
    assert model.dictionaries[256]["left_eye"].shape == (2, 128, 40, 40)
    assert model.dictionaries[128]["nose"].shape == (2, 256, 12, 12)
    assert model.dictionaries[32]["mouth"].shape == (2, 512, 6, 6)
    np.save(tmp_path / "d" / "nose_64_center.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="pickle"):
        model.load_dictionaries(tmp_path / "d")
    (tmp_path / "d" / "nose_64_center.npy").unlink()
    with pytest.raises(FileNotFoundError, match="nose_64_center.npy"):
        model.load_dictionaries(tmp_path / "d")


@pytest.mark.slow  # the 240 M-parameter DFDNet forward
def test_forward_on_an_aligned_face_with_boxes(tmp_path):
    """One aligned face through the restorer and the whole network (random weights, K = 2 dictionaries): the output's
    shape; the parts' injection changes only the part regions of a feature map; bad inputs are refused."""
    torch.manual_seed(0)
    model = DFDNet().eval()
    _write_dictionaries(tmp_path / "d")
    model.load_dictionaries(tmp_path / "d")
    boxes = torch.tensor([[[150, 200, 230, 280], [282, 200, 362, 280], [231, 250, 281, 320], [201, 330, 311, 420]]],
                         dtype=torch.float32)
    feat = torch.randn(1, 512, 32, 32)
    with torch.no_grad():
        out = model.inject(feat, boxes[0], 32)
    changed = (out != feat).any(1)[0]
    inside = torch.zeros(32, 32, dtype=torch.bool)
    for x1, y1, x2, y2 in (boxes[0] // 16).int().tolist():
        inside[y1:y2, x1:x2] = True
    assert changed.any() and not changed[~inside].any()
    from models.face.dfdnet import DFDNetRestorer

    face = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    restored = DFDNetRestorer(model).restore(face, 256)  # bicubic to 512, the whole network, back to 256
    assert restored.shape == (256, 256, 3) and restored.dtype == np.uint8 and restored.std() > 0
    with pytest.raises(ValueError, match="512x512"):
        model(torch.zeros(1, 3, 256, 256), boxes)
    with pytest.raises(ValueError, match="inside"):
        model(torch.zeros(1, 3, 512, 512), boxes - 200)


def test_template_boxes_sit_on_the_aligned_template_parts():
    """Each box is centred on its part of the FFHQ five-point template at 512 and as large as its dictionary."""
    from models.face.align import FFHQ_TEMPLATE_512 as t
    from models.face.dfdnet import PART_SIZES, TEMPLATE_BOXES_512

    centres = {"left_eye": t[0], "right_eye": t[1], "mouth": (t[3] + t[4]) / 2}
    for part, (x1, y1, x2, y2) in zip(PARTS, TEMPLATE_BOXES_512):
        assert x2 - x1 == y2 - y1 == PART_SIZES[part]
        if part in centres:
            assert np.abs(np.array([(x1 + x2) / 2, (y1 + y2) / 2]) - centres[part]).max() <= 1.5
    nose = TEMPLATE_BOXES_512[2]
    assert nose[0] < t[2][0] < nose[2] and (t[0][1] + t[2][1]) / 2 - 2 <= (nose[1] + nose[3]) / 2 <= t[2][1]


def test_registry_names_what_the_official_model_needs(tmp_path, monkeypatch):
    from models import registry
    from models.weights import WeightsUnavailable

    monkeypatch.delenv("FRAMEFORGE_DFDNET_CKPT", raising=False)
    assert "dfdnet_official" in registry.ids("face")
    assert "dfdnet_official" not in registry.ids("face", available_only=True)
    with pytest.raises(WeightsUnavailable, match="FRAMEFORGE_DFDNET_CKPT"):
        registry.create("dfdnet_official")
