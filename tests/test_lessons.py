"""Lessons: the file format (round trip, hostile files refused in one sentence), the built-in
lessons, ``lstm-explorer --lesson FILE`` and stepping through a lesson in the window."""

import json
import os

import pytest

from explorer.app.lessons import (Hold, Lesson, LessonError, LessonView, builtin_lessons, load_lesson,
                                  parse_lesson, save_lesson)


def _write(tmp_path, obj, name="lesson.json"):
    p = tmp_path / name
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj), encoding="utf-8")
    return p


def test_round_trip(tmp_path):
    lesson = Lesson("Forget gate", (
        LessonView(("example", "adding"), cell="gru", sample=3, t=7, unit=2,
                   hold=(Hold("z", 1.0, (2,), (0, 10)),), tab="Memory", caption="Hold z."),
        LessonView(("file", "data/air.csv"), t=4, backward=True, replay_epoch=2, caption="Æ <b>x</b>")))
    path = save_lesson(lesson, tmp_path / "l.json")
    back = load_lesson(path)
    assert back.views == lesson.views and back.title == "Forget gate"
    assert back.path_of(back.views[1]) == tmp_path.resolve() / "data" / "air.csv"
    assert json.loads(path.read_text())["views"][0]["hold"] == [
        {"gate": "z", "value": 1.0, "units": [2], "steps": [0, 10]}]


def test_builtin_lessons_cover_the_five_questions():
    lessons = dict(builtin_lessons())
    titles = [lesson.title for lesson in lessons.values()]
    assert len(titles) == 5
    assert {"Why the forget gate keeps memory", "Counting an LSTM's parameters", "Why a plain RNN forgets",
            "One step's numbers, by hand", "Exploding gradients and clipping"} == set(titles)
    for lesson in lessons.values():
        assert all(v.caption for v in lesson.views)


BAD = [
    ({"views": [{"example": "adding", "colour": "red"}]}, "view 1 has the unknown key 'colour'"),
    ({"title": "x", "views": [], "extra": 1}, "has the unknown key 'extra'"),
    ({"views": []}, "must have views"),
    ({"views": [{"example": "adding"}] * 101}, "must have views: a list of 1 to 100"),
    ({"views": [{"example": "nope"}]}, "is not built in"),
    ({"views": [{"example": "adding", "file": "a.csv"}]}, "more than one source"),
    ({"views": [{"t": 3}]}, "names no source"),
    ({"views": [{"file": "/etc/passwd"}]}, "leaves the lesson's folder"),
    ({"views": [{"file": "../secret.csv"}]}, "leaves the lesson's folder"),
    ({"views": [{"run": "C:\\\\runs\\\\r1"}]}, "leaves the lesson's folder"),
    ({"views": [{"run": "a/../../b"}]}, "leaves the lesson's folder"),
    ({"views": [{"example": "adding", "t": "3"}]}, "has t = '3'"),
    ({"views": [{"example": "adding", "t": True}]}, "has t = True"),
    ({"views": [{"example": "adding", "sample": -1}]}, "has sample = -1"),
    ({"views": [{"example": "adding", "cell": "transformer"}]}, "has cell 'transformer'"),
    ({"views": [{"file": "a.csv", "cell": "gru"}]}, "sets the cell of a file"),
    ({"views": [{"example": "adding", "hold": [{"gate": "q", "value": 1}]}]}, "holds 'q'"),
    ({"views": [{"example": "adding", "hold": [{"gate": "f", "value": "1"}]}]}, "give a finite number"),
    ({"views": [{"example": "adding", "hold": [{"gate": "f", "value": 1, "steps": [5, 5]}]}]}, "is empty"),
    ({"views": [{"example": "adding", "caption": "x" * 401}]}, "at most 400 characters"),
    ({"views": [{"example": "adding", "backward": "yes"}]}, "give true or false"),
    ({"lesson": 7, "views": [{"example": "adding"}]}, "format 7"),
    ([1, 2], "must be a JSON object"),
    ('{"views": [{"example": "adding", "hold": [{"gate": "f", "value": NaN}]}]}', "not valid JSON"),
    ("{not json", "not valid JSON"),
    ("[" * 100000 + "]" * 100000, "larger than 64 KB"),
    ("[" * 30000 + "]" * 30000, "nests too deeply"),
]


@pytest.mark.parametrize("content, words", BAD)
def test_hostile_lessons_are_refused_in_one_sentence(tmp_path, content, words):
    path = _write(tmp_path, content)
    with pytest.raises(LessonError) as err:
        load_lesson(path)
    msg = str(err.value)
    assert words in msg
    assert "\n" not in msg and msg.endswith(".")


def test_huge_not_a_file_and_not_utf8(tmp_path):
    big = _write(tmp_path, json.dumps({"title": "x" * 70000, "views": []}), "big.json")
    with pytest.raises(LessonError, match="larger than 64 KB"):
        load_lesson(big)
    with pytest.raises(LessonError, match="is not a regular file"):
        load_lesson(tmp_path)
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    with pytest.raises(LessonError, match="is not a regular file"):     # never opened: no hang
        load_lesson(fifo)
    latin = tmp_path / "latin.json"
    latin.write_bytes('{"title": "caf\xe9", "views": [{"example": "sine"}]}'.encode("latin-1"))
    with pytest.raises(LessonError, match="not UTF-8"):
        load_lesson(latin)
    with pytest.raises(LessonError, match="Could not open the lesson missing.json"):
        load_lesson(tmp_path / "missing.json")


