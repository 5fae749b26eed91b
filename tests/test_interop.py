"""Real models in and out: safetensors files of PyTorch models, the engine's model.npz, fitting a
model to data. Fixtures are written by the tests (torch when installed, else NumPy arrays with
torch's names and shapes); nothing is downloaded."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file as np_save_file

from explorer.engine import make_model
from explorer.interop import (LoadedModel, ModelFileError, fit_model, load_model, model_metadata,
                              run_for_model, save_model)

TOL = 1e-10
README = Path(__file__).resolve().parent.parent / "README.md"


def one_sentence(msg: str, *names: str) -> None:
    assert "\n" not in msg and msg.endswith("."), msg
    for name in names:
        assert name in msg, f"{name!r} not in {msg!r}"


# -- torch-named arrays without torch --------------------------------------------------------------
def torch_shaped(kind="lstm", m=3, n=4, k=2, L=1, D=1, prefix="encoder.lstm.", head="fc", seed=0,
                 bias=True):
    """Random arrays named and shaped as torch's nn.LSTM/GRU/RNN + nn.Linear state dict."""
    G = {"lstm": 4, "gru": 3, "rnn": 1}[kind]
    rng = np.random.default_rng(seed)
    sd = {}
    for layer in range(L):
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            sd[f"{prefix}weight_ih{sfx}"] = rng.uniform(-0.5, 0.5, (G * n, m if layer == 0 else D * n))
            sd[f"{prefix}weight_hh{sfx}"] = rng.uniform(-0.5, 0.5, (G * n, n))
            if bias:
                sd[f"{prefix}bias_ih{sfx}"] = rng.uniform(-0.5, 0.5, G * n)
                sd[f"{prefix}bias_hh{sfx}"] = rng.uniform(-0.5, 0.5, G * n)
    if head:
        sd[f"{head}.weight"] = rng.uniform(-0.5, 0.5, (k, D * n))
        sd[f"{head}.bias"] = rng.uniform(-0.5, 0.5, k)
    return sd


