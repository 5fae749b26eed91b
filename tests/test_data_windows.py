"""Windowing, splitting and normalisation: shapes, no leakage, round trips."""

import json

import numpy as np
import pytest

from explorer.data import (
    Dataset,
    Normalizer,
    SequenceData,
    SequenceFileError,
    TextCorpus,
    dataset_from_config,
    load_sequence,
    make_windows,
    text_windows,
)


def seq_of(values, columns=None, target=-1, path="series.csv"):
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    cols = columns or [f"c{j}" for j in range(v.shape[1])]
    return SequenceData(values=v, columns=cols, target_index=target, path=path)


def test_shapes_and_targets():
    n, L = 100, 15
    v = np.arange(n, dtype=float)
    ds = make_windows(seq_of(v), seq_len=L, val_fraction=0.2, normalize="none")
    assert ds.split_index == 80
    assert ds.x_train.shape == (80 - L, L, 1) and ds.y_train.shape == (80 - L, 1)
    assert ds.x_val.shape == (20, L, 1) and ds.y_val.shape == (20, 1)
    assert ds.x_train.dtype == np.float64 and ds.y_train.dtype == np.float64
    # window i holds rows i..i+L-1 and predicts row i+L
    assert ds.x_train[0, :, 0].tolist() == list(range(L))
    assert ds.y_train[0, 0] == L
    assert ds.y_train[-1, 0] == 79
    assert ds.y_val[0, 0] == 80 and ds.y_val[-1, 0] == 99
    assert ds.x_val[0, -1, 0] == 79  # context from the training part
    assert ds.loss == "mse" and ds.target_last is True and ds.kind == "series"
    assert ds.n_inputs == 1 and ds.n_outputs == 1
    assert ds.source == "series.csv"
    np.testing.assert_array_equal(ds.series, v[:, None])


def test_no_leakage_targets_after_training():
    v = np.random.default_rng(0).standard_normal(300)
    ds = make_windows(seq_of(np.arange(300.0)), seq_len=10, val_fraction=0.3, normalize="none")
    train_targets = set(ds.y_train[:, 0].tolist())
    val_targets = set(ds.y_val[:, 0].tolist())
    assert max(train_targets) < min(val_targets)
    assert not train_targets & val_targets
    assert min(val_targets) == ds.split_index
    ds = make_windows(seq_of(v), seq_len=10, val_fraction=0.3, normalize="zscore")
    tr = v[: ds.split_index]
    assert ds.normalizer.offset[0] == pytest.approx(tr.mean(), abs=0, rel=1e-15)
    assert ds.normalizer.scale[0] == pytest.approx(tr.std(), rel=1e-15)
    assert ds.normalizer.offset[0] != pytest.approx(v.mean(), rel=1e-9)


def test_multicolumn_target():
    v = np.stack([np.arange(50.0), 100 + np.arange(50.0)], axis=1)
    ds = make_windows(seq_of(v, ["a", "b"], target=0), seq_len=5, val_fraction=0.2, normalize="none")
    assert ds.x_train.shape[2] == 2 and ds.n_inputs == 2 and ds.n_outputs == 1
    assert ds.y_train[0, 0] == 5  # column a
    assert ds.target_index == 0 and ds.columns == ["a", "b"]


