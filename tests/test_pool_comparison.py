"""The comparison view of last state and attention: ``--compare`` on labelled sequences opens it,
every cell × pooling trains live and the table says at which step each reached 95 %."""

import numpy as np
import pytest

pytest.importorskip("PySide6")

from explorer.app.labelled import TARGET_ACCURACY  # noqa: E402
from explorer.gui.comparison import build_comparison, parse_cells  # noqa: E402
from explorer.gui.pool_comparison import LONG_MARKER, PoolComparisonWindow, _load_task  # noqa: E402


def pair(tmp_path, n=40, T=12):
    rng = np.random.default_rng(5)
    for part in ("TRAIN", "TEST"):
        lines = []
        for k in range(n):
            label = k % 2
            x = rng.standard_normal(T) + (3.0 if label else -3.0) * (np.arange(T) == T // 3)
            lines.append(f"{label + 1}\t" + "\t".join(f"{v:.5f}" for v in x))
        (tmp_path / f"Toy_{part}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path / "Toy_TRAIN.tsv"


def test_compare_on_labelled_data_trains_each_cell_with_and_without_attention(qtbot, tmp_path):
    win = build_comparison(["gru", "rnn"], file=str(pair(tmp_path)))
    assert isinstance(win, PoolComparisonWindow)
    qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
    with qtbot.waitSignal(win.sigFinished, timeout=240000) as fin:
        pass
    res = fin.args[0]
    names = ["gru last", "gru attention", "rnn last", "rnn attention"]
    assert list(win.runs) == names and res.done
    for i, name in enumerate(names):
        hist = res.histories[name]
        per_epoch = res.total_steps[name] // len(hist)
        first = next((per_epoch * (k + 1) for k, h in enumerate(hist) if h["val_accuracy"] >= TARGET_ACCURACY), None)
        assert res.reached[name] == first
        assert win.table.item(i, 3).text() == ("not yet" if first is None else str(first))
        assert win.table.item(i, 4).text() == f"{hist[-1]['val_accuracy']:.1%}"
        np.testing.assert_allclose(win.curves.curve(name)[1], [h["val_accuracy"] for h in hist])
    assert min(h["val_accuracy"] for h in (res.histories[n][-1] for n in names)) >= 0.75     # majority: 0.5
    assert "Toy_TRAIN.tsv" in win.windowTitle() and "40 validation (from Toy_TEST.tsv)" in win.data_label.text()


def test_the_views_find_the_marker_is_the_long_one():
    ds = _load_task(None, example="find-the-marker")
    assert ds.x_train.shape[1] == LONG_MARKER and ds.lengths_train.min() >= LONG_MARKER // 2
    assert _load_task(None, example="find-the-marker", seq_len=60).x_train.shape[1] == 60


def test_one_cell_is_enough_for_labelled_sequences_only():
    from explorer.gui.app import _args

    assert _args(["--compare", "gru", "--example", "find-the-marker"]).compare == ["gru"]
    assert parse_cells("lstm", least=1) == ["lstm"]
    with pytest.raises(SystemExit):
        _args(["--compare", "gru", "--example", "adding"])
    with pytest.raises(ValueError, match="compare two to four"):
        parse_cells("gru")
