"""The cost cases ``python -m explorer.bench --scale`` measures besides the whole command's table.

Each runs in fresh processes (the peak resident memory of one process is what it reports):

- ``batchmem``: a training run with a small batch and long sequences (windows of T steps, n
  units, batch B) takes some steps and then a whole validation pass; the peak of NumPy's traced
  memory during them, against a training step's own workspace
  (:meth:`~explorer.engine.model.RecurrentModel.estimate_bytes` of the batch).
- ``open``: run folders of a small and a large number of steps, written by ``lstm-explorer
  train`` (1 unit, batch 1, windows of 2), opened by the public loading API
  (:meth:`explorer.runs.store.Run.load`): the time and peak memory of the opening process.
- ``words``: ``lstm-explorer train FILE --words --epochs 1`` on seeded prose of several sizes:
  seconds of training per MB (one epoch), the whole command's peak memory and the size of the
  run's checkpoint.
- ``animate``: ``lstm-explorer animate`` of runs with windows of two lengths T: peak memory.

Default sizes keep the whole ``--scale`` within a few minutes; ``--big`` uses the issue's sizes.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from explorer.bench.scale import run_measured, write_prose, write_series

#: (T, units, batch, rows, steps) of the batch-memory case; the big one is the issue's 6.6 GB case.
BATCHMEM = {False: (500, 128, 4, 1_500, 20), True: (500, 512, 4, 3_000, 20)}
OPEN_STEPS = {False: (5_000, 40_000), True: (10_000, 250_000)}
WORDS_MB = {False: (1.0, 2.0, 4.0), True: (1.0, 2.0, 4.0, 5.0)}
ANIMATE_T = {False: (50, 200), True: (500, 2000)}


@dataclass
class Result:
    case: str
    size: str
    seconds: float | None
    rss_mb: float | None
    measure: str = ""          # what is compared (e.g. "peak traced 40 MB, need 12 MB")
    ratio: float | None = None
    command: str = ""
    failed: str = ""


def _python(*args) -> list[str]:
    return [sys.executable, "-m", "explorer.bench.judged", *map(str, args)]


def _train_cmd(path, out, *opts, quiet=True) -> list[str]:
    return [sys.executable, "-m", "explorer", "train", str(path), *map(str, opts), "--out", str(out), "--force",
            "--no-plots", *(["--quiet"] if quiet else [])]


def _prepare(cmd: list[str]) -> None:
    """Run a command that makes a case's input (not measured); its failure is one exception."""
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed: {r.stderr.strip()[-300:]}")


def _folder_mb(folder: Path) -> float:
    """Bytes of a run folder's current files, MB (a checkpoint writes model.npz, optimizer.npz and
    the files new since the last one; the epochs' files of earlier checkpoints are linked)."""
    total = 0
    for entry in os.scandir(folder):
        if not entry.name.startswith(".") and entry.is_file(follow_symlinks=True):
            total += entry.stat(follow_symlinks=True).st_size
    return total / 1e6


# -- the cases ----------------------------------------------------------------------------------
def batchmem(work: Path, big: bool) -> list[Result]:
    T, n, B, rows, steps = BATCHMEM[big]
    path = write_series(work / f"batchmem_{rows}.csv", rows, 1)
    cmd = _python("batchmem", path, T, n, B, steps)
    m = run_measured(cmd)
    size = f"windows of {T}, {n} units, batch {B}: {steps} steps + validation"
    try:
        out = json.loads(m.text.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return [Result("batchmem", size, m.wall, m.rss_mb, command=shlex.join(cmd), failed=m.tail or "no result")]
    return [Result("batchmem", size, out["seconds"], m.rss_mb,
                   f"peak traced {out['peak'] / 1e6:.1f} MB / a training step's need {out['need'] / 1e6:.1f} MB",
                   out["peak"] / out["need"], shlex.join(cmd))]


def _batchmem_child(path, T, n, B, steps) -> int:
    import tracemalloc

    from explorer.cli import command as cli
    from explorer.runs.store import Run

    args = cli._parser().parse_args(["train", str(path), "--seq-len", str(T), "--units", str(n), "--batch", str(B),
                                     "--val-fraction", "0.5", "--out", os.devnull])
    cli.check_args(args, "train")
    ds = cli._load_dataset(args)
    run = Run(ds, cli._settings(args, None))
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    t0 = time.perf_counter()
    for _ in run.trainer.steps(max_steps=int(steps)):
        pass
    run.trainer.val_loss()
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] - base
    need = run.model.estimate_bytes(int(B), int(T), trace=False)
    print(json.dumps({"peak": peak, "need": need, "seconds": seconds}))
    return 0


