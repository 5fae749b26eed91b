"""A file of very many columns opens without freezing the window: the settings panel lists 100,000
columns in linear time (it was quadratic: 200 s of GUI-thread work for 100,000)."""

import time

from PySide6.QtCore import Qt

from explorer.gui.settings_panel import SettingsPanelWidget


def test_listing_a_hundred_thousand_columns_takes_moments(qtbot):
    panel = SettingsPanelWidget()
    qtbot.addWidget(panel)
    names = [f"c{i}" for i in range(100_000)] + ["when"]
    numeric = names[:-1]
    t0 = time.perf_counter()
    panel.set_columns(names, ["c7", "c99999"], "c99999", numeric=numeric)
    took = time.perf_counter() - t0
    assert took < 10, took                       # quadratic, this took minutes
    lst = panel.columns_list
    assert lst.count() == 100_001
    ticked = [lst.item(k).text() for k in range(lst.count()) if lst.item(k).checkState() == Qt.CheckState.Checked]
    assert ticked == ["c7", "c99999"]
    assert not lst.item(100_000).flags() & Qt.ItemFlag.ItemIsEnabled          # "when" holds no numbers
    assert panel.target_combo.count() == 100_000 and panel.target_combo.currentText() == "c99999"
    assert panel.chosen_columns() == ["c7", "c99999"]
