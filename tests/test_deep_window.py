"""Deep and bidirectional models in the window (issue 12's "Window" and "File › Open Model"): the
layer and direction selectors, the views that follow them, the settings for a new model, and a
model file's weights opened on the data shown."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from explorer.app.memory_view import memory_spans, memory_to_end  # noqa: E402
from explorer.app.tasks import sample_of  # noqa: E402
from explorer.data.examples import load_example  # noqa: E402
from explorer.engine import make_model  # noqa: E402
from explorer.gui.main_window import MainWindow  # noqa: E402
from explorer.interop import save_model  # noqa: E402
from explorer.runs.store import ModelSettings, Run  # noqa: E402

N = 4          # units per direction


@pytest.fixture
def deep_run(tmp_path):
    """A 2-layer bidirectional LSTM trained headless on the sine example, saved as a run folder."""
    run = Run(load_example("sine"), ModelSettings(cell="lstm", units=N, layers=2, bidirectional=True, epochs=1,
                                                  batch=16, seed=5))
    for _ in run.trainer.steps(max_steps=6):
        pass
    run.save(tmp_path / "deep-run")
    return tmp_path / "deep-run"


@pytest.fixture
def window(qtbot, qsettings, app_paths):
    win = MainWindow(settings=qsettings)
    qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
    win.show()
    qtbot.waitExposed(win)
    return win


def open_run(qtbot, win, folder):
    with qtbot.waitSignal(win.sigRunOpened, timeout=20000):          # read and drawn off the GUI thread
        assert win.open_run(folder)
    assert win.trace is not None and win.session.norms is not None


def start_example(qtbot, win):
    """The start example (sine, one layer, 8 units), its trace computed off the GUI thread."""
    from explorer.gui.main_window import START_EXAMPLE
    from explorer.runs.store import settings_for_example

    win.set_run(Run(load_example(START_EXAMPLE), settings_for_example(START_EXAMPLE, units=8)))
    qtbot.waitUntil(lambda: win.trace is not None and not win.display.busy, timeout=20000)


def shown_step(win, rec, unit):
    """The diagram's and the equations' numbers equal the record of the selected layer's step."""
    shown = win.diagram.displayed_values()
    eq = win.equations.equation_values()
    for name in ("i", "f", "g", "o", "c", "h"):
        assert shown[name] == rec[name][unit], name
        assert eq[name]["value"] == rec[name][unit], name
    assert shown["h_prev"] == rec["h_prev"][unit] == eq["h_prev"]
    assert shown["c_prev"] == rec["c_prev"][unit] == eq["c_prev"]
    np.testing.assert_array_equal(shown["x"], rec["x"])


def raised(qtbot, win, dock, widget, field, expected):
    """Raise ``dock`` (a heatmap behind another tab is fed when its tab is raised, its panels built
    one per turn of the event loop) and wait until ``widget`` shows ``expected`` as ``field``."""
    win.plot_docks[dock].raise_()
    qtbot.waitUntil(lambda: field in widget.values and np.array_equal(widget.values[field], expected)
                    and not widget.building, timeout=5000)


