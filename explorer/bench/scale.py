"""The whole command at scale, side by side with PyTorch: ``python -m explorer.bench --scale``.

    python -m explorer.bench --scale [--big] [--cases series1,prose1,batchmem,open,words,animate]
                                     [--repeat N] [--rows N] [--work DIR] [--no-torch] [--quiet] [--markdown]

Without ``--big``: ``series1`` and ``prose1`` at 100,000 rows / 1 MB, once each, and the cost cases
of :mod:`explorer.bench.judged` (``batchmem``, ``open``, ``words``, ``animate``) at small sizes —
a few minutes in all. ``--big``: every case below at the issue's sizes (1,000,000 rows, medians of
3) and the cost cases at theirs.

Writes seeded files into a work folder (a temporary one unless ``--work``): a 1,000,000-row
one-column CSV, the same rows with 8 columns, 1 MB, 5 MB and 10 MB of prose, and a 3,000-row CSV
for ``valmem`` (windows of 500 steps, 128 units, batch 4: validation's memory against a small
training batch's). ``words1``/``words5`` read prose as words (the vocabulary capped at 10,000:
their cost should grow with the text). Then, for every case, in a
fresh process each time (as a person runs it), ``lstm-explorer train FILE … --epochs 1 --out DIR``
with the command's defaults (16 units, batch 32, sequence length 20 for series and 25 for text,
Adam 0.01, clipping 1, float64, one BLAS thread), recording

- the wall time of the whole command (start of the process to its exit: loading, the first
  checkpoint, training, the checkpoints, the plots and the last save),
- the training time the command's closing line prints ("N steps in X s of training"),
- the peak resident memory (``ru_maxrss`` of the process, what ``/usr/bin/time -v`` reports),

and the same for a small PyTorch script that trains the same model (``torch.nn.LSTM`` or
``GRU``/``RNN`` with a ``Linear`` head, float64, one thread, Adam, clipping) the same number of
steps on the same windows (read through the explorer's own loader, so the windows are exactly
the command's) and computes the validation loss at the epoch's end. Medians of ``--repeat`` runs.
Every command run is printed, with the machine's load before and after: the numbers only mean
something on a quiet machine.

Torch is never a dependency of the app: without it (or with ``--no-torch``) the torch columns
stay empty.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: The closing line of ``lstm-explorer train`` (outside scripts read it; keep the form).
CLOSING_LINE = re.compile(r"^(\d+) steps in ([0-9.]+) s of training", re.MULTILINE)

ROWS = 1_000_000
SEED = 14


@dataclass(frozen=True)
class Case:
    name: str
    what: str                  # a short description for the table
    file: str                  # the file name in the work folder
    args: tuple = ()           # options after FILE (besides --epochs 1 --out DIR)
    rows: int | None = None    # a series file of its own size (else --rows)


#: Rows of the long-window case: 1,000 training windows of 500 steps (250 steps of batch 4) and
#: 1,500 validation windows, which validation once ran 256 at a time.
LONG_ROWS = 3_000

CASES = {
    "series1": Case("series1", "rows × 1 column", "series_1col.csv"),
    "series8": Case("series8", "rows × 8 columns", "series_8col.csv",
                    ("--column", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "value")),
    "prose1": Case("prose1", "prose, characters", "prose_1mb.txt", ("--text",)),
    "prose10": Case("prose10", "prose, characters", "prose_10mb.txt", ("--text",)),
    "words1": Case("words1", "prose, words", "prose_1mb.txt", ("--words",)),
    "words5": Case("words5", "prose, words", "prose_5mb.txt", ("--words",)),
    "valmem": Case("valmem", "rows × 1 column, windows of 500, 128 units, batch 4", "series_1col.csv",
                   ("--seq-len", "500", "--units", "128", "--batch", "4", "--val-fraction", "0.5"), LONG_ROWS),
}
#: The whole command's cases at the issue's sizes (``--big``).
BIG_CASES = ("series1", "series8", "prose1", "prose10", "words1", "words5", "valmem")
#: Without ``--big``: two of the command's cases at --rows 100,000 and the cost cases of
#: :mod:`explorer.bench.judged` at their small sizes (a few minutes in all).
DEFAULT_CASES = ("series1", "prose1", "batchmem", "open", "words", "animate")
SMALL_ROWS = 100_000


# -- the files ----------------------------------------------------------------------------------
def series_values(rows: int, columns: int, seed: int = SEED) -> np.ndarray:
    """(rows, columns): noisy sines of different periods; the last column is the target
    ('value'), the same in the one- and the eight-column file."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows, dtype=np.float64)
    value = np.sin(2 * np.pi * t / 50) + 0.5 * np.sin(2 * np.pi * t / 377) + 0.1 * rng.standard_normal(rows)
    cols = [np.sin(2 * np.pi * t / (30 + 17 * k) + k) + 0.1 * rng.standard_normal(rows) for k in range(columns - 1)]
    return np.column_stack(cols + [value])


