"""Every bad value refused up front with one sentence (exit 2, nothing at --out): the option table,
memory estimates, unwritable --out, resume's data check and ignored options, escaped file names."""

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from explorer.cli.command import _parser, main
from explorer.runs.options import NUMERIC_OPTIONS, OptionError, markdown_table
from explorer.runs.store import ModelSettings, Run, estimate_run_bytes

ROOT = Path(__file__).resolve().parents[1]


def one_sentence(text: str) -> bool:
    text = text.strip()
    return text.count("\n") == 0 and "Traceback" not in text and text.endswith(".") and len(text) < 400


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def series_csv(path, n=150):
    path.write_text("t,value\n" + "".join(f"{i},{np.sin(i / 5):.6f}\n" for i in range(n)))
    return path


# -- the table ---------------------------------------------------------------------------------------
def _bad_and_good(o):
    low_bad = o.low if o.low_open else (o.low - 1 if o.integer else o.low - 0.5)
    bad = [low_bad, "nan", "inf", "-inf", "abc", ""]
    if not math.isinf(o.high):
        bad.append(o.high if o.high_open else (o.high + 1 if o.integer else o.high * 1.5))
    if o.integer:
        bad.append("1.5")
    good = [o.low + (1 if o.integer else 1e-9) if o.low_open else o.low]
    if not math.isinf(o.high) and not o.high_open:
        good.append(o.high)
    return bad, good


@pytest.mark.parametrize("opt", NUMERIC_OPTIONS, ids=[o.flag for o in NUMERIC_OPTIONS])
def test_every_option_of_the_table_refuses_outside_its_range(opt):
    bad, good = _bad_and_good(opt)
    for value in bad:
        with pytest.raises(OptionError) as info:
            opt.parse(str(value))
        msg = str(info.value)
        assert msg.startswith(f"{opt.flag} must be {opt.describe()}") and one_sentence(msg), msg
    for value in good:
        assert opt.parse(str(value)) == value
        assert isinstance(opt.parse(str(value)), int if opt.integer else float)


def _commands_with(opt):
    p = _parser()
    return [c for c in opt.commands
            if any(opt.flag in a.option_strings for a in p.commands[c]._actions)]  # noqa: SLF001


@pytest.mark.parametrize("opt", NUMERIC_OPTIONS, ids=[o.flag for o in NUMERIC_OPTIONS])
def test_the_command_line_checks_every_option_of_the_table(opt, tmp_path, capsys):
    bad, _ = _bad_and_good(opt)
    for command in _commands_with(opt):
        for value in bad[:3]:
            out = tmp_path / "out"
            if command == "animate":                  # checked before the run folder is read
                code, err = cli(capsys, command, tmp_path / "run", f"{opt.flag}={value}", "--out", out.with_suffix(".gif"))
            else:
                code, err = cli(capsys, command, "--example", "sine", f"{opt.flag}={value}", "--out", out)
            assert code == 2 and one_sentence(err), err
            assert f"{opt.flag} must be {opt.describe()}" in err
            assert not out.exists()


# The bad values and more: each exits 2 with one sentence, before anything is written.
BAD_COMMANDS = [
    ["train", "--example", "sine", "--seq-len", "0"],
    ["train", "--example", "sine", "--lr", "0"],
    ["train", "--example", "sine", "--lr", "-1"],
    ["train", "--example", "sine", "--lr", "nan"],
    ["train", "--example", "sine", "--lr", "inf"],
    ["train", "--example", "sine", "--batch", "0"],
    ["train", "--example", "sine", "--epochs", "0"],
    ["train", "--example", "sine", "--clip", "-1"],
    ["train", "--example", "sine", "--clip", "nan"],
    ["train", "--example", "sine", "--forecast", "10000000"],
    ["train", "--example", "sine", "--units", "0"],
    ["train", "--example", "sine", "--units", "100000"],
    ["train", "--example", "sine", "--units", "10000000000000000000000"],
    ["train", "--example", "sine", "--val-fraction", "0.9"],
    ["train", "--example", "sine", "--val-fraction", "-0.1"],
    ["train", "--example", "sine", "--seed", "-1"],
    ["train", "--example", "sine", "--eval-every", "0"],
    ["train", "--example", "sine", "--stop-at-loss", "nan"],
    ["train", "--example", "sine", "--cell", "transformer"],
    ["train", "--example", "nosuch"],
    ["train", "--example", "sine", "--bogus"],
    ["compare", "--example", "sine", "--seeds", "0"],
    ["compare", "--example", "sine", "--eval-every", "0"],
    ["compare", "--example", "sine", "--target-loss", "nan"],
    ["compare", "--example", "sine", "--max-steps", "0"],
    ["compare", "--example", "sine", "--cells", "lstm,xyz"],
    ["compare", "--example", "sine", "--units", "100000"],
]


