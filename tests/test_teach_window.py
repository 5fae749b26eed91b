"""Issue 13 in the window, offscreen, with values: interventions from the diagram's menu and their
panel, the backward mode, replay, File › Export › Animation, presenter mode, the worked example."""

import re
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QDockWidget, QToolBar

from explorer.app.tasks import TaskState
from explorer.app.teaching import intervention_effect_task, shown_trace
from explorer.data.examples import load_example
from explorer.engine import Clamp
from explorer.runs.store import Run, settings_for_example


from tests.test_gui_behaviour import make_window


def train(win, qtbot, epochs=1):
    with qtbot.waitSignal(win.sigTrainingFinished, timeout=60000) as sig:
        win.start_training(epochs=epochs)
    qtbot.waitUntil(lambda: not win.display.busy, timeout=20000)
    return sig.args[0]


@pytest.fixture
def window(qtbot, qsettings, app_paths):
    win = make_window(qtbot, qsettings)
    yield win
    if win.training:
        win.stop_and_wait(3000)


def trigger(menu, text):
    for a in menu.actions():
        if a.text() == text:
            assert a.isEnabled(), text
            a.trigger()
            return
    raise AssertionError(f"no action {text!r} in {[a.text() for a in menu.actions()]}")


# -- interventions ----------------------------------------------------------------------------------
def test_right_click_f_and_i_freezes_the_belt_in_the_diagram_and_shows_the_effect(window, qtbot):
    win, s = window, window.session
    assert train(win, qtbot) == "done"
    s.set_position(unit=2, sample=1)
    qtbot.waitUntil(lambda: win.trace is not None and not win.display.busy, timeout=20000)
    diagram = win.diagram
    # the gate under the mouse is found by the canvas's hit-testing; its menu holds it
    assert diagram.part_at(diagram.gate_rect("f").center()) == "f"
    assert win.interventions.holdable(diagram.part_at(diagram.gate_rect("i").center())) == "i"
    with qtbot.waitSignal(win.interventions.sigCompared, timeout=30000) as cmp:
        trigger(win.interventions.menu_for("f"), "Hold f at 1 (unit 2, every step)")
        trigger(win.interventions.menu_for("i"), "Hold i at 0 (unit 2, every step)")
    assert [win.interventions.panel.list.item(k).text() for k in range(2)] == [
        "f held at 1 \u00b7 unit 2 \u00b7 every step", "i held at 0 \u00b7 unit 2 \u00b7 every step"]
    assert win.interventions.dock.isVisible()
    # the diagram shows the clamped run at once: c stays c0 exactly at every step (and f = 1, i = 0)
    T = win.trace.T
    c0 = float(win.trace.c0[0, 2])
    for t in range(T):
        s.set_position(t=t)
        v = diagram.displayed_values()
        assert v["c"] == c0 and v["c_prev"] == c0 and v["f"] == 1.0 and v["i"] == 0.0 and v["written"] == 0.0
    assert win.equations.equation_values()["f"]["value"] == 1.0
    # what is held is marked: a "held" tag on f and i in the diagram, "held at" in their equations
    assert diagram._frame().held == {"f": 1.0, "i": 0.0}
    diagram.record_texts = True
    diagram.grab()
    tags = [r for r, _, txt in diagram.painted_texts if txt == "held"]
    assert [round(r.center().x()) for r in sorted(tags, key=lambda r: r.x())] == \
        [round(diagram.gate_rect(g).center().x()) for g in ("f", "i")]          # on the gates' top edges
    assert all(abs(r.bottom() - diagram.gate_rect(g).top()) < 12 for r, g in zip(sorted(tags, key=lambda r: r.x()), "fi"))
    text = win.equations.text()
    assert text.count("held at") == 2           # f and i: what the cell computed, then the value held
    s.set_position(unit=1)
    assert diagram._frame().held == {} and "held at" not in win.equations.text()
    s.set_position(unit=2)
    # the heatmaps draw the same clamped trace
    assert np.all(win.trace.c[0, :, 2] == c0)
    # loss and predictions with and without, side by side
    c = cmp.args[0]
    ref = intervention_effect_task(TaskState(), win.run, win.run.model.state_dict(), 1, list(s.interventions))
    assert (c.loss_without, c.loss_with) == (ref.loss_without, ref.loss_with) and c.loss_with != c.loss_without
    assert f"{ref.loss_without:.4g} without" in win.interventions.panel.loss_label.text()
    assert f"{ref.loss_with:.4g} with" in win.interventions.pred_loss_label.text()
    assert win.interventions.pred_loss_label.isVisible()
    x, y = win.interventions.pred_with.getData()
    assert np.array_equal(y, ref.predictions_with["prediction"])
    fx, fy = win.interventions.forecast_with.getData()
    assert np.array_equal(fy, ref.predictions_with["forecast"])
    px, py = win.prediction_plot.pred_curve.getData()
    own = win.run.predictions(forecast=min(100, win.run.dataset.n_val))          # without: the run's own
    assert np.array_equal(py, own["prediction"]) and not np.array_equal(py, y)
    _, sw = win.interventions.panel.with_curve.getData()
    assert np.array_equal(sw, ref.sample_with)
    # training is off while they are active, with a sentence
    win.start_training(epochs=1)
    assert not win.training and "Training is off while interventions are active" in win.statusBar().full_message()
    # removing one: the belt moves again (i writes into it)
    win.interventions.panel.list.setCurrentRow(1)
    win.interventions.remove_selected()
    assert win.interventions.panel.list.count() == 1
    assert np.ptp(win.trace.c[0, :, 2]) > 0
    # removing all: the plain trace, curves gone
    with qtbot.waitSignal(win.display.sigDisplayed, timeout=20000):
        win.interventions.clear()
    assert win.interventions.pred_with.getData()[1] is None or len(win.interventions.pred_with.getData()[1]) == 0
    assert not win.interventions.panel.plot_widget.isVisible()        # nothing to compare: no empty plot
    free = shown_trace(win.run, win.run.model.state_dict(), 1)
    assert np.array_equal(win.trace.c, free.c)


