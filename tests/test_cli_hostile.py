"""Hostile uses of the command line found by trying to break it: each is refused in one sentence
with exit status 2, nothing written, no traceback, no hang."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from explorer.gui.app import no_display
from explorer.util.ram import MemoryBudgetError, memory_limit_bytes as memory_limit
from explorer.runs.folder import RunFileError, WriterLock

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, env=None, timeout=120):
    e = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "explorer", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=e, cwd=ROOT)


def one_sentence(p):
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "Traceback" not in p.stderr and p.stderr.count("\n") == 1, p.stderr
    return p.stderr.strip()


@pytest.mark.parametrize("flag", ["--out", "--resume"])
def test_a_name_longer_than_the_file_system_takes_is_refused(tmp_path, flag):
    long = tmp_path / ("x" * 300)
    args = ["train", "--example", "sine", "--units", "2", "--epochs", "1", "--no-plots", "--out", long] \
        if flag == "--out" else ["train", "--resume", long, "--epochs", "2"]
    msg = one_sentence(cli(*args))
    assert msg == (f"lstm-explorer: {flag}: the name {'x' * 24}… is 300 bytes long, more than the 255 a file or "
                   "folder name can have; choose a shorter name.")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", ["1e400G", "abc", "nan", "-1", "0", "inf", "12Q"])
def test_a_bad_memory_limit_is_named_not_ignored_or_crashing(tmp_path, monkeypatch, value):
    monkeypatch.setenv("LSTM_EXPLORER_MEMORY_LIMIT", value)
    with pytest.raises(MemoryBudgetError) as ei:
        memory_limit()
    assert str(ei.value) == (f"LSTM_EXPLORER_MEMORY_LIMIT={value!r} is not a memory size (a positive number of "
                             "bytes, or with K, M, G or T, e.g. 8G); set it to one or unset it.")
    msg = one_sentence(cli("train", "--example", "sine", "--units", "2", "--epochs", "1", "--no-plots", "--out",
                           tmp_path / "o", env={"LSTM_EXPLORER_MEMORY_LIMIT": value}))
    assert msg == f"lstm-explorer: {ei.value}" and not (tmp_path / "o").exists()


@pytest.mark.parametrize("value, limit", [("8G", 8 * 1024**3), ("1.5M", int(1.5 * 1024**2)), ("123456", 123456)])
def test_a_memory_limit_is_read_in_bytes_or_with_a_suffix(monkeypatch, value, limit):
    monkeypatch.setenv("LSTM_EXPLORER_MEMORY_LIMIT", value)
    assert memory_limit() == limit


def test_without_a_display_the_window_says_so_in_one_sentence():
    why = ("there is no display to open the window on (DISPLAY and WAYLAND_DISPLAY are not set); run it in a "
           "desktop session, or train on the command line: lstm-explorer train FILE --out DIR.")
    assert no_display({}, "linux") == why
    assert no_display({"DISPLAY": ":0"}, "linux") == "" and no_display({"WAYLAND_DISPLAY": "w"}, "linux") == ""
    assert no_display({"QT_QPA_PLATFORM": "offscreen"}, "linux") == ""
    assert no_display({}, "win32") == "" and no_display({}, "darwin") == ""
    if sys.platform.startswith("linux"):
        env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
        p = subprocess.run([sys.executable, "-m", "explorer", "/nonexistent.csv"], capture_output=True, text=True,
                           timeout=60, env=env, cwd=ROOT)
        assert one_sentence(p) == f"lstm-explorer: {why}"


def test_a_folder_being_trained_is_not_resumed_by_a_second_process(tmp_path):
    run = tmp_path / "run"
    p = cli("train", "--example", "sine", "--units", "2", "--epochs", "1", "--no-plots", "--out", run)
    assert p.returncode == 0, p.stderr
    before = sorted(os.listdir(run / ".versions"))
    hold = WriterLock(run, command="lstm-explorer train --resume run")   # another writer (here: this process)
    try:
        with pytest.raises(RunFileError, match="is being written by another lstm-explorer"):
            WriterLock(run)
        msg = one_sentence(cli("train", "--resume", run, "--epochs", "2", "--no-plots"))
        assert msg == (f"lstm-explorer: {run} is being written by another lstm-explorer (process {os.getpid()} on "
                       f"{socket.gethostname()}: lstm-explorer train --resume run); wait for it to finish (or stop "
                       "it), then continue with --resume.")
        assert sorted(os.listdir(run / ".versions")) == before          # nothing written
    finally:
        hold.release()
    p = cli("train", "--resume", run, "--epochs", "2", "--no-plots")   # free again: it continues
    assert p.returncode == 0, p.stderr


@pytest.mark.parametrize("extra, said", [
    (["--example", "sine", "--column", "nope", "--text"], "--example sine brings its own data; ignoring --column, --text."),
    (["--example", "adding", "--missing", "drop", "--val-fraction", "0.3"],
     "--example adding brings its own data; ignoring --missing, --val-fraction."),
    (["--example", "sine", "--allow-changed-data"], "--allow-changed-data is for --resume; ignoring --allow-changed-data."),
])
def test_options_that_do_nothing_are_named_not_dropped(tmp_path, extra, said):
    p = cli("train", *extra, "--units", "2", "--epochs", "1", "--no-plots", "--quiet", "--out", tmp_path / "o")
    assert p.returncode == 0, p.stderr
    assert p.stderr.strip().splitlines()[0] == f"lstm-explorer: {said}"


@pytest.mark.parametrize("args, said", [
    (["train", "--example", "", "--out", "o"], "--example is empty; give an example's name (lstm-explorer examples lists them)."),
    (["train", "--resume", ""], "--resume is empty; give a run folder."),
    (["train", "--example", "sine", "--out", " "], "--out is empty; give a folder."),
])
def test_an_empty_name_is_refused_naming_the_option(tmp_path, args, said):
    assert one_sentence(cli(*args)) == f"lstm-explorer: {said}"


@pytest.mark.parametrize("value", ["1_0", "١٠", "１０"])
def test_numbers_are_written_in_ascii_digits_without_underscores(value):
    from explorer.runs.options import BY_FLAG, OptionError

    with pytest.raises(OptionError) as ei:
        BY_FLAG["--units"].parse(value, "--units")
    assert str(ei.value) == f"--units must be a whole number from 1 to 100000, not {value!r}."
    assert BY_FLAG["--units"].parse(" 10 ", "--units") == 10


def test_stop_at_loss_without_a_validation_part_is_refused_before_training(tmp_path):
    msg = one_sentence(cli("train", "--example", "sine", "--units", "2", "--val-fraction", "0", "--stop-at-loss", "1",
                           "--out", tmp_path / "o"))
    assert msg == ("lstm-explorer: --stop-at-loss watches the validation loss, and this run has no validation part; "
                   "set --val-fraction above 0 or leave --stop-at-loss out.")
    assert not (tmp_path / "o").exists()