def test_layer_2_reverse_shows_that_layers_values_in_diagram_equations_and_heatmaps(qtbot, window, deep_run,
                                                                                    tmp_path):
    win = window
    open_run(qtbot, win, deep_run)
    sel = win.layer_selector
    assert sel.isVisible() and (sel.layer_spin.minimum(), sel.layer_spin.maximum()) == (1, 2)
    assert sel.direction_combo.isVisible() and sel.direction_combo.count() == 2
    # as a person would: layer 2, reverse, then a unit and a timestep
    sel.layer_spin.setValue(2)
    sel.direction_combo.setCurrentIndex(1)
    win.unit_spin.setValue(2)
    win.timebar.set_t(5)
    pos = win.session.position
    assert (pos.layer, pos.direction, pos.t, pos.unit) == (1, 1, 5, 2)

    # the numbers are layer 2 reverse's: trace.layer(1, 1).step(0, t), its previous state that of t + 1
    sub = win.trace.layer(1, 1)
    rec = sub.step(0, 5)
    shown_step(win, rec, 2)
    assert win.diagram.displayed_values()["h_prev"] == sub.h[0, 6, 2]
    assert win.diagram.displayed_values()["h"] != win.trace.layer(1, 0).h[0, 5, 2]
    # ... computed by the run's weights from the sample: an independent forward pass agrees exactly
    saved = Run.load(deep_run)
    x, _ = sample_of(saved.dataset, win.session.position.sample)
    ref = saved.model.forward(x)
    np.testing.assert_array_equal(sub.h, ref.layer(1, 1).h)
    # its input is the layer below's h_t, both directions (2n values), through weight_ih_l1_reverse
    below = np.concatenate([ref.layer(0, 0).h[0, 5], ref.layer(0, 1).h[0, 5]])
    np.testing.assert_array_equal(rec["x"], below)
    eq = win.equations.equation_values()
    w = saved.model.state_dict()
    for k, gate in enumerate("ifgo"):
        row = k * N + 2
        assert eq[gate]["wx"] == pytest.approx(w["weight_ih_l1_reverse"][row] @ below, abs=1e-15)
        assert eq[gate]["uh"] == pytest.approx(w["weight_hh_l1_reverse"][row] @ sub.h[0, 6], abs=1e-15)
    text = win.equations.text()
    assert "layer 2 of 2 \u00b7 reverse" in text
    assert "of layer 1 (both directions, 8 values)" in text and "ht+1 = " in text and "weight_ih_l1_reverse" in text
    # the diagram says where its input comes from, where h_t goes and which way time runs
    v = win.diagram._frame().values
    assert v["x_from"] == "h_t of layer 1 (both directions, 8 values)"
    assert v["h_to"] == "to the head y_t (with the forward h_t) and to step t\u22121"
    assert v["time_note"].startswith(f"reverse: runs from t = {sub.T} down to 1")
    assert v["prev"] == "t+1"

    # the heatmaps and the memory plot show that layer and direction
    raised(qtbot, win, "gates", win.heatmap_plot, "c", sub.c[0])
    np.testing.assert_array_equal(win.heatmap_plot.values["f"], sub.f[0])
    kept = memory_to_end(sub)                            # ∏ f in the reverse direction's own order
    raised(qtbot, win, "memory", win.memory_plot, "memory", kept)
    assert not np.array_equal(kept, memory_to_end(win.trace))
    # exported, each panel names the layer and direction (on screen the selector does)
    assert win.heatmap_plot.place == "layer 2 of 2 \u00b7 reverse"
    assert win.heatmap_plot.plots["c"].titleLabel.text == "cell state c"
    win.heatmap_plot.export_svg(tmp_path / "gates.svg")
    svg = (tmp_path / "gates.svg").read_text()
    assert "cell state c \u2014 layer 2 of 2 \u00b7 reverse" in svg and "input gate i \u2014 layer 2" in svg
    assert win.heatmap_plot.plots["c"].titleLabel.text == "cell state c"
    assert win.memory_plot.plots["memory"].titleLabel.text.endswith("\u2014 layer 2 of 2 \u00b7 reverse")
    # the gradient through time: layer 2's norms (both directions), as the engine computes them
    _, norms, _ = saved.model.compute_grads(x, sample_of(saved.dataset, pos.sample)[1], saved.dataset.loss)
    np.testing.assert_allclose(win.through_time_plot.dh, norms.dh_layers[1], rtol=1e-12)
    assert not np.allclose(norms.dh_layers[1], norms.dh_layers[0])
    # Most memory picks among layer 2 reverse's units
    u = win.select_memory_unit()
    assert u == int(np.argmax(memory_spans(sub, sample=0)))

    # back to layer 1 forward: everything follows
    win.layer_selector.select(layer=0, direction=0)
    assert win.diagram.displayed_values()["h"] == win.trace.h[0, 5, u]
    raised(qtbot, win, "gates", win.heatmap_plot, "c", win.trace.c[0])
    assert win.heatmap_plot.place == "layer 1 of 2 \u00b7 forward"
    raised(qtbot, win, "memory", win.memory_plot, "memory", memory_to_end(win.trace))
    assert win.memory_plot.plots["memory"].titleLabel.text.endswith("\u2014 layer 1 of 2 \u00b7 forward")
    np.testing.assert_allclose(win.through_time_plot.dh, norms.dh_layers[0], rtol=1e-12)
    assert win.diagram._frame().values["x_from"] == ""                  # layer 1 reads the input x_t
    assert win.diagram._frame().values["h_to"] == "to both directions of layer 2 and to step t+1"


