"""A folder whose files change together: complete versions and one atomic switch (no NumPy, no Qt).

Layout of a folder DIR saved here::

    DIR/.versions/<id>/NAME   the real files, one folder per version (normally only the current one)
    DIR/.current              relative symlink -> .versions/<id>; saving replaces it by rename()
    DIR/NAME                  relative symlink -> .current/NAME (fixed; the names a reader opens)
    DIR/.lock                 the one writer's lock (flock), holding who it is (:class:`WriterLock`)

A save writes every file of the new version into a new ``.versions/<id>/`` (each flushed to disk),
makes sure every name has its fixed link, and then switches ``.current`` in one ``rename`` -- the
only step that changes what DIR/NAME reads. Killed at any moment before the rename, the folder reads
as the old version; after it, as the new one. Old versions are removed after the switch.

A folder of plain files (round 1, or any folder with real files at the names being saved) is first
converted without changing what it reads: hard links (or copies) of what every name reads now go
into a version of their own, ``.current`` is pointed at it, and each plain file is replaced by its
link in one rename -- at every moment each name reads the same bytes as before.

Nothing outside the folder is ever touched: a link in one of the folder's own places is refused,
never followed, and only what a save writes (a version's regular files, its own temporaries and
links) is ever removed. A copy made by a link-following copier (``.current`` a folder or a file,
plain files at every name) reads as it is and gets its links back at its next save.

Readers call :func:`read_files`, which resolves ``.current`` once and reads every file from that one
version (retrying if a concurrent save removed it meanwhile), so a read never mixes two versions.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import socket
import stat
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable

VERSIONS = ".versions"
CURRENT = ".current"
LOCK = ".lock"
SWITCH = ".switch"          # journal mode only (no symlinks): the id of the last committed version
_TMP_SUFFIX = ".tmp"


class RunFileError(Exception):
    """A run folder cannot be read or written; the message is one plain sentence."""


def safe_name(text) -> str:
    """``text`` (a path, a name or a whole message) with control characters escaped, safe to
    print into a terminal: the data layer's one :func:`explorer.data.errors.safe_name`."""
    from explorer.data.errors import safe_name as _safe_name

    return _safe_name(text, full=True)


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


# -- primitive operations (each one system call that changes the disk) ------------------------
def write_file(path, data: bytes) -> None:
    """Create ``path`` (it must not exist) with ``data``, flushed to disk. Permissions follow the
    umask like any new file (0644 under the usual 022), not mkstemp's 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view[:1 << 22])
            view = view[n:]
        os.fsync(fd)
    finally:
        os.close(fd)


def link_saved(src, target, size: int) -> bool:
    """Hard-link ``src`` (a file of an earlier version) to ``target`` when it is a regular file of
    ``size`` bytes, never following a link; False where it is not or the link fails."""
    try:
        st = os.lstat(src)
        if stat.S_ISREG(st.st_mode) and st.st_size == size:
            os.link(src, target, follow_symlinks=False)
            return True
    except OSError:
        pass
    return False


def _fsync_dir(path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _replace_symlink(target: str, link: Path) -> None:
    """Point ``link`` at ``target`` in one rename (a temporary link, then ``os.replace``)."""
    tmp = link.with_name(f".{link.name}.{secrets.token_hex(4)}{_TMP_SUFFIX}")
    os.symlink(target, tmp)
    try:
        os.replace(tmp, link)
    except BaseException:
        _unlink_quiet(tmp)
        raise


def _unlink_quiet(path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _new_version_id() -> str:
    return f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(3)}"


def version_time(version_id: str) -> float:
    """Seconds since the epoch at which a version was made (from its id; 0 if not one of ours)."""
    try:
        return int(version_id.split("-", 1)[0]) / 1e9
    except ValueError:
        return 0.0


# -- reading ---------------------------------------------------------------------------------
def current_version(folder) -> str | None:
    """The id ``DIR/.current`` points at, or None for a folder of plain files."""
    try:
        target = os.readlink(Path(folder) / CURRENT)
    except OSError:
        return None
    parts = Path(target).parts
    if len(parts) != 2 or parts[0] != VERSIONS or parts[1] in ("", ".", ".."):
        return None
    return parts[1]


def current_dir(folder) -> Path:
    """Where the files of ``folder``'s current state are: its current version, or the folder itself."""
    folder = Path(folder)
    vid = current_version(folder)
    return folder / VERSIONS / vid if vid else folder


