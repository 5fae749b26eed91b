"""ConvLSTM weights in and out: Keras 3 ``ConvLSTM2D``'s layout against a NumPy ConvLSTM2D written
from Keras' equations (channels_last, 'same' padding, gates i, f, c, o), and safetensors."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from explorer.engine import make_model
from explorer.interop import ModelFileError, load_model, save_model
from explorer.interop.convlstm_io import keras_to_state, state_to_keras

h5py = pytest.importorskip("h5py")


def keras_conv_same(x, kernel):
    """Keras/TF conv2d, 'same' padding, stride 1, channels_last: x (B, H, W, C), kernel (k, k, C, O)."""
    k = kernel.shape[0]
    p = k // 2
    B, H, W, _ = x.shape
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    out = np.zeros((B, H, W, kernel.shape[3]))
    for dy in range(k):
        for dx in range(k):
            out += xp[:, dy:dy + H, dx:dx + W, :] @ kernel[dy, dx]
    return out


def keras_convlstm2d(x, kernel, recurrent, bias):
    """Keras 3 ConvLSTMCell over x (B, T, H, W, C): the sequence of h (B, T, H, W, F)."""
    B, T, H, W, _ = x.shape
    F = recurrent.shape[2]
    h = np.zeros((B, H, W, F))
    c = np.zeros((B, H, W, F))
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    out = []
    for t in range(T):
        z = keras_conv_same(x[:, t], kernel) + bias + keras_conv_same(h, recurrent)
        zi, zf, zc, zo = np.split(z, 4, axis=-1)
        i, f, o = sig(zi), sig(zf), sig(zo)
        c = f * c + i * np.tanh(zc)
        h = o * np.tanh(c)
        out.append(h)
    return np.stack(out, axis=1)


def random_keras(rng, C, F, k):
    return [rng.normal(0, 0.3, (k, k, C, 4 * F)), rng.normal(0, 0.3, (k, k, F, 4 * F)), rng.normal(0, 0.3, 4 * F)]


@pytest.mark.parametrize("C,F,k,L", [(1, 3, 3, 1), (2, 4, 5, 1), (3, 2, 1, 2), (1, 5, 3, 2)])
def test_keras_layout_maps_to_the_engine(C, F, k, L):
    rng = np.random.default_rng(C * 10 + F + k + L)
    layers = [random_keras(rng, C if j == 0 else F, F, k) for j in range(L)]
    head = [rng.normal(0, 0.5, (1, 1, F, 2)), rng.normal(0, 0.1, 2)]
    x = rng.normal(0, 1, (2, 4, 6, 5, C))                                # channels_last
    want = x
    for kernel, recurrent, bias in layers:
        want = keras_convlstm2d(want, kernel, recurrent, bias)
    want_y = want @ head[0][0, 0] + head[1]                               # the 1×1 Conv2D
    model = make_model("convlstm", n_inputs=C, n_units=F, n_outputs=2, kernel=k, num_layers=L)
    state = model.state_dict()
    for j, w in enumerate(layers):
        state.update(keras_to_state(*w, layer=j))
        back = state_to_keras(state, j)
        for a, b in zip(back, w):
            np.testing.assert_array_equal(a, b)
    state["head.weight"] = head[0][0, 0].T[:, :, None, None]
    state["head.bias"] = head[1]
    model.load_state_dict(state)
    trace = model.forward(x.transpose(0, 1, 4, 2, 3))
    got_h = trace.layer(L - 1).h.transpose(1, 0, 3, 4, 2)                 # (B, T, H, W, F)
    np.testing.assert_allclose(got_h, want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(trace.y.transpose(0, 1, 3, 4, 2), want_y, rtol=0, atol=1e-12)


def vars_group(f, path, arrays=()):
    g = f.require_group(f"{path}/vars") if path else f.require_group("vars")
    for i, a in enumerate(arrays):
        g[str(i)] = a


def write_keras3(target, layers, head, head_kind="conv2d"):
    """A Sequential of ConvLSTM2D layers and a head as Keras 3 saves it (layers/<name>/cell/vars/…)."""
    with h5py.File(target, "w") as f:
        vars_group(f, "")
        for j, w in enumerate(layers):
            name = "conv_lstm2d" + (f"_{j}" if j else "")
            vars_group(f, f"layers/{name}")
            vars_group(f, f"layers/{name}/cell", w)
        if head is not None:
            vars_group(f, f"layers/{head_kind}", head)
        vars_group(f, "optimizer", [np.array(3, dtype=np.int64)])


def keras_config(C, F, k, L, head_filters, **options):
    cell = {"filters": F, "kernel_size": [k, k], "strides": [1, 1], "padding": "same",
            "data_format": "channels_last", "dilation_rate": [1, 1], "activation": "tanh",
            "recurrent_activation": "sigmoid", "use_bias": True, "return_sequences": True, **options}
    entries = [{"class_name": "InputLayer", "config": {"batch_shape": [None, None, 8, 8, C]}}]
    entries += [{"class_name": "ConvLSTM2D", "config": dict(cell, name=f"conv_lstm2d_{j}")} for j in range(L)]
    entries.append({"class_name": "Conv2D", "config": {"filters": head_filters, "kernel_size": [1, 1],
                                                         "activation": "linear"}})
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": entries}}


def test_keras3_weights_h5_opens_with_keras_outputs(tmp_path):
    rng = np.random.default_rng(3)
    C, F, k = 2, 3, 3
    layers = [random_keras(rng, C, F, k), random_keras(rng, F, F, k)]
    head = [rng.normal(0, 0.5, (1, 1, F, 1)), rng.normal(0, 0.1, 1)]
    path = tmp_path / "model.weights.h5"
    write_keras3(path, layers, head)
    loaded = load_model(path)
    m = loaded.model
    assert (loaded.kind, loaded.format, loaded.head) == ("convlstm", "keras", "layers/conv2d")
    assert (m.n_inputs, m.n_units, m.n_outputs, m.kernel, m.num_layers) == (C, F, 1, k, 2)
    assert any("weights only" in note for note in loaded.notes)
    x = rng.normal(0, 1, (1, 3, 7, 6, C))
    want = keras_convlstm2d(keras_convlstm2d(x, *layers[0]), *layers[1]) @ head[0][0, 0] + head[1]
    np.testing.assert_allclose(m.forward(x.transpose(0, 1, 4, 2, 3)).y.transpose(0, 1, 3, 4, 2), want,
                               rtol=0, atol=1e-12)


def write_keras_zip(path, config, layers, head):
    buf = io.BytesIO()
    write_keras3(buf, layers, head)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("model.weights.h5", buf.getvalue())


def test_keras_archive_with_config_and_refusals(tmp_path):
    rng = np.random.default_rng(4)
    layers = [random_keras(rng, 1, 4, 5)]
    head = [rng.normal(0, 0.5, (1, 1, 4, 1)), rng.normal(0, 0.1, 1)]
    good = tmp_path / "good.keras"
    write_keras_zip(good, keras_config(1, 4, 5, 1, 1), layers, head)
    loaded = load_model(good)
    assert loaded.model.kernel == 5 and loaded.head == "layers/conv2d"
    assert not any("weights only" in note for note in loaded.notes)
    sd = loaded.model.state_dict()
    np.testing.assert_array_equal(sd["weight_hh_l0"], layers[0][1].transpose(3, 2, 0, 1))
    np.testing.assert_array_equal(sd["bias_ih_l0"], layers[0][2])
    for option, value, said in [("padding", "valid", "padding='valid'"),
                                ("recurrent_activation", "hard_sigmoid", "recurrent_activation='hard_sigmoid'"),
                                ("strides", [2, 2], "strides=[2, 2]")]:
        bad = tmp_path / f"bad_{option}.keras"
        write_keras_zip(bad, keras_config(1, 4, 5, 1, 1, **{option: value}), layers, head)
        with pytest.raises(ModelFileError) as info:
            load_model(bad)
        msg = str(info.value)
        assert msg.startswith(f"bad_{option}.keras: layers/conv_lstm2d uses {said}") and msg.count(". ") == 0
    even = tmp_path / "even.weights.h5"
    write_keras3(even, [[np.zeros((2, 2, 1, 8)), np.zeros((2, 2, 2, 8)), np.zeros(8)]], None)
    with pytest.raises(ModelFileError, match=r"^even.weights.h5: layers/conv_lstm2d has kernel \(2, 2, 1, 8\)"):
        load_model(even)


def test_safetensors_round_trip_under_the_state_dict_names(tmp_path):
    from safetensors.numpy import load_file, save_file

    rng = np.random.default_rng(5)
    model = make_model("convlstm", n_inputs=2, n_units=3, n_outputs=1, kernel=3, num_layers=2, peephole=True,
                       frame=(6, 7), seed=2)
    model.load_state_dict({k: rng.normal(0, 0.3, v.shape) for k, v in model.state_dict().items()})
    path = save_model(model, tmp_path / "conv.safetensors")
    tensors = load_file(str(path))
    assert set(tensors) == set(model.state_dict())
    assert tensors["peephole_o_l1"].shape == (3, 6, 7) and tensors["head.weight"].shape == (1, 3, 1, 1)
    loaded = load_model(path)
    assert loaded.kind == "convlstm" and loaded.model.peephole and loaded.model.frame == (6, 7)
    np.testing.assert_array_equal(loaded.model.params, model.params)
    # a file written by someone else: a prefix, torch's two biases, a head named "out"
    other = {f"net.{k}": v for k, v in model.state_dict().items() if not k.startswith("head")}
    other["net.bias_hh_l0"] = rng.normal(0, 0.1, 12)
    other["out.weight"] = rng.normal(0, 0.1, (2, 3, 1, 1))
    other["out.bias"] = np.zeros(2)
    save_file(other, str(tmp_path / "other.safetensors"))
    got = load_model(tmp_path / "other.safetensors")
    assert (got.prefix, got.head, got.model.n_outputs) == ("net.", "out", 2)
    np.testing.assert_allclose(got.model.state_dict()["bias_ih_l0"],
                               model.state_dict()["bias_ih_l0"] + other["net.bias_hh_l0"], atol=1e-15)
    broken = dict(other, **{"net.weight_hh_l1": np.zeros((12, 3, 5, 5))})
    save_file(broken, str(tmp_path / "broken.safetensors"))
    with pytest.raises(ModelFileError, match=r"^broken.safetensors: net.weight_hh_l1 has shape \(12, 3, 5, 5\); "
                                             r"layer 1 of this ConvLSTM \(F = 3, k = 3\) needs \(12, 3, 3, 3\)\.$"):
        load_model(tmp_path / "broken.safetensors")


def test_keras2_legacy_h5_convlstm2d(tmp_path):
    rng = np.random.default_rng(9)
    cell = random_keras(rng, 1, 3, 3)
    head = [rng.normal(0, 0.5, (1, 1, 3, 1)), rng.normal(0, 0.1, 1)]
    with h5py.File(tmp_path / "old.h5", "w") as f:
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [b"conv_lst_m2d", b"conv2d"]
        for layer, names, arrays in (
                ("conv_lst_m2d", ["conv_lst_m2d/kernel:0", "conv_lst_m2d/recurrent_kernel:0", "conv_lst_m2d/bias:0"], cell),
                ("conv2d", ["conv2d/kernel:0", "conv2d/bias:0"], head)):
            lay = g.create_group(layer)
            lay.attrs["weight_names"] = [s.encode() for s in names]
            for name, arr in zip(names, arrays):
                lay.create_dataset(name, data=arr)
    loaded = load_model(tmp_path / "old.h5")
    assert (loaded.kind, loaded.prefix, loaded.head) == ("convlstm", "conv_lst_m2d", "conv2d")
    x = rng.normal(0, 1, (2, 3, 5, 5, 1))
    want = keras_convlstm2d(x, *cell) @ head[0][0, 0] + head[1]
    np.testing.assert_allclose(loaded.model.forward(x.transpose(0, 1, 4, 2, 3)).y.transpose(0, 1, 3, 4, 2), want,
                               rtol=0, atol=1e-12)


def test_a_flat_input_weight_beside_a_kernel_is_refused(tmp_path):
    from safetensors.numpy import save_file

    model = make_model("convlstm", n_inputs=1, n_units=2, n_outputs=1, kernel=3)
    sd = {k: np.ascontiguousarray(v) for k, v in model.state_dict().items()}
    sd["weight_ih_l0"] = np.zeros((8, 9))
    save_file(sd, str(tmp_path / "flat.safetensors"))
    with pytest.raises(ModelFileError, match=r"^flat.safetensors: weight_ih_l0 has shape \(8, 9\); a ConvLSTM's input "
                                             r"weight is \(4F, C, k, k\) with an odd square kernel k\.$"):
        load_model(tmp_path / "flat.safetensors")
