"""The window never writes what is not a run's: Save Run into a folder of the person's own files asks
for another folder and changes nothing; a run folder another writer holds (another window, a
`train`) is refused with who holds it; closing when the autosave folder cannot be written says so
and offers to save the results elsewhere."""

import hashlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from explorer.data.examples import load_example
from explorer.gui.main_window import MainWindow
from explorer.runs.store import Run, settings_for_example

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1", QT_QPA_PLATFORM="offscreen")
pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX locks")


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (os.readlink(p) if p.is_symlink() else
                                         hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir")
            for p in sorted(folder.rglob("*"))}


def saved_run(folder: Path, steps: int = 4) -> Path:
    run = Run(load_example("sine"), settings_for_example("sine", units=3, epochs=1))
    list(run.trainer.steps(max_steps=steps))
    run.save(folder)
    return folder


def new_window(qtbot, qsettings):
    win = MainWindow(settings=qsettings)
    qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
    return win


def answers(monkeypatch, *replies, folder=None):
    """Answer the window's questions in turn (recording their texts) and its folder dialog."""
    asked, queue = [], list(replies)

    def question(parent, title, text, *a, **k):
        asked.append(text)
        return queue.pop(0)

    monkeypatch.setattr(QMessageBox, "question", question)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder) if folder else "")
    return asked


def test_save_run_into_a_folder_of_the_persons_files_asks_for_another_and_changes_nothing(
        qtbot, qsettings, app_paths, tmp_path, monkeypatch):
    win = new_window(qtbot, qsettings)
    win.set_run(Run(load_example("sine"), settings_for_example("sine", units=2)))
    mine = tmp_path / "<img src='x'> mine"                   # a name that is markup stays text
    mine.mkdir()
    for name, text in (("config.json", "{}"), ("history.csv", "a\n"), ("steps.csv", "b\n"), ("photo.jpg", "c")):
        (mine / name).write_text(text)
    before = snapshot(mine)
    asked = answers(monkeypatch, QMessageBox.StandardButton.No)
    assert not win.files.save_run(mine)
    assert asked == ["This folder is not a run folder, and nothing in it was changed.\n"
                     f"{mine} holds other things (config.json, history.csv, photo.jpg, \u2026); a run is saved only "
                     "into an empty folder or a run folder. Choose another folder?"]
    assert not Qt.mightBeRichText(asked[0])
    assert snapshot(mine) == before
    other = tmp_path / "other"
    asked = answers(monkeypatch, QMessageBox.StandardButton.Yes, folder=other)
    assert win.files.save_run(mine)                              # saved where the person chose instead
    assert len(asked) == 1 and Run.load(other).trainer.step == 0 and snapshot(mine) == before


def test_two_windows_on_one_run_the_second_is_refused_and_told_who_holds_it(qtbot, qsettings, app_paths, tmp_path):
    folder = saved_run(tmp_path / "run")
    first, second = new_window(qtbot, qsettings), new_window(qtbot, qsettings)
    for win in (first, second):
        with qtbot.waitSignal(win.sigRunOpened, timeout=10000):
            assert win.open_run(folder)
    words = (f"{folder} is being written by another lstm-explorer (process {os.getpid()} on {socket.gethostname()}: "
             "the LSTM Explorer window); wait for it to finish (or stop it), then try again.")
    assert second.banner.label.text() == f"{words} Saving into it is refused until then."
    list(second.run.trainer.steps(max_steps=3))
    before = snapshot(folder)
    assert not second.files.save_run(folder)
    assert second.banner.label.text() == words and snapshot(folder) == before
    list(first.run.trainer.steps(max_steps=1))
    assert first.files.save_run(folder) and Run.load(folder).trainer.step == 5
    first.close()                                                # the first lets go of it
    assert second.files.save_run(folder) and Run.load(folder).trainer.step == 7


HOLD = r"""
import sys
from explorer.runs.folder import WriterLock
lock = WriterLock(sys.argv[1], command="lstm-explorer train --resume run")
print("held", flush=True)
sys.stdin.read()
"""


def test_save_run_into_a_folder_a_train_process_holds_is_refused(qtbot, qsettings, app_paths, tmp_path):
    folder = saved_run(tmp_path / "run")
    win = new_window(qtbot, qsettings)
    win.set_run(Run(load_example("sine"), settings_for_example("sine", units=2)))
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=ENV, cwd=ROOT)
    try:
        assert proc.stdout.readline().strip() == "held"
        before = snapshot(folder)
        assert not win.files.save_run(folder)
        assert win.banner.label.text() == (
            f"{folder} is being written by another lstm-explorer (process {proc.pid} on {socket.gethostname()}: "
            "lstm-explorer train --resume run); wait for it to finish (or stop it), then try again.")
        assert snapshot(folder) == before and Run.load(folder).trainer.step == 4
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
        proc.stdout.close()
    assert win.files.save_run(folder) and Run.load(folder).trainer.step == 0


def unwritable_root(tmp_path, how: str, tmpfs=None) -> Path:
    if how == "read-only":
        if os.geteuid() == 0:                          # root writes into any folder: a read-only disk
            return tmpfs("64k", read_only=True) / "autosave"
        root = tmp_path / "autosave"
        root.mkdir()
        root.chmod(0o555)
        return root
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the autosave folder's parent should be")
    return blocker / "autosave"


@pytest.mark.parametrize("how", ["read-only", "a file in the way"])
def test_closing_during_training_when_the_autosave_cannot_be_written_offers_to_save_elsewhere(
        qtbot, qsettings, app_paths, tmp_path, monkeypatch, tmpfs, how):
    root = unwritable_root(tmp_path, how, tmpfs)
    win = new_window(qtbot, qsettings)
    monkeypatch.setattr(win.files, "autosave_root", lambda: root)
    win.set_run(Run(load_example("adding"), settings_for_example("adding", epochs=50)))
    win.show()
    elsewhere = tmp_path / "elsewhere"
    # first Cancel (the window stays, with the results), then Save into another folder
    asked = answers(monkeypatch, QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save, folder=elsewhere)
    win.start_training()
    qtbot.waitUntil(lambda: win.session.progress.step > 3, timeout=20000)
    assert not win.close()
    assert win.isVisible() and not win.training and len(asked) == 1
    first, why = asked[0].split("\n")
    assert first == "The trained results of this session are not saved anywhere."
    assert why.startswith("Could not ") and str(root.parent) in why and why.endswith(
        " Save them into another folder before closing, or discard them?")
    step = win.run.trainer.step
    assert step > 3
    assert win.close()
    assert not win.isVisible() and len(asked) == 2
    assert Run.load(elsewhere).trainer.step == step           # the results are kept where the person chose
    assert not root.exists() or list(root.iterdir()) == []


def test_closing_with_unsaved_results_and_no_autosave_can_discard_them(qtbot, qsettings, app_paths, tmp_path,
                                                                        monkeypatch):
    root = unwritable_root(tmp_path, "a file in the way")
    win = new_window(qtbot, qsettings)
    monkeypatch.setattr(win.files, "autosave_root", lambda: root)
    win.set_run(Run(load_example("sine"), settings_for_example("sine", units=2)))
    list(win.run.trainer.steps(max_steps=2))
    win.files.dirty = True
    asked = answers(monkeypatch, QMessageBox.StandardButton.Save, QMessageBox.StandardButton.Discard, folder=None)
    assert win.close()                                          # Save, no folder chosen: asked again; Discard
    assert len(asked) == 2 and asked[1].split("\n")[1].startswith("The run was not saved. Save them into")
