"""Fuzzing: nothing but SequenceFileError ever escapes the loaders."""

import os
import tempfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explorer.data import SequenceFileError, load_sequence, load_text

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SUFFIXES = [".csv", ".tsv", ".txt", ".dat", ".npy", ""]

_dir = tempfile.mkdtemp(prefix="lstm-explorer-fuzz-")


def _write(data: bytes, suffix: str) -> str:
    path = os.path.join(_dir, "fuzz" + suffix)
    with open(path, "wb") as fh:
        fh.write(data)
    return path


def _check_sequence(path, **kw):
    try:
        s = load_sequence(path, **kw)
    except SequenceFileError as exc:
        assert os.path.basename(path) in str(exc)
        return
    assert s.values.dtype == np.float64
    assert s.values.ndim == 2 and s.values.shape[0] >= 1
    assert np.isfinite(s.values).all()
    assert len(s.columns) == s.values.shape[1]
    assert 0 <= s.target_index < len(s.columns)


def _check_text(path, level):
    try:
        c = load_text(path, level=level)
    except SequenceFileError:
        return
    assert len(c.tokens) >= 3
    assert c.ids.dtype == np.int64 and len(c.ids) == len(c.tokens)
    assert c.vocab == sorted(set(c.tokens))


@SETTINGS
@given(data=st.binary(max_size=400), suffix=st.sampled_from(SUFFIXES))
def test_random_bytes(data, suffix):
    path = _write(data, suffix)
    _check_sequence(path)
    _check_sequence(path, missing="drop")
    _check_text(path, "char")
    _check_text(path, "word")


@SETTINGS
@given(data=st.binary(max_size=200))
def test_random_bytes_after_npy_magic(data):
    path = _write(b"\x93NUMPY" + data, ".npy")
    _check_sequence(path)


_field = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**30, 10**30).map(str),
    st.sampled_from(["", "NA", "N/A", "nan", "null", "inf", "1e999", "2024-01-03", "10:30",
                     "2024-01-03 10:00", "abc", '"q"', '"', "1,5", " 3 ", "#", "-", "."]),
    st.text(max_size=6),
)
_row = st.lists(_field, min_size=1, max_size=4)


@SETTINGS
@given(
    rows=st.lists(_row, min_size=0, max_size=12),
    delim=st.sampled_from([",", "\t", ";", " ", "  "]),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
    header=st.booleans(),
    suffix=st.sampled_from([".csv", ".tsv", ".txt"]),
    columns=st.one_of(st.none(), st.integers(-3, 3), st.sampled_from(["a", "b", "value"]),
                      st.lists(st.integers(0, 3), max_size=3)),
    target=st.one_of(st.none(), st.integers(-2, 2), st.just("a")),
)
def test_random_csv_like(rows, delim, newline, bom, header, suffix, columns, target):
    lines = [delim.join(r) for r in rows]
    if header:
        lines.insert(0, delim.join("abcd"[: len(rows[0]) if rows else 2]))
    text = newline.join(lines) + newline
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8", "surrogatepass")
    path = _write(data, suffix)
    _check_sequence(path, columns=columns, target=target)
    _check_text(path, "word")


@SETTINGS
@given(values=st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50), n_cols=st.integers(1, 3))
def test_clean_numbers_roundtrip(values, n_cols):
    arr = np.array(values * n_cols).reshape(n_cols, -1).T
    text = "\n".join(",".join(repr(float(x)) for x in row) for row in arr) + "\n"
    path = _write(text.encode(), ".csv")
    s = load_sequence(path, columns=list(range(n_cols)))
    np.testing.assert_array_equal(s.values, arr)


@SETTINGS
@given(data=st.binary(max_size=400), suffix=st.sampled_from(SUFFIXES))
def test_describe_file_on_random_bytes(data, suffix):
    from explorer.data import describe_file

    path = _write(data, suffix)
    try:
        info = describe_file(path)
    except SequenceFileError as exc:
        assert os.path.basename(path) in str(exc)
        return
    assert info.kind in ("table", "npy", "text")
    assert len(info.columns) == len(info.column_kinds)
    assert set(info.numeric_columns) <= set(info.columns) and set(info.default_columns) <= set(info.columns) | {"fuzz"}
