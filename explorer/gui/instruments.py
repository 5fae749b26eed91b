"""The teaching instruments, installed into the window with one call (:func:`install`):
interventions (:mod:`explorer.gui.interventions`), the backward mode (:mod:`explorer.gui.backward`),
replay (:mod:`explorer.gui.replay`), File › Export › Animation (:mod:`explorer.gui.animation_export`)
and presenter mode (:mod:`explorer.gui.presenter`); the trace they show is the session's (its
source: the sample, the replayed epoch, the interventions), computed by
:class:`explorer.gui.training.DisplayController`.
"""

from __future__ import annotations

from PySide6.QtCore import Qt

from explorer.gui.animation_export import AnimationExportController
from explorer.gui.backward import BackwardController
from explorer.gui.edit_input import EditInputController
from explorer.gui.interventions import InterventionsController
from explorer.gui.lessons import LessonController
from explorer.gui.units_panel import UnitsController
from explorer.gui.presenter import PresenterMode
from explorer.gui.replay import ReplayBarWidget


def _menu(win, title: str):
    """The menu bar's menu whose text (without &) is ``title``."""
    for a in win.menuBar().actions():
        if a.menu() is not None and a.text().replace("&", "") == title:
            return a.menu()
    return win.menuBar().addMenu(title)


def _submenu(menu, title: str):
    for a in menu.actions():
        if a.menu() is not None and a.text().replace("&", "") == title:
            return a.menu()
    return None


def install(win) -> None:
    """Make the controllers (``win.interventions``, ``win.backward``, ``win.replay_bar``,
    ``win.animation_export``, ``win.presenter``, ``win.units``, ``win.edit_input``, ``win.lessons``) and put their actions in the
    menus: View › Backward pass (B), View › Presenter (F11), View › Interventions, File › Export ›
    Animation…; the replay bar goes under the timestep bar."""
    s, threads, status = win.session, win.threads, win.status
    right = Qt.DockWidgetArea.RightDockWidgetArea
    win.interventions = InterventionsController(
        s, status, diagram=win.diagram, prediction_plot=win.prediction_plot, dialog_parent=win, parent=win,
        show_dock=lambda dock: (dock.show(), win.resizeDocks([dock], [380], Qt.Orientation.Horizontal)))
    win.addDockWidget(right, win.interventions.dock)
    win.backward = BackwardController(s, threads, status, timebar=win.timebar, views=(win.equations, win.diagram),
                                      parent=win)
    win.addAction(win.backward.action)
    win.replay_bar = ReplayBarWidget(s)
    col = win.timebar.parentWidget().layout()
    col.insertWidget(col.indexOf(win.timebar) + 1, win.replay_bar)
    win.animation_export = AnimationExportController(s, threads, status, epoch_text=win.diagram.epoch_text,
                                                     last_folder=win.last_folder, dialog_parent=win, parent=win)
    win.presenter = PresenterMode(win)
    view = _menu(win, "View")
    view.addSeparator()
    view.addAction(win.backward.action)
    view.addAction(win.presenter.action)
    view.addAction(win.interventions.dock.toggleViewAction())
    win.units = UnitsController(s, threads, status, parent=win)
    win.addDockWidget(right, win.units.dock)
    view.addAction(win.units.dock.toggleViewAction())
    win.edit_input = EditInputController(s, status, position_selector=win.position_selector, parent=win)
    win.addDockWidget(right, win.edit_input.dock)
    view.addAction(win.edit_input.dock.toggleViewAction())
    win.lessons = LessonController(win)
    win.lessons.add_actions(_menu(win, "File"), _menu(win, "Help"))
    export = _submenu(_menu(win, "File"), "Export")
    if export is not None:
        export.addSeparator()
        export.addAction(win.animation_export.action)
