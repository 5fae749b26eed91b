"""The gradient-norm plot past many steps draws each series' extremes per bucket: every bucket's
smallest and largest point is drawn, the drawn points stay bounded as steps arrive, and the CSV
keeps every step."""

import numpy as np

from explorer.figures.extremes import PeakIndex


def test_every_buckets_extremes_are_kept_through_merges():
    rng = np.random.default_rng(3)
    values = rng.standard_normal(20_000)
    values[rng.random(20_000) < 0.05] = np.nan
    peaks = PeakIndex(most=64)
    n = 0
    while n < len(values):                     # arriving in uneven chunks, as training sends them
        n = min(len(values), n + int(rng.integers(1, 700)))
        peaks.update(values[:n])
    idx = set(peaks.indices(n).tolist())
    w = peaks.width
    assert len(peaks.lo) <= 64 and peaks.done == len(peaks.lo) * w and n - peaks.done < 2 * w
    for j in range(len(peaks.lo)):
        chunk = values[j * w:(j + 1) * w]
        if np.isfinite(chunk).any():
            assert j * w + int(np.nanargmin(chunk)) in idx and j * w + int(np.nanargmax(chunk)) in idx
    assert set(range(peaks.done, n)) <= idx                        # the partial bucket whole
    assert int(np.nanargmin(values)) in idx and int(np.nanargmax(values)) in idx
    assert sorted(idx) == peaks.indices(n).tolist()


def test_grad_norm_plot_draws_a_bounded_number_of_points_with_every_extreme(qapp):
    from explorer.figures.plots import GradNormPlotWidget

    rng = np.random.default_rng(0)
    w = GradNormPlotWidget()
    drawn = []
    total = 0
    for _ in range(12):                                            # 12 updates of 5,000 steps
        k = 5000
        steps = np.arange(total + 1, total + k + 1)
        g = rng.lognormal(size=k)
        g[rng.random(k) < 0.01] = 0.0                              # not drawn on the log axis
        w.append_steps(steps, g, {"f": rng.lognormal(size=k)}, g > 5, [])
        total += k
        w._draw()
        drawn.append(len(w.global_curve.xData))
    x, y = w.global_curve.xData, w.global_curve.yData
    full = w.global_norm.view
    pos = np.where(full > 0, full, np.nan)
    assert max(drawn[2:]) < 2 * 2048 + 2 * 8192 and drawn[-1] < total // 10
    assert np.nanmax(y) == np.nanmax(pos) and np.nanmin(y) == np.nanmin(pos)
    assert x[int(np.nanargmax(y))] == w.steps.view[int(np.nanargmax(pos))]
    assert np.all(np.diff(x) > 0)
    header, cols = w.csv_columns()
    assert len(cols[0]) == total and np.array_equal(cols[1], full)


def test_loss_of_every_step_draws_its_extremes_and_writes_every_step(qapp, tmp_path):
    from explorer.figures.plots import LossPlotWidget

    rng = np.random.default_rng(1)
    steps = np.arange(1, 40_001)
    loss = np.exp(-steps / 8000) * rng.lognormal(size=len(steps))
    w = LossPlotWidget()
    for n in range(4000, 40_001, 4000):                            # the same run's steps, growing
        w.set_step_losses(steps[:n], loss[:n])
        w._draw()
    x, y = w.train_curve.xData, w.train_curve.yData
    assert len(x) < 40_000 // 5 and np.all(np.diff(x) > 0)
    assert y.max() == loss.max() and y.min() == loss.min() and x[np.argmin(y)] == steps[np.argmin(loss)]
    w.export_csv(tmp_path / "loss.csv")
    rows = (tmp_path / "loss.csv").read_text().splitlines()
    assert len(rows) == 1 + 40_000 and rows[-1] == f"40000,{float(loss[-1])!r},"
    other = 2 + loss[:20_000]                                      # another run: drawn from its own steps
    w.set_step_losses(steps[:20_000] + 100, other)
    w._draw()
    assert w.train_curve.yData.max() == other.max() and w.train_curve.xData[0] == 101
