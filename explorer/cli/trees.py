"""The command line for trees: ``lstm-explorer train TREES --cell treelstm|nary-treelstm`` and
``lstm-explorer compare TREES --cells nary-treelstm,lstm`` (called from :mod:`explorer.cli`).

A tree run folder holds ``tree_run.json`` (settings, data source with its SHA-256, every epoch's
numbers), ``checkpoint.npz`` (what ``--resume`` continues from: parameters, optimiser, shuffling
generator, history — at the last finished epoch), ``model.npz`` (the state dict,
ioux/iouh/fx/fh/head), ``history.csv`` and ``nodes.csv`` (every validation node: tree, node,
parent, token, label, prediction, then c and h unit by unit). Every file is replaced atomically.
Unless ``--no-plots``: ``loss.png/.svg/.csv`` and ``tree.png/.svg`` (the first validation tree).
"""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

TREE_CELLS = ("treelstm", "nary-treelstm")
#: While training, the run folder is written again at an epoch's end once this many seconds passed.
CHECKPOINT_SECONDS = 10.0

#: Options of ``train`` that mean nothing for trees (named as ignored, never dropped silently).
_SEQUENCE_ONLY = {"column": "--column", "target": "--target", "text": "--text", "words": "--words",
                  "missing": "--missing", "year_month": "--year-month", "normalize": "--normalize",
                  "seq_len": "--seq-len", "forecast": "--forecast", "eval_every": "--eval-every",
                  "stop_at_loss": "--stop-at-loss"}


class TreeCliError(Exception):
    """One sentence for the command line (exit 2)."""


def wants_trees(args, given: dict) -> bool:
    """True when this command trains on trees: a tree cell, or a tree example. ``--label-at``
    or ``--labels`` with a sequence cell is refused."""
    from explorer.data.trees import TREE_EXAMPLES

    cells = [args.cell] if getattr(args, "cell", None) else \
        [c.strip() for c in (getattr(args, "cells", None) or "").split(",")]
    if any(c in TREE_CELLS for c in cells) or getattr(args, "example", None) in TREE_EXAMPLES:
        return True
    resume = getattr(args, "resume", None)
    if resume and (Path(resume) / "tree_run.json").is_file():
        return True
    for dest in ("label_at", "labels"):
        if dest in given:
            raise TreeCliError(f"{given[dest]} is for trees; use it with --cell treelstm or nary-treelstm.")
    return False


def _say(message: str) -> None:
    from explorer.runs.folder import safe_name

    print(safe_name(message), file=sys.stderr, flush=True)


def _bank(args):
    from explorer.data.examples import load_tree_example
    from explorer.data.trees import TREE_EXAMPLES, load_trees

    if (args.file is None) == (args.example is None):
        raise TreeCliError("give exactly one of TREES (a tree file) or --example NAME.")
    if args.example is not None:
        if args.example not in TREE_EXAMPLES:
            raise TreeCliError(f"--example {args.example} is not made of trees; choose one of "
                               f"{', '.join(TREE_EXAMPLES)} for --cell treelstm or nary-treelstm.")
        return load_tree_example(args.example)
    return load_trees(args.file, labels=args.labels)


def _settings(args, cell: str):
    from explorer.app.tree_train import TreeSettings

    s = TreeSettings(cell=cell)
    for dest in ("units", "epochs", "batch", "lr", "optimizer", "seed", "val_fraction", "label_at"):
        value = getattr(args, dest, None)
        if value is not None:
            setattr(s, dest, value)
    if getattr(args, "clip", None) is not None:
        s.clip = args.clip if args.clip > 0 else None
    return s


def _check_model_options(args, given: dict) -> None:
    if getattr(args, "layers", None) not in (None, 1) or getattr(args, "bidirectional", None):
        raise TreeCliError("the Tree-LSTMs have one layer and one direction; leave out --layers and --bidirectional.")
    if getattr(args, "init", None):
        raise TreeCliError("--init is not available for tree runs; start a new run with --out DIR.")
    ignored = sorted(flag for dest, flag in _SEQUENCE_ONLY.items() if dest in given)
    if getattr(args, "example", None) and "labels" in given:
        ignored.append("--labels")
    if ignored:
        _say(f"lstm-explorer: trees bring their own structure; ignoring {', '.join(ignored)}.")


TREE_FILES = ("tree_run.json", "checkpoint.npz", "model.npz", "history.csv", "nodes.csv")
TREE_PLOTS = ("loss.png", "loss.svg", "loss.csv", "tree.png", "tree.svg")