def test_o_zero_silences_a_unit_from_step_t_and_leaves_earlier_steps(window, qtbot, monkeypatch):
    win, s = window, window.session
    before = np.array(win.trace.h[0], copy=True)
    s.set_position(unit=1, t=4)
    from explorer.gui import interventions as mod

    class Dialog:                    # the person types value 0, t = 5 … 9 in the dialog
        def __init__(self, name, unit, t, T, parent=None):
            assert (name, unit, t) == ("o", 1, 5)

        def exec(self):
            return mod.QDialog.DialogCode.Accepted

        def choice(self):
            return 0.0, range(4, 9), False

    monkeypatch.setattr(mod, "HoldDialog", Dialog)
    with qtbot.waitSignal(win.interventions.sigCompared, timeout=30000) as cmp:
        trigger(win.interventions.menu_for("o"), "Hold o from step t to t\u2032\u2026")
    h = win.trace.h[0]
    assert np.all(h[4:9, 1] == 0.0) and np.array_equal(h[:4], before[:4])
    assert h[4, 0] == before[4, 0] and h[5, 0] != before[5, 0]   # the others see the silence one step later
    assert win.interventions.panel.list.item(0).text() == "o held at 0 \u00b7 unit 1 \u00b7 t = 5\u20269"
    c = cmp.args[0]
    assert not np.array_equal(c.sample_with, c.sample_without)
    assert np.array_equal(c.sample_with[:4], c.sample_without[:4])


