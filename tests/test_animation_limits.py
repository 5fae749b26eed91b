"""Animations at the ends of their ranges: every --fps the option takes (greater than 0, at most 100)
writes a file in every format, and the memory an animation is checked against is at least what
writing it takes (the animated PNG's estimate was 2.7× low)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from explorer.data.examples import load_example
from explorer.figures.animation import MAX_FRAME_MS, _bytes_needed, write_animation
from explorer.runs.store import ModelSettings, Run

ROOT = Path(__file__).resolve().parents[1]
T = 6


@pytest.fixture(scope="module")
def run():
    ds = load_example("adding", seq_len=T, n_train=32, n_val=4)
    return Run(ds, ModelSettings(cell="lstm", units=3, epochs=1, batch=16))


@pytest.mark.parametrize("ext", ["gif", "png", "webp"])
@pytest.mark.parametrize("fps", [1e-300, 0.001, 99.99, 100])
def test_every_fps_in_the_range_writes_every_format(run, tmp_path, ext, fps):
    path = write_animation(run, tmp_path / f"cell.{ext}", fps=fps)
    with Image.open(path) as im:
        assert im.n_frames == T
        duration = im.info.get("duration")
    want = MAX_FRAME_MS if fps < 1 else (10 if ext != "gif" else 20)
    if ext != "webp":                       # Pillow does not read a WebP's frame time back
        assert duration == want


MEASURE = r"""
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from explorer.data.examples import load_example
from explorer.figures import animation as A
from explorer.runs.store import ModelSettings, Run

def peak():
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) * 1024 for l in fh if l.startswith("VmHWM"))

run = Run(load_example("adding", seq_len=int(sys.argv[2]), n_train=32, n_val=4), ModelSettings(units=3, epochs=1))
A._ensure_gui_app()
A.write_animation(run, sys.argv[1] + ".gif", width=800)     # fonts, painters and Pillow loaded
before = peak()
A.write_animation(run, sys.argv[1], fps=4)
print(peak() - before)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak memory from /proc")
@pytest.mark.parametrize("ext", ["png", "webp", "gif"])
def test_the_memory_estimate_covers_what_writing_takes(tmp_path, ext):
    frames = 40
    p = subprocess.run([sys.executable, "-c", MEASURE, str(tmp_path / f"cell.{ext}"), str(frames)],
                       capture_output=True, text=True, timeout=300, cwd=ROOT,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert p.returncode == 0, p.stderr[-2000:]
    grown = int(p.stdout.split()[-1])
    estimate = _bytes_needed({"png": "PNG", "webp": "WEBP", "gif": "GIF"}[ext], frames, 1200, 750)
    assert grown <= estimate <= 3 * grown + 100e6, (grown, estimate)