def write_series(path, rows: int, columns: int, seed: int = SEED) -> Path:
    """A CSV with a header (x1 … x{columns−1}, value) and ``rows`` rows of 6-decimal numbers."""
    path = Path(path)
    names = [f"x{k + 1}" for k in range(columns - 1)] + ["value"]
    np.savetxt(path, series_values(rows, columns, seed), fmt="%.6f", delimiter=",",
               header=",".join(names), comments="")
    return path


_ONSETS = ("b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z",
           "br", "ch", "cl", "dr", "fl", "gr", "pl", "pr", "sh", "st", "th", "tr")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "ou")


def prose_text(n_bytes: int, seed: int = SEED, vocabulary: int = 40_000) -> str:
    """About ``n_bytes`` of seeded prose: sentences of made-up words used with Zipf's law
    (a few very common, most rare; 1 MB holds some 20,000 different words), capitals, commas,
    full stops, question marks and paragraphs."""
    rng = np.random.default_rng(seed)
    sylls = [o + v for o in _ONSETS for v in _VOWELS]
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < vocabulary:
        k = int(rng.integers(1, 4))
        w = "".join(sylls[j] for j in rng.integers(0, len(sylls), k)) + ("" if rng.random() < 0.6 else "n")
        if w not in seen:
            seen.add(w)
            words.append(w)
    ranks = np.arange(1, vocabulary + 1, dtype=np.float64)
    p = 1.0 / (ranks + 2.7)
    p /= p.sum()
    n_words = int(n_bytes / 5.8) + 1
    ids = rng.choice(vocabulary, size=n_words, p=p)
    lengths = rng.integers(5, 21, size=n_words // 5 + 1)
    ends = rng.choice([". ", "? ", "! "], size=len(lengths), p=[0.85, 0.1, 0.05])
    out: list[str] = []
    pos = 0
    size = 0
    for s, (n, end) in enumerate(zip(lengths, ends)):
        if pos >= n_words or size >= n_bytes:
            break
        sent = [words[j] for j in ids[pos:pos + n]]
        pos += n
        sent[0] = sent[0].capitalize()
        if n > 8:
            sent[n // 2] += ","
        text = " ".join(sent) + end
        if s % 6 == 5:
            text = text.rstrip() + "\n\n"
        out.append(text)
        size += len(text)
    return "".join(out)[:n_bytes]


def write_prose(path, n_bytes: int, seed: int = SEED) -> Path:
    path = Path(path)
    path.write_text(prose_text(n_bytes, seed), encoding="utf-8")
    return path


def make_files(work, cases, rows: int = ROWS) -> dict[str, Path]:
    """The files the cases read, written into ``work`` (kept when already there)."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    prose_bytes = {"prose_1mb.txt": 1_000_000, "prose_5mb.txt": 5_000_000, "prose_10mb.txt": 10_000_000}
    out = {}
    for name in cases:
        case = CASES[name]
        fname, n = case.file, case.rows or rows
        if fname.startswith("series"):
            fname = fname.replace(".csv", f"_{n}.csv")
        path = work / fname
        if not path.is_file():
            if fname.startswith("series"):
                write_series(path, n, 8 if "8col" in fname else 1)
            else:
                write_prose(path, prose_bytes[case.file])
        out[name] = path
    return out


# -- running one command ------------------------------------------------------------------------
@dataclass
class Measured:
    wall: float                      # seconds, the whole process
    rss_mb: float                    # peak resident memory, MB (10^6 bytes)
    train: float | None = None       # seconds of training (the closing line / the script's loop)
    steps: int | None = None
    status: int = 0
    tail: str = ""                   # the last lines of stderr when something went wrong
    text: str = ""                   # everything the command wrote (stderr, then stdout)


#: Runs the command as its own child and reports its wall time and peak RSS. Linux starts a
#: process's peak RSS at its parent's RSS at fork time (and keeps it across exec), so the command
#: is forked from this small interpreter (-S -I: no site, nothing imported but os/time/json), never
#: from the benchmark's own process, which holds numpy and maybe torch.
_LAUNCHER = """\
import json, os, sys, time
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execv(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as fh:
    json.dump({"wall": time.perf_counter() - t0, "maxrss_kb": usage.ru_maxrss,
               "status": os.waitstatus_to_exitcode(status)}, fh)
"""


def run_measured(cmd: list[str], env=None) -> Measured:
    """Run ``cmd`` in a fresh process; its wall time, peak RSS, the closing line's numbers."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "measured.json"
        with open(Path(tmp) / "err", "w+b") as err, open(Path(tmp) / "out", "w+b") as out:
            subprocess.run([sys.executable, "-S", "-I", "-c", _LAUNCHER, str(report), *cmd],
                           stdout=out, stderr=err, env=env, check=False)
            err.seek(0)
            out.seek(0)
            text = err.read().decode("utf-8", "replace") + out.read().decode("utf-8", "replace")
        try:
            r = json.loads(report.read_text())
        except (OSError, ValueError):
            r = {"wall": float("nan"), "maxrss_kb": 0, "status": -1}
    m = Measured(wall=r["wall"], rss_mb=r["maxrss_kb"] * 1024 / 1e6, status=r["status"], text=text)
    found = CLOSING_LINE.findall(text)
    if found:
        m.steps, m.train = int(found[-1][0]), float(found[-1][1])
    if m.status != 0 or not found:
        m.tail = "\n".join(text.strip().splitlines()[-3:])
    return m


def explorer_command(case: Case, path: Path, out_dir: Path) -> list[str]:
    return [sys.executable, "-m", "explorer", "train", str(path), *case.args, "--epochs", "1",
            "--out", str(out_dir), "--force"]


def torch_command(case: Case, path: Path) -> list[str]:
    return [sys.executable, "-m", "explorer.bench.scale", "torch-train", str(path), *case.args]


# -- the torch script (run in its own process through ``torch-train``) ---------------------------
def torch_train(argv: list[str]) -> int:
    """Train ``torch.nn.LSTM`` + ``Linear`` on the windows the command would train on, the same
    steps (one epoch of batch 32, shuffled), then the validation loss; print the closing line."""
    t_start = time.perf_counter()
    from explorer.cli import command as cli

    args = cli._parser().parse_args(["train", *argv, "--out", os.devnull])
    ds = cli._load_dataset(args)
    settings = cli._settings(args, None)
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(settings.seed)
    dt = torch.float64
    n, k = settings.units, ds.n_outputs
    ids = ds.x_train.ndim == 2
    m = ds.n_inputs
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[settings.cell]
    rnn = cls(m, n, batch_first=True).to(dt)
    head = torch.nn.Linear(n, k).to(dt)
    params = list(rnn.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=settings.lr)
    ce = ds.loss == "cross_entropy"

    def inputs(xb):
        x = torch.from_numpy(np.array(xb))           # a copy: the windows are read-only views
        return torch.nn.functional.one_hot(x, m).to(dt) if ids else x.to(dt)

    def loss_of(xb, yb):
        y = head(rnn(inputs(xb))[0])
        t = torch.from_numpy(np.array(yb))
        if ce:
            return torch.nn.functional.cross_entropy(y.reshape(-1, k), t.reshape(-1))
        return torch.nn.functional.mse_loss(y[:, -1] if ds.target_last else y, t.to(dt))

    perm = np.random.default_rng(settings.seed).permutation(ds.n_train)
    B = settings.batch
    t0 = time.perf_counter()
    steps = 0
    for s in range(0, ds.n_train, B):
        idx = perm[s:s + B]
        loss = loss_of(ds.x_train[idx], ds.y_train[idx])
        opt.zero_grad()
        loss.backward()
        if settings.clip:
            torch.nn.utils.clip_grad_norm_(params, settings.clip)
        opt.step()
        steps += 1
    T = ds.x_val.shape[1]
    eb = max(1, min(256, (1 << 24) // (T * max(m if ids else 1, k))))   # (eb, T, vocabulary) ≤ 128 MB
    with torch.no_grad():
        total = 0.0
        for s in range(0, ds.n_val, eb):
            total += float(loss_of(ds.x_val[s:s + eb], ds.y_val[s:s + eb])) * len(ds.x_val[s:s + eb])
        val = total / max(ds.n_val, 1)
    train_s = time.perf_counter() - t0
    print(f"{steps} steps in {train_s:.1f} s of training; validation {val:.4g} (normalised units); "
          f"whole script {time.perf_counter() - t_start:.1f} s", file=sys.stderr)
    return 0


# -- the table ----------------------------------------------------------------------------------
@dataclass
class Row:
    case: Case
    size: str
    explorer: list = field(default_factory=list)
    torch: list = field(default_factory=list)


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _fmt(v, spec, unit=""):
    return "–" if v is None else f"{v:{spec}}{unit}"


COLUMNS = (("case", "<"), ("data", "<"), ("steps", ">"), ("wall", ">"), ("train", ">"), ("wall/train", ">"),
           ("RSS", ">"), ("torch wall", ">"), ("torch train", ">"), ("torch RSS", ">"), ("wall ×", ">"),
           ("train ×", ">"), ("RSS ×", ">"))


def table_rows(rows: list[Row]) -> list[list[str]]:
    """One list of cells per case (medians; wall/train is the median of each run's own ratio), in
    the order of :data:`COLUMNS`."""
    out = []
    for r in rows:
        e = [m for m in r.explorer if m.status == 0]
        t = [m for m in r.torch if m.status == 0]
        ew, et, er = _median(m.wall for m in e), _median(m.train for m in e), _median(m.rss_mb for m in e)
        tw, tt, trs = _median(m.wall for m in t), _median(m.train for m in t), _median(m.rss_mb for m in t)

        def ratio(a, b):
            return a / b if a and b else None
        out.append([r.case.name, r.size, _fmt(_median(m.steps for m in e), ".0f"),
                    _fmt(ew, ".1f", " s"), _fmt(et, ".1f", " s"),
                    _fmt(_median(ratio(m.wall, m.train) for m in e), ".2f"), _fmt(er, ".0f", " MB"),
                    _fmt(tw, ".1f", " s"), _fmt(tt, ".1f", " s"), _fmt(trs, ".0f", " MB"),
                    _fmt(ratio(ew, tw), ".2f"), _fmt(ratio(et, tt), ".2f"), _fmt(ratio(er, trs), ".2f")])
    return out


def summarize(rows: list[Row]) -> str:
    """The table: the command's wall time, training time, their ratio and peak memory; torch's
    wall and training time and peak memory; and the explorer/torch ratios (medians)."""
    cells = table_rows(rows)
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (h, _) in enumerate(COLUMNS)]

    def line(values):
        return "  ".join(f"{v:{a}{w}}" for v, (_, a), w in zip(values, COLUMNS, widths)).rstrip()
    lines = [line([h for h, _ in COLUMNS]), "-" * sum(widths + [2 * (len(widths) - 1)])]
    lines += [line(c) for c in cells]
    for r in rows:
        for m in r.explorer + r.torch:
            if m.status != 0 or m.train is None:
                lines.append(f"  {r.case.name}: a run failed (exit {m.status}): {m.tail}")
    return "\n".join(lines)


def markdown(rows: list[Row]) -> str:
    """The same table in Markdown (for README)."""
    cells = table_rows(rows)
    out = ["| " + " | ".join(h for h, _ in COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    out += ["| " + " | ".join(c) + " |" for c in cells]
    return "\n".join(out)


def _load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "?"


def _size_text(case: Case, path: Path, rows: int) -> str:
    if path.suffix == ".csv":
        return f"{case.rows or rows:,} {case.what}"
    return f"{path.stat().st_size / 1e6:g} MB {case.what}"


def _torch_version() -> str | None:
    """torch's version, asked in another process (importing it here would add some 300 MB to this
    process, and to nothing else)."""
    try:
        r = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__)"],
                           capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.strip() or None if r.returncode == 0 else None


#: The cost cases, measured by :mod:`explorer.bench.judged` (imported when run: it imports this module).
JUDGED = ("batchmem", "open", "words", "animate")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m explorer.bench --scale",
                                description="The whole train command at scale, side by side with PyTorch.")
    p.add_argument("--big", action="store_true", help="the issue's sizes: every case, 1,000,000 rows, "
                   "3 runs each, the cost cases' large sizes (about an hour)")
    p.add_argument("--cases", default=None, help=f"comma-separated cases of {', '.join(CASES)}, "
                   f"{', '.join(JUDGED)} (default: {','.join(DEFAULT_CASES)}; with --big every one)")
    p.add_argument("--repeat", type=int, default=None, help="runs per case (medians are reported; default 1, "
                   "3 with --big)")
    p.add_argument("--rows", type=int, default=None, help=f"rows of the series files (default {SMALL_ROWS:,}, "
                   f"{ROWS:,} with --big)")
    p.add_argument("--work", metavar="DIR", help="folder for the files and run folders (default: a temporary one)")
    p.add_argument("--no-torch", action="store_true", help="run the command alone")
    p.add_argument("--quiet", action="store_true", help="print the table only")
    p.add_argument("--markdown", action="store_true", help="also print the table in Markdown")
    args = p.parse_args(argv)
    if args.cases is None:
        args.cases = ",".join(BIG_CASES + JUDGED if args.big else DEFAULT_CASES)
    args.repeat = args.repeat or (3 if args.big else 1)
    args.rows = args.rows or (ROWS if args.big else SMALL_ROWS)
    chosen = [c.strip() for c in args.cases.split(",") if c.strip()]
    bad = [c for c in chosen if c not in CASES and c not in JUDGED]
    if bad or not chosen:
        p.error(f"unknown case {bad[0] if bad else '(none)'}; choose from {', '.join(CASES)}, {', '.join(JUDGED)}")
    cases = [c for c in chosen if c in CASES]
    judged = [c for c in chosen if c in JUDGED]
    if args.repeat < 1 or args.rows < 100:
        p.error("--repeat must be at least 1 and --rows at least 100")
    torch_version = None if args.no_torch else _torch_version()
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    tmp = None
    if args.work:
        work = Path(args.work)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="lstm-explorer-scale-")
        work = Path(tmp.name)
    try:
        say(f"python {platform.python_version()}, numpy {np.__version__}"
            + (f", torch {torch_version}" if torch_version else ", torch: not used")
            + f", {os.cpu_count()} cores, {platform.machine()}")
        say(f"load average before: {_load()}; work folder {work}")
        say("settings: the command's defaults (LSTM, 16 units, batch 32, sequence length 20 for series and 25 "
            "for text, Adam 0.01, clipping 1, float64, one BLAS thread), one epoch; torch: the same model, "
            "float64, one thread, the same windows and steps")
        files = make_files(work, cases, args.rows)
        rows = []
        for name in cases:
            case, path = CASES[name], files[name]
            row = Row(case, _size_text(case, path, args.rows))
            ecmd = explorer_command(case, path, work / f"run-{name}")
            tcmd = torch_command(case, path)
            say(f"\n{name}: {shlex.join(ecmd)}")
            if torch_version:
                say(f"{name} (torch): {shlex.join(tcmd)}")
            for r in range(args.repeat):
                m = run_measured(ecmd)
                row.explorer.append(m)
                say(f"  run {r + 1}: wall {m.wall:.1f} s, {m.steps} steps in {_fmt(m.train, '.1f')} s of training, "
                    f"max RSS {m.rss_mb:.0f} MB" + (f" — exit {m.status}: {m.tail}" if m.tail else ""))
                if torch_version:
                    m = run_measured(tcmd, env={**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
                    row.torch.append(m)
                    say(f"  torch {r + 1}: wall {m.wall:.1f} s, {m.steps} steps in {_fmt(m.train, '.1f')} s of "
                        f"training, max RSS {m.rss_mb:.0f} MB" + (f" — exit {m.status}: {m.tail}" if m.tail else ""))
            rows.append(row)
        results = []
        if judged:
            from explorer.bench import judged as costs

            results = costs.run_cases(judged, work, args.big, say)
        say(f"\nload average after: {_load()}")
        if rows:
            print(f"\nmedians of {args.repeat} runs; wall = the whole process; train = the closing line's "
                  "seconds of training; RSS = peak resident memory; × = explorer / torch")
            print(summarize(rows))
            if args.markdown:
                print("\n" + markdown(rows))
        if results:
            print(f"\ncost cases ({'big' if args.big else 'small'} sizes; RSS = peak resident memory of the "
                  "measured process)")
            print(costs.summarize(results))
            if args.markdown:
                print("\n" + costs.markdown(results))
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "torch-train":
        sys.exit(torch_train(sys.argv[2:]))
    sys.exit(main(sys.argv[1:]))
