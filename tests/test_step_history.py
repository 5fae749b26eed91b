"""A run's per-step history (run folder format 4): chunk files that checkpoints append to and never
rewrite, thinned beyond what the plots draw, opened in a time and memory bounded whatever the steps;
old folders still open; the plots draw the same extremes from a thinned history as from every step."""

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

from explorer.bench.longrun import long_run
from explorer.data.examples import load_example
from explorer.runs.folder import VERSIONS, current_version
from explorer.runs.steplog import MAX_CHUNKS, MOST, RECENT, StepHistory, plot_width, row_dtype, thin
from explorer.runs.store import ModelSettings, Run, RunFileError
from run_edits import as_format3


def small_run(seed=2):
    return Run(load_example("sine", n_points=200), ModelSettings(units=5, epochs=4, batch=16, lr=0.02, seed=seed))


def saved_run(folder: Path, steps: int) -> Run:
    """A small run trained ``steps`` steps and saved into ``folder``."""
    run = small_run()
    list(run.trainer.steps(max_steps=steps))
    run.save(folder)
    return run


def chunks_of(folder: Path) -> list:
    return json.loads((folder / "state.json").read_text())["step_chunks"]


# -- appending --------------------------------------------------------------------------------------
def test_checkpoints_append_a_chunk_and_never_rewrite_the_earlier_ones(tmp_path):
    folder = tmp_path / "r"
    run = saved_run(folder, 10)
    first = folder / "steps-000001.npy"
    st1, bytes1 = os.stat(first), first.read_bytes()
    for k in (2, 3, 4):
        list(run.trainer.steps(max_steps=3))
        run.save(folder)
        st = os.stat(folder / "steps-000001.npy")
        # the very same file: linked into each new version, not written again
        assert (st.st_ino, st.st_mtime_ns, st.st_size) == (st1.st_ino, st1.st_mtime_ns, st1.st_size)
        assert (folder / "steps-000001.npy").read_bytes() == bytes1
        new = np.load(folder / f"steps-{k:06d}.npy")
        assert new["step"].tolist() == list(range(10 + 3 * (k - 2) + 1, 10 + 3 * (k - 1) + 1))   # only the new steps
    assert [c["rows"] for c in chunks_of(folder)] == [10, 3, 3, 3]
    assert len(os.listdir(folder / VERSIONS)) == 1                  # older versions gone, their chunks kept
    loaded = Run.load(folder)
    for key, v in run.trainer.step_table().items():
        np.testing.assert_array_equal(loaded.step_table()[key], v)
    list(loaded.trainer.steps(max_steps=2))                          # resumed: appends after the loaded chunks
    loaded.save(folder)
    assert os.stat(folder / "steps-000001.npy").st_ino == st1.st_ino
    assert chunks_of(folder)[-1] == {"name": "steps-000005.npy", "first": 20, "last": 21, "rows": 2, "width": 1}


def test_a_save_into_another_folder_writes_the_chunks_it_cannot_link(tmp_path, monkeypatch):
    run = small_run()
    list(run.trainer.steps(max_steps=6))
    run.save(tmp_path / "a")
    list(run.trainer.steps(max_steps=2))

    def no_links(*a, **kw):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    run.save(tmp_path / "b")
    monkeypatch.undo()
    assert (tmp_path / "b" / "steps-000001.npy").read_bytes() == (tmp_path / "a" / "steps-000001.npy").read_bytes()
    assert os.stat(tmp_path / "b" / "steps-000001.npy").st_ino != os.stat(tmp_path / "a" / "steps-000001.npy").st_ino
    assert Run.load(tmp_path / "b").step_table()["step"].tolist() == list(range(1, 9))