def test_numpy_arrays_with_torch_names_map_onto_the_engine(tmp_path):
    sd = torch_shaped("lstm", m=3, n=4, k=2, prefix="encoder.lstm.", head="fc")
    path = tmp_path / "m.safetensors"
    np_save_file(sd, str(path))
    loaded = load_model(path)
    assert isinstance(loaded, LoadedModel)
    assert (loaded.kind, loaded.prefix, loaded.head, loaded.format) == ("lstm", "encoder.lstm.", "fc", "safetensors")
    model = loaded.model
    assert (model.n_inputs, model.n_units, model.n_outputs) == (3, 4, 2)
    ours = model.state_dict()
    np.testing.assert_array_equal(ours["weight_ih_l0"], sd["encoder.lstm.weight_ih_l0"])
    np.testing.assert_array_equal(ours["weight_hh_l0"], sd["encoder.lstm.weight_hh_l0"])
    np.testing.assert_allclose(ours["bias_ih_l0"] + ours["bias_hh_l0"],
                               sd["encoder.lstm.bias_ih_l0"] + sd["encoder.lstm.bias_hh_l0"], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(ours["head.weight"], sd["fc.weight"])
    np.testing.assert_array_equal(ours["head.bias"], sd["fc.bias"])
    assert loaded.notes == ()
    assert loaded.describe() == ('m.safetensors: an LSTM of 4 units over 3 inputs (prefix "encoder.lstm."), '
                                 'head "fc" with 2 outputs.')


@pytest.mark.parametrize("kind,G", [("gru", 3), ("rnn", 1)])
def test_kind_is_inferred_from_the_gate_blocks(tmp_path, kind, G):
    sd = torch_shaped(kind, m=2, n=5, k=1, prefix="model.rnn.", head="decoder.linear")
    np_save_file(sd, str(tmp_path / "m.safetensors"))
    loaded = load_model(tmp_path / "m.safetensors")
    assert (loaded.kind, loaded.model.n_units, loaded.model.n_inputs, loaded.head) == (kind, 5, 2, "decoder.linear")
    assert loaded.model.state_dict()["weight_hh_l0"].shape == (G * 5, 5)
    if kind == "rnn":
        assert any("tanh" in note for note in loaded.notes)


def test_lstmcell_names_without_layer_suffix_are_layer_0(tmp_path):
    sd = {k.replace("_l0", ""): v for k, v in torch_shaped("lstm", m=2, n=3, prefix="cell.", head="out").items()}
    np_save_file(sd, str(tmp_path / "cell.safetensors"))
    loaded = load_model(tmp_path / "cell.safetensors")
    assert (loaded.prefix, loaded.head, loaded.model.n_units) == ("cell.", "out", 3)
    np.testing.assert_array_equal(loaded.model.state_dict()["weight_hh_l0"], sd["cell.weight_hh"])


def test_no_head_starts_a_new_one_and_says_so(tmp_path):
    sd = torch_shaped("lstm", m=1, n=6, head=None, prefix="")
    np_save_file(sd, str(tmp_path / "bare.safetensors"))
    loaded = load_model(tmp_path / "bare.safetensors", n_outputs=3, seed=7)
    assert loaded.head is None and not loaded.has_head
    assert loaded.model.n_outputs == 3 and loaded.model.state_dict()["head.weight"].shape == (3, 6)
    assert any("new head" in note and "(k, 6)" in note for note in loaded.notes), loaded.notes
    assert "a new head" in loaded.message
    again = load_model(tmp_path / "bare.safetensors", n_outputs=3, seed=7)
    np.testing.assert_array_equal(again.model.state_dict()["head.weight"], loaded.model.state_dict()["head.weight"])


def test_head_without_bias_and_other_tensors_are_reported(tmp_path):
    sd = torch_shaped("gru", m=4, n=3, k=2, prefix="rnn.", head="proj")
    del sd["proj.bias"]
    sd["embedding.weight"] = np.ones((10, 4))
    sd["norm.num_batches_tracked"] = np.array(3, dtype=np.int64)
    np_save_file(sd, str(tmp_path / "m.safetensors"))
    loaded = load_model(tmp_path / "m.safetensors")
    assert loaded.head == "proj"
    np.testing.assert_array_equal(loaded.model.state_dict()["head.bias"], np.zeros(2))
    text = " ".join(loaded.notes)
    assert "proj has no bias" in text
    assert "Ignored 2 other tensors (embedding.weight (10, 4), norm.num_batches_tracked ())" in text


def test_several_fitting_linear_layers_prefer_the_one_with_a_bias(tmp_path):
    sd = torch_shaped("lstm", m=2, n=3, k=2, prefix="lstm.", head="fc")
    sd["tied.weight"] = np.ones((5, 3))                     # no bias: not the head
    np_save_file(sd, str(tmp_path / "m.safetensors"))
    assert load_model(tmp_path / "m.safetensors").head == "fc"
    sd["fc2.weight"], sd["fc2.bias"] = np.ones((1, 3)), np.zeros(1)
    np_save_file(sd, str(tmp_path / "m2.safetensors"))
    loaded = load_model(tmp_path / "m2.safetensors")
    assert loaded.head is None
    assert any("Several linear layers" in n and "fc.weight" in n and "fc2.weight" in n for n in loaded.notes)


# -- what cannot be mapped: one sentence naming the key ---------------------------------------------
def write(tmp_path, sd, name="bad.safetensors"):
    path = tmp_path / name
    np_save_file(sd, str(path))
    return path


def test_proj_size_is_refused_naming_the_key(tmp_path):
    sd = torch_shaped("lstm", m=2, n=4, prefix="enc.")
    sd["enc.weight_hr_l0"] = np.zeros((2, 4))
    with pytest.raises(ModelFileError) as e:
        load_model(write(tmp_path, sd))
    one_sentence(str(e.value), "bad.safetensors", "enc.weight_hr_l0", "proj_size")


def test_two_recurrent_modules_are_refused(tmp_path):
    sd = {**torch_shaped("lstm", prefix="encoder.", head=None), **torch_shaped("gru", prefix="decoder.", head="fc")}
    with pytest.raises(ModelFileError) as e:
        load_model(write(tmp_path, sd))
    one_sentence(str(e.value), "2 recurrent modules", "encoder.", "decoder.")


@pytest.mark.parametrize("drop,key", [("enc.weight_hh_l0", "enc.weight_hh_l0"),
                                      ("enc.weight_ih_l0", "enc.weight_ih_l0"),
                                      ("enc.bias_hh_l0", "enc.bias_hh_l0")])
def test_missing_tensors_are_named(tmp_path, drop, key):
    sd = torch_shaped("lstm", prefix="enc.")
    del sd[drop]
    with pytest.raises(ModelFileError) as e:
        load_model(write(tmp_path, sd))
    one_sentence(str(e.value), "bad.safetensors", key)


def test_missing_layer_and_wrong_shapes_are_named(tmp_path):
    sd = torch_shaped("lstm", m=2, n=4, prefix="enc.")
    sd["enc.weight_ih_l0"] = np.zeros((16, 2, 1))
    with pytest.raises(ModelFileError) as e:
        load_model(write(tmp_path, sd))
    one_sentence(str(e.value), "enc.weight_ih_l0", "(16, 2, 1)", "(16, m)")
    sd = torch_shaped("lstm", m=2, n=4, prefix="enc.")
    sd["enc.weight_hh_l0"] = np.zeros((10, 4))
    with pytest.raises(ModelFileError) as e:
        load_model(write(tmp_path, sd))
    one_sentence(str(e.value), "enc.weight_hh_l0", "(10, 4)")
    sd = torch_shaped("lstm", m=2, n=4, prefix="enc.")
    sd["enc.bias_ih_l0"] = np.zeros(15)
    with pytest.raises(ModelFileError) as e:
        load_model(write(tmp_path, sd))
    one_sentence(str(e.value), "enc.bias_ih_l0", "(15,)", "(16,)")
    sd = torch_shaped("lstm", m=2, n=4, prefix="enc.")
    sd["enc.weight_ih_l2"] = np.zeros((16, 4))          # a layer 2 without a layer 1
    with pytest.raises(ModelFileError) as e:
        load_model(write(tmp_path, sd))
    one_sentence(str(e.value), "bad.safetensors has no enc.weight_ih_l1 but has tensors of layer 2")
    sd = torch_shaped("lstm", m=2, n=4, prefix="enc.")
    sd["enc.weight_hh_l999999999"] = np.zeros((16, 4))   # a hostile layer number: refused at once
    with pytest.raises(ModelFileError) as e:
        load_model(write(tmp_path, sd))
    one_sentence(str(e.value), "has no enc.weight_ih_l1 but has tensors of layer 999999999")
    sd = torch_shaped("lstm", m=2, n=4, L=2, prefix="enc.")
    del sd["enc.weight_hh_l1"]                           # layer 1 there, one tensor missing
    with pytest.raises(ModelFileError) as e:
        load_model(write(tmp_path, sd))
    one_sentence(str(e.value), "has no enc.weight_hh_l1: a 2 layers LSTM needs it")


def test_non_float_and_non_finite_tensors_are_refused(tmp_path):
    sd = torch_shaped("lstm", m=2, n=4, prefix="enc.")
    sd["enc.weight_hh_l0"] = np.zeros((16, 4), dtype=np.int64)
    with pytest.raises(ModelFileError) as e:
        load_model(write(tmp_path, sd))
    one_sentence(str(e.value), "enc.weight_hh_l0", "int64")
    sd = torch_shaped("lstm", m=2, n=4, prefix="enc.")
    sd["enc.weight_ih_l0"][3, 1] = np.nan
    with pytest.raises(ModelFileError) as e:
        load_model(write(tmp_path, sd))
    one_sentence(str(e.value), "enc.weight_ih_l0", "NaN")


def test_files_that_are_not_models(tmp_path):
    cases = {"garbage.safetensors": b"this is not a model file at all", "empty.safetensors": b""}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ModelFileError) as e:
            load_model(tmp_path / name)
        one_sentence(str(e.value), name, "not a readable safetensors file")
    np_save_file({"x": np.zeros(3)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ModelFileError) as e:
        load_model(tmp_path / "other.safetensors")
    one_sentence(str(e.value), "other.safetensors", "no recurrent layer", "x")
    with pytest.raises(ModelFileError) as e:
        load_model(tmp_path / "missing.safetensors")
    one_sentence(str(e.value), "missing.safetensors", "No such file")
    with pytest.raises(ModelFileError) as e:
        load_model(tmp_path)
    one_sentence(str(e.value), "is a folder")


def test_metadata_that_contradicts_the_tensors_is_refused(tmp_path):
    sd = torch_shaped("lstm", m=2, n=4, prefix="rnn.", head="head")
    np_save_file(sd, str(tmp_path / "m.safetensors"), metadata={"format": "lstm-explorer", "kind": "gru"})
    with pytest.raises(ModelFileError) as e:
        load_model(tmp_path / "m.safetensors")
    one_sentence(str(e.value), "kind 'gru'", "rnn.weight_hh_l0")
    np_save_file(sd, str(tmp_path / "m.safetensors"), metadata={"format": "lstm-explorer", "n_units": "5"})
    with pytest.raises(ModelFileError) as e:
        load_model(tmp_path / "m.safetensors")
    one_sentence(str(e.value), "n_units 5", "4")


# -- saving ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm", "peephole"])
@pytest.mark.parametrize("L,bi", [(1, False), (2, True)])
def test_save_then_load_gives_the_same_model(tmp_path, kind, L, bi):
    model = make_model(kind, 2, 5, 3, num_layers=L, bidirectional=bi, seed=4)
    model.params[...] += 0.1 * np.random.default_rng(1).standard_normal(model.params.size)
    path = save_model(model, tmp_path / f"{kind}.safetensors")
    loaded = load_model(path)
    assert (loaded.kind, loaded.prefix, loaded.head) == (kind, "rnn.", "head")
    assert (loaded.num_layers, loaded.bidirectional) == (L, bi)
    assert loaded.metadata["format"] == "lstm-explorer"
    np.testing.assert_array_equal(loaded.model.params, model.params)
    x = np.random.default_rng(2).standard_normal((3, 6, 2))
    np.testing.assert_array_equal(loaded.model.forward(x).y, model.forward(x).y)


def test_saved_file_holds_torch_names_and_metadata(tmp_path):
    from safetensors import safe_open

    model = make_model("gru", n_inputs=3, n_units=4, n_outputs=2, seed=0)
    path = save_model(model, tmp_path / "w.safetensors")
    with safe_open(str(path), framework="np") as f:
        keys = sorted(f.keys())
        meta = f.metadata()
        assert f.get_tensor("rnn.weight_ih_l0").dtype == np.float64
    assert keys == ["head.bias", "head.weight", "rnn.bias_hh_l0", "rnn.bias_ih_l0", "rnn.weight_hh_l0",
                    "rnn.weight_ih_l0"]
    assert meta == model_metadata(model)
    assert {k: meta[k] for k in ("format", "kind", "n_inputs", "n_units", "n_outputs", "num_layers",
                                 "bidirectional", "app_version")} == {
        "format": "lstm-explorer", "kind": "gru", "n_inputs": "3", "n_units": "4", "n_outputs": "2",
        "num_layers": "1", "bidirectional": "false", "app_version": "0.1.0"}
    assert meta["torch"] == ('torch.nn.ModuleDict({"rnn": torch.nn.GRU(3, 4, num_layers=1, '
                             'bidirectional=False, batch_first=True), "head": torch.nn.Linear(4, 2)})')


def test_save_failure_leaves_the_previous_file(tmp_path):
    model = make_model("lstm", n_inputs=1, n_units=2, n_outputs=1)
    with pytest.raises(ModelFileError) as e:
        save_model(model, tmp_path / "no-such-folder" / "w.safetensors")
    one_sentence(str(e.value), "w.safetensors")


@pytest.mark.parametrize("kind,L,bi", [("lstm", 1, False), ("peephole", 2, True), ("gru", 3, False)])
def test_run_folder_model_npz_opens(tmp_path, kind, L, bi):
    model = make_model(kind, 2, 3, 1, num_layers=L, bidirectional=bi, seed=5)
    model.save(tmp_path / "model.npz")
    loaded = load_model(tmp_path / "model.npz")
    assert (loaded.format, loaded.prefix, loaded.head, loaded.kind) == ("npz", "", "head", kind)
    assert (loaded.num_layers, loaded.bidirectional) == (L, bi)
    np.testing.assert_array_equal(loaded.model.params, model.params)


# -- fitting to data ---------------------------------------------------------------------------------
def test_fit_model_checks_sizes_and_replaces_a_missing_head(tmp_path):
    np_save_file(torch_shaped("lstm", m=2, n=3, k=1, prefix="enc.", head="fc"), str(tmp_path / "a.safetensors"))
    loaded = load_model(tmp_path / "a.safetensors")
    assert fit_model(loaded, 2, 1) is loaded.model
    with pytest.raises(ModelFileError) as e:
        fit_model(loaded, 1, 1, data_label="nile.csv")
    one_sentence(str(e.value), "a.safetensors takes 2 inputs per step but nile.csv gives 1")
    with pytest.raises(ModelFileError) as e:
        fit_model(loaded, 2, 4, data_label="nile.csv")
    one_sentence(str(e.value), "head fc gives 1 output but nile.csv needs 4")
    np_save_file(torch_shaped("lstm", m=2, n=3, prefix="enc.", head=None), str(tmp_path / "b.safetensors"))
    bare = load_model(tmp_path / "b.safetensors")
    fitted = fit_model(bare, 2, 4)
    assert fitted.n_outputs == 4
    np.testing.assert_array_equal(fitted.state_dict()["weight_hh_l0"], bare.model.state_dict()["weight_hh_l0"])


def test_run_for_model_trains_from_the_file_weights(tmp_path):
    from explorer.data.examples import load_example
    from explorer.runs.store import ModelSettings

    ds = load_example("sine")
    np_save_file(torch_shaped("gru", m=ds.n_inputs, n=5, k=ds.n_outputs, prefix="net.gru.", head="net.fc"),
                 str(tmp_path / "g.safetensors"))
    loaded = load_model(tmp_path / "g.safetensors")
    run = run_for_model(loaded, ds, ModelSettings(units=99, cell="lstm", epochs=1, batch=64, lr=0.003))
    assert run.model is loaded.model
    assert (run.settings.cell, run.settings.units, run.settings.lr, run.settings.epochs) == ("gru", 5, 0.003, 1)
    before = run.model.params.copy()
    snaps = list(run.trainer.steps())
    assert snaps and np.all(np.isfinite([s.loss for s in snaps]))
    assert not np.array_equal(before, run.model.params)


# -- against torch -----------------------------------------------------------------------------------
def torch_net(kind, m, n, k, L=1, bi=False, seed=0):
    torch = pytest.importorskip("torch")
    torch.manual_seed(seed)
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind]
    rnn = cls(m, n, num_layers=L, bidirectional=bi, batch_first=True).double()
    fc = torch.nn.Linear(n * (2 if bi else 1), k).double()
    return rnn, fc


