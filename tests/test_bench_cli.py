"""The benchmark's command line (timings themselves are not tested: speed is shown by its output)."""

import subprocess
import sys


def bench(*args):
    return subprocess.run([sys.executable, "-m", "explorer.bench", *args], capture_output=True, text=True,
                          timeout=300)


def test_cpu_clock_needs_one_thread():
    res = bench("--clock", "cpu", "--threads", "2", "--no-torch")
    assert res.returncode == 2
    assert "--clock cpu measures one thread: add --threads 1" in res.stderr


def test_cpu_clock_with_one_thread_times_the_engine():
    res = bench("--cells", "rnn", "--dtype", "float64", "--sizes", "small", "--repeat", "1", "--no-torch",
                "--threads", "1", "--clock", "cpu")
    assert res.returncode == 0, res.stderr
    assert "Clock: CPU time of this process (time.process_time)" in res.stdout
    assert "NumPy BLAS threads: 1" in res.stdout
    rows = [line.split() for line in res.stdout.splitlines() if line.strip().startswith(("4 ", "16 ", "64 "))]
    assert [r[:3] for r in rows] == [["4", "100", "1"], ["4", "100", "32"], ["16", "100", "32"], ["64", "20", "1"]]
    assert all(float(r[3]) > 0 for r in rows)


def test_rows_give_the_spread_and_the_load_and_one_thread_by_default():
    res = bench("--cells", "lstm", "--dtype", "float32", "--sizes", "small", "--repeat", "4", "--no-torch",
                "--no-deep")
    assert res.returncode == 0, res.stderr
    assert "Threads: the engine's BLAS 1" in res.stdout
    assert "NumPy BLAS threads: 1" in res.stdout
    assert "4 repeats interleaved" in res.stdout
    rows = [line.split() for line in res.stdout.splitlines() if line.strip().startswith(("4 ", "16 ", "64 "))]
    assert len(rows) == 4
    for r in rows:                              # n T B median [q1–q3] load
        median, (q1, q3), load = float(r[3]), r[4].strip("[]").split("–"), float(r[5])
        assert 0 < float(q1) <= median <= float(q3)
        assert load >= 0
