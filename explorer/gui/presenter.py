"""Presenter mode (View › Presenter, F11): the diagram and the equations large for a projector.

Large fonts and thicker lines in the diagram (:data:`~explorer.figures.cell_canvas.PRESENTER`:
a high-contrast, colour-blind-safe look whose value scale stays diverging — dark blue, white,
dark orange), large equations, and nothing else: docks, toolbar, menu bar, status bar, the
selectors and the timestep bar are hidden; the diagram sits above the equations, which get the
height their rows need (at most :data:`EQUATIONS_SHARE` of it), so no row scrolls. The diagram
shows the cell alone, every number at least 20 px on screen. Keys only: Left/Right/Space/Home/End
step, B the backward pass, F11 or Esc leave. Legible at 1024×700.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QFont, QKeySequence
from PySide6.QtWidgets import QDockWidget, QLayout, QToolBar

from explorer.figures.cell_canvas import PRESENTER

EQUATIONS_PX = 22            # the equations' font in presenter mode (pixels) ...
EQUATIONS_PX_SHORT = 20      # ... on a window lower than EquationsView.SHORT_SCREEN (1024×700)
EQUATIONS_SHARE = 0.55       # the most of the height the equations take from the diagram


class PresenterMode:
    """Enter / leave presenter mode; remembers what it hid and restores it."""

    def __init__(self, win):
        self.win = win
        self.active = False
        self._saved: dict = {}
        self.action = QAction("&Presenter", win, checkable=True)
        self.action.setShortcut(QKeySequence("F11"))
        self.action.setToolTip("Large, high-contrast diagram and equations for a projector; keys only (F11, Esc)")
        self._fullscreen = True
        self.action.toggled.connect(self._on_action_toggled)
        win.addAction(self.action)          # its key works with the menu bar hidden

    def _selector_widgets(self) -> list:
        """The widgets of the layouts above the diagram (sample, unit, … selectors)."""
        left = self.win.diagram.parentWidget()
        out = []
        lay = left.layout()
        for k in range(lay.count()):
            sub = lay.itemAt(k).layout()
            if isinstance(sub, QLayout):
                out += [sub.itemAt(j).widget() for j in range(sub.count()) if sub.itemAt(j).widget() is not None]
        return out

    def set_enabled(self, on: bool, fullscreen: bool = True) -> None:
        """Enter (full screen unless ``fullscreen`` is False) or leave presenter mode."""
        self._fullscreen = fullscreen
        if self.action.isChecked() != on:
            self.action.setChecked(on)      # the action's toggled signal applies it
        else:
            self._apply(on)

    def _on_action_toggled(self, on: bool) -> None:
        self._apply(on)
        self._fullscreen = True

    def _apply(self, on: bool) -> None:
        fullscreen = self._fullscreen
        if on == self.active:
            return
        win = self.win
        if on:
            hide = [d for d in win.findChildren(QDockWidget) if d.isVisible()]
            hide += [t for t in win.findChildren(QToolBar) if t.isVisible()]
            hide += [w for w in (win.menuBar(), win.statusBar(), win.timebar) if w.isVisible()]
            hide += [w for w in self._selector_widgets() if w.isVisible()]
            replay = getattr(win, "replay_bar", None)
            if replay is not None and replay.isVisible():
                hide.append(replay)
            # the docks on top of their tab groups (a tab behind another is "visible" to Qt too)
            raised = [d for d in win.findChildren(QDockWidget) if d.isVisible() and not d.visibleRegion().isEmpty()]
            self._saved = {"hidden": hide, "orientation": win.splitter.orientation(),
                           "sizes": win.splitter.sizes(), "font": QFont(win.equations.font()),
                           "state": win.windowState(), "raised": raised, "layout": win.saveState()}
            for w in hide:
                w.hide()
            win.splitter.setOrientation(Qt.Orientation.Vertical)
            h = max(win.splitter.height(), 400)
            win.splitter.setSizes([round(h * 0.6), round(h * 0.4)])
            win.diagram.set_look(PRESENTER)
            font = QFont(win.equations.font())
            font.setPixelSize(EQUATIONS_PX)
            win.equations.setFont(font)
            win.equations.setStyleSheet("QTextBrowser { background: white; color: black; }")
            win.equations.set_presenting(True)
            win.equations.document().documentLayout().documentSizeChanged.connect(self._fit_equations)
            self.active = True
            if fullscreen:
                win.showFullScreen()
            win.diagram.setFocus(Qt.FocusReason.ShortcutFocusReason)
        else:
            saved = self._saved
            win.equations.document().documentLayout().documentSizeChanged.disconnect(self._fit_equations)
            win.diagram.set_look(None)
            win.equations.setStyleSheet("")
            win.equations.set_presenting(False)
            win.equations.setFont(saved.get("font", win.equations.font()))
            win.splitter.setOrientation(saved.get("orientation", Qt.Orientation.Horizontal))
            if saved.get("sizes"):
                win.splitter.setSizes(saved["sizes"])
            for w in saved.get("hidden", []):
                w.show()
            if saved.get("layout") is not None:
                win.restoreState(saved["layout"])          # the docks' sizes as they were
            for d in saved.get("raised", []):
                d.raise_()                                  # and the same tab on top
            if win.isFullScreen():
                win.setWindowState(saved.get("state", Qt.WindowState.WindowNoState) & ~Qt.WindowState.WindowFullScreen)
            self._saved = {}
            self.active = False
        win.equations.refresh()
        if on:
            self._fit_equations()

    def _fit_equations(self, *_) -> None:
        """Give the equations the height of their rows (none scrolls), the diagram the rest."""
        win = self.win
        eq, sp = win.equations, win.splitter
        if not self.active or sp.orientation() != Qt.Orientation.Vertical:
            return
        px = EQUATIONS_PX_SHORT if win.height() < eq.SHORT_SCREEN else EQUATIONS_PX
        if eq.font().pixelSize() != px:
            font = QFont(eq.font())
            font.setPixelSize(px)
            eq.setFont(font)
            eq.refresh()                    # (its document's new size calls this again)
            return
        total = sum(sp.sizes())
        chrome = eq.height() - eq.viewport().height()
        need = min(round(total * EQUATIONS_SHARE), int(eq.document().size().height() + 0.999) + chrome + 2)
        if abs(sp.sizes()[1] - need) > 1:
            sp.setSizes([total - need, need])

    def on_escape(self) -> bool:
        """Esc: leave presenter mode (True) — or do nothing here (False)."""
        if self.active:
            self.set_enabled(False)
            return True
        return False
