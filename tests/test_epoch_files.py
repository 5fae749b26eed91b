"""Replay's weights in one file per kept epoch (run folder format 5): a checkpoint writes the epochs
added since the last save and hard-links the others, a kill mid-save leaves the run before it, a
damaged or missing epoch file is refused in one sentence, format-4 folders (epochs.npz) still open
and are saved in the new layout, and replay gives the weights it gave before."""

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

import explorer.runs.store as runs
from explorer.data.examples import load_example
from explorer.runs.epochs import EpochWeights, epoch_bytes
from explorer.runs.folder import VERSIONS, current_version
from explorer.runs.store import ModelSettings, Run, RunFileError
from run_edits import as_format4

SPE = 3                       # steps per epoch of small_run


def small_run(epochs=3, seed=2):
    run = Run(load_example("adding", seq_len=12, n_train=48, n_val=8),
              ModelSettings(cell="lstm", units=6, epochs=epochs, lr=0.02, batch=16, clip=1.0, seed=seed))
    assert run.trainer.steps_per_epoch == SPE
    return run


def epoch_files(folder: Path) -> list:
    return json.loads((folder / "state.json").read_text())["epoch_files"]


def stat3(path: Path) -> tuple:
    st = os.stat(path)
    return st.st_ino, st.st_mtime_ns, st.st_size


@pytest.fixture
def written(monkeypatch):
    """The names and sizes of the files each save writes anew (by name, one dict per save)."""
    saves = []
    real = runs.write_file

    def counting(path, data):
        saves[-1][Path(path).name] = len(data)
        return real(path, data)

    monkeypatch.setattr(runs, "write_file", counting)
    real_save = Run.save

    def save(self, folder, extra=None):
        saves.append({})
        return real_save(self, folder, extra)

    monkeypatch.setattr(Run, "save", save)
    return saves


# -- a checkpoint writes the new epochs only --------------------------------------------------------
def test_three_checkpoints_write_each_epoch_once_and_link_it_afterwards(tmp_path, written):
    folder = tmp_path / "r"
    run = small_run(epochs=3)
    seen = {}
    for k in (1, 2, 3):
        list(run.trainer.steps(max_steps=SPE))                 # one epoch
        run.save(folder)
        assert epoch_files(folder) == [f"epoch-{e:06d}.npz" for e in range(k + 1)]
        new = {n for n in written[-1] if n.startswith("epoch-")}
        assert new == ({"epoch-000000.npz", "epoch-000001.npz"} if k == 1 else {f"epoch-{k:06d}.npz"})
        for e in range(k + 1):
            name = f"epoch-{e:06d}.npz"
            if name in seen:                                    # the very same file, linked: not rewritten
                assert stat3(folder / name) == seen[name][0]
                assert (folder / name).read_bytes() == seen[name][1]
            else:
                seen[name] = (stat3(folder / name), (folder / name).read_bytes())
            assert os.stat(folder / name).st_nlink == 1        # the old versions are gone, the file stays
    # an epoch file holds the weights as model.npz does; a checkpoint writes one of them, not all
    per = written[0]["epoch-000001.npz"]
    assert abs(per - written[0]["model.npz"]) < 200
    assert [sum(b for n, b in w.items() if n.startswith("epoch-")) for w in written] == [2 * per, per, per]
    assert len(os.listdir(folder / VERSIONS)) == 1
    back = Run.load(folder)
    assert back.epoch_weights() == [0, 1, 2, 3]
    for e in range(4):
        for key, v in run.epoch_state(e).items():
            assert back.epoch_state(e)[key].tobytes() == v.tobytes(), (e, key)
    # a loaded run's save links the files it read
    back.trainer.extend(1)
    list(back.trainer.steps())
    back.save(folder)
    assert {n for n in written[-1] if n.startswith("epoch-")} == {"epoch-000004.npz"}
    for name, (st, data) in seen.items():
        assert stat3(folder / name) == st and (folder / name).read_bytes() == data


def test_saves_before_training_do_not_rewrite_epoch_0(tmp_path, written):
    folder = tmp_path / "r"
    run = small_run()
    run.save(folder)
    st = stat3(folder / "epoch-000000.npz")
    run.save(folder)
    assert "epoch-000000.npz" not in written[-1] and stat3(folder / "epoch-000000.npz") == st
    run.model.params[:] += 0.5                                 # new weights before training: epoch 0 anew
    run.save(folder)
    assert "epoch-000000.npz" in written[-1]
    assert np.array_equal(Run.load(folder).epoch_state(0)["head.bias"], run.model.state_dict()["head.bias"])