def check_current_link(folder: Path, vid: str | None = None) -> None:
    """``DIR/.current`` must name one of the folder's own versions (``.versions/<id>``, a real
    folder inside the real folder DIR/.versions): never one of another run (``../B/.versions/<id>``,
    an absolute path, a version that is itself a link out), which would load that run and let a
    save delete DIR's own. No ``.current`` (a folder of plain files) passes, and so does a
    ``.current`` that a link-following copier turned into a folder or file (a portable copy)."""
    folder = Path(folder)
    link = folder / CURRENT
    st = _lstat(link)
    if st is None or stat.S_ISREG(st.st_mode):
        return
    if stat.S_ISDIR(st.st_mode):
        _check_no_links(link, "file")
        return
    try:
        target = os.readlink(link)
    except OSError:
        target = "something that is not a link"
    vid = current_version(folder) if vid is None else vid
    if vid is not None:
        own = _lstat(folder / VERSIONS / vid)
        if own is None or stat.S_ISDIR(own.st_mode):
            _check_versions_root(folder)
            return                                # (missing: the reader says so, or a save removed it meanwhile)
    raise RunFileError(f"{safe_name(link)} points at {safe_name(target)}, not at a version of this folder "
                       f"(.versions/<id>); the run folder is damaged (restore it from a copy or train again).")


