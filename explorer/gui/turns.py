"""A redraw spread over event-loop turns: one piece of work or one widget's paint per turn.

Qt paints every widget a redraw made dirty in one pass, so the paints of a window's diagram, plots
and equations add up in one event-loop turn, on top of the redraw's own work. :class:`TurnQueue`
keeps each turn small:

- **paint units** (a window's heavy widgets: a diagram, a plot, the equations, or a few widgets that
  must change together, such as a diagram and the header naming its step) are *held* while a
  redraw changes them: their updates are off, so they keep showing their last whole paint, and
  each is then repainted in an event-loop turn of its own (a 0-ms timer);
- **jobs** (:meth:`TurnQueue.defer`) run in turns of their own, in order, a newer job of the same
  key replacing one not yet run, the units they change held the same way;
- **slots** (:class:`PanelSlot`): a window's place for a heavy widget built later, in a job of its
  own, so opening the window is a few small turns, not one long one.

A unit is painted whole from the state its widgets hold, so what it shows is always one consistent
state of its own (its numbers under its labels); it only may lag the others by a few turns.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Iterable, Sequence

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QGraphicsView, QVBoxLayout, QWidget

from explorer.figures.updates import resume_updates, suspend_updates

__all__ = ["PanelSlot", "TurnQueue", "hold_on", "on_screen", "repaint_settled"]


def on_screen(widget: QWidget) -> bool:
    """Shown and not behind another tab (Qt moves a tabified dock's hidden pages off screen, so
    ``isVisible()`` alone says True for them). A widget its children cover whole (a text view under
    its viewport) has an empty region of its own: then a child's counts."""
    if not widget.isVisible():
        return False
    if not widget.visibleRegion().isEmpty():
        return True
    return any(c.isVisible() and not c.visibleRegion().isEmpty()
               for c in widget.findChildren(QWidget, options=Qt.FindChildOption.FindDirectChildrenOnly))


class TurnQueue(QObject):
    """Jobs and held paints of one window, drained one per event-loop turn.

    ``units()`` gives the window's paint units by name, each a sequence of widgets painted
    together. :attr:`sigDrained` follows the turn that emptied the queue."""

    sigDrained = Signal()

    def __init__(self, units: Callable[[], dict[str, Sequence[QWidget]]], parent=None):
        super().__init__(parent)
        self.units = units
        self._queue: dict = {}          # key -> (fn, the units it holds), run in insertion order
        self._held: set[str] = set()    # the names of the units held
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(0)
        self.timer.timeout.connect(self._next)

    @property
    def pending(self) -> int:
        """Jobs and repaints not run yet."""
        return len(self._queue)

    def hold(self, names: Iterable[str] | None = None) -> None:
        """Hold the units ``names`` (None: all) that are on screen and not held yet; each is
        repainted in a turn of its own."""
        units = self.units()
        for name in units if names is None else names:
            unit = tuple(units.get(name, ()))
            if not unit or name in self._held or not any(on_screen(w) for w in unit):
                continue
            for w in unit:
                suspend_updates(w)
            self._held.add(name)
            self._queue[("paint", name)] = (partial(self._release, name, unit), ())
        self._arm()

    def defer(self, key, fn: Callable[[], None], holds: Iterable[str] = (), to_end: bool = False) -> None:
        """Run ``fn`` in an event-loop turn of its own after what is queued, holding the units
        ``holds`` it changes. A job of the same ``key`` not run yet is replaced: in its place, or
        with ``to_end`` behind everything queued (jobs that must run in the order they were
        deferred, such as the pieces of one snapshot, use it)."""
        if to_end:
            self._queue.pop(("job", key), None)
        self._queue[("job", key)] = (fn, tuple(holds))
        self._arm()

    def _arm(self) -> None:
        if self._queue and not self.timer.isActive():
            self.timer.start()

    def _release(self, name: str, unit) -> None:
        self._held.discard(name)
        for w in unit:                          # painted now, in this turn, each once (a widget an
            if resume_updates(w):               # export still holds paints when the export ends)
                repaint_settled(w)

    def _next(self) -> None:
        if not self._queue:
            return
        fn, holds = self._queue.pop(next(iter(self._queue)))
        try:
            self.hold(holds)
            fn()
        finally:                                # (a job that raised does not stop the ones after it)
            if self._queue:
                self._arm()
            else:
                self.sigDrained.emit()


def _scenes(widget: QWidget) -> list:
    views = widget.findChildren(QGraphicsView)
    if isinstance(widget, QGraphicsView):
        views.append(widget)
    return [v.scene() for v in views if v.scene() is not None]


def settle_scenes(scenes) -> bool:
    """Bring graphics scenes up to date now: the layouts waiting for the next turn (a legend's new
    row), a pyqtgraph view's fit of its range (``prepareForPaint``, else done as it paints), the
    scenes' dirty items and what they tell their views (queued calls). True when a scene changed."""
    changed = []

    def note(rects):
        changed.append(len(rects))
    QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest.value)
    for scene in scenes:
        scene.changed.connect(note)
        try:
            prepare = getattr(scene, "prepareForPaint", None)
            if prepare is not None:
                prepare()
            for _ in range(2):          # the scene's dirty items, then what it tells its views
                QCoreApplication.sendPostedEvents(scene, QEvent.Type.MetaCall.value)
        finally:
            scene.changed.disconnect(note)
    return any(changed)


def repaint_settled(widget: QWidget) -> None:
    """Paint ``widget`` now and leave it clean. Painting a pyqtgraph plot can change its layout (an
    axis measures its tick labels as it paints and takes the width they need; the view shrinks, the
    legend moves): the scene then tells its view in a later turn, and Qt paints every dirty widget
    of a window together — the plot would be painted again in another unit's turn. So the scenes
    are settled before the paint, and after it; what the paint changed is painted again here."""
    scenes = _scenes(widget)
    settle_scenes(scenes)
    widget.repaint()
    for _ in range(2):
        if not scenes or not settle_scenes(scenes):
            break
        widget.repaint()


def hold_on(events, turns: TurnQueue, holds: dict[str, Sequence[str]]) -> None:
    """Hold ``turns``' units ``holds[name]`` whenever ``events.<name>`` is emitted (connect this
    before the views subscribe, so the units are held before they change)."""
    for name, names in holds.items():
        getattr(events, name).connect(lambda *_a, names=tuple(names): turns.hold(names))


class PanelSlot(QWidget):
    """A place in a layout for a widget ``make()`` builds later: empty (plain, the window's
    background) until :meth:`build`, which builds it once and returns it (building it on demand when
    code needs it before its turn came)."""

    def __init__(self, make: Callable[[], QWidget], parent=None):
        super().__init__(parent)
        self._make = make
        self.panel: QWidget | None = None
        QVBoxLayout(self).setContentsMargins(0, 0, 0, 0)

    def build(self) -> QWidget:
        if self.panel is None:
            self.panel = self._make()
            self.layout().addWidget(self.panel)
            if self.isVisible():                # shown and laid out now, not in a later turn of its own
                self.panel.show()
                self.layout().activate()
        return self.panel
