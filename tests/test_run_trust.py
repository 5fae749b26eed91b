"""Nothing outside a run folder is ever touched: links planted in any of a run folder's own places
are refused, never followed (the link's target stays byte for byte as it was, whichever writer
meets it); a folder holding the person's own files is refused, never emptied; every writer holds
the same lock and names who holds it; a copy made by a link-following copier opens, resumes,
animates and gets its layout back at the next save."""

import hashlib
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from explorer.cli import main
from explorer.data.examples import load_example
from explorer.runs.folder import CURRENT, LOCK, SWITCH, VERSIONS, WriterLock, current_version, folder_state
from explorer.runs.store import OPTIONAL_FILES, RUN_FILES, ModelSettings, Run, RunFileError, prune_autosaves

ROOT = Path(__file__).resolve().parents[1]
NAMES = RUN_FILES + OPTIONAL_FILES
ENV = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1", QT_QPA_PLATFORM="offscreen")
pytestmark = pytest.mark.skipif(not hasattr(os, "symlink") or os.name != "posix", reason="POSIX links and locks")


def small_run(steps: int = 3) -> Run:
    run = Run(load_example("sine", n_points=200), ModelSettings(units=2, epochs=3, batch=32, seed=3))
    list(run.trainer.steps(max_steps=steps))
    return run


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err.strip()


def snapshot(folder: Path) -> dict:
    """Every entry under ``folder`` (links as their targets, files as their SHA-256)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(folder))
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_file():
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                out[rel] = "dir"
    return out


def make_victim(root: Path) -> Path:
    victim = root / "victim"
    (victim / "photos").mkdir(parents=True)
    (victim / "photos" / "a.jpg").write_bytes(b"\xff\xd8 a photo")
    (victim / "config.json").write_text('{"mine": true}')
    (victim / "notes.txt").write_text("my notes\n")
    return victim


def plant(run_dir: Path, where: str, victim: Path) -> None:
    """A link to ``victim`` (or a file in it) in one of the run folder's own places."""
    vid = current_version(run_dir)
    if where == ".versions":
        shutil.rmtree(run_dir / VERSIONS)
        os.symlink(victim, run_dir / VERSIONS)
    elif where == "version":
        shutil.rmtree(run_dir / VERSIONS / vid)
        os.symlink(victim, run_dir / VERSIONS / vid)
    elif where == "another version":
        os.symlink(victim, run_dir / VERSIONS / "00000000000000000001-1-abcdef")
    elif where == "file in version":
        (run_dir / VERSIONS / vid / "history.csv").unlink()
        os.symlink(victim / "notes.txt", run_dir / VERSIONS / vid / "history.csv")
    elif where == ".current":
        (run_dir / CURRENT).unlink()
        os.symlink(victim, run_dir / CURRENT)
    elif where == ".lock":
        (run_dir / LOCK).unlink(missing_ok=True)
        os.symlink(victim / "notes.txt", run_dir / LOCK)
    elif where == ".switch":
        os.symlink(victim / "notes.txt", run_dir / SWITCH)
    elif where == "name":
        (run_dir / "config.json").unlink()
        os.symlink(victim / "config.json", run_dir / "config.json")
    elif where == "copied .current":
        (run_dir / CURRENT).unlink()
        shutil.copytree(run_dir / VERSIONS / vid, run_dir / CURRENT)
        for n in os.listdir(run_dir / CURRENT):       # every file of the version (the history's chunks too)
            (run_dir / n).unlink()
            shutil.copy(run_dir / CURRENT / n, run_dir / n)
        (run_dir / CURRENT / "steps-000001.npy").unlink()
        os.symlink(victim / "notes.txt", run_dir / CURRENT / "steps-000001.npy")
    else:
        raise AssertionError(where)


PLACES = [".versions", "version", "another version", "file in version", ".current", ".lock", ".switch", "name",
          "copied .current"]


