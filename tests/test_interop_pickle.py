"""Pickled models are refused without being unpickled (torch.save's zip and its legacy format, a
plain .pkl), in one sentence that says how to save a safetensors file instead; other zip members
that are not arrays are refused by name. Fixtures are written here (torch when installed)."""

from __future__ import annotations

import pickle
import zipfile

import numpy as np
import pytest

from explorer.interop import ModelFileError, load_model

SAY = 'safetensors.torch.save_file(model.state_dict(), "model.safetensors")'


class Canary:
    """Unpickling this creates the file ``path``: it must never exist after a refusal."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def refused(path) -> str:
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    msg = str(err.value)
    assert msg.count(". ") == 0 and msg.endswith(".")          # one sentence
    return msg


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_a_plain_pickle_is_refused_and_never_run(tmp_path, protocol):
    canary = tmp_path / "ran"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"weight_ih_l0": Canary(canary)}, protocol=protocol))
    msg = refused(path)
    assert msg.startswith("model.pkl is a pickle (PyTorch's torch.save writes one)")
    assert SAY in msg
    assert not canary.exists()


@pytest.mark.parametrize("zipped", [True, False])
def test_torch_save_files_are_refused_and_never_run(tmp_path, zipped):
    torch = pytest.importorskip("torch")
    canary = tmp_path / "ran"
    net = torch.nn.LSTM(1, 3, num_layers=2, bidirectional=True, batch_first=True)
    path = tmp_path / "model.pt"
    torch.save({"state": net.state_dict(), "extra": Canary(canary)}, path,
               _use_new_zipfile_serialization=zipped)
    assert path.read_bytes()[:2] == (b"PK" if zipped else b"\x80\x02")
    msg = refused(path)
    assert msg.startswith("model.pt is a pickle") and SAY in msg
    assert not canary.exists()


def test_a_zip_with_something_else_than_arrays_names_the_member(tmp_path):
    path = tmp_path / "weights.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("notes.txt", "hello")
    assert refused(path) == ("weights.npz holds 'notes.txt', which is not a NumPy array; open a safetensors "
                             "file or a run folder's model.npz.")


def test_a_safetensors_header_that_starts_like_a_pickle_is_still_read(tmp_path):
    """A header of 0x0280 + k bytes begins with the bytes 80 02 (a pickle's PROTO 2): the "{" after
    the 8-byte length tells them apart."""
    from safetensors.numpy import save_file

    from explorer.engine import make_model
    from explorer.interop import save_model

    model = make_model("lstm", 1, 3, 1, seed=2)
    path = save_model(model, tmp_path / "m.safetensors")
    tensors = {k: v for k, v in load_model(path).model.state_dict().items()}
    named = {("rnn." + k if not k.startswith("head.") else k): v for k, v in tensors.items()}
    for extra in range(0, 1200, 4):                  # metadata of a length that puts 80 02 first
        save_file(named, str(tmp_path / "p.safetensors"), metadata={"pad": "x" * extra})
        head = (tmp_path / "p.safetensors").read_bytes()[:9]
        if head[0] == 0x80 and 2 <= head[1] <= 5:
            break
    else:
        pytest.fail("no padding gave a header length starting with 80 0x")
    assert head[8:9] == b"{"
    np.testing.assert_array_equal(load_model(tmp_path / "p.safetensors").model.params, model.params)


def test_train_init_refuses_a_pickle_with_exit_2_and_writes_nothing(tmp_path, capsys):
    from explorer.cli import main

    data = tmp_path / "sine.csv"
    np.savetxt(data, np.sin(0.2 * np.arange(200)))
    ran = tmp_path / "ran"
    (tmp_path / "model.pt").write_bytes(pickle.dumps(Canary(ran), protocol=2))
    code = main(["train", str(data), "--init", str(tmp_path / "model.pt"), "--epochs", "1",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and not ran.exists() and not (tmp_path / "out").exists()
    assert err.strip() == "lstm-explorer: " + refused(tmp_path / "model.pt")
