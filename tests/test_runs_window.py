"""The window's Open Run on damaged or changed run folders: the banner shows Run.load's one sentence
(never "'epoch'"), the run loaded before stays; a run saved by the window is a versioned folder."""

import json
import os

import pytest

from explorer.data.examples import load_example
from explorer.gui.main_window import MainWindow
from explorer.runs.store import Run, RunFileError, settings_for_example


@pytest.fixture
def window(qtbot, qsettings, app_paths, tmp_path):
    """The window with a run opened from a run folder (the run that must stay on a failed open)."""
    good = Run(load_example("sine"), settings_for_example("sine", units=3, epochs=1))
    list(good.trainer.steps(max_steps=4))
    good.save(tmp_path / "good")
    win = MainWindow(settings=qsettings)
    qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
    with qtbot.waitSignal(win.sigRunOpened, timeout=10000):      # read off the GUI thread
        assert win.open_run(tmp_path / "good")
    assert win.run.trainer.step == 4
    return win


def _drop_epoch(folder):
    d = json.loads((folder / "state.json").read_text())
    del d["epoch"]
    (folder / "state.json").write_text(json.dumps(d))


@pytest.mark.parametrize("damage, words", [
    (_drop_epoch, "state.json lacks the setting epoch"),
    (lambda f: (f / "model.npz").write_bytes(b"PK\x03\x04 truncated"), "model.npz is not a readable NumPy archive"),
    (lambda f: (f / "history.csv").write_text("garbage\n"), "history.csv does not start with the header"),
])
def test_open_damaged_run_shows_one_sentence_and_keeps_the_current_run(window, qtbot, tmp_path, damage, words):
    folder = tmp_path / "run"
    assert window.save_run(folder) and (folder / ".current").is_symlink()     # saved as versions
    damage(folder)
    before = window.run
    with pytest.raises(RunFileError) as info:
        Run.load(folder)
    with qtbot.waitSignal(window.sigLoadFailed, timeout=10000) as blocker:
        window.open_run(folder)
    assert blocker.args == [str(info.value)] and words in str(info.value)
    assert window.banner.label.text() == str(info.value)
    assert window.run is before


def test_open_run_whose_data_file_changed_says_so(window, qtbot, tmp_path):
    from explorer.data import load_sequence, make_windows

    data = tmp_path / "series.csv"
    data.write_text("value\n" + "".join(f"{i % 7}\n" for i in range(120)))
    run = Run(make_windows(load_sequence(data), seq_len=5, val_fraction=0.2), settings_for_example("sine", units=3))
    run.save(tmp_path / "run")
    with open(data, "a") as fh:
        fh.write("3\n")
    with qtbot.waitSignal(window.sigLoadFailed, timeout=10000) as blocker:
        window.open_run(tmp_path / "run")
    assert "changed since the run" in blocker.args[0] and "series.csv" in blocker.args[0]
    assert os.path.getsize(data) > 0 and Run.load(tmp_path / "run", allow_changed_data=True).trainer.step == 0
    assert window.run.trainer.step == 4                          # the current run stays
    buttons = {b.text(): b for b in window.banner._buttons}
    assert list(buttons) == ["Open anyway"]
    with qtbot.waitSignal(window.sigRunOpened, timeout=10000):    # the run on the file as it is now
        buttons["Open anyway"].click()
    assert window.run.trainer.step == 0 and window.run.model.n_units == 3
    assert window.run.dataset.n_val + window.run.dataset.n_train == 121 - 5   # the grown file's windows
