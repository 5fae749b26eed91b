"""Files read as a person means them: R's exports (row names, decimal-year time), the default
target a person would choose, long tables of several series, grids of numbers."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.app.ingest import load_dataset
from explorer.data import describe_file, load_sequence


def _r_monthly(path, header='"","time","value"', n=144, quoted=True):
    """R's write.csv(data.frame(time = time(x), value = x)) of a monthly series from 1949."""
    v = 100 + np.arange(n) + 10 * np.sin(np.arange(n))
    lines = [header] + [(f'"{k + 1}"' if quoted else f"{k + 1}") + f",{1949 + k / 12:.3f},{v[k]:.1f}"
                        for k in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return v.round(1)


@pytest.mark.parametrize("header, quoted", [('"","time","value"', True), ("rownames,time,value", False)])
def test_r_export_row_names_and_decimal_years_are_not_values(tmp_path, header, quoted):
    p = tmp_path / "AirPassengers.csv"
    v = _r_monthly(p, header, quoted=quoted)
    seq = load_sequence(p)
    assert seq.column_kinds == ["index", "date", "numeric"]
    assert seq.columns == ["value"] and seq.values[:, 0].tolist() == v.tolist()
    assert seq.time_label == "year" and seq.time[:3].tolist() == [1949.0, 1949.083, 1949.167]
    assert seq.numeric_columns == ["value"]          # neither the row names nor the time is offered as a value
    info = describe_file(p)
    assert info.default_target == "value" and info.numeric_columns == ["value"]
    ds = load_dataset(p)
    # the time as the file wrote it, beside the row number (predictions.csv's time column)
    assert ds.time_text([0, 1, 143]) == ["1949.000", "1949.083", "1960.917"]


def test_yearly_and_dated_times_are_written_as_in_the_file_or_iso(tmp_path):
    p = tmp_path / "Nile.csv"
    p.write_text('"","time","Nile"\n' + "".join(f'"{k + 1}",{1871 + k},{1000 + 37 * k % 300}\n' for k in range(100)))
    ds = load_dataset(p)
    assert ds.columns == ["Nile"] and ds.time_label == "year"
    assert ds.time_text([0, 99]) == ["1871", "1970"]
    p = tmp_path / "hourly.csv"
    p.write_text("when,temp\n" + "".join(f"2024-03-01 {h % 24:02d}:00,{h % 7}\n" for h in range(24)) +
                 "".join(f"2024-03-02 {h:02d}:00,{h % 5}\n" for h in range(24)))
    ds = load_dataset(p)
    assert ds.time_label == "date" and ds.time_text([0, 25]) == ["2024-03-01T00:00:00", "2024-03-02T01:00:00"]
    p = tmp_path / "daily.csv"
    p.write_text("Date,Close\n" + "".join(f"2024-01-{d:02d},{d * 1.5}\n" for d in range(1, 31)))
    assert load_dataset(p).time_text([0, 29]) == ["2024-01-01", "2024-01-30"]


def test_headerless_first_column_counting_rows_is_an_index(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("".join(f"{k + 1} {float(k * k % 17)}\n" for k in range(40)))
    seq = load_sequence(p)
    assert seq.column_kinds == ["index", "numeric"] and seq.columns == ["column 2"]
    # named explicitly, an index column is still there to use
    assert load_sequence(p, columns=["column 1"]).values[:3, 0].tolist() == [1, 2, 3]


def _seatbelts(path, rows=192):
    rng = np.random.default_rng(3)
    head = '"","time","DriversKilled","drivers","front","rear","kms","PetrolPrice","VanKilled","law"'
    lines = [head]
    for k in range(rows):
        lines.append(f'"{k + 1}",{1969 + k / 12:.3f},{100 + rng.integers(50)},{1500 + rng.integers(300)},'
                     f'{800 + rng.integers(100)},{400 + rng.integers(50)},{9000 + 10 * k},{0.1 + 0.001 * k:.6f},'
                     f'{10 + rng.integers(5)},{int(k >= 169)}')
    path.write_text("\n".join(lines) + "\n")


def test_default_target_is_the_first_column_of_values(tmp_path):
    p = tmp_path / "Seatbelts.csv"
    _seatbelts(p)
    ds = load_dataset(p)
    assert ds.columns == ["DriversKilled"] and ds.target_name == "DriversKilled"
    assert "'DriversKilled' chosen as the target: the first column of values" in ds.describe()
    assert describe_file(p).default_target == "DriversKilled"
    # the 0/1 dummy chosen by hand: it is 0 through the whole training part, and the person is told
    ds = load_dataset(p, columns=["law"])
    assert "warning: the target 'law' is constant (0) in the training part" in ds.describe()


def test_a_dummy_and_a_constant_column_are_skipped_and_named(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("flag,level,sales\n" + "".join(f"{k % 2},7,{k * 3 % 11}\n" for k in range(30)))
    seq = load_sequence(p)
    assert seq.columns == ["sales"]
    assert seq.notes == ["'sales' chosen as the target: the first column of values ('flag' is a 0/1 dummy; "
                         "'level' is constant in the training part)"]


def test_prices_default_to_close(tmp_path):
    p = tmp_path / "msft.csv"
    rng = np.random.default_rng(1)
    o = 30 + np.cumsum(rng.normal(0, 0.5, 300))
    d0 = np.datetime64("2010-01-04")
    p.write_text("Date,Open,High,Low,Close,Volume\n" + "".join(
        f"{d0 + k},{o[k]:.2f},{o[k] + 1:.2f},{o[k] - 1:.2f},{o[k] + 0.3:.2f},{30_000_000 + k}\n" for k in range(300)))
    ds = load_dataset(p)
    assert ds.target_name == "Close" and ds.series[:2, 0].tolist() == [round(o[0] + 0.3, 2), round(o[1] + 0.3, 2)]
    assert "the Close of a table of Open, High, Low and Close prices" in ds.describe()


def test_a_numeric_column_named_for_the_time_is_never_the_default(tmp_path):
    p = tmp_path / "umsatz.csv"
    p.write_text("Monat;Umsatz\n" + "".join(f"{m:02d}.2020;{1000 + m * 7}\n" for m in range(1, 13)))
    assert load_sequence(p).columns == ["Umsatz"]


def _stocks(path, n=100, symbols=("MSFT", "AMZN", "IBM", "GOOG", "AAPL")):
    """A long table: five stocks one after the other, each at its own level (k × 1000 + …)."""
    rng = np.random.default_rng(4)
    d0 = np.datetime64("2020-01-01")
    rows = [f"{s},{d0 + i},{1000 * (k + 1) + i * 0.5 + rng.normal():.2f}"
            for k, s in enumerate(symbols) for i in range(n)]
    path.write_text("symbol,date,price\n" + "\n".join(rows) + "\n")


def _level(values):
    return np.round(np.asarray(values) / 1000).astype(int)


def test_a_long_table_is_one_series_per_key_and_no_window_crosses_one(tmp_path):
    p = tmp_path / "stocks.csv"
    _stocks(p)
    ds = load_dataset(p, seq_len=10)
    assert ds.keys == ["MSFT", "AMZN", "IBM", "GOOG", "AAPL"] and ds.key_column == "symbol"
    assert ds.segments.tolist() == [0, 100, 200, 300, 400, 500]
    assert "5 series by symbol" in ds.describe()
    # each stock split in time: its first 80 rows train, its last 20 are validation targets
    assert ds.n_train == 5 * (80 - 10) and ds.n_val == 5 * 20
    assert ds.target_rows()[:3].tolist() == [80, 81, 82] and ds.target_rows()[20] == 180
    norm = ds.normalizer
    for x, y in ((ds.x_train, ds.y_train), (ds.x_val, ds.y_val)):
        window_levels = _level(norm.inverse(x[:, :, 0], column=0))          # (windows, L): the stock of each value
        target_levels = _level(norm.inverse(y[:, 0], column=0))
        assert np.all(window_levels == target_levels[:, None]), "a window holds values of two stocks"
    assert sorted(set(_level(norm.inverse(ds.y_val[:, 0], column=0)).tolist())) == [1, 2, 3, 4, 5]
    # the normaliser is fitted on every stock's training part and nothing else
    train = np.concatenate([ds.series[a:a + 80, 0] for a in range(0, 500, 100)])
    np.testing.assert_allclose(norm.offset[0], train.mean(), rtol=1e-12)
    # turned off: one series whose windows run from one stock into the next
    one = load_dataset(p, seq_len=10, key="none")
    assert one.segments is None and "series by" not in one.describe()
    crossing = _level(one.normalizer.inverse(one.x_train[:, :, 0], column=0))
    assert np.any(crossing.min(axis=1) != crossing.max(axis=1))


def test_a_long_table_grouped_by_key_keeps_each_series_time(tmp_path):
    p = tmp_path / "generation.csv"
    lines = ["year,source,net_generation"]
    for y in range(2001, 2021):                         # interleaved: every year lists the three sources
        for k, s in enumerate(("coal", "gas", "wind")):
            lines.append(f"{y},{s},{1000 * (k + 1) + y - 2000}")
    p.write_text("\n".join(lines) + "\n")
    seq = load_sequence(p)
    assert seq.keys == ["coal", "gas", "wind"] and seq.columns == ["net_generation"]
    assert seq.column_kinds == ["date", "text", "numeric"]
    assert seq.values[:3, 0].tolist() == [1001, 1002, 1003] and seq.values[20, 0] == 2001
    assert seq.time[:2].tolist() == [2001, 2002] and seq.time[20] == 2001
    # the key chosen by hand, and a key that cannot be one
    assert load_sequence(p, key="source").segments.tolist() == [0, 20, 40, 60]
    from explorer.data import SequenceFileError
    with pytest.raises(SequenceFileError, match="'year' of generation.csv is the time or the row number"):
        load_sequence(p, key="year")


def test_cli_says_the_series_and_takes_key(tmp_path, capsys):
    from explorer.cli import main

    p = tmp_path / "stocks.csv"
    _stocks(p, n=60)
    assert main(["train", str(p), "--epochs", "1", "--units", "3", "--out", str(tmp_path / "r"), "--no-plots"]) == 0
    first = capsys.readouterr().err.splitlines()[0]
    assert first.startswith("stocks.csv (5 series by symbol): ")
    import json
    assert json.loads((tmp_path / "r" / "config.json").read_text())["data"]["key"] == "symbol"
    assert main(["train", str(p), "--key", "none", "--epochs", "1", "--units", "3", "--out", str(tmp_path / "s"),
                 "--no-plots"]) == 0
    assert "series by" not in capsys.readouterr().err.splitlines()[0]
    assert main(["train", str(p), "--key", "0", "--epochs", "1", "--units", "3", "--out", str(tmp_path / "k"),
                 "--no-plots"]) == 0                            # by its place in the file, as --column
    assert capsys.readouterr().err.startswith("stocks.csv (5 series by symbol): ")
    assert main(["train", str(p), "--key", "date", "--out", str(tmp_path / "d")]) == 2
    assert capsys.readouterr().err.strip() == ("lstm-explorer: Column 'date' of stocks.csv is the time or the row "
                                               "number, not the name of a series; choose a column of names as the "
                                               "key, or none.")
    from explorer.runs.store import Run
    run = Run.load(tmp_path / "r")                     # rebuilt from its config: the same five series
    assert run.dataset.keys == ["MSFT", "AMZN", "IBM", "GOOG", "AAPL"]
    p_rows = run.predictions(forecast=30)
    assert p_rows["t"][:2].tolist() == [48, 49] and p_rows["t_forecast"].tolist() == list(range(48, 60))


def _sunspot_grid(path, years=30, with_years=False):
    """Sunspot numbers month by month, 12 a line, no header (a year first when ``with_years``)."""
    rng = np.random.default_rng(2)
    n = 12 * years
    v = np.abs(80 + 70 * np.sin(2 * np.pi * np.arange(n) / 132) + rng.normal(0, 10, n)).round(1)
    lines = [(f"{1749 + r} " if with_years else "") + " ".join(f"{x:6.1f}" for x in v[12 * r:12 * r + 12])
             for r in range(years)]
    path.write_text("\n".join(lines) + "\n")
    return v


def test_a_grid_of_twelve_numbers_a_line_is_one_monthly_series(tmp_path):
    p = tmp_path / "sunspots.txt"
    v = _sunspot_grid(p)
    seq = load_sequence(p)
    assert seq.columns == ["sunspots"] and seq.values[:, 0].tolist() == v.tolist()      # row by row
    assert seq.year_month == "series"
    ds = load_dataset(p)
    assert "a grid of 12 numbers a line read row by row as one series" in ds.describe()
    assert "year × month" not in ds.describe()
    # the columns kept, by choice: 30 rows of 12, the first column of values predicted
    kept = load_sequence(p, year_month="columns")
    assert kept.values[:, 0].tolist() == v[::12].tolist()
    # a year in front: the time axis, written as months
    p2 = tmp_path / "sunspots_years.txt"
    _sunspot_grid(p2, with_years=True)
    ds = load_dataset(p2)
    assert ds.series[:, 0].tolist() == v.tolist() and ds.time_values[13] == pytest.approx(1750 + 1 / 12)
    assert ds.time_text([0, 13]) == ["1749-01", "1750-02"]


def test_quarters_are_a_grid_but_four_measurements_are_a_table(tmp_path):
    p = tmp_path / "gdp.txt"
    q = (100 + np.arange(80) * 2 + 5 * np.sin(np.arange(80) * np.pi / 2)).round(1)
    p.write_text("\n".join(" ".join(str(x) for x in q[4 * r:4 * r + 4]) for r in range(20)) + "\n")
    seq = load_sequence(p)
    assert seq.values[:, 0].tolist() == q.tolist()
    assert seq.notes == ["a grid of 4 numbers a line read row by row as one series"]
    t = np.arange(60)
    sensors = np.column_stack([10 + 0.1 * t, 200 + 0.2 * t, 3000 + t, 5 + 0.01 * t]).round(2)
    p = tmp_path / "sensors.txt"
    p.write_text("\n".join(" ".join(str(x) for x in row) for row in sensors) + "\n")
    seq = load_sequence(p)
    assert seq.year_month is None and seq.columns == ["column 1"] and seq.values[:, 0].tolist() == sensors[:, 0].tolist()


@pytest.mark.parametrize("stamps, iso", [
    (["Jan 1949", "Feb 1949", "Mar 1949"], ["1949-01-01", "1949-02-01", "1949-03-01"]),          # zoo's yearmon
    (["1959 Q1", "1959 Q2", "1959 Q3"], ["1959-01-01", "1959-04-01", "1959-07-01"]),             # zoo's yearqtr
    (["1959Q4", "1960Q1", "1960Q2"], ["1959-10-01", "1960-01-01", "1960-04-01"]),                # pandas' periods
    (["30-Dec-2019", "31-Dec-2019", "02-Jan-2020"], ["2019-12-30", "2019-12-31", "2020-01-02"]),  # Yahoo's, Excel's
    (["Jan 1, 2020", "Jan 2, 2020", "Feb 29, 2020"], ["2020-01-01", "2020-01-02", "2020-02-29"]),
])
def test_dates_in_common_forms_are_the_time_axis(tmp_path, stamps, iso):
    p = tmp_path / "dated.csv"
    rows = [f'"{s}",{k * 1.5}' for k, s in enumerate(stamps * 10)]
    p.write_text("when,value\n" + "\n".join(rows[:3]) + "\n")
    seq = load_sequence(p)
    assert seq.column_kinds == ["date", "numeric"] and seq.columns == ["value"] and seq.time_label == "date"
    ds_text = [str(t) for t in np.round(seq.time).astype(np.int64).astype("datetime64[s]").astype("datetime64[D]")]
    assert ds_text == iso


def test_decimal_years_written_with_rs_full_precision_come_back_as_written(tmp_path):
    p = tmp_path / "co2.csv"
    p.write_text('"","time","value"\n' + "".join(f'"{k + 1}",{1959 + k / 12:.15g},{315 + k / 10:.2f}\n'
                                                 for k in range(48)))
    ds = load_dataset(p)
    assert ds.columns == ["value"] and ds.time_label == "year"
    assert ds.time_text([0, 1, 12]) == ["1959", "1959.08333333333", "1960"]


def test_a_target_given_alone_is_the_one_input(tmp_path):
    p = tmp_path / "Seatbelts.csv"
    _seatbelts(p)
    assert load_sequence(p, target="front").columns == ["front"]
    seq = load_sequence(p, target=5)                          # by its place in the file: 0 is the row names
    assert seq.columns == ["rear"] and seq.target_index == 0


def test_a_label_beside_rising_dates_is_no_key(tmp_path):
    p = tmp_path / "weather.csv"
    d0 = np.datetime64("2023-01-01")
    season = lambda d: ("winter", "spring", "summer", "autumn")[(int(str(d)[5:7]) % 12) // 3]  # noqa: E731
    days = [d0 + k for k in range(365)]
    p.write_text("date,season,weekday,temp\n" + "".join(
        f"{d},{season(d)},{('Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun')[k % 7]},{10 + 8 * np.sin(k / 58):.1f}\n"
        for k, d in enumerate(days)))
    seq = load_sequence(p)
    assert seq.segments is None and seq.columns == ["temp"] and seq.values.shape == (365, 1)
    # chosen by hand, the seasons are series all the same
    assert load_sequence(p, key="season").keys == ["winter", "spring", "summer", "autumn"]
    # without a time column, labels that interleave are no key; blocks are
    q = tmp_path / "labels.csv"
    q.write_text("label,v\n" + "".join(f"{'ab'[k % 2]},{k}\n" for k in range(30)))
    assert load_sequence(q).segments is None
    q.write_text("label,v\n" + "".join(f"{'ab'[k // 15]},{k}\n" for k in range(30)))
    assert load_sequence(q).segments.tolist() == [0, 15, 30]


def test_row_names_of_a_subset_are_an_index_too(tmp_path):
    p = tmp_path / "subset.csv"
    rows = [3, 7, 12, 13, 20, 41]
    p.write_text('"","x","y"\n' + "".join(f'"{r}",{r * 0.5 + 2:.1f},{(r * 7) % 5}\n' for r in rows))
    seq = load_sequence(p)
    assert seq.column_kinds == ["index", "numeric", "numeric"] and seq.columns == ["x"]
    # a column of values that happens to rise is not an index unless its name says so
    q = tmp_path / "counts.csv"
    q.write_text("total,other\n" + "".join(f"{r},{r % 3}\n" for r in rows))
    assert load_sequence(q).column_kinds == ["numeric", "numeric"]


def test_timestamps_and_us_clock_times_are_the_time_axis(tmp_path):
    p = tmp_path / "sensor.csv"
    t0 = 1_700_000_000                                        # 2023-11-14T22:13:20Z
    p.write_text("timestamp,reading\n" + "".join(f"{t0 + 60 * k},{k % 9}\n" for k in range(50)))
    ds = load_dataset(p)
    assert ds.columns == ["reading"] and ds.time_label == "date"
    assert ds.time_text([0, 1]) == ["2023-11-14T22:13:20", "2023-11-14T22:14:20"]
    p.write_text("time_ms,reading\n" + "".join(f"{(t0 + 60 * k) * 1000},{k % 9}\n" for k in range(50)))
    seq = load_sequence(p)
    assert seq.time_label == "" and seq.columns == ["time_ms"]   # a name that is not a time word: values
    p.write_text("time,reading\n" + "".join(f"{(t0 + 60 * k) * 1000},{k % 9}\n" for k in range(50)))
    assert load_dataset(p).time_text([1]) == ["2023-11-14T22:14:20"]
    q = tmp_path / "us.csv"
    q.write_text("When,Load\n" + "".join(f"1/3/2024 {h % 12 or 12}:00 {'AM' if h < 12 else 'PM'},{h}\n"
                                         for h in range(24)))
    ds = load_dataset(q, seq_len=3)
    assert ds.time_text([0, 13, 23]) == ["2024-01-03T00:00:00", "2024-01-03T13:00:00", "2024-01-03T23:00:00"]


def test_a_key_with_a_missing_name_is_refused_in_one_sentence(tmp_path):
    from explorer.data import SequenceFileError

    p = tmp_path / "stocks.csv"
    _stocks(p, n=20)
    lines = p.read_text().splitlines()
    lines[5] = "NA" + lines[5][lines[5].index(","):]
    p.write_text("\n".join(lines) + "\n")
    assert load_sequence(p).segments is None                 # guessed: not a clean key, one series
    with pytest.raises(SequenceFileError, match=r"^Column 'symbol' of stocks.csv has rows without a name, so it "
                                                r"cannot name the series; fill them in, or choose another key column "
                                                r"or none\.$"):
        load_sequence(p, key="symbol")


def test_of_two_labels_the_countries_are_the_series_not_the_continents(tmp_path):
    p = tmp_path / "gapminder.csv"
    places = [("Algeria", "Africa"), ("Angola", "Africa"), ("Brazil", "Americas"), ("Chile", "Americas"),
              ("China", "Asia"), ("Japan", "Asia")]
    lines = ["continent,country,year,lifeExp"]
    for k, (country, continent) in enumerate(places):
        lines += [f"{continent},{country},{y},{40 + k + (y - 1952) / 5:.1f}" for y in range(1952, 2008, 5)]
    p.write_text("\n".join(lines) + "\n")
    seq = load_sequence(p)
    assert seq.key_column == "country" and seq.keys == [c for c, _ in places]
    assert seq.time[:2].tolist() == [1952, 1957] and seq.columns == ["lifeExp"]


def test_a_table_newest_first_is_read_oldest_first(tmp_path):
    p = tmp_path / "quotes.csv"
    d0 = np.datetime64("2024-01-01")
    p.write_text("Date,Close\n" + "".join(f"{d0 + k},{100 + k}\n" for k in range(29, -1, -1)))    # newest first
    seq = load_sequence(p)
    assert seq.values[:3, 0].tolist() == [100, 101, 102] and np.all(np.diff(seq.time) > 0)
    assert "rows in reverse time order (newest first) read oldest first" in seq.notes
    # several series, each newest first
    q = tmp_path / "long.csv"
    q.write_text("symbol,date,price\n" + "".join(f"{s},{d0 + k},{1000 * (j + 1) + k}\n"
                                                 for j, s in enumerate("AB") for k in range(19, -1, -1)))
    seq = load_sequence(q)
    assert seq.keys == ["A", "B"] and seq.values[[0, 19, 20], 0].tolist() == [1000, 1019, 2000]
