"""Output-time resampling, midpoint recursion and scene cuts (models/pipelines/timing.py)."""
from fractions import Fraction

import numpy as np
import pytest

from models.pipelines.timing import Resampler, interpolate_at, is_scene_cut, snap_dyadic


def test_resampler_24_to_60_is_even_and_complete():
    src = [i / 24 for i in range(25)]  # one second at 24 fps
    r = Resampler(60, start=0.0)
    times = []
    for a, b in zip(src, src[1:]):
        times += [a + t * (b - a) for t in r.fractions(a, b)]
    assert r.last(src[-1])
    times.append(src[-1])
    assert len(times) == 61
    np.testing.assert_allclose(np.diff(times), 1 / 60, atol=1e-9)


def test_resampler_factor_two_gives_halves_and_handles_vfr():
    r = Resampler(2.0)
    assert r.fractions(0.0, 1.0) == [0.0, 0.5]
    # variable frame rate: a long gap gets more output frames, evenly timed
    r = Resampler(10.0)
    assert len(r.fractions(0.0, 0.1)) == 1 and len(r.fractions(0.1, 0.5)) == 4
    assert r.fractions(0.5, 0.5) == []  # duplicate timestamps
    with pytest.raises(ValueError):
        Resampler(0)


def test_snap_dyadic():
    assert snap_dyadic(0.4) == Fraction(3, 8)
    assert snap_dyadic(0.5, 1) == Fraction(1, 2)
    assert snap_dyadic(-1) == 0 and snap_dyadic(2) == 1


class Mid:
    """A midpoint-only 'model' on constant images: the mean, so frame(t) has value t * 80."""
    arbitrary_t = False

    def __init__(self):
        self.calls = 0

    def interpolate(self, a, b, ts):
        assert list(ts) == [0.5]
        self.calls += 1
        return [((a.astype(np.float64) + b) / 2).astype(np.float64)]


def test_midpoint_recursion_reaches_dyadic_times_with_few_calls():
    a, b = np.zeros((2, 2, 3)), np.full((2, 2, 3), 80.0)
    model = Mid()
    frames, made = interpolate_at(model, a, b, [0.125, 0.75, 0.4], depth=3)
    assert made == [0.125, 0.75, 0.375]
    for f, t in zip(frames, made):
        np.testing.assert_allclose(f, 80 * t)
    assert model.calls == 5  # 1/2, 1/4, 1/8, 3/4, 3/8 — only the nodes on the paths


def test_arbitrary_t_model_is_called_once_for_inner_times():
    class Lin:
        arbitrary_t = True
        calls = 0

        def interpolate(self, a, b, ts):
            Lin.calls += 1
            return [a * (1 - t) + b * t for t in ts]

    a, b = np.zeros(3), np.ones(3)
    frames, made = interpolate_at(Lin(), a, b, [0.0, 0.3, 0.7])
    assert Lin.calls == 1 and made == [0.0, 0.3, 0.7]
    assert frames[0] is a and np.allclose(frames[2], 0.7)


def test_scene_cut_detection():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:120, 0:160]
    scene_a = np.stack([(x * 1.5) % 256, (y * 2) % 256, np.full_like(x, 60)], -1).astype(np.uint8)
    moved = np.roll(scene_a, 6, axis=1)
    scene_b = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8) // 4 + np.array([180, 20, 200], np.uint8) // 2
    assert not is_scene_cut(scene_a, moved)
    assert is_scene_cut(scene_a, scene_b)
