"""Interventions in the window: right-click a gate of the diagram to hold it, a panel listing what
is held (each removable), and the prediction and loss with and without it side by side.

The session holds the interventions (``session.set_interventions``, event ``interventions``);
the display controller computes the clamped trace every view shows and, in the same request,
its effect (``session.comparison``: the validation loss both ways, the predictions with the
intervention, the selected sample's output at every step both ways). This controller builds the
menu on the diagram (the canvas's hit-testing names the gate under the mouse), the panel (a
dock), and shows the comparison.

Training is off while interventions are active (they are experiments on the trained cell, not
part of what it learns): Train says so in one sentence.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from PySide6.QtCore import QObject, QPoint, Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QDockWidget, QDoubleSpinBox, QFormLayout,
                               QHBoxLayout, QInputDialog, QLabel, QListWidget, QMenu, QPushButton, QSpinBox,
                               QVBoxLayout, QWidget)

import pyqtgraph as pg

from explorer.app.teaching import intervention_text
from explorer.engine import Clamp
from explorer.figures.panel import SpanViewBox, plain_html
from explorer.figures.plots import TRAIN_COLOR

#: a diagram part that shows a quantity an intervention can hold under another name
PART_HOLDS = {"squash": "h"}
TRAINING_OFF = ("Training is off while interventions are active (they are experiments on the trained cell): "
                "remove them in the Interventions panel to train.")
WITH_COLOR = QColor("#009E73")          # bluish green (Okabe-Ito): beside the plots' blue and orange


class HoldDialog(QDialog):
    """Hold a quantity at a value from step t to t′ (1-based), for the selected unit or all units."""

    def __init__(self, name: str, unit: int, t: int, T: int, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Hold {name}")
        form = QFormLayout(self)
        self.value = QDoubleSpinBox()
        self.value.setRange(-10.0, 10.0) if name in ("h", "g") else self.value.setRange(0.0, 1.0)
        self.value.setDecimals(3)
        self.value.setSingleStep(0.1)
        self.first = QSpinBox()
        self.last = QSpinBox()
        for box, v in ((self.first, t), (self.last, T)):
            box.setRange(1, T)
            box.setValue(v)
        self.all_units = QCheckBox(f"every unit (not only unit {unit})")
        form.addRow(f"{name} held at", self.value)
        form.addRow("from step t =", self.first)
        form.addRow("to step t\u2032 =", self.last)
        form.addRow(self.all_units)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def choice(self) -> tuple:
        """(value, 0-based steps range, all units)."""
        a, b = sorted((self.first.value(), self.last.value()))
        return float(self.value.value()), range(a - 1, b), self.all_units.isChecked()


class InterventionsPanel(QWidget):
    """The active interventions (each removable), the losses with and without them, and the
    selected sample's output at every step both ways."""

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        self.hint = QLabel("Right-click a gate (or h) in the diagram to hold it: at 0, at 1, at a value, "
                           "or from step t to t\u2032.")
        self.hint.setWordWrap(True)
        lay.addWidget(self.hint)
        self.list = QListWidget()
        self.list.setMinimumHeight(60)
        lay.addWidget(self.list, 1)
        row = QHBoxLayout()
        self.remove_button = QPushButton("Remove")
        self.clear_button = QPushButton("Remove all")
        row.addWidget(self.remove_button)
        row.addWidget(self.clear_button)
        row.addStretch(1)
        lay.addLayout(row)
        self.loss_label = QLabel("")
        self.loss_label.setTextFormat(Qt.TextFormat.RichText)     # bold numbers; nothing of a name
        self.loss_label.setWordWrap(True)
        self.loss_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.loss_label)
        self.plot_widget = pg.PlotWidget(viewBox=SpanViewBox())     # any finite values plot
        self.plot_widget.setMinimumHeight(150)
        pal = self.palette()
        fg = pal.color(QPalette.ColorRole.Text)
        self.plot_widget.setBackground(pal.color(QPalette.ColorRole.Base))
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        for side in ("left", "bottom"):
            axis = self.plot.getAxis(side)
            axis.setPen(pg.mkPen(fg))
            axis.setTextPen(pg.mkPen(fg))
            axis.enableAutoSIPrefix(False)          # the values as they are (no "(x0.001)")
        self.plot.setTitle("")
        self.plot.titleLabel.setAttr("color", fg.name())
        self.plot.addLegend(offset=(5, 5), labelTextColor=fg)
        self.plot.setLabel("bottom", "t")
        self.without_curve = self.plot.plot([], [], pen=pg.mkPen(TRAIN_COLOR, width=2), name="without")
        self.with_curve = self.plot.plot([], [], pen=pg.mkPen(WITH_COLOR, width=2, style=Qt.PenStyle.DashLine),
                                         name="with the intervention")
        self.target_dots = self.plot.plot([], [], pen=None, symbol="o", symbolSize=7, symbolBrush=pg.mkBrush("#555"),
                                          name="target")
        lay.addWidget(self.plot_widget, 2)
        self.plot_widget.hide()                 # until there is something to compare


