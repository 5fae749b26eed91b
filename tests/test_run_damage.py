"""Damaged run folders: every file checked, one sentence naming the file and what is wrong -- from
Run.load (the window shows it) and from the command line (exit 2, nothing written, the damaged
files left as they were). Hypothesis feeds damaged JSON and damaged npz bytes."""

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

from explorer.cli import main
from explorer.data import SequenceFileError
from explorer.data.examples import load_example
from explorer.util.ram import MemoryBudgetError
from explorer.runs.folder import CURRENT, VERSIONS
from explorer.runs.store import LEGACY_STEP_FILES, OPTIONAL_FILES, RUN_FILES, ModelSettings, Run, RunFileError
from run_edits import as_format3, set_key

NAMES = RUN_FILES + OPTIONAL_FILES


def small_run():
    return Run(load_example("sine", n_points=200), ModelSettings(units=5, epochs=3, batch=16, lr=0.02, seed=2))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    run = small_run()
    list(run.trainer.steps(max_steps=14))
    folder = tmp_path_factory.mktemp("good") / "run"
    run.save(folder)
    return folder


@pytest.fixture(scope="module")
def saved3(saved, tmp_path_factory):
    """The same run as format 3 wrote it (steps.csv and gate_norms.csv)."""
    folder = tmp_path_factory.mktemp("good3") / "run"
    shutil.copytree(saved, folder, symlinks=True)
    as_format3(folder)
    return folder


def copy_of(saved, tmp_path) -> Path:
    d = tmp_path / "run"
    shutil.copytree(saved, d, symlinks=True)
    return d


def is_one_sentence(msg: str) -> bool:
    msg = msg.strip()
    return ("\n" not in msg and "Traceback" not in msg and msg.endswith(".") and msg.count(". ") == 0
            and len(msg) < 400)


def npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def npz_compressed(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def npy_bytes(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def edit_npz(folder, name, fn):
    with np.load(folder / name, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    fn(arrays)
    (folder / name).write_bytes(npz_bytes(**arrays))


def edit_json(folder, name, fn):
    d = json.loads((folder / name).read_text())
    d = fn(d) or d
    (folder / name).write_text(json.dumps(d))


def _npy(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def replace_line(folder, name, lineno, text):
    lines = (folder / name).read_text().splitlines()
    lines[lineno] = text
    (folder / name).write_text("\n".join(lines) + "\n")


def drop_last_line(folder, name):
    lines = (folder / name).read_text().splitlines()
    (folder / name).write_text("\n".join(lines[:-1]) + "\n")


# (name of the damaged file, the damage, words the sentence must contain)
DAMAGE = {
    "model truncated": ("model.npz", lambda f: (f / "model.npz").write_bytes((f / "model.npz").read_bytes()[:300]),
                        "not a readable NumPy archive"),
    "model empty": ("model.npz", lambda f: (f / "model.npz").write_bytes(b""), "not a readable NumPy archive"),
    "model random bytes": ("model.npz", lambda f: (f / "model.npz").write_bytes(os.urandom(2000)),
                           "not a readable NumPy archive"),
    "model a single .npy": ("model.npz", lambda f: (f / "model.npz").write_bytes(npy_bytes(np.zeros(3))),
                            "single NumPy array"),
    "model lacks an array": ("model.npz", lambda f: edit_npz(f, "model.npz", lambda a: a.pop("weight_hh_l0")),
                             "lacks the array weight_hh_l0"),
    "model wrong shape": ("model.npz", lambda f: edit_npz(f, "model.npz", lambda a: a.update(
        weight_ih_l0=np.zeros((8, 1)))), "of shape (8, 1) where the run's model (lstm, 5 units) needs (20, 1)"),
    "model NaN": ("model.npz", lambda f: edit_npz(f, "model.npz", lambda a: a["head.bias"].fill(np.nan)),
                  "not finite numbers"),
    "model strings": ("model.npz", lambda f: edit_npz(f, "model.npz", lambda a: a.update(
        {"head.bias": np.array(["x"])})), "not numbers"),
    "model unpacks huge": ("model.npz", lambda f: (f / "model.npz").write_bytes(npz_compressed(
        weight_ih_l0=np.zeros(10**6))), "unpacks to 8000128 bytes where the run's model needs at most"),
    "optimizer truncated": ("optimizer.npz", lambda f: (f / "optimizer.npz").write_bytes(
        (f / "optimizer.npz").read_bytes()[:-40]), "not a readable NumPy archive"),
    "optimizer other name": ("optimizer.npz", lambda f: edit_npz(f, "optimizer.npz", lambda a: a.update(
        name=np.array("sgd"))), "optimiser 'sgd' where config.json says adam"),
    "optimizer moments shape": ("optimizer.npz", lambda f: edit_npz(f, "optimizer.npz", lambda a: a.update(
        m=np.zeros(3))), "holds m of shape (3,)"),
    "optimizer step count": ("optimizer.npz", lambda f: edit_npz(f, "optimizer.npz", lambda a: a.update(
        t=np.array(99))), "counts 99 steps where state.json says 14"),
    "optimizer lr text": ("optimizer.npz", lambda f: edit_npz(f, "optimizer.npz", lambda a: a.update(
        lr=np.array("fast"))), "has lr = 'fast'"),
    "state not JSON": ("state.json", lambda f: (f / "state.json").write_text("{\"epoch\": 1,"), "not valid JSON"),
    "state a list": ("state.json", lambda f: (f / "state.json").write_text("[1, 2]"), "JSON list"),
    "state binary": ("state.json", lambda f: (f / "state.json").write_bytes(b"\xff\xfe\x00"), "not UTF-8"),
    "state lacks epoch": ("state.json", lambda f: edit_json(f, "state.json", lambda d: d.pop("epoch") and None),
                          "lacks the setting epoch"),
    "state epoch text": ("state.json", lambda f: edit_json(f, "state.json", lambda d: d.update(epoch="1")),
                         "epoch = '1'"),
    "state negative step": ("state.json", lambda f: edit_json(f, "state.json", lambda d: d.update(step=-1)),
                            "step = -1"),
    "state epoch step too big": ("state.json", lambda f: edit_json(f, "state.json",
                                                                   lambda d: d.update(epoch_step=400)),
                                 "epoch_step = 400 beyond step = 14"),
    "state rng garbage": ("state.json", lambda f: edit_json(f, "state.json",
                                                            lambda d: d.update(rng_state={"x": 1})),
                          "random generator state"),
    "state step count": ("state.json", lambda f: edit_json(f, "state.json", lambda d: d.update(step=13)),
                         "state.json says step = 13"),
    "config not JSON": ("config.json", lambda f: (f / "config.json").write_text("nonsense"), "not valid JSON"),
    "config a number": ("config.json", lambda f: (f / "config.json").write_text("3"), "JSON int"),
    "config no model": ("config.json", lambda f: edit_json(f, "config.json", lambda d: d.pop("model") and None),
                        "lacks the setting model"),
    "config units text": ("config.json", lambda f: edit_json(f, "config.json", lambda d: d["model"].update(
        units="many")), "units = 'many', not a whole number from 1 to 100000"),
    "config units zero": ("config.json", lambda f: edit_json(f, "config.json", lambda d: d["model"].update(
        units=0)), "units = 0"),
    "config lr NaN": ("config.json", lambda f: edit_json(f, "config.json", lambda d: d["model"].update(
        lr=math.nan)), "lr = nan"),
    "config unknown cell": ("config.json", lambda f: edit_json(f, "config.json", lambda d: d["model"].update(
        cell="transformer")), "cell = 'transformer'"),
    "config no data": ("config.json", lambda f: edit_json(f, "config.json", lambda d: d.pop("data") and None),
                       "no \"data\" settings"),
    "config bad data record": ("config.json", lambda f: edit_json(f, "config.json", lambda d: d.update(
        data={"type": "file", "source": str(f / "d.csv")}, data_file={"size": "big"})), "data_file"),
    "history garbage header": ("history.csv", lambda f: replace_line(f, "history.csv", 0, "\x00\x01garbage"),
                               "history.csv"),
    "history other header": ("history.csv", lambda f: replace_line(f, "history.csv", 0, "a,b,c,d,e"),
                             "does not start with the header epoch,train_loss"),
    "history empty": ("history.csv", lambda f: (f / "history.csv").write_text(""), "is empty"),
    "history torn": ("history.csv", lambda f: drop_last_line(f, "history.csv"), "has 0 rows where state.json"),
    "history text value": ("history.csv", lambda f: replace_line(f, "history.csv", 1, "1,abc,0.1,0.2,0"),
                           "'abc' in column train_loss on line 2"),
    "history short row": ("history.csv", lambda f: replace_line(f, "history.csv", 1, "1,2"), "2 fields on line 2"),
    "history binary": ("history.csv", lambda f: (f / "history.csv").write_bytes(b"\xff\xd8\xff\xe0" * 50),
                       "not UTF-8"),
    "steps torn": ("steps.csv", lambda f: drop_last_line(f, "steps.csv"), "13 rows where state.json says 14"),
    "steps clipped": ("steps.csv", lambda f: replace_line(f, "steps.csv", 3, "3,1,0.5,0.5,maybe"), "not 0 or 1"),
    "gate norms torn": ("gate_norms.csv", lambda f: drop_last_line(f, "gate_norms.csv"), "13 rows"),
    "gate norms column": ("gate_norms.csv", lambda f: (f / "gate_norms.csv").write_text(
        "step,x\n" + "".join(f"{i},1\n" for i in range(1, 15))), "lacks the column i"),
    "chunk torn": ("steps-000001.npy", lambda f: (f / "steps-000001.npy").write_bytes(
        (f / "steps-000001.npy").read_bytes()[:-100]), "is not a readable NumPy array (truncated or damaged)"),
    "chunk missing": ("steps-000001.npy", lambda f: (f / "steps-000001.npy").unlink(), "steps-000001.npy missing"),
    "chunk of other rows": ("steps-000001.npy", lambda f: (f / "steps-000001.npy").write_bytes(
        _npy(np.load(f / "steps-000001.npy")[:-1])), "does not hold 14 rows of the run's steps"),
    "chunk header of 10^12 rows": ("steps-000001.npy", lambda f: (f / "steps-000001.npy").write_bytes(
        (f / "steps-000001.npy").read_bytes().replace(b"(14,)", b"(1000000000000,)")),
        "does not hold 14 rows of the run's steps"),
    "missing model": ("model.npz", lambda f: (f / "model.npz").unlink(), "model.npz missing"),
    "missing state": ("state.json", lambda f: (f / "state.json").unlink(), "state.json missing"),
    "model is a folder": ("model.npz", lambda f: ((f / "model.npz").unlink(), (f / "model.npz").mkdir()),
                          "is a folder"),
    "current points nowhere": (".current", lambda f: (os.unlink(f / CURRENT),
                                                      os.symlink(f"{VERSIONS}/nothing", f / CURRENT)),
                               "points at a version that is missing"),
}


def _detach(folder: Path, name: str) -> None:
    """Make DIR/NAME a private copy so damaging it does not touch the version other names read."""
    p = folder / name
    if p.is_symlink() and p.exists():
        data = p.read_bytes()
        p.unlink()
        p.write_bytes(data)


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_folder_is_one_sentence_naming_the_file(saved, saved3, tmp_path, case):
    name, damage, words = DAMAGE[case]
    folder = copy_of(saved3 if name in LEGACY_STEP_FILES else saved, tmp_path)
    damage(folder)
    with pytest.raises(RunFileError) as info:
        Run.load(folder)
    msg = str(info.value)
    assert is_one_sentence(msg), msg
    assert name in msg and words in msg, msg


@pytest.mark.parametrize("case", ["model truncated", "state lacks epoch", "config units text",
                                  "history garbage header", "history torn", "missing model"])
def test_damaged_folder_on_the_command_line_exits_2_and_writes_nothing(saved, tmp_path, case, capsys):
    name, damage, words = DAMAGE[case]
    folder = copy_of(saved, tmp_path)
    damage(folder)
    before = {n: (folder / n).read_bytes() for n in NAMES if (folder / n).is_file()}
    out = tmp_path / "elsewhere"
    assert main(["train", "--resume", str(folder), "--epochs", "1", "--out", str(out), "--quiet"]) == 2
    assert main(["train", "--resume", str(folder), "--epochs", "1", "--units", "4", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(is_one_sentence(e) and words in e for e in err), err
    assert not out.exists()
    # the damaged files are never rewritten (a history that cannot be read is never saved as empty)
    assert {n: (folder / n).read_bytes() for n in NAMES if (folder / n).is_file()} == before


def test_not_a_run_folder(tmp_path):
    with pytest.raises(RunFileError, match="is not a run folder"):
        Run.load(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunFileError, match="is not a run folder"):
        Run.load(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunFileError, match="holds none of config.json"):
        Run.load(tmp_path / "empty")


# -- hypothesis ----------------------------------------------------------------------------------
SENTENCE_ERRORS = (RunFileError, SequenceFileError, MemoryBudgetError)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


def _load_quietly(folder):
    try:
        Run.load(folder)
    except SENTENCE_ERRORS as exc:
        assert is_one_sentence(str(exc)), str(exc)


STATE_KEYS = ("epoch", "step", "epoch_step", "epochs", "seed", "rng_state")
MODEL_KEYS = ("cell", "units", "optimizer", "lr", "clip", "epochs", "batch", "seed", "forget_bias", "sample_index")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.sampled_from(["state.json", "config.json"]), value=json_values)
def test_any_json_document_in_place_of_the_settings(saved, tmp_path_factory, which, value):
    folder = copy_of(saved, tmp_path_factory.mktemp("h"))
    _detach(folder, which)
    (folder / which).write_text(json.dumps(value))
    _load_quietly(folder)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.sampled_from(["state.json", "config.json"]), key=st.sampled_from(STATE_KEYS + MODEL_KEYS),
       value=json_values | st.just(KeyError))
def test_one_setting_replaced_by_any_json_value(saved, tmp_path_factory, which, key, value):
    folder = copy_of(saved, tmp_path_factory.mktemp("h"))
    _detach(folder, which)
    d = json.loads((folder / which).read_text())
    path = ("model", key) if which == "config.json" else (key,)
    if which == "config.json" and key not in MODEL_KEYS or which == "state.json" and key not in STATE_KEYS:
        return
    if which == "config.json" and key == "units" and isinstance(value, int) and not isinstance(value, bool) \
            and value > 20:
        value = 20 + value % 7                                   # keep the model small enough to build
    set_key(d, path, value)
    (folder / which).write_text(json.dumps(d))
    _load_quietly(folder)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.sampled_from(["model.npz", "optimizer.npz"]), data=st.data())
def test_damaged_npz_bytes(saved, tmp_path_factory, which, data):
    folder = copy_of(saved, tmp_path_factory.mktemp("h"))
    _detach(folder, which)
    raw = bytearray((folder / which).read_bytes())
    how = data.draw(st.sampled_from(["truncate", "flip", "splice"]))
    if how == "truncate":
        raw = raw[:data.draw(st.integers(0, len(raw) - 1))]
    elif how == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] ^= data.draw(st.integers(1, 255))
    else:
        i = data.draw(st.integers(0, len(raw)))
        raw[i:i] = data.draw(st.binary(min_size=1, max_size=64))
    (folder / which).write_bytes(bytes(raw))
    _load_quietly(folder)


def test_settings_beyond_the_command_lines_caps_still_load(tmp_path):
    # the command line caps --lr at 10 and --clip at 1e6; a run made through the Python API may not be
    run = Run(load_example("sine", n_points=200), ModelSettings(units=5, epochs=0, batch=16, lr=25.0, clip=5e6))
    run.save(tmp_path / "run")
    back = Run.load(tmp_path / "run")
    assert back.settings.lr == 25.0 and back.settings.clip == 5e6 and back.trainer.epochs == 0
