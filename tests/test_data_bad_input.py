"""Every kind of bad input raises SequenceFileError naming the file (and line where known)."""

import os

import numpy as np
import pytest

import explorer.data.loading as loading
from explorer.data import SequenceFileError, load_sequence, load_text


def write(tmp_path, name, content):
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8", newline="")
    return p


def fails(path, match=None, loader=load_sequence, **kw):
    with pytest.raises(SequenceFileError) as ei:
        loader(path, **kw)
    msg = str(ei.value)
    assert os.path.basename(str(path)) in msg, msg
    if match:
        assert match.lower() in msg.lower(), msg
    assert isinstance(ei.value, ValueError)
    return msg


def test_not_found(tmp_path):
    fails(tmp_path / "missing.csv", "not found")
    fails(tmp_path / "missing.txt", "not found", loader=load_text)


def test_directory(tmp_path):
    d = tmp_path / "folder.csv"
    d.mkdir()
    fails(d, "folder")
    fails(d, "folder", loader=load_text)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_no_permission(tmp_path):
    p = write(tmp_path, "secret.csv", "1\n2\n")
    p.chmod(0)
    try:
        if os.access(p, os.R_OK):
            pytest.skip("running with privileges that ignore file permissions")
        fails(p, "permission")
        fails(p, "permission", loader=load_text)
    finally:
        p.chmod(0o644)


