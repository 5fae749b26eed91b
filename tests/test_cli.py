"""The command line: headless training writes the run and every plot; bad input is one sentence."""

import csv
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from explorer.cli import main
from explorer.runs.store import Run

STEMS = ("loss", "grad_norms", "grad_through_time", "param_count", "predictions")


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "explorer", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=300,
                          env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin",
                               "PYTHONPATH": str(__import__("pathlib").Path(__file__).resolve().parents[1])})


def series_csv(path, n=120):
    path.write_text("date,temp,load\n" + "".join(
        f"2024-01-{1 + i // 24:02d} {i % 24:02d}:00,{np.sin(i / 6):.5f},{np.cos(i / 9):.5f}\n" for i in range(n)))
    return path


def svg_polyline_points(path) -> int:
    """How many path/polyline vertices the SVG holds (curves are drawn as paths)."""
    root = ET.parse(path).getroot()
    count = 0
    for el in root.iter():
        tag = el.tag.split("}")[-1]
        if tag == "polyline":
            count += len(el.get("points", "").split())
        elif tag == "path":
            d = el.get("d", "")
            count += d.count("L") + d.count("l") + d.count(",")
    return count


def test_train_file_writes_run_and_every_plot(tmp_path):
    data = series_csv(tmp_path / "weather data.csv")
    out = tmp_path / "out"
    res = run_cli("train", data, "--column", "temp", "load", "--target", "load", "--units", "4",
                  "--seq-len", "8", "--epochs", "3", "--batch", "16", "--out", out)
    assert res.returncode == 0, res.stderr
    assert "epoch 3/3" in res.stderr
    for name in ("config.json", "model.npz", "optimizer.npz", "state.json", "history.csv", "steps-000001.npy"):
        assert (out / name).is_file()
    for stem in STEMS:
        for ext in ("png", "svg", "csv"):
            if (stem, ext) != ("grad_norms", "csv"):        # the run's chunks hold those numbers, once
                assert (out / f"{stem}.{ext}").stat().st_size > 0, f"{stem}.{ext}"
    assert not (out / "grad_norms.csv").exists()
    # the loss SVG has its curve: at least as many vertices as epochs plotted
    assert svg_polyline_points(out / "loss.svg") >= 3
    # the grad-norm SVG holds one vertex per step at least
    n_steps = len(Run.load(out).step_table()["step"])
    assert n_steps == json.loads((out / "state.json").read_text())["step"]
    assert svg_polyline_points(out / "grad_norms.svg") >= n_steps
    with open(out / "loss.csv") as fh:
        rows = list(csv.DictReader(fh))
    with open(out / "history.csv") as fh:
        hist = list(csv.DictReader(fh))
    assert [float(r["train_loss"]) for r in rows] == [float(r["train_loss"]) for r in hist]
    with open(out / "param_count.csv") as fh:
        pc = {int(r["n"]): int(r["layer_params"]) for r in csv.DictReader(fh)}
    assert pc[4] == 4 * 4 * (2 + 4 + 1)


def test_existing_out_is_refused_unless_force(tmp_path):
    data = series_csv(tmp_path / "d.csv")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    res = run_cli("train", data, "--epochs", "1", "--seq-len", "5", "--out", out)
    assert res.returncode == 2 and "--force" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("train", data, "--epochs", "1", "--seq-len", "5", "--out", out, "--force", "--no-plots")
    assert res.returncode == 2 and "is not a run folder" in res.stderr and os.listdir(out) == ["keep.txt"]
    (out / "keep.txt").unlink()
    for _ in range(2):                                  # an empty folder, then the run folder it became
        res = run_cli("train", data, "--epochs", "1", "--seq-len", "5", "--out", out, "--force", "--no-plots")
        assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("content,expect", [
    ("", "empty"),
    ("a,b\n1,2\n3\n", "line 3"),
    ("value\nx\ny\nz\n", "value"),
])
def test_bad_input_is_one_sentence_without_traceback(tmp_path, content, expect):
    path = tmp_path / "bad file.csv"
    path.write_text(content)
    res = run_cli("train", path, "--out", tmp_path / "o")
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "bad file.csv" in res.stderr and expect in res.stderr.lower()
    assert len(res.stderr.strip().splitlines()) == 1


def test_missing_file_and_directory(tmp_path):
    res = run_cli("train", tmp_path / "nope.csv", "--out", tmp_path / "o")
    assert res.returncode == 2 and "nope.csv" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("train", tmp_path, "--out", tmp_path / "o")
    assert res.returncode == 2 and "Traceback" not in res.stderr


def test_resume_continues_the_run(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--example", "sine", "--epochs", "1", "--units", "3", "--out", str(out),
                 "--no-plots", "--quiet"]) == 0
    assert main(["train", "--resume", str(out), "--quiet"]) == 2          # finished: needs --epochs
    assert main(["train", "--resume", str(out), "--epochs", "2", "--no-plots", "--quiet"]) == 0
    with open(out / "history.csv") as fh:
        assert [r["epoch"] for r in csv.DictReader(fh)] == ["1", "2", "3"]


