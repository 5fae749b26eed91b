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

A unit is held only when it shows a paint of its present place (:class:`PaintState`); one shown,
moved or resized while held is let paint at once, with the layout change. A plot held draws its new
data in its turn, just before its paint (``draw_pending``), and is left clean by it
(:func:`repaint_settled`). :meth:`TurnQueue.run_all` runs everything queued at once (a window's
``grab()`` does, so a picture of it never shows a held widget, which Qt would render black).

A unit is painted whole from the state its widgets hold, so what it shows is always one consistent
state of its own (its numbers under its labels); it only may lag the others by a few turns.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Iterable, Sequence

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QPoint, Qt, QTimer, Signal
from PySide6.QtWidgets import QGraphicsView, QVBoxLayout, QWidget

from explorer.figures.updates import resume_updates, suspend_updates

__all__ = ["PaintState", "PanelSlot", "TurnQueue", "hold_on", "on_screen", "repaint_settled"]


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


class PaintState(QObject):
    """Whether a unit's widget shows a whole paint of its present place: painted since it was last
    shown or resized, at the place in its window where it is now (a dock raised from behind a tab
    brings its plot back from off screen without telling the plot). Until then the window's
    picture has nothing of it where it now is: held, it would show black, or the pixels of what
    was there, until its turn. ``moved(widget)`` is told when a watched widget is shown, moved or
    resized, or a widget it is in is (a held one is then let paint at once, with the layout change
    that moved it).

    A widget is watched from the first time :meth:`painted` asks (a window asks for all its units
    once built, before it is shown: :meth:`TurnQueue.watch`); its paints are those of the widgets
    inside it watched so far (a plot paints its viewport; asking again watches those added since)."""

    _PAINTED = "_painted_at"
    _UNIT = "_paint_state_unit"
    _WATCHED = "_paint_state_watched"
    _WITHIN = "_paint_state_units_within"

    def __init__(self, moved: Callable[[QWidget], None], parent=None):
        super().__init__(parent)
        self.moved = moved

    @staticmethod
    def _place(widget: QWidget) -> tuple:
        window = widget.window()
        p = widget.mapTo(window, QPoint(0, 0))
        return p.x(), p.y(), id(window)

    def painted(self, widget: QWidget) -> bool:
        at = getattr(widget, self._PAINTED, None)
        if at is not None and at == self._place(widget):
            return True
        self.watch(widget)
        return False

    def watch(self, widget: QWidget) -> None:
        setattr(widget, self._UNIT, True)
        for w in (widget, *widget.findChildren(QWidget)):
            self._filter(w)
        a = widget.parentWidget()               # the widgets it is in: a dock moved off screen and
        while a is not None and not a.isWindow():   # back (a tab) moves the plot in it unawares
            within = getattr(a, self._WITHIN, None)
            if within is None:
                within = []
                setattr(a, self._WITHIN, within)
            if not any(u is widget for u in within):
                within.append(widget)
            self._filter(a)
            a = a.parentWidget()

    def _filter(self, w: QWidget) -> None:
        if not getattr(w, self._WATCHED, False):
            setattr(w, self._WATCHED, True)
            w.installEventFilter(self)

    def eventFilter(self, obj, event):  # noqa: N802 - Qt's name
        t = event.type()
        if t == QEvent.Type.Paint:
            w = obj
            while w is not None:
                if getattr(w, self._UNIT, False):
                    setattr(w, self._PAINTED, self._place(w))
                w = w.parentWidget()
        elif t == QEvent.Type.Show or (t == QEvent.Type.Move and event.pos() != event.oldPos()):
            units = ([obj] if getattr(obj, self._UNIT, False) else []) + getattr(obj, self._WITHIN, [])
            for u in units:                     # (a widget it is in resized: its own events tell)
                setattr(u, self._PAINTED, None)
                self.moved(u)
        elif t == QEvent.Type.Resize and event.size() != event.oldSize() and getattr(obj, self._UNIT, False):
            setattr(obj, self._PAINTED, None)
            self.moved(obj)
        return False


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
        self._paints = PaintState(self._moved, self)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(0)
        self.timer.timeout.connect(self._next)

    def watch(self) -> None:
        """Watch the paints of the units' widgets from now (a window calls it once its widgets are
        built, before it is shown; a widget painted before it was watched counts as unpainted, and
        is not held, once)."""
        for unit in self.units().values():
            for w in unit:
                self._paints.watch(w)

    def run_all(self) -> None:
        """Run every queued piece now, in order (those they queue too), let what is still held paint
        and the layouts waiting for the next turn apply: a grab of the window shows what the turns
        would have drawn a moment later."""
        try:
            for _ in range(100_000):            # (a bound: a job that queued itself for ever)
                if not self._queue:
                    break
                fn, holds = self._queue.pop(next(iter(self._queue)))
                self.hold(holds)
                fn()
        finally:                                # (a job that raised: what is held still paints)
            self.release_held()
            QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest.value)   # layouts current

    def release_held(self) -> None:
        """Let every held unit paint now (their turns are dropped): a grab of the window renders
        each widget afresh, and one with its updates off renders as nothing (black)."""
        for name in list(self._held):
            self._release_now(name)

    def _release_now(self, name: str) -> None:
        if name not in self._held:
            return
        self._held.discard(name)
        self._queue.pop(("paint", name), None)
        for w in self.units().get(name, ()):
            if resume_updates(w):
                draw_pending(w)

    def _moved(self, widget: QWidget) -> None:
        """A unit's widget was shown, moved or resized: held, it has no paint of its new place to
        keep; its unit paints now, with the layout change (the queue's turn for it is dropped)."""
        for name in list(self._held):
            if widget in tuple(self.units().get(name, ())):
                self._release_now(name)

    @property
    def pending(self) -> int:
        """Jobs and repaints not run yet."""
        return len(self._queue)

    def hold(self, names: Iterable[str] | None = None) -> None:
        """Hold the units ``names`` (None: all) that are on screen, painted in place and not held
        yet; each is repainted in a turn of its own. (A unit not painted since it was shown, moved
        or resized is not held: it has no paint of its place to keep, and held it would show black
        until its turn; it is painted with the rest.)"""
        units = self.units()
        for name in units if names is None else names:
            unit = tuple(units.get(name, ()))
            if not unit or name in self._held or not any(on_screen(w) for w in unit):
                continue
            if not all(self._paints.painted(w) for w in unit):
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
        if not self._queue:                     # (emptied since it was armed: by run_all, or a moved unit)
            self.sigDrained.emit()
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


def draw_pending(widget: QWidget) -> None:
    """Let the plots in ``widget`` draw what a redraw left for this turn (``draw_pending``)."""
    for w in (widget, *widget.findChildren(QWidget)):
        pending = getattr(w, "draw_pending", None)
        if pending is not None:
            pending()


def _scenes(widget: QWidget) -> list:
    views = widget.findChildren(QGraphicsView)
    if isinstance(widget, QGraphicsView):
        views.append(widget)
    return [v.scene() for v in views if v.scene() is not None]


def settle_scenes(scenes) -> bool:
    """Bring graphics scenes up to date now: the layouts waiting for the next turn (a legend's new
    row), a pyqtgraph view's fit of its range (``prepareForPaint``, else done as it paints), the
    scenes' dirty items and what they tell their views (queued calls). True when a scene changed.
    (Listening to ``changed`` switches a scene to telling its views through that signal from then
    on, as Qt does for any listener: its updates reach the view a queued call later.)"""
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
    are settled before the paint, and after it; what the paint changed is painted again here (at
    most twice: a plot still changing after that is left to paint in a later turn)."""
    draw_pending(widget)
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
