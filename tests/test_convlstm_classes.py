"""Whole-sequence classes on frames: the ConvLSTM classifier equals a torch reference (golden files
without torch), its data (.npz of frames and labels, the built-in example) and its runs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from explorer.engine import make_model
from explorer.engine.convlstm_classes import ConvLSTMClassifier

GOLDEN = Path(__file__).parent / "data" / "convlstm_classes_golden.npz"


def golden_cases():
    with np.load(GOLDEN) as z:
        cases = {}
        for key in z.files:
            j, name = key.split(":", 1)
            cases.setdefault(j, {})[name] = z[key]
    return [cases[j] for j in sorted(cases)]


def model_of(state: dict, C, F, K, k, L, peep, frame) -> ConvLSTMClassifier:
    m = make_model("convlstm", n_inputs=C, n_units=F, n_outputs=K, kernel=k, num_layers=L, peephole=bool(peep),
                   frame=frame if peep else None, pool="mean")
    m.load_state_dict(state)
    return m


def check(m, x, labels, loss, logits, grads):
    value, got = m.loss_and_grads(x, labels, with_input_grads=True)
    assert value == pytest.approx(loss, abs=1e-12, rel=1e-12)
    np.testing.assert_allclose(m.forward(x).y, logits, rtol=0, atol=1e-12)
    np.testing.assert_allclose(m.predict(x, batch_size=2), logits, rtol=0, atol=1e-12)
    assert set(got) == set(grads)
    for key, g in grads.items():
        np.testing.assert_allclose(got[key], g, rtol=0, atol=1e-10, err_msg=key)


@pytest.mark.parametrize("case", golden_cases(), ids=lambda c: "C{}-F{}-K{}-k{}-L{}-peep{}".format(*c["config"]))
def test_golden_parity_without_torch(case):
    C, F, K, k, L, peep = (int(v) for v in case["config"])
    state = {n[6:]: v for n, v in case.items() if n.startswith("state.")}
    grads = {n[5:]: v for n, v in case.items() if n.startswith("grad.")}
    m = model_of(state, C, F, K, k, L, peep, case["x"].shape[3:])
    check(m, case["x"], case["labels"], float(case["loss"]), case["logits"], grads)
    assert float(np.abs(grads["weight_hh_l0"]).max()) > 1e-4          # the recurrent path carries gradient


@pytest.mark.parametrize("cfg", [(1, 2, 2, 3, 1, False), (2, 3, 3, 3, 2, True), (1, 4, 5, 5, 1, False),
                                 (3, 2, 2, 1, 3, True)])
def test_torch_parity(cfg):
    torch = pytest.importorskip("torch")
    from convlstm_reference import classifier_reference

    C, F, K, k, L, peep = cfg
    rng = np.random.default_rng(sum(cfg))
    frame = (4, 7)
    m = make_model("convlstm", n_inputs=C, n_units=F, n_outputs=K, kernel=k, num_layers=L, peephole=peep,
                   frame=frame, pool="mean", seed=3)
    m.params[...] = rng.normal(0, 0.5, m.params.shape)
    state = m.state_dict()
    x = rng.normal(0, 1, (4, 5, C, *frame))
    labels = rng.integers(0, K, 4)
    ref = classifier_reference(state, x, labels, L, peep, torch)
    check(m, x, labels, ref["loss"], ref["logits"], ref["grads"])


def test_classifier_contract():
    m = make_model("convlstm", n_inputs=1, n_units=3, n_outputs=4, kernel=3, pool="mean")
    x = np.random.default_rng(0).normal(size=(2, 3, 1, 5, 5))
    tr = m.forward(x)
    assert tr.y.shape == (2, 4) and tr.pooled.shape == (2, 3) and tr.h.shape == (3, 2, 3, 5, 5)
    np.testing.assert_allclose(tr.pooled, tr.h[-1].mean(axis=(2, 3)), atol=1e-15)
    assert m.param_count.total == 4 * 3 * (9 * (1 + 3) + 1) + 4 * (3 + 1)
    assert type(m.clone()) is ConvLSTMClassifier
    np.testing.assert_array_equal(m.predict_classes(x), tr.y.argmax(axis=1))
    with pytest.raises(ValueError, match="class ids must lie in 0 … 3"):
        m.loss_and_grads(x, np.array([0, 4]))
    with pytest.raises(ValueError, match=r"target must be class ids of shape \(2,\)"):
        m.loss_and_grads(x, np.zeros((2, 3, 4, 5, 5)))
    with pytest.raises(ValueError, match="loss is cross_entropy, not 'mse'"):
        m.evaluate(x, np.array([0, 1]), "mse")
    with pytest.raises(ValueError, match="pools with pool='mean'"):
        make_model("convlstm", n_inputs=1, n_units=3, n_outputs=4, pool="attention")


# -- data -------------------------------------------------------------------------------------------
def labelled_npz(tmp_path, n=24, name="cls.npz", **extra):
    from explorer.data.frames import square_directions

    frames, ids = square_directions(n, 4, 8, np.random.default_rng(5))
    path = tmp_path / name
    names = np.array(["left", "right", "up", "down"])
    np.savez(path, frames=(frames[:, :, 0] * 255).astype(np.uint8), labels=names[ids], **extra)
    return path, frames, names[ids]


def test_npz_of_frames_and_labels_loads_and_splits(tmp_path):
    from explorer.data.frames import load_frame_classes

    path, frames, labels = labelled_npz(tmp_path)
    ds = load_frame_classes(path, val_fraction=0.25)
    assert ds.class_names == ["down", "left", "right", "up"]                # text labels alphabetically
    assert (ds.n_train, ds.n_val, ds.x_train.shape[1:]) == (18, 6, (4, 1, 8, 8))
    order = np.random.default_rng(0).permutation(24)                        # the documented seeded split
    np.testing.assert_array_equal(ds.x_val, frames[order[18:]])
    assert [ds.class_names[i] for i in ds.y_train] == list(labels[order[:18]])
    assert ds.majority_accuracy() == np.mean(ds.y_val == np.argmax(np.bincount(ds.y_train, minlength=4)))
    assert ds.config == {"type": "frames", "task": "classes", "source": str(path), "label": "labels",
                         "val_fraction": 0.25, "layout": "NTHW"}


@pytest.mark.parametrize("arrays, label, says", [
    ({"frames": np.zeros((4, 3, 5, 5)), "labels": np.array([0, 1, 0])}, None, "holds 4 sequences but 3 labels"),
    ({"frames": np.zeros((4, 3, 5, 5)), "labels": np.zeros(4, int)}, None, "holds one class (0); classes need at least two"),
    ({"frames": np.zeros((3, 5, 5)), "labels": np.array([0, 1, 0])}, None, "classes need N sequences"),
    ({"frames": np.zeros((4, 3, 5, 5)), "labels": np.array([0, 1, 0, 1])}, "kind", "holds no array 'kind'"),
    ({"frames": np.zeros((4, 3, 5, 5)), "labels": np.array([0.5, 1, 0, 1])}, None, "labels are whole numbers or text"),
])
def test_bad_label_files_are_refused_in_one_sentence(tmp_path, arrays, label, says):
    from explorer.data import SequenceFileError
    from explorer.data.frames import load_frame_classes

    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(SequenceFileError, match=re.escape(says)) as err:
        load_frame_classes(tmp_path / "bad.npz", label)
    assert str(err.value).count(". ") == 0 and str(err.value).startswith("bad.npz")


# -- runs -------------------------------------------------------------------------------------------
def test_cli_trains_classes_resumes_bit_for_bit_and_exports_the_confusion(tmp_path, capsys):
    import csv

    from explorer.app.frames_run import FramesRun
    from explorer.cli import main

    path, _, _ = labelled_npz(tmp_path, n=20)
    common = ["--cell", "convlstm", "--channels", "2", "--batch", "4", "--quiet"]
    assert main(["train", str(path), *common, "--epochs", "2", "--out", str(tmp_path / "a")]) == 0
    assert main(["train", str(path), *common, "--epochs", "1", "--no-plots", "--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "b" / "confusion.csv").is_file() and not (tmp_path / "b" / "confusion.png").exists()
    assert main(["train", "--resume", str(tmp_path / "b"), "--epochs", "1", "--quiet"]) == 0
    a, b = FramesRun.load(tmp_path / "a"), FramesRun.load(tmp_path / "b")
    assert a.classes and a.model.pool == "mean" and (a.trainer.step, b.trainer.step) == (8, 8)
    np.testing.assert_array_equal(a.model.params, b.model.params)
    rows = list(csv.DictReader((tmp_path / "a" / "history.csv").read_text().splitlines()))
    assert list(rows[0]) == ["epoch", "train_loss", "val_loss", "train_accuracy", "val_accuracy"]
    acc = a.accuracy("val")
    assert float(rows[-1]["val_accuracy"]) == pytest.approx(acc, abs=1e-10)
    conf = list(csv.reader((tmp_path / "a" / "confusion.csv").read_text().splitlines()))
    assert conf[0] == ["true \\ predicted", "down", "left", "right", "up"]
    counts = np.array([[int(v) for v in r[1:]] for r in conf[1:]])
    assert counts.sum() == a.dataset.n_val == 4 and np.trace(counts) / 4 == acc
    np.testing.assert_array_equal(counts, a.confusion("val"))
    preds = list(csv.DictReader((tmp_path / "a" / "predictions.csv").read_text().splitlines()))
    probs = np.array([[float(p[f"p({n})"]) for n in a.dataset.class_names] for p in preds])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    assert [p["true"] for p in preds] == [a.dataset.class_names[i] for i in a.dataset.y_val]
    for f in ("confusion.png", "confusion.svg", "accuracy.png", "accuracy.svg"):
        assert (tmp_path / "a" / f).stat().st_size > 2000
    capsys.readouterr()
    assert main(["animate", str(tmp_path / "a"), "--out", str(tmp_path / "a.gif")]) == 2
    err = capsys.readouterr().err.strip()
    assert "holds a ConvLSTM run on whole-sequence classes; the ConvLSTM window and animate draw" in err
    assert err.count("\n") == 0
    from explorer.gui.app import main as gui_main

    assert gui_main([str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    assert "a ConvLSTM run on whole-sequence classes; the ConvLSTM window" in err and err.count("\n") == 0
    assert main(["train", str(path), *common, "--loss", "bce", "--out", str(tmp_path / "c")]) == 2
    assert "--loss is for next-frame prediction" in capsys.readouterr().err
    assert main(["compare", str(path), "--cell", "convlstm", "--out", str(tmp_path / "d")]) == 2
    assert "compare --cell convlstm compares next-frame prediction" in capsys.readouterr().err


def test_square_directions_beats_the_majority_class(tmp_path, capsys):
    from explorer.cli import main

    out = tmp_path / "run"
    assert main(["train", "--example", "square-directions", "--cell", "convlstm", "--channels", "4", "--epochs", "6",
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if x.startswith("validation accuracy"))
    acc = float(line.split()[2].rstrip("%")) / 100
    assert line.endswith("(always answering the commonest training class: 25.0%)")
    assert acc >= 0.5                                                       # twice the majority class
    assert "4 classes (left 54, right 48, up 43, down 35)" in err
    from explorer.app.frames_run import FramesRun

    run = FramesRun.load(out)                                               # the example rebuilt from its config
    assert run.classes and run.dataset.class_names == ["left", "right", "up", "down"]
    assert run.accuracy("val") == pytest.approx(acc, abs=0.0005)