@pytest.mark.parametrize("where", PLACES)
def test_a_link_planted_in_a_run_folder_is_refused_by_every_writer_and_its_target_is_untouched(
        tmp_path, capsys, where):
    victim = make_victim(tmp_path)
    before = snapshot(victim)
    run_dir = tmp_path / "run"
    small_run().save(run_dir)
    plant(run_dir, where, victim)
    planted = snapshot(run_dir)
    # the window's Save Run and autosaves (Run.save), then every command that writes a run folder
    with pytest.raises(RunFileError) as exc:
        small_run(5).save(run_dir)
    assert "is a link" in str(exc.value) or "points at" in str(exc.value)
    assert "\n" not in str(exc.value) and str(exc.value).endswith(".")
    writers = [
        ("train", "--example", "sine", "--units", "2", "--epochs", "1", "--no-plots", "--quiet", "--out", run_dir,
         "--force"),
        ("train", "--resume", run_dir, "--epochs", "2", "--no-plots", "--quiet"),
        ("compare", "--example", "sine", "--cells", "rnn", "--seeds", "1", "--max-steps", "2", "--quiet",
         "--out", run_dir, "--force"),
        ("animate", run_dir, "--out", run_dir / "cell.gif", "--quiet"),
    ]
    for argv in writers:
        code, err = cli(capsys, *argv)
        assert code == 2, (argv[0], err)
        assert err.count("\n") == 0 and "Traceback" not in err and err.endswith("."), err
        assert "is a link" in err or "points at" in err, err
        assert snapshot(victim) == before, f"{argv[0]} changed the link's target"
    assert snapshot(run_dir) == planted                 # refused before anything was written
    assert snapshot(victim) == before


def test_the_issues_trap_a_fresh_folder_whose_versions_is_a_link(tmp_path, capsys):
    victim = make_victim(tmp_path)
    before = snapshot(victim)
    trap = tmp_path / "trap"
    trap.mkdir()
    os.symlink("../victim", trap / VERSIONS)
    code, err = cli(capsys, "train", "--example", "sine", "--units", "2", "--epochs", "1", "--out", trap, "--force")
    assert code == 2 and err == (f"lstm-explorer: {trap / VERSIONS} is a link, not one of the folder's own folders "
                                 "(it leads to ../victim); the run folder is damaged, and nothing in it was changed "
                                 "(remove the link or restore the run from a copy).")
    with pytest.raises(RunFileError, match="is a link"):
        small_run().save(trap)
    assert snapshot(victim) == before and sorted(os.listdir(trap)) == [VERSIONS]


def test_pruning_autosaves_never_follows_a_link(tmp_path):
    victim = make_victim(tmp_path)
    before = snapshot(victim)
    root = tmp_path / "autosave"
    dead = root / "999999999-0123abcd"              # an instance that has ended (no such process)
    small_run().save(dead)
    plant(dead, "version", victim)
    os.symlink(victim, root / "999999998-0123abcd")
    kept = root / "999999997-0123abcd"
    small_run().save(kept)
    (kept / "mine.txt").write_text("not the run's")
    removed = prune_autosaves(root)
    assert removed == [] and snapshot(victim) == before
    assert sorted(os.listdir(kept)) == ["mine.txt"]          # the run's entries went, the person's file stayed
    assert (root / "999999998-0123abcd").is_symlink() and (dead / CURRENT).is_symlink()


