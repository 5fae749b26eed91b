"""Cyclic garbage is collected on the GUI thread, never by a worker (explorer.gui.main_gc)."""

import gc
import threading
import weakref

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QObject  # noqa: E402

from explorer.gui import main_gc  # noqa: E402
from explorer.gui.worker import TaskWorker, ThreadRegistry  # noqa: E402


class Node:
    def __init__(self):
        self.me = self                 # a cycle: only the cyclic collector frees it
        self.thread = None

    def __del__(self):
        collected_in.append(threading.current_thread().name)


collected_in: list = []


def test_the_app_collects_cycles_on_its_own_thread(qtbot, qapp, monkeypatch):
    monkeypatch.setattr(main_gc, "_collector", None)
    was = gc.isenabled()
    try:
        coll = main_gc.collect_on_gui_thread(qapp)
        assert not gc.isenabled() and main_gc.collect_on_gui_thread(qapp) is coll     # once per process
        assert coll.timer.isActive() and coll.timer.interval() == main_gc.MainThreadCollector.INTERVAL_MS
        assert main_gc.settle_now() > 0                            # as a built window does: frozen
        collected_in.clear()
        holder = QObject()
        # a worker allocating far past generation 0's threshold: with automatic collection off it
        # runs no collection (it would destroy Qt objects in the worker)
        def task(state):
            junk = [Node() for _ in range(3 * gc.get_threshold()[0])]
            ref = weakref.ref(junk[0])
            del junk
            return ref
        reg = ThreadRegistry(holder)
        worker = TaskWorker(task)
        reg.start(worker)
        qtbot.waitUntil(worker.done.is_set, timeout=20000)
        reg.wait_all()
        ref = worker.result
        # freed by a collection on the GUI thread (this collector's timer, or an earlier app's),
        # never in the worker that made the garbage
        qtbot.waitUntil(lambda: ref() is None, timeout=5000)
        assert set(collected_in) == {threading.main_thread().name}
        assert len(collected_in) == 3 * gc.get_threshold()[0]
    finally:
        if main_gc._collector is not None:
            main_gc._collector.timer.stop()
        gc.unfreeze()                  # (settling froze this test process's objects)
        if was:
            gc.enable()


def test_check_collects_the_generations_past_their_thresholds(qapp, monkeypatch):
    """What the timer calls: generation 0 is collected once its count passes Python's threshold."""
    monkeypatch.setattr(main_gc, "_collector", None)
    was = gc.isenabled()
    try:
        coll = main_gc.collect_on_gui_thread(qapp)
        coll.timer.stop()                          # called by hand here
        gc.collect()
        assert coll.check() == 0 and coll.collections == [0, 0, 0]          # nothing due
        junk = [Node() for _ in range(2 * gc.get_threshold()[0])]
        ref = weakref.ref(junk[0])
        del junk
        assert ref() is not None
        assert coll.check() >= 2 * gc.get_threshold()[0] and coll.collections[0] == 1
        assert ref() is None
    finally:
        main_gc._collector.timer.stop()
        gc.unfreeze()
        if was:
            gc.enable()


def test_settling_freezes_what_exists_and_later_cycles_are_still_collected(qtbot, qapp, monkeypatch):
    """Settling (once the window is built) collects once and freezes the survivors: a full
    collection then scans only what was made since, and cycles made later are freed as before."""
    monkeypatch.setattr(main_gc, "_collector", None)
    assert main_gc.settle_now() == 0                    # no collector: nothing frozen
    was = gc.isenabled()
    try:
        kept = [Node() for _ in range(10)]              # alive when it settles: frozen
        coll = main_gc.collect_on_gui_thread(qapp)
        coll.timer.stop()                               # (its thresholds are not under test here)
        assert coll.frozen == 0
        assert main_gc.settle_now() == coll.frozen > len(gc.get_objects())
        assert not any(obj is kept[0] for obj in gc.get_objects())      # out of the collector's sight
        collected_in.clear()
        junk = [Node() for _ in range(50)]
        ref = weakref.ref(junk[0])
        del junk
        assert gc.collect() >= 50 and ref() is None     # made after the freeze: collected as before
        assert collected_in == [threading.main_thread().name] * 50
    finally:
        if main_gc._collector is not None:
            main_gc._collector.timer.stop()
        gc.unfreeze()
        if was:
            gc.enable()
