"""The sample and unit selectors: one widget for the main window and the comparison view.

:class:`PositionSelectorWidget` shows the session's selected sample and unit and moves the
session when the person changes them (``session.set_position(sample=…)`` / ``unit=…``); every view
follows the session, never the spin boxes. Its ranges come from the session's run (samples,
units) and trace (units of the layer shown), or from :meth:`PositionSelectorWidget.set_ranges`
for sessions without a run (the comparison's cells).
"""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QWidget


class PositionSelectorWidget(QWidget):
    """"Sample [3]  Unit [5]" — a view and controller of the session's position."""

    def __init__(self, session, sample_tip: str = "Which validation sample the diagram follows",
                 unit_tip: str = "Which unit the diagram and the equations show", parent=None):
        super().__init__(parent)
        self.session = session
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.sample_spin = QSpinBox()
        self.sample_spin.setToolTip(sample_tip)
        self.unit_spin = QSpinBox()
        self.unit_spin.setToolTip(unit_tip)
        lay.addWidget(QLabel("Sample"))
        lay.addWidget(self.sample_spin)
        lay.addSpacing(8)
        lay.addWidget(QLabel("Unit"))
        lay.addWidget(self.unit_spin)
        self.sample_spin.valueChanged.connect(self._on_sample_spin_changed)
        self.unit_spin.valueChanged.connect(self._on_unit_spin_changed)
        session.subscribe(self, "run", "trace", "position")

    def set_ranges(self, samples: int | None = None, units: int | None = None) -> None:
        """Offer samples 0 … ``samples`` − 1 and units 0 … ``units`` − 1 (None: unchanged); the
        spin boxes show the session's position."""
        pos = self.session.position
        if samples is not None:
            _set_spin(self.sample_spin, pos.sample, samples - 1)
        if units is not None:
            _set_spin(self.unit_spin, pos.unit, units - 1)

    def _on_session_run(self, run) -> None:
        if run is not None:
            self.set_ranges(max(self.session.n_samples(), 1), run.model.n_units)

    def _on_session_trace(self, trace) -> None:
        tr = self.session.view_trace()
        if tr is not None:
            self.set_ranges(units=tr.h.shape[-1])

    def _on_session_position(self, pos) -> None:
        if self.unit_spin.value() != pos.unit:
            _set_spin(self.unit_spin, pos.unit, self.unit_spin.maximum())
        if self.sample_spin.value() != pos.sample:
            _set_spin(self.sample_spin, pos.sample, self.sample_spin.maximum())

    def _on_sample_spin_changed(self, sample: int) -> None:
        self.session.set_position(sample=sample)

    def _on_unit_spin_changed(self, unit: int) -> None:
        self.session.set_position(unit=unit)


def _set_spin(spin, value, maximum) -> None:
    """Range 0 … ``maximum`` and ``value`` without a change signal (the session already holds it)."""
    spin.blockSignals(True)
    spin.setRange(0, max(int(maximum), 0))
    spin.setValue(min(int(value), max(int(maximum), 0)))
    spin.blockSignals(False)