# -- folders holding other things ------------------------------------------------------------------
def test_a_folder_of_the_persons_own_files_named_like_run_files_is_refused_never_emptied(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    for name, text in (("config.json", '{"camera": 1}'), ("history.csv", "year,event\n"),
                       ("steps.csv", "a,b\n"), ("holiday.jpg", "jpeg")):
        (mine / name).write_text(text)
    before = snapshot(mine)
    with pytest.raises(RunFileError) as exc:
        small_run().save(mine)
    assert str(exc.value) == (f"{mine / 'config.json'} is not one of the run's files, and {mine} is not a run folder; "
                              "nothing was saved, so that it is not replaced (move it or choose another folder).")
    code, err = cli(capsys, "train", "--example", "sine", "--units", "2", "--epochs", "1", "--no-plots", "--out",
                    mine, "--force")
    assert code == 2 and err == (f"lstm-explorer: --out {mine} holds other things (config.json, history.csv, "
                                 "holiday.jpg, \u2026) and is not a run folder; --force replaces only a run, so choose "
                                 "an empty folder or a run folder.")
    code, err = cli(capsys, "compare", "--example", "sine", "--cells", "rnn", "--seeds", "1", "--max-steps", "2",
                    "--out", mine, "--force")
    assert code == 2 and "is not a run folder" in err
    assert snapshot(mine) == before
    assert folder_state(mine, NAMES, RUN_FILES).kind == "other"


def test_a_file_of_the_persons_at_a_run_name_inside_a_run_folder_stays(tmp_path):
    run_dir = tmp_path / "run"
    run = small_run()
    run.save(run_dir)
    (run_dir / "notes.txt").write_text("mine")              # something else in a run folder: left alone
    first = {n: (run_dir / n).read_bytes() for n in RUN_FILES}
    extra = run_dir / "loss.png"
    extra.write_bytes(b"my own picture")                      # where the next save wants its plot

    def plot(vdir):
        (vdir / "loss.png").write_bytes(b"the run's plot")

    list(run.trainer.steps(max_steps=2))
    with pytest.raises(RunFileError, match="is in the way of the run's loss.png"):
        run.save(run_dir, extra=plot)
    assert extra.read_bytes() == b"my own picture" and {n: (run_dir / n).read_bytes() for n in RUN_FILES} == first
    run.save(run_dir)                                         # without the clash it saves, around the person's files
    assert Run.load(run_dir).trainer.step == 5 and (run_dir / "notes.txt").read_text() == "mine"
    assert extra.read_bytes() == b"my own picture"


# -- one lock, held by every writer ----------------------------------------------------------------
HOLD = r"""
import sys
from explorer.runs.folder import WriterLock
lock = WriterLock(sys.argv[1], command="lstm-explorer train --example sine --out somewhere")
print("held", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def held(tmp_path):
    """A run folder whose lock another process holds (until the test ends)."""
    run_dir = tmp_path / "run"
    small_run().save(run_dir)
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=ENV, cwd=ROOT)
    assert proc.stdout.readline().strip() == "held"
    yield run_dir, proc
    release(proc)


def release(proc) -> None:
    if not proc.stdin.closed:
        proc.stdin.close()
    proc.wait(timeout=30)
    proc.stdout.close()


def holder_words(proc) -> str:
    return (f"is being written by another lstm-explorer (process {proc.pid} on {socket.gethostname()}: "
            "lstm-explorer train --example sine --out somewhere); wait for it to finish (or stop it), then ")


def test_every_writer_is_refused_while_another_process_holds_the_run_and_names_it(held, capsys):
    run_dir, proc = held
    before = snapshot(run_dir)
    with pytest.raises(RunFileError) as exc:
        small_run(5).save(run_dir)
    assert str(exc.value) == f"{run_dir} " + holder_words(proc) + "try again."
    for argv, then in [
        (("train", "--example", "sine", "--units", "2", "--epochs", "1", "--no-plots", "--out", run_dir, "--force"),
         "try again."),
        (("train", "--resume", run_dir, "--epochs", "2", "--no-plots"), "continue with --resume."),
        (("compare", "--example", "sine", "--cells", "rnn", "--seeds", "1", "--max-steps", "2", "--out", run_dir,
          "--force"), "try again."),
        (("animate", run_dir, "--out", run_dir / "cell.gif"), "try again."),
    ]:
        code, err = cli(capsys, *argv)
        assert code == 2 and err == f"lstm-explorer: {run_dir} " + holder_words(proc) + then, (argv[0], err)
    assert snapshot(run_dir) == before
    release(proc)                                        # the holder ends: the folder is free again
    code, err = cli(capsys, "train", "--resume", run_dir, "--epochs", "2", "--no-plots", "--quiet")
    assert code == 0, err
    assert Run.load(run_dir).trainer.epoch == 2


def test_a_new_folder_another_process_holds_refuses_the_first_save(tmp_path, capsys):
    out = tmp_path / "new"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=ENV, cwd=ROOT)
    try:
        assert proc.stdout.readline().strip() == "held"
        code, err = cli(capsys, "train", "--example", "sine", "--units", "2", "--epochs", "1", "--no-plots", "--out",
                        out, "--force")
        assert code == 2 and err == f"lstm-explorer: {out} " + holder_words(proc) + "try again.", err
        assert os.listdir(out) == [LOCK]
    finally:
        release(proc)


# -- portable copies -------------------------------------------------------------------------------
def test_a_copy_made_by_a_link_following_copier_opens_resumes_animates_and_gets_its_layout_back(tmp_path, capsys):
    src = tmp_path / "run"
    run = small_run(7)
    run.save(src)
    names = os.listdir(src / CURRENT)                     # every file of the run (its history's chunks too)
    copy = tmp_path / "copy"
    shutil.copytree(src, copy, symlinks=False)
    assert (copy / CURRENT).is_dir() and not any((copy / n).is_symlink() for n in names)
    opened = Run.load(copy)
    assert opened.trainer.step == 7 and opened.model.params.tobytes() == run.model.params.tobytes()
    code, err = cli(capsys, "animate", copy, "--out", tmp_path / "cell.gif", "--quiet")
    assert code == 0 and (tmp_path / "cell.gif").stat().st_size > 0, err
    assert snapshot(copy) == snapshot(src) | {CURRENT: "dir"} | {             # reading and animating changed nothing
        f"{CURRENT}/{n}": snapshot(src)[f"{VERSIONS}/{current_version(src)}/{n}"] for n in names} | {
        n: snapshot(src)[f"{VERSIONS}/{current_version(src)}/{n}"] for n in names}
    code, err = cli(capsys, "train", "--resume", copy, "--epochs", "2", "--no-plots", "--quiet")
    assert code == 0, err
    vid = current_version(copy)
    assert os.readlink(copy / CURRENT) == f"{VERSIONS}/{vid}" and os.listdir(copy / VERSIONS) == [vid]
    assert all(os.readlink(copy / n) == f"{CURRENT}/{n}" for n in names)
    resumed = Run.load(copy)
    assert resumed.trainer.epoch == resumed.trainer.epochs == 3 and resumed.trainer.step == 15
    assert Run.load(src).trainer.step == 7                # the original is untouched
    code, err = cli(capsys, "train", "--resume", src, "--epochs", "2", "--no-plots", "--quiet")
    assert code == 0, err                                 # the copy continued exactly as the original does
    assert Run.load(src).model.params.tobytes() == resumed.model.params.tobytes()


def test_a_copy_whose_current_became_a_file_opens_and_saves_back_to_links(tmp_path):
    src = tmp_path / "run"
    small_run(4).save(src)
    copy = tmp_path / "copy"
    shutil.copytree(src, copy, symlinks=False)
    shutil.rmtree(copy / CURRENT)
    (copy / CURRENT).write_text(os.readlink(src / CURRENT))   # how some tools keep a link: its target as text
    run = Run.load(copy)
    assert run.trainer.step == 4
    list(run.trainer.steps(max_steps=3))
    run.save(copy)
    assert (copy / CURRENT).is_symlink() and Run.load(copy).trainer.step == 7
    assert len(os.listdir(copy / VERSIONS)) == 1


def test_a_copy_with_a_changed_file_is_refused_by_its_hashes(tmp_path):
    src = tmp_path / "run"
    small_run(4).save(src)
    copy = tmp_path / "copy"
    shutil.copytree(src, copy, symlinks=False)
    text = (copy / "history.csv").read_text()
    (copy / "history.csv").write_text(text + "\n")
    with pytest.raises(RunFileError, match="history.csv"):
        Run.load(copy)


@pytest.mark.parametrize("what", ["folder", "fifo"])
def test_a_lock_that_is_not_a_regular_file_refuses_the_save_and_is_never_waited_on(tmp_path, what):
    run_dir = tmp_path / "run"
    small_run().save(run_dir)
    (run_dir / LOCK).unlink()
    if what == "folder":
        (run_dir / LOCK).mkdir()
    else:
        os.mkfifo(run_dir / LOCK)
    before = snapshot(run_dir)
    with pytest.raises(RunFileError) as exc:
        small_run(5).save(run_dir)
    assert str(exc.value) == (f"{run_dir / LOCK} is not a regular file; the run folder is damaged, and nothing in it "
                              "was changed (remove it or choose another folder).")
    assert snapshot(run_dir) == before and Run.load(run_dir).trainer.step == 3