# -- a kill between writes ---------------------------------------------------------------------------
def test_a_save_killed_with_its_chunk_half_written_leaves_the_run_before_it(tmp_path):
    folder = tmp_path / "r"
    run = saved_run(folder, 8)
    list(run.trainer.steps(max_steps=5))
    data = run.files()["steps-000002.npy"]
    # what a kill in the middle of the next save leaves: a version not switched to, its chunk torn
    torn = folder / VERSIONS / "00000000000000000001-1-abcdef"
    torn.mkdir()
    (torn / "steps-000002.npy").write_bytes(data[:len(data) // 2])
    back = Run.load(folder)
    assert back.trainer.step == 8 and back.step_table()["step"].tolist() == list(range(1, 9))
    list(back.trainer.steps(max_steps=5))
    back.save(folder)                                               # the next save tidies the torn version
    assert os.listdir(folder / VERSIONS) == [current_version(folder)]
    again = Run.load(folder)
    assert again.trainer.step == 13
    np.testing.assert_array_equal(again.step_table()["loss"], run.trainer.step_table()["loss"])


def test_a_torn_chunk_of_the_current_version_is_refused_in_one_sentence(tmp_path):
    folder = tmp_path / "r"
    saved_run(folder, 8)
    path = folder / "steps-000001.npy"
    data = path.read_bytes()
    path.write_bytes(data[:-40])
    with pytest.raises(RunFileError) as info:
        Run.load(folder)
    assert str(info.value).endswith("steps-000001.npy is not a readable NumPy array (truncated or damaged); the run "
                                    "folder is damaged (restore it from a copy or train again).")


# -- thinning and opening long runs ------------------------------------------------------------------
def test_thinning_keeps_each_buckets_first_row_extremes_clipped_maximum_and_epoch_starts():
    rows = np.zeros(16, dtype=row_dtype(["f"]))
    rows["step"] = np.arange(1, 17)
    rows["epoch"] = [1] * 6 + [2] * 10                 # epoch 2 starts at step 7
    rows["loss"] = 1.0
    rows["grad_norm"] = [5, 1, 9, 2, 2, 2, 2, 2, 0, 3, 8, 2, 2, 2, 2, 2]
    rows["norm_f"] = 1.0
    rows["norm_f"][12] = 0.5
    rows["clipped"][[1, 2, 10]] = True
    kept = thin(rows, 8)["step"].tolist()
    # bucket 1-8: first 1, grad min 2 and max 3 (clipped too), epoch 2's start 7
    # bucket 9-16: first 9 (grad 0 is never an extreme), grad max 11 (clipped too) and min 12 (the first 2),
    # norm_f min 13, the last step 16
    assert kept == [1, 2, 3, 7, 9, 11, 12, 13, 16]


def test_a_long_run_opens_reading_a_bounded_number_of_rows(tmp_path):
    held = {}
    for steps in (60_000, 240_000):
        folder = tmp_path / f"r{steps}"
        long_run(steps).save(folder)
        run = Run.load(folder)
        listed = chunks_of(folder)
        assert sum(c["rows"] for c in listed) == len(run.history)      # every row read is one the history holds
        assert listed[-1]["last"] == run.trainer.step == steps
        exact = [c for c in listed if c["width"] == 1]
        assert RECENT <= sum(c["rows"] for c in exact) <= 2 * RECENT
        assert RECENT <= len(run.trainer.log.step) <= 2 * RECENT            # the trainer's log: the exact tail
        assert len([c for c in listed if c["width"] > 1]) <= MAX_CHUNKS
        held[steps] = len(run.history)
        itemsize = row_dtype(run.history.gates).itemsize
        headers = {(folder / c["name"]).stat().st_size - c["rows"] * itemsize for c in listed}
        assert len(headers) == 1 and headers.pop() <= 512            # the rows and one .npy header, nothing else
    assert held[240_000] < 1.5 * held[60_000] and held[240_000] < 40 * MOST   # not 4 × the rows for 4 × the steps


def extend(run, k: int, rng) -> None:
    """``k`` more steps in ``run``'s trainer, as training would leave them (epochs of the data's size)."""
    tr, lg = run.trainer, run.trainer.log
    spe = tr.steps_per_epoch
    steps = range(tr.step + 1, tr.step + k + 1)
    lg.step += list(steps)
    lg.epoch += [(s - 1) // spe + 1 for s in steps]
    lg.loss += rng.lognormal(-2, 1, k).tolist()
    lg.grad_norm += rng.lognormal(0, 1, k).tolist()
    lg.clipped += [False] * k
    for g in lg.gates:
        lg.gates[g] += rng.lognormal(-1, 1, k).tolist()
    tr.step += k
    tr.epoch, tr.epoch_step = divmod(tr.step, spe)
    tr.history += [{"epoch": e, "train_loss": 1.0, "val_loss": 1.0, "grad_norm": 1.0, "clipped_fraction": 0.0}
                   for e in range(len(tr.history) + 1, tr.epoch + 1)]
    tr.epochs = tr.epoch + 1
    tr.optimizer.t = tr.step
    tr._perm = None
    if tr.epoch_step:
        tr._start_epoch()


def test_the_history_stays_bounded_over_many_checkpoints(tmp_path):
    """Checkpoints every few hundred steps of a long run: chunks merge, rows stay bounded, and every
    checkpoint writes at most the exact window again (never the whole history)."""
    run = long_run(50_000)
    folder = tmp_path / "r"
    run.save(folder)
    written = []
    rng = np.random.default_rng(1)
    for _ in range(60):                                       # 60 checkpoints of 1,000 more steps
        extend(run, 1000, rng)
        before = set(os.listdir(folder / VERSIONS / current_version(folder)))
        run.save(folder)
        now = set(os.listdir(folder / VERSIONS / current_version(folder)))
        new = sorted(n for n in now - before if n.startswith("steps-"))
        written.append(sum(np.load(folder / n).shape[0] for n in new))
        listed = chunks_of(folder)
        assert len(listed) <= 2 * MAX_CHUNKS
        assert len(run.trainer.log.step) <= 2 * RECENT + 1000       # the live log: its exact tail and what came since
        assert run.trainer.log.step[-1] == run.trainer.step
    assert max(written) <= 2 * RECENT + 40 * MOST               # never the 110,000 steps again
    assert len(Run.load(folder).history) < 40 * MOST + 2 * RECENT


# -- old folders --------------------------------------------------------------------------------------
def test_a_long_format_3_run_opens_once_and_is_saved_in_chunks(tmp_path):
    folder = tmp_path / "old"
    run = long_run(40_000)
    full = run.trainer.step_table()
    run.history = StepHistory(run.history.gates, recent=10**9)       # every step exact, as format 3 held it
    run.save(folder)
    as_format3(folder)
    assert (folder / "steps.csv").read_text().count("\n") == 40_001
    opened = Run.load(folder)
    assert all(c.name is None for c in opened.history.chunks)        # thinned in memory, not yet saved
    tail = opened.trainer.step_table()
    np.testing.assert_array_equal(tail["loss"], full["loss"][-len(tail["loss"]):])
    assert RECENT <= len(tail["step"]) <= 2 * RECENT
    opened.save(folder)
    assert not (folder / "steps.csv").exists() and not (folder / "gate_norms.csv").exists()
    again = Run.load(folder)
    for key, v in opened.step_table().items():
        np.testing.assert_array_equal(again.step_table()[key], v)


# -- what the plots draw ------------------------------------------------------------------------------
def _drawn(plot):
    plot._draw()
    out = {"global": (plot.global_curve.xData, plot.global_curve.yData),
           "epochs": (plot.epoch_item.xData, plot.epoch_item.yData)}
    for g, c in plot.gate_curves.items():
        out[g] = (c.xData, c.yData)
    return out


def test_the_gradient_norm_plot_draws_the_same_extremes_from_the_thinned_history(tmp_path, qapp):
    from explorer.figures.plots import GradNormPlotWidget

    run = long_run(70_000, clipped=0.01)
    full = run.trainer.step_table()
    gates = list(run.trainer.log.gates)
    run.save(tmp_path / "r")
    loaded = Run.load(tmp_path / "r")
    table = loaded.step_table()
    assert len(table["step"]) < len(full["step"]) / 2                # thinned ...
    a, b = GradNormPlotWidget(), GradNormPlotWidget()
    a.set_step_table(full, gates, 1.0)
    b.set_step_table(table, gates, 1.0)
    da, db = _drawn(a), _drawn(b)
    assert set(da) == set(db) == {"global", "epochs", *gates}
    for key in da:                                                 # ... and drawn point for point the same
        np.testing.assert_array_equal(da[key][0], db[key][0], err_msg=key)
        np.testing.assert_array_equal(da[key][1], db[key][1], err_msg=key)
    assert len(da["global"][0]) < 5 * MOST
    # clipped steps: the largest of each bucket is kept, and marked where it was
    ya = a.clip_scatter.yData
    xb, yb = b.clip_scatter.xData, b.clip_scatter.yData
    clipped = dict(zip(full["step"][full["clipped"]].astype(float), full["grad_norm"][full["clipped"]]))
    assert len(xb) > 0 and all(clipped[x] == y for x, y in zip(xb, yb))
    assert ya.max() == yb.max()
    # training goes on: the same steps appended to both still draw the same
    more = {k: v[-500:].copy() for k, v in full.items()}
    more["step"] = more["step"] + 500
    for w in (a, b):
        w.append_steps(more["step"], more["grad_norm"], {g: more[f"norm_{g}"] for g in gates}, more["clipped"], [])
    da, db = _drawn(a), _drawn(b)
    for key in ("global", *gates):
        np.testing.assert_array_equal(da[key][0], db[key][0], err_msg=key)
        np.testing.assert_array_equal(da[key][1], db[key][1], err_msg=key)
    assert plot_width(70_500) == a._peaks["global"].width == b._peaks["global"].width


def test_an_export_of_the_history_writes_every_row_the_run_keeps(tmp_path):
    from explorer.figures.report import export_run_plots

    run = long_run(30_000)
    run.save(tmp_path / "r")
    loaded = Run.load(tmp_path / "r")
    export_run_plots(loaded, tmp_path / "out", forecast=0)
    text = (tmp_path / "out" / "grad_norms.csv").read_text().splitlines()
    steps = [int(line.split(",")[0]) for line in text[1:]]
    kept = loaded.step_table()["step"].tolist()
    assert steps == kept and steps[-RECENT:] == list(range(30_000 - RECENT + 1, 30_001))
    assert text[0].startswith("step,global,")


def test_chunk_bytes_are_one_structured_array_per_file():
    h = StepHistory(["i", "f"])
    rows = np.zeros(3, dtype=h.dtype)
    rows["step"] = [1, 2, 3]
    rows["epoch"] = 1
    chunks, files = h.named(h.plan(rows))
    a = np.load(io.BytesIO(files["steps-000001.npy"]), allow_pickle=False)
    assert a.dtype.names == ("step", "epoch", "loss", "grad_norm", "clipped", "norm_i", "norm_f")
    assert chunks[0].record() == {"name": "steps-000001.npy", "first": 1, "last": 3, "rows": 3, "width": 1}
