"""The trust rules for the runs of the new families (labelled sequences, trees) and the edges a
hostile check found: one writer at a time, --force replaces only the program's own folder, links
never followed, subnormal and huge values, any --fps in range."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from explorer.cli import main
from explorer.data.trees import sentiment_trees, write_trees
from lock_holder import lock_held_elsewhere

ROOT = Path(__file__).resolve().parents[1]
TS = ("@problemName D\n@univariate true\n@equalLength true\n@seriesLength 8\n@classLabel true a b\n@data\n")


def _ts(path, values):
    lines = [",".join(repr(float(v)) for v in row) + ":" + "ab"[k % 2] for k, row in enumerate(values)]
    path.write_text(TS + "\n".join(lines) + "\n")
    return path


def test_subnormal_values_train_and_plot(tmp_path):
    """Values near 5e-324 (read as 0, as the engine computes them) train and plot, in a process
    of their own so that a crash would fail the test instead of the suite."""
    data = _ts(tmp_path / "d.ts", [[(k * j) % 3 * 5e-324 for j in range(8)] for k in range(40)])
    out = tmp_path / "run"
    code = f"from explorer.cli import main; raise SystemExit(main(['train', {str(data)!r}, '--units', '2', " \
           f"'--epochs', '1', '--quiet', '--out', {str(out)!r}]))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen"))
    assert res.returncode == 0, res.stderr[-2000:]
    assert (out / "attention_strip.png").stat().st_size > 1000 and (out / "attention_strip.svg").exists()


def test_labelled_runs_refuse_a_second_writer_and_rerun_their_own_folder(tmp_path, capsys):
    data = _ts(tmp_path / "x.ts", [[(k + j) % 5 for j in range(8)] for k in range(40)])
    out = tmp_path / "run"
    args = ["train", str(data), "--units", "2", "--epochs", "1", "--quiet", "--no-plots", "--out", str(out)]
    assert main(args) == 0
    assert main(args + ["--force"]) == 0                       # its own folder: --force replaces it
    capsys.readouterr()
    with lock_held_elsewhere(out) as pid:                      # another writer holds it
        assert main(args + ["--force"]) == 2
        err = capsys.readouterr().err.strip()
        assert f"process {pid}" in err and err.count("\n") == 0
    broken = tmp_path / "broken.ts"
    broken.write_text(TS + "1,2,x,4,5,6,7,8:a\n")
    bad = tmp_path / "bad"
    assert main(["train", str(broken), "--out", str(bad)]) == 2
    assert "broken.ts" in capsys.readouterr().err
    assert not bad.exists()                                    # a refusal leaves nothing behind


def test_tree_plots_through_a_planted_link_are_refused_on_resume(tmp_path, capsys):
    trees = tmp_path / "t.txt"
    write_trees(trees, sentiment_trees(30, seed=2))
    out = tmp_path / "run"
    assert main(["train", str(trees), "--cell", "treelstm", "--units", "2", "--epochs", "1", "--out", str(out)]) == 0
    victim = tmp_path / "thesis.txt"
    victim.write_text("my thesis")
    (out / "tree.png").unlink()
    (out / "tree.png").symlink_to(victim)
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--epochs", "1", str(trees)]) == 2
    assert "has a link named tree.png" in capsys.readouterr().err
    assert victim.read_text() == "my thesis"


def test_tree_labels_beyond_the_range_are_refused(tmp_path, capsys):
    bad = tmp_path / "huge.txt"
    bad.write_text("(1e300 (1 a) (1 b))\n")
    assert main(["train", str(bad), "--cell", "treelstm", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "'1e300', which is not a finite number of at most 1e+150 in size" in err and err.count("\n") == 0


@pytest.mark.parametrize("fps", ["5e-324", "1e-300", "100"])
def test_every_fps_in_the_documented_range_writes(tmp_path, fps):
    from explorer.data import load_example
    from explorer.figures.animation import MAX_FRAME_MS, write_animation
    from explorer.runs.store import ModelSettings, Run

    run = Run(load_example("adding", seq_len=6, n_train=16, n_val=2), ModelSettings(units=2, epochs=1))
    path = write_animation(run, tmp_path / "a.gif", fps=float(fps), width=800)
    from PIL import Image

    with Image.open(path) as im:
        assert im.n_frames == 6
        assert im.info["duration"] == (20 if fps == "100" else MAX_FRAME_MS)


def test_a_convlstm_run_copied_as_plain_files_resumes_and_gets_its_layout_back(tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    assert main(["train", "--example", "moving-squares", "--cell", "convlstm", "--units", "2", "--epochs", "1",
                 "--quiet", "--no-plots", "--out", str(run)]) == 0
    copy = tmp_path / "copy"
    copy.mkdir()
    for p in run.iterdir():
        if not p.name.startswith("."):
            shutil.copy(p, copy / p.name)                       # links followed, hidden entries left behind
    assert main(["train", "--resume", str(copy), "--epochs", "1", "--quiet", "--no-plots"]) == 0, \
        capsys.readouterr().err
    assert (copy / ".current").is_symlink() and (copy / "model.npz").is_symlink()
