"""Date axes: the SVG shows the PNG's picture on hourly, daily and yearly data (no stair-steps from
six significant digits of a decimal year), ticks at calendar boundaries, years written as years."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtGui import QImage  # noqa: E402

from explorer.figures import plots  # noqa: E402
from explorer.figures.axes import date_ticks, decimal_years, format_date_tick  # noqa: E402
from test_figures_export import _blocks, _gray, _svg_as_png  # noqa: E402

SVG_NS = "{http://www.w3.org/2000/svg}"


def _dated(step: str, n: int, start: str):
    t = np.datetime64(start, "s") + np.arange(n) * np.timedelta64(1, step).astype("timedelta64[s]")
    y = np.sin(np.arange(n) / 7.0) + 0.3 * np.sin(np.arange(n) / 2.3)
    return t, y


CASES = {
    "hourly": dict(x_values=_dated("h", 400, "2014-03-01T00:00")[0], x_label="date"),
    "daily": dict(x_values=_dated("D", 400, "2013-11-20")[0], x_label="date"),
    "yearly": dict(x_values=np.arange(1871, 2271).astype(float), x_label="year"),
    "monthly decimal years": dict(x_values=np.round(1949 + np.arange(400) / 12, 3), x_label="year"),
}


def _fill(qtbot, case):
    w = plots.PredictionPlotWidget()
    qtbot.addWidget(w)
    y = _dated("h", 400, "2014-03-01")[1]
    w.set_series(np.arange(400), y, np.arange(300, 400), y[300:] + 0.05, split_t=300, **CASES[case])
    return w, y


def _longest_curve_xs(svg_path) -> np.ndarray:
    root = ET.parse(str(svg_path)).getroot()
    best = []
    for el in root.iter(SVG_NS + "path"):
        pts = re.findall(r"[ML]\s*(-?[\d.e+-]+)[ ,](-?[\d.e+-]+)", el.get("d", ""))
        if len(pts) > len(best):
            best = pts
    return np.array([float(x) for x, _ in best])


@pytest.mark.parametrize("case", list(CASES))
def test_a_date_axis_svg_shows_the_pngs_picture(qtbot, tmp_path, case):
    w, _ = _fill(qtbot, case)
    w.export_png(tmp_path / "p.png")
    w.export_svg(tmp_path / "p.svg")
    png = QImage(str(tmp_path / "p.png"))
    svg = _svg_as_png(tmp_path / "p.svg", png.width(), png.height())
    diff = np.abs(_blocks(_gray(png)) - _blocks(_gray(svg)))
    assert diff.mean() < 3.0 and np.percentile(diff, 99) < 40, f"{case}: SVG differs ({diff.mean():.2f})"
    # every one of the 400 points has its own x in the SVG (six significant digits of 2014.0xx
    # would pile 88 hours onto one x: stair-steps)
    xs = _longest_curve_xs(tmp_path / "p.svg")
    assert len(xs) >= 399 and len(np.unique(xs)) >= 399, f"{case}: {len(np.unique(xs))} distinct x of {len(xs)}"


def test_hourly_ticks_fall_on_calendar_boundaries_and_say_so(qtbot):
    w, _ = _fill(qtbot, "hourly")
    axis = w.plot.getAxis("bottom")
    lo, hi = w._x(np.array([0, 399]))              # the data's first and last hour, in plot coordinates
    (spacing, ticks), = axis.tickValues(lo, hi, 1000)
    labels = axis.tickStrings(ticks, 1.0, spacing)
    # 400 hours (16.7 days) over 1000 px (room for 10 labels): a tick every 2 days, at midnight, as a day
    assert axis._date_unit == ("D", 2)
    days = [str(t) for t in np.datetime64("2014-03-01") + np.arange(0, 20)]
    stamps = decimal_years(np.array(days, dtype="datetime64[D]"))
    for v in ticks:
        assert np.min(np.abs(stamps - (v + axis.offset))) < 1e-9, "a tick off midnight"
    assert labels[:3] == ["2 Mar 2014", "4 Mar 2014", "6 Mar 2014"] and len(labels) == 8


def test_years_are_written_as_years(qtbot):
    w, _ = _fill(qtbot, "yearly")
    axis = w.plot.getAxis("bottom")
    lo, hi = w._x(np.array([0, 399]))
    levels = axis.tickValues(lo, hi, 600)
    spacing, ticks = levels[0]
    labels = axis.tickStrings(ticks, 1.0, spacing)
    assert labels and all(re.fullmatch(r"(18|19|20|21|22)\d\d", s) for s in labels), labels     # 2008, never 2,008
    w, _ = _fill(qtbot, "monthly decimal years")       # R's 1949.083 …: ticks at year starts, labelled 1950
    axis = w.plot.getAxis("bottom")
    lo, hi = w._x(np.array([0, 399]))
    (spacing, ticks), = axis.tickValues(lo, hi, 600)
    labels = axis.tickStrings(ticks, 1.0, spacing)
    assert axis._date_unit[0] == "Y" and all(float(v + axis.offset).is_integer() for v in ticks)
    assert all(re.fullmatch(r"(19|20)\d\d", s) for s in labels), labels


def test_date_ticks_choose_the_finest_calendar_unit_that_fits():
    y0 = float(decimal_years(np.array(["2014-03-01T00:00"], dtype="datetime64[m]"))[0])
    unit, ticks = date_ticks(y0, y0 + 1 / 365.2425, 9)                  # one day: every 3 hours
    assert unit == ("h", 3) and [format_date_tick(t, "h") for t in ticks[:3]] == ["1 Mar 00:00", "1 Mar 03:00",
                                                                                   "1 Mar 06:00"]
    unit, ticks = date_ticks(y0, y0 + 2, 10)                           # two years: every quarter
    assert unit == ("M", 3) and [format_date_tick(t, "M") for t in ticks[:3]] == ["Apr 2014", "Jul 2014", "Oct 2014"]
    unit, ticks = date_ticks(1871.0, 1970.0, 6)
    assert unit == ("Y", 20) and [format_date_tick(t, "Y") for t in ticks] == ["1880", "1900", "1920", "1940", "1960"]


def test_values_far_from_zero_keep_their_detail_in_the_svg(qtbot, tmp_path):
    w = plots.PredictionPlotWidget()
    qtbot.addWidget(w)
    y = 30000.0 + np.round(np.sin(np.arange(400) / 7.0) * 2.5, 3)          # 29,997.5 … 30,002.5
    w.set_series(np.arange(400), y, np.arange(300, 400), y[300:] + 0.2, split_t=300,
                 **CASES["hourly"])
    assert w.y_origin == 29900.0                                          # a round number below, ticks stay round
    w.export_png(tmp_path / "p.png")
    w.export_svg(tmp_path / "p.svg")
    png = QImage(str(tmp_path / "p.png"))
    svg = _svg_as_png(tmp_path / "p.svg", png.width(), png.height())
    diff = np.abs(_blocks(_gray(png)) - _blocks(_gray(svg)))
    assert diff.mean() < 3.0 and np.percentile(diff, 99) < 40
    root = ET.parse(str(tmp_path / "p.svg")).getroot()
    ys = max((re.findall(r"[ML]\s*-?[\d.e+-]+[ ,](-?[\d.e+-]+)", el.get("d", "")) for el in root.iter(SVG_NS + "path")),
             key=len)
    assert len(set(ys)) >= 150                                             # 30000.2 would be one of ten steps
    axis = w.plot.getAxis("left")
    assert axis.tickStrings([98.0, 100.0, 102.0], 1.0, 2.0) == ["29,998", "30,000", "30,002"]
    # the CSV keeps the values themselves
    header, rows = w.csv_rows()
    first = next(iter(rows))
    assert first[2] == y[0]