def test_thinned_epochs_leave_the_folder_and_the_kept_ones_stay_linked(tmp_path):
    folder = tmp_path / "r"
    run = small_run(epochs=9)
    per = sum(a.nbytes for a in run.model.state_dict().values())
    run.epoch_store = EpochWeights(cap_bytes=4 * per)             # room for 4 epochs
    ref = EpochWeights(cap_bytes=4 * per)                         # the same rule, fed alongside
    ref.add(0, run.model.state_dict())
    kept_stat = {}
    for e in range(1, 10):
        list(run.trainer.steps(max_steps=SPE))
        ref.add(e, run.model.state_dict())
        run.save(folder)
        assert run.epoch_weights() == ref.epochs()
        assert epoch_files(folder) == [f"epoch-{k:06d}.npz" for k in ref.epochs()]
        on_disk = sorted(n for n in os.listdir(folder) if n.startswith("epoch-"))
        assert on_disk == epoch_files(folder)                       # the links of thinned epochs are removed
        assert sorted(os.listdir(folder / VERSIONS / current_version(folder))) == sorted(
            epoch_files(folder) + ["config.json", "history.csv", "model.npz", "optimizer.npz", "state.json"]
            + json_names(folder))
        for name in on_disk:
            if name in kept_stat:
                assert stat3(folder / name) == kept_stat[name]
            kept_stat[name] = stat3(folder / name)
    assert ref.epochs() == [0, 4, 8, 9] and ref.stride == 4
    back = Run.load(folder)
    assert back.epoch_weights() == [0, 4, 8, 9] and back.epoch_store.stride == 4
    assert back.replay_note.startswith("Replay keeps every 4th epoch and the latest (4 of 10)")
    for e in back.epoch_weights():
        for key, v in ref.get(e).items():
            assert np.array_equal(back.epoch_state(e)[key], v)


def json_names(folder: Path) -> list:
    return [c["name"] for c in json.loads((folder / "state.json").read_text())["step_chunks"]]


def test_a_save_into_another_folder_writes_the_epochs_it_cannot_link(tmp_path, monkeypatch):
    run = small_run()
    list(run.trainer.steps(max_steps=2 * SPE))
    run.save(tmp_path / "a")
    list(run.trainer.steps(max_steps=SPE))

    def no_links(*a, **kw):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    run.save(tmp_path / "b")
    monkeypatch.undo()
    for e in (0, 1, 2):
        name = f"epoch-{e:06d}.npz"
        assert (tmp_path / "b" / name).read_bytes() == (tmp_path / "a" / name).read_bytes()
        assert os.stat(tmp_path / "b" / name).st_ino != os.stat(tmp_path / "a" / name).st_ino
    assert Run.load(tmp_path / "b").epoch_weights() == [0, 1, 2, 3]


def test_epoch_bytes_depend_on_the_weights_alone():
    state = small_run().model.state_dict()
    a = epoch_bytes(state)
    assert a == epoch_bytes({k: v.copy() for k, v in state.items()})
    with np.load(io.BytesIO(a)) as z:
        assert list(z.files) == list(state) and all(np.array_equal(z[k], state[k]) for k in state)


