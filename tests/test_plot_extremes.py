"""Any finite data trains and plots: denormal numbers (near 5e-324) and values near the loader's
±1e150 limit go through ``train`` with every export and through the window's Export all. pyqtgraph's
tick code divides by a spacing that underflows for view ranges near 1e-323; the plots' view boxes
never take a range that narrow."""

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from explorer.figures import plots
from explorer.figures.axes import format_number, log_tick_levels
from explorer.figures.panel import MIN_VIEW_SPAN, SpanViewBox, ensure_app, widened

ROOT = Path(__file__).resolve().parents[1]
DENORMALS = [5e-324 * (i % 7) for i in range(200)]


def write_column(path, values):
    path.write_text("v\n" + "".join(f"{v!r}\n" for v in values))
    return path


def test_widened_keeps_wide_ranges_and_widens_narrow_ones():
    assert widened(0.0, 1.0) == (0.0, 1.0)
    assert widened(3.0, -2.0) == (-2.0, 3.0)
    lo, hi = widened(0.0, 3e-323)
    assert hi - lo == pytest.approx(MIN_VIEW_SPAN) and lo / 2 + hi / 2 == pytest.approx(1.5e-323, abs=1e-300)
    lo, hi = widened(1e149, 1e149 + 1e134)               # 1e-15 of the values: widened to 1e-12 of them
    assert hi - lo == pytest.approx(1e137, rel=1e-3) and lo < 1e149 < hi


def test_a_view_box_never_takes_a_denormal_range():
    ensure_app()
    vb = SpanViewBox()
    vb.setRange(xRange=(0.0, 1.0), yRange=(0.0, 1e-323), padding=0)
    (x0, x1), (y0, y1) = vb.viewRange()
    assert (x0, x1) == (0.0, 1.0)
    assert y1 - y0 == pytest.approx(MIN_VIEW_SPAN)


def test_ticks_of_tiny_and_denormal_ranges_are_finite():
    levels = log_tick_levels(-323.3, -323.3 + 1e-9, 400, 40)     # a log axis of losses near 5e-324
    assert [len(v) for _, v in levels] == [1, 0] and math.isfinite(levels[0][1][0])
    assert format_number(1e-251, 1e-251) == "10⁻²⁵¹"
    assert format_number(-3e-251, 1e-251) == "−3×10⁻²⁵¹"
    assert format_number(1e-20, 0.5) == "0"


def test_a_plot_of_denormal_values_exports(tmp_path):
    ensure_app()
    w = plots.PredictionPlotWidget()
    t = np.arange(40.0)
    w.set_series(t, np.array(DENORMALS[:40]), t, np.zeros(40))
    written = plots.export_plot(w, tmp_path, "pred")
    assert [p.name for p in written] == ["pred.png", "pred.svg", "pred.csv"]
    assert written[0].stat().st_size > 5_000
    (y0, y1) = w.plot.vb.viewRange()[1]
    assert y1 - y0 >= MIN_VIEW_SPAN


@pytest.mark.parametrize("values", [DENORMALS, [(1e149 if i % 2 else -1e149) * math.sin(i / 5) for i in range(200)],
                                    [-1e149 + (i % 3) * 1e134 for i in range(200)]],
                         ids=["denormal", "near-1e150", "flat-near-1e149"])
def test_train_writes_every_plot_of_extreme_finite_data(tmp_path, values):
    data = write_column(tmp_path / "extreme.csv", values)
    out = tmp_path / "run"
    p = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-m", "explorer", "train", data, "--units", "2",
                        "--epochs", "1", "--quiet", "--out", out], capture_output=True, text=True, timeout=180,
                       cwd=ROOT)
    assert p.returncode == 0, p.stderr[-2000:]
    for stem in ("loss", "grad_norms", "grad_through_time", "param_count", "predictions"):
        assert (out / f"{stem}.png").stat().st_size > 5_000
        assert (out / f"{stem}.svg").read_text().rstrip().endswith("</svg>")
    rows = (out / "predictions.csv").read_text().splitlines()
    assert len(rows) > 10


def test_train_refuses_values_beyond_the_limit_in_one_sentence(tmp_path):
    data = write_column(tmp_path / "huge.csv", [1e300 if i % 2 else -1e300 for i in range(200)])
    p = subprocess.run([sys.executable, "-m", "explorer", "train", data, "--units", "2", "--epochs", "1", "--quiet",
                        "--out", tmp_path / "run"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "beyond ±1e+150" in p.stderr, p.stderr
    assert not (tmp_path / "run").exists()


def test_window_exports_everything_of_denormal_data(qtbot, qsettings, app_paths, tmp_path):
    from explorer.gui.main_window import MainWindow

    data = write_column(tmp_path / "tiny.csv", DENORMALS)
    win = MainWindow(settings=qsettings)
    qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
    win.show()
    with qtbot.waitSignal(win.sigDataLoaded, timeout=20000):
        win.open_file(str(data))
    qtbot.waitUntil(lambda: win.prediction_plot.has_data() and win.trace is not None, timeout=20000)
    files = {p.name: p for p in win.export_all(tmp_path / "export")}
    assert {"predictions.png", "predictions.svg", "diagram.png", "equations.png"} <= set(files)
    assert all(p.stat().st_size > 0 for p in files.values())
    (y0, y1) = win.prediction_plot.plot.vb.viewRange()[1]
    assert y1 - y0 >= MIN_VIEW_SPAN


def test_the_intervention_plot_draws_denormal_values(qtbot, qsettings, app_paths):
    from explorer.gui.main_window import MainWindow
    from explorer.runs.store import Run, settings_for_example
    from explorer.data.examples import load_example

    win = MainWindow(settings=qsettings)
    win.set_run(Run(load_example("sine"), settings_for_example("sine", units=3, epochs=1)))
    qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
    plot = win.interventions.panel.plot
    plot.plot(np.arange(1.0, 8.0), np.array(DENORMALS[:7]))
    plot.vb.autoRange()
    image = win.interventions.panel.plot_widget.grab()          # draws the axes: the tick code ran
    assert not image.isNull()
    (y0, y1) = plot.vb.viewRange()[1]
    assert y1 - y0 >= MIN_VIEW_SPAN


def test_a_model_of_tiny_weights_draws_its_diagram(qtbot, qsettings, app_paths, tmp_path):
    from explorer.data.examples import load_example
    from explorer.engine import make_model
    from explorer.app.cell_frame import ValueScale
    from explorer.gui.main_window import MainWindow
    from explorer.runs.store import ModelSettings, Run

    assert ValueScale.of([5e-324]).vmax == 5e-324 and ValueScale.of([5e-324]).label() == "4.9e-324"
    assert ValueScale.of([1e-310, -3e-310]).label() == "3e-310"
    assert ValueScale.of([0.0]).vmax == 1.0 and ValueScale.of([0.37]).label() == "0.37"
    ds = load_example("sine")
    model = make_model("lstm", 1, 3, 1, seed=0)
    state = {k: v * 1e-307 for k, v in model.state_dict().items()}   # the cell state near float64's end
    model.load_state_dict(state)
    win = MainWindow(settings=qsettings)
    qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
    win.set_run(Run(ds, ModelSettings(units=3, epochs=1), model=model))
    win.show()
    qtbot.waitUntil(lambda: win.trace is not None, timeout=20000)
    assert 0 < np.max(np.abs(win.trace.c)) < 1e-300
    assert win.export_one("diagram", tmp_path / "d.png") and win.export_one("diagram", tmp_path / "d.svg")
    assert (tmp_path / "d.png").stat().st_size > 10_000
