"""``lstm-explorer train TREES --cell treelstm|nary-treelstm --label-at root|nodes`` and ``compare``
on trees; arithmetic trees learned to a lower error than the flat sequence LSTM."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from explorer.app.tree_train import TreeData, TreeRun, TreeSettings, sequence_baseline
from explorer.cli import main
from explorer.data.trees import arithmetic_trees, make_bank, sentiment_trees, write_trees
from lock_holder import lock_held_elsewhere
from explorer.engine.model import make_model


def _sst_file(tmp_path, n=60):
    path = tmp_path / "sst.txt"
    write_trees(path, sentiment_trees(n, seed=3))
    return path


def _lines(capsys):
    return [ln for ln in capsys.readouterr().err.splitlines() if ln]


@pytest.mark.parametrize("cell", ["treelstm", "nary-treelstm"])
def test_train_tree_file_writes_the_run(tmp_path, capsys, cell):
    out = tmp_path / "run"
    args = ["train", str(_sst_file(tmp_path)), "--cell", cell, "--epochs", "2", "--units", "6", "--out", str(out)]
    assert main(args) == 0
    err = _lines(capsys)
    assert err[0].startswith("54 training and 6 validation trees") and "labels: classes (3 classes) at the nodes" in err[0]
    assert err[1].startswith(f"{cell} with 6 units: ")
    meta = json.loads((out / "tree_run.json").read_text())
    assert meta["settings"]["cell"] == cell and meta["settings"]["label_at"] == "nodes"
    assert len(meta["history"]) == 2
    model = make_model(cell, len(meta["vocab"]), 6, 3)
    with np.load(out / "model.npz") as z:
        model.load_state_dict({k: z[k] for k in z.files})
    assert meta["parameters"] == model.param_count.total
    with open(out / "nodes.csv") as fh:
        rows = list(csv.DictReader(fh))
    first = [r for r in rows if r["tree"] == "0"]
    tree = sentiment_trees(60, seed=3)[54]
    assert [r["token"] or None for r in first] == tree.words
    ids = np.array([meta["vocab"].index(w) if w else -1 for w in tree.words])
    y = model.predict(ids, children=tree.children)
    assert [int(r["prediction"]) for r in first] == y.argmax(axis=1).tolist()
    np.testing.assert_allclose([float(r["c_0"]) for r in first],
                               model.forward(ids, children=tree.children).c[:, 0], rtol=1e-5, atol=1e-6)
    with open(out / "loss.csv") as fh:
        loss_rows = list(csv.reader(fh))
    assert len(loss_rows) == 1 + 2 * 2                                  # header, 2 epochs × 2 curves
    assert float(loss_rows[1][-1]) == pytest.approx(meta["history"][0]["train_loss"], rel=1e-6)
    for name in ("loss.png", "loss.svg", "tree.png", "tree.svg"):
        assert (out / name).stat().st_size > 1000


def test_label_at_root_learns_the_roots_only(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--example", "sentiment-trees", "--cell", "treelstm", "--label-at", "root",
                 "--epochs", "1", "--units", "4", "--out", str(out), "--quiet", "--no-plots"]) == 0
    assert not (out / "tree.png").exists() and (out / "model.npz").exists()
    meta = json.loads((out / "tree_run.json").read_text())
    assert meta["settings"]["label_at"] == "root"
    bank = make_bank(sentiment_trees(30, 0), "classes")
    data = TreeData.split(bank, 0.2, "root")
    _, _, target, roots = data.forest(data.train[:3])
    assert (target >= 0).sum() == 3 and (target[roots] >= 0).all()


@pytest.mark.parametrize("extra, words", [
    (["--cell", "lstm", "--label-at", "root"], "--label-at is for trees"),
    (["--cell", "treelstm", "--layers", "2"], "one layer and one direction"),
    (["--cell", "treelstm", "--example", "sine"], "is not made of trees"),
])
def test_tree_options_refused_in_one_sentence(tmp_path, capsys, extra, words):
    out = tmp_path / "run"
    args = ["train", *extra, "--out", str(out)]
    if "--example" not in extra:
        args.insert(1, str(_sst_file(tmp_path, 10)))
    assert main(args) == 2
    err = _lines(capsys)
    assert len(err) == 1 and words in err[0], err
    assert not out.exists()


def test_hostile_tree_file_exit_2(tmp_path, capsys):
    path = tmp_path / "bad.trees"
    path.write_text("(3 (2 It) (4 good)\n")
    out = tmp_path / "run"
    assert main(["train", str(path), "--cell", "treelstm", "--out", str(out)]) == 2
    err = _lines(capsys)
    assert err == ["lstm-explorer: Line 1 of bad.trees leaves 1 bracket(s) open; balance the brackets."]
    assert not out.exists()


def test_nary_refuses_a_tree_that_is_not_binary(tmp_path, capsys):
    path = tmp_path / "syntax.trees"
    path.write_text("(1 (0 a) (1 b))\n(2 (1 x) (0 y) (2 z))\n(0 (0 c) (1 d))\n")
    assert main(["train", str(path), "--cell", "nary-treelstm", "--val-fraction", "0.3",
                 "--out", str(tmp_path / "r")]) == 2
    err = _lines(capsys)
    assert len(err) == 1 and "the tree on line 2 cannot be read by nary-treelstm" in err[0]
    assert "node 3 has 3 child(ren)" in err[0]


def test_compare_on_trees_writes_a_row_per_cell(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", "--example", "sentiment-trees", "--cells", "nary-treelstm,lstm", "--epochs", "1",
                 "--units", "4", "--out", str(out), "--quiet"]) == 0
    with open(out / "comparison.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["cell"] for r in rows] == ["nary-treelstm", "lstm (flat)"]
    assert 0 <= float(rows[0]["node_error"]) <= 1 and rows[1]["node_error"] == ""


def test_arithmetic_trees_beat_the_flat_sequence_lstm():
    """The N-ary Tree-LSTM, given the structure, errs less on every node than the sequence LSTM on
    the root it predicts from the flat infix string (same data, units, epochs; RMSE in the values'
    units). Measured: tree node 1.01, tree root 2.04, flat LSTM root 4.05 (1000 trees, 24 units,
    12 epochs)."""
    bank = make_bank(arithmetic_trees(1000, 0), "values")
    data = TreeData.split(bank, 0.2)
    run = TreeRun(data, TreeSettings(cell="nary-treelstm", units=24, epochs=12, lr=0.01))
    run.train()
    tree = run.history[-1]
    flat = sequence_baseline(data, units=24, epochs=12)[-1]
    spread = float(np.std([t.labels[-1] for t in data.val]))
    assert tree["val_node_error"] < 0.5 * flat["val_root_error"]
    assert tree["val_root_error"] < 0.75 * flat["val_root_error"] < spread


def test_resume_continues_exactly(tmp_path, capsys):
    """2 epochs, then --resume with 1 more, equals 3 epochs straight (weights and history)."""
    trees = _sst_file(tmp_path, 40)
    common = ["--cell", "treelstm", "--units", "5", "--quiet"]
    assert main(["train", str(trees), *common, "--epochs", "3", "--out", str(tmp_path / "a")]) == 0
    assert main(["train", str(trees), *common, "--epochs", "2", "--out", str(tmp_path / "b")]) == 0
    assert main(["train", "--resume", str(tmp_path / "b"), "--quiet"]) == 2
    assert "has finished its 2 epochs; add --epochs E" in _lines(capsys)[-1]
    assert main(["train", "--resume", str(tmp_path / "b"), "--epochs", "1", "--quiet"]) == 0
    with np.load(tmp_path / "a" / "model.npz") as za, np.load(tmp_path / "b" / "model.npz") as zb:
        for key in za.files:
            np.testing.assert_array_equal(za[key], zb[key])
    ha = json.loads((tmp_path / "a" / "tree_run.json").read_text())["history"]
    hb = json.loads((tmp_path / "b" / "tree_run.json").read_text())["history"]
    assert ha == hb and len(hb) == 3


def test_resume_refuses_changed_trees_and_damage(tmp_path, capsys):
    trees = _sst_file(tmp_path, 20)
    out = tmp_path / "r"
    assert main(["train", str(trees), "--cell", "treelstm", "--units", "3", "--epochs", "1", "--out", str(out),
                 "--quiet"]) == 0
    trees.write_text(trees.read_text() + "(1 (1 a) (1 b))\n")
    assert main(["train", "--resume", str(out), "--epochs", "1"]) == 2
    assert "changed since the run was saved" in _lines(capsys)[-1]
    assert main(["train", "--resume", str(out), "--epochs", "1", "--allow-changed-data", "--quiet"]) == 0
    (out / "checkpoint.npz").write_bytes(b"not a checkpoint")
    assert main(["train", "--resume", str(out), "--epochs", "1"]) == 2
    err = _lines(capsys)
    assert len(err) == 1 and "is damaged" in err[0]


def test_sigterm_saves_the_last_finished_epoch(tmp_path):
    """SIGTERM while training: the run up to the last finished epoch is saved (exit 130) and
    --resume continues from it."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "explorer", "train", "--example", "arithmetic", "--cell",
                             "nary-treelstm", "--units", "4", "--epochs", "100000", "--out", str(out)],
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in proc.stderr:                      # wait for the first finished epoch
            if line.startswith("epoch 1:"):
                break
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=120)[1]
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert "interrupted; the run up to epoch" in rest
    meta = json.loads((out / "tree_run.json").read_text())
    done = len(meta["history"])
    assert done >= 1
    assert main(["train", "--resume", str(out), "--epochs", "1", "--quiet"]) == 0
    assert len(json.loads((out / "tree_run.json").read_text())["history"]) == done + 1


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() and not p.is_symlink() else None)
            for p in sorted(folder.rglob("*"))}


