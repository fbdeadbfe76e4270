"""train.loop (the one training harness) and train.checkpoint (the one checkpoint format), on a tiny recipe."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from train import checkpoint, loop


def _recipe(seed: int = 0, scores: list[float] | None = None, sched: bool = True) -> loop.Recipe:
    """y = x @ w_true + noise; batches from a numpy generator whose state the checkpoint carries; dropout in the
    model, so the torch generator matters too; a cosine scheduler. ``scores``: validation scores to hand out in
    turn (to test best/last) instead of minus the validation MSE."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.2), torch.nn.Linear(8, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sch = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20) if sched else None
    w_true = torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    val_x = torch.randn(32, 4, generator=torch.Generator().manual_seed(99))
    state = {"rng": None}

    def batch(step):
        x = torch.from_numpy(state["rng"].standard_normal((8, 4))).float()
        return x, x @ w_true

    def loss(b, step):
        x, y = b
        mse = torch.nn.functional.mse_loss(model(x), y)
        return {"loss": mse, "mse": mse.detach()}

    queue = list(scores) if scores is not None else None

    @torch.no_grad()
    def validate():
        model.eval()
        if queue is not None:
            return {"score": queue.pop(0)}
        return {"score": -torch.nn.functional.mse_loss(model(val_x), val_x @ w_true).item()}

    def data_state():
        return {"bit_generator": state["rng"].bit_generator.state}

    def load_data_state(d, step):
        state["rng"] = np.random.default_rng(seed)
        if d:
            state["rng"].bit_generator.state = d["bit_generator"]

    return loop.Recipe(model=model, opt=opt, batch=batch, loss=loss, validate=validate, score=lambda v: v["score"],
                       sched=sch, clip=1.0, data_state=data_state, load_data_state=load_data_state)


def _fit(folder, steps, resume=False, **kw):
    r = _recipe(**{k: kw.pop(k) for k in ("scores", "sched") if k in kw})
    return r, loop.fit(loop.Run(folder, resume=resume), r, steps, log_every=3, val_every=5, echo=lambda m: None, **kw)


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    whole, _ = _fit(tmp_path / "a", 20)
    _fit(tmp_path / "b", 10)
    half, res = _fit(tmp_path / "b", 20, resume=True)
    assert res.step == 20
    for (k, a), b in zip(whole.model.state_dict().items(), half.model.state_dict().values()):
        assert torch.equal(a, b), k  # bit-equal: data, dropout, Adam and the cosine all carried over
    assert torch.equal(torch.load(tmp_path / "a" / "best.pt", weights_only=True)["model"]["0.weight"],
                       torch.load(tmp_path / "b" / "best.pt", weights_only=True)["model"]["0.weight"])
    rows_a = [r for r in loop.Run(tmp_path / "a", resume=True).rows() if "mse" in r]
    rows_b = [r for r in loop.Run(tmp_path / "b", resume=True).rows() if "mse" in r]
    assert [r["step"] for r in rows_a] == [3, 6, 9, 12, 15, 18, 20]
    assert [r["step"] for r in rows_b] == [3, 6, 9, 10, 12, 15, 18, 20]  # the log goes on (10: the first run ended)


def test_a_fresh_run_starts_over_and_without_resume_ignores_last(tmp_path):
    _fit(tmp_path / "a", 10)
    _, res = _fit(tmp_path / "a", 5)  # no --resume: a new run in the same folder
    assert res.step == 5
    assert [r["step"] for r in loop.Run(tmp_path / "a", resume=True).rows() if "score" in r] == [0, 5]


def test_time_limit_validates_saves_and_stops(tmp_path):
    ticks = iter(range(0, 10_000, 30))  # each clock read: 30 s later
    r, res = _fit(tmp_path / "a", 1000, time_limit=2.0, clock=lambda: float(next(ticks)))
    assert res.stopped and 0 < res.step < 10
    ck = checkpoint.read_run(tmp_path / "a" / "last.pt")
    assert ck["step"] == res.step and ck["data"]["bit_generator"]["bit_generator"] == "PCG64"
    assert [r["step"] for r in loop.Run(tmp_path / "a", resume=True).rows() if "score" in r][-1] == res.step
    _, more = _fit(tmp_path / "a", res.step + 2, resume=True)
    assert more.step == res.step + 2 and not more.stopped


def test_best_and_last_are_chosen_by_validation(tmp_path):
    # validations at steps 0 (fresh run), 5, 10, 15, 20; the best score is at step 10
    r, res = _fit(tmp_path / "a", 20, scores=[0.1, 0.5, 0.9, 0.3, 0.2])
    best = torch.load(tmp_path / "a" / "best.pt", weights_only=True)
    assert (best["step"], best["score"], res.best_step, res.best) == (10, 0.9, 10, 0.9)
    last = checkpoint.read_run(tmp_path / "a" / "last.pt")
    assert (last["step"], last["best"], last["best_step"]) == (20, 0.9, 10)
    assert torch.equal(last["model"]["2.weight"], r.model.state_dict()["2.weight"])
    assert not torch.equal(best["model"]["2.weight"], last["model"]["2.weight"])


