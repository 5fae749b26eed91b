"""What every view of the session shares: the subscription, the shims of a view alone, the cell it shows.

A view (a QWidget) mixes in :class:`SessionViewMixin`, calls :meth:`_init_session` in its
constructor and implements :meth:`_refresh` (redraw from the session). It keeps no copy of the
position: ``sample``, ``t`` and ``unit`` read the session's.
"""

from __future__ import annotations

from typing import Any

from explorer.app.session import Session
from explorer.app.cell_view import CellView, cell_view


class SessionViewMixin:
    """Subscribes ``_on_session_trace`` / ``_position`` / ``_run`` / ``_source`` to a session (a private one if
    none is given, driven by :meth:`set_trace` and :meth:`set_position`)."""

    def _init_session(self, session: Session | None) -> None:
        self.session = session if session is not None else Session()
        self._vocab: list[str] | None = None
        ev = self.session.events
        slots = ((ev.trace, self._on_session_trace), (ev.position, self._on_session_position),
                 (ev.run, self._on_session_run), (ev.interventions, self._on_session_source),
                 (ev.replay_epoch, self._on_session_source))
        for signal, slot in slots:
            signal.connect(slot)

        def disconnect(*_):             # the widget is gone: a session that lives on must not call it
            for signal, slot in slots:
                signal.disconnect(slot)

        self.destroyed.connect(disconnect)

    def _refresh(self) -> None:
        raise NotImplementedError

    def epoch_text(self) -> str:
        """The replayed epoch whose numbers are drawn ('replayed epoch 2 / 5'), '' for the latest."""
        src = self.session.trace_source
        if src is None:
            return ""
        run = self.session.run
        kept = run.epoch_weights() if run is not None and hasattr(run, "epoch_weights") else []
        return src.epoch_text(kept[-1] if kept else None)

    def _on_session_trace(self, trace) -> None:
        self._refresh()

    def _on_session_position(self, pos) -> None:
        self._refresh()

    def _on_session_source(self, _value) -> None:
        """What is asked to be drawn changed (interventions, replayed epoch): say so until it arrives."""
        self._refresh()

    def _on_session_run(self, run) -> None:
        vocab = getattr(getattr(run, "dataset", None), "vocab", None)
        self._vocab = None if vocab is None else list(vocab)
        self._refresh()

    # -- a view alone (thin shims onto the session) ---------------------------------------------------
    def set_trace(self, trace: Any, weights: Any = None) -> None:
        """Show ``trace`` (batch 1: the selected sample's) computed by ``weights``."""
        self.session.set_trace(trace, weights)

    def set_position(self, sample: int | None = None, t: int | None = None, unit: int | None = None) -> None:
        """Move the session to any of (sample, t, unit), clamped into the trace."""
        given = {k: v for k, v in (("sample", sample), ("t", t), ("unit", unit)) if v is not None}
        self.session.set_position(**given)

    @property
    def sample(self) -> int:
        return self.session.position.sample

    @property
    def t(self) -> int:
        return self.session.position.t

    @property
    def unit(self) -> int:
        return self.session.position.unit

    @property
    def trace(self) -> Any:
        return self.session.trace

    @property
    def vocab(self) -> list[str] | None:
        """Token names when the input is one-hot (then x_t is shown as one-hot('token'))."""
        return self._vocab

    @vocab.setter
    def vocab(self, vocab: list[str] | None) -> None:
        self._vocab = None if vocab is None else list(vocab)
        self._refresh()

    @property
    def x_note(self) -> str:
        """What the inputs are beside their values ("z-scored"), from the run's dataset."""
        ds = getattr(self.session.run, "dataset", None)
        return str(getattr(ds, "input_scaling", "") or "")

    @property
    def description(self) -> CellView:
        """The description of the cell shown (the trace's, else the run's model's, else the LSTM's)."""
        kind = getattr(self.session.trace, "kind", None)
        if kind is None:
            kind = getattr(getattr(self.session.run, "model", None), "kind", None) or "lstm"
        return cell_view(kind)
