"""One loader for window and command line; windows are views, not copies."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_corpus import CORPUS
from explorer.app.ingest import DEFAULT_OPTIONS, load_dataset
from explorer.cli import main
from explorer.data import SequenceData, dataset_from_config, load_sequence, make_windows
from explorer.data.dataset import choose_seq_len
from explorer.runs.store import Run


def test_the_command_line_trains_on_what_load_dataset_gives(tmp_path, capsys):
    """Same defaults in both: the CLI's run has the window loader's windows, bit for bit."""
    path = CORPUS["nile"](tmp_path)
    out = tmp_path / "run"
    assert main(["train", str(path), "--epochs", "1", "--units", "4", "--out", str(out), "--no-plots"]) == 0
    err = capsys.readouterr().err
    assert "sequence length 19 chosen to fit the 100 rows (the default 20 needs 103)" in err
    cfg = json.loads((out / "config.json").read_text())["data"]
    assert cfg["seq_len"] == 19 and cfg["val_fraction"] == 0.2 and cfg["seq_len_chosen"] is True
    ds = load_dataset(path)
    rebuilt = Run.load(out).dataset
    for name in ("x_train", "y_train", "x_val", "y_val"):
        np.testing.assert_array_equal(getattr(rebuilt, name), getattr(ds, name))
    assert rebuilt.seq_len_chosen and rebuilt.time_values[0] == 1871


def test_text_defaults_are_the_same_in_window_and_command_line(tmp_path, capsys):
    text = tmp_path / "story.txt"
    text.write_text("The cat sat on the mat. The dog sat on the log. " * 20)
    ds = load_dataset(text)                     # the window: decided by the file
    assert ds.kind == "text" and ds.seq_len == 25 and ds.config["val_fraction"] == 0.1
    out = tmp_path / "o"
    assert main(["train", str(text), "--epochs", "1", "--units", "4", "--out", str(out), "--no-plots",
                 "--quiet"]) == 0
    cfg = json.loads((out / "config.json").read_text())["data"]
    assert (cfg["type"], cfg["seq_len"], cfg["val_fraction"]) == ("text", 25, 0.1)


def test_prose_rule_is_the_loaders_own(tmp_path):
    """A .txt with 90 % numeric lines is numbers, 80 % is prose — whatever the number grammar
    (decimal commas, dates and missing markers count as numbers, as in load_sequence)."""
    nums = [f"{k},5" for k in range(18)]
    p = tmp_path / "mixed.txt"
    p.write_text("\n".join(nums + ["hello,there", "NA,1"]) + "\n")        # 19 of 20 numeric lines (95 %)
    with pytest.raises(ValueError, match="'column 2' of mixed.txt is not numeric: line 19 holds 'there'"):
        load_dataset(p)                                                     # numbers, with one bad line
    p.write_text("\n".join(nums[:16] + ["hello there", "so long", "good bye", "NA"]) + "\n")   # 17/20 = 85 %
    assert load_dataset(p, seq_len=3).kind == "text"
    p.write_text("2024-01-01;3,5\n" * 30)                                  # dates and decimal commas: numbers
    assert load_dataset(p).kind == "series"


def test_load_dataset_options_are_documented_defaults():
    assert DEFAULT_OPTIONS == {"columns": None, "target": None, "missing": "interpolate", "normalize": "zscore",
                               "val_fraction": None, "seq_len": None, "level": "char", "text": None,
                               "year_month": "series", "key": None, "vocab": 10000}


def test_series_windows_are_views_into_the_normalised_series(tmp_path):
    path = CORPUS["weather"](tmp_path)
    ds = load_dataset(path, columns=["p (mbar)", "T (degC)", "rh (%)"], target="T (degC)")
    for a in (ds.x_train, ds.x_val, ds.y_train, ds.y_val):
        assert np.shares_memory(a, ds.normalized)
    assert ds.x_train.base is not None and not ds.x_train.flags.writeable
    # the view shows exactly the rows it stands for: window s = normalised rows s..s+L-1
    L = ds.seq_len
    np.testing.assert_array_equal(ds.x_train[7], ds.normalized[7:7 + L])
    np.testing.assert_array_equal(ds.y_train[7, 0], ds.normalized[7 + L, 1])
    np.testing.assert_array_equal(ds.x_val[0], ds.normalized[ds.split_index - L:ds.split_index])
    # no copies: windows take no memory of their own
    assert ds.normalized.nbytes == ds.series.nbytes


def test_a_million_rows_cost_two_series_not_T_copies(tmp_path):
    seq = SequenceData(values=np.random.default_rng(0).standard_normal((1_000_000, 1)), columns=["v"])
    ds = make_windows(seq)
    assert ds.x_train.shape == (800_000 - 20, 20, 1)
    assert np.shares_memory(ds.x_train, ds.normalized) and np.shares_memory(ds.x_val, ds.normalized)
    assert ds.series is seq.values          # the loaded values are not copied either


@settings(max_examples=80, deadline=None)
@given(n=st.integers(1, 400), f=st.sampled_from([0.0, 0.1, 0.2, 0.3, 0.5]), default=st.integers(1, 40))
def test_chosen_sequence_length_is_the_longest_that_fits(n, f, default):
    seq = SequenceData(values=np.arange(n, dtype=float)[:, None], columns=["v"], path="s.csv")
    L = choose_seq_len(n, f, default)
    if L is None:
        assert choose_seq_len(n, f, 1) is None
        return
    assert 1 <= L <= default
    ds = make_windows(seq, seq_len=L, val_fraction=f)      # it fits
    assert ds.n_train >= 1 and (f == 0 or ds.n_val >= 1)
    if L < default:                                          # and one more does not
        with pytest.raises(ValueError):
            make_windows(seq, seq_len=L + 1, val_fraction=f)


def test_config_roundtrip_of_year_month_series(tmp_path):
    path = CORPUS["year_by_month"](tmp_path)
    ds = load_dataset(path)
    ds2 = dataset_from_config(json.loads(json.dumps(ds.to_config())))
    np.testing.assert_array_equal(ds2.series, ds.series)
    np.testing.assert_array_equal(ds2.time_values, ds.time_values)
    assert ds2.year_month == "series" and ds2.columns == ds.columns
    cols = load_dataset(path, year_month="columns", columns=["JAN", "JUL"])
    ds3 = dataset_from_config(json.loads(json.dumps(cols.to_config())))
    assert ds3.columns == ["JAN", "JUL"] and ds3.series.shape == (16, 2)


def test_missing_drop_keeps_the_time_of_the_rows_kept(tmp_path):
    p = tmp_path / "gappy.csv"
    p.write_text("year,v\n" + "".join(f"{1900 + k},{'' if k in (3, 4, 9) else k}\n" for k in range(60)))
    seq = load_sequence(p, missing="drop")
    assert seq.n_rows == 57 and seq.gaps.tolist() == []
    assert 1903 not in seq.time and seq.time[3] == 1905
    seq = load_sequence(p)
    assert seq.gaps.tolist() == [3, 4, 9] and seq.values[3, 0] == 3.0 and seq.time[3] == 1903


def test_words_train_end_to_end_with_token_ids(tmp_path):
    """--words on prose with a large vocabulary: ids, not one-hot; the engine gathers W's columns."""
    import sys
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "benchmarks"))
    from data_scale import write_prose

    p = tmp_path / "prose.txt"
    write_prose(str(p), 60_000)
    ds = load_dataset(p, text=True, level="word")
    assert ds.token_inputs and ds.x_train.dtype == np.int64 and ds.x_train.ndim == 2
    assert ds.n_inputs == ds.n_outputs == len(ds.vocab) > 1500
    assert np.shares_memory(ds.x_train, ds.corpus.ids) and np.shares_memory(ds.y_val, ds.corpus.ids)
    out = tmp_path / "run"
    assert main(["train", str(p), "--words", "--epochs", "1", "--units", "8", "--batch", "64", "--out", str(out),
                 "--no-plots", "--quiet"]) == 0
    run = Run.load(out)
    assert run.model.n_inputs == len(ds.vocab) and len(run.trainer.history) == 1
    assert np.isfinite(run.trainer.history[0]["val_loss"])
