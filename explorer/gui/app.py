"""Start the window: ``lstm-explorer [FILE]``, ``lstm-explorer-gui [FILE]``, ``python -m explorer``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from explorer.app.window_args import TREE_CELLS, window_parser


def _args(argv):
    p = window_parser()
    args = p.parse_args(argv)
    if args.compare is not None:
        _check_compare(p, args)
    if args.lesson is not None and args.compare is not None:
        print(f"{p.prog}: --lesson opens the main window; leave out --compare.", file=sys.stderr)
        raise SystemExit(2)
    return args


def _check_compare(parser, args) -> None:
    """``--compare CELLS``: two to four known cells, each once, and nothing it cannot honour — else
    one sentence on stderr and exit status 2."""
    from explorer.data.examples import list_examples
    from explorer.gui.comparison import parse_cells

    def refuse(sentence):
        print(f"{parser.prog}: {sentence}", file=sys.stderr)
        raise SystemExit(2)

    from explorer.gui.pool_comparison import is_labelled_request

    try:                                   # labelled sequences: one cell, with and without attention
        args.compare = parse_cells(args.compare, least=1 if is_labelled_request(args.file, args.example) else None)
    except ValueError as exc:
        refuse(f"--compare {args.compare!r} {exc}")
    if args.cell or args.model:
        refuse(f"--compare trains the cells it names; leave out {'--cell' if args.cell else '--model'}.")
    if args.file and args.example:
        refuse("--compare takes FILE or --example NAME, not both.")
    names = [n for n, _ in list_examples()]
    if args.example and args.example not in names:
        refuse(f"--example {args.example!r} is not a built-in example; choose one of {', '.join(names)}.")


def _labelled(args) -> bool:
    """A labelled example, or a file of labelled sequences by its form (.ts, NAME_TRAIN/NAME_TEST)."""
    from explorer.data.examples import LABELLED_EXAMPLES
    from explorer.data.labelled import looks_labelled

    return args.example in LABELLED_EXAMPLES or bool(args.file and looks_labelled(args.file))


def create_app():
    """The QApplication, created once, with the app's names and icon."""
    import explorer.gui  # noqa: F401  (PySide6 before pyqtgraph)
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from explorer.util.assets import resource_path

    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0]])
    app.setApplicationName("LSTM Explorer")
    # no organisation: the data folder is one level ("…/LSTM Explorer", not ".../LSTM Explorer/LSTM
    # Explorer"); settings keep their file through QSettings("LSTM Explorer", "LSTM Explorer").
    # No application display name either: Qt would append it to the title ("… — LSTM Explorer" twice)
    app.setOrganizationName("")
    app.setDesktopFileName("lstm-explorer")
    app.setWindowIcon(QIcon(str(resource_path("icons", "lstm-explorer.svg"))))
    from explorer.gui.main_gc import collect_on_gui_thread

    collect_on_gui_thread(app)           # workers never run the cyclic collector over Qt objects
    return app


def build_window(file: str | None = None, example: str | None = None, model: str | None = None,
                 settings=None, cell: str | None = None):
    """A shown main window on the start example (FILE, if given, loads off the GUI thread; MODEL's
    weights go onto FILE's data once it has loaded, or onto the example's), its model a ``cell``
    ("lstm", "peephole", "gru", "rnn"; default lstm) that FILE then keeps. ``settings``: the
    QSettings store (default: the person's)."""
    from explorer.data.examples import load_example
    from explorer.gui.main_gc import settle_now
    from explorer.gui.main_window import START_EXAMPLE, START_SETTINGS, MainWindow
    from explorer.runs.store import Run, settings_for_example

    win = MainWindow(settings)
    settle_now()                         # freeze what lives as long as the program, before any data
    name = example or START_EXAMPLE
    extra = dict(START_SETTINGS) if name == START_EXAMPLE else {}
    if cell is not None:
        extra["cell"] = cell
    win.set_run(Run(load_example(name), settings_for_example(name, **extra)))   # small; drawn by a worker
    win.show()
    win.diagram.setFocus()
    if model:
        open_model_file(win, model, after_load=bool(file))
    if file:
        win.open_file(file)
    elif not model:
        win.offer_autosave()
    return win


def build_tree_window(source: str, cell: str | None = None):
    """A shown :class:`~explorer.gui.tree_window.TreeWindow` on ``source`` (a tree run folder, a tree
    file or a tree example); a refusal is one sentence on stderr and None."""
    from explorer.gui.tree_window import TreeWindow, tree_run_from

    try:
        run, title = tree_run_from(source, None if cell not in TREE_CELLS else cell)
    except (ValueError, OSError, KeyError) as exc:
        print(f"lstm-explorer: {exc}", file=sys.stderr, flush=True)
        return None
    win = TreeWindow(run, title)
    win.resize(1600, 1000)
    win.show()
    return win


def open_model_file(win, path, after_load: bool = False) -> bool:
    """``--model MODEL``: open MODEL on the window's data — at once, or on the data of the file
    being loaded once it arrives (``after_load``; if that file fails, the model is not opened).
    The same path as File › Open Model (:class:`explorer.gui.models.ModelController`): the file
    is read off the GUI thread; a refusal is one sentence on the banner and the current run stays."""
    return win.models.open_model(path, after_load=after_load)


