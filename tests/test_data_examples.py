"""Built-in examples: names, shapes, determinism, baselines, config round trips."""

import json

import numpy as np
import pytest

from explorer.data import (
    SequenceFileError,
    dataset_from_config,
    example_path,
    list_examples,
    load_example,
    load_sequence,
    load_text,
)

NAMES = ["sine", "noisy-sine", "adding", "first-symbol", "text", "worked-example", "find-the-marker", "sentiment"]
ARRAYS = ("x_train", "y_train", "x_val", "y_val")


def test_names():
    names = [n for n, _ in list_examples()]
    assert names == NAMES
    assert all(isinstance(d, str) and d and "\n" not in d for _, d in list_examples())


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_and_rebuildable(name):
    a = load_example(name)
    b = load_example(name)
    for k in ARRAYS:
        assert np.array_equal(getattr(a, k), getattr(b, k))
        assert getattr(a, k).dtype == getattr(b, k).dtype
    cfg = json.loads(json.dumps(a.to_config()))
    c = dataset_from_config(cfg)
    for k in ARRAYS:
        assert np.array_equal(getattr(a, k), getattr(c, k))
    assert a.source == name
    assert isinstance(a.describe(), str) and a.describe()
    assert np.isfinite(a.x_train).all() and np.isfinite(a.x_val).all()


def test_sine():
    ds = load_example("sine")
    assert ds.kind == "series" and ds.seq_len == 20
    assert ds.x_train.shape[1:] == (20, 1) and ds.y_train.shape[1:] == (1,)
    assert ds.series.shape[1] == 1 and ds.x_val.shape[0] > 0
    assert load_example("sine", seq_len=30).x_train.shape[1] == 30


def test_noisy_sine_differs_from_sine():
    a, b = load_example("sine"), load_example("noisy-sine")
    assert not np.array_equal(a.series[:100], b.series[:100])


def test_adding_problem():
    ds = load_example("adding")
    assert ds.x_train.shape == (10_000, 50, 2) and ds.y_train.shape == (10_000, 1)
    assert ds.x_val.shape == (1_000, 50, 2) and ds.y_val.shape == (1_000, 1)
    assert ds.loss == "mse" and ds.target_last is True and ds.target_scale == 1.0
    assert ds.normalizer is None and ds.n_outputs == 1 and ds.n_inputs == 2
    vals, marks = ds.x_train[..., 0], ds.x_train[..., 1]
    assert vals.min() >= 0 and vals.max() <= 1
    assert set(np.unique(marks)) == {0.0, 1.0}
    assert (marks.sum(axis=1) == 2).all()
    assert (marks[:, :25].sum(axis=1) == 1).all() and (marks[:, 25:].sum(axis=1) == 1).all()
    np.testing.assert_allclose(ds.y_train[:, 0], (vals * marks).sum(axis=1))
    baseline = ((ds.y_val - ds.y_train.mean()) ** 2).mean()
    assert baseline == pytest.approx(1 / 6, abs=0.015)
    short = load_example("adding", seq_len=10)
    assert short.x_train.shape[1] == 10


def test_first_symbol():
    ds = load_example("first-symbol")
    assert ds.x_train.shape[1:] == (20, 4) and ds.y_train.shape == (ds.x_train.shape[0],)
    assert ds.y_train.dtype == np.int64
    assert ds.loss == "cross_entropy" and ds.target_last is True and ds.n_outputs == 4
    np.testing.assert_array_equal(ds.x_train[:, 0, :].argmax(-1), ds.y_train)
    assert (ds.x_train.sum(-1) == 1).all()


def test_text_example():
    ds = load_example("text")
    assert ds.kind == "text" and ds.loss == "cross_entropy" and ds.target_last is False
    text = example_path("text.txt").read_text(encoding="utf-8")
    assert 3000 <= len(text.encode()) <= 6000
    assert "The cat sat on the mat" in text
    V = len(ds.vocab)
    assert ds.x_train.shape[1:] == (25,) and ds.x_train.dtype == np.int64 and ds.n_inputs == V
    assert ds.y_train.shape[1:] == (25,)
    assert ds.corpus.decode(ds.x_train[0])[:10] == text[:10]
    assert ds.corpus.decode(ds.y_train[0])[:10] == text[1:11]


def test_shipped_files():
    s = load_sequence(example_path("sine.csv"))
    assert s.columns == ["value"] and 400 <= s.values.shape[0] <= 600
    assert len(load_text(example_path("text.txt")).tokens) > 3000


def test_resource_path_if_installed():
    try:
        from explorer.util.assets import resource_path

        p = resource_path("examples", "sine.csv")
    except ModuleNotFoundError:
        pytest.skip("explorer.resources is only importable once the package is installed")
    assert p.exists()


def test_bad_example_requests():
    with pytest.raises(SequenceFileError, match="no example"):
        load_example("nope")
    with pytest.raises(SequenceFileError, match="no setting"):
        load_example("sine", colour="red")
    with pytest.raises(SequenceFileError):
        load_example("adding", seq_len=0)
