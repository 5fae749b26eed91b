"""A corpus of realistic data files, written the way real ones are (shapes, headers, separators,
dates, gaps), for tests that every file shape trains with the defaults.

Each writer takes a folder and returns the path it wrote. Values follow the real series' scale
(Nile flow, airline passengers, sunspots, a weather station) from fixed seeds.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta

import numpy as np

MONTHS = [calendar.month_abbr[k].upper() for k in range(1, 13)]


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def nile(folder):
    """The Nile's annual flow at Aswan, 1871–1970: 100 rows, a year column."""
    rng = np.random.default_rng(1871)
    flow = 1100 + 170 * rng.standard_normal(100) - 250 * (np.arange(100) > 28)
    p = folder / "Nile.csv"
    p.write_text("year,flow\n" + "".join(f"{1871 + k},{v:.0f}\n" for k, v in enumerate(flow)))
    return p


def airline(folder):
    """Monthly airline passengers 1949-01 … 1960-12: 144 rows with ISO months."""
    k = np.arange(144)
    v = (100 + 2.2 * k) * (1 + 0.2 * np.sin(2 * np.pi * k / 12))
    p = folder / "airline-passengers.csv"
    p.write_text('"Month","Passengers"\n' + "".join(
        f'"{1949 + j // 12}-{j % 12 + 1:02d}",{x:.0f}\n' for j, x in enumerate(v)))
    return p


def year_by_month(folder, years=range(1990, 2006), full_names=False, annual=True, missing_tail=3):
    """A YEAR × JAN…DEC table (a statistics office's layout), the last year not finished yet."""
    rng = np.random.default_rng(7)
    names = [calendar.month_name[k] for k in range(1, 13)] if full_names else MONTHS
    head = ["Year"] + names + (["Annual"] if annual else [])
    lines = [",".join(head)]
    years = list(years)
    for y in years:
        vals = 10 + 8 * np.sin(2 * np.pi * (np.arange(12) - 3) / 12) + 0.05 * (y - years[0]) + rng.normal(0, 0.5, 12)
        cells = [f"{v:.2f}" for v in vals]
        if y == years[-1] and missing_tail:
            cells[12 - missing_tail:] = [""] * missing_tail
        row = [str(y)] + cells + ([f"{np.mean(vals):.2f}"] if annual else [])
        lines.append(",".join(row))
    p = folder / ("temperature-monthly.csv" if not full_names else "rainfall.csv")
    p.write_text("\n".join(lines) + "\n")
    return p


WEATHER_COLUMNS = ["Date Time", "p (mbar)", "T (degC)", "Tpot (K)", "Tdew (degC)", "rh (%)", "VPmax (mbar)",
                   "VPact (mbar)", "VPdef (mbar)", "sh (g/kg)", "H2OC (mmol/mol)", "rho (g/m**3)", "wv (m/s)",
                   "max. wv (m/s)", "wd (deg)"]


def weather(folder, rows=400, gaps=((10, 2), (57, 5), (58, 2), (200, 14))):
    """A weather station's 10-minute log: a date-time column (dd.mm.yyyy hh:mm:ss) and 14 numeric
    columns, with a few empty fields (row, column) as loggers leave them."""
    rng = np.random.default_rng(2009)
    t0 = datetime(2009, 1, 1, 0, 10)
    k = np.arange(rows)
    temp = -8 + 3 * np.sin(2 * np.pi * k / 144) + rng.normal(0, 0.3, rows)
    data = np.column_stack([
        996 + rng.normal(0, 1, rows), temp, temp + 273.5, temp - 1, 90 + rng.normal(0, 3, rows),
        3.3 + 0.1 * temp, 3.0 + 0.1 * temp, 0.3 + rng.random(rows) * 0.1, 1.9 + 0.05 * temp,
        3.1 + 0.05 * temp, 1300 - temp, 1 + rng.random(rows), 2 + rng.random(rows), 150 + 50 * rng.random(rows)])
    cells = [[f"{v:.2f}" for v in row] for row in data]
    for r, c in gaps:
        cells[r][c - 1] = ""
    lines = [",".join(WEATHER_COLUMNS)]
    for j in range(rows):
        stamp = (t0 + timedelta(minutes=10 * j)).strftime("%d.%m.%Y %H:%M:%S")
        lines.append(",".join([stamp] + cells[j]))
    return _write(folder / "jena_climate_excerpt.csv", lines)


