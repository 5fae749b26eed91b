"""A run folder is whole after a crash at any moment: killed after every single file operation of a
save (from a versioned folder and from a round-1 folder of plain files), killed at random moments
of `train --resume`, on a full disk; and resuming it gives bit for bit the run never interrupted."""

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from explorer.cli import main
from explorer.data.examples import load_example
from explorer.runs.folder import CURRENT, VERSIONS, read_files
from explorer.runs.store import OPTIONAL_FILES, RUN_FILES, ModelSettings, Run, RunFileError

ROOT = Path(__file__).resolve().parents[1]
SAVED = RUN_FILES + ("epoch-000000.npz", "steps-000001.npy")      # what every save here writes
#: what a reader may see: the files of older folders, the history's chunk files, the epochs' files
NAMES = RUN_FILES + OPTIONAL_FILES + tuple(f"steps-{i:06d}.npy" for i in range(1, 4)) + tuple(
    f"epoch-{i:06d}.npz" for i in range(4))
ENV = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1", QT_QPA_PLATFORM="offscreen")


def small_run():
    return Run(load_example("sine", n_points=200), ModelSettings(units=5, epochs=3, batch=16, lr=0.02, seed=2))


def visible_files(folder: Path) -> dict:
    """What a reader opening DIR/NAME sees (None for a missing name)."""
    return {n: (folder / n).read_bytes() if (folder / n).exists() else None for n in NAMES}


# Saves `run` (loaded from the template, 7 steps further) into a copy of the template, in a child
# that os._exit()s right after the k-th operation that changes the disk, for k = 1, 2, ... until a
# save completes. Every os-level call that writes, links, renames, creates or removes is counted.
CRASH_EVERY_OP = r"""
import json, os, shutil, sys
from pathlib import Path
from explorer.runs.store import Run
template, work = Path(sys.argv[1]), Path(sys.argv[2])
if sys.argv[3:] == ["nosymlinks"]:                  # a file system without symbolic links (FAT, exFAT)
    def no_symlinks(*a, **kw):
        raise OSError(1, "Operation not permitted")
    os.symlink = no_symlinks
run = Run.load(template)
list(run.trainer.steps(max_steps=7))
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT

def arm(k):
    count = [0]
    for name in ("open", "write", "fsync", "close", "mkdir", "rmdir", "unlink", "symlink", "replace",
                 "rename", "link", "fchmod", "chmod"):
        real = getattr(os, name)
        def wrapped(*a, _real=real, _name=name, **kw):
            if _name == "open" and not (a[1] & WRITE_FLAGS):
                return _real(*a, **kw)
            result = _real(*a, **kw)
            count[0] += 1
            if count[0] >= k:
                os._exit(77)
            return result
        setattr(os, name, wrapped)

codes = []
for k in range(1, 500):
    dst = work / f"k{k:03d}"
    shutil.copytree(template, dst, symlinks=True)
    pid = os.fork()
    if pid == 0:
        arm(k)
        run.save(dst)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    codes.append(os.waitstatus_to_exitcode(status))
    if codes[-1] != 77:
        break
print(json.dumps(codes))
"""


def write_plain_folder(run: Run, folder: Path) -> None:
    """A run folder as round 1 wrote it: plain files, no versions."""
    folder.mkdir(parents=True)
    for name, data in run.files().items():
        (folder / name).write_bytes(data)


