"""Hostile files: NPY headers, files that change while read, vanished files, directories, odd paths.
Each gives the one clear message, in the window and on the command line; loaded data stays."""

import struct
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explorer.cli import main
from explorer.data import SequenceFileError, load_sequence
from explorer.gui.main_window import MainWindow
from explorer.runs.store import Run, settings_for_example
from explorer.app.ingest import load_dataset, load_example

HEADER_KEYS = st.sampled_from(["descr", "fortran_order", "shape", "xx", ""])
HEADER_VALUES = st.one_of(
    st.sampled_from(["'<f8'", "'<i4'", "'|O'", "'<c16'", "'>f4'", "[('a','<f8')]", "'S3'", "'<U2'"]),
    st.sampled_from(["True", "False", "(3,)", "(2, 2)", "(2, 2, 2)", "(-1,)", "()", "(10**9,)"]),
    st.text(max_size=12),
)


def npy_bytes(header: str, body: bytes, version=(1, 0)) -> bytes:
    h = header.encode("latin1", errors="replace")
    pad = (64 - (10 + len(h) + 1) % 64) % 64
    h = h + b" " * pad + b"\n"
    return b"\x93NUMPY" + bytes(version) + struct.pack("<H", len(h)) + h + body


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(st.tuples(HEADER_KEYS, HEADER_VALUES), max_size=4),
       body=st.binary(max_size=64), version=st.sampled_from([(1, 0), (2, 0), (3, 0), (9, 9)]))
def test_fuzzed_npy_headers_raise_only_sequence_file_error(tmp_path, items, body, version):
    header = "{" + ", ".join(f"'{k}': {v}" for k, v in items) + "}"
    path = tmp_path / "fuzz.npy"
    path.write_bytes(npy_bytes(header, body, version))
    try:
        seq = load_sequence(path)
    except SequenceFileError as exc:
        assert "fuzz.npy" in str(exc)
    else:
        assert np.all(np.isfinite(seq.values))


def test_file_rewritten_while_being_read(tmp_path):
    """Another process rewrites the file over and over while we load it: a result or the error."""
    path = tmp_path / "changing.csv"
    good = "value\n" + "".join(f"{i}.5\n" for i in range(20000))
    path.write_text(good)
    stop = threading.Event()

    def writer():
        k = 0
        while not stop.is_set():
            path.write_text(good if k % 2 else good[: len(good) // 3] + "\x00garbage")
            k += 1

    t = threading.Thread(target=writer)
    t.start()
    outcomes = set()
    try:
        for _ in range(40):
            try:
                seq = load_sequence(path)
                assert np.all(np.isfinite(seq.values))
                outcomes.add("ok")
            except SequenceFileError as exc:
                assert "changing.csv" in str(exc)
                outcomes.add("error")
    finally:
        stop.set()
        t.join()
    assert outcomes


@pytest.mark.parametrize("name", ["my data (copy).csv", "données été ☀.csv", "日本語 データ.tsv"])
def test_paths_with_spaces_and_non_ascii(tmp_path, name):
    folder = tmp_path / "a folder with spaces" / "ünïcode"
    folder.mkdir(parents=True)
    path = folder / name
    sep = "\t" if name.endswith(".tsv") else ","
    path.write_text(f"t{sep}v\n" + "".join(f"{i}{sep}{np.sin(i / 4):.4f}\n" for i in range(200)), encoding="utf-8")
    ds = load_dataset(path, seq_len=10)
    assert ds.n_train > 0
    out = tmp_path / "ôut dir"
    assert main(["train", str(path), "--seq-len", "10", "--epochs", "1", "--out", str(out), "--no-plots",
                 "--quiet"]) == 0
    assert (out / "model.npz").is_file()


@pytest.fixture
def window(qtbot, qsettings, app_paths):
    win = MainWindow(settings=qsettings)
    win.set_run(Run(load_example("sine"), settings_for_example("sine", units=3)))
    qtbot.addWidget(win)
    win.show()
    return win


def _fails_and_keeps(window, qtbot, path, expect):
    before = window.run
    with qtbot.waitSignal(window.sigLoadFailed, timeout=10000) as sig:
        window.open_file(str(path))
    assert expect in sig.args[0]
    assert window.banner.isVisible() and expect in window.banner.label.text()
    assert window.run is before and window.trace is not None


def test_window_directory_given_as_file(window, qtbot, tmp_path):
    d = tmp_path / "a directory.csv"
    d.mkdir()
    _fails_and_keeps(window, qtbot, d, "a directory.csv")


def test_window_file_vanished_between_choosing_and_loading(window, qtbot, tmp_path):
    path = tmp_path / "gone.csv"
    path.write_text("v\n1\n2\n")
    path.unlink()
    _fails_and_keeps(window, qtbot, path, "gone.csv")


def test_window_unreadable_file(window, qtbot, tmp_path, monkeypatch):
    path = tmp_path / "locked.csv"
    path.write_text("v\n" + "1\n" * 100)
    import explorer.data.loading as loading
    real_open = open

    def deny(p, *a, **k):
        if str(p).endswith("locked.csv"):
            raise PermissionError(13, "Permission denied", str(p))
        return real_open(p, *a, **k)

    monkeypatch.setattr("builtins.open", deny)
    monkeypatch.setattr(loading, "open", deny, raising=False)
    _fails_and_keeps(window, qtbot, path, "locked.csv")


def test_window_binary_file(window, qtbot, tmp_path):
    path = tmp_path / "image.csv"
    path.write_bytes(bytes(range(256)) * 8)
    _fails_and_keeps(window, qtbot, path, "image.csv")


def test_cli_directory_and_vanished(tmp_path, capsys):
    assert main(["train", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert main(["train", str(tmp_path / "vanished.csv"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "vanished.csv" in err and "Traceback" not in err
