"""The layer and direction selectors of a deep or bidirectional model.

:class:`LayerSelectorWidget` offers the layers 1..L of the model shown and, for a bidirectional
model, its two directions (forward, reverse); choosing one moves the session
(``session.set_position(layer=…, direction=…)``), and every view that draws from
``session.view_trace()`` — the diagram, the equations, the heatmaps, the text strip, Most memory —
follows. It reads its ranges from the session's trace (else the run's model) and is hidden for a
model of one layer and one direction, so a layer that does not exist cannot be chosen.
Layers are shown 1..L (the session and the engine count from 0).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from explorer.app.layer_view import DIRECTIONS


class LayerSelectorWidget(QWidget):
    """"Layer [2 of 2] [reverse]" — a view and controller of the session's position."""

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        self.layer_label = QLabel("Layer")
        self.layer_spin = QSpinBox()
        self.layer_spin.setRange(1, 1)
        self.layer_spin.setToolTip("Which layer the diagram, the equations and the heatmaps show (1 reads the "
                                   "input x_t; each deeper layer reads the h_t of the layer below)")
        self.direction_combo = QComboBox()
        self.direction_combo.addItems(list(DIRECTIONS))
        self.direction_combo.setToolTip("Which direction of the bidirectional model is shown: forward runs "
                                        "t = 1 … T, reverse runs t = T … 1")
        for w in (self.layer_spin, self.direction_combo):
            w.setFocusPolicy(Qt.FocusPolicy.ClickFocus)     # the window's Left/Right keys keep stepping time
        lay.addSpacing(8)
        lay.addWidget(self.layer_label)
        lay.addWidget(self.layer_spin)
        lay.addWidget(self.direction_combo)          # "forward" / "reverse" says what it is (the window is narrow)
        self.layer_spin.valueChanged.connect(self._on_layer_spin_changed)
        self.direction_combo.currentIndexChanged.connect(self._on_direction_combo_changed)
        session.subscribe(self, "run", "trace", "position")
        self._sync()

    # -- what the model has ---------------------------------------------------------------------------
    def sizes(self) -> tuple[int, int]:
        """(layers, directions) of the model shown: its trace's, else its run's model's, else (1, 1)."""
        tr = self.session.trace
        if tr is not None:
            return int(getattr(tr, "num_layers", 1)), int(getattr(tr, "num_directions", 1))
        model = getattr(self.session.run, "model", None)
        if model is None:
            return 1, 1
        return int(getattr(model, "num_layers", 1)), int(getattr(model, "num_directions", 1))

    def _sync(self) -> None:
        L, D = self.sizes()
        pos = self.session.position
        for w in (self.layer_spin, self.direction_combo):
            w.blockSignals(True)
        self.layer_spin.setRange(1, L)
        self.layer_spin.setValue(min(pos.layer, L - 1) + 1)
        self.direction_combo.setCurrentIndex(min(pos.direction, D - 1))
        for w in (self.layer_spin, self.direction_combo):
            w.blockSignals(False)
        self.layer_spin.setSuffix(f" of {L}")
        for w in (self.layer_label, self.layer_spin):
            w.setVisible(L > 1)
        self.direction_combo.setVisible(D > 1)
        self.setVisible(L > 1 or D > 1)

    # -- session -> widgets ---------------------------------------------------------------------------
    def _on_session_run(self, run) -> None:
        self._sync()

    def _on_session_trace(self, trace) -> None:
        self._sync()

    def _on_session_position(self, pos) -> None:
        self._sync()

    # -- widgets -> session ---------------------------------------------------------------------------
    def _on_layer_spin_changed(self, value: int) -> None:
        self.session.set_position(layer=value - 1)

    def _on_direction_combo_changed(self, index: int) -> None:
        self.session.set_position(direction=index)

    def select(self, layer: int | None = None, direction: int | None = None) -> None:
        """Choose ``layer`` (0-based, as the session counts) and/or ``direction`` (0 forward, 1
        reverse) as a person would with the controls (out-of-range values are clamped)."""
        if layer is not None:
            self.layer_spin.setValue(int(layer) + 1)
        if direction is not None:
            self.direction_combo.setCurrentIndex(max(0, min(int(direction), self.direction_combo.count() - 1)))
