"""``lstm-explorer train FRAMES --cell convlstm``: a run folder that beats copying the last frame,
continues bit for bit, and refuses bad input in one sentence (exit 2)."""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest
from PIL import Image

from explorer.app.frames_run import FramesRun
from explorer.cli import main
from explorer.data.frames import moving_squares


def last_line(err: str, start: str) -> str:
    return next(line for line in reversed(err.splitlines()) if line.startswith(start))


def test_moving_squares_falls_below_the_copy_baseline(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--example", "moving-squares", "--cell", "convlstm", "--channels", "8", "--kernel", "5",
                 "--epochs", "1", "--loss", "mse", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "ConvLSTM with 8 channels, kernel 5×5: 7,232 layer + 9 head = 7,241 parameters" in err
    line = last_line(err, "next-frame MSE on the validation sequences")
    ours, copy = (float(v) for v in re.findall(r": ([0-9.e-]+)", line))
    assert copy == pytest.approx(0.0835, abs=0.001)          # 60 validation sequences of 16×16 squares
    assert ours < 0.6 * copy
    rows = list(csv.DictReader((out / "history.csv").read_text().splitlines()))
    assert len(rows) == 1 and float(rows[0]["prediction_mse"]) == pytest.approx(ours, rel=1e-3)
    assert float(rows[0]["val_loss"]) == pytest.approx(ours, rel=1e-3)          # mse: the loss is that MSE
    assert (out / "picture.png").stat().st_size > 10_000
    assert "run · validation sequence 1 · step 10 of 10" in (out / "picture.svg").read_text()


def frames_file(tmp_path):
    frames = moving_squares(12, 6, 8, np.random.default_rng(7))[:, :, 0]
    path = tmp_path / "squares.npy"
    np.save(path, (frames * 255).astype(np.uint8))
    return path


def test_frames_file_resumes_bit_for_bit(tmp_path, capsys):
    path = frames_file(tmp_path)
    common = ["--cell", "convlstm", "--channels", "3", "--kernel", "3", "--batch", "4", "--loss", "bce", "--quiet"]
    assert main(["train", str(path), *common, "--epochs", "2", "--out", str(tmp_path / "a")]) == 0
    assert main(["train", str(path), *common, "--epochs", "1", "--out", str(tmp_path / "b")]) == 0
    assert main(["train", "--resume", str(tmp_path / "b"), "--epochs", "1", "--quiet"]) == 0
    a, b = FramesRun.load(tmp_path / "a"), FramesRun.load(tmp_path / "b")
    assert (a.trainer.epoch, b.trainer.epoch, b.trainer.step) == (2, 2, 6)
    np.testing.assert_array_equal(a.model.params, b.model.params)
    assert a.dataset.loss == "bce" and a.model.n_units == 3 and a.model.kernel == 3
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path / "b")]) == 2
    assert "has finished its 2 epochs" in capsys.readouterr().err
    gif = tmp_path / "a.gif"
    assert main(["animate", str(tmp_path / "a"), "--unit", "2", "--sample", "1", "--out", str(gif)]) == 0
    assert capsys.readouterr().err.strip() == (f"wrote {gif}: 5 frames at 4 per second (validation sequence 1, "
                                               "channel 2, layer 0)")
    with Image.open(gif) as im:
        assert (im.n_frames, im.size) == (5, (1000, 640))
    assert main(["animate", str(tmp_path / "a"), "--unit", "3", "--out", str(gif)]) == 2
    assert "--unit 3 is not a channel of this ConvLSTM; choose 0 to 2" in capsys.readouterr().err


def test_gif_and_folder_train(tmp_path, capsys):
    frames = (moving_squares(1, 8, 12, np.random.default_rng(1))[0, :, 0] * 255).astype(np.uint8)
    imgs = [Image.fromarray(f, "L") for f in frames]
    imgs[0].save(tmp_path / "sq.gif", save_all=True, append_images=imgs[1:], duration=80, loop=0)
    folder = tmp_path / "pngs"
    folder.mkdir()
    for j, im in enumerate(imgs):
        im.save(folder / f"{j:03d}.png")
    for source in (tmp_path / "sq.gif", folder):
        out = tmp_path / f"run_{source.stem}"
        assert main(["train", str(source), "--cell", "convlstm", "--channels", "2", "--epochs", "1",
                     "--seq-len", "3", "--val-fraction", "0.45", "--out", str(out)]) == 0
        err = capsys.readouterr().err
        assert "1 training and 1 validation sequences of 3 frames of 12×12" in err
        run = FramesRun.load(out)
        np.testing.assert_array_equal(run.dataset.x_train[0, :, 0], frames[:3] / 255.0)


