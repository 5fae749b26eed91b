"""Exports are written whole or not at all and a failed one is said as failed: a full disk leaves the
earlier file untouched (no truncated PNG, no stray temporary file) and the banner names the file and
the reason; nothing is reported as exported that was not."""

import pytest

from explorer.data.examples import load_example
from explorer.runs.store import Run, settings_for_example

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def window(qtbot, qsettings, app_paths):
    from explorer.gui.main_window import MainWindow

    win = MainWindow(settings=qsettings)
    win.set_run(Run(load_example("sine"), settings_for_example("sine", units=3, epochs=1)))
    qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
    win.show()
    qtbot.waitUntil(lambda: win.trace is not None, timeout=20000)
    return win


def full_disk(tmpfs):
    """A tiny disk with a file kept at ``old.*`` names and the rest filled up."""
    disk = tmpfs("64k")
    for name in ("diagram.png", "diagram.svg", "equations.png", "equations.svg", "loss.png"):
        (disk / name).write_bytes(b"old " + name.encode())
    with open(disk / "filler", "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 512)
        except OSError:
            pass
    return disk


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("key, ext", [("diagram", "png"), ("diagram", "svg"), ("diagram", "csv"), ("loss", "png")])
def test_a_failed_export_is_said_and_leaves_the_earlier_file(window, tmpfs, key, ext):
    disk = full_disk(tmpfs)
    path = disk / f"{key}.{ext}"
    before = path.read_bytes() if path.exists() else None
    assert window.export_one(key, path) is False
    assert window.banner.label.text() == (f"Could not export {path}: No space left on device; the file's earlier "
                                          "version, if any, is unchanged: choose another folder or free some space.")
    assert (path.read_bytes() if path.exists() else None) == before
    assert leftovers(disk) == []


def test_equations_exports_raise_and_leave_the_earlier_file(window, tmpfs):
    disk = full_disk(tmpfs)
    for ext in ("png", "svg"):
        path = disk / f"equations.{ext}"
        with pytest.raises(OSError) as err:
            getattr(window.equations, f"export_{ext}")(str(path))
        assert err.value.strerror == "No space left on device" and err.value.filename == str(path)
        assert path.read_bytes() == f"old equations.{ext}".encode()
    assert leftovers(disk) == []


def test_export_all_stops_at_the_first_failure_and_says_which(window, tmpfs):
    disk = full_disk(tmpfs)
    written = window.export_all(disk)
    assert written == []
    assert window.banner.label.text().startswith(f"Could not export loss.png into {disk}: No space left on device;")
    assert (disk / "loss.png").read_bytes() == b"old loss.png"
    assert leftovers(disk) == []


def test_a_successful_export_replaces_the_file_whole(window, tmp_path):
    path = tmp_path / "diagram.png"
    path.write_bytes(b"old")
    assert window.export_one("diagram", path) is True
    assert path.read_bytes().startswith(PNG) and path.stat().st_size > 10_000
    assert oct(path.stat().st_mode & 0o777) != "0o600"          # ordinary permissions, not a temp file's
    window.equations.export_svg(str(tmp_path / "equations.svg"))
    assert (tmp_path / "equations.svg").read_text().rstrip().endswith("</svg>")
    assert leftovers(tmp_path) == []
