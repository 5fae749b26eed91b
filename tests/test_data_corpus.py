"""Every real-world file shape loads with the defaults and trains: short files, dates, year × month
tables, many columns with gaps, semicolons and decimal commas, TSV, NPY (tests/data_corpus.py)."""

import calendar
import math
from datetime import datetime, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_corpus import CORPUS, MONTHS, WEATHER_COLUMNS
from explorer.app.ingest import describe_file, load_dataset
from explorer.data import SequenceFileError, load_sequence
from explorer.runs.store import ModelSettings, Run


def posix(*args) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize("shape", sorted(CORPUS))
def test_every_shape_trains_one_epoch_with_the_defaults(tmp_path, shape):
    path = CORPUS[shape](tmp_path)
    ds = load_dataset(path)
    assert ds.seq_len_chosen
    assert ds.n_train >= 30 and ds.n_val >= 10
    run = Run(ds, ModelSettings(epochs=1))
    for _ in run.trainer.steps():
        pass
    assert len(run.trainer.history) == 1
    h = run.trainer.history[0]
    assert math.isfinite(h["train_loss"]) and math.isfinite(h["val_loss"])
    info = describe_file(path)
    assert info.kind in ("table", "npy")
    assert info.default_columns == ds.columns


def test_nile_100_rows_chooses_a_sequence_length_and_says_so(tmp_path):
    ds = load_dataset(CORPUS["nile"](tmp_path))
    # 100 rows, 20 % validation: 80 + 20 rows, each part needs L + 1 -> L = 19
    assert ds.seq_len == 19 and ds.seq_len_chosen
    assert ds.notes == ["sequence length 19 chosen to fit the 100 rows (the default 20 needs 103)"]
    assert "sequence length 19 chosen" in ds.describe()
    assert ds.n_train == 80 - 19 and ds.n_val == 20
    assert ds.target_name == "flow" and ds.all_columns == ["year", "flow"]
    assert ds.numeric_columns == ["flow"] and ds.date_columns == ["year"]
    assert ds.time_label == "year"
    np.testing.assert_array_equal(ds.time_values, np.arange(1871, 1971, dtype=float))
    # the validation targets are rows split_index.. : their years
    assert ds.row_time([ds.split_index, 99]).tolist() == [1951.0, 1970.0]


def test_explicit_sequence_length_that_does_not_fit_is_refused_as_before(tmp_path):
    path = CORPUS["nile"](tmp_path)
    with pytest.raises(SequenceFileError) as ei:
        load_dataset(path, seq_len=20)
    assert str(ei.value) == ("Nile.csv has 100 rows but a window of 20 with validation fraction 0.2 needs at least "
                             "103 (seq_len + 1 in each of the training and validation parts); use a shorter window, "
                             "less validation or more data.")
    ds = load_dataset(path, seq_len=12)
    assert ds.seq_len == 12 and not ds.seq_len_chosen and ds.notes == []


def test_61_rows_and_too_few_rows(tmp_path):
    ds = load_dataset(CORPUS["table_61"](tmp_path))
    # 61 rows -> 49 + 12: L = 11
    assert ds.seq_len == 11 and ds.n_train == 38 and ds.n_val == 12
    assert ds.all_columns == ["Year", "Population (millions)", "GDP (billions)", "Unemployment (%)"]
    assert ds.numeric_columns == ds.all_columns[1:]
    p = tmp_path / "four.csv"
    p.write_text("v\n1\n2\n3\n4\n")
    with pytest.raises(SequenceFileError) as ei:
        load_dataset(p)
    assert str(ei.value) == ("four.csv has only 4 rows, too few to learn from: even a window of 1 with validation "
                             "fraction 0.2 needs 8; add more data or use less validation.")
    assert load_dataset(p, val_fraction=0).seq_len == 3


def test_airline_months_become_dates(tmp_path):
    ds = load_dataset(CORPUS["airline"](tmp_path))
    assert ds.columns == ["Passengers"] and ds.target_name == "Passengers"
    assert ds.time_label == "date" and ds.date_columns == ["Month"]
    assert ds.time_values[0] == posix(1949, 1, 1) and ds.time_values[-1] == posix(1960, 12, 1)
    assert ds.series.shape == (144, 1)


@pytest.mark.parametrize("which", ["year_by_month", "year_by_month_full_names"])
def test_year_by_month_table_is_one_monthly_series(tmp_path, which):
    path = CORPUS[which](tmp_path)
    seq = load_sequence(path)
    years = 16
    tail = 3 if which == "year_by_month" else 0      # the unfinished year's empty months are not data
    assert seq.year_month == "series"
    assert seq.values.shape == (12 * years - tail, 1)
    assert seq.columns == [path.stem] and seq.n_missing == 0
    assert seq.all_columns[0] == "Year" and len(seq.all_columns) == (14 if which == "year_by_month" else 13)
    assert seq.time_label == "year"
    np.testing.assert_allclose(seq.time[:13], 1990 + np.arange(13) / 12)
    # row by row: January..December of 1990, then 1991
    raw = np.genfromtxt(path, delimiter=",", skip_header=1)
    np.testing.assert_array_equal(seq.values[:24, 0], raw[:2, 1:13].ravel())
    ds = load_dataset(path)
    assert "a year × month table read as one monthly series" in ds.describe()
    assert ds.year_month == "series" and ds.to_config()["year_month"] == "series"