def test_a_gru_candidate_cannot_be_held_and_h_can(qtbot, qsettings, app_paths):
    run = Run(load_example("sine"), settings_for_example("sine", units=3, epochs=1, cell="gru"))
    win = make_window(qtbot, qsettings, run)
    menu = win.interventions.menu_for("g")
    assert [a.text() for a in menu.actions()] == ["The candidate cannot be held (right-click a gate or h)"] or \
        not menu.actions()[0].isEnabled()
    trigger(win.interventions.menu_for("z"), "Hold z at 1 (unit 0, every step)")
    assert np.all(win.trace.h[0, :, 0] == win.trace.h0[0, 0])      # z = 1 keeps h = h0
    win.session.set_position(unit=1)
    trigger(win.interventions.menu_for("h"), "Zero h of unit 1 (every step)")
    assert np.all(win.trace.h[0, :, 1] == 0.0)
    win.session.set_position(unit=0)
    win.interventions.hold("h", 0.0)                 # z and h of unit 0 held: both tagged
    d = win.diagram
    d.record_texts = True
    d.grab()
    tags = {txt: r for r, _, txt in d.painted_texts if txt in ("held", "h held")}
    assert set(tags) == {"held", "h held"}
    assert abs(tags["held"].center().x() - d.gate_rect("z").center().x()) < 2
    assert tags["h held"].bottom() < d.gate_rect("z").top()      # up by the belt, where the GRU's h_t leaves


# -- backward -----------------------------------------------------------------------------------------
def test_backward_mode_draws_the_gradient_and_steps_from_T_down(window, qtbot):
    win, s = window, window.session
    s.set_position(unit=3)
    win.backward.action.trigger()
    assert win.backward.enabled and win.equations.backward and win.diagram.backward
    T = win.trace.T
    assert s.position.t == T - 1 and "backward" in win.timebar.label.text()
    x, y = win.run.sample_pair(s.position.sample)
    g = win.run.model.clone().state_grads(x, y, loss=win.run.dataset.loss)
    # "Through time" shows the norms of the very gradients the backward view shows (this sample, these weights)
    assert np.allclose(s.norms[0], np.linalg.norm(g.dh[0], axis=-1), rtol=1e-12, atol=0)
    assert np.allclose(s.norms[1], np.linalg.norm(g.dc[0], axis=-1), rtol=1e-12, atol=0)
    for _ in range(3):
        win.timebar.next()                          # Right steps back in time
    t = T - 4
    assert s.position.t == t
    back = win.diagram._frame().backward
    belt = back["belt"]
    assert belt["in"] == g.dc[0, t, 3] and belt["factor"] == win.trace.f[0, t, 3]
    assert belt["out"] == pytest.approx(g.dc[0, t, 3] * win.trace.f[0, t, 3], rel=1e-15)
    assert belt["in"] == pytest.approx(belt["from_h"] + belt["from_next"], rel=1e-12, abs=1e-300)
    assert win.equations.equation_values()["dc"]["value"] == g.dc[0, t, 3]
    assert win.timebar.slider.invertedAppearance()
    win.timebar.first()
    assert s.position.t == T - 1                    # Home: the start of the backward pass
    win.backward.action.trigger()                   # B again: forward
    assert not win.equations.backward and not win.diagram.backward and not win.timebar.reversed
    win.timebar.next()
    assert s.position.t == T - 1                    # forward again: Right cannot pass T


def test_backward_mode_with_a_held_gate_gives_its_z_no_gradient_as_the_engine(window, qtbot):
    win, s = window, window.session
    s.set_position(unit=2, t=6)
    win.interventions.hold("f", 0.5, units=[2], steps=range(3, 9))
    qtbot.waitUntil(lambda: win.trace.f[0, 6, 2] == 0.5, timeout=20000)
    win.backward.set_enabled(True)
    s.set_position(t=6)
    vals = win.equations.equation_values()
    assert vals["dz_f"]["value"] == 0.0 and vals["dz_i"]["value"] != 0.0
    assert "a held value is a constant" in win.equations.text()
    # the engine agrees: f held at every step and unit, W_f, U_f and b_f get no gradient at all
    m = win.run.model.clone()
    x, y = win.run.sample_pair(s.position.sample)
    n = m.n_units
    _, grads = m.loss_and_grads(x, y, loss=win.run.dataset.loss, interventions=[Clamp("f", 0.5)])
    for key in ("weight_hh_l0", "weight_ih_l0", "bias_hh_l0"):     # torch's gate order: i f g o
        assert not np.any(grads[key][n:2 * n]) and np.any(grads[key][:n]), key
    # the dc row still adds up: the belt's recursion holds with the held f
    dc = vals["dc"]
    assert dc["value"] == pytest.approx(dc["through_h"] + dc["through_belt"], rel=1e-12, abs=1e-300)


