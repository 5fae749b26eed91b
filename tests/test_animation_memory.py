"""Animations stream to the file one frame at a time: the memory of writing one is flat in its
number of frames, for GIF, APNG and WebP. Pillow keeps its images' pixels outside Python's
allocator, so the peak resident memory of a fresh process is compared (and Python's own peak,
through tracemalloc, which sees the encoded bytes)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json, resource, sys, tracemalloc
import numpy as np
from explorer.engine import make_model
from explorer.app.cell_view import cell_view
from explorer.figures.animation import _ensure_gui_app, write_animation
T, path = int(sys.argv[1]), sys.argv[2]
_ensure_gui_app()
trace = make_model("lstm", 1, 4, 1, seed=0).forward(np.sin(np.arange(T) / 5.0)[None, :, None])
tracemalloc.start()
write_animation((trace, cell_view("lstm")), path, fps=10)
print(json.dumps({"rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "traced": tracemalloc.get_traced_memory()[1]}))
"""


def peak(T, path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen", OPENBLAS_NUM_THREADS="1")
    res = subprocess.run([sys.executable, "-c", SCRIPT, str(T), str(path)], capture_output=True, text=True,
                         env=env, timeout=600, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("ext, short, long", [("png", 15, 75), ("gif", 15, 75), ("webp", 10, 40)])
def test_memory_is_flat_in_the_number_of_frames(tmp_path, ext, short, long):
    a, b = peak(short, tmp_path / f"a.{ext}"), peak(long, tmp_path / f"b.{ext}")
    frame = 1200 * 750                                     # pixels of one frame
    # keeping the extra frames would cost (long − short) × frame bytes even at one byte a pixel
    assert b["rss"] - a["rss"] < 16 * 2**20 < (long - short) * frame
    assert b["traced"] - a["traced"] < 2 * 2**20
    with Image.open(tmp_path / f"b.{ext}") as im:
        assert im.n_frames == long and im.size == (1200, 750)
        im.seek(long - 1)
        last = np.asarray(im.convert("RGB"), dtype=np.int16)
        assert im.info["duration"] == 100
        im.seek(long - 2)
        assert np.abs(last - np.asarray(im.convert("RGB"), dtype=np.int16)).sum() > 0