def test_force_never_replaces_the_persons_files(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "model.npz").write_bytes(b"my own model")
    (mine / "history.csv").write_text("my own history\n")
    before = _snapshot(mine)
    args = ["train", str(_sst_file(tmp_path)), "--cell", "treelstm", "--epochs", "1", "--units", "3", "--no-plots",
            "--force"]
    assert main(args + ["--out", str(mine)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"lstm-explorer: --out {mine} holds ") and "choose an empty folder" in err
    assert err.count("\n") == 0
    assert _snapshot(mine) == before
    run = tmp_path / "run"                                # a tree run's own folder may be trained over again
    assert main(args + ["--out", str(run)]) == 0
    (run / "notes.txt").write_text("the person's notes")
    assert main(args + ["--out", str(run)]) == 2
    assert "(notes.txt)" in capsys.readouterr().err


def test_links_in_a_tree_run_are_never_followed(tmp_path, capsys):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "a.jpg").write_bytes(b"photo")
    run = tmp_path / "run"
    args = ["train", str(_sst_file(tmp_path)), "--cell", "treelstm", "--epochs", "1", "--units", "3", "--no-plots",
            "--force",
            "--out", str(run)]
    assert main(args) == 0
    capsys.readouterr()
    (run / "model.npz").unlink()
    (run / "model.npz").symlink_to(victim / "a.jpg")        # a link where the run keeps a file
    assert main(args) == 2
    assert "has a link named model.npz" in capsys.readouterr().err
    assert (victim / "a.jpg").read_bytes() == b"photo"
    (run / "model.npz").unlink()
    (run / ".history.csv.tmp").symlink_to(victim / "a.jpg")  # a link where it writes a temporary
    assert main(["train", "--resume", str(run), "--epochs", "1", "--no-plots"]) == 2
    assert "has a link named .history.csv.tmp where the run keeps a file" in capsys.readouterr().err
    assert (victim / "a.jpg").read_bytes() == b"photo" and list(victim.iterdir()) == [victim / "a.jpg"]