def _lstat(path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _link_refusal(path, what: str) -> RunFileError:
    """The one sentence for a link where a run folder has its own file, version or folder."""
    try:
        target = os.readlink(path)
    except OSError:
        target = "somewhere else"
    return RunFileError(f"{safe_name(path)} is a link, not one of the folder's own {what}s (it leads to "
                        f"{safe_name(target)}); the run folder is damaged, and nothing in it was changed (remove "
                        "the link or restore the run from a copy).")


def _check_no_links(folder: Path, what: str) -> None:
    """Refuse a link among the entries of one of the run folder's own folders."""
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return                                    # removed meanwhile by a save
    for e in entries:
        if e.is_symlink():
            raise _link_refusal(e.path, what)


def _check_versions_root(folder: Path) -> None:
    """``DIR/.versions`` is a real folder, each version in it a real folder, and no file in a
    version is a link (whatever they lead to is never read, written or removed)."""
    vroot = folder / VERSIONS
    st = _lstat(vroot)
    if st is None:
        return
    if stat.S_ISLNK(st.st_mode):
        raise _link_refusal(vroot, "folder")
    if not stat.S_ISDIR(st.st_mode):
        raise RunFileError(f"{safe_name(vroot)} is not a folder; the run folder is damaged, and nothing in it was "
                           "changed (restore it from a copy or choose another folder).")
    for e in list(os.scandir(vroot)):
        if e.is_symlink():
            raise _link_refusal(e.path, "version")
        if e.is_dir(follow_symlinks=False):
            _check_no_links(Path(e.path), "file")


_TEMP = re.compile(r"\..+[.-][0-9a-f]{8}\.tmp")     # the temporaries of this module (see _replace_symlink)
_INTERNAL = (VERSIONS, CURRENT, LOCK, SWITCH)


class FolderState:
    """What a folder holds, as a save sees it.

    ``kind`` is ``"new"`` (nothing there, or only what a save left half-done), ``"run"`` (saved
    here: ``layout`` is ``"links"``, ``"journal"``, ``"copy"`` for a link-following copy, or
    ``"plain"`` for round 1's plain files) or ``"other"`` (a folder holding other things).
    ``foreign`` names the entries that are not the run's."""

    def __init__(self, kind: str, layout: str, foreign: list[str]):
        self.kind, self.layout, self.foreign = kind, layout, foreign


def folder_state(folder, names: Iterable[str] = (), marker: Iterable[str] = ()) -> FolderState:
    """Look at ``folder`` without changing it: its kind, its layout and what in it is not the run's.

    ``names`` are the files the run has (a plain file there is the run's only in a folder saved
    without links or copied); ``marker`` the files whose plain presence makes a round-1 folder.
    Raises :class:`RunFileError` (one sentence) for a link in any of the folder's own places
    (``.versions``, a version or a file in it, ``.current``'s target, ``.lock``, ``.switch``, a
    name of the run) and for a ``folder`` that is a file."""
    folder = Path(folder)
    if not folder.exists():
        if folder.is_symlink():
            raise RunFileError(f"{safe_name(folder)} is a broken link; choose another folder.")
        return FolderState("new", "", [])
    if not folder.is_dir():
        raise RunFileError(f"{safe_name(folder)} is a file, not a folder; choose a folder.")
    check_current_link(folder)
    _check_versions_root(folder)
    for name in (LOCK, SWITCH):
        st = _lstat(folder / name)
        if st is not None and stat.S_ISLNK(st.st_mode):
            raise _link_refusal(folder / name, "file")
    cur = _lstat(folder / CURRENT)
    names = set(names)
    if cur is not None and stat.S_ISLNK(cur.st_mode):
        layout = "links"
    elif _committed(folder) is not None:
        layout = "journal"
    elif cur is not None:
        layout = "copy"
    else:
        marker = list(marker)
        plain = [_lstat(folder / m) for m in marker]
        layout = "plain" if marker and all(st is not None and stat.S_ISREG(st.st_mode) for st in plain) else ""
    foreign = []
    for e in list(os.scandir(folder)):
        n = e.name
        if n in _INTERNAL or _TEMP.fullmatch(n):
            continue
        if e.is_symlink():
            try:
                target = os.readlink(e.path)
            except OSError:
                target = None
            if target == f"{CURRENT}/{n}":
                continue
            if n in names:
                raise _link_refusal(e.path, "file")
        elif n in names and layout and e.is_file(follow_symlinks=False):
            continue                              # the run's file (saved without links, copied, or edited)
        foreign.append(n)
    kind = "run" if layout else ("other" if foreign else "new")
    return FolderState(kind, layout, sorted(foreign))


def read_files(folder, names: Iterable[str], attempts: int = 5,
               more: Callable[[dict], Iterable[str]] | None = None) -> dict[str, bytes | None]:
    """The bytes every ``folder/NAME`` shows (None when there is nothing at that name), where every
    name that is the fixed link into ``.current`` is read from ONE version (resolved once), so a
    save running meanwhile never mixes two states. A name that is something else (a plain file of a
    round-1 folder, a file someone put there) is read as it is. ``more(read)`` names further files
    that what was read lists (the chunks state.json names), read from the same version.

    Raises :class:`RunFileError` when ``folder`` is not a folder or a file cannot be read.
    """
    folder = Path(folder)
    names = list(names)
    for attempt in range(attempts):
        if not folder.is_dir():
            raise RunFileError(f"{safe_name(folder)} is not a run folder (it does not exist or is a file).")
        vid = current_version(folder)
        try:
            check_current_link(folder, vid)
            _check_versions_root(folder)
        except OSError as exc:
            raise RunFileError(f"Could not read {safe_name(folder)}: {_why(exc)}.") from None
        base = folder / VERSIONS / vid if vid else None
        if vid and not base.is_dir():
            if attempt + 1 < attempts and current_version(folder) != vid:
                continue
            raise RunFileError(f"{safe_name(folder / CURRENT)} points at a version that is missing "
                               f"({safe_name(vid)}); the run folder is damaged.")
        journal = None if vid else _committed(folder)
        pending = folder / VERSIONS / journal if journal else None
        out: dict[str, bytes | None] = {}
        try:
            for name in names:
                out[name] = _read_one(folder, name, base, vid, pending)
            for name in (more(out) or () if more is not None else ()):
                if name not in out:
                    out[name] = _read_one(folder, name, base, vid, pending)
        except _Moved:
            continue
        if not vid and _committed(folder) != journal:
            continue                                  # a journal-mode save committed meanwhile
        return out
    raise RunFileError(f"{safe_name(folder)} kept changing while it was read (another program is saving "
                       "into it); try again when it has finished.")


def _read_one(folder: Path, name: str, base: Path | None, vid: str | None,
              pending: Path | None = None) -> bytes | None:
    shown = folder / name
    if pending is not None:                        # journal mode: not yet moved out of the version?
        try:
            return _read_regular(pending / name, shown)
        except OSError:
            pass
    try:
        link = os.readlink(shown)
    except FileNotFoundError:
        return None
    except OSError:
        link = None                               # not a link: a plain file or a folder
    if link is not None and link != f"{CURRENT}/{name}":
        raise _link_refusal(shown, "file")
    path = base / name if base is not None and link is not None else shown
    try:
        return _read_regular(path, shown, follow=path == shown and link is not None)
    except FileNotFoundError:
        if path != shown and current_version(folder) != vid:
            raise _Moved() from None              # a save switched and removed this version meanwhile
        return None
    except IsADirectoryError:
        raise RunFileError(f"{safe_name(shown)} is a folder, not a file; the run folder is damaged.") from None
    except OSError as exc:
        raise RunFileError(f"Could not read {safe_name(shown)}: {_why(exc)}.") from None


class _Moved(Exception):
    pass


def _read_regular(path: Path, shown: Path, follow: bool = False) -> bytes:
    """The bytes of a regular file; a pipe, device or socket in its place is refused at once (opened
    without blocking, never read: a FIFO would wait for a writer forever), and so is a link unless
    ``follow`` (the run's own ``NAME -> .current/NAME`` in a copied folder)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _link_refusal(path, "file") from None
        raise
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(str(path))
        if not stat.S_ISREG(st.st_mode):
            raise RunFileError(f"{safe_name(shown)} is not a regular file (a pipe, device or socket); the run "
                               "folder is damaged (restore it from a copy or train again).")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            return fh.read()
    finally:
        if fd >= 0:
            os.close(fd)


# -- writing ---------------------------------------------------------------------------------
# -- the one lock of every writer ------------------------------------------------------------------
def _writer_command() -> str:
    """This process's command line as the lock shows it to a second writer."""
    import shlex

    args = " ".join(shlex.quote(a) for a in sys.argv[1:])
    return f"lstm-explorer {args}".strip()[:300]


class WriterLock:
    """The one lock every writer of a folder holds (``train``, ``--resume``, ``compare --out``,
    ``animate`` into a run, the window's saves and autosaves): an exclusive POSIX advisory lock
    (``flock``) on ``DIR/.lock``, released when the process ends however it ends. The holder
    writes its process id, host and command into the file, so a writer that is refused says who
    holds the folder. ``wait`` seconds are waited for a holder that is only saving; without
    ``create`` a folder without ``.lock`` (nothing saved yet) is not locked. Elsewhere (no
    ``fcntl``) it holds nothing.

    Raises :class:`RunFileError` when another process holds the folder or ``.lock`` is not a
    regular file of the folder (a link is never followed)."""

    _held: dict[tuple[int, int], "WriterLock"] = {}

    def __init__(self, folder, command: str | None = None, then: str = "try again", wait: float = 0.0,
                 create: bool = True):
        self.folder = Path(folder)
        self._fd = -1
        self._key: tuple[int, int] | None = None
        try:
            import fcntl
        except ImportError:
            return
        lock = self.folder / LOCK
        flags = os.O_RDWR | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(lock, flags | (os.O_CREAT if create else 0), 0o666)
        except FileNotFoundError:
            return                                  # nothing saved yet: the save that makes it locks it
        except OSError as exc:
            if exc.errno == errno.ELOOP or os.path.islink(lock):
                raise _link_refusal(lock, "file") from None
            if exc.errno == errno.EISDIR:
                raise _not_regular(lock) from None
            return                                  # read-only: reading or saving will say why
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise _not_regular(lock)
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise RunFileError(f"{safe_name(self.folder)} is being written by another lstm-explorer "
                                           f"({_holder(fd)}); wait for it to finish (or stop it), then {then}.") from None
                    time.sleep(0.05)
                except OSError:
                    os.close(fd)                    # a file system without locks: nothing is held
                    return
            info = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                               "command": command or _writer_command()}).encode("utf-8")
            os.ftruncate(fd, 0)
            os.pwrite(fd, info + b"\n", 0)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            raise
        self._fd = fd
        st = os.fstat(fd)
        self._key = (st.st_dev, st.st_ino)
        WriterLock._held.setdefault(self._key, self)

    @property
    def held(self) -> bool:
        return self._fd >= 0

    def release(self) -> None:
        if self._fd >= 0:
            if WriterLock._held.get(self._key) is self:
                del WriterLock._held[self._key]
            os.close(self._fd)
            self._fd = -1

    @classmethod
    def held_here(cls, folder) -> bool:
        """Whether this process holds the lock of ``folder``."""
        try:
            st = os.lstat(Path(folder) / LOCK)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) in cls._held