def torch_outputs(rnn, fc, x):
    import torch

    with torch.no_grad():
        return fc(rnn(torch.from_numpy(x))[0]).numpy()


def save_torch(tmp_path, rnn, fc, prefix="encoder.lstm.", head="fc", dtype=None, name="m.safetensors"):
    import torch
    from safetensors.torch import save_file

    sd = {prefix + k: v for k, v in rnn.state_dict().items()}
    sd.update({f"{head}.{k}": v for k, v in fc.state_dict().items()})
    if dtype is not None:
        sd = {k: v.to(dtype) for k, v in sd.items()}
    sd = {k: v.contiguous() for k, v in sd.items() if isinstance(v, torch.Tensor)}
    save_file(sd, str(tmp_path / name))
    return tmp_path / name


CASES = [(kind, L, bi) for kind in ("lstm", "gru", "rnn") for (L, bi) in ((1, False), (2, False), (1, True), (3, True))]


@pytest.mark.parametrize("kind,L,bi", CASES)
def test_pytorch_models_give_torch_outputs(tmp_path, kind, L, bi):
    rnn, fc = torch_net(kind, m=3, n=5, k=2, L=L, bi=bi, seed=L + 3 * bi)
    path = save_torch(tmp_path, rnn, fc, prefix="encoder.lstm.", head="fc")
    loaded = load_model(path)
    assert (loaded.kind, loaded.num_layers, loaded.bidirectional, loaded.prefix, loaded.head) == (
        kind, L, bi, "encoder.lstm.", "fc")
    assert any("h_n" in note for note in loaded.notes) == bi
    x = np.random.default_rng(L).standard_normal((4, 9, 3))
    err = np.max(np.abs(loaded.model.forward(x).y - torch_outputs(rnn, fc, x)))
    assert err <= TOL, err


