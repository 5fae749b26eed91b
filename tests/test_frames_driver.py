"""ConvLSTM runs train through the one training driver (explorer.app.tasks.train_task): the same
"diverged" (rollback, exit 3) on the command line and in the window's task, an epoch report and a
checkpoint after every epoch."""

from __future__ import annotations

import numpy as np

from explorer.app.frames_run import EpochReport, FramesRun, FrameSettings, train_frames_task
from explorer.app.tasks import TaskState, TrainingUpdate
from explorer.cli import main
from explorer.data.frames import load_frames_dataset, moving_squares, prediction_mse


def frames(tmp_path, scale=1.0):
    path = tmp_path / "sq.npy"
    np.save(path, moving_squares(16, 6, 8, np.random.default_rng(7))[:, :, 0] * scale)
    return path


def test_window_task_reports_every_epoch_and_checkpoints(tmp_path):
    run = FramesRun(load_frames_dataset(frames(tmp_path)), FrameSettings(channels=2, batch=4, epochs=0, seed=1))
    seen = []
    result = train_frames_task(TaskState(on_partial=seen.append), run, epochs=2, folder=tmp_path / "run")
    assert result.reason == "done"
    reports = [r for r in seen if isinstance(r, EpochReport)]
    assert [r.epoch for r in reports] == [1, 2] and all(r.epochs == 2 and r.saved == "" for r in reports)
    assert sum(len(u) for u in seen if isinstance(u, TrainingUpdate)) == 8          # every step, 4 per epoch
    hist = run.trainer.history
    assert [(r.train_loss, r.val_loss) for r in reports] == [(h["train_loss"], h["val_loss"]) for h in hist]
    assert reports[-1].prediction_mse == prediction_mse(run.model, run.dataset)
    assert reports[-1].copy_mse == run.dataset.copy_baseline()
    np.testing.assert_array_equal(reports[-1].params, run.model.params)
    saved = FramesRun.load(tmp_path / "run")
    assert saved.trainer.step == 8
    np.testing.assert_array_equal(saved.model.params, run.model.params)


def test_divergence_rolls_back_alike_on_the_command_line_and_in_the_window(tmp_path, capsys):
    path = frames(tmp_path, scale=40.0)
    out = tmp_path / "cli"
    opts = ["--cell", "convlstm", "--channels", "2", "--batch", "4", "--optimizer", "sgd", "--lr", "10", "--clip", "0",
            "--no-plots", "--quiet"]
    settings = FrameSettings(channels=2, batch=4, optimizer="sgd", lr=10.0, clip=None, epochs=3)
    start = FramesRun(load_frames_dataset(path), settings).model.params.copy()       # the seed's first weights
    assert main(["train", str(path), *opts, "--epochs", "3", "--out", str(out)]) == 3
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if "diverged" in x)
    assert line.startswith("lstm-explorer: Training diverged at step 3: the loss reached ")
    assert "Back to the weights training started from" in line
    cli = FramesRun.load(out)
    np.testing.assert_array_equal(cli.model.params, start)                           # rolled back to step 0
    assert cli.trainer.step == 3

    run = FramesRun(load_frames_dataset(path), settings)
    run.trainer.epochs = 0
    result = train_frames_task(TaskState(), run, epochs=3, folder=tmp_path / "win")
    assert result.reason == "diverged" and result.kept_step == 0
    assert result.message == line.removeprefix("lstm-explorer: ")                    # one rule, one sentence
    np.testing.assert_array_equal(run.model.params, start)
    np.testing.assert_array_equal(FramesRun.load(tmp_path / "win").model.params, start)