def test_old_checkpoint_formats_load_and_others_fail_clearly(tmp_path):
    r = _recipe(sched=False)
    r.load_data_state({}, 0)
    r.opt.zero_grad()
    r.loss(r.batch(0), 0)["loss"].backward()
    r.opt.step()
    # train.vfi / vfi_aligned / face before the common format: optimiser under "opt", no best_step (from best.pt)
    torch.save({"model": r.model.state_dict(), "opt": r.opt.state_dict(), "step": 7, "best": 31.5, "wall": 12.0,
                "kd": {}}, tmp_path / "last.pt")
    torch.save({"model": r.model.state_dict(), "step": 5, "psnr": 31.5}, tmp_path / "best.pt")
    fresh = _recipe(seed=1, sched=False)
    step, best, best_step, wall, data = checkpoint.resume_run(tmp_path / "last.pt", fresh.model, fresh.opt, None)
    assert (step, best, best_step, wall, data) == (7, 31.5, 5, 12.0, {})
    assert all(torch.equal(a, b) for a, b in zip(r.model.state_dict().values(), fresh.model.state_dict().values()))
    assert fresh.opt.state_dict()["state"][0]["step"] == r.opt.state_dict()["state"][0]["step"]
    # train.cleaner / stvsr_trunk: "optim" + "sched", tensors for the numbers
    torch.save({"model": r.model.state_dict(), "optim": r.opt.state_dict(), "sched": {"last_epoch": 3},
                "step": torch.tensor(3), "best": torch.tensor(1.5), "best_step": torch.tensor(2),
                "wall": torch.tensor(4.0)}, tmp_path / "old2.pt")
    assert checkpoint.read_run(tmp_path / "old2.pt")["best_step"] == 2
    # a bare state_dict as best.pt (train.face_blind before the common format)
    torch.save(r.model.state_dict(), tmp_path / "bare.pt")
    assert checkpoint.read_best(tmp_path / "bare.pt")["step"] == -1
    with pytest.raises(ValueError, match="not a resumable training checkpoint"):
        checkpoint.read_run(tmp_path / "bare.pt")
    with pytest.raises(ValueError, match="has a learning-rate scheduler but the checkpoint has none"):
        withsched = _recipe()
        checkpoint.resume_run(tmp_path / "last.pt", withsched.model, withsched.opt, withsched.sched)


def _fp16_sensitive():
    """y = (1 + 1e-3) x - x: fp16 rounds 1.001 to 1.0010 (1.0009765625), so the output moves by 2.3e-5 per unit."""
    net = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(1.001)
    x = torch.full((1, 1), 1000.0)

    def evaluate(state):
        net.load_state_dict(state)
        with torch.no_grad():
            return {"out": float(net(x)) - 1000.0}

    return net, evaluate


def test_export_writes_fp16_only_where_quality_holds(tmp_path):
    from models.weights import load_state_dict

    net, evaluate = _fp16_sensitive()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    info = loop.export(state, tmp_path / "loose.safetensors", evaluate, lambda v: v["out"], tolerance=0.1)
    assert info["dtype"] == "fp16" and info["fp16_delta"] == pytest.approx(1000 * (1.001 - 1.0009765625), rel=1e-2)
    assert load_state_dict(tmp_path / "loose.safetensors")["weight"].dtype == torch.float16
    info = loop.export(state, tmp_path / "tight.safetensors", evaluate, lambda v: v["out"], tolerance=0.001)
    assert info["dtype"] == "fp32" and load_state_dict(tmp_path / "tight.safetensors")["weight"].dtype == torch.float32
    assert "fp32: fp16 weights would move" in loop.precision_note(info)
    with pytest.raises(ValueError, match="fp16 export refused"):
        loop.export(state, tmp_path / "refused.safetensors", evaluate, lambda v: v["out"], tolerance=0.001, half=True)
    assert not (tmp_path / "refused.safetensors").exists()
    from safetensors import safe_open

    with safe_open(str(tmp_path / "tight.safetensors"), "pt") as fh:
        meta = fh.metadata()
    assert meta["dtype"] == "fp32" and float(meta["val_fp32"]) == pytest.approx(1.0, abs=1e-3)


def test_card_writer_layout(tmp_path):
    path = loop.write_card(tmp_path / "x.md", "x: a test", ["one", "two\n  more"], {"Data": "d", "Validation": "v"})
    assert path.read_text() == "# x: a test\n\n* one\n* two\n  more\n\n## Data\nd\n\n## Validation\nv\n"


def test_run_folder_args_and_log(tmp_path):
    run = loop.Run(tmp_path / "r")
    run.write_args({"a": 1, "p": tmp_path})
    run.log({"step": 1, "loss": 0.5})
    assert run.read_args() == {"a": 1, "p": str(tmp_path)}
    assert run.rows() == [{"step": 1, "loss": 0.5}]
    assert loop.Run(tmp_path / "r", resume=True).rows() == []  # --resume without a last.pt: a fresh log
    assert json.loads((tmp_path / "r" / "args.json").read_text())["a"] == 1
