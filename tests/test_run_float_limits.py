"""Values near the float limits (1e308, -1e308, 1e200, tiny spreads) in CSV/TSV/NPY files, under every
normalisation, and in datasets made in code: refused before training with one sentence naming the
column, the line or row and the value -- never an OverflowError, a RuntimeWarning (warnings are
errors in this suite) or "diverged … smaller learning rate"; what is accepted trains to finite
losses."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explorer.app.ingest import load_dataset
from explorer.cli import main
from explorer.data import Dataset, SequenceFileError
from explorer.data.dataset import Normalizer
from explorer.runs.store import ModelSettings, Run


def one_sentence(msg: str) -> bool:
    msg = msg.strip()
    return "\n" not in msg and "Traceback" not in msg and msg.endswith(".") and msg.count(". ") == 0


def series(n=120, seed=0):
    return np.sin(np.arange(n) / 5) + np.random.default_rng(seed).normal(0, 0.1, n)


def write(path, values, fmt):
    v = np.asarray(values, dtype=float)
    if fmt == "npy":
        np.save(path, v)
    else:
        sep = "," if fmt == "csv" else "\t"
        path.write_text(f"t{sep}value\n" + "".join(f"{i}{sep}{float(x)!r}\n" for i, x in enumerate(v)))
    return path


def with_value(at, value, n=120):
    v = series(n)
    v[at] = value
    return v


# (values, the words the sentence holds: the value, and where)
FILES = {
    "1e308 in the middle": (with_value(50, 1e308), "1e+308", 51),
    "-1e308 at the end": (with_value(119, -1e308), "-1e+308", 120),
    "1e200 first": (with_value(0, 1e200), "1e+200", 1),
    "max float": (with_value(10, np.finfo(float).max), "1.79769e+308", 11),
    "every value near 1e300": (1e300 * (2 + np.sin(np.arange(120))), "2e+300", 1),
    "1e300 with a tiny spread": (1e300 * (1 + 1e-15 * np.arange(120)), "1e+300", 1),
}


@pytest.mark.parametrize("fmt", ["csv", "tsv", "npy"])
@pytest.mark.parametrize("normalize", ["zscore", "minmax", "none"])
@pytest.mark.parametrize("case", list(FILES))
def test_huge_values_in_a_file_are_refused_naming_column_line_and_value(tmp_path, capsys, case, normalize, fmt):
    values, shown, row = FILES[case]
    f = write(tmp_path / f"d.{fmt}", values, fmt)
    out = tmp_path / "out"
    code = main(["train", str(f), "--normalize", normalize, "--epochs", "1", "--units", "3", "--out", str(out),
                 "--quiet", "--no-plots"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and one_sentence(err), err
    where = f"row {row}" if fmt == "npy" else f"line {row + 1}"   # a header line above the values
    assert "'value'" in err and shown in err and where in err, err
    assert "learning rate" not in err and not out.exists()


@pytest.mark.parametrize("normalize", ["zscore", "minmax", "none"])
def test_values_at_the_limit_train_to_finite_losses(tmp_path, normalize):
    v = series() * 1e150 / 1.5                       # |v| just under the 1e150 limit
    ds = load_dataset(write(tmp_path / "d.csv", v, "csv"), normalize=normalize, seq_len=8)
    run = Run(ds, ModelSettings(units=3, epochs=1, batch=16))
    snaps = list(run.trainer.steps())
    assert all(math.isfinite(s.loss) for s in snaps) and not any(s.refused for s in snaps)
    assert math.isfinite(run.trainer.val_loss())


def test_a_dataset_made_in_code_with_huge_values_is_refused_before_training():
    x = np.zeros((10, 5, 1))
    x[3, 2, 0] = 1e200
    ds = Dataset.from_arrays(x, np.zeros(10), source="mine")
    with pytest.raises(SequenceFileError, match=r"^The value at x_train\[3, 2, 0\] of mine is 1e\+200, beyond ±1e\+150"):
        Run(ds, ModelSettings(units=2, epochs=1))
    y = np.zeros(10)
    y[7] = -np.inf
    with pytest.raises(SequenceFileError, match=r"y_train\[7, 0\] of mine is -inf"):
        Run(Dataset.from_arrays(np.zeros((10, 5, 1)), y, source="mine"), ModelSettings(units=2, epochs=1))


def test_a_normaliser_whose_scale_squared_overflows_is_refused(tmp_path):
    ds = load_dataset(write(tmp_path / "d.csv", series(), "csv"), seq_len=8)
    ds.normalizer = Normalizer("zscore", ds.normalizer.offset, [1e200], 0)   # σ² = inf
    with pytest.raises(SequenceFileError, match=r"target column 'value' of d\.csv has the scale 1e\+200, whose "
                                                r"square \(the unit of the loss\) is not a finite positive number; rescale"):
        Run(ds, ModelSettings(units=2, epochs=1))


def test_a_normalisation_that_blows_a_column_up_is_refused(tmp_path):
    from explorer.data.dataset import make_windows
    from explorer.data.loading import SequenceData

    seq = SequenceData(values=series()[:, None], columns=["value"], target_index=0, path="d.csv")
    ds = make_windows(seq, seq_len=8, normalizer=Normalizer("zscore", [0.0], [1e-160], 0))
    with pytest.raises(SequenceFileError, match=r"Column 'value' on row \d+ after zscore normalisation of d\.csv is "
                                                r"-?\d\.\d+e\+1[56]\d, beyond ±1e\+150"):
        Run(ds, ModelSettings(units=2, epochs=1))


@pytest.mark.parametrize("offset, scale, words", [
    ([0.0], [0.0], "scale greater than 0, not offset 0 and scale 0"),
    ([np.inf], [1.0], "not offset inf"),
    ([0.0], [np.nan], "scale nan"),
    ([0.0, 1.0], [1.0], "not 2 offset(s) and 1 scale(s)"),
])
def test_a_normaliser_refuses_unusable_numbers(offset, scale, words):
    with pytest.raises(SequenceFileError) as info:
        Normalizer("zscore", offset, scale, 0)
    assert words in str(info.value) and one_sentence(str(info.value))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(exp=st.integers(100, 308), mant=st.floats(1, 9.9), sign=st.sampled_from([1, -1]),
       at=st.integers(0, 79), normalize=st.sampled_from(["zscore", "minmax", "none"]))
def test_any_huge_value_anywhere_is_refused_or_trains_finite(tmp_path_factory, exp, mant, sign, at, normalize):
    v = series(80)
    v[at] = sign * mant * 10.0 ** exp
    f = write(tmp_path_factory.mktemp("h") / "d.csv", v, "csv")
    try:
        ds = load_dataset(f, normalize=normalize, seq_len=5)
        run = Run(ds, ModelSettings(units=2, epochs=1, batch=16))
    except SequenceFileError as exc:
        assert one_sentence(str(exc)) and f"line {at + 2}" in str(exc) and "'value'" in str(exc), str(exc)
        assert abs(v[at]) > 1e150
        return
    assert abs(v[at]) <= 1e150
    snaps = list(run.trainer.steps())
    assert all(math.isfinite(s.loss) for s in snaps)
