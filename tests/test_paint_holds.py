"""Paints held by more than one party (a redraw's turns and an export) come back when the last
hold ends; a heatmap cleared mid-build shows its view, not a stale note; a run the collector froze
is freed once another replaces it."""

import gc
import weakref

import numpy as np
import pytest

pytest.importorskip("PySide6")

from explorer.data.examples import load_example  # noqa: E402
from explorer.figures.heatmaps import GateHeatmapWidget  # noqa: E402
from explorer.figures.plots import LossPlotWidget  # noqa: E402
from explorer.figures.updates import paint_holds  # noqa: E402
from explorer.gui import app as app_module  # noqa: E402
from explorer.gui import main_gc  # noqa: E402
from explorer.gui.turns import TurnQueue  # noqa: E402
from explorer.runs.store import Run, settings_for_example  # noqa: E402


@pytest.fixture
def plot(qtbot):
    w = LossPlotWidget()
    qtbot.addWidget(w)
    w.resize(600, 400)
    w.show()
    qtbot.waitExposed(w)
    return w


@pytest.mark.parametrize("release_first", [True, False])
def test_a_unit_held_while_it_exports_paints_again_when_both_are_done(qtbot, plot, tmp_path, release_first):
    turns = TurnQueue(lambda: {"loss": (plot,)})
    turns.watch()
    plot.repaint()                                    # painted once since the queue watches it: held
    steps = plot.export_steps(png=str(tmp_path / "a.png"))
    next(steps)
    next(steps)                                       # the export now holds the paints
    assert paint_holds(plot) == 1 and not plot.updatesEnabled()
    turns.hold(["loss"])                              # a training update arrives meanwhile
    assert paint_holds(plot) == 2
    if release_first:                                 # the queue's turn comes first: still exporting
        qtbot.waitUntil(lambda: turns.pending == 0, timeout=5000)
        assert paint_holds(plot) == 1 and not plot.updatesEnabled()
    jobs = [job for job in steps if job is not None]  # the export's remaining steps
    assert len(jobs) == 1
    jobs[0]()
    qtbot.waitUntil(lambda: turns.pending == 0, timeout=5000)
    assert paint_holds(plot) == 0 and plot.updatesEnabled()
    assert (tmp_path / "a.png").stat().st_size > 1000


def test_a_heatmap_cleared_while_its_panels_are_built_shows_its_view(qtbot):
    heat = GateHeatmapWidget()
    heat.build_in_steps = True
    qtbot.addWidget(heat)
    heat.resize(800, 600)
    heat.show()
    qtbot.waitExposed(heat)
    rng = np.random.default_rng(0)
    heat.set_trace({k: rng.random((10, 4)) for k in "ifgoch"})
    qtbot.waitUntil(lambda: heat.building and len(heat.plots) >= 1, timeout=5000)
    assert heat.building_note.isVisible() and not heat.view.isVisible()
    heat.clear()                                      # another run, mid-build
    assert not heat.building and heat.view.isVisible() and heat.building_note.isHidden()
    qtbot.wait(50)                                    # a build step still queued changes nothing
    assert not heat.building and heat.view.isVisible() and heat.building_note.isHidden()
    assert heat.plots == {}


def test_the_run_a_window_opened_with_is_freed_when_another_replaces_it(qtbot, qapp, qsettings, app_paths,
                                                                         monkeypatch):
    """The window settles (freezes what lives as long as the program) before it opens data: the
    start run is never frozen, and another run replacing it frees it."""
    monkeypatch.setattr(main_gc, "_collector", None)
    try:
        coll = main_gc.collect_on_gui_thread(qapp)
        coll.timer.stop()
        win = app_module.build_window(settings=qsettings)
        qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
        assert coll.frozen > 0                                     # settled while it was built
        first = weakref.ref(win.session.run)
        assert any(obj is first() for obj in gc.get_objects())     # the start run: in the collector's sight
        win.set_run(Run(load_example("sine"), settings_for_example("sine", units=4, epochs=1)))
        qtbot.waitUntil(lambda: not win.display.busy, timeout=20000)
        gc.collect()
        assert first() is None                                     # the replaced run is gone
    finally:
        if main_gc._collector is not None:
            main_gc._collector.timer.stop()
        gc.unfreeze()
