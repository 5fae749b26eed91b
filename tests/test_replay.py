"""Replay: the weights of every epoch kept by the run (under a cap), saved in one file per epoch, traced again."""

import hashlib
import io
import json
import os
import zipfile

import numpy as np
import pytest

from explorer.data.examples import load_example
from explorer.engine import make_model
from explorer.runs.epochs import EpochWeights
from explorer.runs.store import ModelSettings, Run, RunFileError


def small_adding_run(epochs=3, **kw):
    ds = load_example("adding", seq_len=20, n_train=96, n_val=8)
    settings = ModelSettings(cell="lstm", units=6, epochs=epochs, lr=0.02, batch=32, clip=1.0, **kw)
    return Run(ds, settings)


def train_recording(run):
    """Train to the end; the weights at each epoch's end, as the snapshots see them."""
    seen = {0: run.model.state_dict()}
    for snap in run.trainer.steps():
        if snap.epoch_end:
            seen[snap.epoch] = run.model.state_dict()
    return seen


def fresh_forward(run, state, x):
    m = make_model(run.model.kind, run.model.n_inputs, run.model.n_units, run.model.n_outputs)
    m.load_state_dict(state)
    return m.forward(x)


def test_replay_at_epoch_e_is_the_trace_of_epoch_es_weights():
    run = small_adding_run(epochs=3)
    seen = train_recording(run)
    assert run.epoch_weights() == [0, 1, 2, 3]
    for e, state in seen.items():
        kept = run.epoch_state(e)
        assert sorted(kept) == sorted(state)
        for k in state:
            assert np.array_equal(kept[k], state[k]), (e, k)
        for sample in (0, 5):
            x, _ = run.sample_pair(sample)
            assert np.array_equal(x, run.dataset.x_val[sample:sample + 1])
            got, want = run.replay_trace(e, sample), fresh_forward(run, state, x)
            for name in ("i", "f", "g", "o", "c", "h", "y"):
                assert np.array_equal(getattr(got, name), getattr(want, name)), (e, sample, name)
    # the epochs differ (the weights moved), and the last one is the model's current weights
    assert not np.array_equal(run.replay_trace(0, 0).f, run.replay_trace(3, 0).f)
    assert np.array_equal(run.replay_trace(3, 0).h, run.model.forward(run.sample_pair(0)[0]).h)
    with pytest.raises(KeyError, match="epoch 7 are not kept"):
        run.replay_trace(7, 0)
    with pytest.raises(IndexError, match="sample 8 is outside the run's 8 validation samples"):
        run.sample_pair(8)


def test_the_forget_gates_mean_over_epochs_reads_from_replay_traces():
    run = small_adding_run(epochs=4, forget_bias=1.0)
    seen = train_recording(run)
    means = [float(run.replay_trace(e, 0).f.mean()) for e in run.epoch_weights()]
    x = run.sample_pair(0)[0]
    assert means == [float(fresh_forward(run, seen[e], x).f.mean()) for e in range(5)]
    assert len(set(means)) == 5                  # a different mean after every epoch
    assert 0.6 < means[0] < 0.8                  # a forget bias of 1 starts f near σ(1) = 0.73


def test_epoch_files_are_saved_with_the_run_and_loaded_back(tmp_path):
    run = small_adding_run(epochs=2)
    train_recording(run)
    folder = tmp_path / "run"
    run.save(folder)
    keys = sorted(run.model.state_dict())
    assert json.loads((folder / "state.json").read_text())["epoch_files"] == [
        "epoch-000000.npz", "epoch-000001.npz", "epoch-000002.npz"]
    for e in (0, 1, 2):
        data = (folder / f"epoch-{e:06d}.npz").read_bytes()
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            assert sorted(zf.namelist()) == sorted(f"{k}.npy" for k in keys)
        z = np.load(io.BytesIO(data))
        for k in keys:
            assert np.array_equal(z[k], run.epoch_state(e)[k])
        # in the same version as the other files (one switch)
        assert os.readlink(folder / f"epoch-{e:06d}.npz") == f".current/epoch-{e:06d}.npz"
    assert np.array_equal(np.load(folder / "epoch-000002.npz")["weight_hh_l0"], run.model.state_dict()["weight_hh_l0"])
    assert not os.path.lexists(folder / "epochs.npz")
    back = Run.load(folder)
    assert back.epoch_weights() == [0, 1, 2]
    for e in (0, 1, 2):
        assert np.array_equal(back.replay_trace(e, 3).f, run.replay_trace(e, 3).f)
    # continuing the loaded run keeps adding epochs
    back.trainer.extend(1)
    for _ in back.trainer.steps():
        pass
    assert back.epoch_weights() == [0, 1, 2, 3]


