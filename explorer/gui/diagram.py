"""The cell diagram: one unit of one timestep of whichever cell the session shows, with live values.

:class:`CellDiagramView` subscribes to a :class:`~explorer.app.Session` and, each time it paints,
reads the session's position and its trace (``session.view_trace()``: the selected layer and
direction) — it keeps no copy of the position. What it draws comes from the cell's description
(:func:`explorer.app.cell_view.cell_view`): the scene (LSTM, peephole, GRU, RNN), the gates'
colours and labels, the tooltips, which state runs on the belt. The numbers are the trace's,
through ``Trace.step``; the only arithmetic is the belt's ``kept`` and ``written`` (a product of
two trace values each, the description's), which :meth:`CellDiagramView.displayed_values`
returns with everything else drawn.

The belt's colour and width follow the range of its state over the whole trace (the legend
prints it); the gates and h stay on the ±1 scale. The canvas (painting, hit-testing, export) is
:class:`~explorer.figures.cell_canvas.CellCanvas`.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from PySide6.QtWidgets import QWidget

from explorer.app.session import Session
from explorer.app.teaching import held_at
from explorer.app.cell_view import MINUS, fmt
from explorer.app.cell_frame import Frame, ValueScale, backward_frame, belt_scale_of, frame_at
from explorer.figures.cell_canvas import CellCanvas
from explorer.gui.session_view import SessionViewMixin

__all__ = ["CellDiagramView", "MINUS", "fmt"]


class CellDiagramView(SessionViewMixin, CellCanvas):
    """The diagram of the session's cell at the session's position (see the module docstring).

    ``CellDiagramView(session)``; without a session the view makes a private one, driven by the
    methods ``set_trace`` and ``set_position`` (thin shims onto it).
    """

    def __init__(self, session: Session | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scale_key: Any = None
        self._belt_scale = ValueScale()
        self._grads: Any = None             # StateGrads: the backward drawing shows them (None: forward)
        self._init_session(session)

    def _refresh(self) -> None:
        self.update()

    def _on_session_trace(self, trace) -> None:
        self._scale_key = None
        self.updateGeometry()
        self.update()

    # -- what is drawn -------------------------------------------------------------------------------
    def _select_unit(self, j: int) -> None:
        self.session.set_position(unit=j)

    def belt_scale(self) -> ValueScale:
        """The belt's scale: ±(the largest |value| of the belt's state over the shown trace)."""
        desc = self.description
        tr = self.session.view_trace()
        if tr is None or not desc.has_belt:
            return ValueScale()
        pos = self.session.position
        key = (id(self.session.trace), pos.layer, pos.direction, desc.belt_name)
        if key != self._scale_key:
            self._belt_scale = belt_scale_of(desc, tr)
            self._scale_key = key
        return self._belt_scale

    def set_backward(self, grads) -> None:
        """Draw the backward pass at the session's position: ``grads`` is ``model.state_grads(x,
        target)`` for the session's trace; the belt then shows the gradient flowing right to left,
        scaled by the keep gate at the × (for the plain RNN: the factor that shrinks it and its
        running product). None goes back to the forward picture."""
        self._grads = grads
        self.update()

    @property
    def backward(self) -> bool:
        return self._grads is not None

    def _frame(self) -> Frame:
        pos = self.session.position
        full = self.session.trace
        desc = self.description
        src = self.session.trace_source
        frame = frame_at(desc, self.session.view_trace(), pos.t, pos.unit,
                         sample=pos.sample if src is None else src.sample_text(),
                         vocab=self._vocab, belt_scale=self.belt_scale(), layer=pos.layer,
                         direction=pos.direction, num_layers=1 if full is None else int(full.num_layers),
                         num_directions=1 if full is None else int(full.num_directions), x_note=self.x_note)
        if frame.values is not None:
            frame.held = held_at(self.session.shown_interventions(), pos.layer, pos.direction, frame.unit,
                                 min(pos.t, int(full.T) - 1))
            epoch = self.epoch_text()
            if epoch:
                frame.header += "  \u00b7  " + epoch
            waiting = self.session.waiting_text()
            if waiting:
                frame.header += "  \u00b7  " + waiting
        g = self._grads
        if g is not None and frame.values is not None and np.shape(g.dh)[1] == full.T:
            back = backward_frame(desc, full, g, min(pos.t, full.T - 1), frame.unit, self.session.trace_weights,
                                  layer=pos.layer, direction=pos.direction)
            frame.backward = back
            frame.title = f"{desc.title} cell, backward \u25c0"
        return frame

    def displayed_values(self) -> dict[str, Any]:
        """The exact numbers drawn now: x, h_prev (c_prev), every gate, c, h and, for cells with a
        belt, kept and written."""
        v = self._frame().values
        if v is None:
            return {}
        words = ("x_text", "prev", "preact", "x", "x_from", "h_to", "time_note", "belt_text")   # text, not numbers
        out = {k: val for k, val in v.items() if k not in words}
        out["x"] = np.array(v["x"], copy=True)
        return out

    # -- data export ---------------------------------------------------------------------------------
    def export_csv(self, path) -> bool:
        """``diagram.csv``: every timestep (1..T) of the selected unit with the cell's own
        quantities as columns (LSTM: h_prev, c_prev, i, f, g, o, c, h; GRU: h_prev, r, z, g, h;
        RNN: h_prev, h), then the inputs x0, x1, … (or the token id ``x``). Written whole or not at
        all (OSError says why); False when there is no trace yet (the header alone)."""
        self.csv_job(path)()
        return self.session.view_trace() is not None

    def csv_job(self, path):
        """A call that writes :meth:`export_csv`'s file from the trace and unit selected now; it
        touches no widget (it may run in a worker thread)."""
        tr = self.session.view_trace()
        unit = self.session.position.unit
        return functools.partial(_write_diagram_csv, path, self.description, tr, unit)


def _write_diagram_csv(path, desc, tr, unit: int) -> None:
    from explorer.figures.export_files import write_file
    from explorer.runs.store import csv_value

    cols = ["t", "unit", *desc.csv_columns]
    if tr is None:
        write_file(path, (",".join(cols) + "\n").encode("utf-8"))
        return
    j = min(unit, int(tr.h.shape[-1]) - 1)
    x0 = np.asarray(tr.x[0, 0])
    cols += ["x"] if x0.ndim == 0 else [f"x{k}" for k in range(x0.shape[0])]
    lines = [",".join(cols)]
    for t in range(int(tr.T)):
        rec = desc.record(tr, 0, t)
        v = desc.unit_values(rec, j)
        xs = np.atleast_1d(np.asarray(rec["x"]))
        row = [str(t + 1), str(j)] + [csv_value(float(v[c])) for c in desc.csv_columns]
        row += [str(int(e)) if np.issubdtype(xs.dtype, np.integer) else csv_value(float(e)) for e in xs]
        lines.append(",".join(row))
    write_file(path, ("\n".join(lines) + "\n").encode("utf-8"))
