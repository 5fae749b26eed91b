"""Model files read only what they hold: HDF5 external storage, virtual datasets and external links
are refused before anything is read; a FIFO, device or folder in a model's or a data file's place is
refused at once (never opened for a blocking read); models a run cannot hold (over 16 layers,
weights beyond ±1e6) are refused at the door; every tensor read counts against the memory budget."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file as np_save_file

from explorer.interop import ModelFileError, load_model

from test_interop import torch_shaped

h5py = pytest.importorskip("h5py")
ROOT = Path(__file__).resolve().parents[1]
SECRET = np.arange(1.0, 13.0)        # what an outside file would slip into the weights


def load_soon(path, seconds=30):
    """``load_model(path)`` in a daemon thread: the error it raised (None if it loaded); fails
    when it has not returned within ``seconds`` (a hang)."""
    out = {}

    def run():
        try:
            out["model"] = load_model(path)
        except Exception as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"load_model({path}) did not return within {seconds} s"
    return out.get("error")


def refused(path, *words):
    err = load_soon(path)
    assert isinstance(err, ModelFileError), err
    msg = str(err)
    assert "\n" not in msg and msg.endswith(".") and msg.count(". ") == 0, msg
    for w in words:
        assert w in msg, (w, msg)
    return msg


def keras_h5(path, kernel_maker):
    """A Keras 3 ``.weights.h5`` of one LSTM (1 input, 3 units) whose kernel ``kernel_maker(group)``
    writes as dataset "0"; the recurrent kernel and bias are ordinary datasets."""
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f.create_group("vars")
        cell = f.create_group("layers/lstm/cell/vars")
        kernel_maker(cell)
        cell["1"] = rng.uniform(-0.5, 0.5, (3, 12))
        cell["2"] = np.zeros(12)
    return path


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def test_an_ordinary_keras_file_still_loads_its_values(tmp_path):
    path = keras_h5(tmp_path / "ok.weights.h5", lambda g: g.create_dataset("0", data=SECRET.reshape(1, 12)))
    loaded = load_model(path)
    np.testing.assert_array_equal(np.sort(loaded.model.state_dict()["weight_ih_l0"].ravel()), SECRET)


def test_a_dataset_kept_in_an_external_file_is_refused_unread(tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(SECRET.astype("<f8").tobytes())
    path = keras_h5(tmp_path / "ext.weights.h5",
                    lambda g: g.create_dataset("0", shape=(1, 12), dtype="<f8", external=[(str(secret), 0, 96)]))
    with h5py.File(path, "r") as f:                 # h5py itself would read the outside file
        np.testing.assert_array_equal(f["layers/lstm/cell/vars/0"][()].ravel(), SECRET)
    msg = refused(path, "ext.weights.h5", "layers/lstm/cell/vars/0", "external file", "secret.bin")
    assert msg.endswith("save the model again with model.save(PATH.keras).")


def test_an_external_dataset_on_a_fifo_is_refused_without_waiting(tmp_path, fifo):
    path = keras_h5(tmp_path / "pipe.weights.h5",
                    lambda g: g.create_dataset("0", shape=(1, 12), dtype="<f8", external=[(str(fifo), 0, 96)]))
    refused(path, "external file")


def test_a_virtual_dataset_is_refused(tmp_path):
    src = tmp_path / "source.h5"
    with h5py.File(src, "w") as f:
        f["data"] = SECRET.reshape(1, 12)
    layout = h5py.VirtualLayout(shape=(1, 12), dtype="<f8")
    layout[:] = h5py.VirtualSource(str(src), "data", shape=(1, 12))
    path = keras_h5(tmp_path / "virtual.weights.h5", lambda g: g.create_virtual_dataset("0", layout))
    refused(path, "virtual.weights.h5", "layers/lstm/cell/vars/0", "virtual dataset")


@pytest.mark.parametrize("target", ["h5", "fifo"])
def test_an_external_link_is_refused_unfollowed(tmp_path, fifo, target):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["data"] = SECRET.reshape(1, 12)
    linked = other if target == "h5" else fifo
    path = keras_h5(tmp_path / "link.weights.h5", lambda g: g.__setitem__("0", h5py.ExternalLink(str(linked), "/data")))
    refused(path, "link.weights.h5", "links layers/lstm/cell/vars/0 to the file", linked.name)


def test_a_soft_link_inside_the_file_is_read(tmp_path):
    def kernel(g):
        g.file["stored"] = SECRET.reshape(1, 12)
        g["0"] = h5py.SoftLink("/stored")
    loaded = load_model(keras_h5(tmp_path / "soft.weights.h5", kernel))
    np.testing.assert_array_equal(np.sort(loaded.model.state_dict()["weight_ih_l0"].ravel()), SECRET)


def test_a_fifo_or_a_folder_in_a_models_place_is_refused_at_once(tmp_path, fifo):
    assert refused(fifo, "pipe") == f"{fifo} is not a regular file (a pipe, device or socket); choose a model file."
    assert refused(tmp_path, "is a folder")
    assert refused(Path("/dev/zero"), "not a regular file")


def cli(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "explorer", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def test_cli_refuses_a_fifo_as_init_model_and_as_data_file(tmp_path, fifo):
    p = cli("train", "--example", "sine", "--units", "2", "--epochs", "1", "--no-plots", "--init", fifo,
            "--out", tmp_path / "run")
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr, p.stderr
    assert "pipe is not a regular file" in p.stderr
    p = cli("train", fifo, "--units", "2", "--epochs", "1", "--no-plots", "--out", tmp_path / "run2")
    assert p.returncode == 2 and "pipe is not a regular file" in p.stderr, p.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "run2").exists()


def test_window_open_model_on_a_fifo_says_so(qtbot, qsettings, app_paths, fifo):
    from explorer.data.examples import load_example
    from explorer.gui.main_window import MainWindow
    from explorer.runs.store import Run, settings_for_example

    win = MainWindow(settings=qsettings)
    win.set_run(Run(load_example("sine"), settings_for_example("sine", units=3, epochs=1)))
    qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
    before = win.run
    with qtbot.waitSignal(win.models.sigModelFailed, timeout=20000) as sig:
        win.models.open_model(str(fifo))
    assert sig.args[0] == f"{fifo} is not a regular file (a pipe, device or socket); choose a model file."
    assert win.banner.label.text() == sig.args[0] and win.run is before


# -- what a run can hold ---------------------------------------------------------------------------------
def test_more_layers_than_a_run_holds_are_refused_before_reading(tmp_path):
    path = tmp_path / "deep.safetensors"
    np_save_file(torch_shaped(L=17, n=2, m=2), str(path))
    assert refused(path) == ("deep.safetensors stacks 17 recurrent layers; LSTM Explorer runs at most 16: open a "
                             "model of 16 layers or fewer.")
    np_save_file(torch_shaped(L=16, n=2, m=2), str(path))
    assert load_model(path).num_layers == 16


@pytest.mark.parametrize("key", ["encoder.lstm.weight_hh_l0", "fc.weight"])
def test_weights_beyond_what_a_run_holds_are_refused(tmp_path, key):
    sd = torch_shaped()
    sd[key][0, 0] = -2.5e6
    path = tmp_path / "big.safetensors"
    np_save_file(sd, str(path))
    msg = refused(path, "big.safetensors", "-2.5e+06", "beyond the \u00b11e+06 a run can hold")
    assert ("head weight" if key == "fc.weight" else "weight_hh_l0") in msg


def test_a_keras_file_deeper_than_16_layers_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "deep.weights.h5"
    with h5py.File(path, "w") as f:
        f.create_group("vars")
        for k in range(17):
            cell = f.create_group(f"layers/lstm{'_' + str(k) if k else ''}/cell/vars")
            cell["0"] = rng.uniform(-0.5, 0.5, (1 if k == 0 else 2, 8))
            cell["1"] = rng.uniform(-0.5, 0.5, (2, 8))
            cell["2"] = np.zeros(8)
    refused(path, "deep.weights.h5 stacks 17 recurrent layers")


def test_the_heads_size_counts_against_the_memory_budget(tmp_path, monkeypatch):
    sd = torch_shaped(n=2, m=2, k=300_000)      # a 300,000-output head: 14 MB read as float64 ×3
    path = tmp_path / "head.safetensors"
    np_save_file(sd, str(path))
    monkeypatch.setenv("LSTM_EXPLORER_MEMORY_LIMIT", "8M")
    msg = refused(path, "opening head.safetensors needs about", "open a smaller model")
    monkeypatch.setenv("LSTM_EXPLORER_MEMORY_LIMIT", "64M")
    assert load_model(path).model.n_outputs == 300_000


def test_a_keras_files_weights_count_against_the_memory_budget(tmp_path, monkeypatch):
    path = keras_h5(tmp_path / "big.weights.h5", lambda g: g.create_dataset("0", shape=(200_000, 12), dtype="<f8"))
    monkeypatch.setenv("LSTM_EXPLORER_MEMORY_LIMIT", "16M")
    refused(path, "opening big.weights.h5 needs about", "open a smaller model")


def test_a_model_npz_counts_against_the_memory_budget_before_it_is_unpacked(tmp_path, monkeypatch):
    sd = {k.replace("encoder.lstm.", "").replace("fc.", "head."): v for k, v in torch_shaped(n=2, m=2).items()}
    sd["padding"] = np.zeros(1_000_000)                   # 8 MB that np.load would unpack
    path = tmp_path / "model.npz"
    np.savez_compressed(path, **sd)
    monkeypatch.setenv("LSTM_EXPLORER_MEMORY_LIMIT", "16M")
    msg = refused(path, "open a smaller model")
    assert msg.startswith("opening model.npz needs about 22.9 MiB of memory, more than the 16.0 MiB"), msg
    monkeypatch.setenv("LSTM_EXPLORER_MEMORY_LIMIT", "64M")
    assert load_model(path).model.n_units == 2


def test_whatever_a_crafted_model_trips_is_one_sentence(tmp_path):
    sd = torch_shaped()
    sd["fc.weight"] = np.zeros((0, 4))                    # a head of no outputs: the engine refuses to build it
    path = tmp_path / "nohead.safetensors"
    np_save_file(sd, str(path))
    assert refused(path) == ("nohead.safetensors could not be read as a model (n_outputs must be at least 1); the "
                             "file is damaged or not a model LSTM Explorer opens (.safetensors, .keras, "
                             ".weights.h5 or a run's model.npz).")
    p = cli("train", "--example", "sine", "--units", "4", "--epochs", "1", "--no-plots", "--init", path,
            "--out", tmp_path / "run")
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr, p.stderr
    assert "nohead.safetensors could not be read as a model" in p.stderr


def test_a_small_file_of_millions_of_chunks_is_refused_at_once(tmp_path):
    def kernel(g):                  # 1.2 million one-value chunks never written: HDF5 would take ~15 s
        g.create_dataset("0", shape=(100_000, 12), dtype="<f8", chunks=(1, 1), fillvalue=0.25)
    path = keras_h5(tmp_path / "chunky.weights.h5", kernel)
    assert path.stat().st_size < 10_000
    t0 = time.perf_counter()
    assert refused(path) == ("chunky.weights.h5 stores its weights in more than 100,000 pieces (HDF5 chunks, up to "
                             "layers/lstm/cell/vars/0), which would take minutes to read; save the model again with "
                             "model.save(PATH.keras).")
    assert time.perf_counter() - t0 < 5


def test_opening_a_model_stops_when_asked(tmp_path):
    from explorer.engine import Interrupted

    path = tmp_path / "m.safetensors"
    np_save_file(torch_shaped(L=3), str(path))
    asked = []

    def interrupt():
        asked.append(1)
        return len(asked) > 2                           # stop at the third read
    with pytest.raises(Interrupted):
        load_model(path, interrupt=interrupt)
    assert len(asked) == 3
    keras = keras_h5(tmp_path / "k.weights.h5", lambda g: g.create_dataset("0", data=SECRET.reshape(1, 12)))
    with pytest.raises(Interrupted):
        load_model(keras, interrupt=lambda: True)       # while walking the file, before any read
    assert load_model(path, interrupt=lambda: False).num_layers == 3


def test_the_windows_model_task_reads_interruptibly(tmp_path, monkeypatch):
    import explorer.interop.mapping as mapping
    from explorer.app.tasks import TaskState
    from explorer.data.examples import load_example
    from explorer.engine import Interrupted
    from explorer.gui.models import model_task
    from explorer.runs.store import settings_for_example

    path = tmp_path / "m.safetensors"
    np_save_file(torch_shaped(m=1, k=1), str(path))
    built = []
    monkeypatch.setattr(mapping, "build_model", lambda *a, **k: built.append(a))
    state = TaskState()
    state.request_interruption()                        # another file was opened, or the window closes
    with pytest.raises(Interrupted):
        model_task(state, str(path), load_example("sine"), settings_for_example("sine", units=4, epochs=1))
    assert built == []                                  # stopped while reading, before a model was built


def test_a_keras2_file_naming_more_layers_than_any_model_is_refused_unwalked(tmp_path):
    path = tmp_path / "names.h5"
    with h5py.File(path, "w", libver="latest") as f:           # dense attribute storage: any size
        f.attrs.create("layer_names", np.array([b"lstm"] * 100_001, dtype="S4"))
    assert refused(path) == ("names.h5 names 100,001 layers, more than any Keras model; save the model again "
                             "with model.save(PATH.keras).")