def test_backward_mode_of_the_rnn_shows_the_vanishing_factor(qtbot, qsettings, app_paths):
    run = Run(load_example("sine"), settings_for_example("sine", units=4, epochs=1, cell="rnn"))
    win = make_window(qtbot, qsettings, run)
    win.backward.set_enabled(True)
    win.timebar.next()
    text = win.equations.text()
    assert "shrinks by" in text and "since the last step" in text
    back = win.diagram._frame().backward
    assert back["belt"] is None and back["shrink"]["factor"] > 0
    lines = win.diagram._scene.back_lines(back)
    assert any(f"{back['shrink']['factor']:.3f}" in ln for ln in lines)


# -- replay ----------------------------------------------------------------------------------------------
def test_replay_shows_an_epochs_trace_and_latest_returns(window, qtbot):
    win, s = window, window.session
    assert not win.replay_bar.isVisibleTo(win)         # nothing to replay before training
    assert train(win, qtbot, epochs=2) == "done"
    assert win.replay_bar.isVisibleTo(win) and win.replay_bar.epochs == [0, 1, 2]
    s.set_position(sample=2, unit=1, t=5)
    qtbot.waitUntil(lambda: not win.display.busy, timeout=20000)
    win.replay_bar.slider.setValue(0)                  # epoch 0: before training
    ref = win.run.replay_trace(0, 2)
    assert np.array_equal(win.trace.f, ref.f) and np.array_equal(win.trace.c, ref.c)
    assert win.diagram.displayed_values()["f"] == ref.f[0, 5, 1]
    assert "epoch 0" in win.replay_bar.label.text()
    w0 = win.run.epoch_state(0)
    assert np.array_equal(s.trace_weights["weight_hh_l0"], w0["weight_hh_l0"])
    assert win.equations.equation_values()["f"]["value"] == ref.f[0, 5, 1]
    # the epoch drawn is named on the diagram (also in its exports and presenter mode) and the equations
    assert win.diagram._frame().header.endswith("replayed epoch 0 (before training)")
    assert "replayed epoch 0 (before training)" in win.equations.toPlainText()
    win.replay_bar.slider.setValue(1)
    assert np.array_equal(win.trace.f, win.run.replay_trace(1, 2).f)
    assert win.diagram._frame().header.endswith("replayed epoch 1 / 2")
    assert "replayed epoch 1 / 2" in win.equations.toPlainText()
    with qtbot.waitSignal(win.display.sigDisplayed, timeout=20000):
        win.replay_bar.latest()
    now = shown_trace(win.run, win.run.model.state_dict(), 2)
    assert np.array_equal(win.trace.f, now.f) and win.replay_bar.label.text() == "latest"
    assert "replayed" not in win.diagram._frame().header and "replayed" not in win.equations.toPlainText()
    # disabled while training
    with qtbot.waitSignal(win.sigTrainingFinished, timeout=60000):
        win.start_training(epochs=1)
        assert not win.replay_bar.isEnabled()
    assert win.replay_bar.isEnabled()


# -- animation -------------------------------------------------------------------------------------------
def test_export_animation_writes_one_frame_per_step_from_a_worker(window, qtbot, tmp_path):
    from PIL import Image

    win = window
    win.session.set_position(unit=2)
    out = tmp_path / "cell.gif"
    progress = []
    win.progress.valueChanged.connect(lambda v: progress.append(v))
    with qtbot.waitSignal(win.animation_export.sigWritten, timeout=120000) as sig:
        assert win.animation_export.export(out)
        assert win.animation_export.busy             # the GUI went on: the worker writes
    assert Path(sig.args[0]) == out
    with Image.open(out) as im:
        assert im.n_frames == win.trace.T and im.width == 1200
    assert progress                                  # the status bar showed the frames' progress
    export_menu = [a.menu() for a in win.menuBar().actions() if a.text() == "&File"][0]
    sub = [a.menu() for a in export_menu.actions() if a.menu() is not None and "xport" in a.text()][0]
    assert win.animation_export.action in sub.actions()


