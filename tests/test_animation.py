"""Animations of the cell diagram: one frame per timestep, ≥ 800 px wide, the timestep on each frame."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explorer.data.examples import load_example
from explorer.engine import Interrupted, make_model
from explorer.app.cell_view import cell_view
from explorer.figures.animation import AnimationError, frame_image, write_animation
from explorer.app.cell_frame import belt_scale_of, frame_at
from explorer.figures.cell_canvas import FrameRenderer
from explorer.runs.store import ModelSettings, Run

ROOT = Path(__file__).resolve().parents[1]
T = 12


@pytest.fixture(scope="module")
def run():
    ds = load_example("adding", seq_len=T, n_train=64, n_val=8)
    r = Run(ds, ModelSettings(cell="lstm", units=4, epochs=2, lr=0.05, batch=32))
    for _ in r.trainer.steps():
        pass
    return r


def frames_of(path):
    with Image.open(path) as im:
        out = []
        for k in range(im.n_frames):
            im.seek(k)
            out.append(np.asarray(im.convert("RGB"), dtype=np.int16))
        return out, im.info.get("duration")


def direct(run, t, unit, sample=0, header=None):
    """The diagram of timestep t rendered directly (no animation writer)."""
    tr = run.model.forward(run.sample_pair(sample)[0])
    desc = cell_view("lstm")
    frame = frame_at(desc, tr, t, unit, sample=sample, belt_scale=belt_scale_of(desc, tr))
    if header is not None:
        frame.header = header
    return frame, np.asarray(frame_image(FrameRenderer(), frame), dtype=np.int16)


@pytest.mark.parametrize("ext", ["png", "webp", "gif"])
def test_one_frame_per_timestep_at_least_800_wide_each_the_diagram_of_its_step(run, tmp_path, ext):
    path = write_animation(run, tmp_path / f"cell.{ext}", sample=3, unit=2, fps=4)
    frames, duration = frames_of(path)
    assert len(frames) == T
    assert duration == 250
    h, w, _ = frames[0].shape
    assert w >= 800 and (w, h) == (1200, 750)
    for a, b in zip(frames, frames[1:]):
        assert np.abs(a - b).sum() > 0                       # every step draws something new
    for t in (0, 5, T - 1):
        frame, want = direct(run, t, unit=2, sample=3)
        assert f"t = {t + 1} / {T}" in frame.header and "sample 3" in frame.header and "unit 2 of 4" in frame.header
        got = frames[t]
        if ext == "gif":                                     # 256 colours a frame: close, nearest its own step
            err = np.abs(got - want).mean()
            assert err < 1.5
            assert err < np.abs(got - direct(run, (t + 1) % T, 2, 3)[1]).mean()
        else:                                                # lossless: the very pixels of the direct render
            assert np.array_equal(got, want)


def test_the_timestep_is_written_on_each_frame(run, tmp_path):
    path = write_animation(run, tmp_path / "cell.png", unit=0)
    frames, _ = frames_of(path)
    frame, plain = direct(run, 4, 0)
    assert frame.header.startswith("sample 0  \u00b7  t = 5 / 12")
    _, without = direct(run, 4, 0, header="")
    header_band = (slice(40, 72), slice(20, 600))          # where the header is written (logical 1200 wide)
    assert np.array_equal(frames[4], plain)
    assert not np.array_equal(frames[4][header_band], without[header_band])       # the text is there
    assert np.array_equal(frames[4][200:], without[200:])                          # and only there
    assert not np.array_equal(frames[4][header_band], frames[5][header_band])       # 5 / 12 then 6 / 12


def test_a_trace_from_the_session_animates_too(tmp_path):
    model = make_model("gru", 2, 3, 1, seed=4)
    x = np.random.default_rng(0).normal(size=(1, 7, 2))
    trace = model.forward(x)
    path = write_animation((trace, cell_view("gru"), model.state_dict()), tmp_path / "gru.webp", unit=1, fps=10)
    frames, duration = frames_of(path)
    assert len(frames) == 7 and duration == 100 and frames[0].shape[1] == 1200
    bi = make_model("lstm", 2, 3, 1, num_layers=2, bidirectional=True, seed=1).forward(x)
    path = write_animation((bi, "lstm"), tmp_path / "bi.gif", layer=1, direction=1)
    assert len(frames_of(path)[0]) == 7
    with pytest.raises(AnimationError, match=r"--layer 2 is outside the model's 2 layers \(0 to 1\)"):
        write_animation((bi, "lstm"), tmp_path / "x.gif", layer=2)
    with pytest.raises(AnimationError, match=r"--unit 3 is outside the layer's 3 units \(0 to 2\)"):
        write_animation((bi, "lstm"), tmp_path / "x.gif", unit=3)
    assert not (tmp_path / "x.gif").exists()


def test_an_interventions_held_gates_are_tagged_on_the_frames_where_they_are_held(tmp_path):
    from explorer.engine import Clamp

    model = make_model("lstm", 2, 3, 1, seed=4)
    x = np.random.default_rng(0).normal(size=(1, 6, 2))
    ivs = [Clamp("f", 1.0, units=[1], steps=range(2, 4)), Clamp("i", 0.0, units=[1], steps=range(2, 4))]
    trace = model.forward(x, interventions=ivs)
    source = (trace, cell_view("lstm"), model.state_dict())
    plain, _ = frames_of(write_animation(source, tmp_path / "plain.png", unit=1))
    held, _ = frames_of(write_animation(source, tmp_path / "held.png", unit=1, interventions=ivs))
    same = [np.array_equal(a, b) for a, b in zip(plain, held)]
    assert same == [True, True, False, False, True, True]         # the same trace: only the tags differ
    other, _ = frames_of(write_animation(source, tmp_path / "other.png", unit=0, interventions=ivs))
    assert all(np.array_equal(a, b) for a, b in zip(other, frames_of(write_animation(
        source, tmp_path / "other0.png", unit=0))[0]))              # unit 0 is not held: no tags


def test_interrupted_leaves_no_file_and_the_old_one_intact(run, tmp_path):
    target = tmp_path / "cell.gif"
    target.write_bytes(b"old")
    calls = []

    def interrupt():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(Interrupted):
        write_animation(run, target, interrupt=interrupt)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cell.gif"]


def test_replayed_epochs_animate(run, tmp_path):
    path = write_animation(run, tmp_path / "e0.png", epoch=0, unit=1)
    first, _ = frames_of(path)
    now, _ = frames_of(write_animation(run, tmp_path / "now.png", unit=1, note="replayed epoch 2"))
    last, _ = frames_of(write_animation(run, tmp_path / "e2.png", epoch=2, unit=1))   # the header names it
    assert not np.array_equal(first[3], now[3]) and np.array_equal(last[3], now[3])
    plain, _ = frames_of(write_animation(run, tmp_path / "plain.png", unit=1))
    assert not np.array_equal(plain[3], now[3])
    with pytest.raises(AnimationError, match="epoch 9 are not kept"):
        write_animation(run, tmp_path / "e9.png", epoch=9)


def test_the_command_line_writes_it_without_the_window_package(run, tmp_path):
    folder = tmp_path / "run"
    run.save(folder)
    out = tmp_path / "cell.gif"
    code = ("import sys\nfrom explorer.cli import main\n"
            f"rc = main(['animate', {str(folder)!r}, '--sample', '2', '--unit', '1', '--fps', '8', '--out', {str(out)!r}])\n"
            "gui = sorted(m for m in sys.modules if m.startswith('explorer.gui'))\n"
            "print(rc, gui)\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen", OPENBLAS_NUM_THREADS="1")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert res.stdout.strip() == "0 []", res.stderr
    assert res.stderr.strip() == f"wrote {out}: {T} frames of 1200\u00d7750 pixels at 8 per second (sample 2, unit 1)"
    frames, duration = frames_of(out)
    assert len(frames) == T and duration == 120          # GIF: hundredths of a second


@pytest.mark.parametrize("args, words", [
    (["--out", "cell.mp4"], "must end in .gif, .png (animated PNG) or .webp"),
    (["--out", "cell.gif", "--unit", "4"], "--unit 4 is outside the layer's 4 units (0 to 3)."),
    (["--out", "cell.gif", "--unit", "-1"], "--unit must be a whole number from 0 to 99999, not '-1'."),
    (["--out", "cell.gif", "--sample", "8"], "--sample 8 is outside the run's 8 validation samples (0 to 7)."),
    (["--out", "cell.gif", "--fps", "0"], "--fps must be a number greater than 0 and at most 100, not '0'."),
    (["--out", "cell.gif", "--fps", "nan"], "--fps must be a number greater than 0 and at most 100, not 'nan'."),
    (["--out", "cell.gif", "--layer", "1"], "--layer 1 is outside the model's 1 layer (0 to 0)."),
    (["--out", "cell.gif", "--direction", "reverse"], "--direction 1 is outside the model's 1 direction (0, forward)."),
    (["--out", "cell.gif", "--epoch", "7"], "--epoch 7: the run in"),
    (["--out", "nowhere/cell.gif"], "does not exist; create it or choose another."),
    ([], "the following arguments are required: --out"),
])
def test_bad_options_are_one_sentence_and_exit_2(run, tmp_path, capsys, monkeypatch, args, words):
    from explorer.cli import main

    folder = tmp_path / "run"
    run.save(folder)
    monkeypatch.chdir(tmp_path)
    assert main(["animate", str(folder), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("lstm-explorer: ") and err.endswith("."), err
    assert words in err
    assert not [p for p in tmp_path.iterdir() if p.suffix in (".gif", ".mp4")]
