"""The Units dock (View › Units): what the units do, on the person's own model and data.

Three tabs over the run shown (every search is a task off the GUI thread, a newer one replacing
an older; :mod:`explorer.app.unitsearch` holds the rules and scores):

- **Find units**: a feature (automatic, a regular expression over the text, a column of the file,
  the target, t mod k) → every unit ranked by r and ρ; clicking a row selects the unit; the
  selected unit's activation is drawn over the selected sample's text in colour (the classic
  quote-detection picture) or, for a series, over time beside the feature.
- **Select & match** (LSTMVis): drag a time range and the threshold line over the selected
  sample's activations; the selected units are listed at once; Match searches every sample for
  stretches where they are on; clicking a match jumps there (sample, t).
- **Connectivity**: ‖∂h_t[j]/∂x_s‖ over the steps s and the output units j for the selected
  sample and t (Distill's picture), recomputed as the position or the weights change.
"""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (QComboBox, QDockWidget, QDoubleSpinBox, QHBoxLayout, QLabel, QLineEdit,
                               QListWidget, QListWidgetItem, QPushButton, QSpinBox, QTableWidget,
                               QTableWidgetItem, QTabWidget, QTextBrowser, QVBoxLayout, QWidget)

from explorer.app.unitsearch import (activations_task, auto_features, find_units, match_ranges, rank_units,
                                     regex_feature, samples_of, select_units, token_strings)
from explorer.figures.colors import diverging_rgb
from explorer.gui.worker import LatestTask

AUTOMATIC, PATTERN, TARGET, MODK = "Automatic", "Pattern (regular expression)", "The target", "t mod k"


def _compute_find(state, model, x, dataset, quantity, layer, direction, feature, pattern, k):
    A = activations_task(state, model, x, quantity, layer, direction)
    xs = x[:A.shape[0]]
    if feature == AUTOMATIC:
        return A, find_units(A, auto_features(dataset, xs), state.is_interruption_requested)
    if feature == PATTERN:
        level = dataset.corpus.level if dataset.corpus is not None else "char"
        f = regex_feature(xs, dataset.vocab, level, pattern)
        return A, rank_units(A, f, f"/{pattern}/")
    if feature == MODK:
        f = np.broadcast_to((np.arange(xs.shape[1]) % k).astype(np.float32), xs.shape[:2])
        return A, rank_units(A, f, f"t mod {k}")
    feats = auto_features(dataset, xs)
    if feature == TARGET:
        name = dataset.columns[min(dataset.target_index, len(dataset.columns) - 1)] if dataset.columns else ""
        f = feats.get(str(name), feats.get("change of the target"))
        return A, rank_units(A, f, "the target")
    return A, rank_units(A, feats[feature], feature)


def _compute_match(state, model, x, quantity, layer, direction, units, threshold, length):
    A = activations_task(state, model, x, quantity, layer, direction)
    return match_ranges(A, units, threshold, length, top=30, interrupt=state.is_interruption_requested)


def _compute_connectivity(state, model, x, t, of):
    return model.connectivity(x, t, of=of, per_unit=True)[0]