def test_export_animation_of_a_bad_name_says_so(window, qtbot, tmp_path):
    with qtbot.waitSignal(window.animation_export.sigFailed, timeout=30000) as sig:
        window.animation_export.export(tmp_path / "cell.bmp")
    assert "must end in .gif, .png (animated PNG) or .webp" in sig.args[0]


# -- presenter ---------------------------------------------------------------------------------------------
MIN_TEXT_PX = 14.0


def test_presenter_at_1280_by_720_is_large_and_nothing_overlaps(qtbot, qsettings, app_paths):
    win = make_window(qtbot, qsettings, size=(1280, 720))
    win.presenter.set_enabled(True, fullscreen=False)
    win.resize(1280, 720)
    qtbot.waitUntil(lambda: win.diagram.height() > 380, timeout=5000)
    assert (win.width(), win.height()) == (1280, 720)
    assert not any(d.isVisible() for d in win.findChildren(QDockWidget))
    assert not any(t.isVisible() for t in win.findChildren(QToolBar))
    assert not win.menuBar().isVisible() and not win.timebar.isVisible() and not win.sample_spin.isVisible()
    d = win.diagram
    for t in (0, 7):
        win.session.set_position(t=t)
        d.record_texts = True
        d.grab()
        texts = d.painted_texts
        assert len(texts) > 20 and {"ct", "ht"} <= {txt for _, _, txt in texts}   # the cell alone, whole
        inside = QRectF(0, 0, d.width(), d.height())
        small = [(txt, round(px, 1)) for _, px, txt in texts if px < MIN_TEXT_PX]
        assert not small, small
        outside = [txt for r, _, txt in texts if not inside.contains(r)]
        assert not outside, outside
        clash = [(a[2], b[2]) for k, a in enumerate(texts) for b in texts[k + 1:]
                 if a[0].adjusted(1, 1, -1, -1).intersects(b[0].adjusted(1, 1, -1, -1))]
        assert not clash, clash
    assert win.equations.font().pixelSize() >= 20                  # 20 on a window lower than 800 px
    assert win.equations.height() >= 200 and win.equations.width() == win.diagram.width()
    # the equations alone (the inputs and the gates' names are in the diagram), no sideways scrolling,
    # all six rows of the LSTM on screen
    eq = win.equations
    text = eq.text()
    assert len(re.findall(r"Unit \d+ of \d+", text)) == 1 and "forget gate" not in text and "x" + "t = [" not in text
    assert eq.document().idealWidth() <= eq.viewport().width() and eq.horizontalScrollBar().maximum() == 0
    assert eq.document().size().height() <= eq.viewport().height()
    # keys: B works in presenter mode, Esc leaves it
    win.backward.action.trigger()
    assert win.diagram.backward
    d.grab()
    clash = [(a[2], b[2]) for k, a in enumerate(d.painted_texts) for b in d.painted_texts[k + 1:]
             if a[0].adjusted(1, 1, -1, -1).intersects(b[0].adjusted(1, 1, -1, -1))]
    assert not clash, clash
    assert all(px >= MIN_TEXT_PX for _, px, _ in d.painted_texts)
    # the backward rows are longer and more: never cut at the right; where two lines a row do not fit
    # the height, each row is its numbers on one line
    assert eq.document().idealWidth() <= eq.viewport().width() and eq.horizontalScrollBar().maximum() == 0
    text = eq.text().replace("\n", " ")
    assert "\u2202L/\u2202ct = \u2202L/\u2202ht" in text or (eq._fit_short and "\u2202L/\u2202ct = " in text)
    win.backward.action.trigger()
    win._on_escape()
    assert not win.presenter.active and win.menuBar().isVisible() and win.timebar.isVisible()
    assert win.settings_dock.isVisible() and win.diagram.look.font_scale == 1.0


def texts_fit(d):
    """Every text the diagram paints: at least MIN_TEXT_PX, inside it, none over another."""
    d.record_texts = True
    d.grab()
    texts = d.painted_texts
    inside = QRectF(0, 0, d.width(), d.height())
    small = [(txt, round(px, 1)) for _, px, txt in texts if px < MIN_TEXT_PX]
    outside = [txt for r, _, txt in texts if not inside.contains(r)]
    clash = [(a[2], b[2]) for k, a in enumerate(texts) for b in texts[k + 1:]
             if a[0].adjusted(1, 1, -1, -1).intersects(b[0].adjusted(1, 1, -1, -1))]
    return small, outside, clash, [txt for _, _, txt in texts]


