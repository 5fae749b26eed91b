"""The whole train command at scale: what runs besides the steps is bounded, the files stay whole.

Not timing tests (speed is shown by ``python -m explorer.bench --scale``): these check the logic
that keeps the command's overhead small — predictions for display on a bounded number of
windows, class predictions in chunks, checkpoints that format only the new steps, no trace per
step — and that every CSV still holds every point it claims to.
"""

import csv
import io
import re

import numpy as np
import pytest

import explorer.runs.store as runs
from explorer.cli.command import EvalCadence, main
from explorer.data.examples import load_example
from explorer.engine import Trainer
from explorer.runs.store import ModelSettings, Run


def series_run(n_points=600, epochs=1, **kw):
    ds = load_example("sine", n_points=n_points)
    return Run(ds, ModelSettings(units=5, epochs=epochs, batch=16, lr=0.02, seed=2, **kw))


class PredictSpy:
    """Wraps a model's ``predict`` and records how many windows each call got."""

    def __init__(self, model):
        self.sizes = []
        self._predict = model.predict
        model.predict = self

    def __call__(self, x, *a, **kw):
        self.sizes.append(len(x))
        return self._predict(x, *a, **kw)


def test_display_predictions_run_on_a_bounded_number_of_windows(monkeypatch):
    run = series_run()
    list(run.trainer.steps())
    ds = run.dataset
    assert ds.n_val == 120
    every = run.predictions(windows=ds.n_val)
    monkeypatch.setattr(runs, "PREDICTION_WINDOWS", 7)
    spy = PredictSpy(run.model)
    p = run.predictions(forecast=5)
    assert sum(spy.sizes) == 7                       # the model saw 7 windows, not 120
    assert (p["n_shown"], p["n_val"]) == (7, 120)
    np.testing.assert_array_equal(p["t"], np.arange(ds.split_index, ds.split_index + 7))
    for key in ("target", "prediction"):             # the first 7 of what every window gives
        assert len(p[key]) == 7
        np.testing.assert_allclose(p[key], every[key][:7], rtol=1e-13)   # chunk sizes change BLAS sums by an ulp
    np.testing.assert_allclose(p["target"], ds.series[ds.split_index:ds.split_index + 7, 0], atol=1e-12)
    np.testing.assert_array_equal(p["forecast"], run.predictions(forecast=5, windows=120)["forecast"])
    assert run.trainer.val_loss() == pytest.approx(run.trainer.history[-1]["val_loss"], rel=1e-12)


def test_prediction_windows_shrink_with_the_cost_of_a_window(monkeypatch):
    run = series_run()
    assert run.prediction_windows() == 120                 # small: every validation window
    n, m, k, T = 5, 1, 1, run.dataset.x_val.shape[1]
    per_window = T * (4 * n * (m + n + 1) + k * (n + 1))   # LSTM gates and the head, per step
    monkeypatch.setattr(runs, "PREDICTION_WORK", 50 * per_window + 3)
    assert run.prediction_windows() == 50
    monkeypatch.setattr(runs, "PREDICTION_WORK", 1)
    assert run.prediction_windows() == 1                   # never none
    deep = series_run(layers=2, bidirectional=True)
    per_deep = T * (2 * 4 * n * (m + n + 1) + 2 * 4 * n * (2 * n + n + 1) + k * (2 * n + 1))
    monkeypatch.setattr(runs, "PREDICTION_WORK", 9 * per_deep)
    assert deep.prediction_windows() == 9


def test_class_predictions_run_in_chunks_and_equal_the_full_argmax(monkeypatch):
    ds = load_example("text")
    run = Run(ds, ModelSettings(units=6, epochs=1, batch=16, seed=1))
    x = ds.x_val
    T = x.shape[1]
    full = run.model.predict(x).argmax(axis=-1)
    sizes = []
    real_run = run.model._run

    def spy_run(xb, *a, **kw):                      # the engine's own pass, a chunk of windows at a time
        sizes.append(len(xb))
        return real_run(xb, *a, **kw)

    monkeypatch.setattr(run.model, "_run", spy_run)
    got = run.model.predict_classes(x, batch_size=3)
    assert max(sizes) == 3 and sum(sizes) == len(x)     # never more than 3 windows of (T, V) floats
    np.testing.assert_array_equal(got, full)
    monkeypatch.setattr(run.model, "_run", real_run)
    p = run.predictions()
    assert p["n_shown"] == ds.n_val
    np.testing.assert_array_equal(p["prediction"], full)
    assert p["accuracy"] == pytest.approx(float(np.mean(full == ds.y_val)))