def test_no_permission_simulated(tmp_path, monkeypatch):
    p = write(tmp_path, "locked.csv", "1\n2\n")

    def deny(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(loading, "open", deny, raising=False)
    fails(p, "permission")
    fails(p, "permission", loader=load_text)


@pytest.mark.parametrize("content", ["", "   \n\n", b"\xef\xbb\xbf", "# only a comment\n"])
def test_empty(tmp_path, content):
    p = write(tmp_path, "empty.csv", content)
    fails(p)


def test_empty_text(tmp_path):
    fails(write(tmp_path, "empty.txt", ""), "empty", loader=load_text)


def test_header_only(tmp_path):
    fails(write(tmp_path, "head.csv", "t,value\n"), "no data rows")


def test_non_numeric_column(tmp_path):
    p = write(tmp_path, "words.csv", "a,b\n1,2\n3,x\n5,6\n")
    msg = fails(p, "line 3")
    assert "'b'" in msg
    p = write(tmp_path, "late.csv", "v\n" + "\n".join(str(i) for i in range(500)) + "\nbad\n")
    msg = fails(p, "line 502")
    assert "'v'" in msg


def test_prose_csv_hints_text_mode(tmp_path):
    p = write(tmp_path, "prose.csv", "hello, world\nfoo, bar\n")
    fails(p, "text mode")


def test_chosen_text_column(tmp_path):
    p = write(tmp_path, "labels.csv", "name,v\nann,1\nbob,2\n")
    assert load_sequence(p).values[:, 0].tolist() == [1, 2]
    msg = fails(p, "line 2", columns="name")
    assert "'name'" in msg


def test_unknown_column_and_target(tmp_path):
    p = write(tmp_path, "cols.csv", "a,b\n1,2\n3,4\n")
    fails(p, "no column named", columns="zzz")
    fails(p, "no column 5", columns=5)
    fails(p, "target", columns=["a"], target="b")
    fails(p, "target", target=3)
    fails(p, "twice", columns=["a", 0])


def test_date_column_chosen(tmp_path):
    p = write(tmp_path, "dates.csv", "d,v\n2024-01-01,1\n2024-01-02,2\n")
    fails(p, "dates", columns="d")


def test_only_dates(tmp_path):
    fails(write(tmp_path, "dates.csv", "d\n2024-01-01\n2024-01-02\n"), "date")


def test_all_missing(tmp_path):
    fails(write(tmp_path, "na.csv", "v\nNA\nnan\nnull\n"), "all missing")
    fails(write(tmp_path, "na2.csv", "t,v\n1,NA\n2,NA\n"), "all missing", columns="v")


def test_drop_everything(tmp_path):
    p = write(tmp_path, "holes.csv", "a,b\n1,NA\nNA,2\n")
    with pytest.raises(SequenceFileError):
        load_sequence(p, columns=["a", "b"], missing="drop")


@pytest.mark.parametrize("tok", ["inf", "-inf", "Infinity"])
def test_infinities(tmp_path, tok):
    msg = fails(write(tmp_path, "inf.csv", f"v\n1\n{tok}\n3\n"), "infinite")
    assert "line 3" in msg


def test_overflow(tmp_path):
    fails(write(tmp_path, "big.csv", "v\n1\n2\n1e999\n"), "line 4")


def test_ragged(tmp_path):
    fails(write(tmp_path, "ragged.csv", "a,b\n1,2\n3\n5,6\n"), "line 3")
    fails(write(tmp_path, "ragged2.csv", "a,b\n1,2\n3,4,5\n"), "line 3")
    fails(write(tmp_path, "ragged3.txt", "1 2\n3 4\n5 6 7\n"), "line 3")
    fails(write(tmp_path, "ragged4.csv", "a,b\n1,2\n3,4,5\n"), "line 3", columns="a")


def test_unmatched_quote(tmp_path):
    fails(write(tmp_path, "q.csv", 'a,b\n1,2\n"3,4\n'), "line 3")


def test_binary_and_encoding(tmp_path):
    fails(write(tmp_path, "nul.csv", b"1\n2\x00\n3\n"), "NUL")
    fails(write(tmp_path, "nul.txt", b"ab\x00cd"), "NUL", loader=load_text)
    fails(write(tmp_path, "latin.csv", "v\n1\ncaf\xe9\n".encode("latin-1")), "UTF-8")
    fails(write(tmp_path, "latin.txt", "caf\xe9 au lait".encode("latin-1")), "UTF-8", loader=load_text)
    fails(write(tmp_path, "ctrl.csv", b"1\n\x01\x02\x03\n"), "binary")
    fails(write(tmp_path, "utf16.csv", "v\n1\n2\n".encode("utf-16")))
    fails(write(tmp_path, "png.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))


def test_npy_bad(tmp_path):
    p = tmp_path / "cube.npy"
    np.save(p, np.zeros((2, 3, 4)))
    fails(p, "3-D")
    p = tmp_path / "complex.npy"
    np.save(p, np.array([1 + 2j, 3j]))
    fails(p, "complex")
    p = tmp_path / "obj.npy"
    np.save(p, np.array([1, "a", None], dtype=object), allow_pickle=True)
    fails(p)
    p = tmp_path / "rec.npy"
    np.save(p, np.zeros(3, dtype=[("a", "f8"), ("b", "i4")]))
    fails(p, "structured")
    p = tmp_path / "str.npy"
    np.save(p, np.array(["a", "b"]))
    fails(p, "not numbers")
    p = tmp_path / "scalar.npy"
    np.save(p, np.float64(3.0))
    fails(p, "single number")
    p = tmp_path / "empty.npy"
    np.save(p, np.zeros(0))
    fails(p, "empty")
    p = tmp_path / "inf.npy"
    np.save(p, np.array([1.0, np.inf]))
    fails(p, "infinite")
    good = tmp_path / "good.npy"
    np.save(good, np.arange(10.0))
    data = good.read_bytes()
    fails(write(tmp_path, "header.npy", data[:10] + b"garbage!!" + data[19:]), "NPY")
    fails(write(tmp_path, "trunc.npy", data[:-20]), "NPY")
    fails(write(tmp_path, "fake.npy", b"not an npy file at all"), "NPY")
    fails(write(tmp_path, "arc.npz", b"PK\x03\x04"), "NPZ")


def test_size_limit(tmp_path, monkeypatch):
    p = write(tmp_path, "huge.csv", "v\n" + "1\n" * 100)
    monkeypatch.setattr(loading, "MAX_FILE_BYTES", 50)
    fails(p, "limit")
    fails(p, "limit", loader=load_text)


def test_text_too_short(tmp_path):
    fails(write(tmp_path, "short.txt", "ab"), "at least 3", loader=load_text)
    fails(write(tmp_path, "short2.txt", "one two"), "at least 3", loader=load_text, level="word")


def test_bad_arguments(tmp_path):
    p = write(tmp_path, "ok.csv", "1\n2\n")
    fails(p, "interpolate", missing="zero")
    fails(p, "char", loader=load_text, level="sentence")
    with pytest.raises(SequenceFileError):
        load_sequence(12345)
