"""Opened models on a person's data: ``train FILE --init MODEL`` and ``lstm-explorer FILE --model
MODEL`` (the window, offscreen)."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import save_file

from explorer.cli import main
from explorer.engine import make_model
from explorer.interop import save_model


def series_csv(path, n=120):
    path.write_text("temp,load\n" + "".join(f"{np.sin(i / 6):.5f},{np.cos(i / 9):.5f}\n" for i in range(n)))
    return path


def model_file(path, kind="gru", m=2, n=5, k=1, seed=3, layers=1, bidirectional=False):
    model = make_model(kind, m, n, k, num_layers=layers, bidirectional=bidirectional, seed=seed)
    model.params[...] += 0.05 * np.random.default_rng(seed).standard_normal(model.params.size)
    save_model(model, path)
    return model


def test_train_init_starts_from_the_file_weights(tmp_path, capsys):
    data = series_csv(tmp_path / "weather.csv")
    src = model_file(tmp_path / "w.safetensors", kind="gru", m=2, n=5, k=1)
    out = tmp_path / "run"
    code = main(["train", str(data), "--column", "temp", "load", "--target", "load", "--init",
                 str(tmp_path / "w.safetensors"), "--optimizer", "sgd", "--lr", "1e-300", "--epochs", "1",
                 "--seq-len", "8", "--no-plots", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert 'w.safetensors: a GRU of 5 units over 2 inputs (prefix "rnn."), head "head" with 1 output.' in err
    assert "GRU with 5 units" in err
    with np.load(out / "model.npz") as z:               # lr 1e-300: below every weight's last bit, the weights stay the file's
        for key, value in src.state_dict().items():
            np.testing.assert_array_equal(z[key], value, err_msg=key)
    import csv
    import json

    config = json.loads((out / "config.json").read_text())
    assert (config["model"]["cell"], config["model"]["units"]) == ("gru", 5)
    with open(out / "history.csv") as fh:                # unchanged weights: the same validation loss
        val = float(next(csv.DictReader(fh))["val_loss"])
    assert f"validation loss of the file's weights, before fine-tuning: {val:.4g}" in err


def test_train_init_fine_tunes(tmp_path, capsys):
    data = series_csv(tmp_path / "weather.csv")
    src = model_file(tmp_path / "w.safetensors", kind="lstm", m=1, n=4, k=1)
    out = tmp_path / "run"
    code = main(["train", str(data), "--column", "load", "--init", str(tmp_path / "w.safetensors"),
                 "--epochs", "2", "--seq-len", "8", "--no-plots", "--quiet", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    with np.load(out / "model.npz") as z:
        assert z["weight_hh_l0"].shape == (16, 4)
        assert not np.array_equal(z["weight_hh_l0"], src.state_dict()["weight_hh_l0"])


def test_train_init_without_head_gets_the_data_outputs(tmp_path, capsys):
    data = series_csv(tmp_path / "weather.csv")
    rng = np.random.default_rng(0)
    save_file({"lstm.weight_ih_l0": rng.normal(size=(8, 1)), "lstm.weight_hh_l0": rng.normal(size=(8, 2)),
               "lstm.bias_ih_l0": np.zeros(8), "lstm.bias_hh_l0": np.zeros(8)}, str(tmp_path / "bare.safetensors"))
    code = main(["train", str(data), "--column", "load", "--init", str(tmp_path / "bare.safetensors"),
                 "--epochs", "1", "--seq-len", "8", "--no-plots", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "a new head starts from random weights" in err


def test_train_init_deep_bidirectional(tmp_path, capsys):
    data = series_csv(tmp_path / "weather.csv")
    src = model_file(tmp_path / "deep.safetensors", kind="lstm", m=1, n=3, k=1, layers=2, bidirectional=True)
    out = tmp_path / "run"
    code = main(["train", str(data), "--column", "load", "--init", str(tmp_path / "deep.safetensors"),
                 "--optimizer", "sgd", "--lr", "1e-300", "--epochs", "1", "--seq-len", "8", "--no-plots", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "deep.safetensors: a 2-layer bidirectional LSTM of 3 units over 1 input" in err
    from explorer.runs.store import Run

    run = Run.load(out)
    assert (run.settings.layers, run.settings.bidirectional, run.model.num_layers, run.model.bidirectional) == (
        2, True, 2, True)
    np.testing.assert_array_equal(run.model.params, src.params)


@pytest.mark.parametrize("extra,expect", [
    (["--column", "load"], "w.safetensors takes 2 inputs per step but weather.csv gives 1"),
    (["--column", "temp", "load", "--units", "7"], "--units 7 asks for another model"),
    (["--column", "temp", "load", "--cell", "lstm"], "holds gru for cell but --cell lstm"),
    (["--column", "temp", "load", "--layers", "2"], "holds 1 for layers but --layers 2"),
    (["--column", "temp", "load", "--bidirectional"], "--bidirectional asks for two"),
])
def test_train_init_that_does_not_fit_is_one_sentence(tmp_path, capsys, extra, expect):
    data = series_csv(tmp_path / "weather.csv")
    model_file(tmp_path / "w.safetensors", kind="gru", m=2, n=5, k=1)
    code = main(["train", str(data), *extra, "--init", str(tmp_path / "w.safetensors"), "--epochs", "1",
                 "--no-plots", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2
    assert expect in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert not (tmp_path / "run" / "model.npz").exists()


def test_train_init_refuses_bad_files_and_resume(tmp_path, capsys):
    data = series_csv(tmp_path / "weather.csv")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 40)
    code = main(["train", str(data), "--init", str(tmp_path / "junk.safetensors"), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "junk.safetensors is not a readable safetensors file" in err and err.count("\n") == 1
    code = main(["train", "--resume", str(tmp_path), "--init", str(tmp_path / "junk.safetensors")])
    err = capsys.readouterr().err
    assert code == 2 and "give one of them" in err


# -- the window ---------------------------------------------------------------------------------------
def settle(qtbot, win):
    """Wait for the window's trace: it is computed off the GUI thread."""
    qtbot.waitUntil(lambda: win.trace is not None and not win.display.busy and not win.models.busy, timeout=15000)


