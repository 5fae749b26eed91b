"""Controllers get their collaborators explicitly: built and driven here without a MainWindow, with
fakes for what they report to; and one mechanism for "a newer request supersedes the older"."""

from __future__ import annotations

import ast
import csv
import threading
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from explorer.app import Session  # noqa: E402
from explorer.data.examples import load_example  # noqa: E402
from explorer.runs.store import Run, settings_for_example  # noqa: E402

GUI = Path(__file__).resolve().parents[1] / "explorer" / "gui"

#: Modules whose classes are controllers: given collaborators, never the window.
CONTROLLER_MODULES = ("training.py", "files.py", "models.py", "export.py", "status.py", "position_selector.py",
                      "animation_export.py", "backward.py", "replay.py", "units_panel.py", "edit_input.py",
                      "interventions.py")


def _reaches_into(path: Path) -> list[str]:
    """Every place ``path`` names a window (``win``, ``.win``) or reads a private attribute
    (``_name``) of another object (anything but ``self``, ``cls`` and ``super()``)."""
    return _window_names(path) + _privates(path)


def _window_names(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Name) and node.id == "win":
            found.append(f"{path.name}:{node.lineno}: win")
        elif isinstance(node, ast.Attribute) and node.attr == "win":
            found.append(f"{path.name}:{node.lineno}: .win")
    return found


