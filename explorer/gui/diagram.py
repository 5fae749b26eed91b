"""The cell diagram: one unit of one timestep of whichever cell the session shows, with live values.

:class:`CellDiagramView` subscribes to a :class:`~explorer.app.Session` and, each time it paints,
reads the session's position and its trace (``session.view_trace()``: the selected layer and
direction) — it keeps no copy of the position. What it draws comes from the cell's description
(:func:`explorer.engine.describe.describe`): the scene (LSTM, peephole, GRU, RNN), the gates'
colours and labels, the tooltips, which state runs on the belt. The numbers are the trace's,
through ``Trace.step``; the only arithmetic is the belt's ``kept`` and ``written`` (a product of
two trace values each, the description's), which :meth:`CellDiagramView.displayed_values`
returns with everything else drawn.

The belt's colour and width follow the range of its state over the whole trace (the legend
prints it); the gates and h stay on the ±1 scale. The canvas (painting, hit-testing, export) is
:class:`~explorer.figures.cell_canvas.CellCanvas`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtWidgets import QWidget

from explorer.app.session import Session
from explorer.engine.describe import MINUS, fmt, input_column
from explorer.figures.cell_canvas import CellCanvas, Frame, ValueScale
from explorer.gui.session_view import SessionViewMixin

__all__ = ["CellDiagramView", "MINUS", "fmt"]


class CellDiagramView(SessionViewMixin, CellCanvas):
    """The diagram of the session's cell at the session's position (see the module docstring).

    ``CellDiagramView(session)``; without a session the view makes a private one, driven by the
    round-1 methods ``set_trace`` and ``set_position`` (thin shims onto it).
    """

    def __init__(self, session: Session | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scale_key: Any = None
        self._belt_scale = ValueScale()
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
            name = desc.belt_name
            initial = getattr(tr, name + "0", None)           # c0 / h0: the belt's start at t = 1
            self._belt_scale = ValueScale.of(getattr(tr, name)[0], [] if initial is None else initial[0])
            self._scale_key = key
        return self._belt_scale

    def _frame(self) -> Frame:
        desc = self.description
        tr = self.session.view_trace()
        if tr is None:
            return Frame(desc, title=f"{desc.title} cell")
        pos = self.session.position
        T, n = int(tr.T), int(tr.h.shape[-1])
        t, j = min(pos.t, T - 1), min(pos.unit, n - 1)
        rec = desc.record(tr, 0, t)
        v = desc.unit_values(rec, j)
        v["x"] = rec["x"]
        v["x_text"] = self._x_text(rec["x"])
        v["prev"] = "0" if t == 0 else "t\u22121"
        v["preact"] = {row.key: row.preact for row in desc.equation_rows(rec, None, j)}
        where = ""
        if getattr(tr, "num_layers", 1) > 1 or getattr(self.session.trace, "num_layers", 1) > 1:
            where += f"  \u00b7  layer {pos.layer}"
        if getattr(self.session.trace, "num_directions", 1) > 1:
            where += "  \u00b7  reverse" if pos.direction else "  \u00b7  forward"
        header = f"sample {pos.sample}  \u00b7  t = {t + 1} / {T}  \u00b7  unit {j} of {n}{where}"
        strip = {"bar": rec[desc.belt_name or "h"]}
        strip.update({g.name: rec[g.name] for g in desc.gates})
        return Frame(desc, v, title=f"{desc.title} cell", header=header, n_units=n, unit=j, strip=strip,
                     belt_scale=self.belt_scale())

    def displayed_values(self) -> dict[str, Any]:
        """The exact numbers drawn now: x, h_prev (c_prev), every gate, c, h and, for cells with a
        belt, kept and written."""
        v = self._frame().values
        if v is None:
            return {}
        out = {k: val for k, val in v.items() if k not in ("x_text", "prev", "preact", "x")}
        out["x"] = np.array(v["x"], copy=True)
        return out

    def _x_text(self, x) -> str:
        col = input_column(x)
        if col is not None and self._vocab is not None and col < len(self._vocab):
            return f"= one-hot('{self._vocab[col]}')"
        a = np.asarray(x, dtype=float)
        if a.ndim == 0:
            return f"= token {int(a)}"
        m = int(a.shape[0])
        if m <= 2:
            return "= [" + ", ".join(fmt(e) for e in a) + "]"
        if m <= 4:
            return "= [" + ", ".join(fmt(e, 2) for e in a) + "]"
        return f"({m} values) = [" + ", ".join(fmt(e, 2) for e in a[:3]) + ", \u2026]"

    # -- data export ---------------------------------------------------------------------------------
    def export_csv(self, path) -> bool:
        """``diagram.csv``: every timestep (1..T) of the selected unit with the cell's own
        quantities as columns (LSTM: h_prev, c_prev, i, f, g, o, c, h; GRU: h_prev, r, z, g, h;
        RNN: h_prev, h), then the inputs x0, x1, … (or the token id ``x``). Written atomically."""
        from explorer.runs import atomic_write_text, csv_value

        desc = self.description
        tr = self.session.view_trace()
        cols = ["t", "unit", *desc.csv_columns]
        if tr is None:
            atomic_write_text(path, ",".join(cols) + "\n")
            return False
        j = min(self.session.position.unit, int(tr.h.shape[-1]) - 1)
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
        atomic_write_text(path, "\n".join(lines) + "\n")
        return True
