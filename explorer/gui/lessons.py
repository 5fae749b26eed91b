"""Lessons in the window (:mod:`explorer.app.lessons` reads and checks the files).

Help › Lessons opens a built-in lesson, File › Open Lesson… a lesson file, File › Add View to
Lesson… appends what is shown (source, cell, position, held gates, replay epoch, the plot on top,
the backward pass, a caption) to a lesson file. While a lesson is open its caption is shown
under the diagram (large in presenter mode), Page Down / Page Up go to the next / previous
view, and in presenter mode Right / Left do too (outside presenter mode they step time).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import QDockWidget, QFileDialog, QInputDialog, QLabel

from explorer.app.lessons import (Hold, Lesson, LessonError, LessonView, builtin_lessons, load_lesson,
                                  save_lesson)

CAPTION_PX = 15
CAPTION_PRESENTER_PX = 26


class LessonController(QObject):
    """Open, step through and write lessons (see the module docstring)."""

    sigViewShown = Signal(int)          # the index of the view now fully shown (its trace drawn)
    sigLessonFailed = Signal(str)       # the one sentence shown on the banner

    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.lesson: Lesson | None = None
        self.index = -1
        self._pending: LessonView | None = None
        self._source = None                          # (kind, value, cell) last opened by a lesson
        self.caption = QLabel()
        self.caption.setTextFormat(Qt.TextFormat.PlainText)
        self.caption.setWordWrap(True)
        self.caption.setObjectName("lesson_caption")
        self.caption.setContentsMargins(10, 4, 10, 6)
        self.caption.hide()
        central = win.centralWidget().layout()
        central.addWidget(self.caption)
        self._set_caption_font(False)
        for key, slot in (("PgDown", self.next), ("PgUp", self.previous)):
            sc = QShortcut(QKeySequence(key), win)
            sc.setContext(Qt.ShortcutContext.WindowShortcut)
            sc.activated.connect(slot)
        for key, step, view in (("Right", win.timebar.next, self.next), ("Left", win.timebar.previous, self.previous)):
            sc = win.step_shortcuts[key]
            sc.activated.disconnect(step)
            sc.activated.connect(lambda step=step, view=view: view() if self._presenting() else step())
        win.presenter.action.toggled.connect(self._set_caption_font)

    # -- menus -----------------------------------------------------------------------------------------
    def add_actions(self, file_menu, help_menu) -> None:
        """File › Open Lesson…, File › Add View to Lesson… (after Open Model) and Help › Lessons."""
        before = self.win.save_run_action
        for text, slot in (("Open &Lesson…", self.open_lesson_dialog),
                           ("Add &View to Lesson…", self.add_view_dialog)):
            action = QAction(text, self.win)
            action.triggered.connect(slot)
            file_menu.insertAction(before, action)
        menu = help_menu.addMenu("&Lessons")
        try:
            lessons = builtin_lessons()
        except LessonError as exc:                       # a damaged installation: say so, keep the window
            menu.addAction(str(exc)).setEnabled(False)
            return
        for _name, lesson in lessons:
            menu.addAction(lesson.title, lambda lesson=lesson: self.open_lesson(lesson))

    def _presenting(self) -> bool:
        return self.lesson is not None and self.win.presenter.active

    def _set_caption_font(self, presenting: bool) -> None:
        font = QFont(self.caption.font())
        font.setPixelSize(CAPTION_PRESENTER_PX if presenting else CAPTION_PX)
        self.caption.setFont(font)

    # -- opening and stepping --------------------------------------------------------------------------
    def open_lesson_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.win, "Open a lesson", self.win.files.last_folder(),
                                              "Lessons (*.json);;All files (*)")
        if path:
            self.open_lesson(path)

    def open_lesson(self, lesson, present: bool = False) -> bool:
        """Open ``lesson`` (a :class:`Lesson` or a lesson file's path) at its first view; with
        ``present`` enter presenter mode too. False (and a sentence on the banner) when the file
        cannot be used; what is shown stays."""
        if not isinstance(lesson, Lesson):
            try:
                lesson = load_lesson(lesson)
            except LessonError as exc:
                return self._fail(str(exc))
        self.lesson, self.index, self._source = lesson, -1, None
        if present:
            self.win.presenter.set_enabled(True)
        return self.go(0)

    def close_lesson(self) -> None:
        self.lesson, self.index, self._pending = None, -1, None
        self.caption.hide()

    def next(self) -> None:
        if self.lesson is not None and self.index + 1 < len(self.lesson.views):
            self.go(self.index + 1)

    def previous(self) -> None:
        if self.lesson is not None and self.index > 0:
            self.go(self.index - 1)

    def go(self, index: int) -> bool:
        """Show view ``index``: open its source if it is not the one shown, then apply the rest
        once its trace is drawn (:attr:`sigViewShown`)."""
        lesson = self.lesson
        view = lesson.views[index]
        self.index = index
        self.caption.setText(f"{lesson.title} · {index + 1}/{len(lesson.views)}   {view.caption}".rstrip())
        self.caption.show()
        win = self.win
        kind, value = view.source
        wanted = (kind, value, view.cell)
        self._pending = view
        if wanted == self._source and win.run is not None and win.trace is not None:
            self._apply(view)
            return True
        self._source = wanted
        win.sigDataLoaded.connect(self._on_win_data_loaded, Qt.ConnectionType.UniqueConnection)
        win.sigRunOpened.connect(self._on_win_data_loaded, Qt.ConnectionType.UniqueConnection)
        win.sigLoadFailed.connect(self._on_win_load_failed, Qt.ConnectionType.UniqueConnection)
        if kind == "example":
            extra = {"cell": view.cell} if view.cell else {}
            ok = win.files.open_example(value, settings=extra)
        elif kind == "file":
            ok = win.open_file(str(lesson.path_of(view)))
        else:
            ok = win.open_run(str(lesson.path_of(view)))
        if not ok:
            self._disconnect()
            self._source = None
        return ok

    def _disconnect(self) -> None:
        for signal, slot in ((self.win.sigDataLoaded, self._on_win_data_loaded),
                             (self.win.sigRunOpened, self._on_win_data_loaded),
                             (self.win.sigLoadFailed, self._on_win_load_failed)):
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):
                pass

    def _on_win_data_loaded(self, _what) -> None:
        self._disconnect()
        session = self.win.session
        if session.trace is not None:
            self._apply(self._pending)
        else:
            session.events.trace.connect(self._on_session_trace)

    def _on_session_trace(self, trace) -> None:
        if trace is None:
            return
        self.win.session.events.trace.disconnect(self._on_session_trace)
        if self._pending is not None:
            self._apply(self._pending)

    def _on_win_load_failed(self, message) -> None:
        self._disconnect()
        self._source = None
        self.sigLessonFailed.emit(message)

    def _apply(self, view: LessonView) -> None:
        """Everything of ``view`` but its source, on the run shown."""
        win = self.win
        self._pending = None
        win.session.set_position(sample=view.sample, layer=view.layer, direction=view.direction)
        win.session.set_position(t=view.t, unit=view.unit)
        win.interventions.clear()
        for h in view.hold:
            win.interventions.hold(h.gate, h.value, units="all" if h.units is None else list(h.units),
                                   steps=None if h.steps is None else range(*h.steps))
        if view.replay_epoch is not None:
            try:
                win.replay_bar.set_epoch(view.replay_epoch)
            except ValueError as exc:
                win.banner.show_message(f"This lesson's view {self.index + 1} replays epoch {view.replay_epoch}, "
                                        f"which the run does not keep ({exc}).", "warning", topic="lesson")
        if view.tab:
            for dock in win.findChildren(QDockWidget):
                if dock.windowTitle().lower() == view.tab.lower():
                    dock.show()
                    dock.raise_()
        win.backward.action.setChecked(view.backward)
        self.sigViewShown.emit(self.index)

    def _fail(self, message: str) -> bool:
        self.win.banner.show_message(message, "error", topic="lesson")
        self.sigLessonFailed.emit(message)
        return False

    # -- writing ---------------------------------------------------------------------------------------
    def capture(self, caption: str = "", folder: Path | None = None) -> LessonView:
        """The view shown now, as a lesson view (``file``/``run`` relative to ``folder``; a source
        outside it raises :class:`LessonError`)."""
        win = self.win
        run = win.run
        if run is None:
            raise LessonError("Nothing is shown yet; open an example, a file or a run first.")
        cfg = run.dataset.config or {}
        cell = None
        if cfg.get("type") == "example":
            source, cell = ("example", cfg["example"]), run.model.kind
        else:
            path = Path(win.run_folder) if win.run_folder else Path(str(run.dataset.source))
            kind = "run" if win.run_folder else "file"
            base = (folder or Path.cwd()).resolve()
            try:
                rel = path.resolve().relative_to(base)
            except ValueError:
                raise LessonError(f"{path.name} is not inside the lesson's folder {base}; put the "
                                  f"{kind} there (or below it) so the lesson can find it.") from None
            source = (kind, rel.as_posix())
        pos = win.session.position
        src = win.session.source()
        holds = []
        for iv in win.interventions.interventions:
            if not hasattr(iv, "name"):
                continue
            units = None if iv.units is None else tuple(int(u) for u in iv.units)
            steps = None
            if iv.steps is not None:
                s = sorted(int(v) for v in iv.steps)
                steps = (s[0], s[-1] + 1) if s else None
            holds.append(Hold(iv.name, float(iv.value), units, steps))
        tab = None
        for dock in win.plot_docks.values():
            if dock.isVisible() and not dock.visibleRegion().isEmpty():
                tab = dock.windowTitle()
        return LessonView(source=source, cell=cell, sample=pos.sample, t=pos.t, unit=pos.unit,
                          layer=pos.layer, direction=pos.direction, hold=tuple(holds),
                          replay_epoch=src.epoch if src.weights == "epoch" else None,
                          tab=tab, backward=win.backward.action.isChecked(), caption=caption)

    def add_view(self, path, caption: str = "", title: str | None = None) -> Lesson:
        """Append the view shown to the lesson file ``path`` (made if it does not exist)."""
        path = Path(path)
        if path.exists():
            lesson = load_lesson(path)
        else:
            lesson = Lesson(title or path.stem.replace("-", " ").capitalize(), (), path.resolve().parent, path.name)
        view = self.capture(caption, folder=path.resolve().parent)
        lesson = Lesson(lesson.title, lesson.views + (view,), lesson.folder, lesson.name)
        save_lesson(lesson, path)
        return lesson

    def add_view_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.win, "Add the view shown to a lesson",
                                              self.win.files.last_folder(), "Lessons (*.json)",
                                              options=QFileDialog.Option.DontConfirmOverwrite)
        if not path:
            return
        caption, ok = QInputDialog.getMultiLineText(self.win, "Caption", "A sentence or two for this view:")
        if not ok:
            return
        try:
            lesson = self.add_view(path, caption)
        except (LessonError, OSError) as exc:
            self._fail(str(exc) if isinstance(exc, LessonError) else f"Could not write {Path(path).name}: "
                       f"{exc.strerror or exc}.")
            return
        self.win.statusBar().showMessage(f"Added view {len(lesson.views)} to {Path(path).name}.", 8000)