def test_runs_without_epoch_files_load_with_no_epochs(tmp_path):
    run = small_adding_run(epochs=1)
    folder = tmp_path / "old"
    run.save(folder)                                  # not trained yet: epoch 0 is the weights as they are
    assert Run.load(folder).epoch_weights() == [0]
    train_recording(run)
    run.save(folder)
    state_path = folder / ".current" / "state.json"
    state = json.loads(state_path.read_text())
    for name in state.pop("epoch_files"):             # as a run saved before replay existed (format 4)
        del state["sha256"][name]
        os.unlink(folder / ".current" / name)
        os.unlink(folder / name)
    state["format"] = 4
    state_path.write_text(json.dumps(state))
    config_path = folder / ".current" / "config.json"
    cfg = json.loads(config_path.read_text())
    cfg["format"] = 4
    del cfg["replay"]
    config_path.write_text(json.dumps(cfg))
    state["sha256"]["config.json"] = hashlib.sha256(config_path.read_bytes()).hexdigest()
    state_path.write_text(json.dumps(state))
    back = Run.load(folder)
    assert back.epoch_weights() == [] and back.replay_note == ""


def test_a_damaged_epoch_file_is_one_sentence(tmp_path):
    run = small_adding_run(epochs=1)
    train_recording(run)
    folder = tmp_path / "bad"
    run.save(folder)
    real = folder / ".current" / "epoch-000001.npz"
    arrays = dict(np.load(real))
    arrays["weight_ih_l0"] = np.zeros((3, 3))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    real.unlink()
    real.write_bytes(buf.getvalue())
    with pytest.raises(RunFileError, match=r"epoch-000001\.npz holds weight_ih_l0 that does not fit the run's model"):
        Run.load(folder)


def test_the_cap_thins_evenly_and_says_so():
    per = {"w": np.zeros(128)}                       # 1 KiB per epoch
    store = EpochWeights(cap_bytes=10 * 1024)         # room for 10
    for e in range(0, 41):
        store.add(e, {"w": np.full(128, float(e))})
        assert len(store) <= 10 and store.nbytes <= 10 * 1024
        kept = store.epochs()
        assert kept[0] == 0 and kept[-1] == e
        assert all(k % store.stride == 0 for k in kept[:-1])
    assert store.stride == 8 and store.epochs() == [0, 8, 16, 24, 32, 40]
    assert np.array_equal(store.get(24)["w"], np.full(128, 24.0))
    assert store.note == ("Replay keeps every 8th epoch and the latest (6 of 41): the weights of every epoch "
                          "would take 41.0 KiB, more than the 10.0 KiB cap.")
    small = EpochWeights(cap_bytes=100 * 1024)
    for e in range(5):
        small.add(e, per)
    assert small.epochs() == [0, 1, 2, 3, 4] and small.note == ""
    huge = EpochWeights(cap_bytes=1024)               # one epoch takes the whole cap: none kept
    huge.add(0, per)
    huge.add(1, per)
    assert huge.epochs() == [] and huge.note.startswith("Replay keeps no epochs: one epoch's weights take 1.0 KiB")


def test_the_cap_holds_in_a_run_and_its_folder(tmp_path):
    run = small_adding_run(epochs=12)
    per = sum(a.nbytes for a in run.model.state_dict().values())
    run.epoch_store.cap_bytes = 5 * per                 # room for 5 epochs
    for _ in run.trainer.steps():
        pass
    assert run.epoch_weights() == [0, 4, 8, 12]
    assert "every 4th epoch" in run.replay_note
    run.save(tmp_path / "r")
    back = Run.load(tmp_path / "r")
    assert back.epoch_weights() == [0, 4, 8, 12]
    assert back.epoch_store.stride == 4 and back.replay_note.startswith("Replay keeps every 4th epoch and the latest (4 of 13)")