@pytest.mark.parametrize("argv", BAD_COMMANDS, ids=[" ".join(a[2:]) for a in BAD_COMMANDS])
def test_bad_values_exit_2_with_one_sentence_and_write_nothing(argv, tmp_path, capsys):
    out = tmp_path / "out"
    t0 = time.perf_counter()
    code, err = cli(capsys, *argv, "--out", out)
    assert code == 2, err
    assert one_sentence(err), err
    assert time.perf_counter() - t0 < 10
    assert not out.exists()


def test_memory_is_estimated_before_allocating(monkeypatch, capsys, tmp_path):
    # --units 100000: 4n(n+m+1) = 40,000,800,000 parameters, 298 GiB for the weights alone
    assert estimate_run_bytes("lstm", 1, 100_000, 1, 20, 32) >= 40_000_800_000 * 8 * 5
    small = estimate_run_bytes("lstm", 1, 8, 1, 20, 32)
    assert 8 * 4 * 8 * 10 * 5 < small < 10 * 2**20
    assert estimate_run_bytes("lstm", 1, 64, 1, 200, 32) > estimate_run_bytes("lstm", 1, 64, 1, 20, 32)
    assert estimate_run_bytes("lstm", 1, 64, 1, 20, 32, layers=2) > estimate_run_bytes("lstm", 1, 64, 1, 20, 32)
    monkeypatch.setenv("LSTM_EXPLORER_MEMORY_LIMIT", "64M")
    code, err = cli(capsys, "train", "--example", "sine", "--units", "2000", "--out", tmp_path / "o")
    assert code == 2 and one_sentence(err)
    assert "Training an LSTM with 2000 units" in err and "64.0 MiB" in err and "fewer units" in err
    assert not (tmp_path / "o").exists()
    from explorer.data.examples import load_example
    from explorer.util.ram import MemoryBudgetError
    with pytest.raises(MemoryBudgetError):
        Run(load_example("sine"), ModelSettings(units=2000))


# -- --out that cannot be written ---------------------------------------------------------------------
@pytest.fixture
def read_only_dir(tmp_path, tmpfs):
    """A folder nobody may write into: a read-only tmpfs as root (root ignores permissions), else 0555."""
    if os.geteuid() == 0:
        return tmpfs("64k", read_only=True)
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o555)
    return d


def test_unwritable_out_is_refused_in_seconds_before_training(tmp_path, read_only_dir):
    blocker = tmp_path / "a file"
    blocker.write_text("x")
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen")
    for out, words in ((read_only_dir / "run", "Read-only file system"), (blocker / "run", "is a file"),
                       (blocker, "is a file"), (Path("/proc/lstm-explorer-run"), "/proc/lstm-explorer-run")):
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "-m", "explorer", "train", "--example", "adding", "--epochs", "50",
                              "--out", str(out)], env=env, capture_output=True, text=True, timeout=120)
        assert res.returncode == 2 and one_sentence(res.stderr) and words in res.stderr, res.stderr
        assert time.perf_counter() - t0 < 8                        # refused before training
    assert not (read_only_dir / "run").exists() and blocker.read_text() == "x"


