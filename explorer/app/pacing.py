"""How often a window redraws while a task trains (no Qt): one pacer for every window.

A redraw costs the GUI thread time the training thread waits for (the interpreter's lock), so the
interval between redraws follows the measured cost: about :data:`SHARE_FACTOR` × the cost of the
last cycle (the redraw, the paints it caused and the slots since), which keeps the GUI's share of
the interpreter near 3 % and training at ≥ 90 % of its headless speed. The cost rises slowly and
falls at once, so a one-off cost (a first paint, a tab shown) does not hold the interval at its cap.

>>> pacer = RedrawPacer()
>>> mark = pacer.begin()
>>> pacer.end(mark, paint_s=0.002)
>>> pacer.interval >= pacer.floor
True
"""

from __future__ import annotations

import time

__all__ = ["FLOOR", "RedrawPacer", "SHARE_FACTOR", "WorkPacer"]

FLOOR = 1.0 / 30.0          # never more than 30 redraws a second
CAP = 2.0                   # never fewer than one every 2 s
SHARE_FACTOR = 30.0         # interval = 30 × the cost of a cycle: about 3 % of the interpreter


class RedrawPacer:
    """The redraw interval of one window: :meth:`wait` before scheduling a redraw, :meth:`begin`
    and :meth:`end` around it; :meth:`tell` gives a training task's state :attr:`trace_interval`
    and :attr:`update_interval` (no traces or updates the window will not draw)."""

    def __init__(self, floor: float = FLOOR, cap: float = CAP, clock=time.perf_counter, cpu_clock=time.thread_time):
        self.floor, self.cap = float(floor), float(cap)
        self.clock, self.cpu_clock = clock, cpu_clock
        self.interval = self.floor
        self.cost = 0.0
        self.last = 0.0             # when the last redraw ended
        self._cpu_mark = 0.0        # the GUI thread's CPU clock when the last redraw began

    @property
    def trace_interval(self) -> float:
        return 0.8 * self.interval

    @property
    def update_interval(self) -> float:
        """Seconds between a task's partial results: half the redraw interval (a redraw then draws
        numbers at most that old). Each one wakes the GUI thread, which takes the interpreter's lock
        from the task; more often than the window draws would be waste."""
        return 0.5 * self.interval

    def tell(self, state) -> None:
        """Set a task's ``state.trace_interval`` and ``state.update_interval`` from this pacer."""
        state.trace_interval, state.update_interval = self.trace_interval, self.update_interval

    def wait(self) -> float:
        """Seconds until the next redraw is due (0: now)."""
        return max(0.0, self.interval - (self.clock() - self.last))

    def begin(self) -> tuple:
        return self.clock(), self.cpu_clock()

    def end(self, mark: tuple, paint_s: float = 0.0) -> None:
        """A redraw that began at ``mark`` ended; ``paint_s``: what its paints cost (measured by the views)."""
        t0, cpu0 = mark
        cost = self.clock() - t0 + paint_s
        if self._cpu_mark and t0 - self.last < 2.0:
            cost = max(cost - paint_s, cpu0 - self._cpu_mark)     # the whole last cycle's GUI work
        self._cpu_mark = cpu0
        self.cost = cost if not self.cost or cost < self.cost else 0.8 * self.cost + 0.2 * cost
        self.interval = min(self.cap, max(self.floor, SHARE_FACTOR * self.cost))
        self.last = self.clock()


class WorkPacer:
    """When work that each redraw could ask for again (the comparison view's connectivity while
    training) runs next: not while it runs, and not before :data:`SHARE_FACTOR` × what its last run
    took has passed since that run began (about 3 % of the time), so its cost never grows into the
    training's; a run that never reported its end stops holding the next after ``cap`` seconds.

    >>> now = [0.0]
    >>> pacer = WorkPacer(clock=lambda: now[0])
    >>> pacer.due()
    True
    >>> pacer.begin(); now[0] = 0.1; pacer.end()
    >>> now[0] = 2.0; pacer.due(), round(pacer.wait(), 6)
    (False, 1.0)
    """

    def __init__(self, cap: float = 30.0, clock=time.perf_counter):
        self.cap, self.clock = float(cap), clock
        self.cost = 0.0
        self.began: float | None = None     # the run under way began (None: none runs)
        self.last = -float("inf")           # when the last run began

    def wait(self) -> float:
        """Seconds until the work is due (0: now)."""
        now = self.clock()
        if self.began is not None and now - self.began < self.cap:
            return self.cap - (now - self.began)
        return max(0.0, self.last + SHARE_FACTOR * self.cost - now)

    def due(self) -> bool:
        return self.wait() == 0.0

    def begin(self) -> None:
        self.began = self.last = self.clock()

    def end(self) -> None:
        if self.began is not None:
            self.cost = self.clock() - self.began
            self.began = None
