"""Run folders: every file written, atomic writes, save-load-continue equal to uninterrupted."""

import csv
import json
import os

import numpy as np
import pytest

from explorer.data.examples import load_example
from explorer.runs.store import RUN_FILES, DataChangedError, ModelSettings, Run, RunFileError, atomic_write_text


def small_run(epochs=3, **kw):
    ds = load_example("sine", n_points=200) if "ds" not in kw else kw.pop("ds")
    return Run(ds, ModelSettings(units=5, epochs=epochs, batch=16, lr=0.02, seed=2, **kw))


def test_saved_folder_has_every_file_with_the_contract_headers(tmp_path):
    run = small_run(epochs=2)
    list(run.trainer.steps())
    run.save(tmp_path / "r")
    for name in RUN_FILES:
        assert (tmp_path / "r" / name).is_file(), name
    with open(tmp_path / "r" / "history.csv") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["epoch", "train_loss", "val_loss", "grad_norm", "clipped_fraction"]
    assert len(rows) == 3
    state = json.loads((tmp_path / "r" / "state.json").read_text())
    assert state["step_chunks"] == [{"name": "steps-000001.npy", "first": 1, "last": run.trainer.step,
                                     "rows": run.trainer.step, "width": 1}]
    rows = np.load(tmp_path / "r" / "steps-000001.npy", allow_pickle=False)
    assert rows.dtype.names == ("step", "epoch", "loss", "grad_norm", "clipped", "norm_i", "norm_f", "norm_g",
                                "norm_o", "norm_head")
    np.testing.assert_array_equal(rows["step"], np.arange(1, run.trainer.step + 1))
    np.testing.assert_array_equal(rows["loss"], run.trainer.log.loss)
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["model"]["units"] == 5 and cfg["data"]["type"] == "example"
    assert "normalizer" in cfg["data"]
    assert state["epoch"] == 2 and state["step"] == run.trainer.step and "rng_state" in state
    with np.load(tmp_path / "r" / "model.npz", allow_pickle=False) as z:
        assert set(z.files) == set(run.model.state_dict())


def test_history_losses_are_in_target_units(tmp_path):
    run = small_run(epochs=1)
    list(run.trainer.steps())
    ds = run.dataset
    sigma2 = ds.normalizer.target_scale ** 2
    raw = run.model.evaluate(ds.x_val, ds.y_val)
    assert run.trainer.history[0]["val_loss"] == pytest.approx(raw * sigma2, rel=1e-12)


@pytest.mark.parametrize("stop_steps", [5, 14, 20])
def test_save_load_continue_equals_uninterrupted(tmp_path, stop_steps):
    ref = small_run()
    list(ref.trainer.steps())
    a = small_run()
    list(a.trainer.steps(max_steps=stop_steps))
    a.save(tmp_path / "r")
    b = Run.load(tmp_path / "r")
    assert b.trainer.step == stop_steps
    list(b.trainer.steps())
    assert b.model.params.tobytes() == ref.model.params.tobytes()
    assert b.trainer.history == ref.trainer.history
    assert b.trainer.step_table()["loss"].tobytes() == ref.trainer.step_table()["loss"].tobytes()
    # and the saved files of both agree byte for byte
    ref.save(tmp_path / "ref")
    b.save(tmp_path / "b")
    for name in ("history.csv", "model.npz"):
        assert (tmp_path / "ref" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    saved_ref, saved_b = Run.load(tmp_path / "ref").step_table(), Run.load(tmp_path / "b").step_table()
    for k, v in saved_ref.items():                  # one chunk against two: the same rows
        assert v.tobytes() == saved_b[k].tobytes(), k


def test_file_run_round_trip(tmp_path):
    from explorer.data import load_sequence, make_windows
    path = tmp_path / "series data.csv"
    t = np.arange(300)
    path.write_text("t,value\n" + "".join(f"{i},{np.sin(i / 7):.6f}\n" for i in t))
    ds = make_windows(load_sequence(path), seq_len=10, val_fraction=0.2)
    run = Run(ds, ModelSettings(units=4, epochs=1, batch=32))
    list(run.trainer.steps())
    run.save(tmp_path / "run")
    back = Run.load(tmp_path / "run")
    np.testing.assert_array_equal(back.dataset.x_val, ds.x_val)
    assert back.model.params.tobytes() == run.model.params.tobytes()
    path.unlink()
    with pytest.raises(DataChangedError, match="series data.csv.*is gone"):
        Run.load(tmp_path / "run")


def test_atomic_write_failure_keeps_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "history.csv"
    atomic_write_text(target, "old contents\n")

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(RunFileError, match="No space left"):
        atomic_write_text(target, "new contents\n")
    assert target.read_text() == "old contents\n"
    assert [p.name for p in tmp_path.iterdir()] == ["history.csv"]   # no temporary left behind


def test_save_into_missing_parent_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    run = small_run(epochs=1)
    with pytest.raises(RunFileError):
        run.save(blocker / "run")


def test_load_incomplete_folder_names_missing_files(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(RunFileError, match="model.npz"):
        Run.load(tmp_path)
    with pytest.raises(RunFileError, match="not a run folder"):
        Run.load(tmp_path / "nope")


def test_predictions_and_forecast_in_target_units():
    run = small_run(epochs=2)
    list(run.trainer.steps())
    p = run.predictions(forecast=12)
    ds = run.dataset
    assert p["t"][0] == ds.split_index and len(p["t"]) == ds.n_val
    np.testing.assert_allclose(p["target"], ds.series[ds.split_index:ds.split_index + ds.n_val, 0], atol=1e-12)
    assert len(p["forecast"]) == 12 and np.all(np.isfinite(p["forecast"]))
    # the first forecast value is the one-step prediction of the first validation window
    assert p["forecast"][0] == pytest.approx(p["prediction"][0], rel=1e-12)


@pytest.mark.parametrize("layers, bidirectional", [(2, False), (1, True)])
def test_deep_and_bidirectional_runs_forecast_and_round_trip(tmp_path, layers, bidirectional):
    run = small_run(epochs=1, layers=layers, bidirectional=bidirectional)
    list(run.trainer.steps())
    p = run.predictions(forecast=6)
    assert p["forecast"][0] == pytest.approx(p["prediction"][0], rel=1e-12)
    assert np.all(np.isfinite(p["forecast"]))
    run.save(tmp_path / "r")
    back = Run.load(tmp_path / "r")
    assert back.settings.layers == layers and back.settings.bidirectional == bidirectional
    assert back.model.params.tobytes() == run.model.params.tobytes()


def test_unidirectional_forecast_carries_every_layer_state():
    """Feeding the forecast one step at a time equals running the whole extended window."""
    run = small_run(epochs=1, layers=3)
    window = run.dataset.x_val[0]
    fc = run.forecast(window, 4)
    extended = np.concatenate([window[:, 0], fc[:3]])[None, :, None]
    y = run.model.predict(extended)[0, :, 0]
    np.testing.assert_allclose(fc[1:], y[len(window):], rtol=1e-12)