def _not_regular(lock: Path) -> RunFileError:
    return RunFileError(f"{safe_name(lock)} is not a regular file; the run folder is damaged, and nothing in it was "
                        "changed (remove it or choose another folder).")


def _holder(fd: int) -> str:
    """Who holds a lock, from what it wrote into the lock file."""
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
        pid, host, command = int(info["pid"]), str(info["host"]), str(info["command"])
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return "a process that has not said which"
    if len(command) > 120:
        command = command[:119] + "\u2026"
    return f"process {pid} on {safe_name(host)}: {safe_name(command)}"


@contextmanager
def _locked(folder: Path):
    """Hold the folder's :class:`WriterLock` for one save, unless this process holds it already
    (``train`` holds it while it trains; the window while the run is its own)."""
    if WriterLock.held_here(folder):
        yield
        return
    lock = WriterLock(folder, wait=1.0)
    try:
        yield
    finally:
        lock.release()


def _make_folder(folder: Path) -> list[Path]:
    """Create ``folder`` and missing parents; the folders created, outermost first."""
    missing = []
    p = folder
    while not p.exists():
        if p.is_symlink():
            raise RunFileError(f"Could not create the folder {safe_name(folder)}: {safe_name(p)} is a broken link.")
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    if p.exists() and not p.is_dir():
        raise RunFileError(f"Could not create the folder {safe_name(folder)}: {safe_name(p)} is a file, not a folder.")
    created = []
    for d in reversed(missing):
        try:
            os.mkdir(d)
        except FileExistsError:
            continue
        except OSError as exc:
            _remove_created(created)
            raise RunFileError(f"Could not create the folder {safe_name(d)}: {_why(exc)}; choose a folder you "
                               "can write to.") from None
        created.append(d)
    return created


