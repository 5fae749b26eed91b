"""The Units dock: find units, select and match, connectivity — in the window, as tasks."""

import numpy as np
import pytest

from explorer.data import Dataset
from explorer.data.dataset import text_windows
from explorer.data.loading import TextCorpus
from explorer.engine import make_model
from explorer.gui.main_window import MainWindow
from explorer.runs.store import ModelSettings, Run


@pytest.fixture
def window(qtbot, qsettings, app_paths):
    win = MainWindow(settings=qsettings)
    qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    return win


def _digit_run():
    text = 'he said "3 cats" and 12 dogs; "7 birds" sang 40 songs. ' * 30
    ds = text_windows(TextCorpus.from_string(text, "char", "talk.txt"), seq_len=40)
    V = ds.n_inputs
    model = make_model("rnn", V, 4, V, seed=1)
    sd = model.state_dict()
    sd["weight_ih_l0"] = 0.05 * np.random.default_rng(2).standard_normal((4, V))
    sd["weight_hh_l0"] = 0.05 * np.random.default_rng(3).standard_normal((4, 4))
    digits = [k for k, ch in enumerate(ds.vocab) if ch.isdigit()]
    sd["weight_ih_l0"][2, :] = -2.0
    sd["weight_ih_l0"][2, digits] = 2.0
    model.load_state_dict(sd)
    return Run(ds, ModelSettings(cell="rnn", units=4), model=model), digits


def test_find_units_ranks_the_digit_unit_and_colours_the_text(qtbot, window):
    run, _digits = _digit_run()
    window.set_run(run)
    qtbot.waitUntil(lambda: window.trace is not None, timeout=10000)
    units = window.units
    units.dock.show()
    with qtbot.waitSignal(units.sigFound, timeout=20000) as blocker:
        assert units.find(feature="Pattern (regular expression)", pattern=r"\d")
    scores = blocker.args[0]
    assert scores[0].unit == 2 and scores[0].r > 0.95 and scores[0].rho == pytest.approx(1.0)
    assert window.session.position.unit == 2
    assert units.table.item(0, 0).text() == "2" and units.table.item(0, 1).text() == r"/\d/"
    html = units.colour_text.toHtml()
    assert "Unit 2, h" in html and html.count("background-color:") >= 40
    with qtbot.waitSignal(units.sigFound, timeout=20000) as blocker:
        units.find(feature="Automatic")
    assert (blocker.args[0][0].unit, blocker.args[0][0].feature) == (2, "digit")


def test_select_and_match_jumps_to_another_marker(qtbot, window):
    run, digits = _digit_run()
    window.set_run(run)
    qtbot.waitUntil(lambda: window.trace is not None, timeout=10000)
    units = window.units
    units.dock.show()
    units.tabs.setCurrentIndex(1)
    ids = run.dataset.x_val[0]
    t = int(np.flatnonzero(np.isin(ids, digits))[0])
    sel = units.select(t, t, 0.5)
    assert list(sel) == [2]
    assert units.selected_label.text().startswith(f"t {t + 1}–{t + 1}: units 2")
    with qtbot.waitSignal(units.sigMatched, timeout=20000) as blocker:
        assert units.match()
    matches = blocker.args[0]
    x = run.dataset.x_val
    for m in matches:                                          # every match is a digit
        assert np.all(np.isin(x[m.sample, m.t0:m.t1 + 1], digits))
    assert len(matches) >= 5 and units.match_list.count() == len(matches)
    assert "[" in units.match_list.item(0).text()
    k = next(i for i, m in enumerate(matches) if m.sample != 0)
    units.jump(k)
    pos = window.session.position
    assert (pos.sample, pos.t) == (matches[k].sample, matches[k].t0)


def test_connectivity_tab_equals_the_engine(qtbot, window):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 12, 2))
    ds = Dataset.from_arrays(x[:20], rng.standard_normal((20, 1)), x[20:], rng.standard_normal((10, 1)))
    model = make_model("gru", 2, 5, 1, seed=3)
    window.set_run(Run(ds, ModelSettings(cell="gru", units=5), model=model))
    qtbot.waitUntil(lambda: window.trace is not None, timeout=10000)
    window.session.set_position(sample=4, t=7)
    units = window.units
    units.dock.show()
    with qtbot.waitSignal(units.sigConnectivity, timeout=20000) as blocker:
        units.tabs.setCurrentIndex(2)
    J = blocker.args[0]
    want = model.connectivity(ds.x_val[4:5], 7, per_unit=True)[0]
    np.testing.assert_array_equal(J, want)
    assert np.all(J[:, 8:] == 0) and np.all(J[:, :8] > 0)
    import pyqtgraph as pg
    shown = units.conn_image.image
    np.testing.assert_array_equal(shown if pg.getConfigOption("imageAxisOrder") == "row-major" else shown.T, J)
