"""The pre-cleaner: identity when untrained, side inputs, the cleaned pipelines, one training step."""
import numpy as np
import pytest
import torch

from models.clean.cleaner import Cleaner, CleanedUpscaler, PreCleaner, side_planes


def _frame(h=37, w=50, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_untrained_cleaner_is_the_identity():
    net = PreCleaner(width=16, blocks=2)
    x = torch.rand(2, 3, 37, 50)
    side = torch.from_numpy(np.stack([side_planes(np.full((3, 4), 30.0), "B", (37, 50))] * 2))
    assert torch.equal(net(x), x) and torch.equal(net(x, side), x)
    c = Cleaner(width=16, blocks=2)
    f = _frame()
    assert (c.clean(f) == f).all()
    assert (c.clean(f, qp=np.full((3, 4), 28.0), frame_type="P") == f).all()


def test_side_planes():
    s = side_planes(np.array([[51.0, 0.0]]), "I", (10, 20))
    assert s.shape == (3, 10, 20)
    assert s[0, :, :16].min() == 1.0 and s[0, :, 16:].max() == 0.0  # one QP per 16x16 macroblock
    assert (s[1] == 0.0).all() and (s[2] == 1.0).all()
    assert (side_planes(None, None, (4, 4)) == 0).all()  # unknown: m = 0
    with pytest.raises(ValueError, match="QP map"):
        side_planes(np.zeros((1, 1)), "P", (40, 40))


def test_a_trained_residual_changes_the_frame_and_odd_sizes_survive():
    c = Cleaner(width=8, blocks=1)
    torch.nn.init.constant_(c.net.tail.bias, 0.1)  # +0.1 on every pixel after the shuffle
    f = np.full((7, 9, 3), 100, np.uint8)
    out = c.clean(f)
    assert out.shape == f.shape and abs(int(out[3, 4, 0]) - round(100 + 25.5)) <= 1


def test_cleaned_upscaler_feeds_the_cleaned_frame_to_the_stream():
    class Recorder:
        def __init__(self):
            self.seen = []

        def upscale_stream(self, items, size):
            for frame, cut in items:
                self.seen.append((frame.copy(), cut))
                yield np.zeros(size + (3,), np.uint8)

    c = Cleaner(width=8, blocks=1)
    torch.nn.init.constant_(c.net.tail.bias, -0.2)
    rec = Recorder()
    up = CleanedUpscaler(c, rec)
    frames = [(_frame(seed=k), k == 1) for k in range(3)]
    outs = list(up.upscale_stream(iter(frames), (74, 100)))
    assert len(outs) == 3 and outs[0].shape == (74, 100, 3)
    assert [cut for _, cut in rec.seen] == [False, True, False]
    for (seen, _), (orig, _) in zip(rec.seen, frames):
        assert (seen.astype(int) <= orig.astype(int)).all() and (seen != orig).any()  # darkened: it was cleaned


def test_registry_reads_width_and_blocks_from_the_weights(tmp_path, monkeypatch):
    from models import registry
    from models.weights import save_safetensors

    net = PreCleaner(width=8, blocks=3)
    path = tmp_path / "c.safetensors"
    save_safetensors(net.state_dict(), path)
    monkeypatch.setenv("FRAMEFORGE_CLEANER_CKPT", str(path))
    from models.settings import reload

    reload()
    model = registry.create("cleaner")
    assert model.net.head.out_channels == 8 and len(model.net.body) == 3


def test_clean_pipelines_run_on_a_compressed_pair(tmp_path, monkeypatch):
    from models import degrade, registry
    from models.weights import save_safetensors

    if not registry.spec("rife").available():
        pytest.skip("RIFE weights unavailable")
    path = tmp_path / "c.safetensors"
    save_safetensors(PreCleaner(width=8, blocks=1).state_dict(), path)
    monkeypatch.setenv("FRAMEFORGE_CLEANER_CKPT", str(path))
    lr = degrade.compress([_frame(32, 48, k) for k in range(2)], 30).frames
    model = registry.create("clean+lanczos+rife")
    base = registry.create("lanczos+rife")
    a = model.upscale_pair(lr[0], lr[1], [0.0, 0.5, 1.0], (64, 96))
    b = base.upscale_pair(lr[0], lr[1], [0.0, 0.5, 1.0], (64, 96))
    assert len(a) == 3 and all((x == y).all() for x, y in zip(a, b))  # an identity cleaner changes nothing


def test_one_training_step_lowers_the_loss_on_its_batch():
    from train.cleaner import _tensors

    rng = np.random.default_rng(0)
    clean = rng.integers(0, 256, (4, 96, 96, 3), dtype=np.uint8)
    noisy = np.clip(clean.astype(int) + 15, 0, 255).astype(np.uint8)  # a brightness error to learn
    pool = {"clean": clean, "inp": noisy, "qp": np.full((4, 6, 6), 30.0, np.float32),
            "known": np.array([True, False, True, True]), "ftype": np.array(["I", "P", "B", "P"])}
    x, side, y = _tensors(pool, [0, 1, 2, 3], 64, rng, hide=0.5)
    assert x.shape == (4, 3, 64, 64) and side.shape == (4, 3, 64, 64) and y.shape == x.shape
    net = PreCleaner(width=8, blocks=1)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        loss = torch.sqrt((net(x, side) - y) ** 2 + 1e-6).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_cleaner_reads_the_side_data_a_coded_frame_carries():
    from models import degrade

    c = Cleaner(width=8, blocks=1)
    torch.nn.init.constant_(c.net.head.bias, 0.5)
    torch.nn.init.normal_(c.net.tail.weight, std=0.05)  # a residual that depends on the side planes
    dec = degrade.compress([_frame(32, 48, k) for k in range(3)], 30, side_data=True)
    coded = dec.coded()[2]
    blind = c.clean(np.asarray(coded).view(np.ndarray))
    told = c.clean(coded)
    assert (told == c.clean(dec.frames[2], qp=dec.qp[2], frame_type=dec.types[2])).all()
    assert (told != blind).any()


def test_the_video_pipeline_hands_the_decoders_qp_maps_to_the_cleaner(tmp_path, monkeypatch):
    """upscale_video decodes QP maps for a cleaned pipeline (and only for it) and the cleaner receives them."""
    from models import degrade, video_io
    from models.baselines.resize import Lanczos
    from models.baselines.two_stage import TwoStage
    from models.clean import cleaner as C
    from models.pipelines.video_sr import upscale_video

    src = tmp_path / "clip.mp4"
    src.write_bytes(degrade.encode([_frame(48, 128, k) for k in range(5)], 28))  # 128: a width encode does not pad
    frames = list(video_io.iter_frames(src, side_data=True))
    assert all(isinstance(f.image, degrade.CodedFrame) and f.image.qp.shape == (3, 8) for f in frames)
    assert not any(isinstance(f.image, degrade.CodedFrame) for f in video_io.iter_frames(src))

    class Hold:
        arbitrary_t = True

        def interpolate(self, a, b, ts):
            return [a.copy() for _ in ts]

    seen = []
    clean = C.Cleaner.clean
    monkeypatch.setattr(C.Cleaner, "clean", lambda self, f, qp=None, frame_type=None: (
        seen.append(getattr(f, "qp", None) is not None), clean(self, f, qp, frame_type))[1])
    cleaned = TwoStage(CleanedUpscaler(Cleaner(width=8, blocks=1), Lanczos()), Hold())
    assert cleaned.side_data and not TwoStage(Lanczos(), Hold()).side_data
    upscale_video(cleaned, str(src), str(tmp_path / "out.mp4"), 2.0, time_factor=1)
    assert len(seen) == 5 and all(seen)
