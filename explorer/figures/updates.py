"""A widget's paints switched off by more than one party at once.

A redraw spread over event-loop turns holds a widget's paints while a session event changes it
(:mod:`explorer.gui.turns`), and an export lays the same widget out for its picture with paints off
(:meth:`~explorer.figures.panel.PlotPanelWidget.export_steps`). Each takes a hold and gives it back;
the widget paints again only when the last hold is gone, whatever order they end in.
"""

from __future__ import annotations

_HOLDS = "_paint_holds"


def suspend_updates(widget) -> None:
    """Take a hold on ``widget``'s paints (the first one turns its updates off)."""
    holds = getattr(widget, _HOLDS, 0)
    if holds == 0:
        widget.setUpdatesEnabled(False)
    setattr(widget, _HOLDS, holds + 1)


def resume_updates(widget) -> bool:
    """Give a hold back; True when it was the last (updates on again, which schedules a paint)."""
    holds = getattr(widget, _HOLDS, 0)
    if holds > 1:
        setattr(widget, _HOLDS, holds - 1)
        return False
    setattr(widget, _HOLDS, 0)
    widget.setUpdatesEnabled(True)
    return True


def paint_holds(widget) -> int:
    """How many holds ``widget``'s paints are under."""
    return getattr(widget, _HOLDS, 0)