def test_one_layer_one_direction_has_no_selector_and_no_other_layer(qtbot, window):
    win = window
    start_example(qtbot, win)
    sel = win.layer_selector
    assert sel.isHidden() and sel.layer_spin.maximum() == 1 and sel.direction_combo.isHidden()
    sel.select(layer=1, direction=1)                  # whatever is asked: there is no layer 2, no reverse
    win.session.set_position(layer=3, direction=1)
    assert (win.session.position.layer, win.session.position.direction) == (0, 0)
    assert win.diagram._frame().header.endswith("unit 0 of 8")       # no layer named for one layer
    assert win.diagram._frame().values["h_to"] == ""
    assert win.heatmap_plot.place == ""
    raised(qtbot, win, "memory", win.memory_plot, "memory", memory_to_end(win.trace))
    assert win.memory_plot.plots["memory"].titleLabel.text == (
        "Memory kept: \u220f f\u209b, s &gt; t (of what each unit wrote at step t, the share still on the belt at the "
        "last step)")


def test_the_settings_offer_layers_and_directions_and_ask_before_discarding(qtbot, window, deep_run, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from explorer.gui.settings_panel import LAYERS_RANGE

    win = window
    open_run(qtbot, win, deep_run)
    sp = win.settings_panel
    assert (sp.layers_spin.minimum(), sp.layers_spin.maximum()) == LAYERS_RANGE == (1, 16)
    assert sp.layers_spin.value() == 2 and sp.bidirectional_box.isChecked()
    assert (win.param_plot.layers, win.param_plot.directions) == (2, 2)
    assert win.param_plot.marker_position() == (N, win.run.model.param_count.layer)
    trained = win.run
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.No)
    sp.layers_spin.setValue(3)                        # trained weights: asks, and "No" keeps everything
    assert len(asked) == 1 and "the layers" in asked[0]
    assert win.run is trained and sp.layers_spin.value() == 2
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    win.layer_selector.select(layer=1, direction=1)
    sp.bidirectional_box.setChecked(False)            # "Yes": a new one-direction model of 2 layers
    qtbot.waitUntil(lambda: win.trace is not None and win.trace.num_directions == 1, timeout=20000)
    assert (win.run.model.num_layers, win.run.model.num_directions) == (2, 1)
    assert win.session.position.direction == 0 and win.session.position.layer == 1
    sel = win.layer_selector
    assert sel.isVisible() and sel.direction_combo.isHidden() and sel.layer_spin.maximum() == 2
    assert (win.param_plot.layers, win.param_plot.directions) == (2, 1)
    m = win.run.dataset.n_inputs
    assert win.param_plot.marker_position() == (N, 4 * N * (m + N + 1) + 4 * N * (N + N + 1))
    assert win.diagram._frame().values["x_from"] == "h_t of layer 1 (4 values)"
    assert win.diagram._frame().values["h_to"] == "to the head y_t and to step t+1"


def write_model(path, layers=2, bidirectional=True, m=1, n=3, seed=11):
    model = make_model("lstm", m, n, 1, num_layers=layers, bidirectional=bidirectional, seed=seed)
    model.params[...] += 0.1 * np.random.default_rng(seed).standard_normal(model.params.size)
    save_model(model, path)
    return model


def test_open_model_shows_the_files_weights(qtbot, window, tmp_path):
    win = window
    start_example(qtbot, win)
    assert win.open_model_action.shortcut().toString() == "Ctrl+Shift+O"
    assert win.open_model_action in win.menuBar().actions()[0].menu().actions()
    src = write_model(tmp_path / "deep.safetensors")
    with qtbot.waitSignal(win.models.sigModelOpened, timeout=20000):    # read off the GUI thread
        assert win.open_model(tmp_path / "deep.safetensors")
    np.testing.assert_array_equal(win.run.model.params, src.params)
    assert (win.run.settings.units, win.run.settings.layers, win.run.settings.bidirectional) == (3, 2, True)
    assert "deep.safetensors: a 2-layer bidirectional LSTM of 3 units over 1 input" in win.banner.label.text()
    x, _ = sample_of(win.run.dataset, win.session.position.sample)
    ref = src.forward(x)                                # a forward pass of the file's model, outside the window
    win.layer_selector.select(layer=1, direction=1)
    win.timebar.set_t(7)
    win.unit_spin.setValue(1)
    shown_step(win, ref.layer(1, 1).step(0, 7), 1)
    win.layer_selector.select(layer=0, direction=0)
    shown_step(win, ref.step(0, 7), 1)
    assert win.layer_selector.layer_spin.maximum() == 2