def _remove_created(created: list[Path]) -> None:
    """Remove the folders this call created: the innermost with what this call wrote into it, its
    parents only while empty (another process may have started using them meanwhile)."""
    for i, d in enumerate(reversed(created)):
        if i == 0:
            remove_run_folder(d)
        else:
            try:
                os.rmdir(d)
            except OSError:
                return


def probe_writable(folder) -> None:
    """Refuse, with one sentence, a folder that cannot be written -- and leave nothing behind.

    Creates the folder (and parents) if needed, writes and removes a small file, then removes what
    it created. Raises :class:`RunFileError`.
    """
    folder = Path(folder)
    created = _make_folder(folder)
    probe = folder / f".probe-{secrets.token_hex(4)}{_TMP_SUFFIX}"
    try:
        write_file(probe, b"lstm-explorer")
    except OSError as exc:
        raise RunFileError(f"Could not write into {safe_name(folder)}: {_why(exc)}; choose a folder you can "
                           "write to.") from None
    finally:
        _unlink_quiet(probe)
        _remove_created(created)


def save_version(folder, write: Callable[[Path], None], keep: Iterable[str] = (),
                 marker: Iterable[str] = ()) -> str:
    """Save a new version of ``folder``: ``write(version_dir)`` writes its files, then one switch.

    ``keep`` names files that belong to the folder's state (a plain one among them is converted
    even when the new version lacks it); ``marker`` the files whose plain presence makes a round-1
    folder (see :func:`folder_state`). A file of someone else's at one of these names, or at a name
    the new version writes, is never replaced: the save is refused. A link in any of the folder's
    own places is never followed: the folder is refused before anything is written. A copy made
    by a link-following copier gets its links back. The save holds the folder's
    :class:`WriterLock` (refused when another process holds it).

    On any failure (an ``OSError`` from ``write`` included) nothing the folder reads has changed
    and the partial version is removed; a folder this call created is removed again. Raises
    :class:`RunFileError` (one sentence) for disk errors and re-raises anything else. Returns the
    new version's id.
    """
    folder = Path(folder)
    keep, marker = tuple(keep), tuple(marker)
    _check_state(folder, keep, marker)
    created = _make_folder(folder)
    fresh = bool(created)
    vdir = None
    try:
        with _locked(folder):
            state = _check_state(folder, keep, marker)
            had_run = state.kind == "run"
            try:
                os.makedirs(folder / VERSIONS, exist_ok=True)
            except OSError as exc:
                raise RunFileError(f"Could not write into {safe_name(folder)}: {_why(exc)}.") from None
            vid = _new_version_id()
            vdir = folder / VERSIONS / vid
            try:
                _roll_forward(folder)                # a journal-mode save interrupted after its commit
                if state.layout == "copy":
                    _set_aside_copied_current(folder)
                links = _symlinks_work(folder)
                os.mkdir(vdir)
                write(vdir)
                _fsync_files(vdir)
                names = sorted(p.name for p in vdir.iterdir() if p.is_file())
                if links:           # plain files of the run become links (in a linked folder: only its names)
                    _convert_plain_files(folder, set(keep) | (set(names) if state.layout != "links" else set()))
                    for name in names:
                        _ensure_link(folder, name)
                    _replace_symlink(f"{VERSIONS}/{vid}", folder / CURRENT)
                else:
                    _commit_journal(folder, vid)
                _fsync_dir(folder)
            except OSError as exc:
                where = exc.filename if isinstance(exc.filename, (str, Path)) else folder
                try:
                    where = folder / Path(where).relative_to(vdir)     # the name the person knows
                except ValueError:
                    pass
                kept = (f"no run was saved in {safe_name(folder)}" if fresh or not had_run else
                        f"the run in {safe_name(folder)} is unchanged")
                raise RunFileError(f"Could not write {safe_name(where)}: {_why(exc)}; {kept} (free some space "
                                   "or choose another folder).") from None
            vdir = None
            if not links:
                try:
                    _roll_forward(folder)            # committed: from here on only tidying
                except OSError:
                    pass                             # the next save or read completes it
            _collect(folder, vid)
            return vid
    except BaseException:
        # remove the new version unless the switch happened (an interrupt can land just after it)
        committed = vdir is not None and vdir.name in (current_version(folder), _committed(folder))
        if not committed:
            if vdir is not None:
                _remove_version(vdir.parent, vdir.name)
            if fresh:
                _remove_created(created)
        raise