# -- a kill mid-save, damage ---------------------------------------------------------------------------
def test_a_save_killed_with_an_epoch_file_half_written_leaves_the_run_before_it(tmp_path):
    folder = tmp_path / "r"
    run = small_run()
    list(run.trainer.steps(max_steps=SPE))
    run.save(folder)
    list(run.trainer.steps(max_steps=SPE))
    data = run.files()["epoch-000002.npz"]
    # what a kill in the middle of the next save leaves: a version not switched to, its epoch file torn
    torn = folder / VERSIONS / "00000000000000000001-1-abcdef"
    torn.mkdir()
    os.link(folder / VERSIONS / current_version(folder) / "epoch-000000.npz", torn / "epoch-000000.npz")
    (torn / "epoch-000002.npz").write_bytes(data[:len(data) // 2])
    back = Run.load(folder)
    assert back.trainer.step == SPE and back.epoch_weights() == [0, 1]
    list(back.trainer.steps(max_steps=SPE))
    back.save(folder)                                           # the next save tidies the torn version
    assert os.listdir(folder / VERSIONS) == [current_version(folder)]
    again = Run.load(folder)
    assert again.epoch_weights() == [0, 1, 2]
    for key, v in run.epoch_state(2).items():
        assert np.array_equal(again.epoch_state(2)[key], v)


def test_a_torn_epoch_file_of_the_current_version_is_refused_in_one_sentence(tmp_path):
    folder = tmp_path / "r"
    run = small_run()
    list(run.trainer.steps(max_steps=SPE))
    run.save(folder)
    path = folder / VERSIONS / current_version(folder) / "epoch-000001.npz"
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data[:-40])
    with pytest.raises(RunFileError) as info:
        Run.load(folder)
    assert str(info.value) == (f"{folder}/epoch-000001.npz is not a readable NumPy archive (truncated or damaged); "
                               "the run folder is damaged (restore it from a copy or train again).")


def test_a_missing_epoch_file_is_refused_in_one_sentence(tmp_path):
    folder = tmp_path / "r"
    run = small_run()
    list(run.trainer.steps(max_steps=SPE))
    run.save(folder)
    os.unlink(folder / VERSIONS / current_version(folder) / "epoch-000001.npz")
    with pytest.raises(RunFileError) as info:
        Run.load(folder)
    assert str(info.value) == f"{folder} is not a complete run folder: epoch-000001.npz missing."


def test_an_epoch_file_swapped_for_another_epochs_is_refused_in_one_sentence(tmp_path):
    folder = tmp_path / "r"
    run = small_run()
    list(run.trainer.steps(max_steps=SPE))
    run.save(folder)
    vdir = folder / VERSIONS / current_version(folder)
    (vdir / "epoch-000001.npz").unlink()
    os.link(vdir / "epoch-000000.npz", vdir / "epoch-000001.npz")
    with pytest.raises(RunFileError) as info:
        Run.load(folder)
    assert str(info.value) == (f"{folder}/epoch-000001.npz differs from the file that was saved with this state.json "
                               "(its SHA-256 does not match); the run folder is damaged (restore it from a copy or "
                               "train again).")


# -- older folders ------------------------------------------------------------------------------------
def test_a_format_4_folder_with_epochs_npz_opens_and_is_saved_in_epoch_files(tmp_path, written):
    folder = tmp_path / "r"
    run = small_run()
    list(run.trainer.steps(max_steps=2 * SPE))
    run.save(folder)
    as_format4(folder)
    assert not os.path.lexists(folder / "epoch-000000.npz") and (folder / "epochs.npz").is_file()
    old = Run.load(folder)
    assert old.epoch_weights() == [0, 1, 2]
    for e in (0, 1, 2):
        for key, v in run.epoch_state(e).items():
            assert old.epoch_state(e)[key].tobytes() == v.tobytes()
        assert np.array_equal(old.replay_trace(e, 1).f, run.replay_trace(e, 1).f)
    old.save(folder)
    st = json.loads((folder / "state.json").read_text())
    assert st["format"] == 5 and st["epoch_files"] == ["epoch-000000.npz", "epoch-000001.npz", "epoch-000002.npz"]
    assert not os.path.lexists(folder / "epochs.npz")
    for name in st["epoch_files"]:
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == st["sha256"][name]
    first = stat3(folder / "epoch-000000.npz")
    list(old.trainer.steps())
    old.save(folder)
    assert {n for n in written[-1] if n.startswith("epoch-")} == {"epoch-000003.npz"}
    assert stat3(folder / "epoch-000000.npz") == first
    assert Run.load(folder).epoch_weights() == [0, 1, 2, 3]


def test_where_a_link_fails_a_file_of_another_writer_is_copied_checked_by_its_hash(tmp_path, monkeypatch):
    folder = tmp_path / "a"
    run = small_run()
    list(run.trainer.steps(max_steps=SPE))
    run.save(folder)
    vdir = folder / VERSIONS / current_version(folder)
    other = io.BytesIO()
    np.savez(other, **run.epoch_state(1))                 # the same weights, zipped by another writer
    data = other.getvalue()
    assert data != epoch_bytes(run.epoch_state(1))
    (vdir / "epoch-000001.npz").unlink()
    (vdir / "epoch-000001.npz").write_bytes(data)
    state = json.loads((vdir / "state.json").read_text())
    state["sha256"]["epoch-000001.npz"] = hashlib.sha256(data).hexdigest()
    (vdir / "state.json").unlink()
    (vdir / "state.json").write_text(json.dumps(state))
    back = Run.load(folder)

    def no_links(*a, **kw):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    back.save(tmp_path / "b")
    assert (tmp_path / "b" / "epoch-000001.npz").read_bytes() == data
    # the file it was last saved as changed since, and no link: the save is refused, nothing written
    src = tmp_path / "b" / VERSIONS / current_version(tmp_path / "b") / "epoch-000001.npz"
    src.unlink()
    src.write_bytes(data[:-1] + b"x")
    with pytest.raises(RunFileError) as info:
        back.save(tmp_path / "c")
    assert str(info.value) == (f"Could not write {tmp_path / 'c' / 'epoch-000001.npz'}: its saved copy changed since "
                               f"it was read; no run was saved in {tmp_path / 'c'} (free some space or choose another "
                               "folder).")
    assert not (tmp_path / "c").exists()