def test_a_model_that_cannot_be_used_leaves_the_run(qtbot, window, tmp_path):
    win = window
    start_example(qtbot, win)
    before, trace = win.run, win.trace
    (tmp_path / "bad.safetensors").write_bytes(b"nonsense")
    with qtbot.waitSignal(win.models.sigModelFailed, timeout=20000) as failed:
        win.open_model(tmp_path / "bad.safetensors")
    assert failed.args[0].startswith("bad.safetensors is not a readable safetensors file")
    assert win.banner.label.text() == failed.args[0]
    assert win.run is before and win.trace is trace
    write_model(tmp_path / "three.safetensors", layers=1, bidirectional=False, m=3)
    with qtbot.waitSignal(win.models.sigModelFailed, timeout=20000) as failed:
        win.open_model(tmp_path / "three.safetensors")
    assert failed.args[0].startswith("three.safetensors takes 3 inputs per step but ")
    assert failed.args[0].count(". ") == 0 and failed.args[0].endswith(".")       # one sentence
    assert win.run is before and win.trace is trace and not win.models.busy


def test_open_model_shows_a_pytorch_models_own_numbers(qtbot, window, tmp_path):
    """A model trained and saved in PyTorch (nn.LSTM, 2 layers, bidirectional, under a prefix, head
    ``fc``, safetensors.torch.save_file) opened with File › Open Model: the window's numbers are
    torch's own — the top layer's h_t of both directions, the final cell state of every layer and
    direction (torch's c_n), the head's predictions."""
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    torch.manual_seed(7)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(1, 5, num_layers=2, bidirectional=True, batch_first=True,
                                      dtype=torch.float64)
            self.fc = torch.nn.Linear(10, 1, dtype=torch.float64)

    net = Net()
    save_file({f"encoder.{k}": v.contiguous() for k, v in net.state_dict().items()},
              str(tmp_path / "torch.safetensors"))
    win = window
    start_example(qtbot, win)
    with qtbot.waitSignal(win.models.sigModelOpened, timeout=20000):
        assert win.open_model(tmp_path / "torch.safetensors")
    assert win.banner.label.text().startswith('torch.safetensors: a 2-layer bidirectional LSTM of 5 units over '
                                              '1 input (prefix "encoder.lstm."), head "encoder.fc" with 1 output')
    assert (win.layer_selector.layer_spin.maximum(), win.layer_selector.direction_combo.count()) == (2, 2)
    x, _ = sample_of(win.run.dataset, win.session.position.sample)
    with torch.no_grad():
        out, (h_n, c_n) = net.lstm(torch.tensor(np.array(x, dtype=np.float64)))
        y = net.fc(out)
    out, c_n, y = out.numpy()[0], c_n.numpy()[:, 0], y.numpy()[0]
    T = out.shape[0]
    for layer, direction in ((1, 0), (1, 1), (0, 0), (0, 1)):
        win.layer_selector.select(layer=layer, direction=direction)
        last = 0 if direction else T - 1                 # where this direction ends (torch's c_n)
        for t in (last, 3):
            win.timebar.set_t(t)
            for unit in (0, 4):
                win.unit_spin.setValue(unit)
                shown = win.diagram.displayed_values()
                assert win.equations.equation_values()["h"]["value"] == shown["h"]
                if layer == 1:
                    assert shown["h"] == pytest.approx(out[t, 5 * direction + unit], abs=1e-12)
                if t == last:
                    assert shown["c"] == pytest.approx(c_n[2 * layer + direction, unit], abs=1e-12)
    np.testing.assert_allclose(win.trace.y[0], y, atol=1e-12)


def test_open_model_refuses_a_pickle_without_running_it(qtbot, window, tmp_path):
    torch = pytest.importorskip("torch")
    import tests.test_interop_pickle as canaries

    win = window
    start_example(qtbot, win)
    before, trace = win.run, win.trace
    ran = tmp_path / "ran"
    torch.save({"state": torch.nn.LSTM(1, 8, batch_first=True).state_dict(), "x": canaries.Canary(ran)},
               tmp_path / "model.pt")
    with qtbot.waitSignal(win.models.sigModelFailed, timeout=20000) as failed:
        win.open_model(tmp_path / "model.pt")
    assert failed.args[0].startswith("model.pt is a pickle (PyTorch's torch.save writes one), which LSTM "
                                      "Explorer never opens")
    assert win.banner.label.text() == failed.args[0]
    assert win.run is before and win.trace is trace and not ran.exists()


def test_open_model_without_data_says_to_open_data_first(qtbot, window, tmp_path):
    win = window
    assert win.run is None
    write_model(tmp_path / "m.safetensors", layers=1, bidirectional=False)
    with qtbot.waitSignal(win.models.sigModelFailed, timeout=5000) as failed:
        assert not win.open_model(tmp_path / "m.safetensors")
    assert failed.args[0] == ("m.safetensors needs data to run on; open a data file or an example first "
                              "(File \u203a Open), then open the model again.")
    assert win.banner.label.text() == failed.args[0] and win.run is None