@pytest.mark.parametrize("layout", ["versions", "plain", "nosymlinks"])
def test_killed_after_every_file_operation_the_folder_is_one_state_and_resumes_exactly(tmp_path, layout):
    ref = small_run()
    list(ref.trainer.steps())
    a = small_run()
    list(a.trainer.steps(max_steps=5))
    template = tmp_path / "A"
    if layout == "versions":
        a.save(template)
    else:
        write_plain_folder(a, template)
    state_a = visible_files(template)
    b = Run.load(template)
    list(b.trainer.steps(max_steps=7))
    state_b = {n: b.files().get(n) for n in NAMES}
    assert state_a != state_b

    work = tmp_path / "work"
    work.mkdir()
    res = subprocess.run([sys.executable, "-c", CRASH_EVERY_OP, str(template), str(work), layout], env=ENV,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    codes = json.loads(res.stdout)
    assert codes[-1] == 0 and set(codes[:-1]) == {77}
    assert len(codes) > (60 if layout == "plain" else 35)          # every operation of the save was a kill point
    # what a reader sees: DIR/NAME directly, or (without symbolic links) through the run's reader
    seen_by = visible_files if layout != "nosymlinks" else (lambda f: read_files(f, NAMES))
    seen = []
    for k in range(1, len(codes) + 1):
        folder = work / f"k{k:03d}"
        files = seen_by(folder)
        assert files in (state_a, state_b), f"torn after operation {k}"
        seen.append("A" if files == state_a else "B")
        run = Run.load(folder)
        assert run.trainer.step == (5 if files == state_a else 12)
        list(run.trainer.steps())
        assert run.model.params.tobytes() == ref.model.params.tobytes(), f"resume after operation {k}"
        assert run.trainer.history == ref.trainer.history
    # the switch is one operation: every kill before it reads A, every kill after it reads B
    flip = seen.index("B")
    assert seen == ["A"] * flip + ["B"] * (len(seen) - flip) and 10 < flip < len(seen)
    # a crashed folder takes the next save and is tidy afterwards: one version, no temporaries
    for k in (3, flip - 1, flip + 1):
        folder = work / f"k{k:03d}"
        run = Run.load(folder)
        list(run.trainer.steps(max_steps=2))
        run.save(folder)
        assert Run.load(folder).trainer.step == run.trainer.step
        assert len(list((folder / VERSIONS).iterdir())) == 1
        assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
        assert all((folder / n).is_symlink() for n in SAVED)
    if layout == "nosymlinks":                      # the completed save left plain files of state B
        last = work / f"k{len(codes):03d}"
        assert visible_files(last) == state_b and not any((last / n).is_symlink() for n in SAVED)
        assert list((last / VERSIONS).iterdir()) == []


def test_the_folder_layout_is_versions_and_one_switch(tmp_path):
    run = small_run()
    list(run.trainer.steps(max_steps=4))
    folder = tmp_path / "r"
    run.save(folder)
    vid = os.readlink(folder / CURRENT)
    assert vid.startswith(f"{VERSIONS}/") and not Path(vid).is_absolute()
    for name in SAVED:
        assert os.readlink(folder / name) == f"{CURRENT}/{name}"
        mode = (folder / VERSIONS / Path(vid).name / name).stat().st_mode & 0o777
        assert mode == 0o666 & ~_umask(), (name, oct(mode))
    list(run.trainer.steps(max_steps=4))
    run.save(folder)
    assert os.readlink(folder / CURRENT) != vid
    assert [p.name for p in (folder / VERSIONS).iterdir()] == [Path(os.readlink(folder / CURRENT)).name]
    # the files read where README says: DIR/NAME
    with open(folder / "state.json") as fh:
        assert json.load(fh)["step"] == 8


def _umask():
    old = os.umask(0o022)
    os.umask(old)
    return old


def test_run_files_get_normal_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        run = small_run()
        list(run.trainer.steps(max_steps=2))          # a chunk of history too
        run.save(tmp_path / "r")
    finally:
        os.umask(old)
    for name in SAVED:
        assert ((tmp_path / "r" / name).stat().st_mode & 0o777) == 0o644, name


# -- a full disk -----------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmpfs):
    """A 320 KiB tmpfs (root only; the patched-writer test below covers other machines)."""
    return tmpfs("320k")


def fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` until about ``leave`` bytes are free."""
    filler = disk / "filler"
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize
    filler.write_bytes(b"\0" * max(free - leave, 0))
    return filler


def one_sentence(text: str) -> bool:
    text = text.strip()
    return "\n" not in text and "Traceback" not in text and text.endswith(".")


def saved_and_trained_on(folder: Path, more: int):
    """A run saved into ``folder`` after 5 steps, then trained ``more`` steps; and what ``folder`` shows."""
    run = small_run()
    list(run.trainer.steps(max_steps=5))
    run.save(folder)
    before = visible_files(folder)
    list(run.trainer.steps(max_steps=more))
    return run, before


def test_full_disk_keeps_the_old_run_whole(small_disk):
    folder = small_disk / "run"
    run, before = saved_and_trained_on(folder, 20)
    filler = fill(small_disk, 8 * 1024)
    with pytest.raises(RunFileError) as info:
        run.save(folder)
    msg = str(info.value)
    assert "No space left on device" in msg and one_sentence(msg) and str(folder) in msg
    assert visible_files(folder) == before and Run.load(folder).trainer.step == 5
    assert len(list((folder / VERSIONS).iterdir())) == 1           # the partial version is gone
    filler.unlink()
    run.save(folder)
    assert Run.load(folder).trainer.step == 25


def test_full_disk_during_train_exits_2_with_one_sentence_and_keeps_the_checkpoint(small_disk):
    # the run files fit, the plots (about 1 MB) do not: the final save fails, the first checkpoint stays
    out = small_disk / "run"
    res = subprocess.run([sys.executable, "-m", "explorer", "train", "--example", "sine", "--units", "4",
                          "--epochs", "1", "--out", str(out), "--quiet"], env=ENV, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 2, res.stderr
    assert one_sentence(res.stderr) and "No space left on device" in res.stderr
    # the rule: a run that trained keeps its last checkpoint at --out, and the sentence says so
    assert f"the final save at step 49 failed (could not write {out}" in res.stderr, res.stderr
    assert f"{out} keeps the checkpoint of step 0 (continue from it with: lstm-explorer train --resume {out})" \
        in res.stderr
    back = Run.load(out)
    assert back.trainer.step == 0 and back.settings.units == 4
    assert len(list((out / VERSIONS).iterdir())) == 1


def test_full_disk_by_a_patched_writer(tmp_path, monkeypatch):
    import explorer.runs.store as runs

    folder = tmp_path / "run"
    run, before = saved_and_trained_on(folder, 5)
    # the second save's new chunk and epoch (the first ones are linked)
    for victim in RUN_FILES + ("epoch-000001.npz", "steps-000002.npy"):
        real = runs.write_file

        def full(path, data, victim=victim):
            if Path(path).name == victim:
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
            return real(path, data)

        monkeypatch.setattr(runs, "write_file", full)
        with pytest.raises(RunFileError, match=f"{victim}: No space left on device"):
            run.save(folder)
        monkeypatch.setattr(runs, "write_file", real)
        assert visible_files(folder) == before
        assert len(list((folder / VERSIONS).iterdir())) == 1


# -- the real command, killed ------------------------------------------------------------------------
def same_run(a: Path, b: Path) -> None:
    """Two run folders hold the same trained run: files byte for byte, the per-step history row for row
    (in chunks cut by different saves)."""
    for name in ("history.csv", "model.npz", "optimizer.npz"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    ta, tb = Run.load(a).step_table(), Run.load(b).step_table()
    for k, v in ta.items():
        assert v.tobytes() == tb[k].tobytes(), k


def test_sigkill_of_resume_at_random_moments_never_tears_the_run(tmp_path):
    common = ["--example", "sine", "--units", "3", "--seed", "4", "--quiet"]
    ref = tmp_path / "ref"
    assert main(["train", *common, "--epochs", "3", "--out", str(ref), "--no-plots"]) == 0
    base = tmp_path / "base"
    assert main(["train", *common, "--epochs", "1", "--out", str(base), "--no-plots"]) == 0
    resume = [sys.executable, "-m", "explorer", "train", "--resume", "DIR", "--epochs", "1", "--quiet"]
    after = tmp_path / "after"
    shutil.copytree(base, after, symlinks=True)
    subprocess.run([a if a != "DIR" else str(after) for a in resume], env=ENV, check=True, capture_output=True)
    states = (visible_files(base), visible_files(after))
    rng = random.Random(7)
    delays = sorted(rng.uniform(0.4, 3.5) for _ in range(6))
    outcomes = []
    for i, delay in enumerate(delays):
        d = tmp_path / f"kill{i}"
        shutil.copytree(base, d, symlinks=True)
        proc = subprocess.Popen([a if a != "DIR" else str(d) for a in resume], env=ENV,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert visible_files(d) in states, delay            # byte for byte the folder before or after
        run = Run.load(d)                                   # whole: every file from one save
        epoch = run.trainer.epoch
        assert epoch in (1, 2)
        outcomes.append(epoch)
        assert main(["train", "--resume", str(d), "--epochs", str(3 - epoch), "--no-plots", "--quiet"]) == 0
        same_run(d, ref)
    assert 1 in outcomes                                     # some kills came before the switch


# The command's checkpoint policy, made fast, so a kill after some hundred steps finds a checkpoint.
FAST_CHECKPOINTS = r"""
import functools, sys
import explorer.app.checkpoint as checkpoint
checkpoint.CheckpointPolicy = functools.partial(checkpoint.CheckpointPolicy, interval=0.25, epoch_min=0.1)
from explorer.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_train_killed_resumes_from_its_last_checkpoint(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--example", "sine", "--units", "3", "--batch", "32", "--seed", "1", "--no-plots", "--quiet"]
    proc = subprocess.Popen([sys.executable, "-c", FAST_CHECKPOINTS, *args, "--epochs", "5000", "--out", str(out)],
                            env=ENV, stderr=subprocess.PIPE)
    step = 0
    deadline = time.monotonic() + 120
    while step < 150 and time.monotonic() < deadline and proc.poll() is None:
        try:
            step = json.loads((out / "state.json").read_text())["step"]
        except (OSError, ValueError):
            pass
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert step >= 150
    run = Run.load(out)
    done = run.trainer.epoch
    assert run.trainer.step >= 150 and done >= 1
    assert main(["train", "--resume", str(out), "--epochs", "2", "--no-plots", "--quiet"]) == 0
    ref = tmp_path / "ref"
    assert main([*args, "--epochs", str(done + 2), "--out", str(ref)]) == 0
    same_run(out, ref)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"]["epochs"] == done + 2 and cfg["trained"]["epochs"] == done + 2


def test_interrupt_saves_the_run_and_exits_130(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "explorer", "train", "--example", "sine", "--units", "3",
                             "--epochs", "5000", "--out", str(out), "--no-plots", "--quiet"], env=ENV,
                            stderr=subprocess.PIPE, text=True)
    while not (out / "state.json").exists() and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130
    run = Run.load(out)
    assert run.trainer.step > 0
    assert f"interrupted after step {run.trainer.step}" in err and "--resume" in err
    assert run.step_table()["step"].tolist() == list(range(1, run.trainer.step + 1))


def test_an_interrupt_right_after_the_switch_keeps_the_new_version(tmp_path, monkeypatch):
    import explorer.runs.folder as rf

    run = small_run()
    list(run.trainer.steps(max_steps=5))
    folder = tmp_path / "run"
    run.save(folder)
    list(run.trainer.steps(max_steps=3))
    real = rf._fsync_dir

    def interrupted(path):
        real(path)
        if Path(path) == folder:                # the fsync right after the switch
            raise KeyboardInterrupt

    monkeypatch.setattr(rf, "_fsync_dir", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run.save(folder)
    monkeypatch.setattr(rf, "_fsync_dir", real)
    assert Run.load(folder).trainer.step == 8            # switched: the new version is whole and kept
    list(run.trainer.steps(max_steps=1))
    run.save(folder)
    assert Run.load(folder).trainer.step == 9 and len(list((folder / VERSIONS).iterdir())) == 1