def test_a_second_writer_is_refused_and_told_who_holds_the_folder(tmp_path, capsys):
    from explorer.runs.folder import WriterLock

    run = tmp_path / "run"
    args = ["train", str(_sst_file(tmp_path)), "--cell", "treelstm", "--epochs", "1", "--units", "3", "--no-plots",
            "--force",
            "--out", str(run)]
    assert main(args) == 0
    capsys.readouterr()
    with lock_held_elsewhere(run) as pid:
        assert main(args) == 2
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert last.startswith("lstm-explorer: ") and f"process {pid}" in last
    assert WriterLock(run).release() is None


def test_tree_training_is_the_one_training_task_and_diverges_as_everywhere(tmp_path, capsys):
    """A Tree-LSTM trains through :func:`explorer.app.tasks.train_task`: one StepSnapshot per batch,
    and a blow-up is "diverged" by the one rule (the loss over 10⁴ × the loss of predicting zero,
    or not finite): the weights from before it go back, the command line says so and exits 3."""
    from explorer.app.tasks import TaskState, train_task
    from explorer.engine.trainer import StepSnapshot

    bank = make_bank(arithmetic_trees(60, 0), "values")
    run = TreeRun(TreeData.split(bank, 0.2), TreeSettings(cell="nary-treelstm", units=4, epochs=2, batch=8))
    snaps = []
    result = train_task(TaskState(), run, on_step=lambda snap, val: snaps.append(snap), final_trace=False)
    assert result.reason == "done" and len(run.history) == 2
    assert all(isinstance(s, StepSnapshot) for s in snaps)
    assert len(snaps) == run.step == 2 * run.steps_per_epoch == 12          # 48 training trees, batches of 8
    ends = [s for s in snaps if s.epoch_end]
    assert [s.val_loss for s in ends] == [r["val_loss"] for r in run.history] and ends[-1].done

    start = TreeRun(TreeData.split(bank, 0.2), TreeSettings(cell="nary-treelstm", units=4, epochs=3, batch=8,
                                                            optimizer="sgd", lr=10.0, clip=None))
    before = start.model.params.copy()
    result = start.train()
    assert result.reason == "diverged"
    assert result.message.startswith(("Training diverged at step", "Training stopped at step"))
    assert np.all(np.isfinite(start.model.params))
    if result.kept_step == 0:                                              # back to where training started
        np.testing.assert_array_equal(start.model.params, before)

    trees = tmp_path / "arith.txt"
    write_trees(trees, arithmetic_trees(60, 0), "values")
    out = tmp_path / "blown"
    code = main(["train", str(trees), "--cell", "nary-treelstm", "--units", "4", "--epochs", "3", "--batch", "8",
                 "--optimizer", "sgd", "--lr", "10", "--clip", "0", "--quiet", "--no-plots", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "diverged" in err.lower() or "not a finite number" in err
    assert "back to" in err.lower() and str(out) in err
    with np.load(out / "model.npz") as z:
        assert all(np.all(np.isfinite(z[k])) for k in z.files)