def test_not_empty_out_refused_unless_force(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, err = cli(capsys, "train", "--example", "sine", "--out", out)
    assert code == 2 and "--force" in err and one_sentence(err)
    code, err = cli(capsys, "train", "--example", "sine", "--epochs", "1", "--units", "3", "--out", out, "--force",
                    "--no-plots", "--quiet")           # --force replaces a run, never a folder of other things
    assert code == 2 and one_sentence(err) and "holds other things (notes.txt) and is not a run folder" in err
    assert sorted(os.listdir(out)) == ["notes.txt"] and (out / "notes.txt").read_text() == "mine"
    run = tmp_path / "run"
    for epochs in ("1", "2"):
        code, err = cli(capsys, "train", "--example", "sine", "--epochs", epochs, "--units", "3", "--out", run,
                        "--force", "--no-plots", "--quiet")
        assert code == 0, err
    assert Run.load(run).trainer.epoch == 2


# -- resume --------------------------------------------------------------------------------------------
def test_resume_checks_the_data_file(tmp_path, capsys):
    data = series_csv(tmp_path / "series.csv")
    run = tmp_path / "run"
    base = ["--seq-len", "5", "--units", "3", "--no-plots", "--quiet"]
    assert cli(capsys, "train", data, *base, "--epochs", "1", "--out", run)[0] == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["data_file"]["path"] == str(data) and cfg["data_file"]["size"] == data.stat().st_size
    assert len(cfg["data_file"]["sha256"]) == 64
    # edited: refused with a sentence, unless --allow-changed-data
    original = data.read_bytes()
    data.write_bytes(original.replace(b"0.", b"1.", 3))
    code, err = cli(capsys, "train", "--resume", run, "--epochs", "1", "--quiet")
    assert code == 2 and one_sentence(err) and "changed since the run" in err and "--allow-changed-data" in err
    assert "same size, different content" in err
    assert Run.load(run, allow_changed_data=True).trainer.epoch == 1
    code, err = cli(capsys, "train", "--resume", run, "--epochs", "1", "--allow-changed-data", "--no-plots", "--quiet")
    assert code == 0, err
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["data_file"]["size"] == data.stat().st_size and cfg["trained"]["epochs"] == 2
    assert cfg["data_file_history"][0]["sha256"] != cfg["data_file"]["sha256"]
    # moved: refused, and continued when its new place is named (same content: no option needed)
    moved = tmp_path / "elsewhere.csv"
    data.rename(moved)
    code, err = cli(capsys, "train", "--resume", run, "--epochs", "1", "--quiet")
    assert code == 2 and one_sentence(err) and "is gone (moved or deleted)" in err and "FILE" in err
    code, err = cli(capsys, "train", "--resume", run, moved, "--epochs", "1", "--no-plots", "--quiet")
    assert code == 0, err
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["data_file"]["path"] == str(moved) and cfg["data"]["source"] == str(moved)
    assert cfg["trained"]["epochs"] == 3 == cfg["model"]["epochs"]
    # the content decides, not the name: the original bytes at the new place are "changed" data
    moved.write_bytes(original)
    code, err = cli(capsys, "train", "--resume", run, "--epochs", "1", "--quiet")
    assert code == 2 and one_sentence(err) and "same size, different content" in err


def test_resume_names_the_options_it_ignores(tmp_path, capsys):
    run = tmp_path / "run"
    assert cli(capsys, "train", "--example", "sine", "--units", "3", "--epochs", "1", "--out", run,
               "--no-plots", "--quiet")[0] == 0
    code, err = cli(capsys, "train", "--resume", run, "--epochs", "1", "--units", "9", "--lr", "0.5",
                    "--seq-len", "3", "--cell", "gru", "--no-plots", "--quiet")
    assert code == 0
    lines = err.strip().splitlines()
    assert lines == ["lstm-explorer: --resume continues with the run's own settings; ignoring --cell, --lr, "
                     "--seq-len, --units."]
    back = Run.load(run)
    assert back.settings.units == 3 and back.settings.lr == 0.01 and back.trainer.epoch == 2
    code, err = cli(capsys, "train", "--resume", run, "--epochs", "1", "--no-plots", "--quiet")
    assert code == 0 and err == ""


def test_resume_of_a_finished_run_needs_epochs(tmp_path, capsys):
    run = tmp_path / "run"
    assert cli(capsys, "train", "--example", "sine", "--units", "3", "--epochs", "1", "--out", run,
               "--no-plots", "--quiet")[0] == 0
    code, err = cli(capsys, "train", "--resume", run, "--quiet")
    assert code == 2 and one_sentence(err) and "--epochs E" in err


def test_control_characters_in_file_names_are_escaped(tmp_path):
    bad = tmp_path / "evil\x1b[31mname\x07.csv"
    bad.write_text("value\nx\ny\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen")
    res = subprocess.run([sys.executable, "-m", "explorer", "train", str(bad), "--out", str(tmp_path / "o")],
                         env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert "\x1b" not in res.stderr and "\x07" not in res.stderr
    assert "evil\\x1b[31mname\\x07.csv" in res.stderr and one_sentence(res.stderr)


# -- README --------------------------------------------------------------------------------------------
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_holds_the_option_table_and_the_exit_codes():
    assert markdown_table() in README
    section = README[README.index("Exit status"):][:600]
    for code in ("`0`", "`2`", "`3`", "`130`"):
        assert code in section


# -- words: titles, plurals, articles, paths ---------------------------------------------------------
@pytest.mark.parametrize("cell, units, words", [
    ("peephole", "3", "Peephole LSTM with 3 units: "),
    ("rnn", "1", "Plain RNN with 1 unit: "),
    ("gru", "2", "GRU with 2 units: "),
    ("lstm", "4", "LSTM with 4 units: "),
])
def test_the_train_banner_names_the_cell_by_its_title(tmp_path, capsys, cell, units, words):
    code, err = cli(capsys, "train", "--example", "sine", "--cell", cell, "--units", units, "--epochs", "1",
                    "--out", tmp_path / "o", "--no-plots")
    assert code == 0 and words in err, err


@pytest.mark.parametrize("words, expected", [
    ("LSTM", "an LSTM"), ("RNN", "an RNN"), ("GRU", "a GRU"), ("peephole LSTM", "a peephole LSTM"),
    ("2-layer bidirectional LSTM", "a 2-layer bidirectional LSTM"), ("8-layer GRU", "an 8-layer GRU"),
    ("11-layer LSTM", "an 11-layer LSTM"), ("bidirectional GRU", "a bidirectional GRU"),
])
def test_model_descriptions_take_the_right_article(words, expected):
    from explorer.interop.mapping import units, with_article

    assert with_article(words) == expected
    assert (units(1), units(2)) == ("1 unit", "2 units")


def test_a_model_file_of_one_unit_says_unit(tmp_path):
    from explorer.engine import make_model
    from explorer.interop import load_model, save_model

    f = tmp_path / "one.safetensors"
    save_model(make_model("gru", 2, 1, 1), f)
    assert "one.safetensors: a GRU of 1 unit over 2 inputs" in load_model(f).describe()
    save_model(make_model("lstm", 1, 2, 1, num_layers=3, bidirectional=True), f)
    assert "one.safetensors: a 3-layer bidirectional LSTM of 2 units over 1 input" in load_model(f).describe()


@pytest.mark.parametrize("folder", ["/tmp", "/tmp/", "."])
def test_a_folder_given_as_the_data_file_is_named_with_its_path(tmp_path, capsys, folder):
    code, err = cli(capsys, "train", folder, "--out", tmp_path / "o")
    shown = folder.rstrip("/") or "/"
    assert code == 2 and f"lstm-explorer: {shown} is a folder, not a file; choose a data file inside it." == \
        err.strip(), err


def test_help_shows_the_windows_own_options_beside_the_subcommands(capsys):
    from explorer.cli import main
    from explorer.app.window_args import window_parser

    with pytest.raises(SystemExit) as ei:
        main(["--help"])
    assert ei.value.code == 0
    out = capsys.readouterr().out
    assert "{train,compare,animate,examples}" in out
    window = out.split("the window (no sub-command):", 1)[1]
    for flag in ("FILE", "--example NAME", "--cell", "--compare CELLS", "--model MODEL", "--quit-after-paint"):
        assert flag in window, flag
    # the help lists exactly the options the window's parser takes (one list for both)
    flags = [a.option_strings[0] if a.option_strings else a.metavar for a in window_parser()._actions][1:]
    assert all(f in window for f in flags)