def _check_out(out: Path, force: bool, ours=None, marker: str = "tree_run.json") -> None:
    """Refuse an --out that is a file, a non-empty folder without --force, or — with --force — a
    folder that is not a tree run's (the person's files are never replaced) or whose run files
    are links (never followed)."""
    if out.is_symlink() and not out.exists():
        raise TreeCliError(f"--out {out} is a broken link; give a folder.")
    if out.exists() and not out.is_dir():
        raise TreeCliError(f"--out {out} is a file; give a folder.")
    if not out.is_dir():
        return
    names = sorted(e.name for e in os.scandir(out))
    if names and not force:
        raise TreeCliError(f"--out {out} is not empty; choose another folder or add --force.")
    if not names:
        return
    ours = set(TREE_FILES + TREE_PLOTS if ours is None else ours) | {".lock"}
    others = [n for n in names if n not in ours and not (n.startswith(".") and n.endswith(".tmp"))]
    if others or marker not in names:
        shown = ", ".join(others[:3]) + (", …" if len(others) > 3 else "")
        raise TreeCliError(f"--out {out} holds files that are not a tree run's ({shown or 'no ' + marker}); "
                           "choose an empty folder: nothing was changed.")
    _check_links(out)


def _check_links(out: Path) -> None:
    """Refuse a folder where a file the run writes (or its temporary) is a link: never followed."""
    for n in TREE_FILES + TREE_PLOTS:
        for name in (n, f".{n}.tmp"):
            if os.path.islink(out / name):
                raise TreeCliError(f"--out {out} has a link named {name} where the run keeps a file; links are "
                                   "never followed: remove it or choose another folder.")


