"""The scale benchmark's cases for this round: long windows with a small batch (validation's memory)
and words on 5 MB of prose; their files and the command's reading of them (the runs themselves are
the benchmark's, not the tests')."""

import numpy as np

from explorer.bench import scale as bs
from explorer.cli import command as cli
from explorer.engine.model import make_model
from explorer.runs.store import estimate_run_bytes


def test_the_long_window_case_validates_within_its_training_batchs_memory(tmp_path):
    files = bs.make_files(tmp_path, ["valmem"], rows=400)
    path = files["valmem"]
    assert path.name == "series_1col_3000.csv"
    assert np.loadtxt(path, delimiter=",", skiprows=1).shape == (3000,)
    case = bs.CASES["valmem"]
    args = cli._parser().parse_args(["train", str(path), *case.args, "--out", str(tmp_path / "r")])
    cli.check_args(args, "train")
    ds = cli._load_dataset(args)
    assert (ds.n_train, ds.n_val, ds.x_train.shape[1]) == (1000, 1500, 500)
    model = make_model("lstm", 1, 128, 1)
    assert model.eval_batch_size(500, train_batch=4, rows=ds.n_val) < 16
    need = estimate_run_bytes("lstm", 1, 128, 1, 500, 4, n_train=ds.n_train, n_val=ds.n_val)
    assert need < 0.25 * model.estimate_bytes(256, 500, trace=False)      # what 256 at once needed
    assert bs._size_text(case, path, 400) == "3,000 rows × 1 column, windows of 500, 128 units, batch 4"


def test_the_words_cases_read_prose_as_a_capped_vocabulary(tmp_path):
    assert bs.CASES["words5"].file == "prose_5mb.txt" and bs.CASES["words5"].args == ("--words",)
    assert {"words5", "valmem"} <= set(bs.BIG_CASES)
    path = bs.write_prose(tmp_path / "p.txt", 300_000)
    args = cli._parser().parse_args(["train", str(path), "--words", "--out", str(tmp_path / "r")])
    ds = cli._load_dataset(args)
    assert ds.n_outputs == 10_000 and "vocabulary capped at the 9,999 most frequent" in ds.describe()


def test_the_default_cases_are_small_and_big_gives_the_issues_sizes(monkeypatch, tmp_path):
    from explorer.bench import judged

    assert set(bs.JUDGED) <= set(bs.DEFAULT_CASES) and set(bs.DEFAULT_CASES) <= set(bs.CASES) | set(bs.JUDGED)
    assert judged.OPEN_STEPS[True][-1] == 250_000 and judged.ANIMATE_T[True] == (500, 2000)
    assert judged.WORDS_MB[True][0] == 1.0 and judged.WORDS_MB[True][-1] == 5.0
    seen = {}

    def fake(names, work, big, say):
        seen.update(names=list(names), big=big)
        return []

    monkeypatch.setattr(judged, "run_cases", fake)
    assert bs.main(["--cases", "open,animate", "--no-torch", "--quiet", "--work", str(tmp_path)]) == 0
    assert seen == {"names": ["open", "animate"], "big": False}
    assert bs.main(["--cases", "words", "--big", "--no-torch", "--quiet", "--work", str(tmp_path)]) == 0
    assert seen == {"names": ["words"], "big": True}