def _check_state(folder: Path, keep: tuple, marker: tuple) -> FolderState:
    """:func:`folder_state`, refusing a file of someone else's at one of the run's names."""
    try:
        state = folder_state(folder, keep, marker)
    except OSError as exc:
        raise RunFileError(f"Could not read {safe_name(folder)}: {_why(exc)}; choose another folder.") from None
    clash = [n for n in state.foreign if n in keep]
    if clash:
        raise RunFileError(f"{safe_name(folder / clash[0])} is not one of the run's files, and {safe_name(folder)} "
                           "is not a run folder; nothing was saved, so that it is not replaced (move it or choose "
                           "another folder).")
    return state


def _set_aside_copied_current(folder: Path) -> None:
    """A copy made by a link-following copier has ``.current`` as a folder (or a file) and plain
    files at every name: the folder becomes one of the versions (collected after the switch)
    and the plain files are converted like round 1's, so the folder gets its layout back."""
    cur = folder / CURRENT
    st = _lstat(cur)
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        os.rename(cur, folder / VERSIONS / _new_version_id())
    elif stat.S_ISREG(st.st_mode) and st.st_size <= 4096:
        os.unlink(cur)


def _fsync_files(vdir: Path) -> None:
    """Flush every file of a new version (those written by ``write_file`` already are; others,
    e.g. plots drawn by Qt, are not) and the version folder itself."""
    for p in vdir.iterdir():
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    _fsync_dir(vdir)


