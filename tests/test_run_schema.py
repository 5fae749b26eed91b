"""The strict schema of a run folder (explorer/runs/schema.py and Run.load's cross-file checks): every
value of config.json, state.json, model.npz and optimizer.npz of the wrong JSON type, out of range or
inconsistent with the other files is refused with one sentence that names THE file and THE key --
config.json's bad data settings are blamed on config.json, never on the data file. Nothing is
written, nothing is trained (exit 2 on the command line, nothing at --out)."""

import hashlib
import io
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explorer.app.ingest import load_dataset
from explorer.cli import main
from explorer.data import SequenceFileError
from explorer.data.examples import load_example
from explorer.util.ram import MemoryBudgetError
from explorer.runs.store import RUN_FILES, ModelSettings, Run, RunFileError
from run_edits import as_format3, detach, edit_json


def one_sentence(msg: str) -> bool:
    msg = msg.strip()
    return "\n" not in msg and "Traceback" not in msg and msg.endswith(".") and msg.count(". ") == 0


def npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def edit_npz(folder, name, fn, rehash=True):
    """Change an archive; with ``rehash`` its SHA-256 in state.json follows (so the check named is
    the one about the values, not the checksum)."""
    detach(folder, name)
    with np.load(folder / name, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    fn(arrays)
    data = npz_bytes(**arrays)
    (folder / name).write_bytes(data)
    if rehash:
        edit_json(folder, "state.json", ("sha256", name), hashlib.sha256(data).hexdigest())


@pytest.fixture(scope="module")
def file_run(tmp_path_factory):
    """A run on a CSV series (file data: normaliser, columns, source in config.json)."""
    d = tmp_path_factory.mktemp("filerun")
    csv = d / "series.csv"
    csv.write_text("t,value\n" + "".join(f"{i},{np.sin(i / 5) * 3 + 7:.6f}\n" for i in range(200)))
    run = Run(load_dataset(csv, seq_len=10), ModelSettings(units=5, epochs=2, batch=16, seed=1))
    list(run.trainer.steps(max_steps=9))
    run.save(d / "run")
    return d / "run"


@pytest.fixture(scope="module")
def example_run(tmp_path_factory):
    run = Run(load_example("sine", n_points=200), ModelSettings(units=5, epochs=3, batch=16, lr=0.02, seed=2))
    list(run.trainer.steps(max_steps=14))
    folder = tmp_path_factory.mktemp("exrun") / "run"
    run.save(folder)
    return folder


def copy(folder: Path, tmp_path: Path) -> Path:
    d = tmp_path / "run"
    shutil.copytree(folder, d, symlinks=True)
    return d


def J(name, path, value):
    return lambda f: edit_json(f, name, path, value)


def flip_byte(f, name, pos):
    detach(f, name)
    b = bytearray((f / name).read_bytes())
    b[pos] ^= 0xFF
    (f / name).write_bytes(bytes(b))


def big_m(a):
    a["m"] = a["m"].copy()
    a["m"][3] = 10 * math.sqrt(a["v"][3] + 1e-12) + 1.0


# (damage, the file the sentence names, words it contains)
EXAMPLE_CASES = {
    "units 8.0": (J("config.json", ("model", "units"), 8.0), "config.json", "model.units = 8.0"),
    "units text": (J("config.json", ("model", "units"), "5"), "config.json", "model.units = '5'"),
    "units missing": (J("config.json", ("model", "units"), KeyError), "config.json",
                      "lacks the setting model.units"),
    "units 1e9": (J("config.json", ("model", "units"), 10**9), "config.json",
                  "model.units = 1000000000, not a whole number from 1 to 100000"),
    "units 6": (J("config.json", ("model", "units"), 6), "config.json", "model.units = 6 where model.npz"),
    "layers 100": (J("config.json", ("model", "layers"), 100), "config.json", "model.layers = 100"),
    "layers 2": (J("config.json", ("model", "layers"), 2), "config.json",
                 "model.layers = 2 where model.npz holds a model with layers = 1"),
    "bidirectional text": (J("config.json", ("model", "bidirectional"), "yes"), "config.json",
                           "model.bidirectional = 'yes'"),
    "batch text": (J("config.json", ("model", "batch"), "16"), "config.json", "model.batch = '16'"),
    "lr text": (J("config.json", ("model", "lr"), "0.02"), "config.json", "model.lr = '0.02'"),
    "lr other than the optimiser's": (J("config.json", ("model", "lr"), 0.5), "optimizer.npz",
                                      "lr = 0.02 where config.json says model.lr = 0.5"),
    "seed text": (J("config.json", ("model", "seed"), "2"), "config.json", "model.seed = '2'"),
    "seed other than state's": (J("config.json", ("model", "seed"), 3), "config.json",
                                "model.seed = 3 where state.json says seed = 2"),
    "clip text": (J("config.json", ("model", "clip"), "1"), "config.json", "model.clip = '1'"),
    "clip -5": (J("config.json", ("model", "clip"), -5), "config.json", "model.clip = -5"),
    "epochs float": (J("config.json", ("model", "epochs"), 3.0), "config.json", "model.epochs = 3.0"),
    "forget bias 1e300": (J("config.json", ("model", "forget_bias"), 1e300), "config.json",
                          "model.forget_bias = 1e+300"),
    "sample index 1e9": (J("config.json", ("model", "sample_index"), 10**9), "config.json",
                         "model.sample_index = 1000000000"),
    "loss bogus": (J("config.json", ("loss",), "bogus"), "config.json", "loss = 'bogus'"),
    "loss other": (J("config.json", ("loss",), "cross_entropy"), "config.json",
                   "loss = 'cross_entropy' where its data gives 'mse'"),
    "target_scale 0": (J("config.json", ("target_scale",), 0), "config.json", "target_scale = 0"),
    "target_scale text": (J("config.json", ("target_scale",), "x"), "config.json", "target_scale = 'x'"),
    "target_scale other": (J("config.json", ("target_scale",), 2.5), "config.json",
                           "target_scale = 2.5 where its data gives"),
    "target_last text": (J("config.json", ("target_last",), "true"), "config.json", "target_last = 'true'"),
    "n_inputs 3": (J("config.json", ("n_inputs",), 3), "config.json", "n_inputs = 3"),
    "n_outputs text": (J("config.json", ("n_outputs",), "1"), "config.json", "n_outputs = '1'"),
    "trained epochs text": (J("config.json", ("trained", "epochs"), "two"), "config.json",
                            "trained.epochs = 'two'"),
    "trained steps -1": (J("config.json", ("trained", "steps"), -1), "config.json", "trained.steps = -1"),
    "trained steps other": (J("config.json", ("trained", "steps"), 3), "config.json",
                            "trained.steps = 3 where state.json says step = 14"),
    "params total": (J("config.json", ("params", "total"), 7), "config.json", "params.total = 7"),
    "format 9": (J("config.json", ("format",), 9), "config.json", "format = 9"),
    "data overrides list": (J("config.json", ("data", "overrides"), [1]), "config.json", "data.overrides = [1]"),
    "data example refused": (J("config.json", ("data", "overrides"), {"n_points": 0}), "config.json",
                             "holds data settings that do not fit"),
    "state epoch float": (J("state.json", ("epoch",), 1.0), "state.json", "epoch = 1.0"),
    "state seed text": (J("state.json", ("seed",), "2"), "state.json", "seed = '2'"),
    "state epochs other": (J("state.json", ("epochs",), 9), "config.json",
                           "model.epochs = 3 where state.json says epochs = 9"),
    "state sha256 text": (J("state.json", ("sha256",), "x"), "state.json", "sha256 = 'x'"),
    "model int64": (lambda f: edit_npz(f, "model.npz", lambda a: a.update(
        {k: (v * 100).astype(np.int64) for k, v in a.items()})), "model.npz", "as int64 where a run saves float64"),
    "model float32": (lambda f: edit_npz(f, "model.npz", lambda a: a.update(
        {k: v.astype(np.float32) for k, v in a.items()})), "model.npz", "as float32"),
    "model head bias 1e308": (lambda f: edit_npz(f, "model.npz", lambda a: a.update(
        {"head.bias": np.array([1e308])})), "model.npz", "holds 1e+308 in head.bias, beyond the ±1e+06"),
    "model weight 2e6": (lambda f: edit_npz(f, "model.npz", lambda a: a["weight_hh_l0"].__setitem__(
        (0, 0), -2e6)), "model.npz", "holds 2e+06 in weight_hh_l0"),
    "model header byte": (lambda f: flip_byte(f, "model.npz", 4), "model.npz", "SHA-256 does not match"),
    "model replaced, well formed": (lambda f: edit_npz(f, "model.npz", lambda a: a["head.bias"].__iadd__(0.5),
                                                       rehash=False), "model.npz", "SHA-256 does not match"),
    "optimizer negative v": (lambda f: edit_npz(f, "optimizer.npz", lambda a: a.update(v=-np.abs(a["v"]) - 1)),
                             "optimizer.npz", "negative second moment v"),
    "optimizer nan m": (lambda f: edit_npz(f, "optimizer.npz", lambda a: a["m"].__setitem__(0, np.nan)),
                        "optimizer.npz", "values in m that are not finite"),
    "optimizer m beyond v": (lambda f: edit_npz(f, "optimizer.npz", big_m), "optimizer.npz",
                             "first moment m = "),
    "optimizer beta2 1.5": (lambda f: edit_npz(f, "optimizer.npz", lambda a: a.update(beta2=np.array(1.5))),
                            "optimizer.npz", "beta2 = 1.5"),
    "optimizer eps 0": (lambda f: edit_npz(f, "optimizer.npz", lambda a: a.update(eps=np.array(0.0))),
                        "optimizer.npz", "eps = 0.0"),
    "optimizer moments float32": (lambda f: edit_npz(f, "optimizer.npz", lambda a: a.update(
        v=a["v"].astype(np.float32))), "optimizer.npz", "one float64 each"),
}

FILE_CASES = {
    "scale 0": (J("config.json", ("data", "normalizer", "scale"), [0.0]), "config.json",
                "data.normalizer.scale = 0.0 for column 'value'"),
    "scale -1": (J("config.json", ("data", "normalizer", "scale"), [-1]), "config.json",
                 "data.normalizer.scale = -1 for column 'value'"),
    "scale 1e-300": (J("config.json", ("data", "normalizer", "scale"), [1e-300]), "config.json",
                     "data.normalizer.scale = 1e-300 for column 'value' where its data gives 2.1"),
    "scale NaN": (J("config.json", ("data", "normalizer", "scale"), [math.nan]), "config.json",
                  "data.normalizer.scale = nan"),
    "scale text": (J("config.json", ("data", "normalizer", "scale"), "abc"), "config.json",
                   "data.normalizer.scale = 'abc'"),
    "offset inf": (J("config.json", ("data", "normalizer", "offset"), [math.inf]), "config.json",
                   "data.normalizer.offset = inf"),
    "offset 1e308": (J("config.json", ("data", "normalizer", "offset"), [1e308]), "config.json",
                     "data.normalizer.offset = 1e+308"),
    "offset slightly off": (J("config.json", ("data", "normalizer", "offset"), [7.5]), "config.json",
                            "data.normalizer.offset = 7.5 for column 'value' where its data gives"),
    "offset of three": (J("config.json", ("data", "normalizer", "offset"), [1, 2, 3]), "config.json",
                        "data.normalizer.offset = 3 values where data.columns names 1 column"),
    "method bogus": (J("config.json", ("data", "normalizer", "method"), "bogus"), "config.json",
                     "data.normalizer.method = 'bogus'"),
    "method other": (J("config.json", ("data", "normalizer", "method"), "minmax"), "config.json",
                     "data.normalizer.method = 'minmax' where data.normalize says 'zscore'"),
    "target index 5": (J("config.json", ("data", "normalizer", "target_index"), 5), "config.json",
                       "data.normalizer.target_index = 5"),
    "seq_len 0": (J("config.json", ("data", "seq_len"), 0), "config.json", "data.seq_len = 0"),
    "seq_len text": (J("config.json", ("data", "seq_len"), "10"), "config.json", "data.seq_len = '10'"),
    "seq_len 10**6": (J("config.json", ("data", "seq_len"), 10**6), "config.json", "data.seq_len = 1000000"),
    "seq_len beyond the file": (J("config.json", ("data", "seq_len"), 150), "config.json",
                                "holds data settings that do not fit series.csv (series.csv has 200 rows"),
    "val_fraction 0.95": (J("config.json", ("data", "val_fraction"), 0.95), "config.json",
                          "data.val_fraction = 0.95"),
    "val_fraction text": (J("config.json", ("data", "val_fraction"), "0.2"), "config.json",
                          "data.val_fraction = '0.2'"),
    "columns 5": (J("config.json", ("data", "columns"), 5), "config.json", "data.columns = 5"),
    "columns unknown": (J("config.json", ("data", "columns"), ["nope"]), "config.json",
                        "holds data settings that do not fit series.csv"),
    "source 5": (J("config.json", ("data", "source"), 5), "config.json", "data.source = 5"),
    "normalize bogus": (J("config.json", ("data", "normalize"), "bogus"), "config.json",
                        "data.normalize = 'bogus'"),
    "missing bogus": (J("config.json", ("data", "missing"), "zero"), "config.json", "data.missing = 'zero'"),
    "type bogus": (J("config.json", ("data", "type"), "sql"), "config.json", "data.type = 'sql'"),
    "data_file sha text": (J("config.json", ("data_file", "sha256"), 5), "config.json", "data_file = "),
}


def _check(folder, file, words):
    with pytest.raises(RunFileError) as info:
        Run.load(folder)
    msg = str(info.value)
    assert one_sentence(msg), msg
    assert f"{os.sep}{file} " in msg and words in msg and "the run folder is damaged" in msg, msg


@pytest.mark.parametrize("case", list(EXAMPLE_CASES))
def test_a_bad_value_names_the_file_and_the_key(example_run, tmp_path, case):
    damage, file, words = EXAMPLE_CASES[case]
    folder = copy(example_run, tmp_path)
    damage(folder)
    _check(folder, file, words)


@pytest.mark.parametrize("case", list(FILE_CASES))
def test_a_bad_data_setting_is_blamed_on_config_json(file_run, tmp_path, case):
    damage, file, words = FILE_CASES[case]
    folder = copy(file_run, tmp_path)
    damage(folder)
    _check(folder, file, words)


@pytest.mark.parametrize("case", ["scale 1e-300", "offset inf", "seq_len beyond the file", "columns 5"])
def test_on_the_command_line_nothing_is_trained_or_written(file_run, tmp_path, capsys, case):
    damage, file, words = FILE_CASES[case]
    folder = copy(file_run, tmp_path)
    damage(folder)
    before = {n: (folder / n).read_bytes() for n in RUN_FILES}
    out = tmp_path / "out"
    assert main(["train", "--resume", str(folder), "--epochs", "1", "--out", str(out), "--quiet"]) == 2
    assert main(["train", "--resume", str(folder), "--epochs", "1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(one_sentence(e) and words in e and "config.json" in e for e in err), err
    assert not out.exists()
    assert {n: (folder / n).read_bytes() for n in RUN_FILES} == before


def test_a_missing_gate_norms_csv_is_refused_never_made_up(example_run, tmp_path, capsys):
    folder = copy(example_run, tmp_path)
    as_format3(folder)                          # a folder of format 3 holds its gate norms in gate_norms.csv
    (folder / "gate_norms.csv").unlink()
    with pytest.raises(RunFileError, match="is not a complete run folder: gate_norms.csv missing"):
        Run.load(folder)
    assert main(["train", "--resume", str(folder), "--epochs", "1", "--quiet", "--no-plots"]) == 2
    assert "gate_norms.csv missing" in capsys.readouterr().err
    assert not (folder / "gate_norms.csv").exists()


def test_a_damaged_normaliser_on_changed_data_is_still_refused(file_run, tmp_path):
    """With --allow-changed-data the normaliser cannot be fitted again; one that blows the data up
    beyond the limits is still config.json's damage."""
    folder = copy(file_run, tmp_path)
    cfg = json.loads((folder / "config.json").read_text())
    csv = Path(cfg["data"]["source"])
    saved = csv.read_bytes()
    try:
        csv.write_bytes(saved.replace(b"7.", b"8.", 1))
        assert Run.load(folder, allow_changed_data=True).trainer.step == 9
        edit_json(folder, "config.json", ("data", "normalizer", "scale"), [1e-300])
        with pytest.raises(RunFileError, match=r"config\.json has a data\.normalizer that turns column 'value' "
                                               r"into values beyond ±1e\+150"):
            Run.load(folder, allow_changed_data=True)
    finally:
        csv.write_bytes(saved)


def test_the_saved_folder_itself_loads_and_says_its_archives_hashes(example_run):
    state = json.loads((example_run / "state.json").read_text())
    for name in ("model.npz", "optimizer.npz"):
        assert state["sha256"][name] == hashlib.sha256((example_run / name).read_bytes()).hexdigest()
    assert Run.load(example_run).trainer.step == 14


# -- hypothesis: any JSON value at any key of config.json's data and model settings ---------------
SENTENCE_ERRORS = (RunFileError, SequenceFileError, MemoryBudgetError)
scalars = (st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True)
           | st.text(max_size=6) | st.just(1e308) | st.just(-1e-300))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=5)
DATA_KEYS = [("data", k) for k in ("type", "source", "columns", "target", "missing", "seq_len", "val_fraction",
                                   "normalize")] + \
    [("data", "normalizer", k) for k in ("method", "offset", "scale", "target_index")] + \
    [(k,) for k in ("n_inputs", "n_outputs", "loss", "target_last", "target_scale", "format")] + \
    [("trained", "epochs"), ("trained", "steps"), ("params", "total")] + \
    [("model", k) for k in ("layers", "bidirectional", "units", "lr", "clip")]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(DATA_KEYS), value=values | st.just(KeyError))
def test_any_value_at_any_key_is_loaded_exactly_or_refused_in_one_sentence(file_run, tmp_path_factory, path,
                                                                           value):
    folder = copy(file_run, tmp_path_factory.mktemp("h"))
    original = json.loads((folder / "config.json").read_text())
    edit_json(folder, "config.json", path, value)
    try:
        run = Run.load(folder)
    except SENTENCE_ERRORS as exc:
        assert one_sentence(str(exc)), str(exc)
        return
    # accepted: only when the value is as good as the saved one (the same model, data and scale)
    back = json.loads(json.dumps(run.config()))
    for key in ("n_inputs", "n_outputs", "loss", "target_last", "params"):
        assert back[key] == original[key]
    assert back["data"]["normalizer"] == original["data"]["normalizer"]
    assert math.isclose(back["target_scale"], original["target_scale"], rel_tol=1e-9)