@pytest.mark.parametrize("kind,L,bi", CASES)
def test_saved_files_load_strictly_in_torch_and_reproduce_outputs(tmp_path, kind, L, bi):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    model = make_model(kind, 2, 4, 3, num_layers=L, bidirectional=bi, seed=L)
    model.params[...] += 0.1 * np.random.default_rng(0).standard_normal(model.params.size)
    path = save_model(model, tmp_path / "w.safetensors")
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind]
    net = torch.nn.ModuleDict({"rnn": cls(2, 4, num_layers=L, bidirectional=bi, batch_first=True),
                               "head": torch.nn.Linear(4 * (2 if bi else 1), 3)}).double()
    net.load_state_dict(load_file(str(path)), strict=True)
    x = np.random.default_rng(5).standard_normal((3, 7, 2))
    theirs = torch_outputs(net["rnn"], net["head"], x)
    err = np.max(np.abs(model.forward(x).y - theirs))
    assert err <= TOL, err


@pytest.mark.parametrize("dtype_name", ["float16", "bfloat16", "float32"])
def test_low_precision_tensors_load_as_float64(tmp_path, dtype_name):
    torch = pytest.importorskip("torch")
    dtype = getattr(torch, dtype_name)
    rnn, fc = torch_net("lstm", m=2, n=3, k=1)
    path = save_torch(tmp_path, rnn, fc, prefix="lstm.", head="fc", dtype=dtype)
    loaded = load_model(path)
    assert loaded.model.dtype == np.float64
    want = rnn.weight_hh_l0.detach().to(dtype).double().numpy()     # the exact stored values
    np.testing.assert_array_equal(loaded.model.state_dict()["weight_hh_l0"], want)
    np.testing.assert_array_equal(loaded.model.state_dict()["head.weight"], fc.weight.detach().to(dtype).double().numpy())


