"""One video source per job (issue 32): the probe reads the container's count, the head and the tail (not every
packet), the decode reuses the probe's container, and a tab request opens its source at most twice (decode +
audio) and probes it once; /compare likewise per model run."""
from __future__ import annotations

import pickle
from collections import Counter
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from models import video_io
from video_factory import AUDIO_RATE, make_test_video, pattern


def gop_video(path: Path, n_frames: int, gop: int = 10, bframes: int = 3, fps: int = 25, audio: bool = True) -> Path:
    """An H.264 mp4 with short GOPs and B-frames (so the packets come out of display order) and, optionally, an
    AAC tone."""
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.options = {"preset": "medium", "crf": "20", "g": str(gop), "bf": str(bframes),
                         "x264-params": "scenecut=0"}
        tone = None
        if audio:
            tone = out.add_stream("aac", rate=AUDIO_RATE)
            tone.layout = "mono"
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(pattern(i, 48, 64), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if tone is not None:
            t = np.arange(int(n_frames / fps * AUDIO_RATE)) / AUDIO_RATE
            frame = av.AudioFrame.from_ndarray((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None],
                                               format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = AUDIO_RATE, 0, Fraction(1, AUDIO_RATE)
            out.mux(tone.encode(frame))
            out.mux(tone.encode(None))
    return path


class Reads:
    """Counts, per file, the containers opened for reading and the probes (monkeypatched ``av.open`` and
    ``video_io._probe_container`` / ``probe_sequence``); ``marks`` splits the log into runs."""

    def __init__(self, monkeypatch):
        self.log: list[tuple[str, str]] = []
        real_open, real_probe, real_seq = av.open, video_io._probe_container, video_io.probe_sequence

        def counting_open(file, mode="r", *args, **kwargs):
            if mode == "r" and isinstance(file, (str, Path)):
                self.log.append(("open", str(Path(file).resolve())))
            return real_open(file, mode, *args, **kwargs)

        def counting_probe(container, path, name):
            self.log.append(("probe", str(Path(path).resolve())))
            return real_probe(container, path, name)

        def counting_seq(path, fps=None):
            self.log.append(("probe", str(Path(path).resolve())))
            return real_seq(path, fps)

        monkeypatch.setattr(av, "open", counting_open)
        monkeypatch.setattr(video_io, "_probe_container", counting_probe)
        monkeypatch.setattr(video_io, "probe_sequence", counting_seq)

    def mark(self, name: str) -> None:
        self.log.append(("mark", name))

    def count(self, path, log=None) -> Counter:
        key = str(Path(path).resolve())
        return Counter(kind for kind, p in (self.log if log is None else log) if p == key)

    def runs(self) -> list[list[tuple[str, str]]]:
        """The log split at the marks (the part before the first mark first)."""
        parts: list[list] = [[]]
        for entry in self.log:
            if entry[0] == "mark":
                parts.append([])
            else:
                parts[-1].append(entry)
        return parts


# ------------------------------------------------------------------------------------------------------ probe --
def _fields(info: video_io.VideoInfo) -> dict:
    return {k: v for k, v in info.__dict__.items() if k != "path"}


def test_probe_reads_the_head_and_the_tail_and_agrees_with_a_full_count(tmp_path, monkeypatch):
    """Where the container knows the frame count, the probe demuxes the first packets and those after the last key
    frame; its description equals the one made from every packet (count, duration, frame rate, variable timing),
    also for a header that understates the length by 125x."""
    from test_hardening import short_header

    clips = [gop_video(tmp_path / "gop.mp4", 200),
             make_test_video(tmp_path / "vfr.mp4", n_frames=90, fps=25, vfr=True, audio=False),
             short_header(gop_video(tmp_path / "long.mp4", 250, fps=10, audio=False), tmp_path / "lying.mp4")]
    monkeypatch.setattr(video_io, "PROBE_HEAD_PACKETS", 10**6)  # every packet, as before issue 32
    full = [video_io.probe(c) for c in clips]
    read = []
    real_scan, real_tail = video_io._scan_packets, video_io._tail_pts

    def scan(container, stream, limit=video_io.PROBE_MAX_PACKETS):
        out = real_scan(container, stream, limit)
        read.append(out[0])
        return out

    def tail(container, stream):
        out = real_tail(container, stream)
        read.append(len(out or ()))
        return out

    monkeypatch.setattr(video_io, "_scan_packets", scan)
    monkeypatch.setattr(video_io, "_tail_pts", tail)
    monkeypatch.setattr(video_io, "PROBE_HEAD_PACKETS", 40)
    for clip, before in zip(clips, full):
        read.clear()
        info = video_io.probe(clip)
        assert _fields(info) == _fields(before), clip.name
        if clip.name != "vfr.mp4":  # short GOPs: the head and the last GOP, not the 200-250 packets
            assert len(read) == 2 and sum(read) <= 40 + 12, (clip.name, read)
    assert full[1].variable_frame_rate and not full[0].variable_frame_rate
    assert full[2].duration == pytest.approx(25.0, abs=0.05) and full[2].frame_count == 250


def test_the_head_of_a_b_frame_stream_is_not_taken_for_variable_timing(tmp_path, monkeypatch):
    """Cut mid-stream, the head misses the reordered B-frames of its last packets: those are left out of the
    variable-rate judgement (without that, every long B-frame video was reported variable-rate)."""
    clip = gop_video(tmp_path / "b.mp4", 120, gop=30, bframes=3, audio=False)
    monkeypatch.setattr(video_io, "PROBE_HEAD_PACKETS", 23)
    assert not video_io.probe(clip).variable_frame_rate
    monkeypatch.setattr(video_io, "REORDER_SLACK", 0)
    assert video_io.probe(clip).variable_frame_rate  # the naive head judgement would be wrong


# ----------------------------------------------------------------------------------------------------- source --
@pytest.mark.parametrize("kind", ["bframes", "rotated", "vfr"])
def test_a_source_decodes_from_its_probe_with_one_open(tmp_path, monkeypatch, kind):
    """The probe's container, rewound, gives the frames a fresh decode gives (pixels, times, indices): one open for
    probe + decode, none for the audio of a silent clip."""
    clip = {"bframes": lambda: gop_video(tmp_path / "c.mp4", 40, audio=False),
            "rotated": lambda: make_test_video(tmp_path / "c.mp4", n_frames=9, rotation=90, audio=False),
            "vfr": lambda: make_test_video(tmp_path / "c.mp4", n_frames=15, vfr=True, audio=False)}[kind]()
    fresh = list(video_io.iter_frames(clip))
    reads = Reads(monkeypatch)
    with video_io.VideoSource(clip) as source:
        assert source.info.frame_count == len(fresh)
        got = list(source.frames())
        assert source.audio_from() is None
    assert reads.count(clip) == Counter(open=1, probe=1)
    assert [(f.time, f.index) for f in got] == [(f.time, f.index) for f in fresh]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(got, fresh))


def test_a_source_opens_the_file_again_when_the_rewind_is_refused(tmp_path, monkeypatch):
    clip = gop_video(tmp_path / "c.mp4", 20, audio=False)
    fresh = [f.image for f in video_io.iter_frames(clip)]
    monkeypatch.setattr(video_io, "_rewound", lambda container, first_pts: None)
    reads = Reads(monkeypatch)
    source = video_io.VideoSource(clip)
    assert source.info.frame_count == 20
    got = [f.image for f in source.frames()]
    assert reads.count(clip) == Counter(open=2, probe=1)
    assert all(np.array_equal(a, b) for a, b in zip(got, fresh)) and len(got) == 20


def test_a_source_pickles_without_its_container_and_is_not_probed_again(tmp_path, monkeypatch):
    clip = make_test_video(tmp_path / "c.mp4", n_frames=6, audio=True)
    source = video_io.VideoSource(clip)
    info = source.info
    copy = pickle.loads(pickle.dumps(source))
    source.close()
    reads = Reads(monkeypatch)
    assert copy.info == info and copy.audio_from() == str(clip)
    assert len(list(copy.frames())) == 6
    assert reads.count(clip) == Counter(open=1)  # decode only: the info travelled


# ------------------------------------------------------------------------------------------------------- tabs --
@pytest.fixture
def clip(tmp_path) -> Path:
    return make_test_video(tmp_path / "clip.mp4", n_frames=10, size=(48, 64), fps=10, audio=True)


def test_a_video_sr_request_opens_its_source_twice_and_probes_it_once(clip, monkeypatch):
    from demos import video_sr

    reads = Reads(monkeypatch)
    video, _, report, _, result = video_sr.video_sr(str(clip), 2.0, 0, 2, "lanczos+dis")
    assert reads.count(clip) == Counter(open=2, probe=1)  # probe + decode in one, the audio in the other
    assert "audio: copy" in report and video_io.probe(result).frame_count == 19


def test_an_interpolate_video_request_opens_its_source_twice_and_probes_it_once(clip, monkeypatch):
    from demos import interpolation

    reads = Reads(monkeypatch)
    video, report, result = interpolation.interpolate_video(str(clip), "factor", 2, 60, "blend")
    assert reads.count(clip) == Counter(open=2, probe=1)
    assert "audio: copy" in report and video_io.probe(result).frame_count == 19
    silent = make_test_video(clip.parent / "silent.mp4", n_frames=6, audio=False)
    interpolation.interpolate_video(str(silent), "target fps", 2, 20, "blend", True)  # a loop, no audio
    assert reads.count(silent) == Counter(open=1, probe=1)


def test_a_png_zip_request_probes_its_frames_once(tmp_path, monkeypatch):
    import zipfile

    from PIL import Image

    from demos import video_sr

    frames = tmp_path / "frames.zip"
    with zipfile.ZipFile(frames, "w") as z:
        for i in range(4):
            Image.fromarray(pattern(i, 32, 48)).save(tmp_path / f"{i}.png")
            z.write(tmp_path / f"{i}.png", f"f{i}.png")
    reads = Reads(monkeypatch)
    *_, result = video_sr.video_sr(None, 2.0, 0, 2, "lanczos+dis", frames_zip=str(frames), input_fps=8)
    assert reads.count(frames) == Counter(probe=1)
    assert video_io.probe(result).frame_count == 7


def test_a_compare_request_opens_the_clip_twice_per_model_run(clip, monkeypatch):
    """The source: probe + decode of its first seconds in one open, the audio in the other; the cut clip: probed
    once for both runs, each run opening it at most twice."""
    from demos import video_sr
    from models.pipelines import video_sr as pipeline

    reads = Reads(monkeypatch)
    real = pipeline.upscale_video

    def marked(*args, **kwargs):
        reads.mark("run")
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "upscale_video", marked)
    out_a, out_b, _, table = video_sr.compare(str(clip), 2, 0, 2, "lanczos+dis", "bicubic+dis", 0.5)
    before, *runs = reads.runs()
    assert reads.count(clip) == Counter(open=2, probe=1)
    assert len(runs) == 2
    clips = {p for kind, p in before + runs[0] + runs[1] if kind == "open"} - {str(clip.resolve())}
    clips -= {str(Path(out_a).resolve()), str(Path(out_b).resolve())}  # the results, read back for their frames
    (cut,) = clips
    assert [reads.count(cut, run)["open"] for run in runs] == [2, 2]  # decode + audio each
    assert sum(reads.count(cut, run)["probe"] for run in runs) == 1
    assert video_io.probe(out_a).frame_count == video_io.probe(out_b).frame_count == 9  # 0.5 s: 5 frames, x2
