"""Small helpers shared by the app's windows (the main window and the comparison view)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QToolButton


def make_action(parent, text: str, slot, shortcut: str | None = None, icon=None, tip: str | None = None) -> QAction:
    """A QAction of ``parent`` with an optional standard icon (``QStyle.StandardPixmap``), shortcut
    and tooltip (the text itself when none), triggering ``slot``."""
    a = QAction(text, parent)
    if icon is not None:
        a.setIcon(parent.style().standardIcon(icon))
    if shortcut:
        a.setShortcut(QKeySequence(shortcut))
    a.setToolTip(tip or text)
    a.triggered.connect(slot)
    return a


def add_toolbar(window, title: str, object_name: str, actions):
    """A toolbar of ``window`` with ``actions`` (None: a separator), text beside the icons; its
    buttons take no focus (the window's keys keep stepping time)."""
    tb = window.addToolBar(title)
    tb.setObjectName(object_name)
    tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    for a in actions:
        if a is None:
            tb.addSeparator()
        else:
            tb.addAction(a)
    for w in tb.findChildren(QToolButton):
        w.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    return tb


def add_step_shortcuts(window, timebar, more=()) -> dict:
    """Window-wide keys that step through time with ``timebar`` (Left/Right, Home/End, Space to
    play), and ``more`` (key, slot) pairs; fields being edited keep their keys (they claim them first)."""
    shortcuts = {}
    for key, slot in (("Left", timebar.previous), ("Right", timebar.next), ("Home", timebar.first),
                      ("End", timebar.last), ("Space", timebar.toggle_play), *more):
        sc = QShortcut(QKeySequence(key), window)
        sc.setContext(Qt.ShortcutContext.WindowShortcut)
        sc.activated.connect(slot)
        shortcuts[key] = sc
    return shortcuts


def add_export_menu(file_menu, keys, slot):
    """File › Export: one entry a plot or diagram (``keys``; the key is the action's data), each
    calling ``slot(action)``; returns the submenu."""
    menu = file_menu.addMenu("E&xport")
    for key in keys:
        a = menu.addAction(f"{key.replace('_', ' ').capitalize()}…")
        a.setData(key)
    menu.triggered.connect(slot)
    return menu


def export_failed(exc: OSError, where) -> str:
    """The one sentence for an export that could not be written (``where``: its file or folder)."""
    from explorer.runs.folder import safe_name

    name = Path(exc.filename).name if exc.filename else None
    what = f"{safe_name(name)} into {safe_name(str(where))}" if name and Path(str(where)).is_dir() \
        else safe_name(str(where))
    return (f"Could not export {what}: {exc.strerror or exc}; the file's earlier version, if any, is "
            "unchanged: choose another folder or free some space.")


def export_widget(widget, path) -> None:
    """A plot or diagram as ``path``'s format: .png (twice its own size), .svg or .csv."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".png":
        widget.export_png(str(path), scale=2)
    elif suffix == ".svg":
        widget.export_svg(str(path))
    elif suffix == ".csv":
        widget.export_csv(str(path))
    else:
        raise ValueError(f"unknown export format {suffix!r}")