def test_year_by_month_kept_as_columns(tmp_path):
    path = CORPUS["year_by_month"](tmp_path)
    seq = load_sequence(path, year_month="columns")
    assert seq.values.shape == (16, 1) and seq.columns == ["JAN"]      # the first column of values, one row a year
    assert seq.year_month == "columns" and seq.time.tolist() == list(range(1990, 2006))
    seq = load_sequence(path, columns=["jan", "FEB"], year_month="columns")
    assert seq.columns == ["JAN", "FEB"] and seq.values.shape == (16, 2)
    # naming months picks columns also without year_month="columns"
    assert load_sequence(path, columns=MONTHS[:3]).columns == MONTHS[:3]
    ds = load_dataset(path, year_month="columns", columns=MONTHS, target="DEC")
    assert ds.n_inputs == 12 and ds.target_name == "DEC"
    with pytest.raises(SequenceFileError, match='"series" or "columns"'):
        load_sequence(path, year_month="rows")


def test_weather_table_offers_every_column_and_counts_gaps(tmp_path):
    path = CORPUS["weather"](tmp_path)
    info = describe_file(path)
    assert info.columns == WEATHER_COLUMNS and info.n_rows == 400
    assert info.numeric_columns == WEATHER_COLUMNS[1:] and info.date_columns == ["Date Time"]
    assert info.column_kinds == ["date"] + ["numeric"] * 14
    ds = load_dataset(path, columns=WEATHER_COLUMNS[1:], target="T (degC)")
    assert ds.n_inputs == 14 and ds.target_name == "T (degC)" and ds.all_columns == WEATHER_COLUMNS
    # gaps written at rows 10, 57, 58 and 200 (one in each of four columns)
    assert ds.gap_rows.tolist() == [10, 57, 58, 200] and ds.n_missing == 4
    assert "4 missing value(s) in 4 row(s) filled by interpolation" in ds.describe()
    assert ds.time_label == "date"
    assert ds.time_values[0] == posix(2009, 1, 1, 0, 10) and ds.time_values[1] - ds.time_values[0] == 600
    run = Run(ds, ModelSettings(epochs=1, units=8))
    for _ in run.trainer.steps():
        pass
    assert math.isfinite(run.trainer.history[0]["val_loss"])


def test_semicolon_hint_decimal_commas_and_day_first_dates(tmp_path):
    seq = load_sequence(CORPUS["semicolon_decimal_comma"](tmp_path), columns=["Temperatur", "Niederschlag"])
    assert seq.values[:3].tolist() == [[5.0, 0.0], [5.2, 0.3], [5.3, 0.6]]
    assert seq.time[1] - seq.time[0] == 86400 and seq.time[31] == posix(2020, 2, 1)


def test_headerless_silso_year_month_columns(tmp_path):
    seq = load_sequence(CORPUS["sunspots_silso"](tmp_path))
    assert seq.columns == ["column 4"]           # the sunspot number, not the constant flag columns after it
    assert seq.time_label == "year" and seq.time[12] == 1750.0


@settings(max_examples=40, deadline=None)
@given(stamps=st.lists(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)),
                       min_size=3, max_size=30, unique=True),
       fmt=st.sampled_from(["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%d.%m.%Y %H:%M:%S", "%Y/%m/%d %H:%M",
                            "%Y-%m-%d"]))
def test_dates_in_every_format_become_their_posix_seconds(tmp_path_factory, stamps, fmt):
    stamps = sorted(s.replace(microsecond=0, second=0 if "%S" not in fmt else s.second) for s in stamps)
    if fmt == "%Y-%m-%d":
        stamps = sorted({s.replace(hour=0, minute=0, second=0) for s in stamps})
    if len(stamps) < 3:
        return
    p = tmp_path_factory.mktemp("dates") / "d.csv"
    p.write_text("when,v\n" + "".join(f"{s.strftime(fmt)},{k}\n" for k, s in enumerate(stamps)))
    seq = load_sequence(p)
    expect = [s.replace(tzinfo=timezone.utc).timestamp() for s in stamps]
    # %d.%m.%Y with every day <= 12 is ambiguous only for "/" and "-"; "." reads day first
    assert seq.time_label == "date" and seq.time.tolist() == expect


@settings(max_examples=30, deadline=None)
@given(n_years=st.integers(1, 12), head=st.integers(0, 11), tail=st.integers(0, 11),
       names=st.sampled_from(["abbr", "full", "upper"]))