def test_proj_size_from_torch_is_refused(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    lstm = torch.nn.LSTM(3, 6, proj_size=2, batch_first=True)
    save_file(dict(lstm.state_dict()), str(tmp_path / "proj.safetensors"))
    with pytest.raises(ModelFileError) as e:
        load_model(tmp_path / "proj.safetensors")
    one_sentence(str(e.value), "proj.safetensors", "weight_hr_l0", "proj_size")


def readme_snippet() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Models in and out"):]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    return next(b for b in blocks if b.startswith("import torch"))


def test_readme_pytorch_snippet_loads_a_saved_model(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    snippet = readme_snippet()
    lines = [ln for ln in snippet.splitlines() if ln.strip() and not ln.startswith("#")]
    assert len([ln for ln in lines if not ln.startswith(("import", "from"))]) == 3, snippet
    sizes = re.search(r"torch\.nn\.LSTM\((\d+), (\d+),.*?torch\.nn\.Linear\((\d+), (\d+)\)", snippet)
    m, n, _, k = map(int, sizes.groups())
    model = make_model("lstm", n_inputs=m, n_units=n, n_outputs=k, seed=3)
    monkeypatch.chdir(tmp_path)
    save_model(model, "weights.safetensors")
    x_np = np.random.default_rng(0).standard_normal((2, 10, m))
    import torch

    scope = {"x": torch.from_numpy(x_np)}
    exec(compile(snippet, "README.md", "exec"), scope)        # exactly the README's lines
    np.testing.assert_allclose(scope["y"].detach().numpy(), model.forward(x_np).y, rtol=0, atol=TOL)


def test_interop_never_imports_qt_or_torch(tmp_path):
    import subprocess
    import sys

    model = make_model("lstm", n_inputs=1, n_units=2, n_outputs=1)
    save_model(model, tmp_path / "w.safetensors")
    code = ("import sys; from explorer.interop import load_model, save_model, run_for_model; "
            f"m = load_model({str(tmp_path / 'w.safetensors')!r}).model; save_model(m, {str(tmp_path / 'o.safetensors')!r}); "
            "bad = [m for m in ('PySide6', 'pyqtgraph', 'torch', 'h5py') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