@pytest.fixture
def built(qtbot, qsettings, app_paths):
    made = []

    def build(*args, **kw):
        from explorer.gui.app import build_window

        win = build_window(*args, settings=qsettings, **kw)
        qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
        made.append(win)
        if not (args and args[0]):              # (with a file the test waits for it to load)
            settle(qtbot, win)
        return win

    yield build
    for win in made:
        if win.training:
            win.stop_and_wait(3000)


def test_window_model_option_opens_the_weights_on_the_file(built, qtbot, tmp_path):
    from explorer.gui.app import _args

    assert _args(["data.csv", "--model", "w.safetensors"]).model == "w.safetensors"
    data = series_csv(tmp_path / "weather.csv")
    src = model_file(tmp_path / "w.safetensors", kind="lstm", m=1, n=6, k=1)
    win = built(str(data), model=str(tmp_path / "w.safetensors"))
    with qtbot.waitSignal(win.models.sigModelOpened, timeout=15000):   # the file, then the model, off the GUI thread
        pass
    assert win.run.dataset.source == str(data)
    np.testing.assert_array_equal(win.run.model.params, src.params)
    assert (win.run.settings.units, win.run.settings.cell) == (6, "lstm")
    assert "w.safetensors: an LSTM of 6 units over 1 input" in win.banner.label.text()
    qtbot.waitUntil(lambda: win.trace is not None and win.trace.h.shape[2] == 6, timeout=15000)
    assert win.trace.h.shape[2] == 6              # the diagram's trace is the file's model
    assert win.unit_spin.maximum() == 5


@pytest.mark.parametrize("layers,bi", [(1, False), (2, True)])
def test_window_model_on_the_start_example(built, tmp_path, layers, bi):
    src = model_file(tmp_path / "w.safetensors", kind="lstm", m=1, n=3, k=1, layers=layers, bidirectional=bi)
    win = built(None, model=str(tmp_path / "w.safetensors"))
    np.testing.assert_array_equal(win.run.model.params, src.params)
    assert (win.run.settings.layers, win.run.settings.bidirectional) == (layers, bi)
    assert win.trace.h.shape[2] == 3
    np.testing.assert_array_equal(win.trace.h, src.forward(win.trace.x).h)      # layer 0, forward


def test_window_model_that_does_not_fit_keeps_the_data(built, tmp_path):
    from explorer.gui.main_window import START_EXAMPLE

    model_file(tmp_path / "w3.safetensors", kind="lstm", m=3, n=7, k=1)
    win = built(None, model=str(tmp_path / "w3.safetensors"))
    assert "w3.safetensors takes 3 inputs per step" in win.banner.label.text()
    assert win.run.dataset.source == START_EXAMPLE and (win.run.model.n_inputs, win.run.model.n_units) == (1, 8)
    (tmp_path / "bad.safetensors").write_bytes(b"nonsense")
    win2 = built(None, model=str(tmp_path / "bad.safetensors"))
    assert "bad.safetensors is not a readable safetensors file" in win2.banner.label.text()
    assert win2.run is not None and win2.trace is not None


def test_window_model_of_a_cell_it_does_not_draw_is_explained(built, tmp_path):
    from explorer.gui import main_window

    src = model_file(tmp_path / "g.safetensors", kind="gru", m=1, n=5, k=1)
    win = built(None, model=str(tmp_path / "g.safetensors"))
    if "gru" in getattr(main_window, "WINDOW_CELLS", ("gru",)):
        np.testing.assert_array_equal(win.run.model.params, src.params)
    else:
        assert win.run.model.kind == "lstm"
        assert "g.safetensors holds a GRU model; the window draws LSTM cells" in win.banner.label.text()
        assert "lstm-explorer train FILE --init" in win.banner.label.text()