def _symlinks_work(folder: Path) -> bool:
    """Whether this file system takes symbolic links (FAT, exFAT and some network shares do not)."""
    if (folder / CURRENT).is_symlink():
        return True
    probe = folder / f".link-probe-{secrets.token_hex(4)}{_TMP_SUFFIX}"
    try:
        os.symlink(CURRENT, probe)
    except OSError:
        return False
    _unlink_quiet(probe)
    return True


# -- journal mode: for file systems without symbolic links -------------------------------------
# DIR/NAME are plain files. A save writes the new version into .versions/<id>/, then commits by
# replacing DIR/.switch (holding <id>) in one rename, then moves each file of the version over
# DIR/NAME. Readers read a name from the committed version while it is still there, else DIR/NAME
# (moved: also the new state), and re-read when .switch changed meanwhile; the next save completes
# the moves of a save killed after its commit. (Programs that read DIR/NAME directly may see a mix
# until then; with symbolic links they never do.)
def _committed(folder: Path) -> str | None:
    try:
        fd = os.open(folder / SWITCH, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
                     | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        vid = os.read(fd, 256).decode("ascii").strip() if stat.S_ISREG(os.fstat(fd).st_mode) else ""
    except (OSError, UnicodeDecodeError):
        return None
    finally:
        os.close(fd)
    return vid if vid and "/" not in vid and vid not in (".", "..") else None


def _commit_journal(folder: Path, vid: str) -> None:
    tmp = folder / f".switch.{secrets.token_hex(4)}{_TMP_SUFFIX}"
    try:
        write_file(tmp, f"{vid}\n".encode("ascii"))
        os.replace(tmp, folder / SWITCH)                # the commit
    except BaseException:
        _unlink_quiet(tmp)
        raise


def _roll_forward(folder: Path) -> None:
    """Move the files of a committed version still in .versions/ to DIR/NAME."""
    vid = _committed(folder)
    vdir = folder / VERSIONS / vid if vid else None
    if vdir is None or not vdir.is_dir():
        return
    for name in sorted(os.listdir(vdir)):
        os.replace(vdir / name, folder / name)
    _fsync_dir(folder)
    os.rmdir(vdir)


def _ensure_link(folder: Path, name: str) -> None:
    """``DIR/NAME`` becomes the fixed link ``.current/NAME``; anything else there (a file of
    someone else's, a link elsewhere, a folder) is never replaced: the save is refused."""
    link = folder / name
    want = f"{CURRENT}/{name}"
    st = _lstat(link)
    if st is not None and stat.S_ISLNK(st.st_mode):
        if os.readlink(link) == want:
            return
        raise _link_refusal(link, "file")
    if st is not None:
        raise RunFileError(f"{safe_name(link)} is in the way of the run's {name} (a file or folder that is not the "
                           "run's); nothing was saved, so that it is not replaced (move it or choose another folder).")
    _replace_symlink(want, link)


def _convert_plain_files(folder: Path, names: set[str]) -> None:
    """Turn plain files at ``names`` into links without changing what any name reads."""
    plain = sorted(n for n in names if (folder / n).is_file() and not (folder / n).is_symlink())
    if not plain:
        return
    # 1. a version holding what every name reads now (hard links; copies where links fail)
    vid = _new_version_id()
    vdir = folder / VERSIONS / vid
    os.mkdir(vdir)
    cur = current_dir(folder)
    linked = sorted(n for n in names if n not in plain and (folder / n).is_symlink()
                    and (cur / n).is_file())
    sources = {n: folder / n for n in plain} | {n: cur / n for n in linked}
    for name, src in sources.items():
        try:
            os.link(src, vdir / name)
        except OSError:
            write_file(vdir / name, Path(src).read_bytes())
    _fsync_dir(vdir)
    # 2. the same state, now through .current
    _replace_symlink(f"{VERSIONS}/{vid}", folder / CURRENT)
    # 3. each plain file becomes its link (it reads the same bytes before and after)
    for name in plain:
        _replace_symlink(f"{CURRENT}/{name}", folder / name)
    _fsync_dir(folder)


def _collect(folder: Path, keep_id: str) -> None:
    """After a switch: remove other versions, leftover temporaries and links to files the current
    version does not have -- only what this module writes (a version's regular files, its own
    temporaries and links), never following a link. Errors are ignored (the next save tries again)."""
    vroot = folder / VERSIONS
    st = _lstat(vroot)
    entries = []
    if st is not None and stat.S_ISDIR(st.st_mode):
        try:
            entries = list(os.scandir(vroot))
        except OSError:
            entries = []
    for e in entries:
        if e.name != keep_id and e.is_dir(follow_symlinks=False):
            _remove_version(vroot, e.name)
    cur = vroot / keep_id
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for e in entries:
        if _TEMP.fullmatch(e.name) and (e.is_symlink() or e.is_file(follow_symlinks=False)):
            _unlink_quiet(e.path)                   # a temporary of a save that was killed
            continue
        if not e.is_symlink():
            continue
        try:
            target = os.readlink(e.path)
        except OSError:
            continue
        if target == f"{CURRENT}/{e.name}" and _lstat(cur / e.name) is None:
            _unlink_quiet(e.path)


def _remove_version(parent: Path, name: str) -> None:
    """Remove the version folder ``parent/name``: its regular files, then the folder. A link is
    never followed (the folder is opened with ``O_NOFOLLOW`` and its files removed relative to
    it); anything else in it was not written here and stays, and so does the folder then."""
    path = parent / name
    if os.unlink in os.supports_dir_fd and os.scandir in os.supports_fd:
        flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags)
        except OSError:
            return
        try:
            for e in list(os.scandir(fd)):
                if e.is_file(follow_symlinks=False):
                    try:
                        os.unlink(e.name, dir_fd=fd)
                    except OSError:
                        pass
        except OSError:
            pass
        finally:
            os.close(fd)
    else:
        st = _lstat(path)
        if st is None or not stat.S_ISDIR(st.st_mode):
            return
        try:
            for e in list(os.scandir(path)):
                if e.is_file(follow_symlinks=False):
                    _unlink_quiet(e.path)
        except OSError:
            pass
    try:
        os.rmdir(path)
    except OSError:
        pass


