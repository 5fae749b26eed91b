"""The Qt-free session: position clamped into the trace and the data, events only on change."""

import numpy as np

from explorer.app import CheckpointPolicy, Position, Session
from explorer.data.examples import load_example
from explorer.runs.store import Run, settings_for_example


def _run():
    return Run(load_example("sine"), settings_for_example("sine", units=4))


def test_position_clamped_into_trace_and_data():
    s = Session()
    run = _run()
    seen = []
    s.events.position.connect(seen.append)
    s.set_run(run)
    s.set_trace(run.trainer.sample_trace())
    T, n = s.trace.T, s.trace.h.shape[2]
    assert s.set_position(t=10_000, unit=99, sample=10**6) == Position(
        sample=run.dataset.n_val - 1, t=T - 1, unit=n - 1)
    assert s.set_position(t=-5).t == 0
    before = len(seen)
    s.set_position(t=0)                       # unchanged: no event
    assert len(seen) == before


def test_step_record_is_the_trace_at_the_position():
    s = Session()
    run = _run()
    s.set_run(run)
    tr = run.trainer.sample_trace()
    s.set_trace(tr)
    s.set_position(t=3)
    rec = s.step_record()
    np.testing.assert_array_equal(rec["c_prev"], tr.c[0, 2])
    np.testing.assert_array_equal(rec["h"], tr.h[0, 3])


def test_checkpoint_policy_interval_and_epoch_end():
    now = [0.0]
    p = CheckpointPolicy(clock=lambda: now[0])
    now[0] = 4.9
    assert not p.due(epoch_end=True)
    now[0] = 5.0
    assert p.due(epoch_end=True) and not p.due(epoch_end=False)
    p.saved()
    now[0] = 34.9
    assert not p.due()
    now[0] = 35.0
    assert p.due()


def test_subscribe_connects_the_views_on_session_slots():
    class View:
        def __init__(self):
            self.seen = []

        def _on_session_position(self, pos):
            self.seen.append(("position", pos.t))

        def _on_session_run(self, run):
            self.seen.append(("run", run))

    s, v = Session(), View()
    s.subscribe(v, "position", "run")
    s.set_position(t=4)
    s.set_run(None)
    assert v.seen[0] == ("position", 4) and ("run", None) in v.seen
