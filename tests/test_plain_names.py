"""Names from a file, a path or a model are plain text wherever they are drawn: plot labels, titles and
legends, the window's labels, banners, tooltips and dialogs, the exported PNG/SVG. A name that is
markup (``<img src=…>`` pointing at a FIFO: Qt would open it and wait forever) is shown as written."""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QTextDocument

from explorer.figures import plots
from explorer.figures.panel import ensure_app, plain_html
from explorer.gui.plain_text import plain_label, plain_tooltip

ROOT = Path(__file__).resolve().parents[1]
BOLD = "<b>x</b> & y"


@pytest.fixture
def fifo(tmp_path):
    """A FIFO nothing writes to: opening it for reading blocks forever (what an <img src> would do)."""
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def markup_csv(path, img_name, n=120):
    t = np.arange(n)
    lines = ['"' + img_name.replace('"', '""') + '",' + BOLD]
    lines += [f"{np.sin(i / 5):.6f},{np.cos(i / 7):.6f}" for i in t]
    path.write_text("\n".join(lines) + "\n")
    return path


def shown(html_text: str) -> str:
    """What Qt shows for ``html_text`` (the rich-text document's plain text)."""
    doc = QTextDocument()
    doc.setHtml(html_text)
    return doc.toPlainText()


def svg_texts(path) -> list[str]:
    """Every text run an SVG draws, joined per <text> element."""
    root = ET.parse(path).getroot()
    return ["".join(el.itertext()) for el in root.iter() if el.tag.endswith("}text") or el.tag == "text"]


def test_plain_html_shows_any_name_as_written():
    ensure_app()
    for name in ('<img src="/etc/passwd">', BOLD, "a\nb", "&lt;", "<!doctype html><p>x"):
        assert shown(plain_html(name)) == name
        assert shown(plain_tooltip(name)) == name
        assert plain_label(name).text() == name


def test_axis_title_and_legend_of_a_plot_are_the_names_as_written(fifo):
    ensure_app()
    img = f'<img src="{fifo}">'
    w = plots.PredictionPlotWidget()
    t = np.arange(30.0)
    w.set_series(t, np.sin(t), t, np.cos(t), y_label=img, x_label=BOLD, x_values=t)
    assert shown(w.plot.getAxis("left").labelString()) == img
    assert w.plot.getAxis("left").label.toPlainText() == img
    assert w.plot.getAxis("bottom").label.toPlainText() == BOLD
    c = plots.CurvesPlotWidget(title=img)
    c.add_curve(BOLD, [1, 2, 3], [1.0, 0.5, 0.25], "#123456")
    assert [label.item.toPlainText() for _, label in c.legend.items] == [BOLD]
    c.set_title(img, subtitle=BOLD)
    c._exporting = True
    c._apply_title()
    assert c.plot.titleLabel.item.toPlainText() == f"{img}\n{BOLD}"


def test_heatmap_titles_are_plain(fifo):
    ensure_app()
    w = plots.GateHeatmapWidget()
    w.place = f'<img src="{fifo}">'
    w._exporting = True
    assert shown(w._full_title("i")).endswith(f'\u2014 <img src="{fifo}">')


def test_train_on_markup_column_names_writes_the_names_as_text(tmp_path, fifo):
    img = f'<img src="{fifo}">'
    csv_path = markup_csv(tmp_path / "markup.csv", img)
    out = tmp_path / "run"
    p = subprocess.run([sys.executable, "-m", "explorer", "train", csv_path, "--column", "0", "1", "--target", "0",
                        "--units", "2", "--epochs", "1", "--quiet", "--out", out], capture_output=True, text=True,
                       timeout=120, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    texts = svg_texts(out / "predictions.svg")
    assert img in texts                     # the y axis' title, drawn as the column's name
    assert (out / "predictions.png").stat().st_size > 10_000


def test_window_shows_markup_names_as_written(qtbot, qsettings, app_paths, tmp_path, fifo):
    from explorer.gui.main_window import MainWindow
    img = f'<img src="{fifo}">'
    csv_path = markup_csv(tmp_path / "<i>data<b>.csv", img)
    win = MainWindow(settings=qsettings)
    qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
    win.show()
    with qtbot.waitSignal(win.sigDataLoaded, timeout=20000):
        win.open_file(str(csv_path), columns=[img, BOLD], target=img)
    sp = win.settings_panel
    assert [sp.columns_list.item(k).text() for k in range(sp.columns_list.count())] == [img, BOLD]
    assert sp.source_label.text() == "<i>data<b>.csv"
    assert shown(sp.source_label.toolTip()) == str(csv_path)
    assert img in win.data_label.full_text() and img in shown(win.data_label.toolTip())
    assert win.data_label.textFormat() == sp.source_label.textFormat() == plain_label().textFormat()
    qtbot.waitUntil(lambda: win.prediction_plot.has_data(), timeout=20000)
    assert win.prediction_plot.plot.getAxis("left").label.toPlainText() == img
    files = {p.name: p for p in win.export_all(tmp_path / "export")}
    assert img in svg_texts(files["predictions.svg"])
    bad = tmp_path / "<img src='x'>.csv"
    bad.write_text("a,b\n1,2\n3\n4,5\n")
    with qtbot.waitSignal(win.sigLoadFailed, timeout=10000) as sig:
        win.open_file(str(bad))
    assert "<img src='x'>.csv" in sig.args[0]
    assert win.banner.label.text() == sig.args[0]
    assert win.banner.label.textFormat() == plain_label().textFormat()


def test_error_dialog_shows_the_summary_as_written(qtbot):
    from explorer.gui.crash import ErrorDialog
    from PySide6.QtWidgets import QLabel
    d = ErrorDialog(f'bad name <img src="/etc/passwd"> {BOLD}', "details", Path("/tmp/<i>log</i>"))
    qtbot.addWidget(d)
    label = d.findChildren(QLabel)[0]
    assert shown(label.text()) == (f'Something went wrong: bad name <img src="/etc/passwd"> {BOLD}\n'
                                   "The app keeps running; your data and run are unchanged.\n"
                                   "Logged to /tmp/<i>log</i>")


def test_recent_files_menu_shows_a_name_with_an_ampersand_as_written(qtbot, qsettings, app_paths, tmp_path):
    from explorer.gui.main_window import MainWindow
    win = MainWindow(settings=qsettings)
    qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
    path = markup_csv(tmp_path / "R&D <b>.csv", "a")
    with qtbot.waitSignal(win.sigDataLoaded, timeout=20000):
        win.open_file(str(path))
    assert win.recent_menu.actions()[0].text() == str(path).replace("&", "&&")     # "&&" draws one "&"