def test_resume_equals_uninterrupted(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    common = ["--example", "sine", "--units", "3", "--no-plots", "--quiet", "--seed", "4"]
    assert main(["train", *common, "--epochs", "3", "--out", str(a)]) == 0
    assert main(["train", *common, "--epochs", "1", "--out", str(b)]) == 0
    assert main(["train", "--resume", str(b), "--epochs", "2", "--no-plots", "--quiet"]) == 0
    for name in ("history.csv", "model.npz"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    ta, tb = Run.load(a).step_table(), Run.load(b).step_table()
    for k, v in ta.items():
        assert v.tobytes() == tb[k].tobytes(), k


def test_text_mode(tmp_path):
    text = tmp_path / "story.txt"
    text.write_text("The cat sat on the mat. The dog sat on the log. " * 20)
    out = tmp_path / "o"
    assert main(["train", str(text), "--text", "--epochs", "1", "--units", "8", "--out", str(out), "--quiet"]) == 0
    with open(out / "predictions.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 5 and abs(sum(float(r["probability"]) for r in rows)) <= 1.0 + 1e-9


def test_examples_lists_every_example(capsys):
    assert main(["examples"]) == 0
    out = capsys.readouterr().out
    for name in ("sine", "noisy-sine", "adding", "first-symbol", "text"):
        assert name in out


def test_compare_writes_table_and_plots(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", "--example", "sine", "--cells", "rnn,lstm", "--seeds", "1", "--max-steps", "60",
                 "--eval-every", "20", "--units", "4", "--target-loss", "1e-9", "--out", str(out), "--quiet"]) == 0
    table = capsys.readouterr().out
    assert "rnn" in table and "lstm" in table and "not within 60" in table
    with open(out / "comparison.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["cell"] for r in rows] == ["rnn", "lstm"]
    assert int(rows[0]["parameters"]) == 4 * (1 + 4 + 1) and int(rows[1]["parameters"]) == 4 * 4 * (1 + 4 + 1)
    for stem in ("loss_curves", "grad_through_time"):
        for ext in ("png", "svg", "csv"):
            assert (out / f"{stem}.{ext}").stat().st_size > 0
    with open(out / "grad_through_time.csv") as fh:
        series = {r["series"] for r in csv.DictReader(fh)}
    assert "lstm ‖∂L/∂cₜ‖" in series and not any(s.startswith("rnn ‖∂L/∂c") for s in series)


def test_train_deep_bidirectional_prints_counts_per_layer_and_round_trips(tmp_path, capsys):
    out = tmp_path / "deep"
    assert main(["train", "--example", "sine", "--epochs", "1", "--units", "3", "--layers", "2",
                 "--bidirectional", "--out", str(out), "--no-plots"]) == 0
    err = capsys.readouterr().err
    # layer 1: 2·4·3·(1+3+1) = 120, layer 2: 2·4·3·(6+3+1) = 240, head 1·(6+1) = 7
    assert "LSTM with 3 units, 2 layers, bidirectional: 120 layer 1 + 240 layer 2 + 7 head = 367 parameters" in err
    cfg = __import__("json").loads((out / "config.json").read_text())
    assert cfg["model"]["layers"] == 2 and cfg["model"]["bidirectional"] is True
    assert cfg["params"]["layers"] == [120, 240] and cfg["params"]["total"] == 367
    with np.load(out / "model.npz") as z:
        assert z["weight_ih_l1_reverse"].shape == (12, 6) and z["head.weight"].shape == (1, 6)
    from explorer.runs.store import Run
    back = Run.load(out)
    assert (back.model.num_layers, back.model.bidirectional) == (2, True)
    assert main(["train", "--resume", str(out), "--epochs", "1", "--no-plots", "--quiet"]) == 0


def test_layers_must_be_positive(tmp_path, capsys):
    assert main(["train", "--example", "sine", "--layers", "0", "--out", str(tmp_path / "o")]) == 2
    assert "--layers must be a whole number from 1 to 16, not '0'." in capsys.readouterr().err


def test_compare_passes_layers_through(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", "--example", "sine", "--cells", "gru", "--seeds", "1", "--max-steps", "20",
                 "--eval-every", "10", "--units", "2", "--layers", "2", "--out", str(out), "--quiet"]) == 0
    with open(out / "comparison.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert int(rows[0]["parameters"]) == 3 * 2 * (1 + 2 + 2) + 3 * 2 * (2 + 2 + 2)


def test_compare_deep_bidirectional_prints_counts_per_layer_head_and_total(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", "--example", "sine", "--cells", "gru,lstm", "--seeds", "1", "--max-steps", "20",
                 "--eval-every", "10", "--units", "3", "--layers", "2", "--bidirectional", "--out", str(out),
                 "--quiet"]) == 0
    table = capsys.readouterr().out.splitlines()
    # the same numbers `train` prints: lstm 120 layer 1 + 240 layer 2 + 7 head = 367 (see the train test above)
    assert table[2].split()[:8] == ["gru", "108", "+", "198", "+", "7", "=", "313"]
    assert table[3].split()[:8] == ["lstm", "120", "+", "240", "+", "7", "=", "367"]
    assert table[-1].startswith("(parameters: layer 1 + layer 2 + head = total; ")
    with open(out / "comparison.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["parameters"], r["layer_parameters"], r["head_parameters"], r["total_parameters"]) for r in rows] \
        == [("306", "108 198", "7", "313"), ("360", "120 240", "7", "367")]