def test_checkpoints_write_only_new_steps_and_keep_every_step(tmp_path):
    run = series_run(epochs=3)
    list(run.trainer.steps(max_steps=10))
    first = run.files()
    run.save(tmp_path / "r")
    list(run.trainer.steps(max_steps=4))
    again = run.files()
    assert again["steps-000001.npy"] == first["steps-000001.npy"]          # written once, never again
    assert np.load(io.BytesIO(again["steps-000002.npy"]))["step"].tolist() == [11, 12, 13, 14]   # only the new
    for k, v in run.trainer.step_table().items():
        np.testing.assert_array_equal(run.step_table()[k], v)
    other = series_run(epochs=3, forget_bias=0.0)      # a trainer state replaced by another: its steps are the history
    list(other.trainer.steps(max_steps=12))
    run.trainer.load_state_dict(other.trainer.state_dict())
    files = run.files()
    rows = np.load(io.BytesIO(files["steps-000001.npy"]))
    assert "steps-000002.npy" not in files and rows["loss"].tolist() == other.trainer.log.loss


def test_exported_csvs_hold_every_point_they_claim(tmp_path, monkeypatch):
    from explorer.figures.report import export_run_plots

    monkeypatch.setattr(runs, "PREDICTION_WINDOWS", 9)
    run = series_run(epochs=2)
    list(run.trainer.steps())
    p = run.predictions()
    export_run_plots(run, tmp_path, forecast=0)
    with open(tmp_path / "predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == p["n_shown"] == 9
    np.testing.assert_array_equal([float(r["target"]) for r in rows], p["target"])
    np.testing.assert_array_equal([float(r["prediction"]) for r in rows], p["prediction"])
    with open(tmp_path / "grad_norms.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == list(range(1, run.trainer.step + 1))   # every step, not thinned


def _train(tmp_path, capsys, *extra):
    code = main(["train", "--example", "sine", "--epochs", "2", "--units", "4", "--no-plots",
                 "--out", str(tmp_path / "r"), "--force", *extra])
    assert code == 0
    err = capsys.readouterr().err
    m = re.search(r"^(\d+) steps in ([0-9.]+) s of training", err, re.MULTILINE)
    assert m, err
    return int(m.group(1)), err


def test_train_builds_no_trace_per_step_and_keeps_its_closing_line(tmp_path, capsys, monkeypatch):
    traces = []
    real = Trainer.sample_trace
    monkeypatch.setattr(Trainer, "sample_trace", lambda self: traces.append(self.step) or real(self))
    monkeypatch.setattr(EvalCadence, "SHARE", float("inf"))
    steps, err = _train(tmp_path, capsys, "--eval-every", "7")
    assert len(traces) <= 2                            # at most one per epoch, not one per step
    due = [s for s in range(7, steps + 1, 7) if s % (steps // 2)]      # not at an epoch's end
    assert re.search(rf"^plus [0-9.]+ s for {len(due)} validation losses of --eval-every \(\d+ windows each\), "
                     "not counted as training$", err, re.MULTILINE), err


def test_eval_every_skips_validation_that_would_outweigh_training(tmp_path, capsys, monkeypatch):
    c = EvalCadence()
    assert c.due(0.0)                                  # the first always runs
    c.record(2.0)
    assert not c.due(7.9) and c.skipped == 1           # 2 s of validating > 25 % of 7.9 s of training
    assert c.due(8.0)
    c.record(2.0)
    assert not c.due(15.9) and c.due(16.0)
    assert c.summary(200000) == ("plus 4.0 s for 2 validation losses of --eval-every (200000 windows each), "
                                 "not counted as training; 2 more fell due and were skipped to keep "
                                 "validating under 25% of the training time")
    monkeypatch.setattr(EvalCadence, "SHARE", 0.0)
    steps, err = _train(tmp_path, capsys, "--eval-every", "3")
    due = [s for s in range(3, steps + 1, 3) if s % (steps // 2)]
    assert "for 1 validation loss of --eval-every" in err
    assert f"; {len(due) - 1} more fell due and were skipped" in err


def test_scale_benchmark_files_are_seeded(tmp_path):
    from explorer.bench import scale as bs

    a = bs.write_series(tmp_path / "a.csv", 500, 8)
    b = bs.write_series(tmp_path / "b.csv", 500, 8)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_text().splitlines()[0] == "x1,x2,x3,x4,x5,x6,x7,value"
    one = np.loadtxt(bs.write_series(tmp_path / "c.csv", 500, 1), skiprows=1)
    eight = np.loadtxt(a, delimiter=",", skiprows=1)
    assert eight.shape == (500, 8) and one.shape == (500,)
    np.testing.assert_array_equal(eight[:, -1], one)     # the same target in both files
    text = bs.prose_text(200_000)
    assert text == bs.prose_text(200_000) and len(text.encode()) == 200_000
    words = re.findall(r"[a-z]+", text.lower())
    assert len(set(words)) > 5_000 and text.count(". ") > 1_000


def test_scale_benchmark_runs_the_command_and_reads_its_closing_line(tmp_path, capsys):
    from explorer.bench import scale as bs

    assert bs.main(["--rows", "400", "--repeat", "1", "--cases", "series1", "--no-torch", "--quiet",
                    "--work", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("series1 "))
    # 400 rows: 80 validation rows, 320 − 20 = 300 training windows of batch 32 → 10 steps
    assert re.match(r"series1\s+400 rows × 1 column\s+10\s+[0-9.]+ s\s+[0-9.]+ s\s+([0-9.]+|–)\s+\d+ MB\s+–", row), row
    m = bs.CLOSING_LINE.search("10 steps in 0.3 s of training; last epoch: train 1")
    assert (m.group(1), m.group(2)) == ("10", "0.3")


def test_prediction_windows_count_token_ids_as_one_input(monkeypatch):
    ds = load_example("text")
    run = Run(ds, ModelSettings(units=6, epochs=1, batch=16, seed=1))
    T, V, n = ds.x_val.shape[1], run.model.n_outputs, 6
    m = 1 if ds.x_val.ndim == 2 else V                     # ids (one column picked) or one-hot rows
    per_window = T * (4 * n * (m + n + 1) + V * (n + 1))
    monkeypatch.setattr(runs, "PREDICTION_WORK", 3 * per_window)
    assert run.prediction_windows() == 3


def test_scale_benchmark_measures_the_command_not_the_benchmark(tmp_path):
    """Linux starts a child's peak RSS at its parent's RSS: the benchmark forks through a small
    launcher, so a big benchmark process does not inflate what a small command reports."""
    import sys

    from explorer.bench import scale as bs

    ballast = np.ones(400_000_000 // 8)                # 400 MB held by this process
    small = bs.run_measured([sys.executable, "-S", "-c", "pass"])
    big = bs.run_measured([sys.executable, "-c", "import numpy as np; a = np.ones(300_000_000 // 8); "
                           "print('3 steps in 0.5 s of training')"])
    assert ballast.sum() > 0
    assert small.status == 0 and small.rss_mb < 100, small
    assert big.status == 0 and 300 < big.rss_mb < 400, big
    assert (big.steps, big.train) == (3, 0.5) and big.wall > 0
    failed = bs.run_measured([sys.executable, "-c", "import sys; sys.exit('no such file')"])
    assert failed.status == 1 and failed.train is None and "no such file" in failed.tail


@pytest.mark.parametrize("kind", ["series", "text"])
def test_scale_benchmark_torch_script_trains_the_commands_steps_on_its_windows(tmp_path, capsys, kind):
    pytest.importorskip("torch")
    from explorer.bench import scale as bs

    if kind == "series":
        path, opts = bs.write_series(tmp_path / "s.csv", 400, 8), ["--column", "x1", "x2", "value"]
    else:
        path, opts = bs.write_prose(tmp_path / "p.txt", 20_000), ["--words"]
    assert main(["train", str(path), *opts, "--epochs", "1", "--no-plots", "--out", str(tmp_path / "r")]) == 0
    ours = bs.CLOSING_LINE.search(capsys.readouterr().err)
    assert bs.torch_train([str(path), *opts]) == 0
    theirs = bs.CLOSING_LINE.search(capsys.readouterr().err)
    assert ours and theirs and ours.group(1) == theirs.group(1)     # the same number of steps
