"""``lstm-explorer compare FRAMES --cell convlstm``: ConvLSTM shapes side by side with copying the
last frame; each variant trains as `train` would (the one training driver), the files hold the
numbers the table prints, one writer at a time, bad lists refused in one sentence."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from explorer.app.frames_compare import BASELINE, compare_frames, format_frames_table, frame_variants
from explorer.app.frames_run import FramesRun, FrameSettings
from explorer.cli import main
from explorer.data.frames import load_frames_dataset, moving_squares, prediction_mse
from explorer.engine.convlstm import param_count
from lock_holder import lock_held_elsewhere


def squares(tmp_path, n=16):
    frames = moving_squares(n, 6, 8, np.random.default_rng(7))[:, :, 0]
    path = tmp_path / "sq.npy"
    np.save(path, (frames * 255).astype(np.uint8))
    return path


def test_each_variant_trains_as_train_does_and_the_table_adds_copying(tmp_path):
    ds = load_frames_dataset(squares(tmp_path))
    base = FrameSettings(batch=4, seed=3)
    variants = frame_variants([2], [1, 3], peepholes=[False, True])
    comp = compare_frames(ds, base, variants, seeds=2, max_steps=12, eval_every=4)
    assert [v.name for v in comp.variants] == ["F2 k1", "F2 k1 peephole", "F2 k3", "F2 k3 peephole"]
    assert [(r.variant.name, r.seed) for r in comp.results][:3] == [("F2 k1", 3), ("F2 k1", 4), ("F2 k1 peephole", 3)]
    for r in comp.results:
        v = r.variant
        assert r.parameters == param_count(1, 2, v.kernel, 1, v.peephole, (8, 8), 1)
        assert list(r.eval_steps) == [0, 4, 8, 12] and r.steps == 12
        hit = [s for s, m in zip(r.eval_steps, r.mses) if s > 0 and m < comp.copy_mse]
        assert r.steps_to_beat_copy == (hit[0] if hit else None)
    # the same settings trained by a run of its own (train's path) give the same numbers, bit for bit
    v = variants[2]
    alone = FramesRun(ds, v.settings(base, 4))
    alone.trainer.epochs = 4
    for _ in alone.trainer.steps(max_steps=12):
        pass
    r = comp.of(v)[1]
    assert r.final_mse == prediction_mse(alone.model, ds)
    assert r.final_val_loss == alone.model.evaluate(ds.x_val, ds.y_val, "mse")
    rows = comp.rows()
    assert rows[-1].name == BASELINE and rows[-1].final_mse == ds.copy_baseline() == comp.copy_mse
    assert rows[2].final_mse == pytest.approx(np.mean([x.final_mse for x in comp.of(v)]), rel=1e-15)
    assert rows[2].final_mse < comp.copy_mse                   # a 3×3 kernel beats copying here
    text = format_frames_table(comp)
    assert text.splitlines()[-2].split() == ["copy", "last", "frame", "0", f"{comp.copy_mse:.4g}"]
    with pytest.raises(ValueError, match="kernel 2 is even"):
        frame_variants([2], [1, 2])
    with pytest.raises(ValueError, match="the channel count 2 is named twice"):
        frame_variants([2, 2], [3])


def test_cli_writes_the_comparison_folder(tmp_path, capsys):
    data = squares(tmp_path)
    out = tmp_path / "cmp"
    args = ["compare", str(data), "--cell", "convlstm", "--channels", "2,3", "--kernel", "3", "--batch", "4",
            "--seeds", "1", "--max-steps", "8", "--eval-every", "4", "--target-loss", "0.5", "--out", str(out)]
    assert main(args) == 0
    cap = capsys.readouterr()
    assert "a ConvLSTM comparison has no --target-loss; ignoring them." in cap.err
    table = cap.out.splitlines()
    rows = list(csv.DictReader((out / "frames_comparison.csv").read_text().splitlines()))
    assert [r["variant"] for r in rows] == ["F2 k3", "F3 k3", "copy last frame"]
    assert rows[0]["parameters"] == str(param_count(1, 2, 3, 1, False, (8, 8), 1))
    copy = float(rows[2]["final_prediction_mse"])
    assert copy == pytest.approx(load_frames_dataset(data).copy_baseline(), rel=1e-15)
    for row, line in zip(rows, table[2:5]):
        assert line.split()[-1] == f"{float(row['final_prediction_mse']):.4g}"
    seeds = list(csv.DictReader((out / "frames_comparison_seeds.csv").read_text().splitlines()))
    assert [(s["variant"], s["seed"], s["steps"]) for s in seeds] == [("F2 k3", "0", "8"), ("F3 k3", "0", "8")]
    curves = list(csv.DictReader((out / "prediction_mse_curves.csv").read_text().splitlines()))
    f2 = [c for c in curves if c["series"] == "F2 k3"]
    assert [c["x"] for c in f2] == ["0", "4", "8"]
    assert float(f2[-1]["y"]) == float(rows[0]["final_prediction_mse"])
    assert {float(c["y"]) for c in curves if c["series"] == "copy last frame"} == {copy}
    for ext in ("png", "svg"):
        assert (out / f"prediction_mse_curves.{ext}").stat().st_size > 5000
    assert "copy last frame" in (out / "prediction_mse_curves.svg").read_text()
    # its own folder is replaced with --force; a folder another process writes is refused
    assert main(args + ["--force", "--quiet"]) == 0
    capsys.readouterr()
    with lock_held_elsewhere(out) as pid:
        assert main(args + ["--force", "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert f"process {pid}" in err and err.count("\n") == 0


@pytest.mark.parametrize("extra, says", [
    (["--kernel", "1,4"], "kernel 4 is even"),
    (["--kernel", "1,,3"], "--kernel '1,,3' has an empty item"),
    (["--channels", "0"], "--channels must be a whole number from 1 to 1024, not '0'."),
    (["--peephole", "maybe"], "--peephole takes no, yes or both as no,yes, not 'maybe'."),
    (["--channels", "1,2,3,4,5", "--kernel", "1,3,5,7"], "20 combinations"),
])
def test_bad_lists_are_refused_in_one_sentence(tmp_path, capsys, extra, says):
    out = tmp_path / "cmp"
    assert main(["compare", str(squares(tmp_path)), "--cell", "convlstm", *extra, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and err.count("\n") == 0
    assert not out.exists()


def test_convlstm_options_without_the_cell_are_named(tmp_path, capsys):
    assert main(["compare", "--example", "sine", "--kernel", "3", "--out", str(tmp_path / "c")]) == 2
    assert "--kernel is for comparing ConvLSTMs; add --cell convlstm" in capsys.readouterr().err
