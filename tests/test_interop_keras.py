"""Keras files: the h5 layouts Keras 3 writes (``.weights.h5``, ``.keras``) and Keras 2's ``.h5``,
written here with h5py exactly as Keras' savers lay them out, checked against a NumPy reference of
Keras' own equations (and that reference against torch where torch is installed).

Keras 3's layout (keras/src/saving/saving_lib.py, H5IOStore and _save_container_state): a
``vars`` group at the root (the model's own variables, none here), each layer at
``layers/<snake_case(class)>[_<count>]`` with a ``vars`` group carrying ``attrs["name"]`` (created
even when empty, because the layer's name is passed as metadata), an RNN layer's variables under
``<layer>/cell/vars/{0,1,2}`` (kernel, recurrent_kernel, bias), a Bidirectional's under
``forward_layer/cell`` and ``backward_layer/cell``, the optimizer's under ``optimizer/vars``.
Keras 2's (legacy_h5_format.save_weights_to_hdf5_group): ``attrs["layer_names"]`` in model order,
a group per layer with ``attrs["weight_names"]`` and datasets at those names.
"""

from __future__ import annotations

import io
import json
import sys
import zipfile

import numpy as np
import pytest

from explorer.interop import MissingExtraError, ModelFileError, load_model

h5py = pytest.importorskip("h5py")

TOL = 1e-12


def sig(z):
    return 1.0 / (1.0 + np.exp(-z))


# -- Keras' equations in NumPy (keras/src/layers/rnn/{lstm,gru,simple_rnn,bidirectional}.py) ----------
def keras_lstm(x, kernel, recurrent, bias):
    B, T, _ = x.shape
    n = recurrent.shape[0]
    h, c, out = np.zeros((B, n)), np.zeros((B, n)), []
    for t in range(T):
        z = x[:, t] @ kernel + h @ recurrent + bias
        i, f, cc, o = sig(z[:, :n]), sig(z[:, n:2 * n]), np.tanh(z[:, 2 * n:3 * n]), sig(z[:, 3 * n:])
        c = f * c + i * cc
        h = o * np.tanh(c)
        out.append(h)
    return np.stack(out, 1)


def keras_gru(x, kernel, recurrent, bias):
    """reset_after=True: bias (2, 3n) = input bias, recurrent bias; blocks z, r, h."""
    B, T, _ = x.shape
    n = recurrent.shape[0]
    h, out = np.zeros((B, n)), []
    for t in range(T):
        mx = x[:, t] @ kernel + bias[0]
        mi = h @ recurrent + bias[1]
        z = sig(mx[:, :n] + mi[:, :n])
        r = sig(mx[:, n:2 * n] + mi[:, n:2 * n])
        hh = np.tanh(mx[:, 2 * n:] + r * mi[:, 2 * n:])
        h = z * h + (1 - z) * hh
        out.append(h)
    return np.stack(out, 1)


def keras_simple_rnn(x, kernel, recurrent, bias):
    B, T, _ = x.shape
    h, out = np.zeros((B, recurrent.shape[0])), []
    for t in range(T):
        h = np.tanh(x[:, t] @ kernel + h @ recurrent + bias)
        out.append(h)
    return np.stack(out, 1)


