"""Loading numeric sequences and text in every supported format."""

import numpy as np
import pytest

from explorer.data import SequenceFileError, load_sequence, load_text


def write(tmp_path, name, content, mode="w"):
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8", newline="")
    return p


def test_csv_with_header(tmp_path):
    p = write(tmp_path, "a.csv", "t,value\n0,1.5\n1,2.5\n2,3.5\n")
    s = load_sequence(p)
    assert s.values.dtype == np.float64
    assert s.values.shape == (3, 1)
    assert s.values[:, 0].tolist() == [1.5, 2.5, 3.5]
    assert s.columns == ["value"]
    assert s.target_index == 0
    assert s.n_missing == 0
    assert s.path == str(p)


def test_csv_without_header_single_column(tmp_path):
    p = write(tmp_path, "a.csv", "1\n2\n3\n")
    s = load_sequence(p)
    assert s.columns == ["value"]
    assert s.values[:, 0].tolist() == [1, 2, 3]


def test_csv_without_header_multi_column(tmp_path):
    p = write(tmp_path, "a.csv", "1,10\n2,20\n3,30\n")
    s = load_sequence(p)
    assert s.columns == ["column 2"]
    assert s.values[:, 0].tolist() == [10, 20, 30]
    s = load_sequence(p, columns=[0, 1])
    assert s.columns == ["column 1", "column 2"]
    assert s.values.tolist() == [[1, 10], [2, 20], [3, 30]]


def test_tsv(tmp_path):
    p = write(tmp_path, "a.tsv", "a\tb\n1\t2\n3\t4\n")
    s = load_sequence(p, columns=["a", "b"])
    assert s.values.tolist() == [[1, 2], [3, 4]]
    assert s.columns == ["a", "b"]
    assert s.target_index == 1


def test_semicolon(tmp_path):
    p = write(tmp_path, "a.csv", "a;b\n1;2\n3;4\n")
    assert load_sequence(p).values[:, 0].tolist() == [1, 3]          # the first column of values


def test_semicolon_decimal_comma(tmp_path):
    p = write(tmp_path, "a.csv", "a;b\n1,5;2\n3,25;4\n")
    assert load_sequence(p, columns="a").values[:, 0].tolist() == [1.5, 3.25]


def test_whitespace_txt_single(tmp_path):
    p = write(tmp_path, "a.txt", "1.0\n2.0\n\n3.0\n")
    s = load_sequence(p)
    assert s.values[:, 0].tolist() == [1, 2, 3]
    assert s.columns == ["value"]


def test_whitespace_txt_multi(tmp_path):
    p = write(tmp_path, "a.txt", "x  y   z\n1 2 3\n4\t5 6\n")
    s = load_sequence(p, columns=["x", "z"], target="x")
    assert s.values.tolist() == [[1, 3], [4, 6]]
    assert s.target_index == 0


def test_npy_1d_and_2d(tmp_path):
    p1 = tmp_path / "a.npy"
    np.save(p1, np.arange(5, dtype=np.float32))
    s = load_sequence(p1)
    assert s.values.dtype == np.float64 and s.values.shape == (5, 1)
    assert s.columns == ["value"]
    p2 = tmp_path / "b.npy"
    np.save(p2, np.arange(12).reshape(6, 2))
    s = load_sequence(p2)
    assert s.columns == ["column 1"]                                  # the first column of values
    assert s.values[:, 0].tolist() == [0, 2, 4, 6, 8, 10]
    s = load_sequence(p2, columns=[0, 1], target=0)
    assert s.values.shape == (6, 2) and s.target_index == 0


def test_npy_nan_is_missing(tmp_path):
    p = tmp_path / "a.npy"
    np.save(p, np.array([1.0, np.nan, 3.0]))
    s = load_sequence(p)
    assert s.values[:, 0].tolist() == [1, 2, 3]
    assert s.n_missing == 1


