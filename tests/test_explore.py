"""explorer.explore(model, data, head): the window on an in-memory model, from a script."""

import numpy as np
import pytest

import explorer
from explorer.data import SequenceFileError
from explorer.engine import make_model
from explorer.interop import ModelFileError
from explorer.interop.live import loaded_from_object


def _close(qtbot, win):
    qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))


def test_engine_model_and_series(qtbot, qsettings, app_paths):
    model = make_model("gru", 1, 5, 1, seed=4)
    series = np.sin(np.arange(300) / 7.0)
    win = explorer.explore(model, series)
    _close(qtbot, win)
    assert win.current_model() is model                 # the very object, shown at once
    qtbot.waitUntil(lambda: win.trace is not None, timeout=10000)
    x = win.run.dataset.x_val[:3]
    np.testing.assert_array_equal(win.current_model().predict(x), model.predict(x))


def test_torch_module_shows_torch_predictions(qtbot, qsettings, app_paths):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    rec = torch.nn.LSTM(2, 6, num_layers=2, batch_first=True).double()
    head = torch.nn.Linear(6, 1).double()
    x = np.random.default_rng(1).standard_normal((8, 12, 2))
    y = np.random.default_rng(2).standard_normal((8, 1))
    win = explorer.explore(rec, (x, y), head=head)
    _close(qtbot, win)
    model = win.current_model()
    assert (model.kind, model.n_units, model.num_layers) == ("lstm", 6, 2)
    out, _ = rec(torch.from_numpy(x))
    want = head(out).detach().numpy()                  # (B, T, 1): every step
    assert np.max(np.abs(model.predict(x) - want)) < 1e-12
    qtbot.waitUntil(lambda: win.trace is not None, timeout=10000)
    assert win.banner.label.text().startswith("torch LSTM: a 2-layer LSTM of 6 units over 2 inputs")


def test_state_dict_of_a_gru_with_its_head():
    torch = pytest.importorskip("torch")
    rec = torch.nn.GRU(3, 4, bidirectional=True, batch_first=True).double()
    sd = {**rec.state_dict(), **{f"fc.{k}": v for k, v in torch.nn.Linear(8, 2).double().state_dict().items()}}
    loaded = loaded_from_object(sd)
    assert (loaded.model.kind, loaded.model.bidirectional, loaded.head) == ("gru", True, "fc")
    x = np.random.default_rng(3).standard_normal((2, 5, 3))
    out, _ = rec(torch.from_numpy(x))
    lin = torch.nn.Linear(8, 2).double()
    lin.load_state_dict({"weight": sd["fc.weight"], "bias": sd["fc.bias"]})
    assert np.max(np.abs(loaded.model.predict(x) - lin(out).detach().numpy())) < 1e-12


def test_numpy_state_dict_without_torch():
    src = make_model("rnn", 2, 3, 1, seed=1)
    loaded = loaded_from_object({k: v for k, v in src.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 4, 2))
    np.testing.assert_allclose(loaded.model.predict(x), src.predict(x), rtol=0, atol=1e-15)


def test_what_cannot_be_explored_is_refused_in_one_sentence():
    with pytest.raises(ModelFileError, match="give a torch.nn.LSTM, GRU or RNN module"):
        loaded_from_object(42)
    with pytest.raises(ModelFileError, match="holds <U1 values|holds"):
        loaded_from_object({"weight_ih_l0": np.array(["a"])})
    from explorer.gui.explore import _example_for, dataset_from_data
    with pytest.raises(SequenceFileError, match="No built-in example has 5 inputs"):
        _example_for(5)
    with pytest.raises(SequenceFileError, match="NaN"):
        dataset_from_data(np.array([1.0, np.nan, 2.0] * 50), 1, 1)