def test_presenter_of_a_deep_bidirectional_model_keeps_its_texts_apart(qtbot, qsettings, app_paths):
    run = Run(load_example("sine"), settings_for_example("sine", units=4, epochs=1, layers=2, bidirectional=True))
    win = make_window(qtbot, qsettings, run, size=(1280, 720))
    win.session.set_position(layer=1, direction=1, unit=2, t=6)
    win.presenter.set_enabled(True, fullscreen=False)
    win.resize(1280, 720)
    qtbot.waitUntil(lambda: win.diagram.height() > 380, timeout=5000)
    small, outside, clash, texts = texts_fit(win.diagram)
    assert (small, outside, clash) == ([], [], [])
    assert "layer 2 of 2 \u00b7 reverse" in win.equations.text()          # named above the rows
    assert any(t.startswith("xt = ht of layer 1") for t in texts)
    win.presenter.set_enabled(False)
    small, outside, clash, texts = texts_fit(win.diagram)
    assert clash == []                                     # a small diagram: large fonts, the notes left out
    assert min(px for _, px, _ in win.diagram.painted_texts) >= win.diagram.MIN_SCREEN_PX - 0.05
    win.resize(1800, 1100)
    qtbot.waitUntil(lambda: win.diagram.width() > 1000, timeout=5000)
    small, outside, clash, texts = texts_fit(win.diagram)
    assert clash == [] and any("goes to the head" in t for t in texts)   # room enough: the notes are back


# -- the worked example ------------------------------------------------------------------------------------
def test_worked_example_shows_the_articles_t1_numbers_and_its_slips(window, qtbot):
    win = window
    with qtbot.waitSignal(win.sigDataLoaded, timeout=30000):
        win.open_example("worked-example")
    qtbot.waitUntil(lambda: win.trace is not None and win.trace.h.shape[-1] == 3 and not win.display.busy,
                    timeout=30000)
    win.session.set_position(t=0, unit=1)
    vals = win.equations.equation_values()
    assert round(vals["f"]["value"], 3) == 0.378 and round(vals["f"]["preact"], 3) == -0.5
    assert round(vals["i"]["value"], 3) == 0.378 and round(vals["o"]["value"], 3) == 0.622
    notes = win.equations.notes()
    assert any("f_1 = \u03c3([\u22120.1, 0.3, \u22120.1]) = [0.475, 0.574, 0.475]" in n for n in notes)
    text = win.equations.text()
    assert "Notes on this example" in text and "[0.500, 0.378, 0.622]" in text
    assert win.diagram.displayed_values()["f"] == pytest.approx(0.3775406687981454, abs=1e-15)


def test_leaving_presenter_mode_gives_back_the_same_docks_tab_and_sizes(qtbot, qsettings, app_paths):
    win = make_window(qtbot, qsettings, size=(1400, 900))
    loss = win.plot_docks["loss"]
    win.plot_docks["predictions"].raise_()
    qtbot.waitUntil(lambda: not win.plot_docks["predictions"].visibleRegion().isEmpty(), timeout=5000)
    before = win.plot_docks["predictions"].height(), win.settings_dock.width()
    win.presenter.set_enabled(True, fullscreen=False)
    qtbot.waitUntil(lambda: not win.settings_dock.isVisible(), timeout=5000)
    win._on_escape()
    qtbot.waitUntil(lambda: win.settings_dock.isVisible(), timeout=5000)
    qtbot.waitUntil(lambda: not win.plot_docks["predictions"].visibleRegion().isEmpty(), timeout=5000)
    assert loss.visibleRegion().isEmpty()                                  # still behind the Predictions tab
    after = win.plot_docks["predictions"].height(), win.settings_dock.width()
    assert abs(after[0] - before[0]) <= 2 and abs(after[1] - before[1]) <= 2, (before, after)
