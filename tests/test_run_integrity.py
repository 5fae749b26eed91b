"""Issue 10, "nothing lost": a run folder whose files were damaged, swapped in from another run or
edited by hand never loads with wrong numbers. Each damage below is refused by Run.load with one
sentence naming the file and the line/column/key and value, and by ``train --resume`` with exit 2,
nothing written (the folder's bytes and versions unchanged). Folders written before format 3
(no full sha256 block, no format) still open."""

import hashlib
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from explorer.cli import main
from explorer.data.examples import load_example
from explorer.runs.folder import CURRENT, VERSIONS
from explorer.runs.store import LEGACY_STEP_FILES, OPTIONAL_FILES, RUN_FILES, ModelSettings, Run, RunFileError
from run_edits import as_format3, detach, edit_json

NAMES = RUN_FILES + OPTIONAL_FILES


def one_sentence(msg: str) -> bool:
    msg = msg.strip()
    return "\n" not in msg and "Traceback" not in msg and msg.endswith(".") and msg.count(". ") == 0


def make(folder: Path, seed: int, steps: int = 14, lr: float = 0.02) -> Path:
    run = Run(load_example("sine", n_points=200), ModelSettings(units=5, epochs=3, batch=16, lr=lr, seed=seed))
    list(run.trainer.steps(max_steps=steps))
    run.save(folder)
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("integrity")
    out = {"A": make(root / "A", 0), "B": make(root / "B", 1)}
    for k in ("A", "B"):                       # the same runs as format 3 wrote them (steps.csv, gate_norms.csv)
        as_format3(copy(out[k], root / f"{k}3"))
        out[f"{k}3"] = root / f"{k}3"
    return out


def base(runs, name: str, which: str = "A") -> Path:
    """The run folder a damage of ``name`` starts from: format 3's for its per-step CSV files and
    epochs.npz."""
    return runs[f"{which}3" if name in LEGACY_STEP_FILES + ("epochs.npz",) else which]


def copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def lines(folder, name, fn):
    detach(folder, name)
    rows = (folder / name).read_text().splitlines()
    rows = fn(rows) or rows
    (folder / name).write_text("\n".join(rows) + "\n")


def cell(folder, name, line, col, value):
    """Line ``line`` (1 = header), column ``col`` set to ``value``."""
    def fn(rows):
        fields = rows[line - 1].split(",")
        fields[col] = value
        rows[line - 1] = ",".join(fields)
    lines(folder, name, fn)


def swap(rows, a, b):
    rows[a - 1], rows[b - 1] = rows[b - 1], rows[a - 1]


def rehash(folder, name):
    """state.json's sha256 of ``name`` made to match the damaged file (a careful forger)."""
    data = (folder / name).read_bytes()
    if "sha256" in json.loads((folder / "state.json").read_text()):
        edit_json(folder, "state.json", ("sha256", name), hashlib.sha256(data).hexdigest())


def edit_npz(folder, name, fn):
    detach(folder, name)
    with np.load(folder / name) as z:
        arrays = {k: np.array(z[k]) for k in z.files}
    fn(arrays)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    (folder / name).write_bytes(buf.getvalue())
    rehash(folder, name)


def from_b(name):
    def damage(f, runs):
        detach(f, name)
        (f / name).write_bytes((base(runs, name, "B") / name).read_bytes())
    return damage


def flip_digit(name, line, col):
    """The last digit (not a 9) of a number one digit higher: still a valid value."""
    def damage(f, runs):
        def fn(rows):
            fields = rows[line - 1].split(",")
            v = fields[col]
            i = max(i for i, c in enumerate(v) if c.isdigit() and c != "9")
            fields[col] = v[:i] + str(int(v[i]) + 1) + v[i + 1:]
            rows[line - 1] = ",".join(fields)
        lines(f, name, fn)
    return damage


def other_current(how):
    def damage(f, runs):
        vid = os.readlink(runs["B"] / CURRENT).split("/")[-1]
        target = str(runs["B"] / VERSIONS / vid) if how == "absolute" else f"../B/{VERSIONS}/{vid}"
        if how == "relative":
            shutil.copytree(runs["B"], f.parent / "B", symlinks=True)
        if how == "version link":                  # .versions/<id> itself a link to B's version
            target = f"{VERSIONS}/{vid}"
            os.symlink(runs["B"] / VERSIONS / vid, f / VERSIONS / vid)
        os.unlink(f / CURRENT)
        os.symlink(target, f / CURRENT)
    return damage