def test_bom_and_crlf(tmp_path):
    p = write(tmp_path, "a.csv", b"\xef\xbb\xbft,value\r\n0,1\r\n1,2\r\n")
    s = load_sequence(p)
    assert s.columns == ["value"]
    assert s.values[:, 0].tolist() == [1, 2]
    p = write(tmp_path, "b.csv", b"\xef\xbb\xbf1\r\n2\r\n")
    assert load_sequence(p).values[:, 0].tolist() == [1, 2]


def test_columns_by_name_index_and_target(tmp_path):
    p = write(tmp_path, "a.csv", "a,b,c\n1,2,3\n4,5,6\n")
    assert load_sequence(p, columns="b").values[:, 0].tolist() == [2, 5]
    assert load_sequence(p, columns=0).values[:, 0].tolist() == [1, 4]
    s = load_sequence(p, columns=["c", "a"], target="c")
    assert s.columns == ["c", "a"] and s.target_index == 0
    assert s.values.tolist() == [[3, 1], [6, 4]]
    assert load_sequence(p, columns=["a", "b"], target=-2).target_index == 0


def test_dates_and_times_skipped(tmp_path):
    p = write(tmp_path, "a.csv", "date,value\n2024-01-01,1\n2024-01-02,2\n2024-01-03,3\n")
    s = load_sequence(p)
    assert s.columns == ["value"] and s.values[:, 0].tolist() == [1, 2, 3]
    p = write(tmp_path, "b.csv", "when,x,y\n2024-01-03 10:00,1,5\n2024-01-03 11:00,2,6\n")
    s = load_sequence(p, columns=None)
    assert s.columns == ["x"]                                       # the first column of values
    p = write(tmp_path, "c.csv", "x,time\n1,10:30\n2,10:45\n")
    s = load_sequence(p)
    assert s.columns == ["x"] and s.values[:, 0].tolist() == [1, 2]
    p = write(tmp_path, "d.txt", "2024-01-03 10:00 1.5\n2024-01-03 11:00 2.5\n")
    assert load_sequence(p).values[:, 0].tolist() == [1.5, 2.5]
    p = write(tmp_path, "e.csv", "2024-01-03T10:00:00Z,7\n2024-01-03T11:00:00Z,8\n")
    assert load_sequence(p).values[:, 0].tolist() == [7, 8]


@pytest.mark.parametrize("token", ["", "NA", "N/A", "NaN", "nan", "null"])
def test_missing_interpolate(tmp_path, token):
    # (a blank line in a one-column file is skipped, so use two columns)
    p = write(tmp_path, "a.csv", f"t,v\n0,1\n1,{token}\n2,3\n")
    s = load_sequence(p)
    assert s.values[:, 0].tolist() == [1, 2, 3]
    assert s.n_missing == 1


def test_missing_edges_take_nearest(tmp_path):
    p = write(tmp_path, "a.csv", "v\nNA\n2\nNA\nNA\n8\nNA\n")
    s = load_sequence(p)
    assert s.values[:, 0].tolist() == [2, 2, 4, 6, 8, 8]
    assert s.n_missing == 4


def test_missing_drop(tmp_path):
    p = write(tmp_path, "a.csv", "a,b\n1,10\nNA,20\n3,\n4,40\n")
    s = load_sequence(p, columns=["a", "b"], missing="drop")
    assert s.values.tolist() == [[1, 10], [4, 40]]
    assert s.n_missing == 2
    assert s.n_dropped_rows == 2
    s = load_sequence(p, columns=["a", "b"])
    assert s.values.tolist() == [[1, 10], [2, 20], [3, 30], [4, 40]]


def test_missing_in_slow_path(tmp_path):
    # decimal commas force the Python parser; missing handling must agree
    p = write(tmp_path, "eu.csv", "a;b\n1,0;NA\n2,0;4,0\nNA;6,0\n4,0;\n")
    s = load_sequence(p, columns=["a", "b"])
    assert s.values.tolist() == [[1, 4], [2, 4], [3, 6], [4, 6]]
    assert s.n_missing == 3


