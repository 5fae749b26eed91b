"""Fuzzing model files: nothing but ModelFileError (naming the file) ever escapes load_model, and
whatever loads runs."""

from __future__ import annotations

import os
import struct
import tempfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import save

from explorer.engine import make_model
from explorer.interop import ModelFileError, load_model, save_model

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_dir = tempfile.mkdtemp(prefix="lstm-explorer-model-fuzz-")


def _write(data: bytes, name: str) -> str:
    path = os.path.join(_dir, name)
    with open(path, "wb") as fh:
        fh.write(data)
    return path


def _check(path):
    try:
        loaded = load_model(path)
    except ModelFileError as exc:
        msg = str(exc)
        assert os.path.basename(path) in msg and "\n" not in msg, msg
        return None
    m = loaded.model
    y = m.forward(np.ones((1, 3, m.n_inputs))).y
    assert y.shape == (1, 3, m.n_outputs) and np.isfinite(y).all()
    return loaded


MAGIC = st.sampled_from([b"", b"PK\x03\x04", b"\x89HDF\r\n\x1a\n", struct.pack("<Q", 2) + b"{}",
                         struct.pack("<Q", 40)])


@SETTINGS
@given(prefix=MAGIC, data=st.binary(max_size=400), suffix=st.sampled_from([".safetensors", ".keras", ".h5", ".npz"]))
def test_random_bytes(prefix, data, suffix):
    _check(_write(prefix + data, "fuzz" + suffix))


NAMES = st.sampled_from(["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_ih_l1",
                         "weight_hh_l1", "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l1",
                         "weight_hr_l0", "peephole_i_l0", "weight", "bias", "weight_ih", "weight_hh",
                         "weight_hh_l999999999", "bias_ih_l3_reverse"])
PREFIXES = st.sampled_from(["", "rnn.", "enc.lstm.", "fc.", "head."])
DTYPES = st.sampled_from([np.float64, np.float32, np.float16, np.int32])


@SETTINGS
@given(st.dictionaries(st.tuples(PREFIXES, NAMES),
                       st.tuples(st.lists(st.integers(0, 9), min_size=0, max_size=3), DTYPES),
                       min_size=1, max_size=8),
       st.sampled_from([None, {"format": "lstm-explorer", "kind": "gru"}, {"format": "lstm-explorer", "num_layers": "2"}]))
def test_random_tensor_names_and_shapes(entries, metadata):
    tensors = {p + n: np.full(shape, 0.1, dtype=dt) for (p, n), (shape, dt) in entries.items()}
    _check(_write(save(tensors, metadata=metadata), "names.safetensors"))


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=6))
def test_damaged_saved_files(flips):
    model = make_model("gru", n_inputs=2, n_units=3, n_outputs=1, seed=0)
    path = os.path.join(_dir, "ok.safetensors")
    save_model(model, path)
    with open(path, "rb") as fh:
        data = bytearray(fh.read())
    for pos, value in flips:
        data[pos % len(data)] = value
    _check(_write(bytes(data), "damaged.safetensors"))