@pytest.mark.parametrize("argv,start", [
    (["--kernel", "4"], "lstm-explorer: --kernel must be odd ('same' padding keeps the frame size), not 4."),
    (["--channels", "0"], "lstm-explorer: --channels must be a whole number from 1 to 1024, not '0'."),
    (["--kernel", "17"], "lstm-explorer: --kernel must be a whole number from 1 to 15, not '17'."),
])
def test_bad_options_are_one_sentence(tmp_path, capsys, argv, start):
    path = frames_file(tmp_path)
    code = main(["train", str(path), "--cell", "convlstm", *argv, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and err.strip() == start
    assert not (tmp_path / "run").exists()


def test_bad_frames_and_run_folders_are_refused(tmp_path, capsys):
    np.save(tmp_path / "objects.npy", np.array([None, 1], dtype=object), allow_pickle=True)
    assert main(["train", str(tmp_path / "objects.npy"), "--cell", "convlstm", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lstm-explorer: objects.npy holds Python objects (a pickle)") and err.count("\n") == 0
    assert not (tmp_path / "r").exists()
    assert main(["train", str(frames_file(tmp_path)), "--peephole", "--out", str(tmp_path / "r")]) == 2
    assert "--peephole is for the convlstm cell" in capsys.readouterr().err
    run = tmp_path / "run"
    assert main(["train", str(frames_file(tmp_path)), "--cell", "convlstm", "--channels", "2", "--epochs", "1",
                 "--quiet", "--out", str(run)]) == 0
    model = run / ".current" / "model.npz"
    data = bytearray(model.read_bytes())
    data[-30] ^= 1
    model.write_bytes(bytes(data))
    assert main(["train", "--resume", str(run), "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lstm-explorer: ") and err.count("\n") == 0
    assert "run/model.npz is not the file this run saved (its SHA-256 differs)" in err


def test_init_fine_tunes_a_convlstm_file(tmp_path, capsys):
    from explorer.engine import make_model
    from explorer.interop import save_model

    path = frames_file(tmp_path)
    model = make_model("convlstm", n_inputs=1, n_units=4, n_outputs=1, kernel=5, seed=9)
    save_model(model, tmp_path / "m.safetensors")
    out = tmp_path / "run"
    assert main(["train", str(path), "--cell", "convlstm", "--init", str(tmp_path / "m.safetensors"), "--epochs", "1",
                 "--lr", "1e-9", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "m.safetensors: a ConvLSTM of 4 units over 1 input" in err
    run = FramesRun.load(out)
    assert (run.settings.channels, run.settings.kernel) == (4, 5)
    np.testing.assert_allclose(run.model.params, model.params, atol=1e-6)     # a tiny step from the file's weights
    assert main(["train", str(path), "--cell", "convlstm", "--init", str(tmp_path / "m.safetensors"),
                 "--kernel", "3", "--out", str(tmp_path / "r2")]) == 2
    assert "holds 5 for kernel but --kernel 3 asks for another model" in capsys.readouterr().err
    save_model(make_model("lstm", 1, 3, 1), tmp_path / "lstm.safetensors")
    assert main(["train", str(path), "--cell", "convlstm", "--init", str(tmp_path / "lstm.safetensors"),
                 "--out", str(tmp_path / "r3")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lstm-explorer: --init ") and "not a ConvLSTM" in err and err.count("\n") == 0
    assert not (tmp_path / "r2").exists() and not (tmp_path / "r3").exists()


def test_a_run_folder_asking_for_too_much_memory_is_refused(tmp_path, capsys, monkeypatch):
    import hashlib
    import json

    run = tmp_path / "run"
    assert main(["train", str(frames_file(tmp_path)), "--cell", "convlstm", "--channels", "2", "--epochs", "1",
                 "--quiet", "--out", str(run)]) == 0
    cur = run / ".current"
    cfg = json.loads((cur / "config.json").read_text())
    cfg["model"]["channels"] = 1000
    (cur / "config.json").write_text(json.dumps(cfg))
    state = json.loads((cur / "state.json").read_text())
    state["sha256"]["config.json"] = hashlib.sha256((cur / "config.json").read_bytes()).hexdigest()
    (cur / "state.json").write_text(json.dumps(state))
    monkeypatch.setenv("LSTM_EXPLORER_MEMORY_LIMIT", "50M")
    assert main(["train", "--resume", str(run), "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lstm-explorer: Training a ConvLSTM of 1000 channels") and "of memory" in err
    monkeypatch.setenv("LSTM_EXPLORER_MEMORY_LIMIT", "8G")
    assert main(["train", "--resume", str(run), "--epochs", "1"]) == 2     # the weights do not fit 1000 channels
    err = capsys.readouterr().err.strip()
    assert "is not a readable ConvLSTM run folder" in err and err.count("\n") == 0


def test_frames_examples_elsewhere_are_one_sentence(tmp_path, capsys):
    assert main(["compare", "--example", "moving-squares", "--kernel", "2", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip()          # a frames example compares ConvLSTMs (tests/test_frames_compare.py)
    assert err == "lstm-explorer: kernel 2 is even; kernels are odd ('same' padding keeps the frame size)."
    from explorer.gui.app import main as gui_main

    assert gui_main(["--example", "moving-digits"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lstm-explorer: --example moving-digits is frames for the convlstm cell") and err.count("\n") == 0


def test_resume_on_changed_frames_is_refused_unless_allowed(tmp_path, capsys):
    path = frames_file(tmp_path)
    run = tmp_path / "run"
    assert main(["train", str(path), "--cell", "convlstm", "--channels", "2", "--epochs", "1", "--quiet",
                 "--out", str(run)]) == 0
    frames = np.load(path)
    frames[0, 0, 0, 0] = 255 - frames[0, 0, 0, 0]
    np.save(path, frames)
    assert main(["train", "--resume", str(run), "--epochs", "1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "squares.npy changed since the run in" in err and "--allow-changed-data" in err and err.count("\n") == 0
    assert main(["train", "--resume", str(run), "--epochs", "1", "--quiet", "--allow-changed-data"]) == 0
    assert main(["train", "--resume", str(run), "--epochs", "1", "--quiet"]) == 0      # the new frames are the run's now
    assert FramesRun.load(run).trainer.epoch == 3
