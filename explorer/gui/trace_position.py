"""The (sample, timestep, unit) position shared by every view of one trace."""

from __future__ import annotations

from typing import Any


class TracePositionMixin:
    """Holds ``sample``, ``t`` and ``unit`` into a trace of shape (batch, T, n), clamped to it.

    A view calls :meth:`_init_position` in its constructor and implements
    :meth:`_position_changed`, which :meth:`set_position` and :meth:`set_trace` call.
    """

    def _init_position(self) -> None:
        self._trace: Any = None
        self._sample = 0
        self._t = 0
        self._unit = 0

    @property
    def sample(self) -> int:
        return self._sample

    @property
    def t(self) -> int:
        return self._t

    @property
    def unit(self) -> int:
        return self._unit

    @property
    def trace(self) -> Any:
        return self._trace

    def set_position(self, sample: int | None = None, t: int | None = None, unit: int | None = None) -> None:
        """Move to any subset of (sample, t, unit); each is clamped into the trace's range."""
        if sample is not None:
            self._sample = int(sample)
        if t is not None:
            self._t = int(t)
        if unit is not None:
            self._unit = int(unit)
        self._clamp()
        self._position_changed()

    def _clamp(self) -> None:
        tr = self._trace
        if tr is None:
            return
        b, T, n = tr.h.shape
        self._sample = min(max(self._sample, 0), b - 1)
        self._t = min(max(self._t, 0), T - 1)
        self._unit = min(max(self._unit, 0), n - 1)

    def _position_changed(self) -> None:
        raise NotImplementedError