class InterventionsController(QObject):
    """Interventions from the diagram's menu and the panel; their effect side by side."""

    sigCompared = Signal(object)        # an InterventionEffect reached the views

    def __init__(self, session, status, *, diagram, prediction_plot, show_dock=None, dialog_parent=None, parent=None):
        """``diagram``: its parts' menu holds a value; ``prediction_plot``: the predictions with the
        interventions beside those without; ``show_dock(dock)`` brings the panel's dock up (the
        window gives it its width)."""
        super().__init__(parent)
        self.session, self.status, self.diagram, self.prediction_plot = session, status, diagram, prediction_plot
        self.show_dock = show_dock if show_dock is not None else (lambda dock: dock.show())
        self.dialog_parent = dialog_parent
        self.comparison = None
        self.panel = InterventionsPanel()
        self.dock = QDockWidget("Interventions", parent)       # the window puts it at its right
        self.dock.setObjectName("dock_interventions")
        self.dock.setWidget(self.panel)
        self.dock.hide()                    # shown with the first intervention (or View › Interventions)
        self.panel.remove_button.clicked.connect(self.remove_selected)
        self.panel.clear_button.clicked.connect(self.clear)
        diagram.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        diagram.customContextMenuRequested.connect(self._on_diagram_menu_requested)
        # the predictions plot: the curves with the intervention beside those without, and the losses
        pp = prediction_plot
        pen = pg.mkPen(WITH_COLOR, width=2, style=Qt.PenStyle.DotLine)
        self.pred_with = pp.plot.plot([], [], pen=pen)
        self.forecast_with = pp.plot.plot([], [], pen=pg.mkPen(WITH_COLOR, width=2, style=Qt.PenStyle.DashDotLine))
        self.pred_loss_label = QLabel("")
        self.pred_loss_label.setStyleSheet(f"color: {WITH_COLOR.name()}; font-weight: bold;")
        self.pred_loss_label.hide()
        pp.add_header_widget(self.pred_loss_label)
        self._legend_shown = False
        self.session.subscribe(self, "interventions", "run", "position", "training", "comparison")

    # -- what is held --------------------------------------------------------------------------------
    @property
    def interventions(self) -> list:
        return list(self.session.interventions)

    def add(self, iv) -> None:
        """Hold one more (the views recompute at once)."""
        if self.session.training == "running":
            self.status.show_status("Stop training to experiment on the cell.", 6000)
            return
        self.session.set_interventions(self.interventions + [iv])
        if not self.dock.isVisible():
            self.show_dock(self.dock)
        self.dock.raise_()

    def hold(self, name: str, value: float, *, units=None, steps=None) -> None:
        """Hold ``name`` at ``value`` for the selected unit (``units`` "all": every unit) at ``steps``
        (0-based; None: every step), in the selected layer and direction."""
        pos = self.session.position
        units = None if units == "all" else [pos.unit] if units is None else units
        try:
            clamp = Clamp(name, value, units=units, steps=steps, layer=pos.layer, direction=pos.direction)
        except ValueError as exc:             # NaN or an infinity: said on the banner, nothing held
            self.status.show_message(str(exc), "error", topic="intervention")
            return
        self.add(clamp)

    def remove(self, index: int) -> None:
        ivs = self.interventions
        if 0 <= index < len(ivs):
            del ivs[index]
            self.session.set_interventions(ivs)

    def remove_selected(self) -> None:
        rows = sorted((self.panel.list.row(it) for it in self.panel.list.selectedItems()), reverse=True)
        ivs = self.interventions
        for r in rows:
            del ivs[r]
        self.session.set_interventions(ivs)

    def clear(self) -> None:
        if self.session.interventions:
            self.session.set_interventions([])

    def refuse_training(self) -> bool:
        """True (and says why) when training must not start: interventions are active."""
        if not self.session.interventions:
            return False
        self.status.show_message(TRAINING_OFF, "warn", topic="interventions-training")
        self.status.show_status(TRAINING_OFF, 10000)
        return True

    # -- the diagram's menu --------------------------------------------------------------------------
    def holdable(self, key: str | None) -> str | None:
        """The name an intervention holds for the diagram part ``key`` (a gate, h), or None."""
        run = self.session.run
        if run is None or key is None:
            return None
        name = PART_HOLDS.get(key, key)
        model = run.model
        pos = self.session.position
        names = tuple(model.cells[pos.layer][pos.direction].clamp_names)
        return name if name in names else None

    def menu_for(self, key: str | None) -> QMenu | None:
        """The menu of diagram part ``key``: hold it at 0, 1, a value, or from step t to t′."""
        if key is None or key.startswith(("unit:", "page:")):
            return None
        menu = QMenu(self.diagram)
        name = self.holdable(key)
        pos = self.session.position
        if name is None:
            gate = self.diagram.description.gate(key) if key in self.diagram.description.gate_names else None
            what = f"the {gate.title if gate is not None else key}"
            a = menu.addAction(f"{what[0].upper()}{what[1:]} cannot be held (right-click a gate or h)")
            a.setEnabled(False)
            return menu
        busy = self.session.training == "running"
        u = pos.unit
        if name == "h":
            items = [(f"Zero h of unit {u} (every step)", 0.0), (f"Hold h of unit {u} at 1", 1.0)]
        else:
            items = [(f"Hold {name} at 0 (unit {u}, every step)", 0.0), (f"Hold {name} at 1 (unit {u}, every step)", 1.0)]
        for text, value in items:
            a = menu.addAction(text)
            a.triggered.connect(partial(self.hold, name, value))
        menu.addAction(f"Hold {name} at a value\u2026").triggered.connect(partial(self.ask_value, name))
        menu.addAction(f"Hold {name} from step t to t\u2032\u2026").triggered.connect(partial(self.ask_range, name))
        if busy:
            for a in menu.actions():
                a.setEnabled(False)
            menu.addSection("Stop training to experiment on the cell")
        if self.session.interventions:
            menu.addSeparator()
            menu.addAction("Remove all interventions").triggered.connect(self.clear)
        return menu

    def _on_diagram_menu_requested(self, pos: QPoint) -> None:
        menu = self.menu_for(self.diagram.part_at(pos))
        if menu is not None:
            menu.exec(self.diagram.mapToGlobal(pos))

    def ask_value(self, name: str) -> None:
        lo, hi = (-10.0, 10.0) if name in ("h", "g") else (0.0, 1.0)
        value, ok = QInputDialog.getDouble(self.dialog_parent, f"Hold {name}", f"Hold {name} of unit "
                                           f"{self.session.position.unit} at (every step):", 0.5, lo, hi, 3)
        if ok:
            self.hold(name, value)

    def ask_range(self, name: str) -> None:
        tr = self.session.view_trace()
        T = int(tr.T) if tr is not None else 1
        pos = self.session.position
        dlg = HoldDialog(name, pos.unit, pos.t + 1, T, self.dialog_parent)
        if dlg.exec() == QDialog.DialogCode.Accepted:
            value, steps, every = dlg.choice()
            self.hold(name, value, units="all" if every else None, steps=steps)

    # -- the session -------------------------------------------------------------------------------
    def _on_session_interventions(self, ivs) -> None:
        lst = self.panel.list
        lst.clear()
        for iv in ivs:
            lst.addItem(intervention_text(iv))
        self.panel.remove_button.setEnabled(bool(ivs))
        self.panel.clear_button.setEnabled(bool(ivs))
        if not ivs:
            self.status.resolve("interventions-training", "interventions")
            self._show(None)
        # the comparison follows with the clamped trace (_on_session_comparison)

    def _on_session_run(self, run) -> None:
        if self.session.interventions:
            self.session.set_interventions([])      # another model: its units and steps differ
        self._show(None)

    def _on_session_position(self, pos) -> None:
        c = self.comparison
        if c is not None and c.sample != pos.sample:
            self._show_sample(None)

    def _on_session_training(self, state) -> None:
        self.panel.hint.setText("Training: stop it to experiment on the cell." if state == "running" else
                                "Right-click a gate (or h) in the diagram to hold it: at 0, at 1, at a value, "
                                "or from step t to t\u2032.")

    # -- the comparison ------------------------------------------------------------------------------
    def _on_session_comparison(self, c) -> None:
        if c is not None and c.interventions == tuple(self.session.interventions):
            self._show(c)

    def _show(self, c) -> None:
        self.comparison = c
        p = self.panel
        pp = self.prediction_plot
        if c is None:
            p.loss_label.setText("")
            self.pred_loss_label.hide()
            self.pred_with.setData([], [])
            self.forecast_with.setData([], [])
            self._legend(False)
            self._show_sample(None)
            return
        text = c.loss_text()
        p.loss_label.setText(f"<b>{plain_html(text)}</b>" if text else "")
        self.pred_loss_label.setText("With the intervention: " + text)
        self.pred_loss_label.setVisible(bool(text))
        pw = c.predictions_with
        if pw.get("prediction") is not None and "t" in pw and pp.mode == "series":
            self.pred_with.setData(*pp.display_xy(pw["t"], pw["prediction"]))
            if pw.get("forecast") is not None:
                self.forecast_with.setData(*pp.display_xy(pw["t_forecast"], pw["forecast"]))
            else:
                self.forecast_with.setData([], [])
            self._legend(True)
        self._show_sample(c)
        self.sigCompared.emit(c)

    def _legend(self, on: bool) -> None:
        legend = self.prediction_plot.legend
        if legend is None or on == self._legend_shown:
            return
        if on:
            legend.addItem(self.pred_with, "one step ahead, with the intervention")
            legend.addItem(self.forecast_with, "forecast, with the intervention")
        else:
            legend.removeItem(self.pred_with)
            legend.removeItem(self.forecast_with)
        self._legend_shown = on

    def _show_sample(self, c) -> None:
        p = self.panel
        if c is None:
            for curve in (p.without_curve, p.with_curve, p.target_dots):
                curve.setData([], [])
            p.plot.setTitle("")
            p.plot_widget.hide()
            return
        p.plot_widget.show()
        p.without_curve.setData(c.sample_t, c.sample_without)
        p.with_curve.setData(c.sample_t, c.sample_with)
        p.target_dots.setData(c.sample_target_t, c.sample_target)
        p.plot.setLabel("left", c.quantity)
        p.plot.setTitle(f"sample {c.sample}: {c.quantity} at every step")