@pytest.mark.parametrize("method", ["zscore", "minmax", "none"])
def test_normalizer_roundtrip_and_scale(method):
    rng = np.random.default_rng(1)
    v = rng.normal(5, 3, size=(200, 2))
    ds = make_windows(seq_of(v), seq_len=8, val_fraction=0.25, normalize=method)
    nz = ds.normalizer
    a = rng.normal(size=(7, 2)) * 10
    np.testing.assert_allclose(nz.inverse(nz.transform(a)), a, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(nz.inverse(nz.transform(a[:, 1], column=1), column=1), a[:, 1], rtol=1e-12, atol=1e-12)
    tr = v[: ds.split_index, 1]
    expected = {"zscore": tr.std(), "minmax": tr.max() - tr.min(), "none": 1.0}[method]
    assert nz.target_scale == pytest.approx(expected, rel=1e-12)
    assert ds.target_scale == nz.target_scale
    # normalised MSE * scale^2 == MSE in own units
    pred = rng.normal(size=ds.y_val.shape)
    mse_norm = ((pred - ds.y_val) ** 2).mean()
    own = ((nz.inverse(pred, column=1) - nz.inverse(ds.y_val, column=1)) ** 2).mean()
    assert mse_norm * nz.target_scale**2 == pytest.approx(own, rel=1e-9)
    d = json.loads(json.dumps(nz.to_dict()))
    assert Normalizer.from_dict(d) == nz
    if method == "minmax":
        z = nz.transform(v[: ds.split_index])
        assert z.min() == pytest.approx(0) and z.max() == pytest.approx(1)


def test_constant_column_scale_one():
    ds = make_windows(seq_of(np.ones(40)), seq_len=3, val_fraction=0.2)
    assert ds.normalizer.target_scale == 1.0
    assert np.isfinite(ds.x_train).all()


def test_no_validation():
    ds = make_windows(seq_of(np.arange(20.0)), seq_len=5, val_fraction=0)
    assert ds.x_val.shape == (0, 5, 1) and ds.y_val.shape == (0, 1)
    assert ds.x_train.shape == (15, 5, 1)
    assert "no validation" in ds.describe()


def test_too_few_rows_message():
    with pytest.raises(SequenceFileError) as ei:
        make_windows(seq_of(np.arange(20.0), path="/x/short.csv"), seq_len=15, val_fraction=0.2)
    msg = str(ei.value)
    assert "short.csv" in msg and "20 rows" in msg and "at least 78" in msg
    # exactly the stated minimum works: 78 rows -> 62 train + 16 validation
    ds = make_windows(seq_of(np.arange(78.0)), seq_len=15, val_fraction=0.2)
    assert ds.x_train.shape[0] == 62 - 15 and ds.x_val.shape[0] == 16
    with pytest.raises(SequenceFileError, match="77 rows"):
        make_windows(seq_of(np.arange(77.0)), seq_len=15, val_fraction=0.2)
    with pytest.raises(SequenceFileError, match="at least 16"):
        make_windows(seq_of(np.arange(15.0)), seq_len=15, val_fraction=0)


@pytest.mark.parametrize("kw", [{"val_fraction": 0.95}, {"val_fraction": -0.1}, {"seq_len": 0},
                                {"normalize": "log"}])
def test_bad_settings(kw):
    with pytest.raises(SequenceFileError):
        make_windows(seq_of(np.arange(100.0)), **kw)


def test_config_roundtrip_file(tmp_path):
    p = tmp_path / "data.csv"
    rng = np.random.default_rng(2)
    p.write_text("t,a,b\n" + "\n".join(f"{i},{x:.5f},{y:.5f}" for i, (x, y) in enumerate(rng.normal(size=(120, 2)))))
    seq = load_sequence(p, columns=["a", "b"], target="a")
    ds = make_windows(seq, seq_len=7, val_fraction=0.25, normalize="minmax")
    cfg = json.loads(json.dumps(ds.to_config()))
    ds2 = dataset_from_config(cfg)
    for name in ("x_train", "y_train", "x_val", "y_val", "series"):
        assert np.array_equal(getattr(ds, name), getattr(ds2, name))
    assert ds2.normalizer == ds.normalizer and ds2.target_index == 0 and ds2.columns == ["a", "b"]
    assert isinstance(ds.describe(), str) and "\n" not in ds.describe()


def test_text_windows():
    corpus = TextCorpus.from_string("abcdefghij" * 30, path="letters.txt")
    L = 10
    ds = text_windows(corpus, seq_len=L, val_fraction=0.1)
    V = len(corpus.vocab)
    assert ds.kind == "text" and ds.loss == "cross_entropy" and ds.target_last is False
    assert ds.x_train.shape[1:] == (L,) and ds.x_train.dtype == np.int64 and ds.token_inputs
    assert ds.y_train.shape[1:] == (L,) and ds.y_train.dtype == np.int64
    assert ds.normalizer is None and ds.target_scale == 1
    assert ds.vocab == corpus.vocab and ds.corpus is corpus
    assert ds.n_inputs == V and ds.n_outputs == V
    # y is x shifted by one token; both are views into the corpus' ids (no copies, no one-hot)
    np.testing.assert_array_equal(ds.x_train[:, 1:], ds.y_train[:, :-1])
    for a in (ds.x_train, ds.y_train, ds.x_val, ds.y_val):
        assert np.shares_memory(a, corpus.ids) and not a.flags.writeable
    np.testing.assert_array_equal(ds.x_train[3], corpus.ids[3 * L:4 * L])
    np.testing.assert_array_equal(ds.x_val[0], corpus.ids[ds.split_index - 1:ds.split_index - 1 + L])
    # time-ordered split with no overlap of targets
    split = ds.split_index
    assert split == 270
    tr_pos = 1 + np.arange(len(ds.y_train))[:, None] * L + np.arange(L)
    assert tr_pos.max() < split
    assert ds.x_val.shape[0] >= 1
    cfg = ds.to_config()
    assert cfg["type"] == "text"


def test_text_windows_too_short():
    corpus = TextCorpus.from_string("abcabc", path="tiny.txt")
    with pytest.raises(SequenceFileError, match="tiny.txt"):
        text_windows(corpus, seq_len=25)


def test_from_arrays():
    x = np.zeros((10, 4, 3))
    y = np.ones(10)
    ds = Dataset.from_arrays(x, y, loss="mse", source="mine")
    assert ds.y_train.shape == (10, 1) and ds.x_val.shape == (0, 4, 3) and ds.y_val.shape == (0, 1)
    assert ds.n_inputs == 3 and ds.n_outputs == 1 and ds.target_scale == 1.0
    ds = Dataset.from_arrays(x, np.arange(10) % 3, x[:2], np.array([0, 1]), loss="cross_entropy",
                             kind="classification", n_classes=3)
    assert ds.y_train.dtype == np.int64 and ds.n_outputs == 3
    with pytest.raises(SequenceFileError):
        dataset_from_config(ds.to_config())