def remove_run_folder(folder, names: Iterable[str] = ()) -> None:
    """Remove a folder written here (an autosave nobody will be offered again, a failed first
    save): its versions, ``.current``, ``.lock``, ``.switch``, temporaries, its links into
    ``.current`` and plain files at ``names``, then the folder if that left it empty. A folder with
    a link in one of its own places is left as it is; nothing else in it is removed."""
    folder = Path(folder)
    names = set(names)
    try:
        state = folder_state(folder, names)
    except (RunFileError, OSError):
        return
    if state.kind == "new" and not folder.is_dir():
        return
    vroot = folder / VERSIONS
    cur = _lstat(folder / CURRENT)
    if cur is not None and stat.S_ISDIR(cur.st_mode):
        _remove_version(folder, CURRENT)
    if _lstat(vroot) is not None:
        for e in list(os.scandir(vroot)):
            if e.is_dir(follow_symlinks=False):
                _remove_version(vroot, e.name)
        try:
            os.rmdir(vroot)
        except OSError:
            pass
    for e in list(os.scandir(folder)):
        n = e.name
        if e.is_symlink():
            try:
                ours = os.readlink(e.path) in (f"{CURRENT}/{n}",) or n == CURRENT or _TEMP.fullmatch(n)
            except OSError:
                ours = False
        else:
            ours = e.is_file(follow_symlinks=False) and (
                n in (LOCK, SWITCH, CURRENT) or _TEMP.fullmatch(n) or (n in names and state.layout != "links"))
        if ours:
            _unlink_quiet(e.path)
    try:
        os.rmdir(folder)
    except OSError:
        pass