def _atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` through a temporary file created anew (never through a link:
    a link at either name is refused, a stale temporary of ours is removed)."""
    if os.path.islink(path):
        raise OSError(errno.ELOOP, f"{path.name} is a link; links in a run folder are never followed")
    tmp = path.with_name(f".{path.name}.tmp")
    if os.path.islink(tmp):
        raise OSError(errno.ELOOP, f"{tmp.name} is a link; links in a run folder are never followed")
    if tmp.exists():
        tmp.unlink()                                  # a temporary this command left when it was killed
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                 | getattr(os, "O_CLOEXEC", 0), 0o666)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _csv(rows: list, fields: list) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(fields)
    for r in rows:
        w.writerow([("" if isinstance(v, float) and math.isnan(v) else v) for v in (r.get(f) for f in fields)]
                   if isinstance(r, dict) else r)
    return buf.getvalue().encode("utf-8")


def node_rows(run, trees: list) -> tuple[list, list]:
    """``(fields, rows)``: every node of ``trees`` with its quantities (the CSV of nodes)."""
    model, data = run.model, run.data
    n = model.n_units
    fields = ["tree", "node", "parent", "token", "label", "prediction"]
    fields += [f"c_{u}" for u in range(n)] + [f"h_{u}" for u in range(n)]
    rows = []
    for k, tree in enumerate(trees):
        x, children, _, _ = data.forest([tree])
        tr = model.forward(x, children=children)
        parent = tr.forest.parent
        if data.bank.label_kind == "values":
            pred = tr.y[:, 0] * data.scale + data.shift
        else:
            pred = tr.y.argmax(axis=1)
        for j in range(tree.n_nodes):
            lab = tree.labels[j]
            rows.append([k, j, int(parent[j]), tree.words[j] or "", "" if math.isnan(lab) else f"{lab:g}",
                         f"{pred[j]:.6g}"] + [f"{v:.6g}" for v in tr.c[j]] + [f"{v:.6g}" for v in tr.h[j]])
    return fields, rows


def save_tree_run(run, out: Path, source: dict) -> None:
    """Write the run folder (see the module docstring), each file replaced atomically."""
    out.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, **run.epoch_state)
    _atomic_write(out / "checkpoint.npz", buf.getvalue())
    buf = io.BytesIO()
    np.savez(buf, **run.model.state_dict())
    _atomic_write(out / "model.npz", buf.getvalue())
    hist = run.history
    fields = list(hist[0]) if hist else ["epoch"]
    _atomic_write(out / "history.csv", _csv(hist, fields))
    f, rows = node_rows(run, run.data.val[:200])
    _atomic_write(out / "nodes.csv", _csv(rows, f))
    meta = {"format": "tree-run", "version": 1, "settings": run.settings_dict(), "source": source,
            "label_kind": run.data.bank.label_kind, "n_classes": run.data.bank.n_classes,
            "vocab": list(run.data.bank.vocab.vocab), "shift": run.data.shift, "scale": run.data.scale,
            "parameters": int(run.model.param_count.total),
            "history": [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
                        for r in hist]}
    _atomic_write(out / "tree_run.json", json.dumps(meta, indent=1).encode("utf-8"))


def _units(kind: str) -> str:
    return "RMSE" if kind == "values" else "share wrong"


def _source(args) -> dict:
    if args.example:
        return {"example": args.example}
    from explorer.app.tree_train import file_sha256

    src = {"file": os.path.abspath(args.file), "sha256": file_sha256(args.file)}
    if args.labels:
        src.update(labels=os.path.abspath(args.labels), labels_sha256=file_sha256(args.labels))
    return src


def _resume(args, given: dict):
    """``(run, out, source)`` of ``train --resume DIR [TREES] [--epochs E]``: the saved settings and
    data (checked unchanged), continued from the checkpoint."""
    from explorer.app.tree_train import read_tree_run

    folder = Path(args.resume)
    ignored = sorted(flag for dest, flag in given.items()
                     if dest not in {"command", "resume", "file", "epochs", "out", "force", "quiet", "no_plots",
                                     "allow_changed_data"})
    run, source = read_tree_run(folder, args.file, args.allow_changed_data)
    if ignored:
        _say(f"lstm-explorer: --resume continues with the run's own settings; ignoring {', '.join(ignored)}.")
    settings, done = run.settings, len(run.history)
    if args.epochs is not None:
        settings.epochs = done + args.epochs
    elif done >= settings.epochs:
        raise TreeCliError(f"the run in {folder} has finished its {settings.epochs} epochs; "
                           "add --epochs E to train E more.")
    out = Path(args.out) if args.out else folder
    if out.resolve() != folder.resolve():
        _check_out(out, args.force)
    return run, out, source


def _writer_lock(out: Path):
    """``out`` created and its WriterLock held (one writer at a time, as for every run folder); a
    folder that cannot be made or is held by another writer in one sentence."""
    from explorer.runs.folder import RunFileError, WriterLock

    try:
        out.mkdir(parents=True, exist_ok=True)
        return WriterLock(out, then="try again when it has finished")
    except (RunFileError, OSError) as exc:
        raise TreeCliError(str(exc) if isinstance(exc, RunFileError) else f"--out {out}: {exc.strerror or exc}.") \
            from None


def cmd_train_trees(args, given: dict) -> int:
    """``train TREES --cell treelstm|nary-treelstm``: train, print each epoch, write the folder."""
    from explorer.app.tree_train import TreeData, TreeRun
    from explorer.data.errors import SequenceFileError

    _check_model_options(args, given)
    try:
        if args.resume:
            run, out, source = _resume(args, given)
        else:
            if not args.out:
                raise TreeCliError("--out DIR is required: the folder the run is written to.")
            out = Path(args.out)
            _check_out(out, args.force)
            settings = _settings(args, args.cell or "nary-treelstm")
            bank = _bank(args)
            run = TreeRun(TreeData.split(bank, settings.val_fraction, settings.label_at), settings)
            source = _source(args)
    except (SequenceFileError, ValueError, OSError) as exc:
        raise TreeCliError(str(exc)) from None
    settings, data, bank, cell = run.settings, run.data, run.data.bank, run.settings.cell
    kind = bank.label_kind
    if not args.quiet:
        _say(f"{len(data.train)} training and {len(data.val)} validation trees ({bank.n_nodes:,} nodes), "
             f"{bank.vocab.vocab_size} tokens, labels: {kind}" + (f" ({bank.n_classes} classes)" if bank.n_classes
                                                                   else "") + f" at the {settings.label_at}")
        _say(f"{cell} with {settings.units} units: {run.model.param_count.total:,} parameters")

    lock = _writer_lock(out)
    try:
        return _train_locked(args, run, out, source, kind)
    finally:
        lock.release()


def _train_locked(args, run, out: Path, source: dict, kind: str) -> int:
    _check_links(out)                                 # a resumed folder too: its plots are rewritten
    _save(run, out, source)                           # from now on --resume works on DIR
    saved = [time.monotonic()]

    def show(row):
        if not args.quiet:
            _say(f"epoch {row['epoch']}: train loss {row['train_loss']:.4g}, validation loss {row['val_loss']:.4g}, "
                 f"node error {row['val_node_error']:.4g}, root error {row['val_root_error']:.4g} ({_units(kind)})")
        if time.monotonic() - saved[0] >= CHECKPOINT_SECONDS:
            _save(run, out, source)
            saved[0] = time.monotonic()

    from explorer.app.tasks import TaskState
    from explorer.cli.command import StopRequest

    state = TaskState()
    result = None
    try:
        with StopRequest(state):                     # SIGINT/SIGTERM: stop between batches, save, 130
            result = run.train(on_epoch=show, state=state)
    except KeyboardInterrupt:                         # a second signal: stop at once
        state.request_interruption()
    interrupted = state.is_interruption_requested()
    if interrupted:
        run.restore(run.epoch_state)                  # the folder holds the last finished epoch
    _save(run, out, source)
    if not args.no_plots:
        from explorer.figures.tree_diagram import export_tree_run_plots

        try:
            export_tree_run_plots(run, out)
        except OSError as exc:
            raise TreeCliError(f"the plots could not be written to {out} ({exc.strerror or exc}); the run is "
                               "saved; check the folder and free space.") from None
    if interrupted:
        _say(f"lstm-explorer: interrupted; the run up to epoch {len(run.history)} is saved in {out} "
             f"(continue with: lstm-explorer train --resume {out}).")
        return 130
    if result.reason == "diverged":
        _say(f"lstm-explorer: {result.message} The run is saved in {out}.")
        return 3
    if not args.quiet:
        _say(f"wrote {out}")
    return 0


def _save(run, out: Path, source: dict) -> None:
    try:
        save_tree_run(run, out, source)
    except OSError as exc:
        raise TreeCliError(f"the run could not be written to {out} ({exc.strerror or exc}); "
                           "check the folder and free space.") from None


def cmd_compare_trees(args, given: dict) -> int:
    """``compare TREES --cells nary-treelstm,treelstm,lstm``: each Tree-LSTM on the trees, the
    sequence LSTM on the same trees read flat; one row per cell in ``comparison.csv``."""
    text = args.cells if "cells" in given else ",".join(TREE_CELLS + ("lstm",))
    cells = [c.strip() for c in text.split(",") if c.strip()]
    bad = [c for c in cells if c not in TREE_CELLS + ("lstm",)]
    if bad:
        raise TreeCliError(f"--cells {bad[0]} cannot be compared on trees; choose from treelstm, nary-treelstm, lstm.")
    if len(set(cells)) != len(cells):
        raise TreeCliError("--cells names a cell twice; name each cell once.")
    out = Path(args.out)
    _check_out(out, args.force, ours=("comparison.csv",), marker="comparison.csv")
    lock = _writer_lock(out)
    try:
        return _compare_trees_locked(args, out, cells)
    finally:
        lock.release()


def _compare_trees_locked(args, out: Path, cells: list) -> int:
    from explorer.app.tree_train import TreeData, TreeRun, sequence_baseline
    from explorer.data.errors import SequenceFileError

    try:
        bank = _bank(args)
        base = _settings(args, TREE_CELLS[0])
        data = TreeData.split(bank, base.val_fraction, base.label_at)
        runs = {c: TreeRun(data, _settings(args, c)) for c in cells if c in TREE_CELLS}
    except (SequenceFileError, ValueError, OSError) as exc:
        raise TreeCliError(str(exc)) from None
    rows = []
    for cell in cells:
        if cell == "lstm":
            hist = sequence_baseline(data, base.units, base.epochs, base.batch, base.lr, base.seed)
            last = hist[-1]
            rows.append({"cell": "lstm (flat)", "node_error": math.nan, "root_error": last["val_root_error"]})
        else:
            result = runs[cell].train()
            last = runs[cell].history[-1]
            rows.append({"cell": cell, "node_error": last["val_node_error"], "root_error": last["val_root_error"],
                         "note": result.message if result.reason == "diverged" else ""})
        if not args.quiet:
            _say(f"{rows[-1]['cell']}: validation node error {rows[-1]['node_error']:.4g}, "
                 f"root error {rows[-1]['root_error']:.4g} ({_units(bank.label_kind)})")
    out.mkdir(parents=True, exist_ok=True)
    _atomic_write(out / "comparison.csv", _csv(rows, ["cell", "node_error", "root_error", "note"]))
    return 0


__all__ = ["TREE_CELLS", "TreeCliError", "cmd_compare_trees", "cmd_train_trees", "node_rows", "save_tree_run",
           "wants_trees"]
