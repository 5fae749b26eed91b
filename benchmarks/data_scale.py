"""Memory and time of the data layer on big inputs, each case in a fresh process.

    python benchmarks/data_scale.py [--train] [--cases prose-1mb,prose-10mb,words-1mb,rows-1m,rows-1m-8]

Prints, per case: what was built (windows, vocabulary), the seconds to load, the peak resident
memory of the process (ru_maxrss) and, with ``--train``, the same for ``lstm-explorer train ...
--epochs 1`` (the closing line "N steps in X s of training" included).

The prose is generated: a lexicon of 40,000 made-up words drawn with Zipf frequencies, in
sentences with capitals, commas and full stops (so characters number about 60 and words about
30,000, like English prose).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_prose(path: str, n_bytes: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    syll = ["ka", "lo", "mi", "ne", "ru", "ta", "pe", "si", "do", "gra", "ven", "tor", "al", "em", "is", "on",
            "ber", "sch", "th", "wo", "ly", "ing", "er", "st", "qu", "ph", "ae", "ou"]
    lexicon = ["".join(rng.choice(syll, size=rng.integers(1, 4))) for _ in range(40_000)]
    lexicon[:12] = ["the", "of", "and", "to", "a", "in", "is", "that", "it", "was", "for", "on"]
    p = 1.0 / np.arange(1, len(lexicon) + 1) ** 1.05
    p /= p.sum()
    draws = iter(rng.choice(len(lexicon), size=n_bytes // 3 + 100, p=p).tolist())   # one draw for the whole text
    out, size = [], 0
    while size < n_bytes:
        words = [lexicon[next(draws)] for _ in range(int(rng.integers(5, 20)))]
        words[0] = words[0].capitalize()
        if len(words) > 8:
            words[len(words) // 2] += ","
        s = " ".join(words) + ". " + ("\n" if rng.random() < 0.2 else "")
        out.append(s)
        size += len(s)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("".join(out)[:n_bytes])


def write_rows(path: str, n_rows: int, n_cols: int) -> None:
    v = np.random.default_rng(0).standard_normal((n_rows, n_cols)).cumsum(axis=0)
    np.savetxt(path, v, fmt="%.6f", delimiter=",", header=",".join(f"c{k}" for k in range(n_cols)), comments="")


_LOAD = """
import resource, sys, time
t = time.perf_counter()
from explorer.app.ingest import load_dataset
opts = eval(sys.argv[2])
ds = load_dataset(sys.argv[1], **opts)
dt = time.perf_counter() - t
x = ds.x_train
print(f"{ds.n_train} training windows {tuple(x.shape)} {x.dtype}, n_inputs {ds.n_inputs}; load {dt:.2f} s; "
      f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
"""

_TRAIN = """
import resource, runpy, sys
sys.argv = ["lstm-explorer"] + sys.argv[1:]
from explorer.cli import main
code = main(sys.argv[1:])
print(f"exit {code}; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB", file=sys.stderr)
"""

CASES = {
    "prose-1mb": ("prose", 1_000_000, {"text": True}, ["--text"]),
    "prose-10mb": ("prose", 10_000_000, {"text": True}, ["--text"]),
    "words-1mb": ("prose", 1_000_000, {"text": True, "level": "word"}, ["--words"]),
    "rows-1m": ("rows", (1_000_000, 1), {}, []),
    "rows-1m-8": ("rows", (1_000_000, 8), {"columns": [f"c{k}" for k in range(8)]},
                  ["--column"] + [f"c{k}" for k in range(8)]),
}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--train", action="store_true", help="also train one epoch with lstm-explorer train")
    args = ap.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": ROOT, "QT_QPA_PLATFORM": "offscreen"}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.cases.split(","):
            kind, size, opts, flags = CASES[name]
            path = os.path.join(tmp, name + (".txt" if kind == "prose" else ".csv"))
            if kind == "prose":
                write_prose(path, size)
            else:
                write_rows(path, *size)
            r = subprocess.run([sys.executable, "-c", _LOAD, path, repr(opts)], capture_output=True, text=True,
                               env=env)
            print(f"{name:11s} ({os.path.getsize(path) / 1e6:.1f} MB) load_dataset: "
                  f"{(r.stdout or r.stderr).strip().splitlines()[-1]}", flush=True)
            if args.train:
                t = time.perf_counter()
                r = subprocess.run([sys.executable, "-c", _TRAIN, "train", path, *flags, "--epochs", "1",
                                    "--out", os.path.join(tmp, name + "-run"), "--no-plots"],
                                   capture_output=True, text=True, env=env)
                lines = [ln for ln in r.stderr.strip().splitlines() if "steps in" in ln or "exit" in ln
                         or "lstm-explorer:" in ln]
                print(f"{'':11s} train --epochs 1: {'; '.join(lines)}; wall {time.perf_counter() - t:.1f} s",
                      flush=True)


if __name__ == "__main__":
    main()
