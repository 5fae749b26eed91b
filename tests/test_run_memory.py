"""Memory of a run is estimated before it is allocated: the estimate (parameters and moments, the
engine's own workspace for a batch and an evaluation chunk, one trace, the validation predictions)
is at least what training, validation and predictions really allocate, and not wildly more; the
predictions never hold every step's outputs (a text's (N, T, vocabulary)); the command line refuses
settings that cannot fit before it reads the data file."""

import tracemalloc

import numpy as np
import pytest

from explorer.cli import main
from explorer.data.dataset import text_windows
from explorer.data.examples import load_example
from explorer.data.loading import TextCorpus
from explorer.util.ram import MemoryBudgetError
from explorer.runs.store import ModelSettings, Run, check_run_memory, estimate_run_bytes


def word_corpus(n_tokens=6000, vocab=3000, seed=0):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(vocab)]
    ids = rng.integers(0, vocab, n_tokens)
    return TextCorpus.from_string(" ".join(words[i] for i in ids), level="word")


def peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def text_dataset():
    return text_windows(word_corpus(), seq_len=20, val_fraction=0.5)


CASES = {
    "lstm series": (lambda: load_example("sine", n_points=3000), ModelSettings(units=24, batch=32, epochs=1)),
    "gru 2 layers bidirectional": (lambda: load_example("sine", n_points=3000),
                                   ModelSettings(cell="gru", units=16, layers=2, bidirectional=True, batch=16,
                                                 epochs=1)),
    "rnn adding": (lambda: load_example("adding", n_train=600, n_val=300, seq_len=60),
                   ModelSettings(cell="rnn", units=32, batch=64, epochs=1)),
    "peephole words": (text_dataset, ModelSettings(cell="peephole", units=16, batch=32, epochs=1)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_estimate_covers_what_training_validation_and_predictions_allocate(case):
    make, settings = CASES[case]
    ds = make()
    x = ds.x_train
    need = estimate_run_bytes(settings.cell, ds.n_inputs, settings.units, ds.n_outputs, x.shape[1], settings.batch,
                              settings.layers, 2 if settings.bidirectional else 1, settings.optimizer,
                              tokens=ds.token_inputs, n_train=ds.n_train, n_val=ds.n_val)

    def work():
        run = Run(ds, settings)
        list(run.trainer.steps(max_steps=3))
        run.trainer.val_loss()
        run.predictions()
        run.model.forward(ds.x_val[:1])
    used = peak_bytes(work)
    assert used <= need <= 4 * used, (case, used, need)


def test_text_predictions_keep_classes_never_every_steps_outputs():
    ds = text_windows(word_corpus(n_tokens=40_000), seq_len=20, val_fraction=0.5)
    run = Run(ds, ModelSettings(units=8, batch=32, epochs=1))
    full = ds.x_val.size * ds.n_outputs * 8                     # (N, T, V) float64 outputs
    used = peak_bytes(run.predictions)
    p = run.predictions()
    assert p["prediction"].shape == ds.y_val.shape and 0 <= p["accuracy"] <= 1
    assert full > 400_000_000 and used < full / 10, (used, full)


def test_a_run_whose_predictions_do_not_fit_is_refused_before_training(monkeypatch):
    ds = text_dataset()
    s = ModelSettings(units=8, batch=32, epochs=1)
    need = estimate_run_bytes("lstm", ds.n_inputs, 8, ds.n_outputs, 20, 32, tokens=True, n_train=ds.n_train,
                              n_val=ds.n_val)
    monkeypatch.setenv("LSTM_EXPLORER_MEMORY_LIMIT", str(need + ds.x_val.size * 8))   # not for 2 × classes
    with pytest.raises(MemoryBudgetError, match=r"^Training an LSTM with 8 units on sequences of 20 steps needs "
                                                r"about [\d.]+ MiB of memory, more than"):
        check_run_memory(ds, s)
    monkeypatch.setenv("LSTM_EXPLORER_MEMORY_LIMIT", str(need + 2 * ds.x_val.size * 8))
    check_run_memory(ds, s)


def test_huge_units_are_refused_from_the_parameter_count_without_building_anything(monkeypatch):
    ds = load_example("sine", n_points=300)
    used = peak_bytes(lambda: pytest.raises(MemoryBudgetError, Run, ds, ModelSettings(units=100_000)))
    assert used < 10_000_000


def test_the_command_line_refuses_before_reading_the_file(tmp_path, monkeypatch, capsys):
    """`train FILE --seq-len L` whose training alone cannot fit is refused before the file is read."""
    import explorer.app.ingest as loading

    f = tmp_path / "series.csv"
    f.write_text("v\n" + "".join(f"{i % 7}\n" for i in range(400)))

    def never(*a, **k):
        raise AssertionError("the data file was read")
    monkeypatch.setattr(loading, "load_dataset", never)
    monkeypatch.setenv("LSTM_EXPLORER_MEMORY_LIMIT", "64M")
    for cmd in (["train", str(f), "--out", str(tmp_path / "o")], ["compare", str(f), "--out", str(tmp_path / "c")]):
        code = main([*cmd, "--seq-len", "20000", "--units", "64", "--quiet"])
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.startswith("lstm-explorer: Training an LSTM with 64 units on sequences of 20000 "
                                            "steps needs about"), err
        assert "more than the 64.0 MiB this machine allows" in err
    assert not (tmp_path / "o").exists() and not (tmp_path / "c").exists()