def open_runs(work: Path, big: bool) -> list[Result]:
    out = []
    first = None
    for steps in OPEN_STEPS[big]:
        path = write_series(work / f"open_{steps}.csv", steps + 2, 1)
        folder = work / f"open-run-{steps}"
        if not (folder / "config.json").exists():
            _prepare(_train_cmd(path, folder, "--units", 1, "--batch", 1, "--seq-len", 2, "--val-fraction", 0,
                                "--epochs", 1))
        cmd = _python("open", folder)
        m = run_measured(cmd)
        found = [line for line in m.text.splitlines() if line.startswith("opened ")]
        if not found:
            out.append(Result("open", f"{steps:,} steps", m.wall, m.rss_mb, command=shlex.join(cmd),
                              failed=m.tail or "no result"))
            continue
        _, got, _, seconds = found[-1].split()[:4]
        seconds = float(seconds)
        first = first or (seconds, m.rss_mb)
        out.append(Result("open", f"{int(got):,} steps", seconds, m.rss_mb,
                          f"memory × the first's (time × {seconds / first[0]:.2f}); Run.load", m.rss_mb / first[1],
                          shlex.join(cmd)))
    return out


def _open_child(folder) -> int:
    t0 = time.perf_counter()
    from explorer.runs.store import Run

    run = Run.load(folder)
    print(f"opened {run.trainer.step} steps {time.perf_counter() - t0:.3f} s")
    return 0


def words(work: Path, big: bool) -> list[Result]:
    out = []
    first = None
    for mb in WORDS_MB[big]:
        path = work / f"prose_{mb:g}mb.txt"
        if not path.exists():
            write_prose(path, int(mb * 1e6))
        folder = work / f"words-run-{mb:g}"
        cmd = _train_cmd(path, folder, "--words", "--epochs", 1, quiet=False)
        m = run_measured(cmd)
        if m.train is None:
            out.append(Result("words", f"{mb:g} MB prose", m.wall, m.rss_mb, command=shlex.join(cmd),
                              failed=m.tail or "no closing line"))
            continue
        per_mb = m.train / mb
        first = per_mb if first is None else first
        out.append(Result("words", f"{mb:g} MB prose, {m.steps} steps", m.train, m.rss_mb,
                          f"s of training per MB × the first's ({per_mb:.1f} s/MB); checkpoint {_folder_mb(folder):.0f} MB",
                          per_mb / first if first > 0 else math.nan, shlex.join(cmd)))   # 0.0 s: below the printed digit
    return out


def animate(work: Path, big: bool) -> list[Result]:
    out = []
    first = None
    for T in ANIMATE_T[big]:
        path = write_series(work / f"animate_{T}.csv", 6 * T, 1)
        folder = work / f"animate-run-{T}"
        if not (folder / "config.json").exists():
            _prepare(_train_cmd(path, folder, "--seq-len", T, "--units", 8, "--epochs", 1))
        cmd = [sys.executable, "-m", "explorer", "animate", str(folder), "--out", str(work / f"animate-{T}.gif"),
               "--quiet"]
        m = run_measured(cmd)
        if m.status != 0:
            out.append(Result("animate", f"T = {T}", m.wall, m.rss_mb, command=shlex.join(cmd), failed=m.tail))
            continue
        first = first or m.rss_mb
        out.append(Result("animate", f"T = {T} GIF", m.wall, m.rss_mb, "peak memory × the first's",
                          m.rss_mb / first, shlex.join(cmd)))
    return out


RUNNERS = {"batchmem": batchmem, "open": open_runs, "words": words, "animate": animate}


# -- the table ----------------------------------------------------------------------------------
HEAD = ("case", "size", "seconds", "RSS", "ratio", "what the ratio is")


def _cells(r: Result) -> list[str]:
    return [r.case, r.size, "–" if r.seconds is None else f"{r.seconds:.2f} s",
            "–" if r.rss_mb is None else f"{r.rss_mb:.0f} MB", "–" if r.ratio is None else f"{r.ratio:.2f}",
            r.measure]


def summarize(results: list[Result]) -> str:
    cells = [_cells(r) for r in results]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(HEAD)]
    lines = ["  ".join(f"{v:<{w}}" for v, w in zip(HEAD, widths)).rstrip(), "-" * (sum(widths) + 2 * len(widths))]
    lines += ["  ".join(f"{v:<{w}}" for v, w in zip(c, widths)).rstrip() for c in cells]
    lines += [f"  {r.case} {r.size}: failed: {r.failed}" for r in results if r.failed]
    return "\n".join(lines)


def markdown(results: list[Result]) -> str:
    out = ["| " + " | ".join(HEAD) + " |", "|" + "|".join("---" for _ in HEAD) + "|"]
    out += ["| " + " | ".join(_cells(r)) + " |" for r in results]
    return "\n".join(out)


def run_cases(names, work: Path, big: bool, say=print) -> list[Result]:
    """Run the named judged cases, saying each command as it runs."""
    results = []
    for name in names:
        try:
            got = RUNNERS[name](work, big)
        except RuntimeError as exc:                # a command that makes the case's input failed
            got = [Result(name, "", None, None, failed=str(exc))]
        for r in got:
            say(f"{name}: {r.command}")
        results.extend(got)
    return results


if __name__ == "__main__":
    kind, rest = sys.argv[1], sys.argv[2:]
    if kind == "batchmem":
        sys.exit(_batchmem_child(*rest))
    if kind == "open":
        sys.exit(_open_child(*rest))
    sys.exit(f"unknown case {kind!r}")