def C(name, line, col, value):
    return lambda f, runs: cell(f, name, line, col, value)


def L(name, fn):
    return lambda f, runs: lines(f, name, fn)


def J(name, path, value):
    return lambda f, runs: edit_json(f, name, path, value)


def NPZ(name, fn):
    return lambda f, runs: edit_npz(f, name, fn)


def _model_from_b_without_hashes(f, runs):
    from_b("model.npz")(f, runs)
    edit_json(f, "state.json", ("sha256",), KeyError)


def _e0_big(a):
    a["e0000/head.bias"] = np.full_like(a["e0000/head.bias"], 1e300)


def _big(a):
    a["head.bias"] = np.full_like(a["head.bias"], 1e300)


def _torn(name):
    """The file cut in half (as a copy on a full disk leaves it), its hash made to match."""
    def damage(f, runs):
        detach(f, name)
        data = (f / name).read_bytes()
        (f / name).write_bytes(data[:len(data) // 2])
        rehash(f, name)
    return damage


def _unlisted(f, runs):
    os.unlink(f / "epoch-000001.npz")


# case: (damage, file named, words of the sentence). Run A: sine, 5 units, batch 16, 14 steps of 9 a
# epoch (epoch 1 done, 5 steps of epoch 2), seed 0; B the same with seed 1.
CASES = {
    # steps.csv: values, order, columns (line 1 is the header)
    "steps loss negative": (C("steps.csv", 3, 2, "-5"), "steps.csv", "holds '-5' in column loss on line 3, not a finite"),
    "steps loss nan": (C("steps.csv", 3, 2, "nan"), "steps.csv", "holds 'nan' in column loss on line 3"),
    "steps loss empty": (C("steps.csv", 3, 2, ""), "steps.csv", "holds '' in column loss on line 3"),
    "steps loss inf": (C("steps.csv", 4, 2, "inf"), "steps.csv", "holds 'inf' in column loss on line 4"),
    "steps grad_norm negative": (C("steps.csv", 2, 3, "-1"), "steps.csv", "holds '-1' in column grad_norm on line 2"),
    "steps loss 1e308": (C("steps.csv", 3, 2, "1e308"), "steps.csv", "steps.csv differs from the file that was saved"),
    "steps step renumbered": (C("steps.csv", 3, 0, "999"), "steps.csv", "holds '999' in column step on line 3, not 2"),
    "steps rows swapped": (L("steps.csv", lambda r: swap(r, 2, 3)), "steps.csv", "holds '2' in column step on line 2, not 1"),
    "steps row duplicated": (L("steps.csv", lambda r: r.__setitem__(3, r[2])), "steps.csv",
                             "holds '2' in column step on line 4, not 3"),
    "steps epoch jumps": (C("steps.csv", 3, 1, "2"), "steps.csv", "holds '1' in column epoch on line 4, not 2"),
    "steps epoch beyond state": (C("steps.csv", 15, 1, "3"), "steps.csv", "holds '3' in column epoch on line 15"),
    "steps epoch zero": (C("steps.csv", 2, 1, "0"), "steps.csv", "holds '0' in column epoch on line 2, not 1"),
    "steps epoch text": (C("steps.csv", 2, 1, "x"), "steps.csv", "holds 'x' in column epoch on line 2, not a whole number"),
    "steps extra column": (L("steps.csv", lambda r: [x + ",0" if i else x + ",extra" for i, x in enumerate(r)]),
                           "steps.csv", "has the column 'extra' beyond the header step,epoch,loss,grad_norm,clipped"),
    "steps from B": (from_b("steps.csv"), "steps.csv", "steps.csv differs from the file that was saved with this state.json"),
    "steps digit flipped": (flip_digit("steps.csv", 5, 2), "steps.csv", "steps.csv differs from the file"),
    # gate_norms.csv
    "gates negative": (C("gate_norms.csv", 4, 1, "-0.5"), "gate_norms.csv", "holds '-0.5' in column i on line 4"),
    "gates empty": (C("gate_norms.csv", 4, 2, ""), "gate_norms.csv", "holds '' in column f on line 4"),
    "gates step renumbered": (C("gate_norms.csv", 2, 0, "7"), "gate_norms.csv", "holds '7' in column step on line 2, not 1"),
    "gates extra column": (L("gate_norms.csv", lambda r: [x + ",1" for x in r]), "gate_norms.csv",
                           "has the column '1' beyond the header step,i,f,g,o,head"),
    "gates from B": (from_b("gate_norms.csv"), "gate_norms.csv", "gate_norms.csv differs from the file"),
    # history.csv
    "history train_loss negative": (C("history.csv", 2, 1, "-1"), "history.csv", "holds '-1' in column train_loss on line 2"),
    "history train_loss empty": (C("history.csv", 2, 1, ""), "history.csv", "holds '' in column train_loss on line 2"),
    "history val_loss nan text": (C("history.csv", 2, 2, "nan"), "history.csv", "holds 'nan' in column val_loss on line 2"),
    "history clipped 7": (C("history.csv", 2, 4, "7"), "history.csv",
                          "holds '7' in column clipped_fraction on line 2, not a finite number from 0 to 1"),
    "history epoch 5": (C("history.csv", 2, 0, "5"), "history.csv", "holds '5' in column epoch on line 2, not 1"),
    "history extra column": (L("history.csv", lambda r: [x + ",0" for x in r]), "history.csv", "has the column '0' beyond"),
    "history from B": (from_b("history.csv"), "history.csv", "history.csv differs from the file"),
    "history digit flipped": (flip_digit("history.csv", 2, 1), "history.csv", "history.csv differs from the file"),
    # archives swapped in, with the hashes gone
    "sha256 deleted, model from B": (_model_from_b_without_hashes, "state.json", "state.json lacks the setting sha256"),
    "sha256 of model deleted": (J("state.json", ("sha256", "model.npz"), KeyError), "state.json",
                                "lacks the setting sha256.model.npz"),
    "sha256 of history deleted": (J("state.json", ("sha256", "history.csv"), KeyError), "state.json",
                                  "lacks the setting sha256.history.csv"),
    "sha256 not hex": (J("state.json", ("sha256", "config.json"), "z" * 64), "state.json", "has sha256 = "),
    "config.json digit flipped": (J("config.json", ("target_scale",), None), "config.json", "target_scale = None"),
    "epochs.npz from B": (from_b("epochs.npz"), "epochs.npz", "epochs.npz differs from the file"),
    "epochs.npz 1e300": (NPZ("epochs.npz", _e0_big), "epochs.npz", "holds 1e+300 in e0000/head.bias, beyond the ±1e+06"),
    "epochs.npz float32": (NPZ("epochs.npz", lambda a: a.update({k: v.astype(np.float32) for k, v in a.items()})),
                           "epochs.npz", "as float32 where a run saves float64"),
    "epoch file from B": (from_b("epoch-000001.npz"), "epoch-000001.npz", "epoch-000001.npz differs from the file"),
    "epoch file 1e300": (NPZ("epoch-000000.npz", _big), "epoch-000000.npz", "holds 1e+300 in head.bias, beyond the ±1e+06"),
    "epoch file float32": (NPZ("epoch-000001.npz", lambda a: a.update({k: v.astype(np.float32) for k, v in a.items()})),
                           "epoch-000001.npz", "holds weight_ih_l0 as float32 where a run saves float64"),
    "epoch file torn": (_torn("epoch-000001.npz"), "epoch-000001.npz",
                        "is not a readable NumPy archive (truncated or damaged)"),
    "epoch file missing": (_unlisted, "A", "is not a complete run folder: epoch-000001.npz missing"),
    "epoch files unordered": (J("state.json", ("epoch_files",), ["epoch-000001.npz", "epoch-000000.npz"]), "state.json",
                              "has epoch_files = ['epoch-000001.npz', 'epoch-000000.npz'], not a list of epoch files"),
    "epoch files deleted": (J("state.json", ("epoch_files",), KeyError), "state.json", "lacks the setting epoch_files"),
    "model from B": (from_b("model.npz"), "model.npz", "model.npz differs from the file"),
    "optimizer from B": (from_b("optimizer.npz"), "optimizer.npz", "optimizer.npz differs from the file"),
    # state.json
    "rng state 2.5": (J("state.json", ("rng_state", "state", "state"), 2.5), "state.json",
                      "has rng_state.state.state = 2.5, not a whole number from 0 to 2^128"),
    "rng state -1": (J("state.json", ("rng_state", "state", "inc"), -1), "state.json", "has rng_state.state.inc = -1"),
    "rng uinteger 2.5": (J("state.json", ("rng_state", "uinteger"), 2.5), "state.json",
                         "has rng_state.uinteger = 2.5, not a whole number from 0 to 4294967295"),
    "rng has_uint32 -1": (J("state.json", ("rng_state", "has_uint32"), -1), "state.json",
                          "has rng_state.has_uint32 = -1, not a whole number from 0 to 1"),
    "rng has_uint32 true": (J("state.json", ("rng_state", "has_uint32"), True), "state.json",
                            "has rng_state.has_uint32 = True"),
    "state seed deleted": (J("state.json", ("seed",), KeyError), "state.json", "state.json lacks the setting seed"),
    "state epochs deleted": (J("state.json", ("epochs",), KeyError), "state.json", "lacks the setting epochs"),
    "state format 2": (J("state.json", ("format",), 2), "state.json", "has format = 2, not a whole number from 3 to 5"),
    # config.json
    "batch 1e30": (J("config.json", ("model", "batch"), 10**30), "config.json",
                   "has model.batch = 1000000000000000000000000000000, not a whole number from 1 to 100000"),
    "clip 1e308": (J("config.json", ("model", "clip"), 1e308), "config.json",
                   "has model.clip = 1e+308, not a finite number from 0 to 1e+12"),
    "clip 1e30 int": (J("config.json", ("model", "clip"), 10**30), "config.json", "has model.clip = 1000000"),
    "lr 1e9": (J("config.json", ("model", "lr"), 1e9), "config.json", "has model.lr = 1000000000.0"),
    "epochs 1e30": (J("config.json", ("model", "epochs"), 10**30), "config.json", "has model.epochs = 1000000"),
    "params.layers 1e30": (J("config.json", ("params", "layers"), [10**30]), "config.json",
                           "has params.layers = [1000000000000000000000000000000] adding up to"),
    "layers deleted": (J("config.json", ("model", "layers"), KeyError), "config.json",
                       "config.json lacks the setting model.layers"),
    "bidirectional deleted": (J("config.json", ("model", "bidirectional"), KeyError), "config.json",
                              "lacks the setting model.bidirectional"),
    "forget_bias deleted": (J("config.json", ("model", "forget_bias"), KeyError), "config.json",
                            "lacks the setting model.forget_bias"),
    "format deleted": (J("config.json", ("format",), KeyError), "config.json", "config.json lacks the setting format"),
    "trained deleted": (J("config.json", ("trained",), KeyError), "config.json", "lacks the setting trained"),
    "replay text": (J("config.json", ("replay",), "x"), "config.json", "has replay = 'x', not an object of settings"),
    "replay stride 0": (J("config.json", ("replay", "stride"), 0), "config.json", "has replay.stride = 0, not a whole number"),
    "replay cap -1": (J("config.json", ("replay", "cap_bytes"), -1), "config.json", "has replay.cap_bytes = -1"),
    "replay seen nan": (J("config.json", ("replay", "seen"), float("nan")), "config.json", "has replay.seen = nan"),
    "replay epochs text": (J("config.json", ("replay", "epochs"), ["a"]), "config.json",
                           "has replay.epochs = ['a'], not a list of ascending"),
    "replay epochs other": (J("config.json", ("replay", "epochs"), [0, 5]), "config.json",
                            "has replay.epochs = [0, 5] where the epoch files hold the epochs [0, 1]"),
    # the optimiser's name an array
    "optimizer name array": (NPZ("optimizer.npz", lambda a: a.update(name=np.array(["adam", "sgd"]))), "optimizer.npz",
                             "optimizer.npz has the key name an array of shape (2,), not the optimiser's name (adam)"),
    "optimizer extra key": (NPZ("optimizer.npz", lambda a: a.update(zzz=np.zeros(3))), "optimizer.npz",
                            "holds the key 'zzz', which no adam optimiser saves"),
    "optimizer beta1 float32": (NPZ("optimizer.npz", lambda a: a.update(beta1=a["beta1"].astype(np.float32))),
                                "optimizer.npz", "holds beta1 as float32 where a run saves float64"),
    "optimizer name missing": (NPZ("optimizer.npz", lambda a: a.pop("name")), "optimizer.npz",
                               "optimizer.npz lacks the key name (the optimiser's name, adam)"),
    # .current naming another run's version
    "current absolute to B": (other_current("absolute"), ".current", "not at a version of this folder"),
    "current relative to B": (other_current("relative"), ".current", "points at ../B/.versions/"),
    "current version a link to B": (other_current("version link"), ".current", "not at a version of this folder"),
}


def _snapshot(folder: Path) -> dict:
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        out[rel] = os.readlink(p) if p.is_symlink() else (p.read_bytes() if p.is_file() else "dir")
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_damage_is_refused_in_one_sentence(runs, tmp_path, case):
    damage, name, words = CASES[case]
    folder = copy(base(runs, name), tmp_path / "A")
    damage(folder, runs)
    with pytest.raises(RunFileError) as info:
        Run.load(folder)
    msg = str(info.value)
    assert one_sentence(msg), msg
    assert f"{os.sep}{name} " in msg and words in msg, msg


@pytest.mark.parametrize("case", list(CASES))
def test_damage_on_the_command_line_exits_2_and_writes_nothing(runs, tmp_path, case, capsys):
    damage, name, words = CASES[case]
    folder = copy(base(runs, name), tmp_path / "A")
    damage(folder, runs)
    before = _snapshot(folder)
    b_before = _snapshot(runs["B"])
    assert main(["train", "--resume", str(folder), "--epochs", "1", "--quiet", "--no-plots"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and one_sentence(err[0]) and words in err[0] and name in err[0], err
    assert _snapshot(folder) == before            # nothing written, the folder's own version kept
    assert _snapshot(runs["B"]) == b_before       # another run is never written through .current


def _as_old_format(folder: Path, keep=("model.npz", "optimizer.npz")) -> None:
    """Folder A as format 2 wrote it: config.json format 2, state.json without format and hashing
    only ``keep``."""
    detach(folder, "state.json")
    st = json.loads((folder / "state.json").read_text())
    st.pop("format")
    st["sha256"] = {k: v for k, v in st["sha256"].items() if k in keep}
    if not keep:
        del st["sha256"]
    (folder / "state.json").write_text(json.dumps(st))
    detach(folder, "config.json")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["format"] = 2
    for key in ("layers", "bidirectional", "forget_bias", "sample_index"):
        del cfg["model"][key]
    (folder / "config.json").write_text(json.dumps(cfg))


@pytest.mark.parametrize("keep", [("model.npz", "optimizer.npz"), ()])
def test_folders_of_earlier_formats_still_open_and_are_rewritten_in_format_5(runs, tmp_path, keep):
    folder = copy(runs["A3"], tmp_path / "A")
    _as_old_format(folder, keep)
    run = Run.load(folder)
    assert run.trainer.step == 14 and run.trainer.epoch == 1 and run.settings.layers == 1
    ref = Run.load(runs["A"])
    assert np.array_equal(run.model.params, ref.model.params)
    assert [h["train_loss"] for h in run.trainer.history] == [h["train_loss"] for h in ref.trainer.history]
    np.testing.assert_array_equal(run.step_table()["norm_f"], ref.step_table()["norm_f"])
    run.save(folder)
    st = json.loads((folder / "state.json").read_text())
    assert st["format"] == 5 and json.loads((folder / "config.json").read_text())["format"] == 5
    assert sorted(st["sha256"]) == sorted(["config.json", "model.npz", "optimizer.npz", "history.csv",
                                           "epoch-000000.npz", "epoch-000001.npz", "steps-000001.npy"])
    assert not (folder / "steps.csv").exists() and not (folder / "gate_norms.csv").exists()
    assert not os.path.lexists(folder / "epochs.npz") and st["epoch_files"] == ["epoch-000000.npz", "epoch-000001.npz"]
    for e in (0, 1):
        for k, v in ref.epoch_state(e).items():
            assert np.array_equal(again_state(folder, e)[k], v)
    for n, digest in st["sha256"].items():
        assert hashlib.sha256((folder / n).read_bytes()).hexdigest() == digest
    again = Run.load(folder)
    for k, v in ref.step_table().items():
        np.testing.assert_array_equal(again.step_table()[k], v)


def again_state(folder: Path, epoch: int) -> dict:
    """The weights of ``epoch`` as the folder's epoch file holds them."""
    with np.load(folder / f"epoch-{epoch:06d}.npz") as z:
        return {k: np.array(z[k]) for k in z.files}


@pytest.mark.parametrize("case,words", [
    ("steps loss negative", "holds '-5' in column loss on line 3"),
    ("steps rows swapped", "holds '2' in column step on line 2, not 1"),
    ("history clipped 7", "holds '7' in column clipped_fraction on line 2"),
    ("rng state 2.5", "rng_state.state.state = 2.5"),
    ("batch 1e30", "model.batch = 1000000000000000000000000000000"),
    ("epochs.npz 1e300", "holds 1e+300 in e0000/head.bias"),
])
def test_values_are_checked_in_old_folders_too(runs, tmp_path, case, words):
    """A folder without the full hashes (format 2, round 1) gets every value check."""
    folder = copy(runs["A3"], tmp_path / "A")
    _as_old_format(folder, ())
    CASES[case][0](folder, runs)
    with pytest.raises(RunFileError) as info:
        Run.load(folder)
    assert words in str(info.value) and one_sentence(str(info.value)), str(info.value)


def test_an_empty_validation_loss_is_allowed_where_validation_stopped(runs, tmp_path):
    """NaN (an empty field) only where a value may be missing: val_loss of an epoch whose validation
    was stopped loads as NaN."""
    folder = copy(runs["A"], tmp_path / "A")
    cell(folder, "history.csv", 2, 2, "")
    rehash(folder, "history.csv")
    run = Run.load(folder)
    assert np.isnan(run.trainer.history[0]["val_loss"])
    assert run.trainer.history[0]["train_loss"] == Run.load(runs["A"]).trainer.history[0]["train_loss"] > 0


def test_a_run_saved_and_loaded_keeps_its_numbers(runs):
    a = Run.load(runs["A"])
    st = json.loads((runs["A"] / "state.json").read_text())
    assert st["format"] == 5 and len(st["sha256"]) == 7 and st["step_chunks"] == [
        {"name": "steps-000001.npy", "first": 1, "last": 14, "rows": 14, "width": 1}]
    assert st["epoch_files"] == ["epoch-000000.npz", "epoch-000001.npz"]
    assert a.trainer.log.step == list(range(1, 15))
    assert a.trainer.log.epoch == [1] * 9 + [2] * 5


@pytest.mark.parametrize("key,text", [("missing", False), ("normalize", False), ("level", True), ("stride", True)])
def test_data_settings_of_a_file_run_are_required(tmp_path, key, text):
    from explorer.app.ingest import load_dataset

    path = tmp_path / ("t.txt" if text else "s.csv")
    if text:
        path.write_text("the cat sat on the mat. " * 40)
    else:
        path.write_text("v\n" + "".join(f"{np.sin(i / 5):.6f}\n" for i in range(120)))
    ds = load_dataset(str(path), **({"text": True} if text else {}))
    run = Run(ds, ModelSettings(units=3, epochs=1, batch=8, seed=0))
    list(run.trainer.steps(max_steps=2))
    folder = run.save(tmp_path / "run")
    assert Run.load(folder).trainer.step == 2
    edit_json(folder, "config.json", ("data", key), KeyError)
    with pytest.raises(RunFileError) as info:
        Run.load(folder)
    assert f"config.json lacks the setting data.{key};" in str(info.value) and one_sentence(str(info.value))