def test_cli_refuses_a_bad_lesson_before_any_window(tmp_path, capsys, monkeypatch):
    from explorer.cli.command import main
    import explorer.gui.app as gui_app

    monkeypatch.setattr(gui_app, "create_app", lambda: pytest.fail("a window was started"))
    bad = _write(tmp_path, {"views": [{"file": "../../etc/passwd"}]})
    assert main(["--lesson", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lstm-explorer: --lesson: lesson.json: view 1 has file '../../etc/passwd', which leaves")
    assert err.count("\n") == 0


def test_parse_lesson_names_the_file():
    with pytest.raises(LessonError, match=r"^class\.json: view 2 has the unknown key 'zoom'"):
        parse_lesson(json.dumps({"views": [{"example": "sine"}, {"example": "sine", "zoom": 2}]}), "class.json")


# -- the window ------------------------------------------------------------------------------------------
@pytest.fixture
def window(qtbot, qsettings, app_paths):
    from explorer.gui.main_window import MainWindow

    win = MainWindow(settings=qsettings)
    qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
    win.show()
    qtbot.waitExposed(win)
    return win


def test_stepping_through_a_lesson(qtbot, window, tmp_path):
    win = window
    lesson = Lesson("Gates", (
        LessonView(("example", "sine"), cell="gru", sample=2, t=5, unit=1, tab="Memory", caption="First."),
        LessonView(("example", "sine"), cell="gru", sample=2, t=9, unit=3,
                   hold=(Hold("z", 1.0, None, (0, 20)),), tab="Loss", caption="Second <b>bold</b>."),
        LessonView(("example", "sine"), cell="lstm", t=1, caption="Third.")))
    with qtbot.waitSignal(win.lessons.sigViewShown, timeout=20000) as blocker:
        assert win.lessons.open_lesson(lesson)
    assert blocker.args == [0]
    assert win.run.model.kind == "gru"
    pos = win.session.position
    assert (pos.sample, pos.t, pos.unit) == (2, 5, 1)
    assert win.plot_docks["memory"].visibleRegion().isEmpty() is False
    assert win.lessons.caption.text() == "Gates · 1/3   First."

    win.presenter.set_enabled(True, fullscreen=False)
    with qtbot.waitSignal(win.lessons.sigViewShown, timeout=20000) as blocker:
        win.step_shortcuts["Right"].activated.emit()       # presenter mode: Right is the next view
    assert blocker.args == [1]
    pos = win.session.position
    assert (pos.t, pos.unit) == (9, 3)
    ivs = win.interventions.interventions
    assert len(ivs) == 1 and (ivs[0].name, ivs[0].value, ivs[0].units) == ("z", 1.0, None)
    assert win.lessons.caption.text().endswith("Second <b>bold</b>.")       # plain text, as written
    assert win.lessons.caption.textFormat() == win.lessons.caption.textFormat().PlainText
    assert win.lessons.caption.font().pixelSize() == 26

    with qtbot.waitSignal(win.lessons.sigViewShown, timeout=20000):
        win.lessons.next()                                   # another cell: the example opens again
    assert win.run.model.kind == "lstm" and win.interventions.interventions == []

    with qtbot.waitSignal(win.lessons.sigViewShown, timeout=20000) as blocker:
        win.step_shortcuts["Left"].activated.emit()
    assert blocker.args == [1] and win.run.model.kind == "gru"
    win.presenter.set_enabled(False)
    t = win.session.position.t
    win.step_shortcuts["Right"].activated.emit()             # outside presenter mode: time steps
    assert win.session.position.t == t + 1 and win.lessons.index == 1


def test_add_view_writes_what_is_shown(qtbot, window, tmp_path):
    win = window
    with qtbot.waitSignal(win.lessons.sigViewShown, timeout=20000):
        win.lessons.open_lesson(Lesson("L", (LessonView(("example", "sine"), cell="rnn", t=4, unit=2),)))
    win.interventions.hold("h", 0.5, units=[1], steps=range(3, 8))
    path = tmp_path / "mine.json"
    win.lessons.add_view(path, "Hold h.")
    win.session.set_position(t=6)
    lesson = win.lessons.add_view(path, "Later.")
    assert len(lesson.views) == 2
    back = load_lesson(path)
    v = back.views[0]
    assert (v.source, v.cell, v.t, v.unit, v.caption) == (("example", "sine"), "rnn", 4, 2, "Hold h.")
    assert v.hold == (Hold("h", 0.5, (1,), (3, 8)),)
    assert back.views[1].t == 6


def test_a_bad_lesson_in_the_window_keeps_what_is_shown(qtbot, window, tmp_path):
    bad = _write(tmp_path, {"views": [{"run": "/abs"}]})
    with qtbot.waitSignal(window.lessons.sigLessonFailed) as blocker:
        assert window.lessons.open_lesson(bad) is False
    assert "leaves the lesson's folder" in blocker.args[0]
    assert window.banner.label.text() == blocker.args[0]
    assert window.lessons.lesson is None
