"""Labelled runs are versioned run folders trained by the one training driver: resume bit for bit,
divergence rolled back with exit 3, damage and changed data refused in one sentence."""

import json

import numpy as np
import pytest

from explorer.app.labelled import LabelledRun, is_labelled_run
from explorer.cli import main
from explorer.runs.folder import RunFileError


def weights(folder):
    with np.load(folder / "model.npz") as z:
        return {k: z[k] for k in z.files}


def ucr(tmp_path, name="Toy_TRAIN.tsv", n=40, T=12, seed=0):
    rng = np.random.default_rng(seed)
    lines = []
    for k in range(n):
        label = k % 2
        x = rng.standard_normal(T) + (2.0 if label else -2.0) * (np.arange(T) == T // 2)
        lines.append(f"{'up' if label else 'down'}\t" + "\t".join(f"{v:.5f}" for v in x))
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def test_a_resumed_labelled_run_continues_bit_for_bit(tmp_path, capsys):
    common = ["--example", "find-the-marker", "--units", "6", "--no-plots", "--quiet"]
    whole, part = tmp_path / "whole", tmp_path / "part"
    assert main(["train", *common, "--epochs", "3", "--out", str(whole)]) == 0
    assert main(["train", *common, "--epochs", "2", "--out", str(part)]) == 0
    assert is_labelled_run(part) and (part / ".current").is_symlink()         # a versioned run folder
    assert main(["train", "--resume", str(part), "--epochs", "1", "--quiet", "--no-plots"]) == 0
    a, b = weights(whole), weights(part)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    hist = [line.split(",") for line in (part / "history.csv").read_text().splitlines()]
    assert [r[0] for r in hist[1:]] == ["1", "2", "3"]
    assert hist[1:] == [line.split(",") for line in (whole / "history.csv").read_text().splitlines()][1:]
    assert json.loads((part / "state.json").read_text())["step"] == 3 * 63
    run = LabelledRun.load(part)
    assert run.trainer.step == 189 and run.settings.units == 6 and run.model.pool == "attention"
    assert main(["train", "--resume", str(part), "--no-plots"]) == 2
    assert "has finished its 3 epochs; add --epochs E" in capsys.readouterr().err


def test_train_file_label_resume_continues_with_the_runs_own_settings(tmp_path, capsys):
    data = ucr(tmp_path, "toy.tsv")
    out = tmp_path / "run"
    assert main(["train", str(data), "--pool", "last", "--epochs", "1", "--units", "4", "--out", str(out),
                 "--no-plots", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["train", str(data), "--label", "0", "--resume", str(out), "--epochs", "1", "--no-plots"]) == 0
    err = capsys.readouterr().err
    assert "--resume continues with the run's own settings; ignoring --label." in err
    run = LabelledRun.load(out)
    assert run.trainer.epoch == 2 and run.model.pool == "last" and run.dataset.class_names == ["down", "up"]


def test_changed_data_and_damage_are_refused_in_one_sentence(tmp_path, capsys):
    data = ucr(tmp_path, "toy.tsv")
    out = tmp_path / "run"
    assert main(["train", str(data), "--pool", "attention", "--epochs", "1", "--units", "4", "--out", str(out),
                 "--no-plots", "--quiet"]) == 0
    ucr(tmp_path, "toy.tsv", seed=1)
    assert main(["train", "--resume", str(out), "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "run was saved (their SHA-256 differs)" in err and "--allow-changed-data" in err and "\n" not in err
    assert main(["train", "--resume", str(out), "--epochs", "1", "--allow-changed-data", "--quiet",
                 "--no-plots"]) == 0
    target = (out / "optimizer.npz").resolve()
    target.write_bytes(target.read_bytes()[:-3] + b"xyz")
    with pytest.raises(RunFileError, match="optimizer.npz is not the file this run saved"):
        LabelledRun.load(out)


def test_a_labelled_run_that_blows_up_is_rolled_back_and_exits_3(tmp_path, capsys):
    rng = np.random.default_rng(3)
    data = tmp_path / "values.tsv"
    data.write_text("".join(f"{rng.normal() * 100:.3f}\t" + "\t".join(f"{v:.4f}" for v in rng.normal(size=10)) + "\n"
                            for _ in range(40)), encoding="utf-8")
    out = tmp_path / "run"
    status = main(["train", str(data), "--task", "regression", "--optimizer", "sgd", "--lr", "10", "--clip", "0",
                   "--epochs", "30",
                   "--units", "8", "--out", str(out), "--no-plots"])
    err = capsys.readouterr().err
    assert status == 3, err
    assert "Training diverged at step" in err and "Back to the weights" in err, err
    run = LabelledRun.load(out)                            # the folder holds the kept weights, finite
    assert np.all(np.isfinite(run.model.params))
    assert np.isfinite(run.trainer.val_loss())


def test_the_windows_task_and_the_pool_comparison_use_the_same_divergence_guard(tmp_path):
    from explorer.app.labelled import (LabelledSettings, labelled_train_task, load_labelled_data,
                                       pool_comparison_task, pool_runs)
    from explorer.app.tasks import TaskState

    rng = np.random.default_rng(3)
    data = tmp_path / "values.tsv"
    data.write_text("".join(f"{rng.normal() * 100:.3f}\t" + "\t".join(f"{v:.4f}" for v in rng.normal(size=10)) + "\n"
                            for _ in range(40)), encoding="utf-8")
    ds = load_labelled_data(data, task="regression")
    wild = LabelledSettings(units=8, optimizer="sgd", lr=10.0, clip=None, epochs=30)
    run = LabelledRun(ds, wild)
    start = run.model.params.copy()
    views = []
    view = labelled_train_task(TaskState(on_partial=views.append), run)
    assert view.message.startswith("Training diverged at step 5: the loss reached")
    assert "Back to the weights training started from" in view.message
    assert np.array_equal(run.model.params, start) and run.trainer.step == 5
    assert views and all(np.isfinite(v.outputs).all() for v in views)
    runs = pool_runs(ds, wild)
    result = pool_comparison_task(TaskState(), runs, chunk=2)
    assert result.done and all(r.message.startswith("Training diverged") for r in runs.values())
    assert all(np.isfinite(r.model.params).all() for r in runs.values())


def test_the_window_opens_a_labelled_run_folder_and_saves_its_training_there(qtbot, tmp_path):
    pytest.importorskip("PySide6")
    import os
    import subprocess
    import sys

    from explorer.gui.attention_window import AttentionWindow

    out = tmp_path / "run"
    assert main(["train", "--example", "find-the-marker", "--units", "4", "--epochs", "1", "--out", str(out),
                 "--no-plots", "--quiet"]) == 0
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-m", "explorer", str(out), "--quit-after-paint"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    run = LabelledRun.load(out)
    win = AttentionWindow(run, folder=out)
    qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
    win.show()
    qtbot.waitUntil(lambda: win.view is not None and win.aux_worker is None, timeout=30000)
    with qtbot.waitSignal(win.sigFinished, timeout=120000) as fin:
        assert win.start()
    assert fin.args[0] is not None and fin.args[0].message == ""
    saved = LabelledRun.load(out)
    assert saved.trainer.epoch == run.trainer.epoch == 2 and saved.trainer.step == 2 * 63
    assert np.array_equal(saved.model.params, run.model.params)


@pytest.mark.parametrize("edit, words", [
    (lambda c: c["settings"].update(units=10**9), "config.json has model.units = 1000000000"),
    (lambda c: c["settings"].update(cell="transformer"), "model.cell = 'transformer', not one of"),
    (lambda c: c["settings"].update(pool="mean"), "settings.pool = mean, not one of last, attention"),
    (lambda c: c["settings"].update(lr="fast"), "model.lr"),
    (lambda c: c.update(data={"example": "adding"}), "does not say where the sequences came from"),
    (lambda c: c["data"].update(val_fraction="most"), "says how to read the sequences in a way"),
])
def test_forged_settings_are_refused_in_one_sentence(tmp_path, edit, words):
    import hashlib

    data = ucr(tmp_path, "toy.tsv")
    out = tmp_path / "run"
    assert main(["train", str(data), "--pool", "attention", "--epochs", "1", "--units", "3", "--out", str(out),
                 "--no-plots", "--quiet"]) == 0
    cfg_path, state_path = (out / "config.json").resolve(), (out / "state.json").resolve()
    cfg = json.loads(cfg_path.read_text())
    edit(cfg)
    cfg_path.write_text(json.dumps(cfg))
    state = json.loads(state_path.read_text())
    state["sha256"]["config.json"] = hashlib.sha256(cfg_path.read_bytes()).hexdigest()   # a forged, hashed edit
    state_path.write_text(json.dumps(state))
    with pytest.raises(RunFileError) as exc:
        LabelledRun.load(out)
    msg = str(exc.value)
    assert words in msg and "\n" not in msg and msg.endswith("."), msg
