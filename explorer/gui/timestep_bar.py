"""first / previous / play / next / last, a slider over timesteps and a play speed.

A session view: it moves ``session.position.t`` and shows it; it keeps no copy of the position
(the slider's value is set from the session's position event only). Reversed (the backward mode,
:meth:`TimestepBarWidget.set_reversed`) it runs from T down to 1: next / Right / play step back in
time, first / Home is t = T, last / End is t = 1, and the slider runs right to left.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QSlider, QStyle, QToolButton, QWidget

PLAY_SPEEDS = (1, 2, 4, 8, 16, 32)   # timesteps per second
SLIDER_MIN_WIDTH = 220               # the slider keeps its length in a narrow window


class TimestepBarWidget(QWidget):
    """Steps ``session.position.t`` through the trace (timesteps shown 1..T)."""

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.reversed = False
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 2, 8, 2)
        lay.setSpacing(2)
        st = self.style()

        def button(icon, tip):
            b = QToolButton()
            b.setIcon(st.standardIcon(icon))
            b.setToolTip(tip)
            b.setAutoRaise(True)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            lay.addWidget(b)
            return b

        SP = QStyle.StandardPixmap
        self.first_button = button(SP.SP_MediaSkipBackward, "First timestep (Home)")
        self.prev_button = button(SP.SP_MediaSeekBackward, "Previous timestep (Left)")
        self.play_button = button(SP.SP_MediaPlay, "Play / pause (Space)")
        self.next_button = button(SP.SP_MediaSeekForward, "Next timestep (Right)")
        self.last_button = button(SP.SP_MediaSkipForward, "Last timestep (End)")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.slider.setToolTip("Timestep")
        self.slider.setMinimumWidth(SLIDER_MIN_WIDTH)
        self.slider.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        lay.addWidget(self.slider, 1)
        self.label = QLabel("t = 0 / 0")
        lay.addWidget(self.label)
        self.speed_combo = QComboBox()
        self.speed_combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.speed_combo.setToolTip("Play speed")
        self.speed_combo.addItems([f"{s}/s" for s in PLAY_SPEEDS])
        self.speed_combo.setCurrentIndex(2)
        lay.addWidget(self.speed_combo)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._on_timer_timeout)
        self.first_button.clicked.connect(self.first)
        self.prev_button.clicked.connect(self.previous)
        self.next_button.clicked.connect(self.next)
        self.last_button.clicked.connect(self.last)
        self.play_button.clicked.connect(self.toggle_play)
        self.slider.valueChanged.connect(self._on_slider_value_changed)
        self.speed_combo.currentIndexChanged.connect(self._on_speed_changed)
        session.subscribe(self, "position", "trace")
        self._on_session_trace(session.trace)

    # -- the session ---------------------------------------------------------------------------
    @property
    def t(self) -> int:
        return self.session.position.t

    @property
    def length(self) -> int:
        tr = self.session.trace
        return tr.T if tr is not None else 1

    def _on_session_trace(self, trace) -> None:
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(self.length - 1, 0))
        self.slider.setValue(self.t)
        self.slider.blockSignals(False)
        self._update_label()

    def _on_session_position(self, pos) -> None:
        if self.slider.value() != pos.t:
            self.slider.blockSignals(True)
            self.slider.setValue(pos.t)
            self.slider.blockSignals(False)
        self._update_label()

    def _on_slider_value_changed(self, t) -> None:
        self.session.set_position(t=t)

    # -- stepping --------------------------------------------------------------------------------
    def set_t(self, t: int) -> None:
        self.session.set_position(t=max(0, min(int(t), self.length - 1)))

    def set_reversed(self, on: bool) -> None:
        """Step from T down to 1 (the backward pass) or, normally, from 1 up to T."""
        self.reversed = bool(on)
        self.slider.setInvertedAppearance(self.reversed)
        d = "back in time" if self.reversed else "forward"
        self.next_button.setToolTip(f"Next timestep {d} (Right)")
        self.prev_button.setToolTip("Previous timestep (Left)")
        self.first_button.setToolTip("Start: t = T (Home)" if self.reversed else "First timestep (Home)")
        self.last_button.setToolTip("End: t = 1 (End)" if self.reversed else "Last timestep (End)")
        self._update_label()

    @property
    def _step(self) -> int:
        return -1 if self.reversed else 1

    def first(self):
        self.set_t(self.length - 1 if self.reversed else 0)

    def last(self):
        self.set_t(0 if self.reversed else self.length - 1)

    def previous(self):
        self.set_t(self.t - self._step)

    def next(self):
        self.set_t(self.t + self._step)

    def _at_end(self) -> bool:
        return self.t <= 0 if self.reversed else self.t >= self.length - 1

    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    def toggle_play(self):
        if self.playing:
            self.timer.stop()
        else:
            if self._at_end():
                self.first()
            self._on_speed_changed()
            self.timer.start()
        icon = QStyle.StandardPixmap.SP_MediaPause if self.playing else QStyle.StandardPixmap.SP_MediaPlay
        self.play_button.setIcon(self.style().standardIcon(icon))

    def _on_speed_changed(self, *_):
        self.timer.setInterval(int(1000 / PLAY_SPEEDS[self.speed_combo.currentIndex()]))

    def _on_timer_timeout(self):
        if self._at_end():
            self.toggle_play()
        else:
            self.next()

    def _update_label(self):
        back = "\u25c0 backward  " if self.reversed else ""
        self.label.setText(f"{back}t = {self.t + 1} / {self.length}")
        # as wide as the longest label of this trace: it does not jitter while playing
        widest = f"{back}t = {self.length} / {self.length}"
        self.label.setMinimumWidth(self.label.fontMetrics().horizontalAdvance(widest) + 6)
