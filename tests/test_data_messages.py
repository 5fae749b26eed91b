"""Issue 10's data messages: one sentence saying what is wrong and what to do, file names escaped,
values near the float limits refused by column and value, memory estimated before allocating."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from explorer.app.ingest import load_dataset
from explorer.data import (MAX_ABS_VALUE, Normalizer, SequenceFileError, describe_file, load_sequence, load_text,
                           make_windows, safe_name)
from explorer.util.ram import MemoryBudgetError


def one_sentence(msg: str) -> None:
    assert msg.endswith(".") and "\n" not in msg and "Traceback" not in msg, msg


def test_safe_name_escapes_control_characters_and_undecodable_bytes():
    assert safe_name("/data/a\x1b[2Jb.csv") == "a\\x1b[2Jb.csv"
    assert safe_name("line\nbreak\t.csv") == "line\\nbreak\\t.csv"
    assert safe_name("bell\x07\x7f\x85.csv") == "bell\\x07\\x7f\\x85.csv"
    assert safe_name("rtl\u202eevil.csv") == "rtl\\u202eevil.csv"
    assert safe_name(os.fsdecode(b"caf\xe9.csv")) == "caf\\xe9.csv"
    assert safe_name("données été ☀.csv") == "données été ☀.csv"
    assert safe_name("/a/b/", full=True) == "/a/b/" and safe_name("/a/b/") == "b"


def test_control_characters_in_file_names_are_never_printed_raw(tmp_path):
    evil = "x\x1b]0;pwned\x07\x1b[2J.csv"
    p = tmp_path / evil
    p.write_text("v\nabc\ndef\n")
    with pytest.raises(SequenceFileError) as ei:
        load_sequence(p)
    msg = str(ei.value)
    assert "\x1b" not in msg and "\x07" not in msg
    assert "x\\x1b]0;pwned\\x07\\x1b[2J.csv" in msg
    with pytest.raises(SequenceFileError) as ei:
        load_sequence(tmp_path / "gone\x1b[31m.csv")
    assert str(ei.value) == "The file gone\\x1b[31m.csv was not found; check the path and try again."
    # the command line prints the same escaped sentence
    r = subprocess.run([sys.executable, "-m", "explorer", "train", str(p), "--out", str(tmp_path / "o"), "--quiet"],
                       capture_output=True, text=True, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert r.returncode == 2 and "\x1b" not in r.stderr and "pwned\\x07" in r.stderr


def test_npy_of_python_objects_says_so(tmp_path):
    p = tmp_path / "objects.npy"
    np.save(p, np.array([1, "a", None], dtype=object), allow_pickle=True)
    with pytest.raises(SequenceFileError) as ei:
        load_sequence(p)
    assert str(ei.value) == ("The file objects.npy holds Python objects (dtype object), which are never loaded "
                             "because loading them could run code; save a plain numeric array (for example "
                             "arr.astype(float)).")
    assert "re-save" not in str(ei.value)


def test_symlink_loop_and_dangling_link(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(SequenceFileError) as ei:
        load_dataset(a)
    assert str(ei.value) == ("The file a.csv is a symbolic link that leads back to itself (a loop); point the link "
                             "at a real file.")
    d = tmp_path / "dangling.csv"
    d.symlink_to(tmp_path / "nowhere.csv")
    with pytest.raises(SequenceFileError, match="symbolic link to something that does not exist"):
        load_text(d)


@pytest.mark.parametrize("hint", ["sep=;", '"sep=;"', "SEP=;", "sep=\t"])
def test_excel_sep_hint_is_honoured(tmp_path, hint):
    d = hint[-1] if hint[-1] != '"' else ";"
    p = tmp_path / "excel.csv"
    p.write_text(f"{hint}\na{d}b\n" + "".join(f"{k}{d}{k * 2}\n" for k in range(5)))
    seq = load_sequence(p, columns=["a", "b"])
    assert seq.values.tolist() == [[k, 2 * k] for k in range(5)]
    assert seq.all_columns == ["a", "b"]
    # a comma hint in a file whose values hold semicolons: the hint wins
    p.write_text("sep=,\nx,y\n1;5,2\n")
    with pytest.raises(SequenceFileError, match="'x' of excel.csv is not numeric: line 3"):
        load_sequence(p, columns="x")


def test_one_line_prose_txt(tmp_path):
    p = tmp_path / "line.txt"
    p.write_text("The quick brown fox jumps over the lazy dog, again and again, until the dog wakes up and "
                 "chases it across the whole field and back.\n")
    ds = load_dataset(p)                                    # prose: next-character prediction, length chosen
    assert ds.kind == "text" and ds.seq_len_chosen and ds.seq_len < 25
    assert ds.notes and "chosen to fit" in ds.notes[0]
    p.write_text("Hi there.\n")
    with pytest.raises(SequenceFileError) as ei:
        load_dataset(p)
    assert str(ei.value) == ("line.txt has only 10 characters, too few to learn from: even a window of 1 with "
                             "validation fraction 0.1 needs 15; add more text or use less validation.")
    with pytest.raises(SequenceFileError, match="holds one line of text, not numbers; open it in text mode"):
        load_sequence(p)


@pytest.mark.parametrize("value", ["1e308", "-1.7e308", "1e200", "3e150"])
def test_values_near_the_float_limits_are_refused_by_column_and_value(tmp_path, value):
    p = tmp_path / "huge.csv"
    p.write_text("t,power\n" + "".join(f"{k},{k}.5\n" for k in range(40)) + f"40,{value}\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(SequenceFileError) as ei:
            load_dataset(p)
    msg = str(ei.value)
    assert msg.startswith(f"Column 'power' of huge.csv holds {float(value):.6g} on line 42, beyond ±1e+150")
    assert "learning rate" not in msg
    one_sentence(msg)


def test_npy_near_the_float_limit_names_the_row(tmp_path):
    p = tmp_path / "big.npy"
    a = np.ones((30, 2))
    a[7, 1] = 1e300
    np.save(p, a)
    with pytest.raises(SequenceFileError) as ei:
        load_sequence(p, columns=[0, 1])
    assert str(ei.value).startswith("Column 'column 2' of big.npy holds 1e+300 on row 8")


def test_large_but_allowed_values_normalise_and_train_without_overflow(tmp_path):
    p = tmp_path / "large.csv"
    rng = np.random.default_rng(0)
    p.write_text("v\n" + "".join(f"{x:.6e}\n" for x in 1e149 * rng.standard_normal(200)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")                     # no RuntimeWarning: overflow
        ds = load_dataset(p)
        assert np.isfinite(ds.normalized).all() and abs(ds.normalized[: ds.split_index].std() - 1) < 1e-12
        assert np.isfinite(ds.target_scale ** 2)
        from explorer.runs.store import ModelSettings, Run
        run = Run(ds, ModelSettings(epochs=1, units=4))
        for _ in run.trainer.steps():
            pass
    assert np.isfinite(run.trainer.history[0]["train_loss"])


@settings(max_examples=60, deadline=None)
@given(scale=st.floats(1e-300, MAX_ABS_VALUE), values=st.lists(st.floats(-1, 1), min_size=2, max_size=40))
def test_normalizer_fit_never_overflows(scale, values):
    v = np.asarray(values)[:, None] * scale
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        n = Normalizer.fit(v, "zscore")
        z = n.transform(v)
    assert np.isfinite(n.offset).all() and np.isfinite(n.scale).all() and np.isfinite(z).all()
    assert np.allclose(n.inverse(z), v, rtol=1e-9, atol=1e-12 * scale)


def test_memory_budget_refuses_before_parsing(tmp_path, monkeypatch):
    p = tmp_path / "digits.txt"
    p.write_bytes(b"0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n" * 50_000)   # 1 MB of one-digit lines
    monkeypatch.setenv("LSTM_EXPLORER_MEMORY_LIMIT", "5M")
    with pytest.raises(MemoryBudgetError) as ei:
        load_dataset(p)
    msg = str(ei.value)
    assert msg.startswith("Loading digits.txt (500,001 rows) needs about ")
    assert msg.endswith("more than the 5.0 MiB this machine allows; use a shorter excerpt of the file or fewer "
                        "columns.")
    assert isinstance(ei.value, SequenceFileError) or isinstance(ei.value, ValueError)
    monkeypatch.setenv("LSTM_EXPLORER_MEMORY_LIMIT", "200M")
    assert load_dataset(p).series.shape == (500_000, 1)


def test_memory_budget_for_prose_in_word_mode(tmp_path, monkeypatch):
    p = tmp_path / "prose.txt"
    p.write_text("the cat sat on the mat and looked at the dog. " * 20000)   # ~0.9 MB
    monkeypatch.setenv("LSTM_EXPLORER_MEMORY_LIMIT", "10M")
    with pytest.raises(MemoryBudgetError) as ei:
        load_dataset(p, text=True, level="word")
    assert str(ei.value).startswith("Reading prose.txt as text (0.9 MB, word level) needs about ")
    assert str(ei.value).endswith("use a shorter excerpt of the text or character level.")


def test_estimate_is_close_to_what_loading_allocates(tmp_path):
    """The estimate counts what load_sequence allocates: within 20 % of the traced peak."""
    import tracemalloc

    from explorer.data import loading

    p = tmp_path / "three.csv"
    rng = np.random.default_rng(1)
    p.write_text("a,b,c\n" + "".join(f"{x:.4f},{y:.4f},{z:.4f}\n" for x, y, z in rng.normal(size=(50_000, 3))))
    data = p.read_bytes()
    estimate = 2 * len(data) + loading._table_bytes(50_001, 3, 1)
    tracemalloc.start()
    seq = load_sequence(p)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert seq.values.shape == (50_000, 1)
    assert 0.8 * peak <= estimate <= 1.2 * peak, (estimate, peak)


def test_unknown_option_and_bad_values(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("v\n" + "".join(f"{k}\n" for k in range(50)))
    with pytest.raises(SequenceFileError) as ei:
        load_dataset(p, seqlen=5)
    assert str(ei.value).startswith("There is no data option 'seqlen'; the options are columns, target,")
    with pytest.raises(SequenceFileError, match="at least 1, not 0"):
        load_dataset(p, seq_len=0)
    with pytest.raises(SequenceFileError, match="between 0 and 0.9"):
        load_dataset(p, val_fraction=float("nan"))


def test_describe_file_lists_columns_without_training(tmp_path):
    p = tmp_path / "multi.csv"
    p.write_text("date,a,b,label,empty\n" + "".join(f"2024-01-{k + 1:02d},{k},{k * k},x{k},\n" for k in range(20)))
    info = describe_file(p)
    assert info.columns == ["date", "a", "b", "label", "empty"]
    assert info.column_kinds == ["date", "numeric", "numeric", "text", "empty"]
    assert info.numeric_columns == ["a", "b"] and info.date_columns == ["date"]
    assert info.default_columns == ["a"] and info.n_rows == 20 and info.delimiter == "," and info.header
    t = tmp_path / "story.txt"
    t.write_text("Once upon a time there was a cell.\nIt remembered things.\n" * 3)
    assert describe_file(t).kind == "text"


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_safe_name_never_lets_a_control_character_through(name):
    import unicodedata

    out = safe_name(name, full=True)
    assert all(unicodedata.category(c)[0] != "C" for c in out)
    out.encode("utf-8")                                    # printable on any UTF-8 terminal
    if all(unicodedata.category(c)[0] != "C" for c in name):
        assert out == name