class UnitsController(QObject):
    """The Units dock and its three tasks (see the module docstring)."""

    sigFound = Signal(object)            # list of UnitScore, best first
    sigMatched = Signal(object)          # list of Match, best first
    sigConnectivity = Signal(object)     # (J, T) array of the selected sample and t

    def __init__(self, session, threads, status, parent=None):
        super().__init__(parent)
        self.session, self.status = session, status
        self.scores: list = []
        self.matches: list = []
        self.connectivity: np.ndarray | None = None
        self._activations = None        # (A, quantity) of the last search, for the colour view
        self._x = None
        self._unit_curves: list = []
        self.find_task = LatestTask(threads, parent=self)
        self.match_task = LatestTask(threads, parent=self)
        self.conn_task = LatestTask(threads, parent=self)
        self.find_task.sigResult.connect(self._on_find_result)
        self.find_task.sigError.connect(self._on_task_error)
        self.match_task.sigResult.connect(self._on_match_result)
        self.match_task.sigError.connect(self._on_task_error)
        self.conn_task.sigResult.connect(self._on_conn_result)
        self.conn_task.sigError.connect(self._on_task_error)
        self._build()
        self.dock = QDockWidget("Units", parent)       # the window puts it at its right
        self.dock.setObjectName("dock_units")
        self.dock.setWidget(self.tabs)
        self.dock.hide()
        self.dock.visibilityChanged.connect(self._on_dock_visibility_changed)
        self.session.events.run.connect(self._on_session_run)
        self.session.events.trace.connect(self._on_session_trace)
        self.session.events.position.connect(self._on_session_position)

    # -- widgets ---------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.tabs = QTabWidget()
        # Find units
        page = QWidget()
        v = QVBoxLayout(page)
        row = QHBoxLayout()
        self.quantity = QComboBox()
        self.quantity.setToolTip("Which activation of every unit is scored: h, c or a gate")
        self.feature = QComboBox()
        self.feature.currentTextChanged.connect(self._on_feature_changed)
        self.pattern = QLineEdit('"[^"]*"')
        self.pattern.setToolTip("A regular expression over the text: a unit is scored on the characters "
                                "inside its matches (e.g. \"[^\"]*\" inside quotes, \\d digits)")
        self.k = QSpinBox()
        self.k.setRange(2, 1000)
        self.k.setValue(7)
        self.find_button = QPushButton("Find units")
        self.find_button.clicked.connect(lambda: self.find())
        for w in (QLabel("Of"), self.quantity, QLabel("following"), self.feature, self.pattern, self.k,
                  self.find_button):
            row.addWidget(w)
        v.addLayout(row)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Unit", "Feature", "r", "ρ"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.cellClicked.connect(self._on_table_clicked)
        v.addWidget(self.table, 1)
        self.colour_text = QTextBrowser()
        self.colour_text.setMinimumHeight(70)
        self.series_plot = pg.PlotWidget()
        self.series_plot.setMinimumHeight(110)
        self.series_plot.addLegend(offset=(5, 5))
        v.addWidget(self.colour_text, 1)
        v.addWidget(self.series_plot, 1)
        self.find_status = QLabel("")
        self.find_status.setTextFormat(Qt.TextFormat.PlainText)
        self.find_status.setWordWrap(True)
        v.addWidget(self.find_status)
        self.tabs.addTab(page, "Find units")
        # Select & match
        page = QWidget()
        v = QVBoxLayout(page)
        self.select_plot = pg.PlotWidget()
        self.select_plot.setLabel("bottom", "t")
        self.select_plot.setMinimumHeight(150)
        self.region = pg.LinearRegionItem(values=(1, 2), brush=(255, 200, 0, 50))
        self.region.sigRegionChangeFinished.connect(self._update_selection)
        self.threshold_line = pg.InfiniteLine(pos=0.5, angle=0, movable=True, pen=pg.mkPen("#d62728", width=2))
        self.threshold_line.sigPositionChangeFinished.connect(self._on_threshold_dragged)
        self.select_plot.addItem(self.region)
        self.select_plot.addItem(self.threshold_line)
        v.addWidget(self.select_plot, 2)
        row = QHBoxLayout()
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(-10, 10)
        self.threshold.setDecimals(2)
        self.threshold.setSingleStep(0.05)
        self.threshold.setValue(0.5)
        self.threshold.valueChanged.connect(self._on_threshold_changed)
        self.selected_label = QLabel("")
        self.selected_label.setTextFormat(Qt.TextFormat.PlainText)
        self.match_button = QPushButton("Match")
        self.match_button.setToolTip("Search every sample for stretches where all selected units are on")
        self.match_button.clicked.connect(lambda: self.match())
        for w in (QLabel("Threshold"), self.threshold, self.selected_label):
            row.addWidget(w)
        row.addStretch(1)
        row.addWidget(self.match_button)
        v.addLayout(row)
        self.match_list = QListWidget()
        self.match_list.itemClicked.connect(self._on_match_clicked)
        v.addWidget(self.match_list, 2)
        self.tabs.addTab(page, "Select && match")
        # Connectivity
        page = QWidget()
        v = QVBoxLayout(page)
        row = QHBoxLayout()
        self.conn_of = QComboBox()
        self.conn_of.addItems(["h", "y"])
        self.conn_of.setToolTip("‖∂h_t/∂x_s‖ (the top layer's output) or ‖∂y_t/∂x_s‖ (the head's)")
        self.conn_of.currentTextChanged.connect(lambda _t: self.request_connectivity())
        self.conn_label = QLabel("")
        self.conn_label.setTextFormat(Qt.TextFormat.PlainText)
        row.addWidget(QLabel("Of"))
        row.addWidget(self.conn_of)
        row.addWidget(self.conn_label, 1)
        v.addLayout(row)
        self.conn_plot = pg.PlotWidget()
        self.conn_plot.setLabel("bottom", "input step s")
        self.conn_plot.setLabel("left", "output unit j")
        self.conn_image = pg.ImageItem()
        self.conn_image.setColorMap(pg.colormap.get("viridis"))
        self.conn_plot.addItem(self.conn_image)
        v.addWidget(self.conn_plot, 2)
        self.conn_curve_plot = pg.PlotWidget()
        self.conn_curve_plot.setLabel("bottom", "input step s")
        self.conn_curve_plot.setLabel("left", "‖∂h_t/∂x_s‖")
        self.conn_curve = self.conn_curve_plot.plot(pen=pg.mkPen("#1f77b4", width=2), symbol="o", symbolSize=4)
        v.addWidget(self.conn_curve_plot, 1)
        self.tabs.addTab(page, "Connectivity")
        self.tabs.currentChanged.connect(lambda _i: self._refresh_visible())

    # -- session -----------------------------------------------------------------------------------------
    def _visible(self) -> bool:
        return self.dock.isVisible() and not self.dock.visibleRegion().isEmpty()

    def _on_dock_visibility_changed(self, visible: bool) -> None:
        if visible:
            self._refresh_visible()

    def _refresh_visible(self) -> None:
        if self.tabs.currentIndex() == 1:
            self._draw_selection_plot()
        elif self.tabs.currentIndex() == 2:
            self.request_connectivity()

    def _on_session_run(self, run) -> None:
        self.find_task.cancel()
        self.match_task.cancel()
        self.conn_task.cancel()
        self.scores, self.matches, self._activations = [], [], None
        self.table.setRowCount(0)
        self.match_list.clear()
        self.colour_text.clear()
        self.series_plot.clear()
        self.quantity.clear()
        self.feature.clear()
        if run is None:
            return
        names = ["h", "c"] + [nm for nm in run.model.cell.trace_names if nm not in ("h", "c")]
        self.quantity.addItems([nm for nm in names if nm in run.model.cell.trace_names])
        ds = run.dataset
        items = [AUTOMATIC]
        if ds.token_inputs:
            items.append(PATTERN)
        else:
            items += [str(c) for c in ds.columns] + [TARGET]
        items.append(MODK)
        self.feature.addItems(items)
        text = ds.token_inputs
        self.colour_text.setVisible(text)
        self.series_plot.setVisible(not text)

    def _on_session_trace(self, trace) -> None:
        if self._visible():
            self._refresh_visible()

    def _on_session_position(self, pos) -> None:
        if self._visible():
            self._refresh_visible()
        self._draw_colour()

    def _on_feature_changed(self, text: str) -> None:
        self.pattern.setVisible(text == PATTERN)
        self.k.setVisible(text == MODK)

    def _model_copy(self):
        run = self.session.run
        return None if run is None else run.model.clone()

    # -- find units ----------------------------------------------------------------------------------
    def find(self, feature: str | None = None, pattern: str | None = None, quantity: str | None = None,
             k: int | None = None) -> bool:
        """Rank the units (a task; :attr:`sigFound` gives the scores). Arguments default to the
        dock's fields: ``feature`` Automatic, "Pattern (regular expression)", a column's name,
        "The target" or "t mod k"."""
        run = self.session.run
        if run is None:
            return False
        if feature is not None:
            self.feature.setCurrentText(feature)
        if pattern is not None:
            self.pattern.setText(pattern)
        if quantity is not None:
            self.quantity.setCurrentText(quantity)
        if k is not None:
            self.k.setValue(int(k))
        x, part = samples_of(run.dataset)
        pos = self.session.position
        self._x = x
        q = self.quantity.currentText() or "h"
        self.find_status.setText(f"Scoring every unit's {q} over the {part} samples…")
        self.find_task.start(lambda state: _compute_find(
            state, self._model_copy(), x, run.dataset, q, pos.layer, pos.direction,
            self.feature.currentText(), self.pattern.text(), self.k.value()) + (q,))
        return True

    def _on_find_result(self, value) -> None:
        A, scores, q = value
        self._activations = (A, q)
        self.scores = scores
        self.table.setRowCount(len(scores))
        for row, s in enumerate(scores):
            for col, text in enumerate((str(s.unit), s.feature, f"{s.r:+.3f}", f"{s.rho:+.3f}")):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(row, col, item)
        part = "" if self._x is None or A.shape[0] >= len(self._x) else \
            f" Over the first {A.shape[0]:,} of {len(self._x):,} samples (the activations' memory cap)."
        self.find_status.setText((f"{len(scores)} units scored by Pearson's r (ρ: rank score); click one to "
                                  f"see its {q} over the sample." if scores else "No units to score.") + part)
        if scores:
            self.session.set_position(unit=scores[0].unit)
        self._draw_colour()
        self.sigFound.emit(scores)

    def _on_table_clicked(self, row: int, _col: int) -> None:
        if 0 <= row < len(self.scores):
            self.session.set_position(unit=self.scores[row].unit)

    def _draw_colour(self) -> None:
        """The selected unit's activation over the selected sample: coloured text or a curve."""
        if self._activations is None or self.session.run is None:
            return
        A, q = self._activations
        pos = self.session.position
        if pos.sample >= A.shape[0] or pos.unit >= A.shape[2]:
            return
        a = A[pos.sample, :, pos.unit]
        ds = self.session.run.dataset
        if ds.token_inputs:
            level = ds.corpus.level if ds.corpus is not None else "char"
            ids = self._x[pos.sample]
            vmax = max(1e-12, float(np.max(np.abs(A[:, :, pos.unit]))))
            parts = []
            for t, i in enumerate(ids):
                tok = ds.vocab[int(i)]
                r, g, b = diverging_rgb(float(a[t]), vmax)
                shown = html.escape(tok).replace("\n", "↵<br>").replace(" ", "&nbsp;")
                parts.append(f'<span style="background-color: rgb({r},{g},{b});" title="t = {t + 1}: '
                             f'{q} = {a[t]:+.3f}">{shown}</span>' + ("&nbsp;" if level == "word" else ""))
            self.colour_text.setHtml(f"<p style='font-family: monospace; font-size: 13px;'>Unit {pos.unit}, "
                                     f"{html.escape(q)}, sample {pos.sample}:</p><p style='font-family: "
                                     f"monospace; font-size: 15px;'>{''.join(parts)}</p>")
        else:
            self.series_plot.clear()
            t = np.arange(1, a.size + 1)
            self.series_plot.plot(t, a, pen=pg.mkPen("#d95f02", width=2), name=f"unit {pos.unit} {q}")
            x = self._x[pos.sample]
            if x.ndim == 2:
                col = min(ds.target_index, x.shape[1] - 1)
                f = x[:, col]
                span = float(np.ptp(f)) or 1.0
                self.series_plot.plot(t, (f - f.mean()) / span * 2 * max(1e-12, float(np.ptp(a)) / 2),
                                      pen=pg.mkPen("#7570b3", width=1, style=Qt.PenStyle.DashLine),
                                      name="input (scaled to fit)")
            self.series_plot.setLabel("bottom", "t")

    # -- select and match ----------------------------------------------------------------------------
    def _sample_activations(self):
        tr = self.session.view_trace()
        q = self.quantity.currentText() or "h"
        arr = None if tr is None else getattr(tr, q, None)
        return None if arr is None else np.asarray(arr[0]), q

    def _draw_selection_plot(self) -> None:
        a, q = self._sample_activations()
        if a is None:
            return
        for item in list(self.select_plot.listDataItems()):
            self.select_plot.removeItem(item)
        T, n = a.shape
        t = np.arange(1, T + 1)                                   # steps shown 1-based, as everywhere
        self._unit_curves = [self.select_plot.plot(t, a[:, u], pen=pg.mkPen(pg.intColor(u, max(n, 1)), width=1))
                             for u in range(n)]
        self.select_plot.setLabel("left", f"{q} of every unit, sample {self.session.position.sample}")
        lo, hi = self.region.getRegion()
        if hi > T or lo < 1 or hi - lo < 1e-9:
            p = self.session.position.t + 1
            self.region.setRegion((max(1, p - 2), min(T, p)))
        self._update_selection()

    def _range(self) -> tuple:
        lo, hi = self.region.getRegion()
        a, _ = self._sample_activations()
        T = 1 if a is None else a.shape[0]
        t0 = int(np.clip(round(lo) - 1, 0, T - 1))                # the region is in 1-based steps
        t1 = int(np.clip(round(hi) - 1, t0, T - 1))
        return t0, t1

    def selected_units(self) -> np.ndarray:
        """The units on over the dragged range and off just before it (LSTMVis's rule)."""
        a, _ = self._sample_activations()
        if a is None:
            return np.zeros(0, np.intp)
        t0, t1 = self._range()
        return select_units(a, t0, t1, self.threshold.value())

    def _update_selection(self) -> None:
        units = self.selected_units()
        chosen = set(int(u) for u in units)
        curves = self._unit_curves
        for u, curve in enumerate(curves):              # the selected units drawn bold, the others faint
            color = pg.intColor(u, max(len(curves), 1))
            if chosen and u not in chosen:
                color.setAlpha(60)
            curve.setPen(pg.mkPen(color, width=3 if u in chosen else 1))
            curve.setZValue(1 if u in chosen else 0)
        t0, t1 = self._range()
        self.selected_label.setText(f"t {t0 + 1}–{t1 + 1}: " + (
            "units " + ", ".join(str(u) for u in units[:12]) + ("…" if units.size > 12 else "")
            if units.size else "no unit is on over the range and off just before it"))
        self.match_button.setEnabled(bool(units.size))

    def _on_threshold_dragged(self, line) -> None:
        self.threshold.setValue(float(line.value()))

    def _on_threshold_changed(self, value: float) -> None:
        if abs(self.threshold_line.value() - value) > 1e-9:
            self.threshold_line.setValue(value)
        self._update_selection()

    def select(self, t0: int, t1: int, threshold: float) -> np.ndarray:
        """Set the range (0-based steps, inclusive) and the threshold as a drag would."""
        self.threshold.setValue(float(threshold))
        self.region.setRegion((t0 + 1, t1 + 1))
        self._update_selection()
        return self.selected_units()

    def match(self) -> bool:
        """Search every sample for the selected units (a task; :attr:`sigMatched`)."""
        run = self.session.run
        units = self.selected_units()
        if run is None or units.size == 0:
            return False
        x, _part = samples_of(run.dataset)
        self._x = x
        t0, t1 = self._range()
        pos = self.session.position
        q = self.quantity.currentText() or "h"
        thr = self.threshold.value()
        self.match_list.clear()
        self.match_list.addItem("Searching every sample…")
        self.match_task.start(lambda state: _compute_match(state, self._model_copy(), x, q, pos.layer,
                                                           pos.direction, units, thr, t1 - t0 + 1))
        return True

    def _on_match_result(self, matches) -> None:
        self.matches = matches
        self.match_list.clear()
        ds = self.session.run.dataset if self.session.run is not None else None
        for m in matches:
            text = f"sample {m.sample}, t {m.t0 + 1}–{m.t1 + 1}, score {m.score:.2f}"
            if ds is not None and ds.token_inputs:
                level = ds.corpus.level if ds.corpus is not None else "char"
                ids = self._x[m.sample]
                lo, hi = max(0, m.t0 - 12), min(len(ids), m.t1 + 13)
                before, _ = token_strings(ids[lo:m.t0], ds.vocab, level)
                inside, _ = token_strings(ids[m.t0:m.t1 + 1], ds.vocab, level)
                after, _ = token_strings(ids[m.t1 + 1:hi], ds.vocab, level)
                text += "   …" + (before + "[" + inside + "]" + after).replace("\n", "↵") + "…"
            self.match_list.addItem(QListWidgetItem(text))      # plain text: names are never markup
        if not matches:
            self.match_list.addItem("No other stretch has all the selected units on.")
        self.sigMatched.emit(matches)

    def _on_match_clicked(self, item) -> None:
        row = self.match_list.row(item)
        if 0 <= row < len(self.matches):
            self.jump(row)

    def jump(self, k: int) -> None:
        """Go to match ``k``: its sample and first step."""
        m = self.matches[k]
        self.session.set_position(sample=m.sample)
        self.session.set_position(t=m.t0)

    # -- connectivity --------------------------------------------------------------------------------
    def request_connectivity(self) -> bool:
        """Compute ‖∂h_t[j]/∂x_s‖ for the selected sample and t (a task; :attr:`sigConnectivity`)."""
        run = self.session.run
        if run is None:
            return False
        x, _part = samples_of(run.dataset)
        pos = self.session.position
        if pos.sample >= x.shape[0]:
            return False
        src = self.session.trace_source
        edited = src is not None and src.edit is not None and src.sample == pos.sample
        xs = self.session.shown_input() if edited else x[pos.sample:pos.sample + 1]
        t = min(pos.t, xs.shape[1] - 1)
        of = self.conn_of.currentText() or "h"
        name = f"{pos.sample}" + (f" ({src.edit.label})" if edited else "")
        self.conn_label.setText(f"computing ‖∂{of}_{t + 1}/∂x_s‖ of sample {name}…")
        self._conn_request = (name, t, of)
        self.conn_task.start(lambda state: _compute_connectivity(state, self._model_copy(), xs, t, of))
        return True

    def _on_conn_result(self, J) -> None:
        sample, t, of = self._conn_request
        self.connectivity = J
        row_major = pg.getConfigOption("imageAxisOrder") == "row-major"
        self.conn_image.setImage(J if row_major else J.T, autoLevels=True)   # x: s, y: output unit
        self.conn_image.setRect(0.5, -0.5, J.shape[1], J.shape[0])   # s at 1..T, unit j at j
        total = np.sqrt((J ** 2).sum(axis=0))
        self.conn_curve.setData(np.arange(1, J.shape[1] + 1), total)
        self.conn_curve_plot.setLabel("left", f"‖∂{of}_{t + 1}/∂x_s‖")
        self.conn_label.setText(f"sample {sample}, t = {t + 1}: how strongly each output unit at t "
                                "depends on the input at each step s (0 where it cannot)")
        self.sigConnectivity.emit(J)

    def _on_task_error(self, message: str) -> None:
        self.find_status.setText(message)
        self.status.show_message(message, "error", topic="units")