def test_missing_in_unchosen_column_ignored(tmp_path):
    p = write(tmp_path, "a.csv", "a,b\nNA,1\n2,2\n")
    s = load_sequence(p, columns="b")
    assert s.n_missing == 0 and s.values[:, 0].tolist() == [1, 2]


def test_quoted_fields(tmp_path):
    p = write(tmp_path, "a.csv", '"name","v"\n"Smith, J",1\n"Doe, A",2\n')
    assert load_sequence(p).values[:, 0].tolist() == [1, 2]


def test_comments_and_blank_lines(tmp_path):
    p = write(tmp_path, "a.csv", "# a comment\nv\n1\n\n2\n# more\n3\n")
    assert load_sequence(p).values[:, 0].tolist() == [1, 2, 3]


def test_mostly_numeric_txt_with_one_odd_line_errors_on_that_line(tmp_path):
    lines = [str(i) for i in range(20)]
    lines[12] = "oops"
    p = write(tmp_path, "a.txt", "\n".join(lines) + "\n")
    with pytest.raises(SequenceFileError, match="line 13"):
        load_sequence(p)


def test_large_csv_fast(tmp_path):
    import time

    n = 200_000
    p = tmp_path / "big.csv"
    p.write_text("value\n" + "\n".join(f"{i * 0.5:.3f}" for i in range(n)) + "\n")
    t0 = time.perf_counter()
    s = load_sequence(p)
    assert time.perf_counter() - t0 < 1.0
    assert s.values.shape == (n, 1)


# ---------------------------------------------------------------- text


def test_load_text_char(tmp_path):
    p = write(tmp_path, "t.txt", "hello world")
    c = load_text(p)
    assert c.level == "char"
    assert c.tokens == list("hello world")
    assert c.vocab == sorted(set("hello world"))
    assert c.ids.dtype == np.int64 and len(c.ids) == 11
    assert c.decode(c.ids) == "hello world"
    assert c.encode("hello").tolist() == c.ids[:5].tolist()
    oh = c.one_hot(c.ids[:4])
    assert oh.shape == (4, len(c.vocab)) and oh.dtype == np.float64
    assert (oh.sum(axis=-1) == 1).all()
    assert c.one_hot(np.zeros((2, 3), dtype=np.int64)).shape == (2, 3, len(c.vocab))


def test_load_text_word(tmp_path):
    p = write(tmp_path, "t.txt", "The cat sat on the mat. The end!")
    c = load_text(p, level="word")
    assert c.tokens == ["The", "cat", "sat", "on", "the", "mat", ".", "The", "end", "!"]
    assert c.decode(c.encode("The cat sat")) == "The cat sat"


def test_load_text_bom_crlf(tmp_path):
    p = write(tmp_path, "t.txt", b"\xef\xbb\xbfab\r\ncd\r\n")
    c = load_text(p)
    assert "".join(c.tokens) == "ab\ncd\n"


def test_prose_refused_by_load_sequence(tmp_path):
    p = write(tmp_path, "story.txt", "Once upon a time\nthere was a cat.\nIt sat on a mat.\n")
    with pytest.raises(SequenceFileError, match="text mode") as ei:
        load_sequence(p)
    assert "story.txt" in str(ei.value)
    assert len(load_text(p).tokens) > 3


def test_ninety_percent_rule(tmp_path):
    ok = "\n".join([str(i) for i in range(9)] + ["1 2 3 x"]) + "\n"  # 90 % numeric
    p = write(tmp_path, "ok.txt", ok)
    with pytest.raises(SequenceFileError) as ei:  # not prose, but the odd line is a ragged/bad row
        load_sequence(p)
    assert "text mode" not in str(ei.value)
    bad = "\n".join([str(i) for i in range(8)] + ["words here", "and more"]) + "\n"  # 80 %
    p = write(tmp_path, "bad.txt", bad)
    with pytest.raises(SequenceFileError, match="text mode"):
        load_sequence(p)