def test_random_year_by_month_tables(tmp_path_factory, n_years, head, tail, names):
    if head + tail >= 12 * n_years:
        return
    months = {"abbr": [calendar.month_abbr[k] for k in range(1, 13)],
              "full": [calendar.month_name[k] for k in range(1, 13)],
              "upper": [calendar.month_abbr[k].upper() for k in range(1, 13)]}[names]
    flat = np.arange(12 * n_years, dtype=float) + 0.5
    cells = [f"{v:g}" for v in flat]
    for k in list(range(head)) + list(range(12 * n_years - tail, 12 * n_years)):
        cells[k] = ""
    rows = [",".join([str(2000 + y)] + cells[12 * y:12 * y + 12]) for y in range(n_years)]
    p = tmp_path_factory.mktemp("ym") / "t.csv"
    p.write_text(",".join(["YEAR"] + months) + "\n" + "\n".join(rows) + "\n")
    seq = load_sequence(p)
    np.testing.assert_array_equal(seq.values[:, 0], flat[head:12 * n_years - tail])
    np.testing.assert_allclose(seq.time, 2000 + np.arange(head, 12 * n_years - tail) / 12)


def test_thousands_separators(tmp_path):
    p = tmp_path / "sales.csv"
    p.write_text('month,units\n' + "".join(f'2020-{m:02d},"{1000 * m + 234:,}"\n' for m in range(1, 13)))
    seq = load_sequence(p)
    assert seq.columns == ["units"] and seq.values[:2, 0].tolist() == [1234.0, 2234.0]
    p = tmp_path / "umsatz.csv"
    p.write_text("Monat;Umsatz\n" + "".join(f"{m:02d}.2020;1.{m:03d}.234,5\n" for m in range(1, 13)))
    assert load_sequence(p).values[:2, 0].tolist() == [1001234.5, 1002234.5]


def test_title_above_and_footer_below_the_table(tmp_path):
    """Downloads from statistics offices: a title and a source line above the header, notes below."""
    p = tmp_path / "download.csv"
    rows = "".join(f"{1950 + k},{100 + 3 * k}.5\n" for k in range(60))
    p.write_text("Annual rainfall, station 42\nSource: a weather service\n\nYear,Rainfall (mm)\n" + rows
                 + "\nNote: 1999 estimated\nProvisional figures for the last year\n")
    seq = load_sequence(p)
    assert seq.all_columns == ["Year", "Rainfall (mm)"] and seq.values.shape == (60, 1)
    assert seq.values[0, 0] == 100.5 and seq.time[0] == 1950
    assert seq.notes == ["skipped 2 line(s) above the table (a title or notes)",
                         "ignored 2 line(s) below the table from line 66 (a footer or notes)"]
    ds = load_dataset(p)
    assert ds.notes[:2] == seq.notes and "skipped 2 line(s) above the table" in ds.describe()
    # a bad value inside the data is still named, not skipped
    p.write_text("Year,Rainfall\n" + rows.replace("1960,130.5", "1960,oops") + "Note: none\n")
    with pytest.raises(SequenceFileError, match="line 12 holds 'oops'"):
        load_sequence(p)


@pytest.mark.parametrize("marker", [".", "?", "#N/A", "-"])
def test_more_missing_markers(tmp_path, marker):
    p = tmp_path / "fred.csv"
    p.write_text("DATE,VALUE\n" + "".join(f"2020-01-{k + 1:02d},{marker if k == 3 else k}\n" for k in range(20)))
    seq = load_sequence(p)
    assert seq.n_missing == 1 and seq.gaps.tolist() == [3] and seq.values[3, 0] == 3.0


@pytest.mark.parametrize("f, need", [(1e-6, "1,500,000"), (1e-9, "1,500,000,000"), (1e-300, "about 1.5e+300")])
def test_a_tiny_validation_fraction_is_refused_at_once_with_the_rows_it_needs(tmp_path, f, need):
    import time

    p = tmp_path / "three hundred.csv"
    p.write_text("v\n" + "".join(f"{i}\n" for i in range(300)))
    t0 = time.process_time()
    with pytest.raises(SequenceFileError) as ei:
        load_dataset(p, val_fraction=f)
    assert time.process_time() - t0 < 1.0                     # counted, not stepped through row by row
    assert str(ei.value) == (f"three hundred.csv has only 300 rows, too few to learn from: even a window of 1 with "
                             f"validation fraction {f:g} needs {need}; add more data or use less validation.")


def test_rows_needed_is_the_fewest_rows_that_fit():
    from explorer.data.dataset import _rows_needed, _split_sizes

    for L in (1, 2, 5, 20, 99):
        for f in (0.0, 0.001, 0.01, 0.05, 0.2, 0.33, 0.5, 0.9):
            n = _rows_needed(L, f)
            for m, ok in ((n, True), (n - 1, False)):
                tr, va = _split_sizes(m, f)
                assert (tr >= L + 1 and (f == 0 or va >= L + 1)) is ok, (L, f, m)
