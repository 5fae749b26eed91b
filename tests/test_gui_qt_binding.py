"""The Qt binding must not leak references to None: PySide6 6.12.0 drops one on every void call
under Python < 3.12, and the app then dies after some thousands of redraws ("none_dealloc")."""

import gc
import sys

from PySide6.QtWidgets import QGraphicsRectItem


def test_void_calls_keep_the_reference_count_of_none(qapp):
    item = QGraphicsRectItem(0, 0, 1, 1)
    gc.collect()
    before = sys.getrefcount(None)
    for _ in range(2000):
        item.update()
        item.setVisible(True)
    gc.collect()
    assert abs(sys.getrefcount(None) - before) < 100
