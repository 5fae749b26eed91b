"""A folder whose files change together: complete versions and one atomic switch (no NumPy, no Qt).

Layout of a folder DIR saved here::

    DIR/.versions/<id>/NAME   the real files, one folder per version (normally only the current one)
    DIR/.current              relative symlink -> .versions/<id>; saving replaces it by rename()
    DIR/NAME                  relative symlink -> .current/NAME (fixed; the names a reader opens)
    DIR/.lock                 locked (flock) while a process saves into DIR

A save writes every file of the new version into a new ``.versions/<id>/`` (each flushed to disk),
makes sure every name has its fixed link, and then switches ``.current`` in one ``rename`` -- the
only step that changes what DIR/NAME reads. Killed at any moment before the rename, the folder reads
as the old version; after it, as the new one. Old versions are removed after the switch.

A folder of plain files (round 1, or any folder with real files at the names being saved) is first
converted without changing what it reads: hard links (or copies) of what every name reads now go
into a version of their own, ``.current`` is pointed at it, and each plain file is replaced by its
link in one rename -- at every moment each name reads the same bytes as before.

Readers call :func:`read_files`, which resolves ``.current`` once and reads every file from that one
version (retrying if a concurrent save removed it meanwhile), so a read never mixes two versions.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import stat
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
    """``DIR/.current`` must name one of the folder's own versions (``.versions/<id>``, a folder
    inside DIR/.versions): never one of another run (``../B/.versions/<id>``, an absolute path, a
    version that is itself a link out), which would load that run and let a save delete DIR's own.
    No ``.current`` (a folder of plain files) passes."""
    link = Path(folder) / CURRENT
    try:
        target = os.readlink(link)
    except FileNotFoundError:
        return
    except OSError:
        target = "something that is not a link"
    vid = current_version(folder) if vid is None else vid
    inside = False
    if vid is not None:
        try:
            real = Path(os.path.realpath(Path(folder) / VERSIONS / vid))
            inside = real.parent == Path(os.path.realpath(Path(folder) / VERSIONS))
        except (OSError, ValueError):
            inside = False
    if not inside:
        raise RunFileError(f"{safe_name(link)} points at {safe_name(target)}, not at a version of this folder "
                           f"(.versions/<id>); the run folder is damaged (restore it from a copy or train again).")


def read_files(folder, names: Iterable[str], attempts: int = 5) -> dict[str, bytes | None]:
    """The bytes every ``folder/NAME`` shows (None when there is nothing at that name), where every
    name that is the fixed link into ``.current`` is read from ONE version (resolved once), so a
    save running meanwhile never mixes two states. A name that is something else (a plain file of a
    round-1 folder, a file someone put there) is read as it is.

    Raises :class:`RunFileError` when ``folder`` is not a folder or a file cannot be read.
    """
    folder = Path(folder)
    names = list(names)
    for attempt in range(attempts):
        if not folder.is_dir():
            raise RunFileError(f"{safe_name(folder)} is not a run folder (it does not exist or is a file).")
        vid = current_version(folder)
        check_current_link(folder, vid)
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
    path = base / name if base is not None and link == f"{CURRENT}/{name}" else shown
    try:
        return _read_regular(path, shown)
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


def _read_regular(path: Path, shown: Path) -> bytes:
    """The bytes of a regular file; a pipe, device or socket in its place is refused at once (opened
    without blocking, never read: a FIFO would wait for a writer forever)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
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
@contextmanager
def _locked(folder: Path):
    """Hold an exclusive lock on ``folder/.lock`` (serialises saves of several processes)."""
    try:
        import fcntl
    except ImportError:                      # not POSIX: no locking
        yield
        return
    try:
        fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            pass
        yield
    finally:
        os.close(fd)


class TrainingLock:
    """An exclusive hold on a run folder while a process trains into it (a POSIX advisory lock on
    the folder itself, released when the process ends, however it ends; no file is written), so a
    second ``train --resume DIR`` is refused instead of silently overwriting the first one's epochs.
    Saves keep their own lock (:data:`LOCK`). Elsewhere (no ``fcntl``) it holds nothing."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self._fd = -1
        try:
            import fcntl
        except ImportError:
            return
        try:
            fd = os.open(self.folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return                                  # cannot be opened: reading the run will say why
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise RunFileError(f"{safe_name(self.folder)} is being trained by another lstm-explorer right now; "
                               "wait for it to finish (or stop it), then continue with --resume.") from None
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


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
            shutil.rmtree(d, ignore_errors=True)
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


def save_version(folder, write: Callable[[Path], None], keep: Iterable[str] = ()) -> str:
    """Save a new version of ``folder``: ``write(version_dir)`` writes its files, then one switch.

    ``keep`` names files that belong to the folder's state (a plain one among them is converted
    even when the new version lacks it). On any failure (an ``OSError`` from ``write`` included)
    nothing the folder reads has changed and the partial version is removed; a folder this call
    created is removed again. Raises :class:`RunFileError` (one sentence) for disk errors and
    re-raises anything else. Returns the new version's id.
    """
    folder = Path(folder)
    created = _make_folder(folder)
    fresh = bool(created)
    had_run = current_version(folder) is not None or _committed(folder) is not None or any(
        (folder / n).is_file() for n in keep)
    vdir = None
    try:
        try:
            os.makedirs(folder / VERSIONS, exist_ok=True)
        except OSError as exc:
            raise RunFileError(f"Could not write into {safe_name(folder)}: {_why(exc)}.") from None
        with _locked(folder):
            vid = _new_version_id()
            vdir = folder / VERSIONS / vid
            try:
                _roll_forward(folder)                # a journal-mode save interrupted after its commit
                links = _symlinks_work(folder)
                os.mkdir(vdir)
                write(vdir)
                _fsync_files(vdir)
                names = sorted(p.name for p in vdir.iterdir() if p.is_file())
                if links:
                    _convert_plain_files(folder, set(names) | set(keep))
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
                shutil.rmtree(vdir, ignore_errors=True)
            if fresh:
                _remove_created(created)
        raise


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
        vid = (folder / SWITCH).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
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
    link = folder / name
    want = f"{CURRENT}/{name}"
    try:
        if os.readlink(link) == want:
            return
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno != errno.EINVAL:            # EINVAL: exists but is not a link
            raise
    if link.exists() and not link.is_symlink():
        raise RunFileError(f"{safe_name(link)} is in the way of the run's {name} (a folder or other file); "
                           "move it or choose another folder.")
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
    version does not have. Errors are ignored (the next save tries again)."""
    vroot = folder / VERSIONS
    try:
        entries = list(os.scandir(vroot))
    except OSError:
        entries = []
    for e in entries:
        if e.name != keep_id:
            if e.is_dir(follow_symlinks=False):
                shutil.rmtree(e.path, ignore_errors=True)
            else:
                _unlink_quiet(e.path)
    cur = vroot / keep_id
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for e in entries:
        if e.name.startswith(".") and e.name.endswith(_TMP_SUFFIX) and not e.is_dir(follow_symlinks=False):
            _unlink_quiet(e.path)                   # a temporary of a save that was killed
            continue
        if not e.is_symlink():
            continue
        try:
            target = os.readlink(e.path)
        except OSError:
            continue
        if target.startswith(f"{CURRENT}/") and not (cur / target[len(CURRENT) + 1:]).exists():
            _unlink_quiet(e.path)