def sunspots(folder, rows=600):
    """Sunspots as the popular CSV has them: an unnamed index column, a date, the monthly mean."""
    rng = np.random.default_rng(1749)
    k = np.arange(rows)
    v = np.abs(80 + 70 * np.sin(2 * np.pi * k / 132) + rng.normal(0, 15, rows))
    lines = [",Date,Monthly Mean Total Sunspot Number"]
    for j in range(rows):
        y, m = 1749 + j // 12, j % 12 + 1
        last = calendar.monthrange(y, m)[1]
        lines.append(f"{j},{y}-{m:02d}-{last},{v[j]:.1f}")
    return _write(folder / "Sunspots.csv", lines)


def sunspots_silso(folder, rows=300):
    """SILSO's whitespace text file: year, month, decimal year, value, std, observations, flag."""
    rng = np.random.default_rng(5)
    lines = []
    for j in range(rows):
        y, m = 1749 + j // 12, j % 12 + 1
        v = abs(80 + 70 * np.sin(2 * np.pi * j / 132) + rng.normal(0, 15))
        lines.append(f"{y} {m:2d} {y + (m - 0.5) / 12:8.3f} {v:6.1f} {-1.0:5.1f} {-1:4d} 1")
    return _write(folder / "SN_m_tot_V2.0.txt", lines)


def table_61(folder):
    """A 61-row annual table with several columns (a statistics yearbook)."""
    rng = np.random.default_rng(61)
    lines = ["Year,Population (millions),GDP (billions),Unemployment (%)"]
    for j in range(61):
        lines.append(f"{1960 + j},{50 + 0.4 * j:.1f},{300 * 1.03 ** j:.1f},{5 + 2 * np.sin(j / 4) + rng.normal(0, .3):.1f}")
    return _write(folder / "yearbook.csv", lines)


def semicolon_decimal_comma(folder):
    """What a German Excel saves: a sep=; hint, semicolons, decimal commas, dd.mm.yyyy dates,
    a BOM and CRLF line ends."""
    lines = ["sep=;", "Datum;Temperatur;Niederschlag"]
    d0 = datetime(2020, 1, 1)
    for j in range(150):
        t = 5 + 10 * np.sin(2 * np.pi * j / 365)
        rain = (j % 7) * 0.3
        lines.append(f"{(d0 + timedelta(days=j)):%d.%m.%Y};{t:.1f};{rain:.1f}".replace(".", ",")
                     .replace(",", ".", 2))
    p = folder / "wetter.csv"
    p.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8-sig"))
    return p


def tsv(folder):
    """A tab-separated export with a time column and two sensors."""
    lines = ["time\tsensor_a\tsensor_b"]
    for j in range(300):
        lines.append(f"2024-03-01 {j // 60:02d}:{j % 60:02d}\t{np.sin(j / 9):.4f}\t{np.cos(j / 13):.4f}")
    return _write(folder / "sensors.tsv", lines)


def npy(folder):
    p = folder / "signal.npy"
    np.save(p, np.sin(np.arange(250) / 7.0))
    return p


CORPUS = {
    "nile": nile,
    "airline": airline,
    "year_by_month": year_by_month,
    "year_by_month_full_names": lambda folder: year_by_month(folder, full_names=True, annual=False, missing_tail=0),
    "weather": weather,
    "sunspots": sunspots,
    "sunspots_silso": sunspots_silso,
    "table_61": table_61,
    "semicolon_decimal_comma": semicolon_decimal_comma,
    "tsv": tsv,
    "npy": npy,
}
