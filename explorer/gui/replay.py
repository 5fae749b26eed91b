"""Replay: a slider over the epochs whose weights the run keeps; the selected sample's gates as
they were at the end of that epoch (the diagram, the equations and the heatmaps show
``run.replay_trace(epoch, sample)``: the bar sets ``session.replay_epoch`` and the display
controller computes it). "Latest" returns to the current weights. The label names the epoch whose
numbers are drawn; while another is being computed it says so. Shown when the run keeps more than one epoch; disabled
while training (training shows its own weights).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QSlider, QToolButton, QWidget


class ReplayBarWidget(QWidget):
    """Epoch 0 … E as a slider; its rightmost position is "latest" (the current weights)."""

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.epochs: list[int] = []
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 0, 8, 2)
        lay.setSpacing(6)
        self.title = QLabel("Replay epoch")
        self.title.setToolTip("The selected sample's gates as they were at the end of an epoch "
                              "(the run keeps each epoch's weights)")
        lay.addWidget(self.title)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.slider.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        lay.addWidget(self.slider, 1)
        self.label = QLabel("latest")
        lay.addWidget(self.label)
        self.latest_button = QToolButton()
        self.latest_button.setText("Latest")
        self.latest_button.setToolTip("Back to the current weights")
        self.latest_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        lay.addWidget(self.latest_button)
        self.slider.valueChanged.connect(self._on_slider_value_changed)
        self.latest_button.clicked.connect(self.latest)
        self.session.subscribe(self, "run", "training", "history", "trace", "replay_epoch")
        self.refresh()

    # -- the epochs -----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the epochs the run keeps (after training, on a new run)."""
        run = self.session.run
        self.epochs = list(run.epoch_weights()) if run is not None else []
        self.setVisible(len(self.epochs) > 1)
        self.slider.blockSignals(True)
        self.slider.setRange(0, len(self.epochs))            # the last position: latest
        epoch = self.session.replay_epoch
        self.slider.setValue(self.epochs.index(epoch) if epoch in self.epochs else len(self.epochs))
        self.slider.blockSignals(False)
        note = run.replay_note if run is not None else ""
        self.slider.setToolTip(note or "Drag to replay an epoch; the right end is the current weights")
        self.setEnabled(self.session.training == "idle")
        self._label()

    def _label(self) -> None:
        s = self.session
        src = s.trace_source
        last = self.epochs[-1] if self.epochs else 0

        def name(e):
            return "latest" if e is None else f"epoch {e} / {last}" if e else f"epoch 0 (before training) / {last}"

        if s.waiting and s.replay_epoch != (src.epoch if src is not None else None):
            self.label.setText(f"computing {name(s.replay_epoch)}\u2026")
        else:
            self.label.setText(name(s.replay_epoch))
        self.label.setMinimumWidth(self.label.fontMetrics().horizontalAdvance(f"epoch 0 (before training) / {last}") + 6)

    def set_epoch(self, epoch: int | None) -> None:
        """Replay ``epoch`` (one the run keeps) or None for the latest weights."""
        if epoch is not None and epoch not in self.epochs:
            raise ValueError(f"epoch {epoch} is not kept; the run keeps {self.epochs}")
        if self.session.training != "idle":
            return
        self.slider.blockSignals(True)
        self.slider.setValue(len(self.epochs) if epoch is None else self.epochs.index(epoch))
        self.slider.blockSignals(False)
        self.session.set_replay_epoch(epoch)
        self._label()

    def latest(self) -> None:
        self.set_epoch(None)

    def _on_slider_value_changed(self, k: int) -> None:
        self.set_epoch(self.epochs[k] if k < len(self.epochs) else None)

    # -- the session ------------------------------------------------------------------------------
    def _on_session_run(self, run) -> None:
        self.refresh()

    def _on_session_history(self, history) -> None:
        if self.session.training == "idle":
            self.refresh()

    def _on_session_training(self, state) -> None:
        if state == "running":
            self.session.set_replay_epoch(None)
        self.refresh()

    def _on_session_trace(self, trace) -> None:
        self._label()

    def _on_session_replay_epoch(self, epoch) -> None:
        self._label()