def no_display(environ=None, platform: str | None = None) -> str:
    """Why the window cannot open here, in one sentence ('' when it can): on Linux and the BSDs a
    window needs an X or Wayland display unless ``QT_QPA_PLATFORM`` names another platform (Qt
    itself would abort with several lines and exit 134)."""
    env = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if not (platform.startswith("linux") or "bsd" in platform):
        return ""
    if env.get("QT_QPA_PLATFORM") or env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return ""
    return ("there is no display to open the window on (DISPLAY and WAYLAND_DISPLAY are not set); run it in a "
            "desktop session, or train on the command line: lstm-explorer train FILE --out DIR.")


def main(argv: list[str] | None = None) -> int:
    from explorer.util.threads import limit_blas_threads

    limit_blas_threads()
    args = _args(list(sys.argv[1:] if argv is None else argv))
    from explorer.data.frames import FRAME_EXAMPLES

    if args.example in FRAME_EXAMPLES:
        print(f"lstm-explorer: --example {args.example} is frames for the convlstm cell; train it with: lstm-explorer "
              f"train --example {args.example} --cell convlstm --out DIR, then open DIR.", file=sys.stderr, flush=True)
        return 2
    lesson = None
    if args.lesson is not None:
        from explorer.app.lessons import LessonError, load_lesson

        try:
            lesson = load_lesson(args.lesson)
        except LessonError as exc:
            print(f"lstm-explorer: --lesson: {exc}", file=sys.stderr, flush=True)
            return 2
    from explorer.engine.blas import ThreadSettingError, get_threads

    try:
        get_threads()
    except ThreadSettingError as exc:
        print(f"lstm-explorer: {exc}", file=sys.stderr, flush=True)
        return 2
    problem = no_display()
    if problem:
        print(f"lstm-explorer: {problem}", file=sys.stderr, flush=True)
        return 2
    frames_run = labelled_run = None
    if args.file and not args.compare:
        from explorer.app.labelled import LabelledRun, is_labelled_run

        if is_labelled_run(args.file):            # a labelled run: the attention window, saving there
            from explorer.data import SequenceFileError
            from explorer.runs.folder import RunFileError
            from explorer.util.ram import MemoryBudgetError

            try:
                labelled_run = LabelledRun.load(args.file)
            except (RunFileError, SequenceFileError, MemoryBudgetError, ValueError, OSError) as exc:
                print(f"lstm-explorer: {exc}", file=sys.stderr, flush=True)
                return 2
        from explorer.app.frames_run import FramesRun, is_frames_run

        if is_frames_run(args.file):              # a ConvLSTM run: its own window
            from explorer.data import SequenceFileError
            from explorer.util.ram import MemoryBudgetError
            from explorer.runs.folder import RunFileError

            try:
                frames_run = FramesRun.load(args.file)
                frames_run.check_drawable(args.file)
            except (RunFileError, SequenceFileError, MemoryBudgetError, OSError) as exc:
                print(f"lstm-explorer: {exc}", file=sys.stderr, flush=True)
                return 2
    app = create_app()
    from explorer.gui.crash import install_excepthook

    install_excepthook()            # an exception in a slot: a dialog and a log line, not a dead app
    if args.trees or args.cell in TREE_CELLS:
        win = build_tree_window(args.trees or args.file or args.example or "arithmetic", args.cell)
        if win is None:
            return 2
        return app.exec()
    if args.compare:
        from explorer.gui.comparison import build_comparison

        win = build_comparison(args.compare, args.file, args.example)
    elif frames_run is not None:
        from explorer.gui.convlstm_window import ConvLSTMWindow

        win = ConvLSTMWindow(frames_run, Path(args.file).name, folder=args.file)
        win.show()
    elif labelled_run is not None:
        from explorer.gui.attention_window import AttentionWindow

        win = AttentionWindow(labelled_run, folder=args.file)
        win.show()
    elif _labelled(args):
        from explorer.gui.attention_window import build_attention_window

        win = build_attention_window(args.file, args.example)
    else:
        win = build_window(args.file, args.example, args.model, cell=args.cell)
        if lesson is not None:
            win.lessons.open_lesson(lesson, present=True)
    if args.quit_after_paint:
        _quit_after_first_paint(app, win)
    rc = app.exec()
    win.after_close()               # a step under way or a file still being read: let it finish
    return rc


def _quit_after_first_paint(app, win, timeout_ms: int = 60000) -> None:
    """Quit once the window's cell diagram has really painted (its first paint event, after the
    window was exposed); exit with 1 if that never happens within ``timeout_ms``."""
    from PySide6.QtCore import QEvent, QObject, QTimer

    class PaintWatch(QObject):
        def eventFilter(self, obj, event):  # noqa: N802
            if event.type() == QEvent.Type.Paint and not self.property("painted"):
                self.setProperty("painted", True)
                QTimer.singleShot(0, app.quit)      # after this paint pass has been flushed
            return False

    watch = PaintWatch(win)
    win.diagram.installEventFilter(watch)
    QTimer.singleShot(timeout_ms, lambda: app.exit(1))


if __name__ == "__main__":
    sys.exit(main())