def _privates(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "super":
                continue
            found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_controller_reaches_into_the_window_or_another_objects_privates(tmp_path):
    found = [hit for name in CONTROLLER_MODULES for hit in _reaches_into(GUI / name)]
    assert found == []
    # the check itself finds both kinds of reaching in
    bad = tmp_path / "bad.py"
    bad.write_text("class C:\n    def f(self, win, pp):\n        win.banner.show()\n        pp._lay.add(self._x)\n"
                   "        super()._g()\n")
    assert sorted(_reaches_into(bad)) == ["bad.py:3: win", "bad.py:4: pp._lay"]


def test_no_window_module_reads_another_objects_privates():
    assert [hit for path in sorted(GUI.glob("*.py")) for hit in _privates(path)] == []


class FakeStatus:
    """A StatusSink that remembers what it was told."""

    def __init__(self):
        self.lines, self.messages, self.resolved, self.progress, self.widgets = [], [], [], [], []
        self.updates = 0

    def show_status(self, text, timeout_ms=0):
        self.lines.append(text)

    def clear_status(self):
        self.lines.append("")

    def task_progress(self, progress):
        self.progress.append(progress)

    def update_progress(self):
        self.updates += 1

    def show_message(self, text, kind="info", actions=(), topic=""):
        self.messages.append((kind, topic, text))

    def resolve(self, *topics):
        self.resolved.extend(topics)

    def add_permanent_widget(self, widget):
        self.widgets.append(widget)


class FakeFiles:
    def __init__(self, root):
        self.root, self.started, self.finished = root, [], 0

    def autosave_root(self):
        return self.root

    def training_started(self, root):
        self.started.append(root)

    def training_finished(self):
        self.finished += 1


class FakeDisplay:
    def __init__(self):
        self.applied, self.requests = [], []

    def apply(self, display):
        self.applied.append(display)

    def request(self, **kw):
        self.requests.append(kw)


@pytest.fixture
def threads(qtbot):
    from explorer.gui.worker import ThreadRegistry

    reg = ThreadRegistry()
    yield reg
    reg.shutdown(5.0)


def _training(qtbot, threads, tmp_path, epochs):
    from explorer.gui.training import TrainingController

    session = Session()
    session.set_run(Run(load_example("sine"), settings_for_example("sine", units=4, epochs=epochs)))
    status, files, display = FakeStatus(), FakeFiles(tmp_path / "autosave"), FakeDisplay()
    ctl = TrainingController(session, threads, status, settings=lambda base: base, files=files, display=display)
    states = []
    session.events.training.connect(states.append)
    return ctl, session, status, files, display, states


def test_the_training_controller_trains_the_sessions_run_and_reports_without_a_window(qtbot, threads, tmp_path):
    ctl, session, status, files, display, states = _training(qtbot, threads, tmp_path, epochs=1)
    run = session.run
    with qtbot.waitSignal(ctl.sigFinished, timeout=60000) as fin:
        ctl.start()
        assert ctl.training and session.training == "running"
    assert fin.args == ["done"] and not ctl.training
    assert states == ["running", "idle"]
    assert run.trainer.step == run.trainer.total_steps > 0
    assert session.progress.step == run.trainer.step                 # every update reached the session
    assert len(session.history) >= 1 and ctl.runner.redraws >= 1
    assert files.started == [tmp_path / "autosave"] and files.finished == 1
    assert status.lines[0] == "Training…" and status.lines[-1] == "Training finished."
    assert status.progress[-1] == (1.0, "") and ("error", "training") not in [m[:2] for m in status.messages]
    assert len(display.applied) == 1 and display.applied[0].trace is not None   # the final display, drawn


def test_the_training_controller_pauses_follows_the_sample_and_stops(qtbot, threads, tmp_path):
    ctl, session, status, files, display, states = _training(qtbot, threads, tmp_path, epochs=2000)
    ctl.start()
    qtbot.waitUntil(lambda: session.progress.step >= 3, timeout=60000)
    ctl.set_sample(2)
    assert ctl.worker.state.sample == 2                            # the one channel to the worker
    ctl.toggle_pause()
    assert ctl.paused and session.training == "paused" and status.lines[-1].startswith("Paused")
    ctl.toggle_pause()
    assert not ctl.paused and session.training == "running"
    with qtbot.waitSignal(ctl.sigFinished, timeout=60000) as fin:
        ctl.stop()
    assert fin.args == ["stopped"] and states == ["running", "paused", "running", "idle"]
    tr = session.run.trainer
    assert 3 <= tr.step < tr.total_steps and session.progress.step == tr.step
    assert status.lines[-1] == "Training stopped; Train continues from here." and files.finished == 1


def test_a_newer_request_supersedes_the_older_one_which_is_cancelled(qtbot, threads):
    from explorer.gui.worker import LatestTask

    task = LatestTask(threads)
    results, first_results, first_errors = [], [], []
    task.sigResult.connect(results.append)
    running = threading.Event()

    def slow(state):
        running.set()
        while True:                           # until interrupted
            state.check()
            running.wait(0.005)

    task.start(slow, tag="first", on_result=first_results.append, on_error=lambda *a: first_errors.append(a))
    first = task.worker
    assert running.wait(30)
    with qtbot.waitSignal(task.sigResult, timeout=30000) as got:
        task.start(lambda state: 42, tag="second")
    assert got.args == [42] and task.tag == "second"
    qtbot.waitUntil(lambda: threads.count() == 0, timeout=30000)
    assert first.done.is_set() and first.interrupted
    assert results == [42] and first_results == [] and first_errors == []


def test_the_files_controller_opens_the_newest_of_two_quick_requests_and_refuses_a_bad_file(
        qtbot, threads, qsettings, app_paths, tmp_path):
    from explorer.gui.files import FilesController

    session, status, display, shown = Session(), FakeStatus(), FakeDisplay(), []

    def show_run(run, first, folder):
        shown.append(run.dataset.source)
        session.set_run(run)

    files = FilesController(session, threads, status, qsettings=qsettings, data_options=lambda: {},
                            model_settings=lambda base: settings_for_example("sine"),
                            confirm_stop=lambda why: True, display=display, show_run=show_run)
    with qtbot.waitSignal(files.sigDataLoaded, timeout=60000) as loaded:
        assert files.open_example("sine") and files.open_example("adding")
    assert loaded.args[0].source == "adding"
    qtbot.waitUntil(lambda: not files.loader.busy and threads.count() == 0, timeout=60000)
    assert shown == ["adding"] and session.run.dataset.source == "adding"       # the older never shown
    assert len(display.applied) == 1 and display.applied[0].predictions is not None  # the newer's predictions
    assert status.resolved[:2] == ["load", "data"] and files.recent_files() == []   # examples are not recent

    bad = tmp_path / "empty.csv"
    bad.write_text("")
    with qtbot.waitSignal(files.sigLoadFailed, timeout=60000) as failed:
        files.open_file(bad)
    assert "empty.csv" in failed.args[0] and status.messages[-1] == ("error", "load", failed.args[0])
    assert status.lines[-1] == "Could not load the file; the previous data stays loaded."
    assert session.run.dataset.source == "adding" and shown == ["adding"]


def test_the_model_controller_refuses_a_model_without_data_without_a_window(qtbot, threads, qsettings):
    from explorer.gui.files import FilesController
    from explorer.gui.models import ModelController

    session, status = Session(), FakeStatus()
    files = FilesController(session, threads, status, qsettings=qsettings, data_options=lambda: {},
                            model_settings=lambda base: base, confirm_stop=lambda why: True, display=FakeDisplay(),
                            show_run=lambda *a: None)
    models = ModelController(session, status, files=files, confirm_stop=lambda why: True, show_run=lambda *a: None)
    with qtbot.waitSignal(models.sigModelFailed, timeout=5000) as failed:
        assert models.open_model("weights.safetensors") is False
    assert failed.args[0].startswith("weights.safetensors needs data to run on")
    assert status.messages == [("error", "model", failed.args[0])] and not models.busy


def test_the_export_controller_exports_any_widgets_it_is_given(qtbot, tmp_path):
    from explorer.figures.plots import CurvesPlotWidget
    from explorer.gui.export import ExportController

    plot = CurvesPlotWidget("Loss", log_y=False)
    qtbot.addWidget(plot)
    plot.add_curve("a", [1, 2, 3], [0.5, 0.25, 0.125], "#0072B2")
    status, flushed = FakeStatus(), []
    ex = ExportController(lambda: {"loss": plot}, status, flush=lambda: flushed.append(1))
    written = ex.export_all(tmp_path / "out")
    assert [p.name for p in written] == ["loss.png", "loss.svg", "loss.csv"]
    assert all(p.stat().st_size > 0 for p in written) and flushed
    with open(tmp_path / "out" / "loss.csv") as fh:
        assert [float(r["y"]) for r in csv.DictReader(fh)] == [0.5, 0.25, 0.125]
    assert status.lines[-1] == f"Exported 3 files to {tmp_path / 'out'}" and status.progress[-1] == (1.0, "")
    assert ex.task is None and ex.cancel_button in status.widgets and ex.cancel_button.isHidden()
    blocked = tmp_path / "file"
    blocked.write_text("x")
    assert ex.export_all(blocked / "out") == []
    assert status.messages[-1][:2] == ("error", "export") and "file" in status.messages[-1][2]


def test_one_position_selector_follows_and_moves_a_session_with_or_without_a_run(qtbot):
    from explorer.gui.position_selector import PositionSelectorWidget

    session = Session()
    sel = PositionSelectorWidget(session)
    qtbot.addWidget(sel)
    run = Run(load_example("sine"), settings_for_example("sine", units=6))
    session.set_run(run)
    assert sel.sample_spin.maximum() == session.n_samples() - 1 == run.dataset.n_val - 1
    assert sel.unit_spin.maximum() == 5
    sel.sample_spin.setValue(3)
    sel.unit_spin.setValue(4)
    assert (session.position.sample, session.position.unit) == (3, 4)
    session.set_position(unit=2, sample=1)
    assert (sel.sample_spin.value(), sel.unit_spin.value()) == (1, 2)
    # a comparison cell's session holds traces only: the ranges are given
    cell = Session()
    other = PositionSelectorWidget(cell)
    qtbot.addWidget(other)
    other.set_ranges(samples=10, units=3)
    other.unit_spin.setValue(7)                       # beyond the units: held at the last one
    assert other.unit_spin.maximum() == 2 and cell.position.unit == 2
    other.sample_spin.setValue(9)
    assert cell.position.sample == 9


def test_the_settings_panel_fills_itself_from_a_run(qtbot):
    from explorer.gui.settings_panel import SettingsPanelWidget

    panel = SettingsPanelWidget()
    qtbot.addWidget(panel)
    assert panel.example_combo.findData("adding") > 0             # it offers the built-in examples itself
    run = Run(load_example("adding"), settings_for_example("adding", units=7))
    panel.show_run(run)
    assert panel.source_label.text() == "example: adding" and panel.units_spin.value() == 7
    assert panel.target_combo.currentText() == "the marked sum" and not panel.target_combo.isEnabled()
    assert panel.chosen_columns() == list(run.dataset.columns) and not panel.columns_list.isEnabled()
    panel.show_run(run, folder="/runs/first")
    assert panel.source_label.text() == "run: first (data: example: adding)"
    assert panel.source_label.toolTip() == "<p>/runs/first<br>\ndata: adding</p>"     # escaped, plain text


def test_the_training_runner_applies_every_update_merged_at_its_pace(qtbot, threads):
    from explorer.gui.training import TrainingRunner

    applied = []
    runner = TrainingRunner(threads, applied.append, merge=lambda updates: list(updates))

    def task(state):
        for k in range(300):
            state.set_partial_result(k)
        return "end"

    with qtbot.waitSignal(runner.sigDone, timeout=30000) as done:
        runner.start(task, sample=3)
        assert runner.running and runner.worker.state.sample == 3
    assert done.args[0].result == "end" and not runner.running
    assert [k for batch in applied for k in batch] == list(range(300))     # nothing lost, in order
    assert runner.redraws == len(applied) < 300                             # merged: fewer redraws than updates


def test_the_comparison_draws_only_the_newest_of_two_quick_sample_choices(qtbot):
    from explorer.gui.comparison import ComparisonWindow

    cw = ComparisonWindow(load_example("adding"), settings_for_example("adding", units=4), ["rnn", "lstm"],
                          max_steps=10, eval_every=10)
    qtbot.addWidget(cw, before_close_func=lambda w: (w.close(), w.after_close()))
    with qtbot.waitSignal(cw.sigFinished, timeout=60000):
        assert cw.start()
    drawn = []
    cw.sigResult.connect(drawn.append)
    with qtbot.waitSignal(cw.sigResult, timeout=60000):
        cw.sample_spin.setValue(1)
        cw.sample_spin.setValue(2)
    qtbot.waitUntil(lambda: not cw.aux.busy and cw.threads.count() == 0, timeout=30000)
    assert [r.results[0].sample for r in drawn] == [2]                     # the older request never drawn
    assert all(s.position.sample == 2 for s in cw.sessions)