CELLS = {"lstm": (keras_lstm, 4), "gru": (keras_gru, 3), "rnn": (keras_simple_rnn, 1)}
CLASS = {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN"}
SNAKE = {"lstm": "lstm", "gru": "gru", "rnn": "simple_rnn"}


def keras_bidirectional(x, fn, fwd, bwd):
    """concat of the forward outputs and the backward layer's (go_backwards: it reads x reversed)
    outputs flipped back into input order."""
    return np.concatenate([fn(x, *fwd), fn(x[:, ::-1], *bwd)[:, ::-1]], axis=-1)


def random_cell(rng, kind, m, n):
    G = CELLS[kind][1]
    bias = rng.uniform(-0.5, 0.5, (2, G * n) if kind == "gru" else (G * n,))
    return [rng.uniform(-0.6, 0.6, (m, G * n)), rng.uniform(-0.6, 0.6, (n, G * n)), bias]


# -- writing the layouts ---------------------------------------------------------------------------------
def vars_group(f, path, name, arrays=()):
    g = f.create_group(f"{path}/vars" if path else "vars")
    g.attrs["name"] = name
    for i, a in enumerate(arrays):
        g[str(i)] = a
    return g


def write_keras3_h5(target, stack, kind, dense=None, bidirectional=False, extra=()):
    """A Sequential of recurrent layers (``stack``: list of [kernel, recurrent, bias] or of
    (forward, backward) pairs) and an optional Dense ([kernel, bias]) as Keras 3 saves it."""
    with h5py.File(target, "w") as f:
        vars_group(f, "", "sequential")
        for k, weights in enumerate(stack):
            name = ("bidirectional" if bidirectional else SNAKE[kind]) + (f"_{k}" if k else "")
            path = f"layers/{name}"
            vars_group(f, path, name)
            if bidirectional:
                for side, w in zip(("forward_layer", "backward_layer"), weights):
                    vars_group(f, f"{path}/{side}", f"{side[:-6]}_{SNAKE[kind]}")
                    vars_group(f, f"{path}/{side}/cell", f"{SNAKE[kind]}_cell", w)
            else:
                vars_group(f, f"{path}/cell", f"{SNAKE[kind]}_cell", weights)
        if dense is not None:
            vars_group(f, "layers/dense", "dense", dense)
        for path, arrays in extra:
            vars_group(f, path, path.rsplit("/", 1)[-1], arrays)
        vars_group(f, "optimizer", "adam", [np.array(12, dtype=np.int64), np.zeros(3)])


def keras_config(kind, m, n, k, layers=1, bidirectional=False, dense_activation="linear", **cell_options):
    cell = {"name": SNAKE[kind], "units": n, "activation": "tanh", "use_bias": True, "return_sequences": True,
            "go_backwards": False, **({"recurrent_activation": "sigmoid"} if kind != "rnn" else {}),
            **({"reset_after": True} if kind == "gru" else {}), **cell_options}
    entries = [{"module": "keras.layers", "class_name": "InputLayer",
                "config": {"batch_shape": [None, None, m], "name": "input_layer"}}]
    for i in range(layers):
        layer = {"module": "keras.layers", "class_name": CLASS[kind], "config": dict(cell, name=f"{SNAKE[kind]}_{i}")}
        if bidirectional:
            layer = {"module": "keras.layers", "class_name": "Bidirectional",
                     "config": {"name": f"bidirectional_{i}", "merge_mode": "concat", "layer": layer}}
        entries.append(layer)
    entries.append({"module": "keras.layers", "class_name": "Dense",
                    "config": {"name": "dense", "units": k, "activation": dense_activation, "use_bias": True}})
    return {"module": "keras", "class_name": "Sequential", "config": {"name": "sequential", "layers": entries}}


def write_keras_zip(path, config, stack, kind, dense, bidirectional=False):
    buf = io.BytesIO()
    write_keras3_h5(buf, stack, kind, dense, bidirectional)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.11.0", "date_saved": "2026-01-01"}))
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("model.weights.h5", buf.getvalue())
    return path


# -- tests -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_keras3_weights_h5_gives_keras_outputs(tmp_path, kind):
    rng = np.random.default_rng(1)
    m, n, k = 3, 5, 2
    cell = random_cell(rng, kind, m, n)
    dense = [rng.uniform(-0.5, 0.5, (n, k)), rng.uniform(-0.5, 0.5, k)]
    path = tmp_path / "model.weights.h5"
    write_keras3_h5(path, [cell], kind, dense)
    loaded = load_model(path)
    assert (loaded.kind, loaded.format, loaded.prefix, loaded.head) == (kind, "keras", f"layers/{SNAKE[kind]}", "layers/dense")
    assert (loaded.model.n_inputs, loaded.model.n_units, loaded.model.n_outputs) == (m, n, k)
    assert any("weights only" in note for note in loaded.notes)
    assert not any("Ignored" in note for note in loaded.notes)        # the optimizer is not a layer
    x = rng.standard_normal((4, 8, m))
    want = CELLS[kind][0](x, *cell) @ dense[0] + dense[1]
    np.testing.assert_allclose(loaded.model.forward(x).y, want, rtol=0, atol=TOL)


def test_dot_keras_archive_with_config(tmp_path):
    rng = np.random.default_rng(2)
    cell = random_cell(rng, "lstm", 2, 4)
    dense = [rng.uniform(-0.5, 0.5, (4, 1)), rng.uniform(-0.5, 0.5, 1)]
    path = write_keras_zip(tmp_path / "model.keras", keras_config("lstm", 2, 4, 1), [cell], "lstm", dense)
    loaded = load_model(path)
    assert loaded.describe() == "model.keras: an LSTM of 4 units over 2 inputs (layers/lstm), head \"layers/dense\" with 1 output."
    assert loaded.notes == ()
    x = rng.standard_normal((3, 6, 2))
    np.testing.assert_allclose(loaded.model.forward(x).y, keras_lstm(x, *cell) @ dense[0] + dense[1], rtol=0, atol=TOL)


def test_keras_options_the_engine_cannot_run_are_refused(tmp_path):
    rng = np.random.default_rng(3)
    cell = random_cell(rng, "lstm", 1, 3)
    dense = [np.ones((3, 1)), np.zeros(1)]
    for options, expect in [({"activation": "relu"}, "layers/lstm uses activation='relu'"),
                            ({"recurrent_activation": "hard_sigmoid"}, "recurrent_activation='hard_sigmoid'"),
                            ({"go_backwards": True}, "go_backwards=True")]:
        path = write_keras_zip(tmp_path / "m.keras", keras_config("lstm", 1, 3, 1, **options), [cell], "lstm", dense)
        with pytest.raises(ModelFileError) as e:
            load_model(path)
        msg = str(e.value)
        assert expect in msg and msg.startswith("m.keras: ") and "\n" not in msg and msg.endswith("."), msg


def test_gru_reset_after_false_is_refused(tmp_path):
    rng = np.random.default_rng(4)
    kernel, recurrent, _ = random_cell(rng, "gru", 2, 3)
    write_keras3_h5(tmp_path / "g.weights.h5", [[kernel, recurrent, np.zeros(9)]], "gru", None)
    with pytest.raises(ModelFileError) as e:
        load_model(tmp_path / "g.weights.h5")
    assert "layers/gru/cell/vars/2 has shape (9,)" in str(e.value) and "reset_after=True" in str(e.value)


def test_dense_activation_and_other_layers_are_noted(tmp_path):
    rng = np.random.default_rng(5)
    cell = random_cell(rng, "lstm", 4, 3)
    config = keras_config("lstm", 4, 3, 2, dense_activation="softmax")
    buf = io.BytesIO()
    write_keras3_h5(buf, [cell], "lstm", [np.ones((3, 2)), np.zeros(2)],
                    extra=[("layers/embedding", [np.ones((10, 4))])])
    with zipfile.ZipFile(tmp_path / "m.keras", "w") as zf:
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("model.weights.h5", buf.getvalue())
    loaded = load_model(tmp_path / "m.keras")
    text = " ".join(loaded.notes)
    assert "activation='softmax'" in text
    assert "Ignored 1 other layer with weights (layers/embedding)" in text


def test_no_dense_head_starts_a_new_one(tmp_path):
    rng = np.random.default_rng(6)
    write_keras3_h5(tmp_path / "m.weights.h5", [random_cell(rng, "gru", 1, 4)], "gru", None)
    loaded = load_model(tmp_path / "m.weights.h5", n_outputs=2)
    assert loaded.head is None and loaded.model.n_outputs == 2
    assert any("no Dense layer" in note for note in loaded.notes)


def test_keras2_legacy_h5(tmp_path):
    rng = np.random.default_rng(7)
    cell = random_cell(rng, "gru", 2, 3)
    dense = [rng.uniform(-0.5, 0.5, (3, 1)), rng.uniform(-0.5, 0.5, 1)]
    with h5py.File(tmp_path / "old.h5", "w") as f:
        f.attrs["model_config"] = json.dumps(keras_config("gru", 2, 3, 1)).encode()
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [b"gru_0", b"dense"]
        g.attrs["backend"] = b"tensorflow"
        lay = g.create_group("gru_0")
        names = ["gru_0/gru_cell/kernel:0", "gru_0/gru_cell/recurrent_kernel:0", "gru_0/gru_cell/bias:0"]
        lay.attrs["weight_names"] = [s.encode() for s in names]
        for name, arr in zip(names, cell):
            lay.create_dataset(name, data=arr)
        lay = g.create_group("dense")
        names = ["dense/kernel:0", "dense/bias:0"]
        lay.attrs["weight_names"] = [s.encode() for s in names]
        for name, arr in zip(names, dense):
            lay.create_dataset(name, data=arr)
    loaded = load_model(tmp_path / "old.h5")
    assert (loaded.kind, loaded.prefix, loaded.head) == ("gru", "gru_0", "dense")
    x = rng.standard_normal((2, 7, 2))
    np.testing.assert_allclose(loaded.model.forward(x).y, keras_gru(x, *cell) @ dense[0] + dense[1], rtol=0, atol=TOL)


def test_float32_and_float16_weights(tmp_path):
    rng = np.random.default_rng(8)
    cell = [a.astype(np.float32) for a in random_cell(rng, "lstm", 1, 2)]
    dense = [np.ones((2, 1), np.float16), np.zeros(1, np.float16)]
    write_keras3_h5(tmp_path / "m.weights.h5", [cell], "lstm", dense)
    loaded = load_model(tmp_path / "m.weights.h5")
    assert loaded.model.dtype == np.float64
    np.testing.assert_array_equal(loaded.model.state_dict()["weight_hh_l0"], cell[1].T.astype(np.float64))


def test_files_that_are_not_keras_models(tmp_path):
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(ModelFileError) as e:
        load_model(tmp_path / "data.h5")
    assert "data.h5 is an HDF5 file but not a Keras model" in str(e.value)
    with h5py.File(tmp_path / "dense.weights.h5", "w") as f:
        vars_group(f, "layers/dense", "dense", [np.ones((2, 2)), np.zeros(2)])
    with pytest.raises(ModelFileError) as e:
        load_model(tmp_path / "dense.weights.h5")
    assert "holds no Keras LSTM, GRU or SimpleRNN layer (its layers: layers/dense)" in str(e.value)
    with zipfile.ZipFile(tmp_path / "npz.keras", "w") as zf:
        zf.writestr("config.json", "{}")
        zf.writestr("model.weights.npz", b"")
    with pytest.raises(ModelFileError) as e:
        load_model(tmp_path / "npz.keras")
    assert "without model.weights.h5" in str(e.value)
    rng = np.random.default_rng(0)
    cell = random_cell(rng, "lstm", 1, 2)
    cell[1] = cell[1].astype(np.int32)
    write_keras3_h5(tmp_path / "int.weights.h5", [cell], "lstm", None)
    with pytest.raises(ModelFileError) as e:
        load_model(tmp_path / "int.weights.h5")
    assert "layers/lstm/cell/vars/1 holds int32 numbers" in str(e.value)


def test_without_h5py_the_sentence_says_how_to_install_it(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    write_keras3_h5(tmp_path / "m.weights.h5", [random_cell(rng, "lstm", 1, 2)], "lstm", None)
    monkeypatch.setitem(sys.modules, "h5py", None)              # import h5py now raises ImportError
    with pytest.raises(MissingExtraError) as e:
        load_model(tmp_path / "m.weights.h5")
    assert str(e.value) == ("m.weights.h5: opening Keras files needs h5py, which is not installed: "
                            "pip install 'lstm-explorer[keras]' (or pip install h5py).")


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_stacked_and_bidirectional_keras_layers(tmp_path, kind):
    rng = np.random.default_rng(9)
    m, n, k = 2, 3, 2
    fn = CELLS[kind][0]
    stack = [random_cell(rng, kind, m, n), random_cell(rng, kind, n, n)]
    dense = [rng.uniform(-0.5, 0.5, (n, k)), rng.uniform(-0.5, 0.5, k)]
    write_keras3_h5(tmp_path / "s.weights.h5", stack, kind, dense)
    loaded = load_model(tmp_path / "s.weights.h5")
    assert (loaded.num_layers, loaded.bidirectional) == (2, False)
    x = rng.standard_normal((3, 6, m))
    want = fn(fn(x, *stack[0]), *stack[1]) @ dense[0] + dense[1]
    np.testing.assert_allclose(loaded.model.forward(x).y, want, rtol=0, atol=TOL)

    bi = [(random_cell(rng, kind, m, n), random_cell(rng, kind, m, n)),
          (random_cell(rng, kind, 2 * n, n), random_cell(rng, kind, 2 * n, n))]
    dense = [rng.uniform(-0.5, 0.5, (2 * n, k)), rng.uniform(-0.5, 0.5, k)]
    path = write_keras_zip(tmp_path / "b.keras", keras_config(kind, m, n, k, layers=2, bidirectional=True),
                           bi, kind, dense, bidirectional=True)
    loaded = load_model(path)
    assert (loaded.num_layers, loaded.bidirectional, loaded.head) == (2, True, "layers/dense")
    h = keras_bidirectional(x, fn, *bi[0])
    want = keras_bidirectional(h, fn, *bi[1]) @ dense[0] + dense[1]
    np.testing.assert_allclose(loaded.model.forward(x).y, want, rtol=0, atol=TOL)


def test_the_keras_reference_gru_is_torchs_gru():
    """Keras' GRU with reset_after=True equals torch's GRU once the blocks z, r, h become r, z, n."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    m, n = 3, 4
    gru = torch.nn.GRU(m, n, batch_first=True).double()
    sd = {k: v.detach().numpy() for k, v in gru.state_dict().items()}
    to_keras = np.concatenate([np.arange(n, 2 * n), np.arange(0, n), np.arange(2 * n, 3 * n)])   # z, r, h
    kernel = sd["weight_ih_l0"][to_keras].T
    recurrent = sd["weight_hh_l0"][to_keras].T
    bias = np.stack([sd["bias_ih_l0"][to_keras], sd["bias_hh_l0"][to_keras]])
    x = np.random.default_rng(0).standard_normal((2, 5, m))
    with torch.no_grad():
        theirs = gru(torch.from_numpy(x))[0].numpy()
    np.testing.assert_allclose(keras_gru(x, kernel, recurrent, bias), theirs, rtol=0, atol=TOL)


def test_hostile_keras_files_are_one_sentence(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    with zipfile.ZipFile(tmp_path / "deep.keras", "w") as zf:
        zf.writestr("config.json", deep)
        zf.writestr("model.weights.h5", b"")
    with pytest.raises(ModelFileError) as e:
        load_model(tmp_path / "deep.keras")
    assert "deep.keras: its config.json is not valid JSON" in str(e.value)
    with h5py.File(tmp_path / "nested.weights.h5", "w") as f:
        f.create_group("/".join(["layers", "sequential"] * 1200))
    with pytest.raises(ModelFileError) as e:
        load_model(tmp_path / "nested.weights.h5")
    assert str(e.value).startswith("nested.weights.h5 ") and "\n" not in str(e.value)
    with zipfile.ZipFile(tmp_path / "bad.keras", "w") as zf:
        zf.writestr("config.json", "{}")
        zf.writestr("model.weights.h5", b"not hdf5 at all")
    with pytest.raises(ModelFileError) as e:
        load_model(tmp_path / "bad.keras")
    assert "bad.keras is not a readable Keras file" in str(e.value)


def test_time_distributed_dense_head_and_bidirectional_last_step_note(tmp_path):
    rng = np.random.default_rng(11)
    m, n, k = 2, 3, 1
    pair = (random_cell(rng, "lstm", m, n), random_cell(rng, "lstm", m, n))
    dense = [rng.uniform(-0.5, 0.5, (2 * n, k)), rng.uniform(-0.5, 0.5, k)]
    config = keras_config("lstm", m, n, k, bidirectional=True, return_sequences=False)
    buf = io.BytesIO()
    write_keras3_h5(buf, [pair], "lstm", None, bidirectional=True,
                    extra=[("layers/time_distributed/layer", dense)])
    config["config"]["layers"][-1] = {"class_name": "TimeDistributed", "config": {
        "name": "td", "layer": {"class_name": "Dense", "config": {"name": "dense", "units": k}}}}
    with zipfile.ZipFile(tmp_path / "bi.keras", "w") as zf:
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("model.weights.h5", buf.getvalue())
    loaded = load_model(tmp_path / "bi.keras")
    assert (loaded.bidirectional, loaded.head) == (True, "layers/time_distributed")
    assert any("returns only its last step" in note for note in loaded.notes), loaded.notes
    x = rng.standard_normal((2, 5, m))
    want = keras_bidirectional(x, keras_lstm, *pair) @ dense[0] + dense[1]      # return_sequences=True
    np.testing.assert_allclose(loaded.model.forward(x).y, want, rtol=0, atol=TOL)
